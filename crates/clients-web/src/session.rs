//! Who is visiting: the personal session and, during "Log in as", the acting session,
//! both resolved from cookies through `Service::authenticate` on every request; the
//! CSRF binding secret; the cookies and flash message the response must carry.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clients_domain::ports::AccountRepository as _;
use clients_domain::service::{AuthError, Ports};
use clients_domain::{Account, Impersonation, Principal};
use poem::Request;
use poem::http::header;
use rand::RngCore as _;

use crate::Web;
use crate::cookies::{self, FlashKind};
use crate::csrf;

/// A signed-in account (its own session).
#[derive(Debug, Clone)]
pub(crate) struct Personal {
    pub(crate) token: String,
    pub(crate) principal: Principal,
    pub(crate) account: Account,
}

/// An agency acting inside a client account ("Log in as").
#[derive(Debug, Clone)]
pub(crate) struct Acting {
    pub(crate) principal: Principal,
    pub(crate) session: Impersonation,
    /// The client account, for the banner.
    pub(crate) client: Account,
}

/// The visitor of one request.
#[derive(Debug)]
pub(crate) struct Visitor {
    pub(crate) personal: Option<Personal>,
    pub(crate) acting: Option<Acting>,
    anonymous: Option<String>,
    /// `Set-Cookie` values for the response.
    pub(crate) set_cookies: Vec<String>,
    /// The message left by the previous request.
    pub(crate) flash: Option<(FlashKind, String)>,
    pub(crate) ip: Option<IpAddr>,
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

impl Visitor {
    /// Reads the cookies of `req` and authenticates its sessions. Sessions that no
    /// longer work are cleared; an acting session that ended says so.
    pub(crate) async fn resolve<P: Ports>(web: &Web<P>, req: &Request) -> Self {
        let header = req.headers().get(header::COOKIE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let mut v = Visitor {
            personal: None,
            acting: None,
            anonymous: cookies::read(header, cookies::ANONYMOUS).map(str::to_owned),
            set_cookies: vec![],
            flash: None,
            ip: req.remote_addr().as_socket_addr().map(std::net::SocketAddr::ip),
        };
        if let Some(flash) = cookies::read(header, cookies::FLASH) {
            v.flash = cookies::decode_flash(flash);
            v.set_cookies.push(web.cookies.clear(cookies::FLASH));
        }
        if let Some(token) = cookies::read(header, cookies::SESSION) {
            match web.service.authenticate(token).await {
                Ok(Principal::Account { account, session }) => {
                    let principal = Principal::Account { account: account.clone(), session };
                    v.personal = Some(Personal { token: token.to_owned(), principal, account });
                }
                Ok(_) | Err(AuthError::Unauthenticated | AuthError::SessionEnded(_)) => {
                    v.set_cookies.push(web.cookies.clear(cookies::SESSION));
                }
                Err(e) => tracing::warn!(error = %e, "authenticating the session cookie failed"),
            }
        }
        if let Some(token) = cookies::read(header, cookies::ACTING) {
            v.acting = v.resolve_acting(web, token).await;
            if v.acting.is_none() {
                v.set_cookies.push(web.cookies.clear(cookies::ACTING));
                if v.personal.is_some() {
                    v.flash = Some((FlashKind::Error, "Your \"Log in as\" session has ended.".to_owned()));
                }
            }
        }
        v
    }

    async fn resolve_acting<P: Ports>(&self, web: &Web<P>, token: &str) -> Option<Acting> {
        // Acting needs the agency's own session next to it: signing out ends both.
        let me = self.personal.as_ref()?.account.id;
        let principal = web.service.authenticate(token).await.ok()?;
        let Principal::Impersonation(session) = principal else { return None };
        if session.agency != me {
            return None;
        }
        let client = web.service.ports().accounts().find(session.client).await.ok()??;
        Some(Acting { principal: Principal::Impersonation(session), session, client })
    }

    /// The principal pages act as: the acting session while "Log in as", else the
    /// personal one.
    pub(crate) fn principal(&self) -> Option<&Principal> {
        self.acting.as_ref().map(|a| &a.principal).or(self.personal.as_ref().map(|p| &p.principal))
    }

    /// The account the pages show: the client while acting, else one's own.
    pub(crate) fn current_account(&self) -> Option<&Account> {
        self.acting.as_ref().map(|a| &a.client).or(self.personal.as_ref().map(|p| &p.account))
    }

    fn binding_secret(&self) -> Option<&str> {
        self.personal.as_ref().map(|p| p.token.as_str()).or(self.anonymous.as_deref())
    }

    /// The CSRF token for forms on this response; before sign-in it creates the
    /// anonymous cookie that binds it.
    pub(crate) fn csrf<P: Ports>(&mut self, web: &Web<P>) -> String {
        if self.binding_secret().is_none() {
            let secret = random_secret();
            self.set_cookies.push(web.cookies.set(cookies::ANONYMOUS, &secret, 60 * 60 * 24));
            self.anonymous = Some(secret);
        }
        self.binding_secret().map(csrf::token).unwrap_or_default()
    }

    /// Checks a POST: its origin headers and the form's `csrf` field.
    pub(crate) fn check_post<P: Ports>(&self, web: &Web<P>, req: &Request, form_token: &str) -> bool {
        let h = |name| req.headers().get(name).and_then(|v: &header::HeaderValue| v.to_str().ok());
        let origin_ok =
            csrf::origin_allowed(&web.public_origin, h(header::HOST), h(header::ORIGIN), h(header::REFERER));
        let token_ok = self.binding_secret().is_some_and(|s| csrf::verify(s, form_token));
        if !(origin_ok && token_ok) {
            tracing::warn!(origin_ok, token_ok, path = %req.uri().path(), "form refused by the CSRF check");
        }
        origin_ok && token_ok
    }

    /// Leaves a message for the next page.
    pub(crate) fn flash_next<P: Ports>(&mut self, web: &Web<P>, kind: FlashKind, text: &str) {
        self.set_cookies.retain(|c| !c.starts_with(&format!("{}=", cookies::FLASH)));
        self.set_cookies.push(web.cookies.set(cookies::FLASH, &cookies::encode_flash(kind, text), 60));
    }

    /// Starts a personal session (sign-in, sign-up): any acting session ends.
    pub(crate) fn start_session<P: Ports>(&mut self, web: &Web<P>, token: &str) {
        let ttl = web.service.policy().session_ttl.num_seconds();
        self.set_cookies.push(web.cookies.set(cookies::SESSION, token, ttl));
        self.set_cookies.push(web.cookies.clear(cookies::ACTING));
    }

    /// Starts acting with a "Log in as" token for `ttl_secs`.
    pub(crate) fn start_acting<P: Ports>(&mut self, web: &Web<P>, token: &str, ttl_secs: i64) {
        self.set_cookies.push(web.cookies.set(cookies::ACTING, token, ttl_secs));
    }

    /// Ends acting (the agency's own session stays).
    pub(crate) fn stop_acting<P: Ports>(&mut self, web: &Web<P>) {
        self.set_cookies.push(web.cookies.clear(cookies::ACTING));
    }

    /// Ends every session cookie.
    pub(crate) fn sign_out<P: Ports>(&mut self, web: &Web<P>) {
        self.set_cookies.push(web.cookies.clear(cookies::SESSION));
        self.set_cookies.push(web.cookies.clear(cookies::ACTING));
    }
}
