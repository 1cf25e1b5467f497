//! `clients-http`: the v1 JSON API over poem and poem-openapi.
//!
//! The API is generic over the domain's [`Ports`]: handlers parse and validate input at
//! the edge (turning text into domain values), call one [`Service`] method, and map its
//! per-operation error to problem details ([`problem::Problem`]). Every error, including
//! the framework's own (bad JSON, missing auth, unknown route), is
//! `application/problem+json` with a stable `code`.

// Problems are built only on the error path of a request; boxing them would buy nothing.
#![allow(clippy::result_large_err)]

mod api;
mod dto;
pub mod idempotency;
pub mod limits;
mod list_cache;
pub mod observability;
mod patterns;
pub mod problem;
mod responses;
mod spec;

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use clients_domain::service::{Ports, Service};
use poem::endpoint::BoxEndpoint;
use poem::http::header;
use poem::middleware::SetHeader;
use poem::{EndpointExt, IntoResponse, Response, Route};
use poem_openapi::OpenApiService;
use poem_openapi::types::ToJSON;

pub use limits::{Limits, LimitsConfig};
use problem::Problem;

/// Largest request body accepted (bulk requests of 100 emails fit many times over).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Whether the service can serve (`/readyz`): the app checks the database.
#[async_trait]
pub trait Readiness: Send + Sync + 'static {
    /// `Err(why)` when not ready.
    async fn ready(&self) -> Result<(), String>;
}

/// Configuration of the HTTP adapter.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Base URL clients reach the service at (`CLIENTS_PUBLIC_URL`), for the spec's server.
    pub public_url: String,
    /// Bearer token of internal services (`CLIENTS_SERVICE_TOKEN`); internal routes are
    /// closed when unset.
    pub service_token: Option<String>,
    /// Rate limits.
    pub limits: LimitsConfig,
    /// Bytes of rendered "Shared accounts" pages kept for reuse while current
    /// (`CLIENTS_LIST_CACHE_MIB`); 0 turns the cache off.
    pub list_cache_bytes: u64,
}

/// Shared state of every handler.
pub struct AppState<P: Ports> {
    service: Arc<Service<P>>,
    service_token: Option<String>,
    limits: Limits,
    readiness: Arc<dyn Readiness>,
    idempotency: Option<Arc<dyn idempotency::IdempotencyStore>>,
    lists: Option<list_cache::ListCache>,
}

impl<P: Ports> std::fmt::Debug for AppState<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("service_token", &self.service_token.as_ref().map(|_| "<set>")).finish()
    }
}

impl<P: Ports> AppState<P> {
    /// State for the handlers.
    pub fn new(service: Arc<Service<P>>, config: &HttpConfig, readiness: Arc<dyn Readiness>) -> Self {
        Self {
            service,
            service_token: config.service_token.clone().filter(|t| !t.is_empty()),
            limits: Limits::new(config.limits),
            readiness,
            idempotency: None,
            lists: list_cache::ListCache::with_capacity(config.list_cache_bytes),
        }
    }

    /// Honours `Idempotency-Key` on POST requests, keeping responses in `store`.
    #[must_use]
    pub fn with_idempotency(mut self, store: Arc<dyn idempotency::IdempotencyStore>) -> Self {
        self.idempotency = Some(store);
        self
    }

    /// The domain service (shared with other inbound adapters, e.g. the web UI).
    pub fn service(&self) -> &Arc<Service<P>> {
        &self.service
    }

    /// The rate limiters (the app shrinks them periodically).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

/// The client's address as the socket saw it. (Behind a load balancer, configure it
/// to keep per-address limits meaningful; see `docs/operations.md`.)
fn client_ip(req: &poem::Request) -> Option<IpAddr> {
    req.remote_addr().as_socket_addr().map(std::net::SocketAddr::ip)
}

/// The OpenAPI service: every v1 route, probes included.
pub fn openapi<P: Ports>(state: Arc<AppState<P>>, public_url: &str) -> OpenApiService<api::Apis<P>, ()> {
    OpenApiService::new(api::apis(state), "clients", env!("CARGO_PKG_VERSION"))
        .description(
            "Delegated agency access: agencies request a role in client accounts by email; clients approve \
             within their plan's team slots; agencies list, resend, remove and \"Log in as\".",
        )
        .server(public_url.trim_end_matches('/'))
}

/// The whole HTTP application: the API, `/openapi.json`, interactive docs at `/docs`,
/// body size limit, security headers, and problem+json for every framework error.
pub fn app<P: Ports>(state: Arc<AppState<P>>, public_url: &str) -> BoxEndpoint<'static> {
    app_with(state, public_url, |route| route)
}

/// As [`app`], letting another inbound adapter add its own routes (the web UI's pages)
/// next to the API's. Exact paths added by `mount` take precedence over the API's
/// catch-all; the API's paths (`/v1/…`, probes, `/openapi.json`, `/docs`) stay the API's.
pub fn app_with<P: Ports>(
    state: Arc<AppState<P>>,
    public_url: &str,
    mount: impl FnOnce(Route) -> Route,
) -> BoxEndpoint<'static> {
    let api = openapi(state.clone(), public_url);
    let spec = spec::refine(&api.spec());
    let allowed = spec::Allowed::from_spec(&spec);
    let docs = api.swagger_ui();
    mount(Route::new().nest("/", api).at("/openapi.json", spec::endpoint(spec)).nest("/docs", docs))
        .around(limit_body)
        .catch_all_error(|err| async move { problem_response(&problem::from_poem_error(&err)) })
        .around(move |ep, req| spec::allow(ep, req, allowed.clone()))
        .around(move |ep, req| idempotency::idempotent(ep, req, state.clone()))
        .with(
            SetHeader::new()
                .overriding(header::CACHE_CONTROL, "no-store")
                .overriding(header::REFERRER_POLICY, "no-referrer")
                .overriding(header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        )
        .around(observability::observe)
        .boxed()
}

/// Refuses bodies over [`MAX_BODY_BYTES`]: by `Content-Length` when given, else
/// (chunked uploads) by reading at most that much. Requests without a body pass.
async fn limit_body<E: poem::Endpoint>(ep: Arc<E>, mut req: poem::Request) -> poem::Result<E::Output> {
    let too_large = || poem::Error::from_status(poem::http::StatusCode::PAYLOAD_TOO_LARGE);
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    match declared {
        Some(n) if n > MAX_BODY_BYTES => return Err(too_large()),
        Some(_) => {}
        None if req.headers().contains_key(header::TRANSFER_ENCODING) => {
            let body = req.take_body().into_bytes_limit(MAX_BODY_BYTES).await.map_err(|_| too_large())?;
            req.set_body(body);
        }
        None => {}
    }
    ep.call(req).await
}

/// Renders a problem as an `application/problem+json` response.
pub fn problem_response(p: &Problem) -> Response {
    let mut builder = Response::builder()
        .status(p.status_code())
        .content_type("application/problem+json")
        .header(header::CACHE_CONTROL, "no-store");
    if let Some(secs) = p.retry_after {
        builder = builder.header(header::RETRY_AFTER, secs.to_string());
    }
    builder.body(p.to_json_string()).into_response()
}

/// The spec as JSON (for `cargo xtask openapi` and the drift check).
pub fn spec_json<P: Ports>(state: Arc<AppState<P>>, public_url: &str) -> String {
    spec::refine(&openapi(state, public_url).spec())
}
