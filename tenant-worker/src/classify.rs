//! Path normalisation and route classification: turns a request path and query into a canonical
//! form (or a clear 400), then decides what the route is — which rate-limit resource it spends,
//! its kind (for stats), its freshness class (for TTLs), the owner it touches, and whether it is
//! refused because it would reveal a pooled identity's own data.

use crate::route::{Freshness, Resource};

/// Longest path accepted, in bytes.
pub const MAX_PATH: usize = 1024;
/// Longest query accepted, in bytes.
pub const MAX_QUERY: usize = 2048;

/// Which URL layout the caller used; responses' links are rewritten to the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `/repos/...` (octokit `baseUrl`, PyGithub `base_url`, `GITHUB_API_URL`).
    Root,
    /// `/api/v3/repos/...` (GitHub Enterprise layout; real gh for a non-github.com host).
    Enterprise,
}

impl Layout {
    /// The prefix this layout puts before API paths.
    pub fn prefix(self) -> &'static str {
        match self {
            Layout::Root => "",
            Layout::Enterprise => "/api/v3",
        }
    }
}

/// Splits the layout prefix off a raw request path.
pub fn split_layout(raw: &str) -> (Layout, &str) {
    if raw == "/api/v3" {
        return (Layout::Enterprise, "/");
    }
    match raw.strip_prefix("/api/v3/") {
        Some(rest) => (Layout::Enterprise, &raw[raw.len() - rest.len() - 1..]),
        None => (Layout::Root, raw),
    }
}

/// A validated, canonical path and query. Owner and repo segments are lower-cased (GitHub treats
/// them case-insensitively) and query pairs are sorted by key so equivalent requests share a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// Starts with `/`, no trailing slash (except the root), no layout prefix.
    pub path: String,
    /// Canonical query without `?`, possibly empty.
    pub query: String,
}

impl Normalized {
    /// Path and query as sent upstream.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|p| p.split_once('=').or(Some((p, ""))))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    }
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Checks percent escapes and characters of one path or query component.
fn check_chars(s: &str, in_query: bool) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex_val),
                b.get(i + 2).copied().and_then(hex_val),
            ) else {
                return Err("malformed percent escape".into());
            };
            let decoded = h * 16 + l;
            if decoded < 0x20 || decoded == 0x7f {
                return Err("encoded control characters are not allowed".into());
            }
            if !in_query && matches!(decoded, b'/' | b'\\' | b'.') {
                return Err("encoded slashes, backslashes and dots are not allowed in the path".into());
            }
            i += 3;
            continue;
        }
        if !(0x21..0x7f).contains(&c) {
            return Err("control characters, spaces and non-ASCII bytes must be percent-encoded".into());
        }
        if matches!(c, b'\\' | b'"' | b'<' | b'>' | b'^' | b'`' | b'{' | b'}' | b'|' | b'#') {
            return Err(format!("character {:?} is not allowed", c as char));
        }
        i += 1;
    }
    Ok(())
}

/// Query parameters that would carry credentials; refused so they never reach a key or a log.
const CREDENTIAL_PARAMS: &[&str] = &["access_token", "client_id", "client_secret"];

