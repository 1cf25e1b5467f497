//! Routes for other internal services, behind the service token.

use std::sync::Arc;

use clients_domain::Principal;
use clients_domain::service::Ports;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::{ApiTags, ServiceAuth, id};
use crate::AppState;
use crate::dto::{InvoiceBody, InvoiceDto, WebsiteDto, WebsiteStatusBody};
use crate::problem::Problem;
use crate::responses::{api_response, run};

pub struct InternalApi<P: Ports> {
    pub(super) state: Arc<AppState<P>>,
}

api_response!(
    /// Website status.
    WebsiteStatusResponse {
        /// Recorded; the owning account's shared-account status follows.
        #[oai(status = 200)]
        Ok(Json<WebsiteDto>),
    }
);

api_response!(
    /// Invoice recorded.
    RecordInvoiceResponse {
        /// Recorded.
        #[oai(status = 201)]
        Created(Json<InvoiceDto>),
    }
);

impl<P: Ports> InternalApi<P> {
    /// The service principal, when the bearer is the configured service token
    /// (compared in constant time; internal routes are closed when none is set).
    fn service(&self, auth: &ServiceAuth) -> Result<Principal, Problem> {
        match &self.state.service_token {
            Some(expected) if bool::from(expected.as_bytes().ct_eq(auth.0.token.as_bytes())) => Ok(Principal::Service),
            _ => Err(Problem::unauthorized()),
        }
    }
}

#[OpenApi(tag = "ApiTags::Internal")]
impl<P: Ports> InternalApi<P> {
    /// Report a website's connection and health (`ok`, `warning`, `major_issue`).
    #[oai(path = "/v1/internal/websites/:website_id/status", method = "put", operation_id = "reportWebsiteStatus")]
    async fn website_status(
        &self,
        auth: ServiceAuth,
        website_id: Path<Uuid>,
        body: Json<WebsiteStatusBody>,
    ) -> WebsiteStatusResponse {
        run(async {
            let p = self.service(&auth)?;
            let site = self
                .state
                .service
                .report_website_status(&p, id(website_id.0), body.connected, body.health.into())
                .await?;
            Ok(WebsiteStatusResponse::Ok(Json((&site).into())))
        })
        .await
    }

    /// Record an invoice issued by the billing system for an account.
    #[oai(path = "/v1/internal/accounts/:account_id/invoices", method = "post", operation_id = "recordInvoice")]
    async fn record_invoice(
        &self,
        auth: ServiceAuth,
        account_id: Path<Uuid>,
        body: Json<InvoiceBody>,
    ) -> RecordInvoiceResponse {
        run(async {
            let p = self.service(&auth)?;
            let b = body.0;
            let invoice = clients_domain::Invoice {
                id: clients_domain::InvoiceId::from_uuid(Uuid::now_v7()),
                account_id: id(account_id.0),
                number: b.number.0,
                period_start: b.period_start,
                period_end: b.period_end,
                amount_cents: b.amount_cents,
                currency: b.currency.0,
                status: b.status.into(),
                issued_at: b.issued_at,
            };
            let saved = self.state.service.record_invoice(&p, invoice).await?;
            Ok(RecordInvoiceResponse::Created(Json((&saved).into())))
        })
        .await
    }
}
