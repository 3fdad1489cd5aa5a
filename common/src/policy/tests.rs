//! The host against the examples and hostile modules.

use super::engine::{FUEL_PER_CALL, MAX_MODULE_BYTES};
use super::*;
use std::sync::Arc;

const DENY_ALL: &str = include_str!("../../../tenant-worker/policy-examples/deny-all.wat");
const MEMBERS_ONLY: &str = include_str!("../../../tenant-worker/policy-examples/members-only.wat");

fn program(wat: &str) -> Program {
    Program::load(wat.as_bytes()).unwrap()
}

fn wrap(body: &str) -> String {
    format!(
        r#"(module
             {body}
             (global (export "shoal_policy_abi_version") i32 (i32.const 1)))"#
    )
}

async fn decide(p: &Program, facts: Facts) -> Outcome {
    p.decide(Arc::new(facts)).await
}

fn failure(o: &Outcome) -> FailureKind {
    o.decision.as_ref().unwrap_err().kind
}

#[tokio::test]
async fn deny_all_denies_with_its_reason() {
    let o = decide(&program(DENY_ALL), Facts::default()).await;
    assert_eq!(
        o.decision,
        Ok(Decision::Deny {
            reason: "denied by policy".into()
        })
    );
    assert!(o.fuel_used < 100, "{}", o.fuel_used);
}

#[tokio::test]
async fn string_facts_are_copied_only_when_they_fit_and_logs_are_kept() {
    let p = program(MEMBERS_ONLY);
    let facts = |login: &str| Facts {
        repo: Some("octo-org/hello-world".into()),
        member_login: login.into(),
        ..Facts::default()
    };
    assert_eq!(
        decide(&p, facts("bob")).await.decision,
        Ok(Decision::Serve { ttl_secs: None })
    );
    let o = decide(&p, facts("mallory")).await;
    assert!(matches!(&o.decision, Ok(Decision::Deny { reason }) if reason.starts_with("only alice and bob")));
    assert_eq!(o.logs.len(), 1);
    assert_eq!(o.logs[0].level, "info");
    // A login longer than the module's 256-byte buffer is not copied: the module sees only its length.
    let o = decide(&p, facts(&"a".repeat(300))).await;
    assert!(matches!(o.decision, Ok(Decision::Deny { .. })));
}

#[tokio::test]
async fn nothing_a_call_leaves_in_globals_or_memory_reaches_the_next() {
    // Counts calls in a global and in memory; a reused instance would answer 2 the second time.
    let p = program(&wrap(
        r#"(memory (export "memory") 1)
           (global $calls (mut i32) (i32.const 0))
           (func (export "decide") (result i64)
             (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
             (i32.store (i32.const 8) (i32.add (i32.load (i32.const 8)) (i32.const 1)))
             (i64.or (i64.const 0x100)
               (i64.shl (i64.extend_i32_u (i32.add (global.get $calls) (i32.load (i32.const 8))))
                        (i64.const 32))))"#,
    ));
    for _ in 0..3 {
        assert_eq!(
            decide(&p, Facts::default()).await.decision,
            Ok(Decision::Serve { ttl_secs: Some(2) })
        );
    }
}

const INFINITE_LOOP: &str = r#"(func (export "decide") (result i64) (loop $l (br $l)) (i64.const 0))"#;

#[tokio::test]
async fn an_infinite_loop_is_stopped_within_its_fuel() {
    let o = decide(&program(&wrap(INFINITE_LOOP)), Facts::default()).await;
    // Fuel usually stops it first (about a millisecond); on a loaded machine the backstop may.
    assert!(matches!(failure(&o), FailureKind::Fuel | FailureKind::Timeout), "{o:?}");
    assert!(o.fuel_used <= FUEL_PER_CALL);
}

#[tokio::test]
async fn an_infinite_loop_with_unbounded_fuel_is_stopped_by_the_wall_clock_backstop() {
    let p = program(&wrap(INFINITE_LOOP)).with_fuel(u64::MAX / 4);
    let o = decide(&p, Facts::default()).await;
    assert_eq!(failure(&o), FailureKind::Timeout, "{o:?}");
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_at_the_memory_cap() {
    let grows = program(&wrap(
        r#"(memory 1)
           (func (export "decide") (result i64)
             (loop $l (br_if $l (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
             (i64.const 0))"#,
    ));
    assert_eq!(failure(&decide(&grows, Facts::default()).await), FailureKind::Memory);
    // Asking for 64 MiB up front fails at instantiation: refused when loaded.
    assert!(
        Program::load(wrap(r#"(memory 1024) (func (export "decide") (result i64) (i64.const 0))"#).as_bytes()).is_err()
    );
}

#[tokio::test]
async fn a_trap_and_a_garbage_answer_are_failures() {
    let trap = program(&wrap(r#"(func (export "decide") (result i64) unreachable)"#));
    assert_eq!(failure(&decide(&trap, Facts::default()).await), FailureKind::Trap);
    let garbage = program(&wrap(r#"(func (export "decide") (result i64) (i64.const 0x1234))"#));
    assert_eq!(failure(&decide(&garbage, Facts::default()).await), FailureKind::Garbage);
    let out_of_bounds = program(&wrap(
        r#"(import "shoal" "path" (func $path (param i32 i32) (result i32)))
           (memory (export "memory") 1)
           (func (export "decide") (result i64) (drop (call $path (i32.const 65530) (i32.const 100))) (i64.const 0))"#,
    ));
    let facts = Facts {
        path: "/repos/octo-org/hello-world".into(),
        ..Facts::default()
    };
    assert_eq!(failure(&decide(&out_of_bounds, facts).await), FailureKind::Trap);
}

#[test]
fn modules_outside_the_contract_are_refused_when_loaded() {
    let load = |wat: &str| Program::load(wat.as_bytes()).unwrap_err();
    assert!(matches!(
        load(&wrap(
            r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
               (func (export "decide") (result i64) (i64.const 0))"#
        )),
        LoadError::ForbiddenImport(i) if i == "wasi_snapshot_preview1.fd_write"
    ));
    assert!(matches!(
        load(&wrap(
            r#"(import "shoal" "token" (func)) (func (export "decide") (result i64) (i64.const 0))"#
        )),
        LoadError::UnknownImport(_)
    ));
    assert!(matches!(
        load(&wrap(
            r#"(import "shoal" "path" (func)) (func (export "decide") (result i64) (i64.const 0))"#
        )),
        LoadError::Invalid(_)
    ));
    assert!(matches!(load(&wrap("")), LoadError::MissingExport(_)));
    assert!(matches!(
        load(r#"(module (func (export "decide") (result i64) (i64.const 0)))"#),
        LoadError::MissingExport(_)
    ));
    assert!(matches!(
        load(
            r#"(module (global (export "shoal_policy_abi_version") i32 (i32.const 2)) (func (export "decide") (result i64) (i64.const 0)))"#
        ),
        LoadError::UnknownVersion(2)
    ));
    assert!(matches!(load("not wasm"), LoadError::NotWasm(_)));
    let big = wrap(&format!(
        r#"(memory 32) (data (i32.const 0) "{}") (func (export "decide") (result i64) (i64.const 0))"#,
        "x".repeat(MAX_MODULE_BYTES)
    ));
    assert!(matches!(load(&big), LoadError::TooLarge { .. }));
    // A version function works as well as a global.
    Program::load(
        br#"(module (func (export "shoal_policy_abi_version") (result i32) (i32.const 1))
                    (func (export "decide") (result i64) (i64.const 0)))"#,
    )
    .unwrap();
}
