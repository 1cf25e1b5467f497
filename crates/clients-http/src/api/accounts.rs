//! Inside a client account (owner, member by role, or "Log in as" by role): team,
//! websites, subscription and audit log.

use std::sync::Arc;

use clients_domain::service::Ports;
use clients_domain::{AccountId, DomainName};
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use uuid::Uuid;

use super::{ApiTags, SessionAuth, id, page};
use crate::AppState;
use crate::dto::{
    AddWebsiteBody, AnalyticsDto, AuditPage, InvoicePage, MemberDto, PlanBody, RoleBody, SubscriptionDto, TeamDto,
    WebsiteDto, WebsitePage,
};
use crate::problem::Problem;
use crate::responses::{api_response, run};

pub struct AccountsApi<P: Ports> {
    pub(super) state: Arc<AppState<P>>,
}

api_response!(
    /// Team.
    TeamResponse {
        /// Slots and members.
        #[oai(status = 200)]
        Ok(Json<TeamDto>),
    }
);
api_response!(
    /// Role change.
    ChangeRoleResponse {
        /// The member with its new role.
        #[oai(status = 200)]
        Ok(Json<MemberDto>),
    }
);
api_response!(
    /// Member removal.
    RemoveMemberResponse {
        /// Removed: its access is revoked and its slot free.
        #[oai(status = 204)]
        NoContent,
    }
);
api_response!(
    /// Websites.
    ListWebsitesResponse {
        /// Websites whose domain contains `q`, by domain.
        #[oai(status = 200)]
        Ok(Json<WebsitePage>),
    }
);
api_response!(
    /// Add a website.
    AddWebsiteResponse {
        /// Added (not connected yet).
        #[oai(status = 201)]
        Created(Json<WebsiteDto>),
    }
);
api_response!(
    /// Subscription.
    SubscriptionResponse {
        /// Plan and team slots.
        #[oai(status = 200)]
        Ok(Json<SubscriptionDto>),
    }
);
api_response!(
    /// Audit log.
    AuditLogResponse {
        /// Entries, newest first.
        #[oai(status = 200)]
        Ok(Json<AuditPage>),
    }
);

api_response!(
    /// Invoices.
    InvoicesResponse {
        /// Invoices, newest first.
        #[oai(status = 200)]
        Ok(Json<InvoicePage>),
    }
);
api_response!(
    /// Settings.
    SettingsResponse {
        /// The settings document (a JSON object).
        #[oai(status = 200)]
        Ok(Json<SettingsMap>),
    }
);
api_response!(
    /// Analytics.
    AnalyticsResponse {
        /// The summary.
        #[oai(status = 200)]
        Ok(Json<AnalyticsDto>),
    }
);

/// A settings document: a JSON object.
type SettingsMap = std::collections::BTreeMap<String, serde_json::Value>;

