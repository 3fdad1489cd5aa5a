//! [`AppState`]: what every handler and use case can reach (the database, the configuration,
//! the GitHub client and the per-process guards). It imports nothing above the domain, so pages,
//! APIs and use cases can all take it.

use crate::Error;
use crate::billing::Stripe;
use crate::config::Config;
use crate::db::changes::Changes;
use crate::github::GithubClient;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use shoal_common::signing::ReplayGuard;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use tokio::sync::watch;
use url::Url;

/// What every handler and use case can reach.
#[derive(Clone)]
pub struct AppState {
    /// The control-plane database.
    pub pool: sqlx::PgPool,
    /// Configuration, including key material.
    pub config: Arc<Config>,
    /// The GitHub API client.
    pub github: GithubClient,
    /// Where browsers reach us (OAuth redirect URL).
    pub public_url: Url,
    /// Sign-in and login-exchange attempts per client address.
    pub login_limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    /// Signatures of workers' requests seen within the replay window.
    pub replay: Arc<ReplayGuard>,
    /// Turns true when the control plane shuts down, so bundle long polls end at once.
    pub closing: watch::Receiver<bool>,
    /// Bundle and webhook-event changes of any replica, so the workers' long polls answer at once.
    pub changes: Arc<Changes>,
    /// The Stripe client; `None` with billing off.
    pub stripe: Option<Stripe>,
}

impl AppState {
    pub(crate) fn new(
        pool: sqlx::PgPool,
        config: Arc<Config>,
        public_url: Url,
        closing: watch::Receiver<bool>,
    ) -> Result<Self, Error> {
        let per_minute = NonZeroU32::new(config.login_attempts_per_minute).unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            stripe: Stripe::from_config(&config.billing)?,
            github: GithubClient::new(&config.github),
            pool,
            config,
            public_url,
            login_limiter: Arc::new(RateLimiter::keyed(Quota::per_minute(per_minute))),
            replay: Arc::default(),
            closing,
            changes: Arc::default(),
        })
    }

    /// Counts one login attempt from `ip`; refuses when the address is over its quota.
    pub fn check_login_rate(&self, ip: Option<IpAddr>) -> Result<(), Error> {
        let key = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        self.login_limiter.check_key(&key).map_err(|_| Error::RateLimited)
    }

    /// The host a tenant's relay answers at.
    pub fn tenant_host(&self, slug: &str) -> String {
        self.config.tenant_host(slug)
    }
}
