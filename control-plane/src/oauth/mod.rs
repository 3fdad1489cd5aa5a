//! Sign in with GitHub: the OAuth web flow with `state` and PKCE (S256), scope `read:org` only.
//! The GitHub token is used during the callback to learn who the user is and which orgs they
//! belong to (and with which role), then dropped: it is never stored.

use crate::Error;
use crate::audit::{self, Actor};
use crate::http::flash::flash;
use crate::http::session::{current_user, sign_in};
use crate::http::{ClientIp, Confirm, CsrfForm, PageError, SessionOrg, SessionUser};
use crate::state::AppState;
use crate::tenants::sync::{OrgRole, join_org_tenants, leave_departed_tenants};
use crate::users::upsert_user;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

const PENDING_KEY: &str = "oauth_pending";
/// Orgs looked at per sign-in (one membership call each).
const MAX_ORGS: usize = 50;

/// The sign-in and sign-out routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/github/login", get(start_sign_in))
        .route("/auth/github/callback", get(finish_sign_in))
        .route("/auth/logout", post(sign_out))
}

type GithubOAuth = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn oauth_client(state: &AppState) -> Result<GithubOAuth, Error> {
    let gh = &state.config.github;
    let (Some(id), Some(secret)) = (&gh.client_id, &gh.client_secret) else {
        return Err(Error::BadRequest(
            "sign-in with GitHub is not configured: set SHOAL_GITHUB_CLIENT_ID and SHOAL_GITHUB_CLIENT_SECRET".into(),
        ));
    };
    let web = gh.web_url.as_str().trim_end_matches('/');
    let bad = |e: url::ParseError| Error::Config(format!("OAuth URL: {e}"));
    Ok(BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret.expose().to_string()))
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(AuthUrl::new(format!("{web}/login/oauth/authorize")).map_err(bad)?)
        .set_token_uri(TokenUrl::new(format!("{web}/login/oauth/access_token")).map_err(bad)?)
        .set_redirect_uri(RedirectUrl::from_url(
            state.public_url.join("/auth/github/callback").map_err(bad)?,
        )))
}

/// What the callback needs from the start of the flow; lives in the session for one round trip.
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    verifier: String,
}

async fn start_sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
) -> Result<Response, PageError> {
    let started = async {
        state.check_login_rate(ip)?;
        let client = oauth_client(&state)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf) = client
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("read:org".into()))
            .set_pkce_challenge(challenge)
            .url();
        session
            .insert(
                PENDING_KEY,
                Pending {
                    state: csrf.secret().clone(),
                    verifier: verifier.secret().clone(),
                },
            )
            .await?;
        Ok::<_, Error>(url)
    }
    .await;
    match started {
        Ok(url) => Ok(Redirect::to(url.as_str()).into_response()),
        Err(e) if e.status().is_client_error() => {
            flash(&session, "error", e.public_message()).await?;
            Ok(Redirect::to("/").into_response())
        }
        Err(e) => Err(PageError(e)),
    }
}

#[derive(Deserialize)]
struct CallbackIn {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn finish_sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    Query(q): Query<CallbackIn>,
) -> Result<Response, PageError> {
    let result = complete(&state, ip, &session, q).await;
    match result {
        Ok((login, refused)) => {
            let kind = if refused.is_empty() { "ok" } else { "error" };
            let message = std::iter::once(format!("Signed in as {login}.")).chain(refused);
            flash(&session, kind, message.collect::<Vec<_>>().join(" ")).await?;
            Ok(Redirect::to("/").into_response())
        }
        Err(e) if e.status().is_client_error() => {
            flash(&session, "error", e.public_message()).await?;
            Ok(Redirect::to("/").into_response())
        }
        Err(e) => Err(PageError(e)),
    }
}

async fn complete(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    session: &Session,
    q: CallbackIn,
) -> Result<(String, Vec<String>), Error> {
    state.check_login_rate(ip)?;
    // One use only, whatever happens next.
    let pending: Option<Pending> = session.remove(PENDING_KEY).await?;
    if let Some(err) = q.error {
        return Err(Error::Unauthorized(format!(
            "GitHub did not sign you in ({err}); try again"
        )));
    }
    let (Some(pending), Some(code), Some(given_state)) = (pending, q.code, q.state) else {
        return Err(Error::BadRequest(
            "this sign-in link is stale or was not started here; start again".into(),
        ));
    };
    if !bool::from(pending.state.as_bytes().ct_eq(given_state.as_bytes())) {
        return Err(Error::BadRequest("the sign-in state did not match; start again".into()));
    }
    let client = oauth_client(state)?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Github(format!("http client: {e}")))?;
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request_async(&http)
        .await
        .map_err(|e| match e {
            oauth2::RequestTokenError::ServerResponse(r) => {
                Error::Unauthorized(format!("GitHub refused the sign-in code ({}); start again", r.error()))
            }
            other => Error::Github(format!("token exchange: {other}")),
        })?;
    let gh_token = token.access_token().secret();

    let gh_user = state.github.user(gh_token).await?;
    let mut orgs = Vec::new();
    for org in state.github.user_orgs(gh_token).await?.into_iter().take(MAX_ORGS) {
        let membership = match state.github.org_membership(gh_token, &org.login).await {
            Ok(m) => m,
            // An org that hides memberships from this app is skipped, not fatal.
            Err(Error::GithubRejected(_)) => None,
            Err(e) => return Err(e),
        };
        if let Some(m) = membership
            && m.is_active()
        {
            orgs.push(SessionOrg {
                login: m.organization.login,
                id: m.organization.id,
                role: m.role,
            });
        }
    }
    let user = upsert_user(&state.pool, &gh_user).await?;
    let actor = Actor::user(user.id, ip);
    let roles: Vec<OrgRole> = orgs
        .iter()
        .map(|o| OrgRole {
            org_id: o.id,
            admin: o.is_admin(),
        })
        .collect();
    let joined = join_org_tenants(&state.pool, &state.config.billing, user.id, &roles, actor).await?;
    let active: Vec<i64> = roles.iter().map(|r| r.org_id).collect();
    leave_departed_tenants(&state.pool, &state.github, gh_token, user.id, &active).await?;
    sign_in(
        session,
        &SessionUser {
            id: user.id,
            login: user.login.clone(),
            name: user.name.clone(),
            orgs,
        },
    )
    .await?;
    audit::record_global(&state.pool, actor, "user.sign_in", &user.login).await?;
    tracing::info!(user.login = %user.login, "signed in");
    Ok((user.login, joined.refused))
}

async fn sign_out(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    session: Session,
    CsrfForm(Confirm {}): CsrfForm<Confirm>,
) -> Result<Response, PageError> {
    if let Some(user) = current_user(&session).await? {
        audit::record_global(&state.pool, Actor::user(user.id, ip), "user.sign_out", &user.login).await?;
    }
    // Deletes the session row server-side; the old cookie is worthless afterwards.
    session.flush().await?;
    Ok(Redirect::to("/").into_response())
}