/// Validates and canonicalises a path (without layout prefix) and its query.
pub fn normalize(path: &str, query: Option<&str>) -> Result<Normalized, String> {
    if path.len() > MAX_PATH {
        return Err(format!("path is longer than {MAX_PATH} bytes"));
    }
    if !path.starts_with('/') {
        return Err("path must start with /".into());
    }
    check_chars(path, false)?;
    let trimmed = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    let mut path = String::with_capacity(trimmed.len());
    if trimmed != "/" {
        // Owner and repo names are case-insensitive on GitHub.
        let repos = trimmed.starts_with("/repos/");
        for (i, seg) in trimmed.split('/').skip(1).enumerate() {
            match seg {
                "" => return Err("empty path segments (//) are not allowed".into()),
                "." | ".." => return Err("dot segments (. and ..) are not allowed".into()),
                s => {
                    path.push('/');
                    if repos && (i == 1 || i == 2) {
                        path.extend(s.chars().map(|c| c.to_ascii_lowercase()));
                    } else {
                        path.push_str(s);
                    }
                }
            }
        }
    }
    if path.is_empty() {
        path.push('/');
    }

    let query = query.unwrap_or("");
    if query.len() > MAX_QUERY {
        return Err(format!("query is longer than {MAX_QUERY} bytes"));
    }
    check_chars(query, true)?;
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    for p in &pairs {
        let key = p.split('=').next().unwrap_or("");
        if CREDENTIAL_PARAMS.contains(&key) {
            return Err(format!(
                "query parameter {key} is not accepted: authenticate with a header"
            ));
        }
    }
    pairs.sort_by(|a, b| {
        let ka = a.split('=').next().unwrap_or("");
        let kb = b.split('=').next().unwrap_or("");
        ka.cmp(kb)
    });
    Ok(Normalized {
        path,
        query: pairs.join("&"),
    })
}

/// A route the relay serves from the cache or the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub resource: Resource,
    /// `pulls`, `issues`, `checks`, `actions`, `contents`, `commits`, `git`, `repos`, `search`,
    /// `meta` — the usage report's route class.
    pub kind: &'static str,
    pub freshness: Freshness,
    /// Lower-cased owner for `/repos/{owner}/...`.
    pub owner: Option<String>,
    /// Lower-cased `owner/repo` for `/repos/{owner}/{repo}/...`.
    pub repo: Option<String>,
    /// The id in `/repositories/{id}/...`.
    pub repo_id: Option<u64>,
}

/// What a normalised path is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Relay(RouteInfo),
    /// `/rate_limit`: answered by the relay for the whole pool.
    RateLimit,
    /// Outside the relayed surface or identity-revealing: never relayed.
    Refused(String),
}

