//! Answering a read from the cache or from GitHub, REST and GraphQL alike: a fresh hit, or the
//! one coalesced upstream call for its key, made under an upstream concurrency slot on the
//! identity the coordinator picks, retried on another identity when the failure was that
//! identity's, and a bounded-stale answer when no identity has budget or GitHub fails. Each kind
//! of read ([`rest`], [`graphql`]) plugs into that one loop through [`Read`]: it builds its
//! request, judges the answer and builds the cache entry. [`token_free`] reads skip the pool.
//!
//! A negative answer may only mean "this identity cannot see it": see [`not_found`] for when a
//! cached one is served.

pub mod credentials;
pub mod graphql;
pub mod not_found;
pub mod rest;
pub mod token_free;

use crate::cache::Cache;
use crate::cache::Entry;
use crate::cache::invalidate;
use crate::cache::singleflight::Flights;
use crate::clock::Clock;
use crate::config::Settings;
use crate::coordinator::{self, Ask, Coordinator, Lease};
use crate::error::Error;
use crate::headers;
use crate::policy::knowledge::Knowledge;
use crate::route::Resource;
use crate::stats::Stats;
use crate::tenant::{CurrentTenant, Identity, Tenant};
use crate::upstream::{Conditional, Upstream, UpstreamRequest, UpstreamResponse, header_u64};
use axum::http::HeaderMap;
use not_found::Witnesses;
use shoal_common::IdentityId;
use shoal_common::protocol::CacheStatus;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// An answer: the representation and how it was obtained.
#[derive(Debug, Clone)]
pub struct Served {
    pub entry: Arc<Entry>,
    pub status: CacheStatus,
}

/// Whether a read may be answered from a fresh cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// A fresh entry is served as is (a HIT).
    Cached,
    /// The client asked for fresh (`Cache-Control: no-cache` or `max-age=0`): the read goes
    /// upstream now, revalidating what is cached (a free 304 when unchanged), and is never a HIT.
    Fresh,
}

/// What a flight resolves to; shared by every caller of one key.
pub type FetchResult = Result<Served, Error>;

/// How the loop goes on after an upstream answer.
pub enum Judged {
    /// Cache and serve it (or ask another identity first, see [`Read::second_opinion`]).
    Use,
    /// The failure was the identity's: ask another, leaving this one out of the request's next
    /// attempts when `exclude` (a 401 always is).
    TryAnother { exclude: bool },
}

/// What to remember about who got a negative answer after it is stored.
pub enum Witness {
    /// The answer is negative: add the identity to its witnesses.
    Record,
    /// A positive answer replaced it: forget the witnesses.
    Forget,
    /// Neither: the witnesses stay as they are.
    Keep,
}

/// An upstream answer, who got it, and what its read noted on the way.
pub struct Answer<N> {
    pub identity: IdentityId,
    pub resp: UpstreamResponse,
    pub note: N,
}

/// One kind of cacheable read, as the fetch loop drives it.
pub trait Read: Send + Sync + 'static {
    /// What [`Read::call`] passes on to judging and storing the answer.
    type Note: Send;

    /// The cache and single-flight key.
    fn key(&self) -> &Arc<str>;

    /// What the read asks of the pool (exclusions and preferences are the loop's).
    fn ask(&self) -> Ask<'_>;

    /// Whether a fresh cached answer may be served as is (see [`not_found`]).
    fn settled(&self, f: &Fetcher, e: &Entry) -> bool;

    /// Sends the read upstream with `authorization`, `cached` being what is in the cache.
    fn call(
        &self,
        f: &Fetcher,
        tenant: &Tenant,
        id: IdentityId,
        authorization: &str,
        cached: Option<&Entry>,
    ) -> impl Future<Output = Result<(UpstreamResponse, Self::Note), String>> + Send;

    /// Reports the answer to the coordinator (consuming the lease) and the stats.
    fn judge(
        &self,
        f: &Fetcher,
        ident: &Identity,
        lease: Lease,
        resp: &UpstreamResponse,
        note: &mut Self::Note,
    ) -> Judged;

    /// Whether to keep this answer aside and ask another identity first (a 404 where another
    /// identity got 200).
    fn second_opinion(&self, _f: &Fetcher, _resp: &UpstreamResponse, _cached: Option<&Entry>) -> bool {
        false
    }

    /// Builds, caches and serves the entry for an answer.
    fn store(
        &self,
        f: &Fetcher,
        tenant: &Tenant,
        cached: Option<Arc<Entry>>,
        answer: Answer<Self::Note>,
        now: u64,
    ) -> impl Future<Output = (FetchResult, Witness)> + Send;
}

