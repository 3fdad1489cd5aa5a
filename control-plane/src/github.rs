//! The control plane's one GitHub client: who a token belongs to, its orgs and org roles, org
//! membership checks and rate-limit probes. The API base URL is configurable (github.com, a GHES
//! `/api/v3`, or the fake GitHub in tests). Tokens are sent, never logged.

use crate::Error;
use crate::config::GithubConfig;
use serde::Deserialize;
use shoal_common::github::app::{AppKey, access_tokens_path};
use std::time::Duration;
use url::Url;

/// A GitHub REST client bound to one API base URL.
#[derive(Clone, Debug)]
pub struct GithubClient {
    http: reqwest::Client,
    api: Url,
}

/// `GET /user`.
#[derive(Debug, Clone, Deserialize)]
pub struct GithubUser {
    /// GitHub's numeric account id.
    pub id: i64,
    /// The login (`octocat`).
    pub login: String,
    /// Display name, if set.
    #[serde(default)]
    pub name: Option<String>,
    /// Avatar image URL.
    #[serde(default)]
    pub avatar_url: Option<String>,
}

/// An org as listed by `GET /user/orgs`.
#[derive(Debug, Clone, Deserialize)]
pub struct GithubOrg {
    /// GitHub's numeric org id.
    pub id: i64,
    /// The org login (`octo-org`).
    pub login: String,
}

/// `GET /user/memberships/orgs/{org}`.
#[derive(Debug, Clone, Deserialize)]
pub struct OrgMembership {
    /// `active` or `pending`.
    pub state: String,
    /// `admin` or `member`.
    pub role: String,
    /// The org.
    pub organization: GithubOrg,
}

impl OrgMembership {
    /// An accepted membership (a pending invitation does not count).
    pub fn is_active(&self) -> bool {
        self.state == "active"
    }
    /// An accepted membership with the admin role.
    pub fn is_admin(&self) -> bool {
        self.is_active() && self.role == "admin"
    }
}

/// The core bucket of `GET /rate_limit`.
#[derive(Debug, Clone, Deserialize)]
pub struct RateBucket {
    /// Requests per window.
    pub limit: i64,
    /// Left in this window.
    pub remaining: i64,
}

#[derive(Deserialize)]
struct RateLimitOut {
    resources: RateResources,
}

#[derive(Deserialize)]
struct RateResources {
    core: RateBucket,
}

impl GithubClient {
    /// A client for the configured API base URL.
    pub fn new(config: &GithubConfig) -> Self {
        let http = reqwest::Client::builder()
            .user_agent("shoal-control-plane")
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a reqwest client with static settings builds");
        let mut api = config.api_url.clone();
        if !api.path().ends_with('/') {
            let p = format!("{}/", api.path());
            api.set_path(&p);
        }
        Self { http, api }
    }

    fn url(&self, path: &str) -> Result<Url, Error> {
        self.api
            .join(path.trim_start_matches('/'))
            .map_err(|e| Error::Github(format!("bad path {path:?}: {e}")))
    }

    async fn get(&self, token: &str, path: &str) -> Result<reqwest::Response, Error> {
        let url = self.url(path)?;
        self.http
            .get(url)
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .await
            .map_err(|e| Error::Github(format!("GET {path}: {}", e.without_url())))
    }

