//! The tenant's WebAssembly policy module through the real worker: each example changes the
//! relay's answers as intended, hostile modules are contained and counted, a module never sees a
//! pooled token, and a swapped module takes effect at once with no failed request.

use crate::support::bundle::{self, pat};
use crate::support::{Env, Setup};
use serde_json::json;
use shoal_common::protocol::{OnFailure, PolicyModule};
use shoal_fake_github::Options;
use std::time::{Duration, Instant};

fn example_path(name: &str) -> String {
    format!("{}/policy-examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The bundle entry of a `.wat` text.
fn module_of(wat: &str, on_failure: OnFailure) -> PolicyModule {
    let binary = shoal_common::policy::load::to_binary(wat.as_bytes()).unwrap();
    PolicyModule::from_binary(&binary, on_failure)
}

fn example(name: &str) -> PolicyModule {
    module_of(&std::fs::read_to_string(example_path(name)).unwrap(), OnFailure::Serve)
}

/// A standalone worker whose TOML names the example as `policy`.
async fn standalone(name: &str) -> Env {
    Env::start(Setup {
        extra: format!("policy = \"{}\"\n", example_path(name)),
        ..Setup::default()
    })
    .await
}

/// Puts `module` in force in the bundle harness's worker, with the caller's login `login`.
fn swap(env: &bundle::Env, module: Option<PolicyModule>, login: &str) {
    let mut b = env.bundle.clone();
    b.version += 1;
    b.policy_module = module;
    b.caller_tokens[0].user_login = login.into();
    env.relay.worker.swap_bundle(&b).unwrap();
}

fn text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

#[tokio::test]
async fn with_deny_all_every_relayed_read_answers_403_denied_by_policy() {
    let env = standalone("deny-all.wat").await;
    for path in [
        "/repos/octo-org/hello-world",
        "/api/v3/repos/octo-org/hello-world/pulls/1",
    ] {
        let r = env.get(path).await;
        assert_eq!(r.status(), 403, "{path}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["message"], "denied by policy", "{path}");
        assert!(body["documentation_url"].is_string());
    }
    let r = env
        .http
        .post(format!("{}/graphql", env.worker.url()))
        .header("authorization", format!("token {}", env.caller))
        .json(&json!({ "query": "{ repository(owner: \"octo-org\", name: \"hello-world\") { name } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("denied by policy"));
    assert_eq!(env.upstream().calls, 0);
    assert_eq!(env.stats()["policy_module"]["decisions"]["deny"], 3);
}

/// The AssemblyScript example's build (`infra/dev/build-policy-examples.sh`, run by `make test`).
fn assemblyscript_owner_only() -> PolicyModule {
    let path = example_path("assemblyscript/owner-only.wasm");
    let binary = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}; build it with infra/dev/build-policy-examples.sh (make deps)"));
    PolicyModule::from_binary(&binary, OnFailure::Serve)
}

#[tokio::test]
async fn owner_only_in_wat_denies_an_owner_the_tenant_settings_allow() {
    owner_only_denies_an_owner_the_tenant_settings_allow(example("owner-only.wat")).await;
}

#[tokio::test]
async fn owner_only_in_assemblyscript_denies_an_owner_the_tenant_settings_allow() {
    owner_only_denies_an_owner_the_tenant_settings_allow(assemblyscript_owner_only()).await;
}

async fn owner_only_denies_an_owner_the_tenant_settings_allow(module: PolicyModule) {
    let policy = shoal_common::protocol::Policy {
        allowed_owners: vec!["octo-org".into(), "acme-corp".into()],
        search_allowed: true,
        ..Default::default()
    };
    let env = bundle::Env::start_with(Options::default(), policy, |gh| {
        vec![pat("bot", &gh.add_token("hubot"))]
    })
    .await;
    swap(&env, Some(module), "alice");
    let (status, _, body) = env.get("/repos/acme-corp/project-1", None).await;
    assert_eq!(status, 403);
    assert!(
        text(&body).contains("this relay reads octo-org only"),
        "{}",
        text(&body)
    );
    let (status, _, body) = env.get("/search/issues?q=repo%3Aacme-corp%2Fx", None).await;
    assert_eq!(status, 403, "a search names no owner: denied too");
    assert!(text(&body).contains("this relay reads octo-org only"));
    let (status, _, _) = env.get("/repos/octo-org/hello-world", None).await;
    assert_eq!(status, 200);
    assert_eq!(env.gh.stats().calls, 1);
}

#[tokio::test]
async fn releases_ttl_keeps_releases_and_tags_an_hour_and_other_routes_their_own_ttl() {
    let env = standalone("releases-ttl.wat").await;
    for path in [
        "/repos/octo-org/hello-world/releases",
        "/repos/octo-org/hello-world/tags",
        "/repos/octo-org/hello-world/pulls/1",
    ] {
        assert_eq!(env.get(path).await.status(), 200, "{path}");
    }
    assert_eq!(env.upstream().calls, 3);
    // Past the list and fast TTLs (60 s, 20 s), within the module's hour.
    env.advance(30 * 60);
    for path in [
        "/repos/octo-org/hello-world/releases",
        "/repos/octo-org/hello-world/tags",
    ] {
        let r = env.get(path).await;
        assert_eq!(crate::support::cache_status(&r), "HIT", "{path}");
    }
    let r = env.get("/repos/octo-org/hello-world/pulls/1").await;
    assert_ne!(crate::support::cache_status(&r), "HIT");
    assert_eq!(env.upstream().calls, 4, "only the pull request went upstream again");
    env.advance(31 * 60);
    let r = env.get("/repos/octo-org/hello-world/releases").await;
    assert_ne!(
        crate::support::cache_status(&r),
        "HIT",
        "an hour later the release list is revalidated"
    );
}

#[tokio::test]
async fn a_standalone_worker_loads_a_binary_module_from_its_toml() {
    assemblyscript_owner_only();
    let env = standalone("assemblyscript/owner-only.wasm").await;
    assert_eq!(env.get("/repos/octo-org/hello-world").await.status(), 200);
    let r = env.get("/search/issues?q=repo%3Aocto-org%2Fhello-world").await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("this relay reads octo-org only"));
    assert_eq!(env.upstream().calls, 1);
}

#[tokio::test]
async fn search_fallback_sends_searches_to_the_callers_own_gh() {
    let env = standalone("search-fallback.wat").await;
    let r = env.get("/search/issues?q=repo%3Aocto-org%2Fhello-world").await;
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["shoal"], "fallback_local");
    assert_eq!(env.get("/repos/octo-org/hello-world/pulls/1").await.status(), 200);
    assert_eq!(env.upstream().calls, 1);
    assert_eq!(env.stats()["policy_module"]["decisions"]["fallback_local"], 1);
}

#[tokio::test]
async fn members_only_lets_listed_logins_read_the_repo_and_logs_a_refusal() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    swap(&env, Some(example("members-only.wat")), "alice");
    let (status, _, _) = env.get("/repos/octo-org/hello-world/pulls/1", None).await;
    assert_eq!(status, 200, "alice is on the list");
    swap(&env, Some(example("members-only.wat")), "mallory");
    let (status, _, body) = env.get("/repos/octo-org/hello-world/pulls/1", None).await;
    assert_eq!(status, 403, "mallory is not, even for a cached answer");
    assert!(text(&body).contains("only alice and bob read octo-org/hello-world"));
    let stats = env.stats();
    assert_eq!(
        stats["policy_module"]["logs"][0]["message"],
        "refused a member outside the list"
    );
    assert_eq!(env.gh.stats().calls, 1);
}

const GARBAGE: &str = r#"(module (global (export "shoal_policy_abi_version") i32 (i32.const 1))
  (func (export "decide") (result i64) (i64.const 0x7777)))"#;
const INFINITE_LOOP: &str = r#"(module (global (export "shoal_policy_abi_version") i32 (i32.const 1))
  (func (export "decide") (result i64) (loop $l (br $l)) (i64.const 0)))"#;
