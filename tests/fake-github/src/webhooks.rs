//! Webhooks as GitHub sends them. `POST /_fake/hooks` registers a hook URL and secret for an org
//! (GitHub then sends a `ping`); every change made through the control API to that org's repos
//! (`/_fake/touch`: a pull request, an issue or the repo edited; `/_fake/check-runs/complete`: a
//! check run completed, with the conclusion given; `/_fake/check-runs/start` sets it in progress
//! and sends nothing) delivers the matching event to it with GitHub's headers (`X-GitHub-Event`,
//! `X-GitHub-Delivery`, `X-Hub-Signature-256`, `User-Agent: GitHub-Hookshot/..`) and payload shape
//! (checked against `@octokit/webhooks-schemas` in the tests). Deliveries of one hook go out in
//! order; each is logged with the status it got (`GET /_fake/hooks/deliveries`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::error::FakeError;
use crate::render::{self, Urls};
use crate::state::Shared;
use crate::world::{ItemKind, World};

/// One delivery as sent, and what the receiver answered (0: it could not be reached).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub hook_id: u64,
    pub event: String,
    pub action: Option<String>,
    pub delivery_id: String,
    pub status: u16,
    pub payload: Value,
}

struct Hook {
    id: u64,
    org: String,
    tx: mpsc::UnboundedSender<Outgoing>,
}

struct Outgoing {
    event: &'static str,
    payload: Value,
}

/// The registered hooks and the log of their deliveries.
#[derive(Default)]
pub struct Hooks {
    hooks: Mutex<Vec<Hook>>,
    log: Arc<Mutex<Vec<Delivery>>>,
    next: AtomicU64,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.hooks.lock().unwrap_or_else(|e| e.into_inner()).len();
        f.debug_struct("Hooks").field("hooks", &n).finish_non_exhaustive()
    }
}

impl Hooks {
    /// Every delivery so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn send(&self, org: &str, event: &'static str, payload: &Value) {
        let hooks = self.hooks.lock().unwrap_or_else(|e| e.into_inner());
        for h in hooks.iter().filter(|h| h.org.eq_ignore_ascii_case(org)) {
            let mut payload = payload.clone();
            if event == "ping" {
                payload["hook_id"] = json!(h.id);
                payload["hook"]["id"] = json!(h.id);
            }
            let _ = h.tx.send(Outgoing { event, payload });
        }
    }
}

/// Routes of the hooks' control API.
pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_fake/hooks", post(create_hook))
        .route("/_fake/hooks/deliveries", get(list_deliveries))
        .route("/_fake/check-runs/start", post(start_check_run))
        .route("/_fake/check-runs/complete", post(complete_check_run))
}

/// Body of `POST /_fake/hooks`.
#[derive(Debug, Deserialize)]
pub struct HookIn {
    pub org: String,
    pub url: String,
    pub secret: String,
}