/// The fetch path's state: the cache, the upstream client and its concurrency slots, flights in
/// progress and the witnesses of negative answers, plus what it reads from the rest of the worker.
pub struct Fetcher {
    pub(crate) settings: Settings,
    pub(crate) clock: Arc<dyn Clock>,
    tenant: Arc<CurrentTenant>,
    pub(crate) coord: Coordinator,
    pub(crate) stats: Arc<Stats>,
    pub(crate) knowledge: Arc<Knowledge>,
    pub(crate) cache: Cache,
    pub(crate) upstream: Upstream,
    pub(crate) flights: Flights<FetchResult>,
    witnesses: Witnesses,
    slots: Semaphore,
    waiting: AtomicUsize,
    /// When the tenant's webhook last delivered an event or a ping (Unix ms; 0: never).
    webhook_seen_ms: AtomicU64,
}

/// How long after its last event or ping a tenant's webhook counts as live.
pub const WEBHOOK_LIVE_MS: u64 = 3_600_000;

impl Fetcher {
    /// A fetcher over `cache`, calling GitHub within `settings`' timeout and concurrency.
    pub fn new(
        settings: Settings,
        clock: Arc<dyn Clock>,
        tenant: Arc<CurrentTenant>,
        coord: Coordinator,
        stats: Arc<Stats>,
        knowledge: Arc<Knowledge>,
        cache: Cache,
    ) -> Self {
        Self {
            upstream: Upstream::new(Duration::from_secs(settings.upstream_timeout_secs)),
            slots: Semaphore::new(settings.max_upstream_concurrency.max(1)),
            waiting: AtomicUsize::new(0),
            settings,
            clock,
            tenant,
            coord,
            stats,
            knowledge,
            cache,
            flights: Flights::default(),
            witnesses: Witnesses::default(),
            webhook_seen_ms: AtomicU64::new(0),
        }
    }

