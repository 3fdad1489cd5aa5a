//! The worker: one tenant's serving state, built once and shared by the HTTP handlers
//! (`relay/`). The tenant in force (replaced when a bundle arrives), the coordinator, the
//! stats, what the tenant rules learned about repositories, and the fetcher that answers reads;
//! the cache and the identities' budgets survive a bundle swap.

use crate::allowance::Allowance;
use crate::cache::Cache;
use crate::clock::Clock;
use crate::config::Settings;
use crate::coordinator::Coordinator;
use crate::error::Error;
use crate::fetch::Fetcher;
use crate::graphql::memo::Memo;
use crate::policy::knowledge::Knowledge;
use crate::relay::graphql::{MEMO_BYTES, MEMO_ENTRIES, Prepared};
use crate::relay::rest_memo::{self, RestMemo};
use crate::stats::Stats;
use crate::tenant::{CurrentTenant, Tenant};
use shoal_common::protocol::{Bundle, WebhookEvent};
use std::sync::Arc;

/// Everything one tenant's relay needs at run time.
pub struct Worker {
    pub(crate) clock: Arc<dyn Clock>,
    tenant: Arc<CurrentTenant>,
    pub(crate) coord: Coordinator,
    pub(crate) stats: Arc<Stats>,
    pub(crate) knowledge: Arc<Knowledge>,
    pub(crate) fetcher: Arc<Fetcher>,
    pub(crate) allowance: Allowance,
    /// GraphQL bodies already classified, by their exact bytes and the caller's login.
    pub(crate) graphql_memo: Memo<Prepared>,
    /// REST request heads already classified, by their exact bytes.
    pub(crate) rest_memo: RestMemo,
}

impl Worker {
    /// Builds a worker serving `bundle`, its cache loaded from `settings.cache_dir` when set.
    pub async fn new(settings: Settings, bundle: &Bundle, clock: Arc<dyn Clock>) -> Result<Arc<Self>, Error> {
        let tenant = Tenant::from_bundle(bundle)?;
        let allowance = Allowance::from_bundle(bundle);
        let coord = Coordinator::with_pacing(clock.clone(), settings.reserve_percent, settings.pacing);
        coord.sync(&tenant);
        let (max, max_entry) = (settings.cache_max_bytes, settings.cache_max_entry_bytes);
        let cache = match &settings.cache_dir {
            Some(dir) => Cache::with_disk(max, max_entry, dir, &tenant.upstream).await?,
            None => Cache::new(max, max_entry),
        }
        .with_invalidation_window(settings.stale_window_ms);
        let tenant = Arc::new(CurrentTenant::new(tenant));
        let stats = Arc::new(Stats::default());
        let knowledge = Arc::new(Knowledge::default());
        let fetcher = Fetcher::new(
            settings,
            clock.clone(),
            tenant.clone(),
            coord.clone(),
            stats.clone(),
            knowledge.clone(),
            cache,
        );
        Ok(Arc::new(Self {
            clock,
            tenant,
            coord,
            stats,
            knowledge,
            fetcher: Arc::new(fetcher),
            allowance,
            graphql_memo: Memo::new(MEMO_ENTRIES, MEMO_BYTES),
            rest_memo: Memo::new(rest_memo::MEMO_ENTRIES, rest_memo::MEMO_BYTES),
        }))
    }

    /// The tenant state in force now.
    pub fn tenant(&self) -> Arc<Tenant> {
        self.tenant.get()
    }

    /// Takes in one webhook event from the change feed: a ping or an event keeps the tenant's
    /// webhook live (longer TTLs where events cover a route), and an event makes stale the cache
    /// entries it touches.
    pub async fn on_webhook_event(&self, e: &WebhookEvent) {
        let now = self.clock.now_ms();
        self.fetcher.webhook_seen(now);
        if e.event == "ping" {
            tracing::debug!(webhook.cursor = e.cursor, webhook.delivery = %e.delivery_id, "webhook ping");
            return;
        }
        self.stats.webhook_event(e.repository.as_deref());
        let touched = self.fetcher.cache.invalidate(e, now).await;
        tracing::debug!(webhook.cursor = e.cursor, webhook.event = %e.event, webhook.delivery = %e.delivery_id,
            repository = e.repository.as_deref().unwrap_or_default(), touched, "webhook event");
    }

    /// Replaces the bundle (new caller tokens, identities, policy) without dropping the cache.
    pub fn swap_bundle(&self, bundle: &Bundle) -> Result<(), Error> {
        let tenant = Tenant::from_bundle_keeping(bundle, &self.tenant())?;
        self.coord.sync(&tenant);
        self.tenant.set(tenant);
        self.allowance.update(bundle);
        Ok(())
    }

    /// The monthly allowance of relayed reads (uncapped unless the bundle caps it).
    pub fn allowance(&self) -> &Allowance {
        &self.allowance
    }

    /// The coordinator (budgets and identity health).
    pub fn coordinator(&self) -> &Coordinator {
        &self.coord
    }

    /// Learns each identity's GitHub account with `GET /user`, for identities whose account is
    /// not known, so tokens of one user share one budget. A 401 quarantines the identity.
    pub async fn discover_accounts(&self) {
        self.fetcher.discover_accounts().await;
    }

    /// Waits for the cache's disk writes.
    pub async fn flush(&self) {
        self.fetcher.cache.flush().await;
    }
}