/// Whether `s` is a full commit SHA.
pub fn is_sha(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Repo sub-routes that need admin rights or describe the identity itself.
const REFUSED_REPO_ROUTES: &[&str] = &[
    "hooks",
    "keys",
    "invitations",
    "collaborators",
    "secret-scanning",
    "dependabot",
    "code-scanning",
    "traffic",
    "subscription",
    "notifications",
    "autolinks",
    "rulesets",
];

fn refused(what: &str) -> Route {
    Route::Refused(format!(
        "{what} is not relayed through pooled identities (it would reveal their own data or is outside shoal's read surface); use your own credentials"
    ))
}

fn classify_repo_rest(n: &Normalized, rest: &[&str]) -> Result<(&'static str, Freshness), Route> {
    if let Some(first) = rest.first() {
        if REFUSED_REPO_ROUTES.contains(first) {
            return Err(refused(&format!("the repository's {first}")));
        }
        if rest
            .iter()
            .any(|s| *s == "secrets" || *s == "variables" || *s == "runners")
        {
            return Err(refused("a repository's secrets, variables or runners"));
        }
    }
    let c = match rest {
        [] => ("repos", Freshness::Slow),
        ["pulls", ..] => ("pulls", Freshness::Fast),
        ["issues", ..] => ("issues", Freshness::Fast),
        ["check-runs" | "check-suites" | "statuses", ..] => ("checks", Freshness::Fast),
        ["commits", sha] if is_sha(sha) => ("commits", Freshness::Immutable),
        ["commits", _, "status" | "statuses" | "check-runs" | "check-suites", ..] => ("checks", Freshness::Fast),
        ["commits"] => ("commits", Freshness::Fast),
        ["commits", ..] => ("commits", Freshness::Fast),
        ["git", "commits" | "trees" | "blobs" | "tags", sha] if is_sha(sha) => ("git", Freshness::Immutable),
        ["git", ..] => ("git", Freshness::Fast),
        ["actions", ..] => ("actions", Freshness::Fast),
        ["contents" | "readme", ..] => {
            if n.query_value("ref").is_some_and(is_sha) {
                ("contents", Freshness::Immutable)
            } else {
                ("contents", Freshness::Slow)
            }
        }
        ["compare", spec] => match spec.split_once("...") {
            Some((a, b)) if is_sha(a) && is_sha(b) => ("commits", Freshness::Immutable),
            _ => ("commits", Freshness::Fast),
        },
        ["events", ..] | ["deployments", ..] => ("repos", Freshness::Fast),
        [_] => ("repos", Freshness::List),
        _ => ("repos", Freshness::Slow),
    };
    Ok(c)
}

const META_ROUTES: &[&str] = &[
    "meta",
    "emojis",
    "zen",
    "octocat",
    "versions",
    "licenses",
    "gitignore",
    "codes_of_conduct",
];

/// Classifies a normalised path.
pub fn classify(n: &Normalized) -> Route {
    let segs = n.segments();
    match segs.as_slice() {
        [] => meta(),
        ["rate_limit"] => Route::RateLimit,
        ["repos", owner, repo, rest @ ..] => match classify_repo_rest(n, rest) {
            Ok((kind, freshness)) => Route::Relay(RouteInfo {
                resource: Resource::Core,
                kind,
                freshness,
                owner: Some(owner.to_string()),
                repo: Some([*owner, "/", *repo].concat()),
                repo_id: None,
            }),
            Err(r) => r,
        },
        ["repos", ..] => refused("this repos path"),
        ["repositories", id, rest @ ..] => {
            let Ok(id) = id.parse::<u64>() else {
                return Route::Refused("a /repositories/ path needs a numeric id".into());
            };
            match classify_repo_rest(n, rest) {
                Ok((kind, freshness)) => Route::Relay(RouteInfo {
                    resource: Resource::Core,
                    kind,
                    freshness,
                    owner: None,
                    repo: None,
                    repo_id: Some(id),
                }),
                Err(r) => r,
            }
        }
        ["search", kind] => Route::Relay(RouteInfo {
            resource: if *kind == "code" {
                Resource::CodeSearch
            } else {
                Resource::Search
            },
            kind: "search",
            freshness: Freshness::Search,
            owner: None,
            repo: None,
            repo_id: None,
        }),
        [first, ..] if META_ROUTES.contains(first) => meta(),
        [first, ..] => refused(&format!("/{first}")),
    }
}

fn meta() -> Route {
    Route::Relay(RouteInfo {
        resource: Resource::Core,
        kind: "meta",
        freshness: Freshness::Meta,
        owner: None,
        repo: None,
        repo_id: None,
    })
}

/// Percent-decodes, replacing invalid UTF-8.
pub fn percent_decode_lossy(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex_val),
                b.get(i + 2).copied().and_then(hex_val),
            )
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<Normalized, String> {
        let (path, query) = match p.split_once('?') {
            Some((a, b)) => (a, Some(b)),
            None => (p, None),
        };
        normalize(path, query)
    }

    fn relay(p: &str) -> RouteInfo {
        match classify(&norm(p).unwrap()) {
            Route::Relay(r) => r,
            other => panic!("{p}: {other:?}"),
        }
    }

    #[test]
    fn layouts_are_split() {
        assert_eq!(split_layout("/api/v3/repos/a/b"), (Layout::Enterprise, "/repos/a/b"));
        assert_eq!(split_layout("/api/v3"), (Layout::Enterprise, "/"));
        assert_eq!(split_layout("/repos/a/b"), (Layout::Root, "/repos/a/b"));
        assert_eq!(split_layout("/api/v30/x"), (Layout::Root, "/api/v30/x"));
    }

    #[test]
    fn traversal_encoded_slashes_and_control_characters_are_rejected() {
        for bad in [
            "/repos/a/../b",
            "/repos/a/./b",
            "/repos/a/%2e%2e/b",
            "/repos/a%2Fb/c",
            "/repos/a%5cb/c",
            "/repos/a//b",
            "/repos/a/b%00",
            "/repos/a/b%0a",
            "/repos/a/b%zz",
            "/repos/a/b\\c",
            "/repos/a/b?x=%0d",
            "/repos/a/b?access_token=abc",
        ] {
            assert!(norm(bad).is_err(), "{bad} was accepted");
        }
        assert!(norm(&format!("/repos/{}", "a".repeat(MAX_PATH))).is_err());
        assert!(norm(&format!("/zen?q={}", "a".repeat(MAX_QUERY))).is_err());
    }

    #[test]
    fn owner_and_repo_are_lowercased_and_query_sorted() {
        let n = norm("/repos/Octo-Org/Hello-World/pulls/?state=open&per_page=5&&").unwrap();
        assert_eq!(n.path, "/repos/octo-org/hello-world/pulls");
        assert_eq!(n.query, "per_page=5&state=open");
        assert_eq!(
            n.path_and_query(),
            "/repos/octo-org/hello-world/pulls?per_page=5&state=open"
        );
    }

    #[test]
    fn freshness_classes() {
        let sha = "a".repeat(40);
        assert_eq!(
            relay(&format!("/repos/o/r/commits/{sha}")).freshness,
            Freshness::Immutable
        );
        assert_eq!(
            relay(&format!("/repos/o/r/git/trees/{sha}")).freshness,
            Freshness::Immutable
        );
        assert_eq!(
            relay(&format!("/repos/o/r/contents/README.md?ref={sha}")).freshness,
            Freshness::Immutable
        );
        assert_eq!(relay("/repos/o/r/contents/README.md").freshness, Freshness::Slow);
        assert_eq!(
            relay(&format!("/repos/o/r/commits/{sha}/check-runs")).freshness,
            Freshness::Fast
        );
        assert_eq!(relay("/repos/o/r/pulls/1").freshness, Freshness::Fast);
        assert_eq!(relay("/repos/o/r/pulls").kind, "pulls");
        assert_eq!(relay("/repos/o/r/actions/runs").kind, "actions");
        assert_eq!(relay("/repos/o/r/releases").freshness, Freshness::List);
        assert_eq!(relay("/repos/o/r").freshness, Freshness::Slow);
        assert_eq!(relay("/meta").freshness, Freshness::Meta);
    }

    #[test]
    fn resources_and_owners() {
        let r = relay("/repos/Octo-Org/hello-world/issues/2");
        assert_eq!(r.resource, Resource::Core);
        assert_eq!(r.owner.as_deref(), Some("octo-org"));
        assert_eq!(r.repo.as_deref(), Some("octo-org/hello-world"));
        assert_eq!(relay("/search/issues?q=repo:o/r").resource, Resource::Search);
        assert_eq!(relay("/search/code?q=x").resource, Resource::CodeSearch);
        assert_eq!(relay("/repositories/42/pulls").repo_id, Some(42));
        assert_eq!(classify(&norm("/rate_limit").unwrap()), Route::RateLimit);
    }

    #[test]
    fn identity_revealing_routes_are_refused() {
        for p in [
            "/user",
            "/user/repos",
            "/notifications",
            "/gists",
            "/gists/abc",
            "/orgs/octo-org/members",
            "/installation/repositories",
            "/authorizations",
            "/repos/o/r/hooks",
            "/repos/o/r/collaborators",
            "/repos/o/r/actions/secrets",
            "/repos/o/r/environments/prod/secrets",
            "/repos/o/r/subscription",
            "/repositories/abc/pulls",
        ] {
            assert!(
                matches!(classify(&norm(p).unwrap()), Route::Refused(_)),
                "{p} was not refused"
            );
        }
    }
}
