//! The v1 routes, grouped by who calls them.

mod accounts;
mod agency;
mod auth;
mod client;
mod internal;
mod probes;

use std::sync::Arc;

use clients_domain::Email;
use clients_domain::ports::{Limit, PageRequest};
use clients_domain::service::Ports;
use poem_openapi::auth::Bearer;
use poem_openapi::{SecurityScheme, Tags};

use crate::AppState;
use crate::problem::Problem;

/// Operation groups in the spec.
#[derive(Tags)]
pub(crate) enum ApiTags {
    /// Sign up, sign in, sign out, who am I.
    Auth,
    /// The agency's "Shared accounts": request access, list, resend, remove, log in as, leave.
    SharedAccounts,
    /// The client's side: pending requests, grant links, approve, decline.
    AccessRequests,
    /// Inside a client account: team, websites, subscription, audit log.
    Accounts,
    /// Internal services (service token).
    Internal,
    /// Probes.
    Probes,
}

/// A session bearer token from sign-in, sign-up or "Log in as".
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "opaque")]
pub(crate) struct SessionAuth(Bearer);

/// The internal services' token (`CLIENTS_SERVICE_TOKEN`).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "opaque")]
pub(crate) struct ServiceAuth(Bearer);

/// Every API group, as one OpenAPI service.
pub type Apis<P> = (
    auth::AuthApi<P>,
    agency::AgencyApi<P>,
    client::ClientApi<P>,
    accounts::AccountsApi<P>,
    internal::InternalApi<P>,
    probes::ProbeApi<P>,
);

pub(crate) fn apis<P: Ports>(state: Arc<AppState<P>>) -> Apis<P> {
    (
        auth::AuthApi { state: state.clone() },
        agency::AgencyApi { state: state.clone() },
        client::ClientApi { state: state.clone() },
        accounts::AccountsApi { state: state.clone() },
        internal::InternalApi { state: state.clone() },
        probes::ProbeApi { state },
    )
}

impl<P: Ports> AppState<P> {
    async fn principal(&self, auth: &SessionAuth) -> Result<clients_domain::Principal, Problem> {
        Ok(self.service.authenticate(&auth.0.token).await?)
    }
}

fn parse_email(field: &str, raw: &str) -> Result<Email, Problem> {
    Email::parse(raw).map_err(|e| Problem::invalid(field, e.to_string()))
}

fn page(limit: Option<u32>, cursor: Option<String>) -> Result<PageRequest, Problem> {
    let limit = match limit {
        Some(n) => Limit::new(n).map_err(|e| Problem::invalid("limit", e.to_string()))?,
        None => Limit::default(),
    };
    Ok(PageRequest { limit, cursor: cursor.filter(|c| !c.is_empty()) })
}

fn id<T: From<uuid::Uuid>>(raw: uuid::Uuid) -> T {
    T::from(raw)
}

macro_rules! debug_by_name {
    ($($api:ident :: $name:ident),*) => {
        $(impl<P: Ports> std::fmt::Debug for $api::$name<P> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($name))
            }
        })*
    };
}

debug_by_name!(
    auth::AuthApi,
    agency::AgencyApi,
    client::ClientApi,
    accounts::AccountsApi,
    internal::InternalApi,
    probes::ProbeApi
);
