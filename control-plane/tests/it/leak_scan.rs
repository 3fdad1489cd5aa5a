//! The leak scan: every secret of a full run is a planted canary (pooled PATs, an App private key,
//! a member's own GitHub token, caller tokens, admin API tokens, the master key, the token pepper
//! and the session key derived from it, the OAuth client secret, worker secrets, the GitHub webhook
//! secret, the Stripe API key and webhook secret). The real control plane binary runs with its
//! edge, scheduler and workers against the fake GitHub and the fake Stripe at debug log level;
//! a member signs in, sets the tenant up, reads through the edge over TLS (REST, GraphQL, stats,
//! metrics), uses the admin API, upgrades through Checkout, and GitHub delivers a webhook. Then
//! every response captured (headers and body), every log line of every process, every database
//! row (sealed columns aside) and every file under the state dir is searched for every canary,
//! raw and encoded. Zero hits; a hit fails naming the canary and where it was found.

use crate::support::{self, Browser, location};
use base64::Engine;
use shoal_fake_github::{FakeGithub, Options as GithubOptions};
use shoal_fake_stripe::{FakeStripe, Options as StripeOptions};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A secret planted in the run, by name.
struct Canary {
    name: String,
    value: String,
}

/// One captured thing to scan: where it came from, its text, and the canaries it may show
/// (a token page shows its new token once, the policy page the webhook secret to admins).
struct Seen {
    place: String,
    text: String,
    may_show: Vec<String>,
}

#[derive(Default)]
struct Capture {
    seen: Vec<Seen>,
}

impl Capture {
    async fn response(&mut self, place: &str, r: reqwest::Response, may_show: &[&str]) -> (u16, String) {
        let status = r.status().as_u16();
        let mut head = format!("{status}\n");
        for (k, v) in r.headers() {
            head.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
        }
        let body = r.text().await.unwrap_or_default();
        self.seen.push(Seen {
            place: place.to_string(),
            text: format!("{head}\n{body}"),
            may_show: may_show.iter().map(|s| s.to_string()).collect(),
        });
        (status, body)
    }

    fn text(&mut self, place: &str, text: String, may_show: &[&str]) {
        self.seen.push(Seen {
            place: place.to_string(),
            text,
            may_show: may_show.iter().map(|s| s.to_string()).collect(),
        });
    }
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    getrandom_fill(&mut raw);
    hex::encode(raw)
}

fn getrandom_fill(buf: &mut [u8]) {
    use std::io::Read;
    std::fs::File::open("/dev/urandom").unwrap().read_exact(buf).unwrap();
}

/// The forms a canary could take in a log line, a header or a row.
fn encodings(value: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut out = vec![
        value.to_string(),
        b64.encode(value),
        b64url.encode(value),
        hex::encode(value),
        serde_json::to_string(value).unwrap().trim_matches('"').to_string(),
    ];
    if let Ok(raw) = hex::decode(value) {
        out.extend([b64.encode(&raw), b64url.encode(&raw)]);
    }
    out.retain(|s| s.len() >= 16);
    out.dedup();
    out
}

