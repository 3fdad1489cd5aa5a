//! The tenant's rules, applied between classification and the cache: allowed owners, search
//! (enabled, and limited to allowed owners by one reading of its qualifiers), the public-only
//! guard, and which GraphQL roots go through the pool. Every relayed read passes [`admit_rest`]
//! or [`admit_graphql`]; the tenant's WebAssembly policy plugs in there. Refusals answer
//! `fallback_local` so the shim reads with the caller's own credentials instead.

pub mod knowledge;

use crate::classify::{Normalized, RouteInfo, percent_decode_lossy};
use crate::error::Error;
use crate::graphql::RootCall;
use crate::tenant::Tenant;
use knowledge::Knowledge;
use std::future::Future;

/// How the rules learn whether a repository is public when [`Knowledge`] does not say.
pub trait Visibility {
    /// Whether `owner/repo` is public.
    fn is_public(&self, repo: &str) -> impl Future<Output = Result<bool, Error>> + Send;
}

/// Admits a REST read, resolving a `/repositories/{id}` route to the repository it names.
pub async fn admit_rest(
    tenant: &Tenant,
    knowledge: &Knowledge,
    visibility: &impl Visibility,
    mut info: RouteInfo,
    n: &Normalized,
) -> Result<RouteInfo, Error> {
    if let Some(id) = info.repo_id {
        let Some(repo) = knowledge.repo_of(id) else {
            return Err(Error::FallbackLocal(format!(
                "repository id {id} is not known to this relay yet; read it as /repos/OWNER/REPO first"
            )));
        };
        info.owner = repo.split('/').next().map(str::to_string);
        info.repo = Some(repo);
    }
    if let Some(owner) = &info.owner {
        check_owner(tenant, owner)?;
    }
    if info.kind == "search" {
        check_search(tenant, &rest_search_text(&n.query))?;
    }
    if let Some(repo) = &info.repo {
        check_public(tenant, visibility, repo).await?;
    }
    Ok(info)
}

/// The owner and repository an identity must be scoped for to serve a GraphQL query.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scope {
    pub owner: Option<String>,
    pub repo: Option<String>,
    /// Root fields' answer keys (under `data`) that hold one repository's objects, with that
    /// `owner/repo`: where the answer teaches node ids.
    pub repo_roots: Vec<(String, String)>,
}

/// Admits a GraphQL query by its root fields: `repository` of an allowed owner, `node`/`nodes`
/// whose every id is known to belong to a repository of an allowed owner, `search` limited to
/// allowed owners, `rateLimit` and introspection; any other root is refused. The scope is the one
/// repository or owner the query names, else none (then only unscoped identities serve it).
pub async fn admit_graphql(
    tenant: &Tenant,
    knowledge: &Knowledge,
    visibility: &impl Visibility,
    calls: &[RootCall],
) -> Result<Scope, Error> {
    let mut owners: Vec<String> = Vec::new();
    let mut repos: Vec<String> = Vec::new();
    let mut repo_roots: Vec<(String, String)> = Vec::new();
    for call in calls {
        let mut named = match call.name.as_str() {
            n if n.starts_with("__") => Vec::new(),
            "rateLimit" => Vec::new(),
            "repository" => {
                let (Some(owner), Some(name)) = (call.arg_lower("owner"), call.arg_lower("name")) else {
                    return Err(Error::BadRequest(
                        "repository needs owner and name arguments (literals or variables)".into(),
                    ));
                };
                vec![format!("{owner}/{name}")]
            }
            "node" | "nodes" => node_repos(knowledge, call)?,
            "search" => {
                let text = call.args.get("query").and_then(serde_json::Value::as_str).unwrap_or("");
                owners.extend(check_search(tenant, text)?);
                Vec::new()
            }
            other => {
                return Err(Error::FallbackLocal(format!(
                    "the GraphQL root field {other} is not relayed through pooled identities; use your own credentials"
                )));
            }
        };
        named.sort();
        named.dedup();
        // A `nodes` answer spanning several repositories teaches nothing: which id is whose is lost.
        if let [only] = named.as_slice() {
            repo_roots.push((call.key.clone(), only.clone()));
        }
        for repo in named {
            let owner = repo.split('/').next().unwrap_or_default().to_string();
            check_owner(tenant, &owner)?;
            repos.push(repo);
            owners.push(owner);
        }
    }
    for repo in &repos {
        check_public(tenant, visibility, repo).await?;
    }
    owners.sort();
    owners.dedup();
    repos.sort();
    repos.dedup();
    Ok(match (owners.as_slice(), repos.as_slice()) {
        ([owner], [repo]) => Scope {
            owner: Some(owner.clone()),
            repo: Some(repo.clone()),
            repo_roots,
        },
        ([owner], []) => Scope {
            owner: Some(owner.clone()),
            repo: None,
            repo_roots,
        },
        _ => Scope {
            repo_roots,
            ..Scope::default()
        },
    })
}

