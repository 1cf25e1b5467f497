//! `/healthz` (the process answers) and `/readyz` (it can reach the database).

use std::sync::Arc;

use clients_domain::service::Ports;
use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use super::ApiTags;
use crate::AppState;
use crate::dto::HealthStatus;
use crate::responses::api_response;

pub struct ProbeApi<P: Ports> {
    pub(super) state: Arc<AppState<P>>,
}

api_response!(
    /// Liveness.
    HealthResponse {
        /// Alive.
        #[oai(status = 200)]
        Ok(Json<HealthStatus>),
    }
);

api_response!(
    /// Readiness.
    ReadyResponse {
        /// Ready: the database answers.
        #[oai(status = 200)]
        Ok(Json<HealthStatus>),
    }
);

#[OpenApi(tag = "ApiTags::Probes")]
impl<P: Ports> ProbeApi<P> {
    /// Liveness: the process answers (no database).
    #[oai(path = "/healthz", method = "get", operation_id = "healthz")]
    async fn healthz(&self) -> HealthResponse {
        HealthResponse::Ok(Json(HealthStatus { status: "ok".to_owned() }))
    }

    /// Readiness: one database round trip.
    #[oai(path = "/readyz", method = "get", operation_id = "readyz")]
    async fn readyz(&self) -> ReadyResponse {
        match self.state.readiness.ready().await {
            Ok(()) => ReadyResponse::Ok(Json(HealthStatus { status: "ok".to_owned() })),
            Err(why) => {
                tracing::warn!(reason = %why, "not ready");
                crate::problem::Problem {
                    retry_after: Some(crate::problem::UNAVAILABLE_RETRY_AFTER),
                    ..crate::problem::Problem::new(
                        poem::http::StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "the database is not reachable",
                    )
                }
                .into()
            }
        }
    }
}
