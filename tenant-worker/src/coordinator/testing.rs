//! Fixtures for the coordinator's tests: a tenant from a list of identities, a coordinator on a
//! manual clock, and GitHub's rate-limit headers.

use super::{Coordinator, Pacing};
use crate::clock::ManualClock;
use crate::tenant::Tenant;
use axum::http::{HeaderMap, HeaderValue};
use shoal_common::protocol::{Bundle, Credential, IdentityEntry, PROTOCOL_VERSION, Policy, TenantRef};
use shoal_common::{IdentityId, Secret, TenantId};
use std::sync::Arc;

/// Identities as (name, account, scopes).
pub type Ids<'a> = [(&'a str, Option<&'a str>, &'a [&'a str])];

pub fn tenant(ids: &Ids<'_>) -> Tenant {
    Tenant::from_bundle(&bundle(ids)).unwrap()
}

/// A bundle pooling `ids`, with no caller tokens.
pub fn bundle(ids: &Ids<'_>) -> Bundle {
    Bundle {
        protocol_version: PROTOCOL_VERSION,
        version: 1,
        tenant: TenantRef {
            id: TenantId::new(),
            slug: "t".into(),
        },
        caller_tokens: vec![],
        identities: ids
            .iter()
            .map(|(name, account, scopes)| IdentityEntry {
                id: IdentityId::new(),
                name: name.to_string(),
                credential: Credential::Pat {
                    token: Secret::new("x"),
                },
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                account: account.map(str::to_string),
                enabled: true,
            })
            .collect(),
        policy: Policy::default(),
        token_pepper: Secret::new("00".repeat(32)),
        upstream: "http://x".into(),
        plan: String::new(),
        allowance: None,
        policy_module: None,
    }
}

/// GitHub's headers for a core answer.
pub fn headers(limit: u64, remaining: u64, reset_s: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset_s));
    h.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    h
}

/// A coordinator keeping a 10% reserve, synced with `ids`.
pub fn setup(ids: &Ids<'_>) -> (Coordinator, Tenant, Arc<ManualClock>) {
    paced(ids, Pacing::default())
}

/// [`setup`] with the given pacing.
pub fn paced(ids: &Ids<'_>, pacing: Pacing) -> (Coordinator, Tenant, Arc<ManualClock>) {
    let clock = ManualClock::new();
    let c = Coordinator::with_pacing(clock.clone(), 10, pacing);
    let t = tenant(ids);
    c.sync(&t);
    (c, t, clock)
}

pub fn name_of(t: &Tenant, id: IdentityId) -> String {
    t.identity(id).unwrap().name.clone()
}
