//! The fake's webhooks: a registered hook gets a `ping`, then for each change made through the
//! control API the event GitHub sends, with GitHub's headers and a valid signature, and payloads
//! that validate against the published schemas of GitHub's webhooks (npm package
//! `@octokit/webhooks-schemas`, with the `ajv` validator, installed with npm into
//! `$HOME/.cache/shoal-webhooks` on first use by `infra/dev/ensure-test-clients.sh` or here).

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::{client, fake};

const PACKAGES: &[&str] = &["@octokit/webhooks-schemas@7.6.1", "ajv@8", "ajv-formats@3"];
const SECRET: &str = "It's a Secret to Everybody";

fn node_modules() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = home.join(".cache").join("shoal-webhooks");
    let modules = dir.join("node_modules");
    if modules.join("@octokit/webhooks-schemas/schema.json").exists() && modules.join("ajv-formats").exists() {
        return modules;
    }
    std::fs::create_dir_all(&dir).expect("create the cache dir");
    let status = Command::new("npm")
        .args(["install", "--silent", "--no-audit", "--no-fund"])
        .args(PACKAGES)
        .current_dir(&dir)
        .status()
        .expect("npm is needed to fetch @octokit/webhooks-schemas");
    assert!(status.success(), "npm install {PACKAGES:?} failed");
    modules
}

type Received = Arc<Mutex<Vec<(HeaderMap, axum::body::Bytes)>>>;

/// A receiver on loopback that keeps every delivery; its URL.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push((headers, body));
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

#[tokio::test]
async fn changes_through_the_control_api_deliver_signed_events_that_match_githubs_schemas() {
    let modules = node_modules();
    let gh = fake().await;
    let (url, got) = receiver().await;
    let touch = async |repo: &str, path: &str| {
        let r = client()
            .post(format!("{}/_fake/touch", gh.url()))
            .json(&serde_json::json!({"repo": repo, "path": path}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    };
    // Before a hook is registered, changes deliver nothing.
    touch("octo-org/hello-world", "pulls/1").await;
    let r = client()
        .post(format!("{}/_fake/hooks", gh.url()))
        .json(&serde_json::json!({"org": "octo-org", "url": url, "secret": SECRET}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    touch("octo-org/hello-world", "pulls/1").await;
    touch("octo-org/hello-world", "issues/2").await;
    touch("octo-org/hello-world", "").await;
    for (what, conclusion) in [("start", None), ("complete", Some("failure"))] {
        let r = client()
            .post(format!("{}/_fake/check-runs/{what}", gh.url()))
            .json(&serde_json::json!({"repo": "octo-org/hello-world", "number": 1, "conclusion": conclusion}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{what}");
    }
    let r = client()
        .post(format!("{}/_fake/check-runs/complete", gh.url()))
        .json(&serde_json::json!({"repo": "octo-org/hello-world", "number": 1, "conclusion": "maybe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "an unknown conclusion changes nothing");

    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().len() < 5 || gh.deliveries().len() < 5 {
        assert!(Instant::now() < deadline, "deliveries within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 5, "nothing before the hook existed");
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut ids = Vec::new();
    for (headers, body) in &got {
        let h = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(body);
        assert_eq!(
            h("x-hub-signature-256"),
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        );
        assert!(h("user-agent").starts_with("GitHub-Hookshot/"));
        assert_eq!(h("content-type"), "application/json");
        assert_eq!(h("x-github-delivery").len(), 36);
        ids.push(h("x-github-delivery"));
        let v: Value = serde_json::from_slice(body).unwrap();
        let action = v["action"].as_str().unwrap_or("event").to_string();
        let file = dir.path().join(format!("{}.{action}.json", h("x-github-event")));
        std::fs::write(&file, body).unwrap();
        files.push(file);
    }
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "ping.event.json",
            "pull_request.edited.json",
            "issues.edited.json",
            "repository.edited.json",
            "check_run.completed.json"
        ]
    );
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "each delivery has its own id");
    let log = gh.deliveries();
    assert_eq!(log.len(), 5);
    assert!(log.iter().all(|d| d.status == 202), "{log:?}");
    assert_eq!(log[4].payload["check_run"]["status"], "completed");
    assert_eq!(
        log[4].payload["check_run"]["conclusion"], "failure",
        "the conclusion given"
    );

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/webhooks/validate.mjs");
    let out = Command::new("node")
        .arg(script)
        .arg(&modules)
        .args(&files)
        .output()
        .expect("node is needed to run ajv");
    assert!(
        out.status.success(),
        "payloads do not match @octokit/webhooks-schemas:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
