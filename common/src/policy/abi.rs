//! The contract between shoal and a policy module (ABI version 1), documented with a worked
//! example in the README ("Policy modules"):
//!
//! - the module exports `shoal_policy_abi_version` (an `i32` global, or a function `() -> i32`)
//!   equal to [`ABI_VERSION`], and `decide: () -> i64`, called once per request;
//! - it may import only functions of the `shoal` namespace ([`IMPORTS`]);
//! - `decide` answers a packed `i64`: the action in the low byte ([`SERVE`], [`DENY`],
//!   [`FALLBACK_LOCAL`]); for a serve, bit 8 ([`TTL_FLAG`]) says the high 32 bits are a TTL in
//!   seconds (0 = do not cache). Any other bit set is a garbage answer.

/// The ABI version this host implements.
pub const ABI_VERSION: i32 = 1;
/// The export naming the ABI version.
pub const VERSION_EXPORT: &str = "shoal_policy_abi_version";
/// The entry point.
pub const ENTRY: &str = "decide";
/// The host namespace, the only one a module may import from.
pub const NAMESPACE: &str = "shoal";
/// The memory export string getters copy into and `deny_reason`/`log` read from.
pub const MEMORY_EXPORT: &str = "memory";

/// Serve the request (from the cache when it can).
pub const SERVE: i64 = 0;
/// Refuse it with a GitHub-shaped 403 carrying the reason given to `deny_reason`.
pub const DENY: i64 = 1;
/// Tell the gh shim to read with the caller's own gh.
pub const FALLBACK_LOCAL: i64 = 2;
/// With [`SERVE`]: the high 32 bits are the TTL in seconds.
pub const TTL_FLAG: i64 = 0x100;

/// The reason of a deny when the module gave none.
pub const DEFAULT_DENY_REASON: &str = "denied by policy";

/// Every import a module may use, with its signature, as documented in the README.
pub const IMPORTS: &[(&str, &str)] = &[
    ("method", "(ptr: i32, cap: i32) -> i32"),
    ("path", "(ptr: i32, cap: i32) -> i32"),
    ("route_class", "(ptr: i32, cap: i32) -> i32"),
    ("resource", "(ptr: i32, cap: i32) -> i32"),
    ("owner", "(ptr: i32, cap: i32) -> i32"),
    ("repo", "(ptr: i32, cap: i32) -> i32"),
    ("graphql_operation", "(ptr: i32, cap: i32) -> i32"),
    ("graphql_root_fields", "(ptr: i32, cap: i32) -> i32"),
    ("caller_token_id", "(ptr: i32, cap: i32) -> i32"),
    ("member_login", "(ptr: i32, cap: i32) -> i32"),
    ("number", "() -> i64"),
    ("repo_public", "() -> i32"),
    ("default_ttl", "() -> i64"),
    ("deny_reason", "(ptr: i32, len: i32)"),
    ("log", "(level: i32, ptr: i32, len: i32)"),
];

/// What a module decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Serve; `ttl_secs` overrides the relay's TTL (0 = do not cache).
    Serve {
        ttl_secs: Option<u32>,
    },
    Deny {
        reason: String,
    },
    FallbackLocal,
}

impl Decision {
    /// A short text for the admin (`serve`, `serve ttl=3600`, `deny: ...`, `fallback_local`).
    pub fn describe(&self) -> String {
        match self {
            Decision::Serve { ttl_secs: None } => "serve".into(),
            Decision::Serve { ttl_secs: Some(t) } => format!("serve ttl={t}"),
            Decision::Deny { reason } => format!("deny: {reason}"),
            Decision::FallbackLocal => "fallback_local".into(),
        }
    }
}

/// Reads `decide`'s answer; `None` for garbage. `reason` is what the module gave `deny_reason`.
pub fn unpack(answer: i64, reason: Option<String>) -> Option<Decision> {
    let action = answer & 0xff;
    let flags = answer & 0xffff_ff00;
    match (action, flags) {
        (SERVE, 0) if answer >> 32 == 0 => Some(Decision::Serve { ttl_secs: None }),
        (SERVE, TTL_FLAG) => Some(Decision::Serve {
            ttl_secs: Some((answer >> 32) as u32),
        }),
        (DENY, 0) if answer >> 32 == 0 => Some(Decision::Deny {
            reason: reason.unwrap_or_else(|| DEFAULT_DENY_REASON.into()),
        }),
        (FALLBACK_LOCAL, 0) if answer >> 32 == 0 => Some(Decision::FallbackLocal),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_unpack_to_decisions_and_anything_else_is_garbage() {
        assert_eq!(unpack(SERVE, None), Some(Decision::Serve { ttl_secs: None }));
        assert_eq!(
            unpack((3600 << 32) | TTL_FLAG, None),
            Some(Decision::Serve { ttl_secs: Some(3600) })
        );
        assert_eq!(unpack(TTL_FLAG, None), Some(Decision::Serve { ttl_secs: Some(0) }));
        assert_eq!(
            unpack(DENY, None),
            Some(Decision::Deny {
                reason: DEFAULT_DENY_REASON.into()
            })
        );
        assert_eq!(unpack(FALLBACK_LOCAL, None), Some(Decision::FallbackLocal));
        for garbage in [3, -1, 1 << 40, DENY | TTL_FLAG, 0x200, (5 << 32) | SERVE] {
            assert_eq!(unpack(garbage, None), None, "{garbage:#x}");
        }
    }
}
