//! Request ids, access logs and request metrics.
//!
//! Every request gets an id (the caller's `X-Request-Id` when it is sane, else a new
//! UUIDv7), echoed in the response and attached to every log line of the request
//! through a tracing span. Each request is counted and timed by operation (the
//! OpenAPI `operationId`, so labels stay bounded whatever the path), method and status.

use std::sync::Arc;
use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, IntoResponse, Request, Response};
use tracing::Instrument as _;

/// The request id header.
pub const REQUEST_ID: &str = "x-request-id";

fn request_id(req: &Request) -> String {
    req.headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
}

/// The path as logged: a grant link's token is a secret, so it never reaches a log.
fn loggable_path(path: &str) -> String {
    match path.split_once("/by-token/") {
        Some((before, after)) => {
            let rest = after.find('/').map_or("", |i| &after[i..]);
            format!("{before}/by-token/<redacted>{rest}")
        }
        None => path.to_owned(),
    }
}

/// The middleware.
pub(crate) async fn observe<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response>
where
    E::Output: IntoResponse,
{
    let id = request_id(&req);
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let span = tracing::info_span!("request", request_id = %id, %method, path = %path);
    let started = Instant::now();
    let result = ep.call(req).instrument(span.clone()).await;
    let mut resp = match result {
        Ok(out) => out.into_response(),
        Err(err) => err.into_response(),
    };
    let elapsed = started.elapsed();
    let status = resp.status();
    let operation = resp.extensions().get::<poem_openapi::OperationId>().map_or("other", |o| o.0);
    metrics::counter!(
        "clients_http_requests_total",
        "operation" => operation, "method" => method.to_string(), "status" => status.as_u16().to_string()
    )
    .increment(1);
    metrics::histogram!("clients_http_request_duration_seconds", "operation" => operation, "method" => method.to_string())
        .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(status = status.as_u16(), operation, ms = elapsed.as_secs_f64() * 1000.0, "request");
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_incoming_ids_are_kept_and_others_replaced() {
        let with = |v: &str| Request::builder().header(REQUEST_ID, v).finish();
        assert_eq!(request_id(&with("abc-123")), "abc-123");
        let long = "x".repeat(129);
        for bad in [long.as_str(), "has space", ""] {
            let id = request_id(&with(bad));
            assert_ne!(id, bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok());
        }
        assert!(uuid::Uuid::parse_str(&request_id(&Request::default())).is_ok());
    }

    #[test]
    fn grant_tokens_in_paths_are_redacted_from_logs() {
        let token = "jEOjqNI4B89ivT7tfAHU0_O4sxy1ns84_bRF9z0rSEk";
        let get = loggable_path(&format!("/v1/access-requests/by-token/{token}"));
        let approve = loggable_path(&format!("/v1/access-requests/by-token/{token}/approve"));
        assert_eq!(get, "/v1/access-requests/by-token/<redacted>");
        assert_eq!(approve, "/v1/access-requests/by-token/<redacted>/approve");
        assert_eq!(loggable_path("/v1/shared-accounts"), "/v1/shared-accounts");
    }
}
