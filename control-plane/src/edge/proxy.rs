//! The edge router: a request for `<slug>.<base-domain>` is streamed to that tenant's worker, with
//! the caller's `Authorization` untouched and `X-Forwarded-Host/Proto/For` added so the worker
//! writes links for the caller's host. Unknown tenant: 404; suspended (by the operator or by its
//! billing standing): 402 saying why and naming the billing page; sleeping (idle): woken and the
//! request held until the worker answers (see `wake`); worker not running or not answering: 503
//! with `retry-after`. Errors use GitHub's JSON shape, which gh and octokit show.

use super::tls::edge_host;
use super::wake::{HoldLimits, Outcome, POLL, Waits, WakeClock};
use crate::billing::standing::ACCOUNT_COLS;
use crate::billing::{Account, Standing, SuspendReason, billing_page};
use crate::config::BillingConfig;
use crate::metrics::{self, HoldRefused};
use crate::scheduler::ObservedState;
use crate::scheduler::reconcile::WAKE_CHANNEL;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use shoal_common::github::ErrorBody;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a tenant's route (status and worker address) is reused before Postgres is asked again.
const ROUTE_TTL: Duration = Duration::from_secs(1);
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Unknown,
    Suspended(SuspendReason),
    /// Idle: its worker was stopped and is woken by the next request.
    Asleep,
    /// Woken moments ago; its worker is starting.
    Waking,
    Down,
    Up(SocketAddr),
}

#[derive(sqlx::FromRow)]
struct RouteRow {
    #[sqlx(flatten)]
    account: Account,
    observed_state: Option<ObservedState>,
    address: Option<String>,
    sleeping: bool,
    waking: bool,
}

/// How long after a wake the tenant counts as waking (its requests are held, not refused).
const WAKING_FOR_SECS: f64 = 10.0;

/// What the edge needs.
#[derive(Clone)]
pub struct EdgeState {
    pool: sqlx::PgPool,
    base_domain: String,
    /// `https` on the TLS listener, `http` on the plain one.
    scheme: &'static str,
    client: Client<HttpConnector, Body>,
    routes: Arc<Mutex<HashMap<String, (Instant, Route)>>>,
    /// The control plane's own listener: `shoal login` and `shoal admin` reach the login exchange
    /// and the admin API through the tenant's host.
    control_plane: Option<SocketAddr>,
    billing: BillingConfig,
    /// Where the control plane's pages are, for the billing page named in a 402.
    public_url: Option<url::Url>,
    hold: HoldLimits,
    waits: Arc<Waits>,
}

/// Paths on a tenant host that the control plane answers, not the worker (GitHub's API has no
/// `/api/v1`).
const CONTROL_PLANE_PREFIX: &str = "/api/v1/";

impl EdgeState {
    pub fn new(pool: sqlx::PgPool, base_domain: &str, scheme: &'static str) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        connector.set_nodelay(true);
        Self {
            pool,
            base_domain: base_domain.to_ascii_lowercase(),
            scheme,
            client: Client::builder(TokioExecutor::new()).build(connector),
            routes: Arc::default(),
            control_plane: None,
            billing: BillingConfig::default(),
            public_url: None,
            hold: HoldLimits::default(),
            waits: Arc::default(),
        }
    }

    /// Holds requests for a sleeping tenant within `limits` instead of the defaults (5 s, 256).
    pub fn with_hold(mut self, limits: HoldLimits) -> Self {
        self.hold = limits;
        self
    }

    /// Suspends by billing standing too (subscription status, grace period), naming the billing
    /// page under `public_url` in the 402. Without it only `tenants.status` suspends.
    pub fn with_billing(mut self, billing: BillingConfig, public_url: url::Url) -> Self {
        self.billing = billing;
        self.public_url = Some(public_url);
        self
    }

    /// Sends `/api/v1/...` on tenant hosts (login exchange, admin API) to the control plane at `addr`.
    pub fn with_control_plane(mut self, addr: SocketAddr) -> Self {
        self.control_plane = Some(addr);
        self
    }

    /// The same edge answering on another listener.
    pub fn with_scheme(&self, scheme: &'static str) -> Self {
        Self { scheme, ..self.clone() }
    }

    async fn route(&self, slug: &str) -> Result<Route, sqlx::Error> {
        if let Some((_, r)) = self
            .routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(slug)
            .filter(|(at, _)| at.elapsed() < ROUTE_TTL)
        {
            return Ok(r.clone());
        }
        self.lookup(slug).await
    }

