//! `Idempotency-Key` on POST requests: the first request with a key runs and its
//! response is kept; a retry with the same key and body gets the same response (one
//! row, one email); the same key with another body is 422; a retry while the first is
//! still running is 409. Keys are scoped to the signed-in account.

use std::sync::Arc;

use async_trait::async_trait;
use clients_domain::AccountId;
use clients_domain::ports::StoreError;
use clients_domain::service::Ports;
use poem::http::{HeaderValue, Method, StatusCode, header};
use poem::{Endpoint, IntoResponse as _, Request, Response};
use sha2::{Digest as _, Sha256};

use crate::problem::Problem;
use crate::{AppState, MAX_BODY_BYTES, problem_response};

/// The request header.
pub const HEADER: &str = "Idempotency-Key";
/// Set on a replayed response.
pub const REPLAYED: &str = "Idempotent-Replayed";

/// What a key holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// New: run the request.
    Reserved,
    /// Ran before with the same request: its response.
    Replay {
        /// Status.
        status: u16,
        /// Body.
        body: Vec<u8>,
    },
    /// The first request with this key is still running.
    InProgress,
    /// The key was used for another request.
    Mismatch,
}

/// Where keys and responses are kept (the app wires the database).
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Reserves `key` for `account`'s request with `fingerprint`, or reports what it holds.
    async fn reserve(&self, account: AccountId, key: &str, fingerprint: &str) -> Result<Reservation, StoreError>;
    /// Keeps the response of a reserved key.
    async fn complete(&self, account: AccountId, key: &str, status: u16, body: &[u8]) -> Result<(), StoreError>;
    /// Forgets a reserved key (the request failed in a way worth retrying).
    async fn release(&self, account: AccountId, key: &str) -> Result<(), StoreError>;
}

fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The middleware. `ep` already answers every error as problem+json.
pub(crate) async fn idempotent<E, P>(ep: Arc<E>, mut req: Request, state: Arc<AppState<P>>) -> poem::Result<Response>
where
    E: Endpoint<Output = Response>,
    P: Ports,
{
    let (Some(store), true) = (state.idempotency.clone(), req.method() == Method::POST) else {
        return ep.call(req).await;
    };
    let Some(key) = req.headers().get(HEADER).map(|v| v.to_str().map(str::to_owned)) else {
        return ep.call(req).await;
    };
    let key = match key {
        Ok(k) if valid_key(&k) => k,
        _ => {
            return Ok(problem_response(&Problem::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            )));
        }
    };
    // Keys belong to an account; without a valid session the handler answers 401.
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let account = match bearer {
        Some(token) => state.service.authenticate(&token).await.ok().and_then(|p| p.actor()),
        None => None,
    };
    let Some(account) = account else { return ep.call(req).await };

    let Ok(body) = req.take_body().into_bytes_limit(MAX_BODY_BYTES).await else {
        return Ok(problem_response(&Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "body too large",
        )));
    };
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update(b" ");
    hasher.update(req.uri().path_and_query().map_or("", |p| p.as_str()));
    hasher.update(b"\n");
    hasher.update(&body);
    let fingerprint: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    req.set_body(body);

    match store.reserve(account, &key, &fingerprint).await {
        Ok(Reservation::Reserved) => {}
        Ok(Reservation::Replay { status, body }) => return Ok(replay(status, body)),
        Ok(Reservation::InProgress) => {
            return Ok(problem_response(&Problem::conflict(
                "idempotency_in_progress",
                "a request with this Idempotency-Key is still running; retry later",
            )));
        }
        Ok(Reservation::Mismatch) => {
            return Ok(problem_response(&Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different request",
            )));
        }
        Err(e) => return Ok(problem_response(&Problem::from(e))),
    }

    let resp = ep.call(req).await?;
    let status = resp.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        // Not a final answer: a retry should run the request again.
        if let Err(e) = store.release(account, &key).await {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
        return Ok(resp);
    }
    let (parts, body) = resp.into_parts();
    let bytes = body.into_bytes().await.unwrap_or_default();
    if let Err(e) = store.complete(account, &key, status.as_u16(), &bytes).await {
        tracing::warn!(error = %e, "could not store an idempotent response");
    }
    Ok(Response::from_parts(parts, bytes.into()))
}

fn replay(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut resp = Response::builder().status(status).header(REPLAYED, HeaderValue::from_static("true"));
    if !body.is_empty() {
        let ct = if status.is_success() { "application/json; charset=utf-8" } else { "application/problem+json" };
        resp = resp.content_type(ct);
    }
    resp.body(body).into_response()
}
