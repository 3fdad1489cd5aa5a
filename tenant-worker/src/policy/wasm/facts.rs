//! What a policy module may read about a request, from what classification and the tenant rules
//! already found. Never a token: the caller is its token's id and its member's login.

use crate::classify::{Normalized, RouteInfo};
use crate::tenant::Caller;
use shoal_common::policy::Facts;
use std::collections::BTreeSet;

/// The facts of an admitted REST read.
pub fn rest(
    method: &str,
    n: &Normalized,
    info: &RouteInfo,
    caller: &Caller,
    repo_public: Option<bool>,
    default_ttl: u64,
) -> Facts {
    Facts {
        method: method.into(),
        path: n.path_and_query(),
        route_class: info.kind.into(),
        resource: info.resource.as_str().into(),
        owner: info.owner.clone(),
        repo: info.repo.clone(),
        number: number(&n.path),
        graphql_operation: None,
        graphql_root_fields: None,
        caller_token_id: caller.id.to_string(),
        member_login: caller.user_login.clone(),
        repo_public,
        default_ttl,
    }
}

/// The facts of an admitted GraphQL query.
pub fn graphql(
    root_fields: &BTreeSet<String>,
    owner: Option<&str>,
    repo: Option<&str>,
    caller: &Caller,
    repo_public: Option<bool>,
    default_ttl: u64,
) -> Facts {
    Facts {
        method: "POST".into(),
        path: "/graphql".into(),
        route_class: "graphql".into(),
        resource: "graphql".into(),
        owner: owner.map(str::to_string),
        repo: repo.map(str::to_string),
        number: None,
        graphql_operation: Some("query".into()),
        graphql_root_fields: Some(root_fields.iter().map(String::as_str).collect::<Vec<_>>().join(",")),
        caller_token_id: caller.id.to_string(),
        member_login: caller.user_login.clone(),
        repo_public,
        default_ttl,
    }
}

/// The PR or issue number of `/repos/{owner}/{repo}/{pulls|issues}/{number}/...`.
fn number(path: &str) -> Option<u64> {
    let mut segs = path.trim_start_matches('/').split('/');
    match (segs.next(), segs.next(), segs.next(), segs.next(), segs.next()) {
        (Some("repos"), Some(_), Some(_), Some("pulls" | "issues"), Some(n)) => n.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_number_is_read_from_pull_and_issue_paths_only() {
        assert_eq!(super::number("/repos/o/r/pulls/12/files"), Some(12));
        assert_eq!(super::number("/repos/o/r/issues/7"), Some(7));
        assert_eq!(super::number("/repos/o/r/issues"), None);
        assert_eq!(super::number("/repos/o/r/commits/12"), None);
    }
}