    /// The route from Postgres, remembered for [`ROUTE_TTL`].
    async fn lookup(&self, slug: &str) -> Result<Route, sqlx::Error> {
        // Routing is the system's own lookup, by the public slug, before any tenant is known.
        let sql = format!(
            "SELECT {ACCOUNT_COLS}, w.observed_state, w.address,
                    COALESCE(w.sleeping_since IS NOT NULL, false) AS sleeping,
                    COALESCE(w.woken_at > now() - make_interval(secs => $2), false) AS waking
             FROM tenants t LEFT JOIN workers w ON w.tenant_id = t.id WHERE t.slug = $1"
        );
        let row: Option<RouteRow> = sqlx::query_as(&sql)
            .bind(slug)
            .bind(WAKING_FOR_SECS)
            .fetch_optional(&self.pool)
            .await?;
        let now = time::OffsetDateTime::now_utc();
        let route = match row {
            None => Route::Unknown,
            Some(r) if let Standing::Suspended { reason } = r.account.standing(&self.billing, now) => {
                Route::Suspended(reason)
            }
            Some(RouteRow {
                observed_state: Some(ObservedState::Running),
                address: Some(a),
                sleeping: false,
                ..
            }) => a.parse().map(Route::Up).unwrap_or(Route::Down),
            Some(RouteRow { sleeping: true, .. }) => Route::Asleep,
            Some(RouteRow { waking: true, .. }) => Route::Waking,
            Some(_) => Route::Down,
        };
        self.routes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(slug.to_string(), (Instant::now(), route.clone()));
        Ok(route)
    }

    /// Wakes a sleeping tenant: clears its sleep and tells the scheduler to start its worker now.
    /// `false`: it was not asleep (another request or replica woke it first).
    async fn request_wake(&self, slug: &str) -> Result<bool, sqlx::Error> {
        let woken: Option<Uuid> = sqlx::query_scalar(
            "UPDATE workers w SET sleeping_since = NULL, woken_at = now(), wakes = w.wakes + 1, updated_at = now()
             FROM tenants t WHERE t.id = w.tenant_id AND t.slug = $1 AND w.sleeping_since IS NOT NULL
             RETURNING w.tenant_id",
        )
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?;
        let Some(tenant) = woken else {
            return Ok(false);
        };
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(WAKE_CHANNEL)
            .bind(tenant.to_string())
            .execute(&self.pool)
            .await?;
        tracing::info!(tenant.slug = %slug, "waking a sleeping worker");
        Ok(true)
    }

    /// Wakes the tenant if it sleeps and polls its route until its worker is routable, the
    /// tenant changes otherwise, or the hold bound passes; reports on `tx`.
    async fn watch_wake(self, slug: String, tx: tokio::sync::watch::Sender<Option<Outcome>>) {
        let deadline = Instant::now() + self.hold.wait;
        let mut clock = WakeClock::new();
        let outcome = loop {
            match self.lookup(&slug).await {
                Ok(Route::Up(addr)) => {
                    clock.up();
                    break Outcome::Up(addr);
                }
                Ok(Route::Asleep) => match self.request_wake(&slug).await {
                    Ok(true) => clock.started(),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(tenant.slug = %slug, error = %e, "could not wake a sleeping worker"),
                },
                Ok(Route::Waking | Route::Down) => {}
                Ok(Route::Unknown | Route::Suspended(_)) => break Outcome::Recheck,
                Err(e) => tracing::warn!(tenant.slug = %slug, error = %e, "edge route lookup failed"),
            }
            if Instant::now() >= deadline {
                break Outcome::TimedOut;
            }
            tokio::time::sleep(POLL).await;
        };
        let _ = tx.send(Some(outcome));
        self.waits.finish(&slug);
    }

    /// Holds a request for a sleeping or waking tenant until its worker is routable.
    async fn hold(&self, slug: &str) -> Result<SocketAddr, Response> {
        let held = self.waits.join(slug, self.hold.max_held, |tx| {
            tokio::spawn(self.clone().watch_wake(slug.to_string(), tx));
        });
        let Some(held) = held else {
            return Err(unavailable_for(
                &format!(
                    "The relay for this tenant is waking up and already holds {} waiting requests; retry in a second.",
                    self.hold.max_held
                ),
                1,
            ));
        };
        match held.outcome(self.hold.wait).await {
            Outcome::Up(addr) => Ok(addr),
            Outcome::Recheck => match self.route(slug).await {
                Ok(Route::Up(addr)) => Ok(addr),
                Ok(Route::Unknown) => Err(not_a_tenant()),
                Ok(Route::Suspended(reason)) => Err(self.suspended(slug, reason)),
                _ => Err(unavailable()),
            },
            Outcome::TimedOut => {
                metrics::global().hold_refused(HoldRefused::Timeout);
                Err(unavailable_for(
                    &format!(
                        "The relay for this tenant was asleep and did not wake within {} s; retry in a few seconds.",
                        self.hold.wait.as_secs()
                    ),
                    5,
                ))
            }
        }
    }

