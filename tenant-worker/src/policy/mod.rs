//! The tenant's rules, applied between classification and the cache: allowed owners, search
//! (enabled, and limited to allowed owners by one reading of its qualifiers), the public-only
//! guard, and which GraphQL roots go through the pool. Every relayed read passes [`admit_rest`]
//! or [`admit_named`]; the tenant's WebAssembly policy plugs in there. Refusals answer
//! `fallback_local` so the shim reads with the caller's own credentials instead.

pub mod knowledge;
pub mod wasm;

use crate::classify::{Normalized, RouteInfo, percent_decode_lossy};
use crate::error::Error;
use crate::graphql::RootCall;
use crate::tenant::Tenant;
use knowledge::Knowledge;
use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

/// How the rules learn whether a repository is public when [`Knowledge`] does not say.
pub trait Visibility {
    /// Whether `owner/repo` is public.
    fn is_public(&self, repo: &str) -> impl Future<Output = Result<bool, Error>> + Send;
}

/// Admits a REST read, resolving a `/repositories/{id}` route to the repository it names and
/// `@me` in a search to `login`, the caller's (see [`resolve_me`]).
pub async fn admit_rest(
    tenant: &Tenant,
    knowledge: &Knowledge,
    visibility: &impl Visibility,
    mut info: RouteInfo,
    n: &mut Normalized,
    login: &str,
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
        resolve_me_rest(n, login)?;
        check_search(tenant, &rest_search_text(&n.query))?;
    }
    if let Some(repo) = &info.repo {
        check_public(tenant, visibility, repo).await?;
    }
    Ok(info)
}

/// Whether [`admit_rest`] may rewrite this route (a repository id to resolve, `@me` in a search);
/// any other route [`admit_resolved_rest`] admits or refuses as it is, with the same checks.
pub fn needs_resolving(info: &RouteInfo) -> bool {
    info.repo_id.is_some() || info.kind == "search"
}

/// [`admit_rest`] for a route that does not [`needs_resolving`]: its owner must be allowed and,
/// under the public-only guard, its repository public. The REST hit path calls it with a route
/// remembered from an earlier request, so the tenant's rules in force decide every request.
pub async fn admit_resolved_rest(tenant: &Tenant, visibility: &impl Visibility, info: &RouteInfo) -> Result<(), Error> {
    debug_assert!(!needs_resolving(info));
    if let Some(owner) = &info.owner {
        check_owner(tenant, owner)?;
    }
    if let Some(repo) = &info.repo {
        check_public(tenant, visibility, repo).await?;
    }
    Ok(())
}

/// The owner and repository an identity must be scoped for to serve a GraphQL query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub owner: Option<String>,
    pub repo: Option<String>,
    /// Root fields' answer keys (under `data`) that hold one repository's objects, with that
    /// `owner/repo`: where the answer teaches node ids.
    pub repo_roots: Vec<(String, String)>,
}

/// What [`admit_named`] reads from a GraphQL query's root calls alone, worked out once per prepared body:
/// each root's step in order (up to the first refusal) and, when no root names node ids (their
/// repositories are looked up per request), the scope and repositories they lead to.
#[derive(Debug, PartialEq)]
pub struct Named {
    steps: Vec<Step>,
    fixed: Option<(Arc<Scope>, Vec<String>)>,
}

#[derive(Debug, PartialEq)]
enum Step {
    /// `repository`: the root's answer key and the `owner/name` it reads.
    Repo { key: String, repo: String },
    /// `node` / `nodes`.
    Nodes(RootCall),
    /// `search`, its text.
    Search(String),
    /// A root refused whatever the tenant's rules: the message, and whether the request is bad
    /// (else it stays with the caller's own credentials).
    Refuse { bad_request: bool, message: String },
}

impl Named {
    /// The scope, when it does not depend on the request.
    pub fn fixed_scope(&self) -> Option<&Scope> {
        self.fixed.as_ref().map(|(scope, _)| &**scope)
    }
}

