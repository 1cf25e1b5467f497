//! `api_response!`: one `ApiResponse` enum per operation, each with the same documented
//! problem+json error responses (400, 401, 403, 404, 409, 413, 415, 422, 429, 503, 500).

/// Declares an operation's response enum: its success variants, then the shared error
/// variants, and `From<Problem>` choosing the variant by status.
macro_rules! api_response {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident $(($($field:tt)*))?),* $(,)? }) => {
        $(#[$meta])*
        #[derive(poem_openapi::ApiResponse)]
        pub(crate) enum $name {
            $($(#[$vmeta])* $variant $(($($field)*))?,)*
            /// Malformed request: bad JSON, unknown field, wrong type (`validation_failed`).
            #[oai(status = 400, content_type = "application/problem+json")]
            BadRequest(poem_openapi::payload::Json<$crate::problem::Problem>),
            /// Missing, invalid or expired bearer token (`unauthorized`, `session_ended`).
            #[oai(status = 401, content_type = "application/problem+json")]
            Unauthorized(poem_openapi::payload::Json<$crate::problem::Problem>),
            /// Authenticated but not allowed (`forbidden`, `email_mismatch`, `email_not_verified`).
            #[oai(status = 403, content_type = "application/problem+json")]
            Forbidden(poem_openapi::payload::Json<$crate::problem::Problem>),
            /// No such resource for this caller (`not_found`, `invalid_link`).
            #[oai(status = 404, content_type = "application/problem+json")]
            NotFound(poem_openapi::payload::Json<$crate::problem::Problem>),
            /// The state does not allow it (`conflict`, `invalid_state`, `no_free_team_slots`, …).
            #[oai(status = 409, content_type = "application/problem+json")]
            Conflict(poem_openapi::payload::Json<$crate::problem::Problem>),
            /// Well-formed but invalid values (`validation_failed`).
            #[oai(status = 422, content_type = "application/problem+json")]
            UnprocessableEntity(poem_openapi::payload::Json<$crate::problem::Problem>),
            /// Body over 64 KiB (`payload_too_large`).
            #[oai(status = 413, content_type = "application/problem+json")]
            PayloadTooLarge(poem_openapi::payload::Json<$crate::problem::Problem>),
            /// Body missing or not `application/json` (`unsupported_media_type`).
            #[oai(status = 415, content_type = "application/problem+json")]
            UnsupportedMediaType(poem_openapi::payload::Json<$crate::problem::Problem>),
            /// Rate limited (`rate_limited`); wait `Retry-After` seconds.
            #[oai(status = 429, content_type = "application/problem+json")]
            TooManyRequests(
                poem_openapi::payload::Json<$crate::problem::Problem>,
                #[oai(header = "Retry-After")] u64,
            ),
            /// Storage unavailable (`unavailable`); retry after `Retry-After` seconds.
            #[oai(status = 503, content_type = "application/problem+json")]
            ServiceUnavailable(
                poem_openapi::payload::Json<$crate::problem::Problem>,
                #[oai(header = "Retry-After")] u64,
            ),
            /// Unexpected error (`internal`); logged, details withheld.
            #[oai(status = 500, content_type = "application/problem+json")]
            InternalServerError(poem_openapi::payload::Json<$crate::problem::Problem>),
        }

        impl From<$crate::problem::Problem> for $name {
            fn from(p: $crate::problem::Problem) -> Self {
                use poem_openapi::payload::Json;
                let retry = p.retry_after.unwrap_or(1);
                match p.status {
                    400 => Self::BadRequest(Json(p)),
                    401 => Self::Unauthorized(Json(p)),
                    403 => Self::Forbidden(Json(p)),
                    404 => Self::NotFound(Json(p)),
                    409 => Self::Conflict(Json(p)),
                    413 => Self::PayloadTooLarge(Json(p)),
                    415 => Self::UnsupportedMediaType(Json(p)),
                    422 => Self::UnprocessableEntity(Json(p)),
                    429 => Self::TooManyRequests(Json(p), retry),
                    503 => Self::ServiceUnavailable(Json(p), retry),
                    _ => Self::InternalServerError(Json(p)),
                }
            }
        }
    };
}

pub(crate) use api_response;

/// Runs a handler body, turning its problem into the operation's error variant.
pub(crate) async fn run<R: From<crate::problem::Problem>>(
    body: impl Future<Output = Result<R, crate::problem::Problem>>,
) -> R {
    body.await.unwrap_or_else(R::from)
}