const MEMORY_BOMB: &str = r#"(module (global (export "shoal_policy_abi_version") i32 (i32.const 1))
  (memory 1)
  (func (export "decide") (result i64)
    (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) (i64.const 0)))"#;
const TRAP: &str = r#"(module (global (export "shoal_policy_abi_version") i32 (i32.const 1))
  (func (export "decide") (result i64) unreachable))"#;

#[tokio::test]
async fn failing_modules_are_decided_by_the_failure_setting_and_counted() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    for wat in [GARBAGE, INFINITE_LOOP, MEMORY_BOMB, TRAP] {
        swap(&env, Some(module_of(wat, OnFailure::Serve)), "alice");
        let (status, _, _) = env.get("/repos/octo-org/hello-world", None).await;
        assert_eq!(status, 200, "served as if there were no module: {wat}");
        swap(&env, Some(module_of(wat, OnFailure::FallbackLocal)), "alice");
        let (status, _, body) = env.get("/repos/octo-org/hello-world", None).await;
        assert_eq!(status, 403, "{wat}");
        assert!(text(&body).contains("fallback_local"), "{wat}");
    }
    let failures = &env.stats()["policy_module"]["failures"];
    assert_eq!(failures["garbage"], 2);
    assert_eq!(failures["memory"], 2);
    assert_eq!(failures["trap"], 2);
    let stopped = failures["fuel"].as_u64().unwrap_or(0) + failures["timeout"].as_u64().unwrap_or(0);
    assert_eq!(stopped, 2, "{failures}");
    assert_eq!(env.gh.stats().calls, 1, "one fetch, then hits");
}

