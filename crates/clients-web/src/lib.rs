//! `clients-web`: the second inbound adapter, server-rendered pages for agencies and
//! clients on the same domain service as the JSON API. Placeholder: the web UI issue
//! fills [`mount`]; until then it adds no route.

use std::sync::Arc;

use clients_domain::service::{Ports, Service};
use poem::Route;

/// What the pages need from configuration.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Base URL people reach the service at (links, cookie `Secure` when https).
    pub public_url: String,
}

/// Adds the UI's pages to `route` (exact paths, so the API keeps its own).
pub fn mount<P: Ports>(route: Route, service: Arc<Service<P>>, config: WebConfig) -> Route {
    let _ = (service, config);
    route
}
