//! The stylesheet, the script and the icon, embedded in the binary and served by the
//! app itself (no CDN).

use poem::endpoint::make_sync;
use poem::http::header;
use poem::{Endpoint, IntoResponse as _, Request, Response};

const CSS: &str = include_str!("../../assets/app.css");
const JS: &str = include_str!("../../assets/app.js");
const ICON: &str = include_str!("../../assets/icon.svg");

fn asset(body: &'static str, content_type: &'static str) -> impl Endpoint<Output = Response> {
    make_sync(move |_: Request| {
        Response::builder()
            .content_type(content_type)
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .body(body)
            .into_response()
    })
}

/// `/assets/app.css`.
pub(crate) fn css() -> impl Endpoint<Output = Response> {
    asset(CSS, "text/css; charset=utf-8")
}

/// `/assets/app.js`.
pub(crate) fn js() -> impl Endpoint<Output = Response> {
    asset(JS, "text/javascript; charset=utf-8")
}

/// `/assets/icon.svg`.
pub(crate) fn icon() -> impl Endpoint<Output = Response> {
    asset(ICON, "image/svg+xml")
}