/// The [`Named`] of `calls`.
pub fn name_graphql(calls: &[RootCall]) -> Named {
    let mut steps = Vec::new();
    for call in calls {
        let step = match call.name.as_str() {
            n if n.starts_with("__") || n == "rateLimit" => continue,
            "repository" => match (call.arg_lower("owner"), call.arg_lower("name")) {
                (Some(owner), Some(name)) => Step::Repo {
                    key: call.key.clone(),
                    repo: format!("{owner}/{name}"),
                },
                _ => Step::Refuse {
                    bad_request: true,
                    message: "repository needs owner and name arguments (literals or variables)".into(),
                },
            },
            "node" | "nodes" => Step::Nodes(call.clone()),
            "search" => Step::Search(
                call.args
                    .get("query")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
            other => Step::Refuse {
                bad_request: false,
                message: format!(
                    "the GraphQL root field {other} is not relayed through pooled identities; use your own credentials"
                ),
            },
        };
        let refused = matches!(step, Step::Refuse { .. });
        steps.push(step);
        if refused {
            break;
        }
    }
    let fixed = steps
        .iter()
        .all(|s| matches!(s, Step::Repo { .. } | Step::Search(_)))
        .then(|| walk(&steps, None, None).ok())
        .flatten()
        .map(|(scope, repos)| (Arc::new(scope), repos));
    Named { steps, fixed }
}

/// Admits a GraphQL query by its root fields ([`name_graphql`]): `repository` of an allowed
/// owner, `node`/`nodes` whose every id is known to belong to a repository of an allowed owner,
/// `search` limited to allowed owners, `rateLimit` and introspection; any other root is refused.
/// The checks run in the order the roots come. The scope is the one repository or owner the
/// query names, else none (then only unscoped identities serve it).
pub async fn admit_named(
    tenant: &Tenant,
    knowledge: &Knowledge,
    visibility: &impl Visibility,
    named: &Named,
) -> Result<Arc<Scope>, Error> {
    let (scope, repos) = match &named.fixed {
        Some((scope, repos)) => {
            for step in &named.steps {
                match step {
                    Step::Repo { repo, .. } => check_owner(tenant, owner_of(repo))?,
                    Step::Search(text) => {
                        check_search(tenant, text)?;
                    }
                    Step::Nodes(_) | Step::Refuse { .. } => unreachable!("a fixed scope has neither"),
                }
            }
            (scope.clone(), Cow::Borrowed(repos.as_slice()))
        }
        None => {
            let (scope, repos) = walk(&named.steps, Some(tenant), Some(knowledge))?;
            (Arc::new(scope), Cow::Owned(repos))
        }
    };
    for repo in repos.iter() {
        check_public(tenant, visibility, repo).await?;
    }
    Ok(scope)
}

fn owner_of(repo: &str) -> &str {
    repo.split('/').next().unwrap_or_default()
}

/// The scope `steps` lead to and the repositories they read (sorted, once each), running the
/// tenant's checks when given one.
fn walk(steps: &[Step], tenant: Option<&Tenant>, knowledge: Option<&Knowledge>) -> Result<(Scope, Vec<String>), Error> {
    let mut owners: Vec<String> = Vec::new();
    let mut repos: Vec<String> = Vec::new();
    let mut repo_roots: Vec<(String, String)> = Vec::new();
    for step in steps {
        let (key, mut named) = match step {
            Step::Repo { key, repo } => (key, vec![repo.clone()]),
            Step::Nodes(call) => {
                let knowledge = knowledge.ok_or(Error::Internal)?;
                (&call.key, node_repos(knowledge, call)?)
            }
            Step::Search(text) => {
                owners.extend(match tenant {
                    Some(t) => check_search(t, text)?,
                    None => search_owners(text),
                });
                continue;
            }
            Step::Refuse { bad_request, message } => {
                return Err(if *bad_request {
                    Error::BadRequest(message.clone())
                } else {
                    Error::FallbackLocal(message.clone())
                });
            }
        };
        named.sort();
        named.dedup();
        // A `nodes` answer spanning several repositories teaches nothing: which id is whose is lost.
        if let [only] = named.as_slice() {
            repo_roots.push((key.clone(), only.clone()));
        }
        for repo in named {
            let owner = owner_of(&repo).to_string();
            if let Some(t) = tenant {
                check_owner(t, &owner)?;
            }
            repos.push(repo);
            owners.push(owner);
        }
    }
    owners.sort();
    owners.dedup();
    repos.sort();
    repos.dedup();
    let scope = match (owners.as_slice(), repos.as_slice()) {
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
    };
    Ok((scope, repos))
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

/// A pooled identity would read `@me` as itself, so `@me` in a search must be the caller's
/// login before one sends it; a caller whose login is unknown here reads with their own gh.
fn login_for_me(login: &str) -> Result<&str, Error> {
    if login.is_empty() {
        Err(Error::FallbackLocal(
            "this search names @me and the caller's login is not known here; search with your own credentials".into(),
        ))
    } else {
        Ok(login)
    }
}

/// Rewrites the `q` of a REST search with `@me` resolved to `login`.
fn resolve_me_rest(n: &mut Normalized, login: &str) -> Result<(), Error> {
    let mut pairs: Vec<String> = n.query.split('&').map(str::to_string).collect();
    for pair in &mut pairs {
        let Some(q) = pair.strip_prefix("q=") else { continue };
        if let Some(text) = resolve_me(&percent_decode_lossy(&q.replace('+', " ")), login)? {
            *pair = format!("q={}", form_encode(&text));
        }
    }
    n.query = pairs.join("&");
    Ok(())
}

/// Rewrites the `search(query:)` texts of a GraphQL body with `@me` resolved to `login`: the new
/// body, or `None` when no search of `calls` names `@me`.
pub fn resolve_me_graphql(body: &[u8], calls: &[RootCall], login: &str) -> Result<Option<Vec<u8>>, Error> {
    let names_me = calls.iter().any(|c| {
        c.name == "search"
            && c.args
                .get("query")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|t| !me_values(t).is_empty())
    });
    if !names_me {
        return Ok(None);
    }
    let login = login_for_me(login)?;
    crate::graphql::rewrite_search_texts(body, |text| resolve_me(text, login).ok().flatten())
        .map_err(|e| Error::BadRequest(e.to_string()))
}

/// Rewrites `filterBy: {assignee|createdBy|mentioned: "@me"}` of a GraphQL body (literal or from
/// variables) to `login`, so a pooled identity never answers for itself: the new body, or `None`
/// when no filter names `@me`.
pub fn resolve_me_filter_by(body: &[u8], login: &str) -> Result<Option<Vec<u8>>, Error> {
    let resolved =
        crate::graphql::rewrite_filter_by_users(body, |v| v.eq_ignore_ascii_case("@me").then(|| login.to_string()))
            .map_err(|e| Error::BadRequest(e.to_string()))?;
    if resolved.is_some() {
        login_for_me(login)?;
    }
    Ok(resolved)
}

/// `text` with every `@me` qualifier value (`author:@me`, `-assignee:"@me"`...) replaced by
/// `login`; `None` when it has none.
pub fn resolve_me(text: &str, login: &str) -> Result<Option<String>, Error> {
    let at = me_values(text);
    if at.is_empty() {
        return Ok(None);
    }
    Ok(Some(replace_at(text, &at, login_for_me(login)?)))
}

/// Byte offsets of `@me` (any case) as a qualifier's whole value: after `:` or `:"`, before the
/// end, a space, `"`, `,` or `)`. Every qualifier counts, not only the documented ones
/// (`author`, `assignee`, `review-requested`, `mentions`, `involves`, `user`...): GitHub would read
/// any of them as the pooled identity.
fn me_values(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(2))
        .filter(|&i| b[i] == b'@' && b[i + 1..i + 3].eq_ignore_ascii_case(b"me"))
        .filter(|&i| {
            let before = &b[..i];
            let after = b.get(i + 3).copied();
            (before.ends_with(b":") || before.ends_with(b":\""))
                && matches!(after, None | Some(b'"' | b',' | b')' | b' ' | b'\t' | b'\n' | b'\r'))
        })
        .collect()
}

