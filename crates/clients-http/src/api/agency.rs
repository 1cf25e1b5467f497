//! The agency's "Shared accounts": request access (one or bulk), list, one row, resend,
//! remove, view websites, "Log in as", leave.

use std::sync::Arc;

use clients_domain::ports::SharedAccountQuery;
use clients_domain::service::{Ports, Service};
use clients_domain::{AccessRequestId, Email};
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use uuid::Uuid;

use super::{ApiTags, SessionAuth, id, page, parse_email};
use crate::AppState;
use crate::dto::{
    BulkBody, BulkOutcome, BulkResult, BulkResults, CreateSharedAccountBody, ImpersonationDto, SharedAccountDto,
    SharedAccountPage, StatusDto, WebsitePage,
};
use crate::list_cache::{PageKey, RenderedJson};
use crate::problem::Problem;
use crate::responses::{api_response, run};

pub struct AgencyApi<P: Ports> {
    pub(super) state: Arc<AppState<P>>,
}

api_response!(
    /// Request access.
    RequestAccessResponse {
        /// Requested: the row (`requested: true`, status `no_data`); the email is queued.
        #[oai(status = 201)]
        Created(Json<SharedAccountDto>),
    }
);
api_response!(
    /// Bulk request.
    BulkResponse {
        /// One result per email, each independent.
        #[oai(status = 200)]
        Ok(Json<BulkResults>),
    }
);
api_response!(
    /// The list.
    ListResponse {
        /// A page of rows, newest first.
        #[oai(status = 200)]
        Ok(RenderedJson<SharedAccountPage>),
    }
);
api_response!(
    /// One row.
    RowResponse {
        /// The row.
        #[oai(status = 200)]
        Ok(Json<SharedAccountDto>),
    }
);
api_response!(
    /// Resend.
    ResendResponse {
        /// A new link is queued; the previous one no longer works.
        #[oai(status = 202)]
        Accepted(Json<SharedAccountDto>),
    }
);
api_response!(
    /// Remove.
    RemoveResponse {
        /// Removed.
        #[oai(status = 204)]
        NoContent,
    }
);
api_response!(
    /// The client's websites.
    WebsitesResponse {
        /// Websites whose domain contains `q`.
        #[oai(status = 200)]
        Ok(Json<WebsitePage>),
    }
);
api_response!(
    /// "Log in as".
    LogInAsResponse {
        /// A short-lived session acting inside the client account.
        #[oai(status = 201)]
        Created(Json<ImpersonationDto>),
    }
);
api_response!(
    /// Leave.
    LeaveResponse {
        /// Access given up; the client's slot is free.
        #[oai(status = 204)]
        NoContent,
    }
);

#[OpenApi(tag = "ApiTags::SharedAccounts")]
impl<P: Ports> AgencyApi<P> {
    /// Request access to the account of `email` with `role`. The client may not have
    /// an account yet; the answer is the same either way.
    #[oai(path = "/v1/shared-accounts", method = "post", operation_id = "requestAccess")]
    async fn request_access(&self, auth: SessionAuth, body: Json<CreateSharedAccountBody>) -> RequestAccessResponse {
        run(async {
            let service = &self.state.service;
            // The bearer is resolved inside the write (one round trip fewer); any
            // answer but a written request takes the usual path, whose error (an
            // unknown token's 401 before a bad body's 422, "Log in as"'s 403) stands.
            if let Ok(email) = Email::parse(&body.email)
                && let Some(row) = service.request_access_as(&auth.0.token, email, body.role.into()).await?
            {
                return Ok(RequestAccessResponse::Created(Json((&row).into())));
            }
            let p = self.state.principal(&auth).await?;
            let email = parse_email("email", &body.email)?;
            let row = service.request_access(&p, email, body.role.into()).await?;
            Ok(RequestAccessResponse::Created(Json((&row).into())))
        })
        .await
    }

