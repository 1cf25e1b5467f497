//! The client's side: the approval pop-up (pending requests and slots), grant links,
//! approve and decline.

use std::sync::Arc;

use clients_domain::GrantToken;
use clients_domain::service::{ApproveError, GrantLink, Ports};
use poem_openapi::OpenApi;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use uuid::Uuid;

use super::{ApiTags, SessionAuth, id};
use crate::dto::{GrantLinkDto, InboxDto, InboxItem, MemberDto, NextStep};
use crate::problem::{Problem, invalid_link};
use crate::responses::{api_response, run};
use crate::{AppState, client_ip};

pub struct ClientApi<P: Ports> {
    pub(super) state: Arc<AppState<P>>,
}

api_response!(
    /// Pending requests.
    InboxResponse {
        /// Requests to my verified email, and my slots.
        #[oai(status = 200)]
        Ok(Json<InboxDto>),
    }
);
api_response!(
    /// A grant link.
    GrantLinkResponse {
        /// Who asks, for what, and whether to sign in or sign up.
        #[oai(status = 200)]
        Ok(Json<GrantLinkDto>),
    }
);
api_response!(
    /// Approve.
    ApproveResponse {
        /// Approved: the agency is a member (approving again returns the same member).
        #[oai(status = 200)]
        Ok(Json<MemberDto>),
    }
);
api_response!(
    /// Decline.
    DeclineResponse {
        /// Declined.
        #[oai(status = 204)]
        NoContent,
    }
);

fn token(raw: &str) -> Result<GrantToken, Problem> {
    // A malformed token gets the same answer as an unknown one.
    GrantToken::parse(raw).map_err(|_| invalid_link())
}

/// Counts approvals and refusals for lack of a slot (`/metrics`).
fn counted<T>(result: Result<T, ApproveError>) -> Result<T, ApproveError> {
    match &result {
        Ok(_) => metrics::counter!("clients_approvals_total").increment(1),
        Err(ApproveError::NoFreeTeamSlots(_)) => metrics::counter!("clients_slot_refusals_total").increment(1),
        Err(_) => {}
    }
    result
}

fn link_dto(link: GrantLink) -> GrantLinkDto {
    GrantLinkDto {
        id: link.request.as_uuid(),
        agency_name: link.agency_name,
        agency_email: link.agency_email.to_string(),
        role: link.role.into(),
        role_summary: link.role.summary().to_owned(),
        email: link.email.to_string(),
        next: if link.account_exists { NextStep::SignIn } else { NextStep::SignUp },
        expires_at: link.expires_at,
    }
}

#[OpenApi(tag = "ApiTags::AccessRequests")]
impl<P: Ports> ClientApi<P> {
    /// Requests waiting for me (the approval pop-up) and my team slots. Empty until my
    /// email is verified by following a grant link.
    #[oai(path = "/v1/access-requests", method = "get", operation_id = "pendingAccessRequests")]
    async fn inbox(&self, auth: SessionAuth) -> InboxResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let inbox = self.state.service.inbox(&p).await?;
            let items = inbox
                .items
                .iter()
                .map(|pending| InboxItem {
                    id: pending.request.id().as_uuid(),
                    agency_email: pending.agency.email.to_string(),
                    agency_name: pending.agency.display_name().to_owned(),
                    role: pending.request.role().into(),
                    role_summary: pending.request.role().summary().to_owned(),
                    requested_at: pending.request.created_at(),
                })
                .collect();
            Ok(InboxResponse::Ok(Json(InboxDto { items, slots: inbox.slots.into() })))
        })
        .await
    }

    /// What a grant link asks (no sign-in needed). Reading it changes nothing. Invalid,
    /// expired, used and rotated links all answer 404 `invalid_link`.
    #[oai(path = "/v1/access-requests/by-token/:token", method = "get", operation_id = "describeGrantLink")]
    async fn by_token(&self, req: &poem::Request, token: Path<String>) -> GrantLinkResponse {
        run(async {
            self.state.limits.grant(client_ip(req), None)?;
            let link = self.state.service.grant_link(&self::token(&token.0)?).await?;
            Ok(GrantLinkResponse::Ok(Json(link_dto(link))))
        })
        .await
    }

    /// Approve through the grant link, signed in as the invited email. Verifies it.
    #[oai(path = "/v1/access-requests/by-token/:token/approve", method = "post", operation_id = "approveByToken")]
    async fn approve_by_token(&self, req: &poem::Request, auth: SessionAuth, token: Path<String>) -> ApproveResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            self.state.limits.grant(client_ip(req), p.actor().map(|a| a.as_uuid()))?;
            let member = counted(self.state.service.approve_by_token(&p, &self::token(&token.0)?).await)?;
            Ok(ApproveResponse::Ok(Json((&member).into())))
        })
        .await
    }

    /// Approve a request to my verified email (409 `no_free_team_slots` with `used`
    /// and `limit` when the team is full).
    #[oai(path = "/v1/access-requests/:id/approve", method = "post", operation_id = "approveAccessRequest")]
    async fn approve(&self, auth: SessionAuth, id: Path<Uuid>) -> ApproveResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let member = counted(self.state.service.approve(&p, self::id(id.0)).await)?;
            Ok(ApproveResponse::Ok(Json((&member).into())))
        })
        .await
    }

    /// Decline a request to my verified email.
    #[oai(path = "/v1/access-requests/:id/decline", method = "post", operation_id = "declineAccessRequest")]
    async fn decline(&self, auth: SessionAuth, id: Path<Uuid>) -> DeclineResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            self.state.service.decline(&p, self::id(id.0)).await?;
            Ok(DeclineResponse::NoContent)
        })
        .await
    }
}
