//! The edge over real sockets: curl reaches a tenant's worker through TLS with the dev CA, bodies
//! stream both ways, and unknown, suspended and down tenants get GitHub-shaped 404/402/503.

use axum::body::Bytes;
use axum::http::HeaderMap;
use shoal_control_plane::edge::proxy::{EdgeState, router};
use shoal_control_plane::edge::serve::{serve_plain, serve_tls};
use shoal_control_plane::edge::tls::{DevCa, dev_server_config};
use sqlx::PgPool;
use std::process::Command;
use uuid::Uuid;

/// A stand-in worker that answers with what it received.
async fn echo_worker() -> String {
    async fn echo(
        method: axum::http::Method,
        uri: axum::http::Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::Json<serde_json::Value> {
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        axum::Json(serde_json::json!({
            "method": method.as_str(),
            "path": uri.path_and_query().map(|p| p.as_str()).unwrap_or(""),
            "authorization": h("authorization"),
            "forwarded_host": h("x-forwarded-host"),
            "forwarded_proto": h("x-forwarded-proto"),
            "forwarded_for": h("x-forwarded-for"),
            "body_len": body.len(),
        }))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        axum::serve(
            listener,
            axum::Router::new()
                .fallback(echo)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .await
        .unwrap()
    });
    addr
}

async fn tenant(pool: &PgPool, slug: &str, status: &str, observed: &str, address: Option<&str>) {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO tenants (id, slug, github_org, github_org_id, wrapped_data_key, status) VALUES ($1, $2, 'o', 1, '\\x00', $3)")
        .bind(id)
        .bind(slug)
        .bind(status)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO workers (tenant_id, id, observed_state, address) VALUES ($1, gen_random_uuid(), $2, $3)")
        .bind(id)
        .bind(observed)
        .bind(address)
        .execute(pool)
        .await
        .unwrap();
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (body.to_string(), code.to_string())
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn requests_reach_the_tenants_worker_over_verified_tls(pool: PgPool) {
    let worker = echo_worker().await;
    tenant(&pool, "acme", "active", "running", Some(&worker)).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = DevCa::load_or_create(dir.path()).unwrap();
    let ca_path = ca.cert_path().display().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let edge = EdgeState::new(pool.clone(), "localhost", "https");
    tokio::spawn(serve_tls(
        listener,
        dev_server_config(ca, "localhost").unwrap(),
        router(edge),
    ));

    let resolve = format!("acme.localhost:{port}:127.0.0.1");
    let url = format!("https://acme.localhost:{port}/api/v3/repos/octo-org/hello-world?per_page=2");
    let (body, code) = tokio::task::spawn_blocking({
        let (ca_path, resolve, url) = (ca_path.clone(), resolve.clone(), url.clone());
        move || {
            curl(&[
                "--cacert",
                &ca_path,
                "--resolve",
                &resolve,
                "-H",
                "Authorization: token shoal_caller",
                &url,
            ])
        }
    })
    .await
    .unwrap();
    assert_eq!(code, "200", "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["path"], "/api/v3/repos/octo-org/hello-world?per_page=2");
    assert_eq!(v["authorization"], "token shoal_caller");
    assert_eq!(v["forwarded_host"], format!("acme.localhost:{port}"));
    assert_eq!(v["forwarded_proto"], "https");
    assert_eq!(v["forwarded_for"], "127.0.0.1");

    let padding = format!("X-Padding: {}", "p".repeat(100 * 1024));
    let (_, code) =
        tokio::task::spawn_blocking(move || curl(&["--cacert", &ca_path, "--resolve", &resolve, "-H", &padding, &url]))
            .await
            .unwrap();
    assert_eq!(code, "431", "a head beyond 32 KiB is refused at the TLS edge");
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn bodies_stream_through_oversized_heads_get_431_and_bad_tenants_get_github_shaped_errors(pool: PgPool) {
    let worker = echo_worker().await;
    tenant(&pool, "acme", "active", "running", Some(&worker)).await;
    tenant(&pool, "broke", "suspended", "stopped", None).await;
    tenant(&pool, "booting", "active", "starting", None).await;
    // A worker that is recorded as running but no longer listens.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    tenant(&pool, "crashed", "active", "running", Some(&dead)).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve_plain(
        listener,
        router(EdgeState::new(pool.clone(), "localhost", "http")),
    ));
    let c = reqwest::Client::new();
    let send = |host: &str| c.get(format!("{base}/api/v3/rate_limit")).header("host", host).send();

    let big = vec![b'x'; 3 * 1024 * 1024];
    let r = c
        .post(format!("{base}/graphql"))
        .header("host", "acme.localhost")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (v["method"].as_str(), v["body_len"].as_u64()),
        (Some("POST"), Some(big.len() as u64))
    );

    let padded = |padding: usize| {
        c.get(format!("{base}/api/v3/rate_limit"))
            .header("host", "acme.localhost")
            .header("x-padding", "p".repeat(padding))
            .send()
    };
    assert_eq!(padded(200 * 1024).await.unwrap().status(), 431);
    assert_eq!(padded(20 * 1024).await.unwrap().status(), 200);

    let r = send("nobody.localhost").await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<serde_json::Value>().await.unwrap()["documentation_url"].is_string());
    assert_eq!(send("evil.example.com").await.unwrap().status(), 404);
    assert_eq!(send("broke.localhost").await.unwrap().status(), 402);
    for down in ["booting.localhost", "crashed.localhost"] {
        let r = send(down).await.unwrap();
        assert_eq!(r.status(), 503, "{down}");
        assert_eq!(r.headers()["retry-after"], "5");
    }
}