fn replace_at(text: &str, at: &[usize], login: &str) -> String {
    let mut out = String::with_capacity(text.len() + at.len() * login.len());
    let mut from = 0;
    for &i in at {
        out.push_str(&text[from..i]);
        out.push_str(login);
        from = i + 3;
    }
    out.push_str(&text[from..]);
    out
}

/// `application/x-www-form-urlencoded` encoding of a query value (space as `+`).
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
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
    // Resolved before it comes here; a text still naming @me would be the pooled identity's view.
    if !me_values(text).is_empty() {
        return Err(Error::FallbackLocal(
            "this search names @me where the relay cannot resolve it; search with your own credentials".into(),
        ));
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

    struct Visible(bool);

    impl Visibility for Visible {
        async fn is_public(&self, _: &str) -> Result<bool, Error> {
            Ok(self.0)
        }
    }

    fn tenant(rules: &str) -> Tenant {
        let dir = tempfile::tempdir().unwrap();
        let (id, caller) = (dir.path().join("id"), dir.path().join("caller"));
        std::fs::write(&id, "ghp_x").unwrap();
        std::fs::write(&caller, shoal_common::token::generate_token().unwrap().expose()).unwrap();
        let toml = format!(
            "upstream = \"http://up\"\n{rules}\n[[identity]]\nid = \"bot\"\ntoken = \"file:{}\"\n[[caller]]\nname = \"c\"\ntoken = \"file:{}\"\n",
            id.display(),
            caller.display()
        );
        let (_, bundle) = crate::config::Config::from_toml_str(&toml)
            .unwrap()
            .into_parts()
            .unwrap();
        Tenant::from_bundle(&bundle).unwrap()
    }

    #[test]
    fn a_scope_named_once_is_admitted_as_the_full_walk_admits_it() {
        let tenants = [
            tenant("allowed_owners = [\"octo-org\"]"),
            tenant("allowed_owners = [\"octo-org\"]\nsearch_allowed = true"),
            tenant("allowed_owners = [\"octo-org\", \"acme\"]\nsearch_allowed = true\npublic_only = true"),
        ];
        let queries = [
            r#"{ repository(owner: "Octo-Org", name: "Hello") { id } }"#,
            r#"{ repository(owner: "someone", name: "x") { id } }"#,
            r#"{ a: repository(owner: "octo-org", name: "x") { id } b: repository(owner: "acme", name: "y") { id } }"#,
            r#"{ search(query: "repo:octo-org/x is:pr", type: ISSUE, first: 5) { issueCount } }"#,
            r#"{ search(query: "is:pr", type: ISSUE, first: 5) { issueCount } repository(owner: "octo-org", name: "x") { id } }"#,
            r#"{ repository(owner: "someone", name: "x") { id } user(login: "x") { id } }"#,
            r#"{ repository(owner: "octo-org", name: "x") { id } other: repository(owner: "octo-org") { id } }"#,
            r#"{ rateLimit { remaining } __typename repository(owner: "acme", name: "z") { id } }"#,
            r#"{ node(id: "R_unknown") { id } }"#,
        ];
        let knowledge = Knowledge::default();
        for (i, t) in tenants.iter().enumerate() {
            for q in queries {
                let body = serde_json::json!({ "query": q }).to_string();
                let calls = crate::graphql::classify(body.as_bytes()).unwrap().root_calls;
                let named = name_graphql(&calls);
                for public in [true, false] {
                    let vis = Visible(public);
                    let got = futures::executor::block_on(admit_named(t, &knowledge, &vis, &named))
                        .map(|s| (*s).clone())
                        .map_err(|e| e.to_string());
                    let walked = walk(&named.steps, Some(t), Some(&knowledge)).map_err(|e| e.to_string());
                    let full = walked.and_then(|(scope, repos)| {
                        for repo in &repos {
                            futures::executor::block_on(check_public(t, &vis, repo)).map_err(|e| e.to_string())?;
                        }
                        Ok(scope)
                    });
                    assert_eq!(got, full, "tenant {i}, public {public}: {q}");
                }
            }
        }
    }

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
    fn me_qualifiers_resolve_to_the_callers_login() {
        let text = r#"is:pr author:@me -assignee:"@ME" (involves:@me) user:@me,x mentions:@mexico @me email@me.com"#;
        assert_eq!(
            resolve_me(text, "alice").unwrap().unwrap(),
            r#"is:pr author:alice -assignee:"alice" (involves:alice) user:alice,x mentions:@mexico @me email@me.com"#
        );
        assert_eq!(resolve_me("repo:o/r is:open", "alice").unwrap(), None);
        assert!(matches!(resolve_me("author:@me", ""), Err(Error::FallbackLocal(_))));
    }

    #[test]
    fn a_rest_search_q_is_rewritten_with_the_login() {
        let mut n = Normalized {
            path: "/search/issues".into(),
            query: "per_page=5&q=repo%3Aocto-org%2Fx+review-requested%3A%40me".into(),
        };
        resolve_me_rest(&mut n, "alice").unwrap();
        assert_eq!(n.query, "per_page=5&q=repo%3Aocto-org%2Fx+review-requested%3Aalice");
        assert_eq!(rest_search_text(&n.query), "repo:octo-org/x review-requested:alice");
        let untouched = "q=repo%3Aocto-org%2Fx";
        let mut n = Normalized {
            path: "/search/issues".into(),
            query: untouched.into(),
        };
        resolve_me_rest(&mut n, "").unwrap();
        assert_eq!(n.query, untouched);
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