    /// The 402 for a suspended tenant: why, and where its admins restore it.
    fn suspended(&self, slug: &str, reason: SuspendReason) -> Response {
        let page = match &self.public_url {
            Some(u) => billing_page(u, slug),
            None => format!("/t/{slug}/billing"),
        };
        github_error(
            StatusCode::PAYMENT_REQUIRED,
            &format!(
                "This shoal tenant is suspended: {reason}. Its data is kept; its admins can restore it on the billing page: {page}"
            ),
        )
    }

    fn forget(&self, slug: &str) {
        self.routes.lock().unwrap_or_else(|p| p.into_inner()).remove(slug);
    }
}

fn github_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(ErrorBody::new(message))).into_response()
}

fn unavailable() -> Response {
    unavailable_for(
        "The relay for this tenant is starting or restarting; retry in a few seconds.",
        5,
    )
}

/// A 503 saying `message`, asking to retry after `secs`.
fn unavailable_for(message: &str, secs: u32) -> Response {
    let mut r = github_error(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

fn not_a_tenant() -> Response {
    github_error(StatusCode::NOT_FOUND, "Not Found: no shoal tenant has this name")
}

fn strip_hop_by_hop(h: &mut HeaderMap) {
    // Headers named by `Connection` are hop-by-hop too.
    let named: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in HOP_BY_HOP.iter().chain(named.iter()) {
        h.remove(n);
    }
    h.remove("keep-alive");
}

/// The tenant slug a `Host` header names, if it is `<slug>.<base domain>` (any port).
fn slug_of(host_header: &str, base_domain: &str) -> Option<String> {
    let host = host_header
        .rsplit_once(':')
        .filter(|(_, p)| p.parse::<u16>().is_ok())
        .map_or(host_header, |(h, _)| h);
    let host = edge_host(host, base_domain)?;
    host.strip_suffix(base_domain)?.strip_suffix('.').map(str::to_string)
}

/// Whether `path` is an admin API path of a tenant other than `slug` (compared as written: an
/// escaped slug is another's too, and the control plane then never sees it).
fn names_another_tenant(path: &str, slug: &str) -> bool {
    path.strip_prefix("/api/v1/tenants/")
        .is_some_and(|rest| rest.split('/').next() != Some(slug))
}

/// Every request to the edge listener.
pub async fn proxy(
    State(edge): State<EdgeState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let host_header = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
        .to_string();
    let Some(slug) = slug_of(&host_header, &edge.base_domain) else {
        return github_error(
            StatusCode::NOT_FOUND,
            "Not Found: this host is not a shoal tenant (<tenant>.<base domain>)",
        );
    };
    let to_control_plane = edge
        .control_plane
        .filter(|_| req.uri().path().starts_with(CONTROL_PLANE_PREFIX));
    if to_control_plane.is_some() && names_another_tenant(req.uri().path(), &slug) {
        return github_error(
            StatusCode::NOT_FOUND,
            "Not Found: a tenant's host serves only that tenant's admin API",
        );
    }
    let addr = match edge.route(&slug).await {
        Ok(Route::Up(_) | Route::Down | Route::Asleep | Route::Waking) if to_control_plane.is_some() => {
            to_control_plane.expect("checked")
        }
        Ok(Route::Up(addr)) => addr,
        Ok(Route::Unknown) => return not_a_tenant(),
        Ok(Route::Suspended(reason)) => return edge.suspended(&slug, reason),
        Ok(Route::Asleep | Route::Waking) => match edge.hold(&slug).await {
            Ok(addr) => addr,
            Err(refused) => return refused,
        },
        Ok(Route::Down) => return unavailable(),
        Err(e) => {
            tracing::error!(error = %e, "edge route lookup failed");
            return unavailable();
        }
    };

    let (mut parts, body) = req.into_parts();
    let bodyless = is_bodyless(&parts);
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let Ok(uri) = format!("http://{addr}{path}").parse::<Uri>() else {
        return github_error(StatusCode::BAD_REQUEST, "Bad request target");
    };
    parts.uri = uri;
    parts.version = axum::http::Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    let forwarded_for = match parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    for (name, value) in [
        ("x-forwarded-host", host_header.as_str()),
        ("x-forwarded-proto", edge.scheme),
        ("x-forwarded-for", forwarded_for.as_str()),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            parts.headers.insert(name, v);
        }
    }
    let replay = bodyless.then(|| (parts.method.clone(), parts.headers.clone()));
    let e = match edge.client.request(Request::from_parts(parts, body)).await {
        Ok(resp) => return relay(resp),
        Err(e) => e,
    };
    edge.forget(&slug);
    // The worker went away since its route was looked up (put to sleep, restarted elsewhere): a
    // request with no body is routed afresh once, waiting for a wake like any other.
    if let Some((method, headers)) = replay.filter(|_| e.is_connect()) {
        let addr = match edge.lookup(&slug).await {
            Ok(Route::Up(a)) if a != addr => a,
            Ok(Route::Asleep | Route::Waking) => match edge.hold(&slug).await {
                Ok(a) => a,
                Err(refused) => return refused,
            },
            _ => return unavailable(),
        };
        let Ok(uri) = format!("http://{addr}{path}").parse::<Uri>() else {
            return unavailable();
        };
        let mut again = Request::new(Body::empty());
        *again.method_mut() = method;
        *again.uri_mut() = uri;
        *again.headers_mut() = headers;
        match edge.client.request(again).await {
            Ok(resp) => return relay(resp),
            Err(e) => tracing::warn!(tenant.slug = %slug, error = %e, "worker did not answer"),
        }
    } else {
        tracing::warn!(tenant.slug = %slug, error = %e, "worker did not answer");
    }
    edge.forget(&slug);
    unavailable()
}

/// A GET or HEAD without a body: safe to send again when the first attempt could not connect.
fn is_bodyless(parts: &axum::http::request::Parts) -> bool {
    let empty = match parts.headers.get(header::CONTENT_LENGTH) {
        Some(v) => v.as_bytes() == b"0",
        None => !parts.headers.contains_key(header::TRANSFER_ENCODING),
    };
    matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD) && empty
}

