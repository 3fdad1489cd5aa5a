//! The `owner/repo` of the current git checkout. With `GH_HOST` pointing at the relay, gh ignores
//! github.com remotes, so the shim reads them itself and passes `-R`.

use std::process::Command;

/// Remotes in gh's order of preference for the base repository.
const PREFERRED: &[&str] = &["upstream", "github", "origin"];

/// `owner/repo` from a GitHub remote URL (https, ssh or scp-like), if it is one.
pub fn parse_github_remote(url: &str) -> Option<String> {
    let url = url.trim();
    let path = if let Some(rest) = url.strip_prefix("git@github.com:") {
        rest
    } else {
        let u = url::Url::parse(url).ok()?;
        if u.host_str()? != "github.com" {
            return None;
        }
        return owner_repo(u.path());
    };
    owner_repo(path)
}

fn owner_repo(path: &str) -> Option<String> {
    let path = path.trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let mut parts = path.split('/');
    let (owner, repo) = (parts.next()?, parts.next()?);
    let ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    (parts.next().is_none() && ok(owner) && ok(repo)).then(|| format!("{owner}/{repo}"))
}

/// Picks the base repo from `git remote -v` output.
pub fn pick_from_remotes(remote_v: &str) -> Option<String> {
    let remotes: Vec<(&str, String)> = remote_v
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (name, url) = (f.next()?, f.next()?);
            Some((name, parse_github_remote(url)?))
        })
        .collect();
    PREFERRED
        .iter()
        .find_map(|p| remotes.iter().find(|(n, _)| n == p))
        .or_else(|| remotes.first())
        .map(|(_, r)| r.clone())
}

/// The base repo of the checkout in the current directory, if any.
pub fn current_repo() -> Option<String> {
    let out = Command::new("git").args(["remote", "-v"]).output().ok()?;
    out.status
        .success()
        .then(|| pick_from_remotes(&String::from_utf8_lossy(&out.stdout)))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_remote_urls_of_every_shape() {
        for url in [
            "https://github.com/octo-org/hello-world.git",
            "https://github.com/octo-org/hello-world",
            "git@github.com:octo-org/hello-world.git",
            "ssh://git@github.com/octo-org/hello-world.git",
        ] {
            assert_eq!(
                parse_github_remote(url).as_deref(),
                Some("octo-org/hello-world"),
                "{url}"
            );
        }
        assert_eq!(parse_github_remote("https://gitlab.com/o/r.git"), None);
        assert_eq!(parse_github_remote("https://github.com/o"), None);
        assert_eq!(parse_github_remote("https://github.com/o/r/extra"), None);
    }

    #[test]
    fn upstream_wins_over_origin_like_gh() {
        let v = "origin\tgit@github.com:me/fork.git (fetch)\nupstream\thttps://github.com/octo-org/hello-world.git (fetch)\n";
        assert_eq!(pick_from_remotes(v).as_deref(), Some("octo-org/hello-world"));
        assert_eq!(
            pick_from_remotes("origin\tgit@github.com:me/fork.git (fetch)").as_deref(),
            Some("me/fork")
        );
        assert_eq!(pick_from_remotes("origin\thttps://example.com/x/y (fetch)"), None);
    }
}