async fn create_hook(
    State(sh): State<Arc<Shared>>,
    Json(h): Json<HookIn>,
) -> Result<(StatusCode, Json<Value>), FakeError> {
    let id = register(&sh, h)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// Registers a hook (its sender runs on the current Tokio runtime) and sends it a `ping`.
pub fn register(sh: &Arc<Shared>, h: HookIn) -> Result<u64, FakeError> {
    let org = sh
        .world()
        .org(&h.org)
        .map(|o| (o.id, o.login.clone()))
        .ok_or(FakeError::NotFound)?;
    if !(h.url.starts_with("http://") || h.url.starts_with("https://")) {
        return Err(FakeError::BadRequest("url must be an http(s) URL".into()));
    }
    let id = 100_000 + sh.hooks.next.fetch_add(1, Ordering::SeqCst);
    let (tx, rx) = mpsc::unbounded_channel();
    let sender = Sender {
        hook_id: id,
        org_id: org.0,
        url: h.url.clone(),
        secret: h.secret,
        log: sh.hooks.log.clone(),
        client: reqwest::Client::new(),
    };
    tokio::spawn(sender.run(rx));
    sh.hooks.hooks.lock().unwrap_or_else(|e| e.into_inner()).push(Hook {
        id,
        org: org.1.clone(),
        tx,
    });
    let api = sh.base_url.clone();
    let now = render::ts(time::OffsetDateTime::now_utc());
    let ping = json!({
        "zen": "Keep it logically awesome.",
        "hook_id": id,
        "hook": {
            "type": "Organization", "id": id, "name": "web", "active": true,
            "events": ["*"],
            "config": { "content_type": "json", "insecure_ssl": "0", "url": h.url },
            "updated_at": now, "created_at": now,
            "url": format!("{api}/orgs/{}/hooks/{id}", org.1),
            "ping_url": format!("{api}/orgs/{}/hooks/{id}/pings", org.1),
            "deliveries_url": format!("{api}/orgs/{}/hooks/{id}/deliveries", org.1),
        },
    });
    sh.hooks.send(&org.1, "ping", &ping);
    Ok(id)
}

async fn list_deliveries(State(sh): State<Arc<Shared>>) -> Json<Vec<Delivery>> {
    Json(sh.hooks.deliveries())
}

/// Changes a resource as [`World::touch`] does and delivers the event GitHub would send for it:
/// `pull_request` or `issues` `edited` for `pulls/N` or `issues/N`, `repository` `edited` for
/// the repo itself. False when the repo or item does not exist.
pub fn touch(sh: &Shared, full_name: &str, what: &str) -> bool {
    let before = {
        let w = sh.world();
        let Some(r) = repo_of(&w, full_name) else { return false };
        match number_in(what) {
            Some(n) => r.item(n).map(|i| i.body.clone()),
            None => Some(r.description.clone()),
        }
    };
    if !sh.world_mut().touch(full_name, what) {
        return false;
    }
    let Some(from) = before else { return true };
    let w = sh.world();
    let Some(r) = repo_of(&w, full_name) else { return true };
    let u = urls(sh);
    let (event, mut payload) = match number_in(what).and_then(|n| r.item(n)) {
        Some(i) if i.is_pull() => (
            "pull_request",
            json!({ "action": "edited", "number": i.number, "changes": { "body": { "from": from } },
                    "pull_request": render::pull(&w, &u, r, i, true) }),
        ),
        Some(i) => (
            "issues",
            json!({ "action": "edited", "changes": { "body": { "from": from } }, "issue": render::issue(&w, &u, r, i) }),
        ),
        None => (
            "repository",
            json!({ "action": "edited", "changes": { "description": { "from": from } } }),
        ),
    };
    common(&w, &u, r, &mut payload);
    sh.hooks.send(&r.owner, event, &webhook_shape(payload));
    true
}

/// Body of `POST /_fake/check-runs/start` and `/complete`: the pull request whose head's first
/// check run changes, and (to complete it) its conclusion, `success` unless given.
#[derive(Debug, Deserialize)]
struct CheckRunIn {
    repo: String,
    number: u64,
    conclusion: Option<String>,
}

/// Sets the first check run on a pull request's head commit to `in_progress`, sending no event
/// (tests start a run before they read it).
async fn start_check_run(State(sh): State<Arc<Shared>>, Json(c): Json<CheckRunIn>) -> Result<StatusCode, FakeError> {
    set_first_check_run(&sh, &c, None)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Completes the first check run on a pull request's head commit with the conclusion given and
/// delivers `check_run` `completed` carrying its new state.
async fn complete_check_run(State(sh): State<Arc<Shared>>, Json(c): Json<CheckRunIn>) -> Result<StatusCode, FakeError> {
    let conclusion = match c.conclusion.as_deref().unwrap_or("success") {
        "success" => "success",
        "failure" => "failure",
        other => {
            return Err(FakeError::BadRequest(format!(
                "conclusion {other:?}: success or failure"
            )));
        }
    };
    set_first_check_run(&sh, &c, Some(conclusion))?;
    let w = sh.world();
    let r = repo_of(&w, &c.repo).ok_or(FakeError::NotFound)?;
    let Some(ItemKind::Pull { head_sha, head_ref, .. }) = r.item(c.number).map(|i| &i.kind) else {
        return Err(FakeError::NotFound);
    };
    let u = urls(&sh);
    let mut run = render::check_runs(&w, &u, r, head_sha)
        .into_iter()
        .next()
        .ok_or(FakeError::NotFound)?;
    let suite_id = run["check_suite"]["id"].as_u64().unwrap_or_default();
    let app = run["app"].clone();
    let full = r.full_name();
    run["check_suite"] = json!({
        "id": suite_id, "node_id": render::node_id("CheckSuite", suite_id),
        "head_branch": head_ref, "head_sha": head_sha, "status": "completed", "conclusion": run["conclusion"],
        "url": format!("{}/repos/{full}/check-suites/{suite_id}", u.api),
        "before": derived_parent(head_sha), "after": head_sha, "pull_requests": [], "app": app,
        "created_at": run["started_at"], "updated_at": run["completed_at"],
    });
    let mut payload = json!({ "action": "completed", "check_run": run });
    common(&w, &u, r, &mut payload);
    sh.hooks.send(&r.owner, "check_run", &webhook_shape(payload));
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the state of the first check run on the head of pull `c.number` (`None`: in progress).
fn set_first_check_run(sh: &Shared, c: &CheckRunIn, state: Option<&'static str>) -> Result<(), FakeError> {
    let mut w = sh.world_mut();
    let r = repo_of(&w, &c.repo).ok_or(FakeError::NotFound)?;
    let Some(ItemKind::Pull { head_sha, .. }) = r.item(c.number).map(|i| &i.kind) else {
        return Err(FakeError::NotFound);
    };
    let id = crate::derived::check_runs(&w, head_sha)
        .first()
        .ok_or(FakeError::NotFound)?
        .id;
    w.check_run_states.insert(id, state);
    Ok(())
}

/// The REST shapes as webhooks carry them: users without `user_view_type`, repositories with
/// `custom_properties` and without the counts only `GET /repos` gives, issues without `closed_by`.
fn webhook_shape(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(o) => {
                o.remove("user_view_type");
                if o.contains_key("full_name") && o.contains_key("private") {
                    o.remove("network_count");
                    o.remove("subscribers_count");
                    o.entry("custom_properties").or_insert_with(|| json!({}));
                }
                o.values_mut().for_each(walk);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    if let Some(issue) = v.get_mut("issue").and_then(Value::as_object_mut) {
        issue.remove("closed_by");
    }
    walk(&mut v);
    v
}

/// A stand-in for the commit before `sha` on its branch.
fn derived_parent(sha: &str) -> String {
    hex::encode(Sha256::digest(format!("{sha}^").as_bytes()))[..40].to_string()
}

fn repo_of<'w>(w: &'w World, full_name: &str) -> Option<&'w crate::world::Repo> {
    let (owner, name) = full_name.split_once('/')?;
    w.repo_index(owner, name).map(|i| &w.repos[i])
}

fn number_in(what: &str) -> Option<u64> {
    let mut segs = what.trim_matches('/').split('/');
    match (segs.next(), segs.next()) {
        (Some("pulls" | "issues"), Some(n)) => n.parse().ok(),
        _ => None,
    }
}

fn urls(sh: &Shared) -> Urls {
    Urls::new(sh.base_url.clone(), sh.base_url.clone())
}

/// What every repository event carries: the repository, its organisation and the sender (the
/// org's first admin: changes through the control API have no actor).
fn common(w: &World, u: &Urls, r: &crate::world::Repo, payload: &mut Value) {
    payload["repository"] = render::repo(w, u, r);
    if let Some(o) = w.org(&r.owner) {
        payload["organization"] = render::org_simple(u, o);
        let admin = o
            .members
            .iter()
            .find(|(_, role)| **role == crate::world::Role::Admin)
            .map(|(l, _)| l.clone())
            .unwrap_or_else(|| o.login.clone());
        payload["sender"] = render::user_by_login(w, u, &admin);
    } else {
        payload["sender"] = render::user_by_login(w, u, &r.owner);
    }
}

/// Sends one hook's deliveries, in order.
struct Sender {
    hook_id: u64,
    org_id: u64,
    url: String,
    secret: String,
    log: Arc<Mutex<Vec<Delivery>>>,
    client: reqwest::Client,
}

impl Sender {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Outgoing>) {
        let mut n = 0u64;
        while let Some(out) = rx.recv().await {
            n += 1;
            let delivery_id = delivery_id(self.hook_id, n);
            let body = serde_json::to_vec(&out.payload).unwrap_or_default();
            let status = self
                .client
                .post(&self.url)
                .header("content-type", "application/json")
                .header("user-agent", "GitHub-Hookshot/f1a2b3c")
                .header("x-github-event", out.event)
                .header("x-github-delivery", &delivery_id)
                .header("x-github-hook-id", self.hook_id.to_string())
                .header("x-github-hook-installation-target-type", "organization")
                .header("x-github-hook-installation-target-id", self.org_id.to_string())
                .header("x-hub-signature-256", signature(self.secret.as_bytes(), &body))
                .body(body)
                .send()
                .await
                .map_or(0, |r| r.status().as_u16());
            self.log.lock().unwrap_or_else(|e| e.into_inner()).push(Delivery {
                hook_id: self.hook_id,
                event: out.event.to_string(),
                action: out.payload["action"].as_str().map(str::to_string),
                delivery_id,
                status,
                payload: out.payload,
            });
        }
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`, as GitHub signs deliveries.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A GUID-shaped delivery id, unique per hook and delivery.
fn delivery_id(hook: u64, n: u64) -> String {
    let h = hex::encode(Sha256::digest(format!("delivery {hook} {n}").as_bytes()));
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_are_signed_as_github_signs_them() {
        // GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
        assert_eq!(
            signature(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        let id = delivery_id(1, 2);
        assert_eq!(id.len(), 36);
        assert_ne!(id, delivery_id(1, 3));
    }
}