    async fn json<T: serde::de::DeserializeOwned>(path: &str, resp: reqwest::Response) -> Result<T, Error> {
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(Error::GithubRejected(
                "GitHub refused the token (401): it is wrong, expired or revoked".into(),
            ));
        }
        if !status.is_success() {
            return Err(Error::Github(format!("GET {path} answered {status}")));
        }
        resp.json()
            .await
            .map_err(|e| Error::Github(format!("GET {path}: unexpected body: {}", e.without_url())))
    }

    /// Who the token belongs to.
    #[tracing::instrument(skip_all)]
    pub async fn user(&self, token: &str) -> Result<GithubUser, Error> {
        Self::json("/user", self.get(token, "/user").await?).await
    }

    /// The orgs the token's user belongs to (first 100).
    #[tracing::instrument(skip_all)]
    pub async fn user_orgs(&self, token: &str) -> Result<Vec<GithubOrg>, Error> {
        Self::json("/user/orgs", self.get(token, "/user/orgs?per_page=100").await?).await
    }

    /// The token user's membership of `org`; `None` when GitHub says they are not a member (404).
    /// A 403 (the token lacks `read:org`, or the org restricts OAuth apps) is an error, not a
    /// "no": nobody loses access because their token could not see the answer.
    #[tracing::instrument(skip(self, token))]
    pub async fn org_membership(&self, token: &str, org: &str) -> Result<Option<OrgMembership>, Error> {
        let path = format!("/user/memberships/orgs/{org}");
        let resp = self.get(token, &path).await?;
        match resp.status().as_u16() {
            404 => Ok(None),
            403 => Err(Error::GithubRejected(format!(
                "GitHub will not show this token your membership of {org}: it needs the read:org scope, or the org restricts OAuth apps"
            ))),
            _ => Self::json(&path, resp).await.map(Some),
        }
    }

    /// Whether `user` is a member of `org`, asked with some other token that can see the org.
    #[tracing::instrument(skip(self, token))]
    pub async fn is_org_member(&self, token: &str, org: &str, user: &str) -> Result<bool, Error> {
        let path = format!("/orgs/{org}/members/{user}");
        let resp = self.get(token, &path).await?;
        match resp.status().as_u16() {
            204 => Ok(true),
            404 => Ok(false),
            // GitHub redirects to the public-members check when the asker is not in the org
            // itself: that says nothing about `user`, so it must not count as "not a member".
            302 => Err(Error::GithubRejected(format!(
                "the identity used to check {org}'s members is not a member of {org}"
            ))),
            401 => Err(Error::GithubRejected(
                "GitHub refused the identity used for the membership check".into(),
            )),
            s => Err(Error::Github(format!("GET {path} answered {s}"))),
        }
    }

    /// The token's core rate-limit bucket.
    #[tracing::instrument(skip_all)]
    pub async fn rate_limit(&self, token: &str) -> Result<RateBucket, Error> {
        let out: RateLimitOut = Self::json("/rate_limit", self.get(token, "/rate_limit").await?).await?;
        Ok(out.resources.core)
    }
}

impl GithubClient {
    /// Proves an App's key and installation with GitHub: signs an RS256 JWT as the App and asks
    /// for an installation token (`POST /app/installations/{id}/access_tokens`). The token is
    /// dropped; only the answer matters.
    #[tracing::instrument(skip(self, private_key_pem))]
    pub async fn check_app_installation(
        &self,
        app_id: i64,
        installation_id: i64,
        private_key_pem: &str,
    ) -> Result<(), Error> {
        let positive = |v: i64, what: &str| {
            u64::try_from(v).map_err(|_| Error::BadRequest(format!("the {what} must be a positive number")))
        };
        let key = AppKey::new(positive(app_id, "app id")?, private_key_pem)
            .map_err(|_| Error::Unprocessable("the private key is not a valid RSA key".into()))?;
        let jwt = key
            .jwt(time::OffsetDateTime::now_utc().unix_timestamp())
            .map_err(|e| Error::BadRequest(e.to_string()))?;
        let path = access_tokens_path(positive(installation_id, "installation id")?);
        let resp = self
            .http
            .post(self.url(&path)?)
            .header("Authorization", format!("Bearer {}", jwt.expose()))
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .send()
            .await
            .map_err(|e| Error::Github(format!("POST {path}: {}", e.without_url())))?;
        match resp.status().as_u16() {
            200 | 201 => Ok(()),
            401 => Err(Error::GithubRejected(format!(
                "GitHub refused the key for App {app_id}: check the app id and that the key is the App's current one"
            ))),
            403 | 404 => Err(Error::GithubRejected(format!(
                "GitHub knows no installation {installation_id} of App {app_id}: install the App on the org and copy its installation id"
            ))),
            s => Err(Error::Github(format!("POST {path} answered {s}"))),
        }
    }
}

/// Whether `name` could be a GitHub user or org login (1-39 of `[A-Za-z0-9-]`, no leading dash).
pub fn is_valid_login(name: &str) -> bool {
    (1..=39).contains(&name.len())
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