#[test]
fn a_module_importing_outside_shoal_or_too_large_is_refused_when_the_worker_loads_it() {
    let dir = tempfile::tempdir().unwrap();
    let forbidden = dir.path().join("wasi.wat");
    std::fs::write(
        &forbidden,
        r#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
             (global (export "shoal_policy_abi_version") i32 (i32.const 1))
             (func (export "decide") (result i64) (i64.const 0)))"#,
    )
    .unwrap();
    let big = dir.path().join("big.wasm");
    std::fs::write(&big, [b"\0asm\x01\0\0\0".as_slice(), &vec![0u8; 2 << 20]].concat()).unwrap();
    let token = dir.path().join("t");
    std::fs::write(&token, "ghp_x").unwrap();
    let parts = |policy: &std::path::Path| {
        shoal_worker::config::Config::from_toml_str(&format!(
            "policy = \"{}\"\n[[identity]]\nid = \"a\"\ntoken = \"file:{t}\"\n[[caller]]\nname = \"c\"\ntoken = \"file:{t}\"\n",
            policy.display(),
            t = token.display()
        ))
        .unwrap()
        .into_parts()
    };
    let err = parts(&big).unwrap_err().to_string();
    assert!(err.contains("the limit is 1048576 bytes"), "{err}");
    let (_, bundle) = parts(&forbidden).unwrap();
    let err = shoal_worker::tenant::Tenant::from_bundle(&bundle)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("wasi_snapshot_preview1.proc_exit"), "{err}");
}

/// A module that copies every string fact into its memory, then scans all of its memory for the
/// first 8 bytes of `canary` (kept as an immediate, never as data): deny when found.
fn canary_scanner(canary: &str) -> String {
    let prefix = i64::from_le_bytes(canary.as_bytes()[..8].try_into().unwrap());
    let getters = [
        "method",
        "path",
        "route_class",
        "resource",
        "owner",
        "repo",
        "graphql_operation",
        "graphql_root_fields",
        "caller_token_id",
        "member_login",
    ];
    let imports: String = getters
        .iter()
        .map(|g| format!(r#"(import "shoal" "{g}" (func ${g} (param i32 i32) (result i32)))"#))
        .collect();
    let calls: String = getters
        .iter()
        .enumerate()
        .map(|(i, g)| format!("(drop (call ${g} (i32.const {}) (i32.const 1024)))", 4096 + i * 1024))
        .collect();
    format!(
        r#"(module {imports}
          (memory (export "memory") 1)
          (global (export "shoal_policy_abi_version") i32 (i32.const 1))
          (func (export "decide") (result i64)
            (local $at i32) (local $end i32)
            {calls}
            (local.set $end (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 8)))
            (block $done
              (loop $next
                (br_if $done (i32.gt_u (local.get $at) (local.get $end)))
                (if (i64.eq (i64.load (local.get $at)) (i64.const {prefix}))
                  (then (return (i64.const 1))))
                (local.set $at (i32.add (local.get $at) (i32.const 1)))
                (br $next)))
            (i64.const 0)))"#
    )
}

#[tokio::test]
async fn a_module_scanning_its_whole_memory_never_finds_a_pooled_token() {
    let mut token = String::new();
    let env = bundle::Env::start(|gh| {
        token = gh.add_token("hubot");
        vec![pat("bot", &token)]
    })
    .await;
    let scanner = canary_scanner(&token);
    // The scanner finds the canary when it is there: here, in the path it reads.
    swap(&env, Some(module_of(&scanner, OnFailure::FallbackLocal)), "alice");
    let (status, _, _) = env
        .get(&format!("/repos/octo-org/hello-world/contents/{token}"), None)
        .await;
    assert_eq!(status, 403, "the scanner works");
    for path in [
        "/repos/octo-org/hello-world",
        "/repos/octo-org/hello-world/pulls/1",
        "/repos/octo-org/hello-world",
    ] {
        let (status, _, _) = env.get(path, None).await;
        assert_eq!(status, 200, "{path}: no pooled token in the module's memory");
    }
    let stats = env.stats();
    assert_eq!(stats["policy_module"]["decisions"]["serve"], 3);
    assert_eq!(stats["policy_module"]["decisions"]["deny"], 1);
    assert!(
        stats["policy_module"]["failures"].as_object().unwrap().is_empty(),
        "{stats}"
    );
}

#[tokio::test]
async fn a_swapped_module_takes_effect_within_a_second_with_no_failed_request() {
    let env = bundle::Env::start(|gh| vec![pat("bot", &gh.add_token("hubot"))]).await;
    let url = format!("{}/repos/octo-org/hello-world", env.relay.url());
    let (client, caller) = (env.client.clone(), env.caller.clone());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = tokio::spawn({
        let stop = stop.clone();
        async move {
            let mut statuses = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = client
                    .get(&url)
                    .header("authorization", format!("token {caller}"))
                    .send()
                    .await
                    .unwrap();
                statuses.push(r.status().as_u16());
            }
            statuses
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while env.stats()["requests"]["hit"].as_u64().unwrap_or(0) < 20 {
        assert!(Instant::now() < deadline, "the reader never got going");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    swap(&env, Some(example("deny-all.wat")), "alice");
    let swapped = Instant::now();
    let deadline = swapped + Duration::from_secs(1);
    while env.stats()["policy_module"]["decisions"]["deny"].as_u64().unwrap_or(0) < 20 {
        assert!(Instant::now() < deadline, "the module was not in force within a second");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let statuses = reader.await.unwrap();
    let first_denied = statuses.iter().position(|s| *s == 403).unwrap();
    assert!(statuses[..first_denied].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(statuses[first_denied..].iter().all(|s| *s == 403), "{statuses:?}");
}