    /// Notes that the tenant's webhook delivered an event or a ping at `now_ms`.
    pub(crate) fn webhook_seen(&self, now_ms: u64) {
        self.webhook_seen_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// Whether the tenant's webhook delivered an event or a ping within [`WEBHOOK_LIVE_MS`].
    pub fn webhooks_live(&self) -> bool {
        let seen = self.webhook_seen_ms.load(Ordering::Relaxed);
        seen > 0 && self.clock.now_ms() < seen.saturating_add(WEBHOOK_LIVE_MS)
    }

    /// `ttl_ms` for the entry under `key`, lengthened to the covered TTL while the webhook is
    /// live when events cover what the key shows ([`invalidate::Cover::is_covered`]): a change
    /// then arrives as an event and makes the entry stale.
    pub(crate) fn covered_ttl_ms(&self, key: &str, ttl_ms: u64) -> u64 {
        let covered = invalidate::cover_of(key).is_some_and(|(_, c)| c.is_covered());
        if covered && self.webhooks_live() {
            ttl_ms.max(self.settings.covered_ttl_ms)
        } else {
            ttl_ms
        }
    }

    /// What the client asks for in `headers` (`Cache-Control`, or the fresh marker on its token);
    /// a fresh ask is counted in the stats.
    pub fn want(&self, headers: &HeaderMap) -> Want {
        if headers::wants_fresh(headers) || crate::relay::auth::fresh_marked(headers) {
            self.stats.fresh();
            Want::Fresh
        } else {
            Want::Cached
        }
    }

    /// A fresh cache hit, or the shared result of the one upstream call for this key.
    pub async fn lookup<R: Read>(self: &Arc<Self>, read: R) -> FetchResult {
        self.lookup_as(read, Want::Cached).await
    }

    /// The fresh cache entry that answers `read`, when the client takes a cached answer: what
    /// [`Fetcher::lookup_as`] serves without an upstream call.
    pub async fn fresh_hit<R: Read>(&self, read: &R, want: Want) -> Option<Served> {
        if want != Want::Cached {
            return None;
        }
        let e = self.cache.get(read.key()).await?;
        (e.is_fresh(self.clock.now_ms()) && read.settled(self, &e)).then_some(Served {
            entry: e,
            status: CacheStatus::Hit,
        })
    }

    /// [`Fetcher::lookup`] as the client wants it: a fresh ask skips the cached answer and shares
    /// its upstream call only with other fresh asks of the key, so it is never answered by a
    /// flight that found a HIT.
    pub async fn lookup_as<R: Read>(self: &Arc<Self>, read: R, want: Want) -> FetchResult {
        if let Some(hit) = self.fresh_hit(&read, want).await {
            return Ok(hit);
        }
        self.fetch_shared(read, want).await
    }

    /// [`Fetcher::lookup_as`] past its [`Fetcher::fresh_hit`]: the fetch, shared with the
    /// concurrent asks of the key (fresh asks only with fresh ones).
    pub async fn fetch_shared<R: Read>(self: &Arc<Self>, read: R, want: Want) -> FetchResult {
        let f = self.clone();
        let (res, leader) = self
            .flights
            .run(
                flight_key(read.key(), want),
                move || async move { f.fetch_within_deadline(read, want).await },
                Err(Error::Internal),
            )
            .await;
        if !leader {
            self.stats.coalesced();
        }
        res
    }

    /// Whether a negative answer witnessed by `seen` may be served for `owner`/`repo`: under a
    /// known-public repo, or once every eligible identity got it.
    pub(crate) fn negative_settled(&self, seen: &[IdentityId], owner: Option<&str>, repo: Option<&str>) -> bool {
        self.knowledge.known_public(repo, self.clock.now_ms())
            || self.coord.eligible(owner, repo).iter().all(|id| seen.contains(id))
    }

    /// The identities that got the negative answer cached under `key` as `e`; `None` when `e` is
    /// not a recorded negative answer.
    pub(crate) fn witnesses_of(&self, key: &str, e: &Entry) -> Option<Vec<IdentityId>> {
        self.witnesses.of(key, e)
    }

    /// The tenant's TTL override named `key`, else `default_secs`, in ms.
    pub(crate) fn ttl_ms(&self, tenant: &Tenant, key: &str, default_secs: u64) -> u64 {
        tenant
            .policy
            .ttl_overrides
            .get(key)
            .copied()
            .unwrap_or(default_secs)
            .saturating_mul(1000)
    }

    /// `cached` when it is a 200 within the stale bound (served as STALE), else `err`.
    pub(crate) fn stale_or(&self, cached: Option<Arc<Entry>>, err: Error) -> FetchResult {
        let now = self.clock.now_ms();
        match cached {
            Some(e) if e.status == 200 && e.within_stale_bound(now, self.settings.stale_max_secs * 1000) => {
                Ok(Served {
                    entry: e,
                    status: CacheStatus::Stale,
                })
            }
            _ => Err(err),
        }
    }

    async fn upstream_slot(&self) -> Result<SemaphorePermit<'_>, Error> {
        if let Ok(p) = self.slots.try_acquire() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.settings.max_upstream_queue {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::Busy);
        }
        let p = self.slots.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        p.map_err(|_| Error::Internal)
    }

    /// The longest a flight waits for GitHub (an upstream slot, budget and every attempt): one
    /// call's timeout plus the pacing wait.
    pub fn upstream_deadline(&self) -> Duration {
        Duration::from_secs(self.settings.upstream_timeout_secs)
            + Duration::from_millis(self.settings.pacing.max_wait_ms)
    }

    /// [`Fetcher::fetch`] bounded by [`Fetcher::upstream_deadline`]: past it the flight is
    /// answered from the cache (STALE) or with a 503, whatever GitHub is doing.
    async fn fetch_within_deadline<R: Read>(self: Arc<Self>, read: R, want: Want) -> FetchResult {
        let key = read.key().clone();
        let deadline = self.upstream_deadline();
        match tokio::time::timeout(deadline, self.clone().fetch(read, want)).await {
            Ok(out) => out,
            Err(_) => {
                tracing::warn!(
                    deadline_ms = deadline.as_millis() as u64,
                    "no upstream answer within the deadline"
                );
                let cached = self.cache.get(&key).await;
                let why = format!("no answer within {} s", deadline.as_secs());
                self.stale_or(cached, Error::Upstream(why))
            }
        }
    }

    /// The upstream side of a flight.
    async fn fetch<R: Read>(self: Arc<Self>, read: R, want: Want) -> FetchResult {
        let now = self.clock.now_ms();
        let key = read.key();
        let cached = self.cache.get(key).await;
        // Another flight may have landed between our cache miss and joining.
        if want == Want::Cached
            && let Some(e) = &cached
            && e.is_fresh(now)
            && read.settled(&self, e)
        {
            return Ok(Served {
                entry: e.clone(),
                status: CacheStatus::Hit,
            });
        }
        // A fresh negative answer not yet confirmed by every eligible identity: ask one that has
        // not seen it.
        let fresh_negative = cached
            .as_ref()
            .filter(|e| want == Want::Cached && e.is_fresh(now))
            .cloned();
        let mut seen = fresh_negative
            .as_deref()
            .and_then(|e| self.witnesses.of(key, e))
            .unwrap_or_default();
        let mut exclude = seen.clone();
        let mut retry_after = 60;
        // Without Last-Modified only an identity's own ETag revalidates for free: prefer those.
        let prefer: Vec<IdentityId> = match &cached {
            Some(e) if e.last_modified.is_none() && self.settings.revalidate => {
                e.etags.iter().map(|(i, _)| *i).collect()
            }
            _ => Vec::new(),
        };
        let tenant = self.tenant.get();
        let mut permit = None;
        // An answer kept aside while another identity is asked.
        let mut pending: Option<Answer<R::Note>> = None;
        for _attempt in 0..3 {
            let ask = Ask {
                exclude: &exclude,
                prefer: &prefer,
                ..read.ask()
            };
            // With a fresh answer in hand there is an answer to give: no waiting for another opinion.
            let lease = if fresh_negative.is_some() {
                self.coord.acquire(&ask)
            } else {
                self.coord.acquire_paced(&ask).await
            };
            let lease = match lease {
                Ok(l) => l,
                Err(nb) => {
                    if let Some(answer) = pending {
                        return self.settle(&read, &tenant, cached, answer, now, seen).await;
                    }
                    if let Some(e) = fresh_negative {
                        return Ok(Served {
                            entry: e,
                            status: CacheStatus::Hit,
                        });
                    }
                    return self.stale_or(cached, Error::no_identity(nb.unavailable, nb.retry_after_secs));
                }
            };
            if permit.is_none() {
                permit = match self.upstream_slot().await {
                    Ok(p) => Some(p),
                    Err(e) => return self.stale_or(cached, e),
                };
            }
            let id = lease.identity;
            let Some(ident) = tenant.identity(id) else {
                exclude.push(id);
                continue;
            };
            let client = self.upstream.client();
            let Ok(authz) =
                credentials::authorization(ident, client, &tenant.upstream, &self.coord, self.clock.now_ms()).await
            else {
                exclude.push(id);
                continue;
            };
            let (resp, mut note) = match read.call(&self, &tenant, id, &authz, cached.as_deref()).await {
                Ok(r) => r,
                Err(reason) => {
                    let resource = lease.resource;
                    drop(lease);
                    self.stats.upstream(id, resource, 0, false);
                    tracing::warn!(identity.name = %ident.name, resource = %resource, %reason, "upstream call failed");
                    return self.stale_or(cached, Error::Upstream(reason));
                }
            };
            match read.judge(&self, ident, lease, &resp, &mut note) {
                Judged::Use => {}
                Judged::TryAnother { exclude: leave_out } => {
                    if resp.status == 401 {
                        tracing::warn!(identity.name = %ident.name, "GitHub answered 401: identity quarantined");
                        credentials::unauthorized(ident, &self.coord, self.clock.now_ms()).await;
                        exclude.push(id);
                    } else {
                        // When not left out, the coordinator keeps it out until its cooldown or
                        // reset, and the request may wait for that when it is near.
                        tracing::info!(identity.name = %ident.name, status = resp.status, "identity rate limited; trying another");
                        if leave_out {
                            exclude.push(id);
                        }
                    }
                    if let Some(s) = header_u64(&resp.headers, "retry-after") {
                        retry_after = s;
                    }
                    continue;
                }
            }
            if pending.is_none() && read.second_opinion(&self, &resp, cached.as_deref()) {
                tracing::debug!(identity.name = %ident.name, "404 where another identity got 200; asking another");
                exclude.push(id);
                seen.push(id);
                pending = Some(Answer {
                    identity: id,
                    resp,
                    note,
                });
                continue;
            }
            let answer = Answer {
                identity: id,
                resp,
                note,
            };
            return self.settle(&read, &tenant, cached, answer, now, seen).await;
        }
        if let Some(answer) = pending {
            return self.settle(&read, &tenant, cached, answer, now, seen).await;
        }
        let ask = Ask {
            exclude: &exclude,
            ..read.ask()
        };
        self.stale_or(cached, Error::no_identity(self.coord.unavailable(&ask), retry_after))
    }

    /// Stores an answer and, for a negative one, who has seen it (`seen` before its identity).
    async fn settle<R: Read>(
        &self,
        read: &R,
        tenant: &Tenant,
        cached: Option<Arc<Entry>>,
        answer: Answer<R::Note>,
        now: u64,
        mut seen: Vec<IdentityId>,
    ) -> FetchResult {
        let id = answer.identity;
        let (out, witness) = read.store(self, tenant, cached, answer, now).await;
        match (&out, witness) {
            (Ok(served), Witness::Record) => {
                if !seen.contains(&id) {
                    seen.push(id);
                }
                self.witnesses.record(read.key(), &served.entry, seen, now);
            }
            (_, Witness::Forget) => self.witnesses.forget(read.key()),
            _ => {}
        }
        out
    }

    /// Learns each identity's GitHub account with `GET /user`, for identities whose account is
    /// not known, so tokens of one user share one budget. A 401 quarantines the identity.
    pub async fn discover_accounts(&self) {
        let tenant = self.tenant.get();
        for ident in tenant.identities.iter().filter(|i| i.account.is_none() && i.enabled) {
            let Some(authz) = ident.authorization() else { continue };
            let url = format!("{}/user", tenant.upstream);
            let resp = self
                .upstream
                .get(UpstreamRequest {
                    url: &url,
                    authorization: &authz,
                    accept: "application/vnd.github+json",
                    api_version: None,
                    conditional: Conditional::None,
                })
                .await;
            let resource = Resource::Core;
            match resp {
                Ok(r) if r.status == 200 => {
                    self.stats.upstream(ident.id, resource, 200, false);
                    let login = serde_json::from_slice::<serde_json::Value>(&r.body)
                        .ok()
                        .and_then(|v| v["login"].as_str().map(str::to_string));
                    if let Some(login) = login {
                        tracing::info!(identity.name = %ident.name, account = %login, "identity account learned");
                        self.coord.set_account(ident.id, &login);
                    }
                }
                Ok(r) if r.status == 401 => {
                    self.stats.upstream(ident.id, resource, 401, false);
                    tracing::warn!(identity.name = %ident.name, "GitHub answered 401 for /user: identity quarantined");
                    self.coord.quarantine(ident.id, coordinator::UNAUTHORIZED);
                }
                Ok(r) => {
                    self.stats.upstream(ident.id, resource, r.status, false);
                    tracing::warn!(identity.name = %ident.name, status = r.status, "could not learn the identity's account");
                }
                Err(reason) => {
                    self.stats.upstream(ident.id, resource, 0, false);
                    tracing::warn!(identity.name = %ident.name, %reason, "could not learn the identity's account");
                }
            }
        }
    }
}

/// The single-flight key of a read: fresh asks fly apart from the others (see [`Fetcher::lookup_as`]).
pub(crate) fn flight_key(key: &Arc<str>, want: Want) -> Arc<str> {
    match want {
        Want::Cached => key.clone(),
        Want::Fresh => format!("{key}\nfresh").into(),
    }
}