/// The repositories of a `node(id:)` or `nodes(ids:)` call's ids, each of which must be known.
fn node_repos(knowledge: &Knowledge, call: &RootCall) -> Result<Vec<String>, Error> {
    let ids: Vec<&serde_json::Value> = match (call.args.get("id"), call.args.get("ids")) {
        (Some(id), None) => vec![id],
        (None, Some(serde_json::Value::Array(ids))) if !ids.is_empty() => ids.iter().collect(),
        _ => {
            return Err(Error::BadRequest(format!(
                "{} needs its id argument (a literal or a variable)",
                call.name
            )));
        }
    };
    ids.into_iter()
        .map(|id| {
            id.as_str().and_then(|id| knowledge.repo_of_node(id)).ok_or_else(|| {
                Error::FallbackLocal(
                    "a node id this relay has not seen in an answer from an allowed repository; use your own credentials"
                        .into(),
                )
            })
        })
        .collect()
}

fn check_owner(tenant: &Tenant, owner: &str) -> Result<(), Error> {
    if tenant.owner_allowed(owner) {
        Ok(())
    } else {
        Err(Error::FallbackLocal(format!(
            "owner {owner} is not among this tenant's allowed owners"
        )))
    }
}

/// A search through the pool must be enabled and limited to allowed owners: without that it
/// would search what the pooled identity itself can see. Returns the owners it is limited to.
fn check_search(tenant: &Tenant, text: &str) -> Result<Vec<String>, Error> {
    if !tenant.policy.search_allowed {
        return Err(Error::FallbackLocal("search is not enabled for this tenant".into()));
    }
    let owners = search_owners(text);
    if owners.is_empty() || owners.iter().any(|o| !tenant.owner_allowed(o)) {
        return Err(Error::FallbackLocal(
            "a search through the pool must be limited with repo:, org: or user: qualifiers naming allowed owners only"
                .into(),
        ));
    }
    Ok(owners)
}

async fn check_public(tenant: &Tenant, visibility: &impl Visibility, repo: &str) -> Result<(), Error> {
    if tenant.policy.public_only && !visibility.is_public(repo).await? {
        return Err(Error::FallbackLocal(format!(
            "{repo} is not public and this tenant relays public repositories only"
        )));
    }
    Ok(())
}

/// The search text of a REST search query (`q`, decoded).
fn rest_search_text(query: &str) -> String {
    query
        .split('&')
        .find_map(|p| p.strip_prefix("q="))
        .map(|q| percent_decode_lossy(&q.replace('+', " ")))
        .unwrap_or_default()
}

/// Owners a search text is limited to, lower-cased: those its `repo:`, `org:`, `user:` or
/// `owner:` qualifiers name, quoted or not. A negated qualifier (`-org:x`) excludes an owner
/// instead of limiting the search to it, so it names none.
pub fn search_owners(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter_map(|term| {
            let (k, v) = term.split_once(':')?;
            let v = v.trim_matches('"');
            match k.to_ascii_lowercase().as_str() {
                "repo" => v.split('/').next().map(str::to_ascii_lowercase),
                "org" | "user" | "owner" => Some(v.to_ascii_lowercase()),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_qualifiers_name_owners() {
        assert_eq!(
            search_owners("is:pr repo:Octo-Org/hello-world author:x org:other"),
            vec!["octo-org", "other"]
        );
        assert!(search_owners("hello").is_empty());
    }

    #[test]
    fn quoted_qualifiers_name_the_owner_inside_the_quotes() {
        assert_eq!(
            search_owners(r#"repo:"Octo-Org/hello-world" org:"other" user:"u""#),
            vec!["octo-org", "other", "u"]
        );
    }

    #[test]
    fn a_negated_qualifier_limits_the_search_to_no_owner() {
        assert!(search_owners("bug -org:octo-org -repo:octo-org/x").is_empty());
        assert_eq!(search_owners("repo:octo-org/x -org:other"), vec!["octo-org"]);
    }

    #[test]
    fn rest_search_text_is_the_decoded_q_parameter() {
        assert_eq!(
            search_owners(&rest_search_text(
                "per_page=5&q=is%3Apr+repo%3AOcto-Org%2Fhello-world+org:other"
            )),
            vec!["octo-org", "other"]
        );
        assert_eq!(
            search_owners(&rest_search_text("q=repo%3A%22octo-org%2Fx%22")),
            vec!["octo-org"]
        );
        assert!(search_owners(&rest_search_text("q=hello")).is_empty());
        assert_eq!(rest_search_text("per_page=5"), "");
    }
}