/// Parses a stored settings document (always an object: only objects are stored).
fn settings_object(doc: &clients_domain::SettingsDocument) -> Result<SettingsMap, Problem> {
    serde_json::from_str(doc.as_str()).map_err(|e| {
        tracing::error!(error = %e, "stored settings are not a JSON object");
        Problem::new(poem::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", "unexpected error; it has been logged")
    })
}

#[OpenApi(tag = "ApiTags::Accounts")]
impl<P: Ports> AccountsApi<P> {
    /// Team Management: slots and members (owner and Admin).
    #[oai(path = "/v1/accounts/:account_id/team", method = "get", operation_id = "getTeam")]
    async fn team(&self, auth: SessionAuth, account_id: Path<Uuid>) -> TeamResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let team = self.state.service.team(&p, id(account_id.0)).await?;
            Ok(TeamResponse::Ok(Json(TeamDto {
                slots: team.slots.into(),
                members: team.members.iter().map(Into::into).collect(),
            })))
        })
        .await
    }

    /// Change a member's role (owner and Admin; nobody changes their own role).
    #[oai(
        path = "/v1/accounts/:account_id/team/members/:member_id",
        method = "patch",
        operation_id = "changeMemberRole"
    )]
    async fn change_role(
        &self,
        auth: SessionAuth,
        account_id: Path<Uuid>,
        member_id: Path<Uuid>,
        body: Json<RoleBody>,
    ) -> ChangeRoleResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let member =
                self.state.service.change_role(&p, id(account_id.0), id(member_id.0), body.role.into()).await?;
            Ok(ChangeRoleResponse::Ok(Json((&member).into())))
        })
        .await
    }

    /// Remove a member: revokes its access and frees its slot (owner and Admin).
    #[oai(path = "/v1/accounts/:account_id/team/members/:member_id", method = "delete", operation_id = "removeMember")]
    async fn remove_member(
        &self,
        auth: SessionAuth,
        account_id: Path<Uuid>,
        member_id: Path<Uuid>,
    ) -> RemoveMemberResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            self.state.service.remove_member(&p, id(account_id.0), id(member_id.0)).await?;
            Ok(RemoveMemberResponse::NoContent)
        })
        .await
    }

    /// Websites of the account (`websites.read`).
    #[oai(path = "/v1/accounts/:account_id/websites", method = "get", operation_id = "listWebsites")]
    async fn websites(
        &self,
        auth: SessionAuth,
        account_id: Path<Uuid>,
        /// Only websites whose domain contains this text.
        #[oai(validator(max_length = 253, custom = "&crate::patterns::SEARCH"))]
        q: Query<Option<String>>,
        /// Page size, 1 to 100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> ListWebsitesResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let q = q.0.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
            let sites = self.state.service.websites(&p, id(account_id.0), q, &page(limit.0, cursor.0)?).await?;
            Ok(ListWebsitesResponse::Ok(Json(sites.into())))
        })
        .await
    }

    /// Add a website (`websites.manage`).
    #[oai(path = "/v1/accounts/:account_id/websites", method = "post", operation_id = "addWebsite")]
    async fn add_website(
        &self,
        auth: SessionAuth,
        account_id: Path<Uuid>,
        body: Json<AddWebsiteBody>,
    ) -> AddWebsiteResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let domain = DomainName::parse(&body.domain).map_err(|e| Problem::invalid("domain", e.to_string()))?;
            let site = self.state.service.add_website(&p, id(account_id.0), domain).await?;
            Ok(AddWebsiteResponse::Created(Json((&site).into())))
        })
        .await
    }

    /// The plan and its team slots (`billing.manage`).
    #[oai(path = "/v1/accounts/:account_id/subscription", method = "get", operation_id = "getSubscription")]
    async fn subscription(&self, auth: SessionAuth, account_id: Path<Uuid>) -> SubscriptionResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let (plan, slots) = self.state.service.subscription(&p, id(account_id.0)).await?;
            Ok(SubscriptionResponse::Ok(Json(SubscriptionDto { plan: plan.into(), slots: slots.into() })))
        })
        .await
    }

    /// Change the plan (`billing.manage`); 409 `plan_too_small` when the team has more
    /// members than the new plan's slots.
    #[oai(path = "/v1/accounts/:account_id/subscription", method = "put", operation_id = "changePlan")]
    async fn change_plan(
        &self,
        auth: SessionAuth,
        account_id: Path<Uuid>,
        body: Json<PlanBody>,
    ) -> SubscriptionResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let account: AccountId = id(account_id.0);
            let (plan, slots) = self.state.service.change_plan(&p, account, body.plan.into()).await?;
            Ok(SubscriptionResponse::Ok(Json(SubscriptionDto { plan: plan.into(), slots: slots.into() })))
        })
        .await
    }

    /// The account's audit log, newest first (owner and Admin): every request,
    /// approval, role change, removal and "Log in as" of every agency.
    #[oai(path = "/v1/accounts/:account_id/audit-log", method = "get", operation_id = "auditLog")]
    async fn audit_log(
        &self,
        auth: SessionAuth,
        account_id: Path<Uuid>,
        /// Page size, 1 to 100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> AuditLogResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let events = self.state.service.audit_log(&p, id(account_id.0), &page(limit.0, cursor.0)?).await?;
            Ok(AuditLogResponse::Ok(Json(AuditPage {
                items: events.items.iter().map(Into::into).collect(),
                next_cursor: events.next_cursor,
            })))
        })
        .await
    }

    /// The account's invoices, newest first (`billing.read`).
    #[oai(path = "/v1/accounts/:account_id/invoices", method = "get", operation_id = "listInvoices")]
    async fn invoices(
        &self,
        auth: SessionAuth,
        account_id: Path<Uuid>,
        /// Page size, 1 to 100 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        limit: Query<Option<u32>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(max_length = 512))]
        cursor: Query<Option<String>>,
    ) -> InvoicesResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let page = self.state.service.invoices(&p, id(account_id.0), &page(limit.0, cursor.0)?).await?;
            Ok(InvoicesResponse::Ok(Json(InvoicePage {
                items: page.items.iter().map(Into::into).collect(),
                next_cursor: page.next_cursor,
            })))
        })
        .await
    }

    /// The account's settings document (`settings.manage`).
    #[oai(path = "/v1/accounts/:account_id/settings", method = "get", operation_id = "getSettings")]
    async fn settings(&self, auth: SessionAuth, account_id: Path<Uuid>) -> SettingsResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let doc = self.state.service.settings(&p, id(account_id.0)).await?;
            Ok(SettingsResponse::Ok(Json(settings_object(&doc)?)))
        })
        .await
    }

    /// Replace the settings document: a JSON object of at most 16 KiB (`settings.manage`).
    #[oai(path = "/v1/accounts/:account_id/settings", method = "put", operation_id = "putSettings")]
    async fn put_settings(
        &self,
        auth: SessionAuth,
        account_id: Path<Uuid>,
        body: Json<SettingsMap>,
    ) -> SettingsResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let text = serde_json::to_string(&body.0).map_err(|e| Problem::invalid("settings", e.to_string()))?;
            let doc =
                clients_domain::SettingsDocument::new(text).map_err(|e| Problem::invalid("settings", e.to_string()))?;
            let saved = self.state.service.put_settings(&p, id(account_id.0), doc).await?;
            Ok(SettingsResponse::Ok(Json(settings_object(&saved)?)))
        })
        .await
    }

    /// The account's analytics summary (`analytics.read`).
    #[oai(path = "/v1/accounts/:account_id/analytics", method = "get", operation_id = "getAnalytics")]
    async fn analytics(&self, auth: SessionAuth, account_id: Path<Uuid>) -> AnalyticsResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let summary = self.state.service.analytics(&p, id(account_id.0)).await?;
            Ok(AnalyticsResponse::Ok(Json(summary.into())))
        })
        .await
    }
}
