//! Sign-up, sign-in, sign-out and `GET /v1/me`.

use std::sync::Arc;

use clients_domain::service::{Ports, SignUp, SignedIn};
use clients_domain::{DisplayName, GrantToken, Password};
use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use super::{ApiTags, SessionAuth, parse_email};
use crate::dto::{AccountDto, SessionDto, SignInBody, SignUpBody};
use crate::problem::Problem;
use crate::responses::{api_response, run};
use crate::{AppState, client_ip};

pub struct AuthApi<P: Ports> {
    pub(super) state: Arc<AppState<P>>,
}

api_response!(
    /// Sign-up.
    SignUpResponse {
        /// Account created and signed in.
        #[oai(status = 201)]
        Created(Json<SessionDto>),
    }
);
api_response!(
    /// Sign-in.
    SignInResponse {
        /// Signed in.
        #[oai(status = 200)]
        Ok(Json<SessionDto>),
    }
);
api_response!(
    /// Sign-out.
    SignOutResponse {
        /// The session is ended.
        #[oai(status = 204)]
        NoContent,
    }
);
api_response!(
    /// Who am I.
    MeResponse {
        /// The signed-in account.
        #[oai(status = 200)]
        Ok(Json<AccountDto>),
    }
);

fn session(s: &SignedIn) -> SessionDto {
    SessionDto { token: s.token.expose().to_owned(), expires_at: s.session.expires_at, account: (&s.account).into() }
}

fn password(raw: &str) -> Result<Password, Problem> {
    Password::parse(raw).map_err(|e| Problem::invalid("password", e.to_string()))
}

#[OpenApi(tag = "ApiTags::Auth")]
impl<P: Ports> AuthApi<P> {
    /// Create an account and sign in. Passing the `token` of a grant link sent to the
    /// same email verifies the email.
    #[oai(path = "/v1/auth/sign-up", method = "post", operation_id = "signUp")]
    async fn sign_up(&self, req: &poem::Request, body: Json<SignUpBody>) -> SignUpResponse {
        run(async {
            self.state.limits.sign_up(client_ip(req))?;
            let name = match body.name.as_deref() {
                Some(n) => Some(DisplayName::parse(n).map_err(|e| Problem::invalid("name", e.to_string()))?),
                None => None,
            };
            let input = SignUp {
                email: parse_email("email", &body.email)?,
                password: password(&body.password)?,
                name,
                // A malformed token cannot verify anything; it is ignored like a wrong one.
                grant_token: body.grant_token.as_deref().and_then(|t| GrantToken::parse(t).ok()),
            };
            let signed = self.state.service.sign_up(input).await?;
            Ok(SignUpResponse::Created(Json(session(&signed))))
        })
        .await
    }

    /// Sign in with email and password. Throttled per email and per address.
    #[oai(path = "/v1/auth/sign-in", method = "post", operation_id = "signIn")]
    async fn sign_in(&self, req: &poem::Request, body: Json<SignInBody>) -> SignInResponse {
        run(async {
            self.state.limits.sign_in(&body.email, client_ip(req))?;
            // Malformed input gets the same answer as a wrong password: nothing to learn.
            let bad = || Problem::from(clients_domain::service::SignInError::InvalidCredentials);
            let email = clients_domain::Email::parse(&body.email).map_err(|_| bad())?;
            let password = Password::parse(&body.password).map_err(|_| bad())?;
            let signed = self.state.service.sign_in(&email, &password).await?;
            Ok(SignInResponse::Ok(Json(session(&signed))))
        })
        .await
    }

    /// End the current session (also ends a "Log in as" session).
    #[oai(path = "/v1/auth/sign-out", method = "post", operation_id = "signOut")]
    async fn sign_out(&self, auth: SessionAuth) -> SignOutResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            self.state.service.sign_out(&p).await?;
            Ok(SignOutResponse::NoContent)
        })
        .await
    }

    /// The signed-in account (inside "Log in as": the agency's own account).
    #[oai(path = "/v1/me", method = "get", operation_id = "me")]
    async fn me(&self, auth: SessionAuth) -> MeResponse {
        run(async {
            let p = self.state.principal(&auth).await?;
            let account = self.state.service.me(&p).await?;
            Ok(MeResponse::Ok(Json((&account).into())))
        })
        .await
    }
}