/// Every token of the shape `shoal_` + 43 base62 characters in `text`.
fn shoal_tokens(text: &str) -> Vec<String> {
    text.match_indices("shoal_")
        .filter_map(|(at, _)| {
            let t: String = text[at..].chars().take(49).collect();
            (t.len() == 49 && t[6..].bytes().all(|b| b.is_ascii_alphanumeric())).then_some(t)
        })
        .collect()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            files_under(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

/// curl through the edge over TLS as `token`: the whole answer, headers first.
fn edge(ca: &Path, port: u16, token: &str, method: &str, path: &str, body: Option<&str>) -> String {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "10", "-i", "-X", method, "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("octo.localhost:{port}:127.0.0.1"))
        .arg("-H")
        .arg(format!("Authorization: token {token}"));
    if let Some(b) = body {
        c.args(["-H", "content-type: application/json", "--data-binary", b]);
    }
    let out = c.arg(format!("https://octo.localhost:{port}{path}")).output().unwrap();
    assert!(out.status.success(), "curl: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The value of `name="..."`/`id="..."` element text that follows `marker` in `html`.
fn value_after(html: &str, marker: &str, end: char) -> String {
    let at = html.find(marker).unwrap_or_else(|| panic!("{marker} not in {html}"));
    let rest = &html[at + marker.len()..];
    rest[..rest.find(end).unwrap()].to_string()
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn no_planted_secret_shows_in_any_response_log_row_or_file_after_a_full_run(pool: PgPool) {
    let mut canaries: Vec<Canary> = Vec::new();
    let mut plant = |name: &str, value: String| {
        canaries.push(Canary {
            name: name.to_string(),
            value: value.clone(),
        });
        value
    };
    let master_key = plant("master key", random_hex(32));
    let pepper = plant("token pepper", random_hex(32));
    {
        let p = shoal_common::token::Pepper::new(hex::decode(&pepper).unwrap()).unwrap();
        let key = shoal_control_plane::http::session::cookie_key(&p);
        plant("session cookie key", hex::encode(key.master()));
    }
    let oauth_secret = plant("OAuth client secret", format!("oauth-canary-{}", random_hex(16)));
    let stripe_key = plant("Stripe secret key", format!("sk_test_canary{}", random_hex(16)));
    let stripe_hook = plant("Stripe webhook secret", format!("whsec_canary{}", random_hex(16)));

    let gh = FakeGithub::start(GithubOptions::default()).await;
    gh.register_oauth_app(support::github::CLIENT_ID, &oauth_secret);
    gh.add_org_member("octo-org", "alice", "admin");
    gh.add_org_member("octo-org", "bob", "member");
    let pat = plant("pooled PAT", gh.add_token("octo-bot"));
    let second_pat = plant("second pooled PAT of the same account", gh.add_token("octo-bot"));
    let bob_github = plant("a member's own GitHub token", gh.add_token("bob"));
    let pem = support::rsa_pem();
    for (i, line) in pem.lines().filter(|l| !l.starts_with("-----")).enumerate().step_by(5) {
        plant(&format!("App private key, line {i}"), line.to_string());
    }
    gh.register_app(77, &support::rsa_public_pem());
    let installation = gh.add_installation(77, "octo-org");
    let stripe = FakeStripe::start(StripeOptions {
        secret_key: stripe_key.clone(),
        webhook_secret: stripe_hook.clone(),
        ..StripeOptions::default()
    })
    .await;

    // The real control plane binary, with everything on and logging at debug.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut db = url::Url::parse(&std::env::var("DATABASE_URL").unwrap()).unwrap();
    db.set_path(pool.connect_options().get_database().unwrap());
    let mut cp = Command::new(env!("CARGO_BIN_EXE_shoal-control-plane"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap())
        .env("DATABASE_URL", db.as_str())
        .env("SHOAL_STATE_DIR", &state)
        .env("SHOAL_LISTEN", "127.0.0.1:0")
        .env("SHOAL_EDGE_LISTEN", "127.0.0.1:0")
        .env("SHOAL_MASTER_KEY", &master_key)
        .env("SHOAL_TOKEN_PEPPER", &pepper)
        .env("SHOAL_GITHUB_URL", gh.url())
        .env("SHOAL_GITHUB_WEB_URL", gh.url())
        .env("SHOAL_GITHUB_CLIENT_ID", support::github::CLIENT_ID)
        .env("SHOAL_GITHUB_CLIENT_SECRET", &oauth_secret)
        .env("SHOAL_STRIPE_SECRET_KEY", &stripe_key)
        .env("SHOAL_STRIPE_WEBHOOK_SECRET", &stripe_hook)
        .env("SHOAL_STRIPE_API_BASE", stripe.url())
        .env("SHOAL_WORKER_BIN", support::workspace_bin("shoal-worker"))
        .env(
            "SHOAL_LOG",
            "debug,sqlx=warn,hyper=info,h2=info,rustls=info,tower_sessions=info,tower_sessions_core=info",
        )
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let printed = |prefix: &str| {
        std::fs::read_to_string(&out_path)
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_string))
    };
    let (web, edge_addr, ca) = support::until(60, "the control plane printing its addresses", async || {
        Some((printed("web on ")?, printed("edge on https://")?, printed("ca at ")?))
    })
    .await;
    let port: u16 = edge_addr.rsplit(':').next().unwrap().parse().unwrap();
    let ca = PathBuf::from(ca);
    stripe.set_webhook_url(&format!("{web}/webhooks/stripe"));
    let mut cap = Capture::default();

    // alice signs in through GitHub's OAuth and creates the tenant.
    let alice = Browser {
        base: web.clone(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        cookie: Default::default(),
    };
    gh.set_oauth_approver("alice");
    let start = alice.get("/auth/github/login").await;
    let authorize = location(&start);
    cap.response("GET /auth/github/login", start, &[]).await;
    let back = alice.http.get(&authorize).send().await.unwrap();
    let callback = location(&back);
    let done = alice.get(&callback).await;
    cap.response("GET /auth/github/callback", done, &[]).await;
    let csrf = alice.csrf("/tenants/new").await;
    let r = alice
        .post_form(
            "/tenants/new",
            &[("csrf", &csrf), ("org", "octo-org"), ("slug", "octo")],
        )
        .await;
    assert_eq!(location(&r), "/t/octo");

    // Pooled identities: two PATs of one account and a GitHub App.
    let csrf = alice.csrf("/t/octo/identities").await;
    for (name, token) in [("bot", &pat), ("bot-two", &second_pat)] {
        let r = alice
            .post_form(
                "/t/octo/identities/pat",
                &[("csrf", &csrf), ("name", name), ("token", token), ("scopes", "")],
            )
            .await;
        assert_eq!(location(&r), "/t/octo/identities", "adding {name}");
        cap.response("POST /t/octo/identities/pat", r, &[]).await;
    }
    let installation = installation.to_string();
    let r = alice
        .post_form(
            "/t/octo/identities/app",
            &[
                ("csrf", &csrf),
                ("name", "reader app"),
                ("app_id", "77"),
                ("installation_id", &installation),
                ("private_key", &pem),
                ("scopes", ""),
            ],
        )
        .await;
    assert_eq!(location(&r), "/t/octo/identities");
    cap.response("POST /t/octo/identities/app", r, &[]).await;
    let csrf = alice.csrf("/t/octo/policy").await;
    let r = alice
        .post_form(
            "/t/octo/policy",
            &[
                ("csrf", &csrf),
                ("allowed_owners", "octo-org"),
                ("search_allowed", "on"),
            ],
        )
        .await;
    cap.response("POST /t/octo/policy", r, &[]).await;

    // A caller token and an admin API token, each shown once.
    let csrf = alice.csrf("/t/octo/tokens").await;
    let r = alice
        .post_form("/t/octo/tokens", &[("csrf", &csrf), ("name", "laptop")])
        .await;
    let (_, page) = cap.response("POST /t/octo/tokens", r, &["caller token"]).await;
    let caller = plant("caller token", shoal_tokens(&page).pop().expect("the new caller token"));
    let csrf = alice.csrf("/t/octo/api-tokens").await;
    let r = alice
        .post_form("/t/octo/api-tokens", &[("csrf", &csrf), ("name", "ci")])
        .await;
    let (_, page) = cap.response("POST /t/octo/api-tokens", r, &["admin API token"]).await;
    let admin = plant(
        "admin API token",
        shoal_tokens(&page).pop().expect("the new admin token"),
    );

    // The GitHub webhook secret (shown to admins on the policy page), registered with GitHub.
    let csrf = alice.csrf("/t/octo/policy").await;
    let r = alice
        .post_form("/t/octo/policy/webhook-secret", &[("csrf", &csrf)])
        .await;
    cap.response("POST /t/octo/policy/webhook-secret", r, &[]).await;
    let r = alice.get("/t/octo/policy").await;
    let (_, page) = cap.response("GET /t/octo/policy", r, &["GitHub webhook secret"]).await;
    let hook_secret = plant(
        "GitHub webhook secret",
        value_after(&page, "<code id=\"webhook-secret\">", '<'),
    );
    gh.register_hook("octo-org", &format!("{web}/webhooks/github/octo"), &hook_secret);

    // bob logs in from the CLI with his own GitHub token.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{web}/api/v1/login/exchange"))
        .json(&serde_json::json!({"github_token": bob_github, "tenant": "octo", "device_name": "bob-laptop"}))
        .send()
        .await
        .unwrap();
    let (status, body) = cap
        .response("POST /api/v1/login/exchange", r, &["bob's caller token"])
        .await;
    assert_eq!(status, 200, "{body}");
    let bob_token = plant(
        "bob's caller token",
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string(),
    );

    // Reads through the edge over TLS, once the worker serves.
    let edge_read = |token: &str, method: &str, path: &str, body: Option<&str>| {
        let (ca, token, method, path, body) = (
            ca.clone(),
            token.to_string(),
            method.to_string(),
            path.to_string(),
            body.map(str::to_string),
        );
        tokio::task::spawn_blocking(move || edge(&ca, port, &token, &method, &path, body.as_deref()))
    };
    support::until(30, "the tenant's worker serving through the edge", async || {
        let got = edge_read(&caller, "GET", "/api/v3/rate_limit", None).await.unwrap();
        got.starts_with("HTTP/1.1 200").then_some(())
    })
    .await;
    let graphql = r#"{"query": "query { repository(owner: \"octo-org\", name: \"hello-world\") { name pullRequests(first: 2) { nodes { number title } } } rateLimit { cost remaining } }"}"#;
    let mutation = r#"{"query": "mutation { addStar(input: {starrableId: \"x\"}) { clientMutationId } }"}"#;
    for (token, method, path, body) in [
        (&caller, "GET", "/api/v3/repos/octo-org/hello-world", None),
        (&caller, "GET", "/api/v3/repos/octo-org/hello-world", None),
        (
            &bob_token,
            "GET",
            "/api/v3/repos/octo-org/hello-world/pulls?per_page=1",
            None,
        ),
        (&bob_token, "GET", "/repos/octo-org/hello-world/pulls/1", None),
        (&caller, "POST", "/api/graphql", Some(graphql)),
        (&caller, "POST", "/api/graphql", Some(mutation)),
        (&caller, "GET", "/api/v3/user", None),
        (&caller, "GET", "/api/v3/rate_limit", None),
        (&caller, "GET", "/_shoal/stats", None),
        (&caller, "GET", "/metrics", None),
        (
            &caller,
            "GET",
            "/api/v3/repos/octo-org/hello-world?access_token=x",
            None,
        ),
        (
            &"shoal_wrong".to_string(),
            "GET",
            "/api/v3/repos/octo-org/hello-world",
            None,
        ),
        (&admin, "GET", "/api/v1/tenants/octo/identities", None),
    ] {
        let got = edge_read(token, method, path, body).await.unwrap();
        cap.text(&format!("edge {method} {path}"), got, &[]);
    }
    let stats = edge_read(&caller, "GET", "/_shoal/stats", None).await.unwrap();
    assert!(stats.contains("\"HIT\"") || stats.contains("hit"), "{stats}");

    // The admin API: every listing, and a change.
    for path in [
        "identities",
        "tokens",
        "members",
        "policy",
        "audit",
        "policy/module",
        "removed-members",
    ] {
        let r = http
            .get(format!("{web}/api/v1/tenants/octo/{path}"))
            .header("authorization", format!("Bearer {admin}"))
            .send()
            .await
            .unwrap();
        cap.response(&format!("GET /api/v1/tenants/octo/{path}"), r, &[]).await;
    }
    let r = http
        .post(format!("{web}/api/v1/tenants/octo/tokens"))
        .header("authorization", format!("Bearer {admin}"))
        .json(&serde_json::json!({"name": "ci"}))
        .send()
        .await
        .unwrap();
    let (_, body) = cap
        .response("POST /api/v1/tenants/octo/tokens", r, &["API-made caller token"])
        .await;
    plant(
        "API-made caller token",
        shoal_tokens(&body).pop().expect("the API's new token"),
    );

    // Upgrade through Checkout; the fake Stripe's signed webhooks make the tenant team.
    let csrf = alice.csrf("/t/octo/billing").await;
    let r = alice
        .post_form("/t/octo/billing/checkout", &[("csrf", &csrf), ("plan", "team")])
        .await;
    let checkout = location(&r);
    cap.response("POST /t/octo/billing/checkout", r, &[]).await;
    stripe
        .complete_checkout(checkout.rsplit('/').next().unwrap())
        .await
        .unwrap();
    support::until(20, "the subscription applied", async || {
        let plan: String = sqlx::query_scalar("SELECT plan FROM tenants WHERE slug = 'octo'")
            .fetch_one(&pool)
            .await
            .unwrap();
        (plan == "team").then_some(())
    })
    .await;

    // GitHub delivers a signed webhook; the worker hears of it.
    gh.touch("octo-org/hello-world", "pulls/1");
    support::until(20, "the webhook stored", async || {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_events")
            .fetch_one(&pool)
            .await
            .unwrap();
        (n > 0).then_some(())
    })
    .await;
    let got = edge_read(&caller, "GET", "/repos/octo-org/hello-world/pulls/1", None)
        .await
        .unwrap();
    cap.text("edge GET pulls/1 after the webhook", got, &[]);

    // Every page an admin and a member see.
    for page in [
        "/",
        "/t/octo",
        "/t/octo/members",
        "/t/octo/tokens",
        "/t/octo/identities",
        "/t/octo/api-tokens",
        "/t/octo/audit",
        "/t/octo/billing",
        "/pricing",
    ] {
        let r = alice.get(page).await;
        cap.response(&format!("GET {page}"), r, &["GitHub webhook secret"])
            .await;
    }

    // Worker secrets, read back from their sealed rows with the master key.
    let rows: Vec<(uuid::Uuid, uuid::Uuid, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT w.tenant_id, w.id, w.sealed_secret, t.wrapped_data_key FROM workers w JOIN tenants t ON t.id = w.tenant_id WHERE w.sealed_secret IS NOT NULL",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(!rows.is_empty(), "the worker has a secret");
    let keyring = shoal_common::crypto::Keyring::new(shoal_common::crypto::MasterKey::parse(&master_key).unwrap());
    for (tenant, worker, sealed, wrapped) in rows {
        let tenant = shoal_common::TenantId(tenant);
        let dk = keyring
            .unwrap_key(&shoal_common::crypto::WrappedDataKey::from_bytes(wrapped), tenant)
            .unwrap();
        let secret = dk
            .open_string(&shoal_common::crypto::SealedSecret::from_bytes(sealed), tenant, worker)
            .unwrap();
        plant("worker secret", secret.expose().to_string());
    }

    // The canaries were all in use (the scan is not vacuous).
    let used = gh.stats();
    let spent = |token: &str| used.by_token.get(token).map_or(0, |s| s.calls);
    assert!(spent(&pat) + spent(&second_pat) > 0, "no pooled PAT reached GitHub");
    assert!(!stripe.events().is_empty(), "Stripe was never called");

    // Stop everything the way Ctrl-C does, so the last usage reports and log lines are written.
    unsafe { libc::kill(cp.id() as i32, libc::SIGINT) };
    support::until(30, "the control plane exiting", async || {
        cp.try_wait().unwrap().map(|_| ())
    })
    .await;
    let logs = [
        ("control plane stdout", std::fs::read_to_string(&out_path).unwrap()),
        (
            "control plane and worker logs (stderr)",
            std::fs::read_to_string(&err_path).unwrap(),
        ),
    ];
    assert!(
        logs[1].1.contains("worker:"),
        "the workers' log lines are relayed into the control plane's log"
    );
    for (place, text) in logs {
        for (n, line) in text.lines().enumerate() {
            cap.text(&format!("{place}, line {}", n + 1), line.to_string(), &[]);
        }
    }

    // Every database row, sealed columns aside, in every schema of ours.
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text FROM information_schema.tables
         WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.len() > 15, "{tables:?}");
    for (schema, table) in tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT (to_jsonb(t) - 'sealed_secret' - 'wrapped_data_key')::text FROM \"{schema}\".\"{table}\" t"
        ))
        .fetch_all(&pool)
        .await
        .unwrap();
        for (n, row) in rows.into_iter().enumerate() {
            cap.text(&format!("database {schema}.{table}, row {}", n + 1), row, &[]);
        }
    }
    // Every file under the state dir (the CA, workers' data dirs and disk caches).
    let mut files = Vec::new();
    files_under(&state, &mut files);
    assert!(!files.is_empty());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        cap.text(
            &format!("file {}", f.display()),
            String::from_utf8_lossy(&bytes).to_string(),
            &[],
        );
    }

    let mut hits: Vec<String> = Vec::new();
    for c in &canaries {
        for form in encodings(&c.value) {
            for s in cap.seen.iter().filter(|s| !s.may_show.contains(&c.name)) {
                if s.text.contains(&form) {
                    hits.push(format!("{} found in {}", c.name, s.place));
                }
            }
        }
    }
    hits.sort();
    hits.dedup();
    assert!(
        hits.is_empty(),
        "LEAK: {} planted secret(s) found where they must never be:\n  {}",
        hits.len(),
        hits.join("\n  ")
    );
    println!(
        "leak scan: {} canaries, {} places scanned, 0 hits",
        canaries.len(),
        cap.seen.len()
    );
}
