//! `clients-web`: the second inbound adapter, server-rendered pages for agencies and
//! clients on the same domain service as the JSON API.
//!
//! Pages are minijinja templates embedded in the binary (auto-escaped HTML), with one
//! small script for pop-ups; every asset is served by the app itself. Sessions live in
//! `HttpOnly` cookies holding the domain's session tokens ([`cookies`]); every form is
//! protected against cross-site forgery ([`csrf`]). See `docs/ui.md`.

// Handlers answer with a ready `Response` on their error paths (a page to show);
// boxing it would buy nothing.
#![allow(clippy::result_large_err)]

mod cookies;
mod csrf;
mod pages;
mod render;
mod session;
mod views;

use std::net::IpAddr;
use std::sync::Arc;

use clients_domain::service::{Ports, Service};
use poem::endpoint::make;
use poem::{Endpoint, IntoEndpoint, Request, Response, Route, get, post};

pub use cookies::CookiePolicy;

/// What the pages need from configuration.
#[derive(Clone)]
pub struct WebConfig {
    /// Base URL people reach the service at (links, cookie `Secure` when https, the
    /// origin forms must come from).
    pub public_url: String,
    /// The API's guessing limits, shared so sign-in through the pages spends the same
    /// budget as sign-in through the API. `None`: no limits (tests of this crate).
    pub throttle: Option<Arc<dyn Throttle>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("public_url", &self.public_url)
            .field("throttle", &self.throttle.as_ref().map(|_| "<shared>"))
            .finish()
    }
}

/// Per-instance limits on guessing (passwords, grant links); `Err` carries the seconds
/// to wait.
pub trait Throttle: Send + Sync + 'static {
    /// A sign-in attempt for `email` from `ip`.
    ///
    /// # Errors
    /// Seconds to wait.
    fn sign_in(&self, email: &str, ip: Option<IpAddr>) -> Result<(), u64>;
    /// A sign-up from `ip`.
    ///
    /// # Errors
    /// Seconds to wait.
    fn sign_up(&self, ip: Option<IpAddr>) -> Result<(), u64>;
    /// A grant link opened or used from `ip` by `account` (when signed in).
    ///
    /// # Errors
    /// Seconds to wait.
    fn grant(&self, ip: Option<IpAddr>, account: Option<uuid::Uuid>) -> Result<(), u64>;
}

fn wait(p: &clients_http::problem::Problem) -> u64 {
    p.retry_after.unwrap_or(60)
}

/// The API's limiters are the pages' limiters.
impl<P: Ports> Throttle for clients_http::AppState<P> {
    fn sign_in(&self, email: &str, ip: Option<IpAddr>) -> Result<(), u64> {
        self.limits().sign_in(email, ip).map_err(|p| wait(&p))
    }
    fn sign_up(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        self.limits().sign_up(ip).map_err(|p| wait(&p))
    }
    fn grant(&self, ip: Option<IpAddr>, account: Option<uuid::Uuid>) -> Result<(), u64> {
        self.limits().grant(ip, account).map_err(|p| wait(&p))
    }
}

/// Everything a page handler needs.
pub(crate) struct Web<P: Ports> {
    pub(crate) service: Arc<Service<P>>,
    pub(crate) cookies: CookiePolicy,
    pub(crate) public_origin: String,
    pub(crate) templates: render::Templates,
    pub(crate) throttle: Option<Arc<dyn Throttle>>,
}

impl<P: Ports> Web<P> {
    fn new(service: Arc<Service<P>>, config: &WebConfig) -> Self {
        Self {
            service,
            cookies: CookiePolicy::for_public_url(&config.public_url),
            public_origin: csrf::origin_of(&config.public_url).unwrap_or_default(),
            templates: render::Templates::new(),
            throttle: config.throttle.clone(),
        }
    }
}

/// An endpoint running `handler` with the shared [`Web`].
fn page<P, F, Fut>(web: &Arc<Web<P>>, handler: F) -> impl Endpoint<Output = Response> + use<P, F, Fut>
where
    P: Ports,
    F: Fn(Arc<Web<P>>, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let web = web.clone();
    make(move |req| handler(web.clone(), req)).into_endpoint()
}

/// Answers `GET /` itself and passes every other request on. The API is nested at `/`,
/// and poem routes `/` to a nest at `/` before an exact `/`, so the home page cannot be
/// an exact path next to it.
struct RootOr<H, R> {
    home: H,
    rest: R,
}

impl<H: Endpoint<Output = Response>, R: Endpoint<Output = Response>> Endpoint for RootOr<H, R> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        if req.uri().path() == "/" && req.method() == poem::http::Method::GET {
            self.home.call(req).await
        } else {
            self.rest.call(req).await
        }
    }
}

/// Adds the UI's pages to `route` (exact paths, so the API keeps its own) and the home
/// page at `/`.
pub fn mount<P: Ports>(route: Route, service: Arc<Service<P>>, config: WebConfig) -> Route {
    use pages::{account, agency, assets, auth, client};
    let web = Arc::new(Web::new(service, &config));
    let home = page(&web, auth::home::<P>);
    let rest = route
        .at("/sign-in", get(page(&web, auth::sign_in_page::<P>)).post(page(&web, auth::sign_in::<P>)))
        .at("/sign-up", get(page(&web, auth::sign_up_page::<P>)).post(page(&web, auth::sign_up::<P>)))
        .at("/sign-out", post(page(&web, auth::sign_out::<P>)))
        .at("/grant-access", get(page(&web, client::grant_page::<P>)).post(page(&web, client::approve_by_link::<P>)))
        .at("/requests/approve", post(page(&web, client::approve::<P>)))
        .at("/requests/decline", post(page(&web, client::decline::<P>)))
        .at("/clients", get(page(&web, agency::clients_page::<P>)))
        .at("/clients/invite", post(page(&web, agency::invite::<P>)))
        .at("/clients/resend", post(page(&web, agency::resend::<P>)))
        .at("/clients/remove", post(page(&web, agency::remove::<P>)))
        .at("/clients/log-in-as", post(page(&web, agency::log_in_as::<P>)))
        .at("/acting/exit", post(page(&web, agency::exit_acting::<P>)))
        .at("/websites", get(page(&web, account::websites_page::<P>)).post(page(&web, account::add_website::<P>)))
        .at("/team", get(page(&web, account::team_page::<P>)))
        .at("/team/role", post(page(&web, account::change_role::<P>)))
        .at("/team/remove", post(page(&web, account::remove_member::<P>)))
        .at("/team/plan", post(page(&web, account::change_plan::<P>)))
        .at("/access-log", get(page(&web, account::access_log_page::<P>)))
        .at("/assets/app.css", get(assets::css()))
        .at("/assets/app.js", get(assets::js()))
        .at("/assets/icon.svg", get(assets::icon()));
    Route::new().nest("/", RootOr { home, rest })
}