/// The worker's answer, streamed back without its hop-by-hop headers.
fn relay(resp: axum::http::Response<hyper::body::Incoming>) -> Response {
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, Body::new(body))
}

/// The edge's routes: everything goes to [`proxy`].
pub fn router(state: EdgeState) -> axum::Router {
    axum::Router::new().fallback(proxy).with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_come_from_one_label_under_the_base_domain() {
        assert_eq!(slug_of("acme.localhost:8443", "localhost").as_deref(), Some("acme"));
        assert_eq!(slug_of("acme.localhost", "localhost").as_deref(), Some("acme"));
        assert_eq!(slug_of("localhost:8443", "localhost"), None);
        assert_eq!(slug_of("a.b.localhost", "localhost"), None);
        assert_eq!(slug_of("evil.com", "localhost"), None);
        assert_eq!(slug_of("acme.shoal.dev", "shoal.dev").as_deref(), Some("acme"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        #[test]
        fn any_host_header_names_at_most_one_well_formed_tenant(host in ".{0,80}", base in "[a-z]{1,8}(\\.[a-z]{2,4})?") {
            if let Some(slug) = slug_of(&host, &base) {
                proptest::prop_assert!(!slug.is_empty() && slug.len() <= 63, "{slug}");
                proptest::prop_assert!(slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{slug}");
                proptest::prop_assert!(!slug.starts_with('-') && !slug.ends_with('-'));
                let bare = host.rsplit_once(':').filter(|(_, p)| p.parse::<u16>().is_ok()).map_or(host.as_str(), |(h, _)| h);
                proptest::prop_assert_eq!(bare.trim_end_matches('.').to_ascii_lowercase(), format!("{slug}.{base}"));
            }
            let _ = names_another_tenant(&host, "acme");
        }

        #[test]
        fn a_tenant_host_is_found_however_it_is_written(
            slug in "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?",
            upper in proptest::collection::vec(proptest::prelude::any::<bool>(), 30),
            port in proptest::option::of(proptest::prelude::any::<u16>()),
            dot in proptest::prelude::any::<bool>(),
        ) {
            let name: String = format!("{slug}.shoal.dev")
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c })
                .collect();
            let host = format!("{name}{}{}", if dot { "." } else { "" }, port.map(|p| format!(":{p}")).unwrap_or_default());
            proptest::prop_assert_eq!(slug_of(&host, "shoal.dev"), Some(slug.clone()));
            // One more label in front, or another base: no tenant.
            let nested = format!("x.{host}");
            proptest::prop_assert_eq!(slug_of(&nested, "shoal.dev"), None);
            proptest::prop_assert_eq!(slug_of(&host, "shoal.example"), None);
        }
    }

    #[test]
    fn a_tenant_host_names_only_its_own_tenant_in_admin_api_paths() {
        assert!(!names_another_tenant("/api/v1/tenants/acme/members", "acme"));
        assert!(!names_another_tenant("/api/v1/tenants/acme", "acme"));
        assert!(!names_another_tenant("/api/v1/login/exchange", "acme"));
        assert!(names_another_tenant("/api/v1/tenants/bobco/members", "acme"));
        assert!(names_another_tenant("/api/v1/tenants/%61cme/members", "acme"));
        assert!(names_another_tenant("/api/v1/tenants//members", "acme"));
        assert!(names_another_tenant("/api/v1/tenants/acme-x/members", "acme"));
    }
}
