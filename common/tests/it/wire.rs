//! The bundle, usage report and event page formats: any bytes, and any valid document with one
//! value replaced by arbitrary JSON, either parse or are refused, never panic; what parses
//! serialises back to the same value; a bundle's `Debug` never shows its secrets.

use proptest::prelude::*;
use serde_json::{Value, json};
use shoal_common::protocol::{Bundle, EventPage, UsageReport};

const PAT: &str = "ghp_wirecanary0123456789";
const PEPPER: &str = "pepperpepperpepperpepperpepperpepperpepperpepperpepperpepper0000";

fn bundle() -> Value {
    json!({
        "protocol_version": 1,
        "version": 7,
        "tenant": {"id": "7f1c2a52-8f62-4bd3-9b0e-1f5a1c3f0a11", "slug": "acme"},
        "caller_tokens": [{"id": "0b8f6a8e-54c4-4a0a-8d16-7e0fd3d1a0b2", "hash": "ab".repeat(32), "name": "laptop", "user_login": "alice", "expires_at": null}],
        "identities": [
            {"id": "5c1d8a7e-0d6e-4f39-9e0f-0c9b1f4f8a01", "name": "bot", "credential": {"kind": "pat", "token": PAT}, "scopes": ["octo-org"], "account": "octo-bot", "enabled": true},
            {"id": "6d2e9b8f-1e7f-4a4a-8f1a-1dac2a5a9b02", "name": "app", "credential": {"kind": "github_app", "app_id": 1, "installation_id": 2, "private_key": "-----BEGIN RSA PRIVATE KEY-----wirecanary"}, "scopes": [], "account": null, "enabled": true}
        ],
        "policy": {"allowed_owners": ["octo-org"], "public_only": false, "search_allowed": true, "token_free_reads": false, "ttl_overrides": {"fast": 20}},
        "token_pepper": PEPPER,
        "upstream": "https://api.github.com",
        "plan": "free",
        "allowance": {"reads_per_month": 50000, "reads_this_month": 12, "month_start": "2026-12-01T00:00:00Z", "upgrade_url": "https://shoal.example/t/acme/billing"},
        "policy_module": null
    })
}

fn report() -> Value {
    json!({
        "protocol_version": 1,
        "report_id": "1e0d9c8b-7a6f-4e5d-8c4b-3a2f1e0d9c8b",
        "tenant": "7f1c2a52-8f62-4bd3-9b0e-1f5a1c3f0a11",
        "bundle_version": 3,
        "period_start": "2026-12-02T10:00:00Z",
        "period_end": "2026-12-02T10:00:10Z",
        "requests": [{"caller_token": null, "route_class": "pulls", "cache_status": "HIT", "count": 9}],
        "upstream": [{"identity": "5c1d8a7e-0d6e-4f39-9e0f-0c9b1f4f8a01", "resource": "core", "calls": 2, "units": 1, "not_modified": 1}],
        "identity_health": [{"identity": "5c1d8a7e-0d6e-4f39-9e0f-0c9b1f4f8a01", "state": "cooling_down", "until": "2026-12-02T10:01:00Z", "budgets": [{"resource": "core", "limit": 5000, "remaining": 4321, "reset": null}]}],
        "policy_module": {"sha256": null, "failures": [{"kind": "fuel", "count": 1, "last_detail": "x"}], "logs": [{"level": "info", "message": "hi", "at": "2026-12-02T10:00:05Z"}]}
    })
}

fn page() -> Value {
    json!({"protocol_version": 1, "events": [{"cursor": 4, "event": "pull_request", "delivery_id": "d-1", "repository": "octo-org/hello-world", "number": 1, "head_sha": null, "ref": null, "check_suite_id": null, "check_run_id": null}], "next": 4})
}

/// Every JSON pointer in `v`.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| pointers(c, format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| pointers(c, format!("{at}/{i}"), out)),
        _ => {}
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(Value::from(u64::MAX)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        Just(Value::String("9999-12-31T23:59:59Z".into())),
        Just(Value::String("00000000-0000-0000-0000-000000000000".into())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Parses `bytes` as `T`; when it parses, the value survives a round trip.
fn parses_or_refuses<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(v) = serde_json::from_slice::<T>(bytes) {
        let again: T = serde_json::from_slice(&serde_json::to_vec(&v).unwrap()).unwrap();
        prop_assert_eq!(again, v);
    }
    Ok(())
}

fn replaced(mut doc: Value, which: prop::sample::Index, with: Value) -> Vec<u8> {
    let mut all = Vec::new();
    pointers(&doc, String::new(), &mut all);
    let at = which.get(&all);
    if at.is_empty() {
        doc = with;
    } else if let Some(slot) = doc.pointer_mut(at) {
        *slot = with;
    }
    serde_json::to_vec(&doc).unwrap()
}

#[test]
fn the_samples_are_valid_documents() {
    let b: Bundle = serde_json::from_value(bundle()).unwrap();
    assert_eq!(b.identities.len(), 2);
    let _: UsageReport = serde_json::from_value(report()).unwrap();
    let _: EventPage = serde_json::from_value(page()).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_are_parsed_or_refused_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        parses_or_refuses::<Bundle>(&bytes)?;
        parses_or_refuses::<UsageReport>(&bytes)?;
        let _ = serde_json::from_slice::<EventPage>(&bytes);
    }

    #[test]
    fn a_bundle_with_one_value_replaced_parses_round_trips_or_is_refused(which in any::<prop::sample::Index>(), with in arb_json()) {
        let bytes = replaced(bundle(), which, with);
        parses_or_refuses::<Bundle>(&bytes)?;
        if let Ok(b) = serde_json::from_slice::<Bundle>(&bytes) {
            let shown = format!("{b:?}");
            prop_assert!(!shown.contains(PAT) && !shown.contains("wirecanary") && !shown.contains(PEPPER), "{}", shown);
        }
    }

    #[test]
    fn a_usage_report_with_one_value_replaced_parses_round_trips_or_is_refused(which in any::<prop::sample::Index>(), with in arb_json()) {
        parses_or_refuses::<UsageReport>(&replaced(report(), which, with))?;
    }

    #[test]
    fn an_event_page_with_one_value_replaced_parses_or_is_refused(which in any::<prop::sample::Index>(), with in arb_json()) {
        let _ = serde_json::from_slice::<EventPage>(&replaced(page(), which, with));
    }

    #[test]
    fn truncated_documents_are_refused(cut in 0usize..4096) {
        for doc in [bundle(), report()] {
            let bytes = serde_json::to_vec(&doc).unwrap();
            let cut = cut % bytes.len();
            prop_assert!(serde_json::from_slice::<Bundle>(&bytes[..cut]).is_err());
            prop_assert!(serde_json::from_slice::<UsageReport>(&bytes[..cut]).is_err());
        }
    }
}