    /// Request access for up to 100 emails at once; each succeeds or fails on its own.
    #[oai(path = "/v1/shared-accounts/bulk", method = "post", operation_id = "requestAccessBulk")]
    async fn request_access_bulk(&self, auth: SessionAuth, body: Json<BulkBody>) -> BulkResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            p.enter(clients_domain::Area::Agency)?;
            let mut results: Vec<Option<BulkResult>> = Vec::with_capacity(body.requests.len());
            let mut valid = vec![];
            for item in &body.requests {
                match parse_email("email", &item.email) {
                    Ok(email) => {
                        valid.push((results.len(), (email, item.role.into())));
                        results.push(None);
                    }
                    Err(problem) => results.push(Some(rejected(&item.email, &problem))),
                }
            }
            let (slots, items): (Vec<usize>, Vec<_>) = valid.into_iter().unzip();
            if !items.is_empty() {
                let outcomes = self.state.service.request_access_bulk(&p, items).await?;
                for (slot, outcome) in slots.into_iter().zip(outcomes) {
                    let email = &body.requests[slot].email;
                    results[slot] = Some(match outcome {
                        Ok(row) => BulkResult {
                            email: email.to_string(),
                            outcome: BulkOutcome::Created,
                            id: Some(row.request.id().as_uuid()),
                            code: None,
                        },
                        Err(e) => rejected(email, &Problem::from(e)),
                    });
                }
            }
            Ok(BulkResponse::Ok(Json(BulkResults { results: results.into_iter().flatten().collect() })))
        })
        .await
    }

    /// The agency's clients: requested, approved and declined rows, newest first.
    #[oai(path = "/v1/shared-accounts", method = "get", operation_id = "listSharedAccounts")]
    async fn list(
        &self,
        auth: SessionAuth,
        /// Only rows whose email contains this text (case-insensitive).
        #[oai(validator(max_length = 254, custom = "&crate::patterns::SEARCH"))]
        q: Query<Option<String>>,
        /// Only rows with this status.
        status: Query<Option<StatusDto>>,
        /// Page size, 1 to 100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ListResponse {
        run(async {
            let (p, version) = self.state.service.authenticate_listing(&auth.0.token).await?;
            let query = SharedAccountQuery {
                q: q.0.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()),
                status: status.0.map(Into::into),
                page: page(limit.0, cursor.0)?,
            };
            // A page rendered at this version is still the page (list_cache.rs).
            let cached = match (self.state.lists.as_ref(), version) {
                (Some(lists), Some(v)) => Some((lists, v, PageKey::new(Service::<P>::list_owner(&p)?, &query))),
                _ => None,
            };
            if let Some((lists, v, key)) = &cached
                && let Some(body) = lists.get(key, *v)
            {
                return Ok(ListResponse::Ok(RenderedJson::from_bytes(body)));
            }
            let rows = self.state.service.shared_accounts(&p, &query).await?;
            let page = RenderedJson::render(&SharedAccountPage::from(rows));
            if let Some((lists, v, key)) = cached {
                lists.put(key, v, page.bytes());
            }
            Ok(ListResponse::Ok(page))
        })
        .await
    }

    /// One row of the list.
    #[oai(path = "/v1/shared-accounts/:id", method = "get", operation_id = "getSharedAccount")]
    async fn get(&self, auth: SessionAuth, id: Path<Uuid>) -> RowResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let row = self.state.service.shared_account(&p, self::id::<AccessRequestId>(id.0)).await?;
            Ok(RowResponse::Ok(Json((&row).into())))
        })
        .await
    }

    /// Send the request again with a new link (requested or declined rows; 60 s
    /// cooldown, 5 a day).
    #[oai(path = "/v1/shared-accounts/:id/resend", method = "post", operation_id = "resendRequest")]
    async fn resend(&self, auth: SessionAuth, id: Path<Uuid>) -> ResendResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let row = self.state.service.resend(&p, self::id(id.0)).await?;
            Ok(ResendResponse::Accepted(Json((&row).into())))
        })
        .await
    }

    /// Withdraw a request (requested or declined rows only; 409 once approved).
    #[oai(path = "/v1/shared-accounts/:id", method = "delete", operation_id = "removeRequest")]
    async fn remove(&self, auth: SessionAuth, id: Path<Uuid>) -> RemoveResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            self.state.service.remove(&p, self::id(id.0)).await?;
            Ok(RemoveResponse::NoContent)
        })
        .await
    }

    /// The client's websites ("View websites"); 409 until approved.
    #[oai(path = "/v1/shared-accounts/:id/websites", method = "get", operation_id = "sharedAccountWebsites")]
    async fn websites(
        &self,
        auth: SessionAuth,
        id: Path<Uuid>,
        /// Only websites whose domain contains this text.
        #[oai(validator(max_length = 253, custom = "&crate::patterns::SEARCH"))]
        q: Query<Option<String>>,
        /// Page size, 1 to 100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> WebsitesResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let q = q.0.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
            let sites = self.state.service.shared_websites(&p, self::id(id.0), q, &page(limit.0, cursor.0)?).await?;
            Ok(WebsitesResponse::Ok(Json(sites.into())))
        })
        .await
    }

    /// Start "Log in as": a 60-minute session acting inside the client account with
    /// your current role (409 unless approved). Recorded in the client's audit log.
    #[oai(path = "/v1/shared-accounts/:id/log-in-as", method = "post", operation_id = "logInAs")]
    async fn log_in_as(&self, auth: SessionAuth, id: Path<Uuid>) -> LogInAsResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let started = self.state.service.log_in_as(&p, self::id(id.0)).await?;
            let account_id = match started.session.kind {
                clients_domain::SessionKind::Impersonation { client, .. } => client.as_uuid(),
                clients_domain::SessionKind::Personal => Uuid::nil(),
            };
            Ok(LogInAsResponse::Created(Json(ImpersonationDto {
                token: started.token.expose().to_owned(),
                expires_at: started.session.expires_at,
                account_id,
                role: started.role.into(),
            })))
        })
        .await
    }

    /// Give up access to an approved account (frees the client's slot).
    #[oai(path = "/v1/shared-accounts/:id/leave", method = "post", operation_id = "leaveSharedAccount")]
    async fn leave(&self, auth: SessionAuth, id: Path<Uuid>) -> LeaveResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            self.state.service.leave(&p, self::id(id.0)).await?;
            Ok(LeaveResponse::NoContent)
        })
        .await
    }
}

fn rejected(email: &str, problem: &Problem) -> BulkResult {
    BulkResult { email: email.to_owned(), outcome: BulkOutcome::Rejected, id: None, code: Some(problem.code.clone()) }
}
