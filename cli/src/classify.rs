//! Which gh invocations are reads the relay can serve. Anything not recognised as a read runs the
//! real gh untouched: a wrong "read" verdict would send a mutation to the relay, a wrong
//! "passthrough" verdict only costs the user their own rate limit.

/// What the shim does with one gh command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Run through the relay. `takes_repo` says whether `-R owner/repo` applies to the command.
    Read { takes_repo: bool },
    /// Run the real gh untouched, for this reason.
    Passthrough(&'static str),
}

const READS: &[(&str, &[&str])] = &[
    ("pr", &["view", "list", "checks", "diff", "status"]),
    ("issue", &["view", "list", "status"]),
    ("run", &["list", "view"]),
    ("release", &["list", "view"]),
    ("repo", &["view"]),
    ("label", &["list"]),
    ("workflow", &["list", "view"]),
];

/// Flags of `gh api` that add a body (and switch the method to POST).
const API_BODY_FLAGS: &[&str] = &["-f", "-F", "--field", "--raw-field", "--input"];

/// Classifies gh's arguments (without the program name).
pub fn classify(args: &[String]) -> Verdict {
    let Some(cmd) = args.first().map(String::as_str) else {
        return Verdict::Passthrough("no command");
    };
    if has_flag(args, "--hostname") {
        return Verdict::Passthrough("--hostname chooses the host itself");
    }
    if has_flag(args, "--web") || has_flag(args, "-w") {
        return Verdict::Passthrough("--web opens a browser");
    }
    match cmd {
        "api" => classify_api(&args[1..]),
        "search" => match args.get(1).map(String::as_str) {
            Some("issues" | "prs" | "repos" | "commits" | "code") => Verdict::Read { takes_repo: false },
            _ => Verdict::Passthrough("unknown search command"),
        },
        _ => {
            let Some((_, subs)) = READS.iter().find(|(c, _)| *c == cmd) else {
                return Verdict::Passthrough("not a read command");
            };
            match args.get(1) {
                // `gh repo view` names its repository as an argument; it has no `-R`.
                Some(sub) if cmd == "repo" && sub == "view" => Verdict::Read { takes_repo: false },
                Some(sub) if subs.contains(&sub.as_str()) => Verdict::Read { takes_repo: true },
                _ => Verdict::Passthrough("not a read command"),
            }
        }
    }
}

fn classify_api(args: &[String]) -> Verdict {
    // The relay classifies GraphQL bodies itself: a mutation is refused (`fallback_local`) before
    // anything is sent, and the shim then runs it with the user's own gh.
    if args
        .iter()
        .find(|a| !a.starts_with('-'))
        .is_some_and(|e| e == "graphql")
    {
        return Verdict::Read { takes_repo: false };
    }
    let mut method: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if API_BODY_FLAGS.contains(&a)
            || API_BODY_FLAGS
                .iter()
                .any(|f| f.starts_with("--") && a.starts_with(&format!("{f}=")))
        {
            return Verdict::Passthrough("gh api with a request body");
        }
        if (a.starts_with("-f") || a.starts_with("-F")) && a.len() > 2 {
            return Verdict::Passthrough("gh api with a request body");
        }
        if a == "-X" || a == "--method" {
            method = args.get(i + 1).cloned();
            i += 1;
        } else if let Some(m) = a.strip_prefix("--method=") {
            method = Some(m.to_string());
        } else if let Some(m) = a.strip_prefix("-X").filter(|m| !m.is_empty()) {
            method = Some(m.to_string());
        }
        i += 1;
    }
    match method.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None | Some("GET") | Some("HEAD") => Verdict::Read { takes_repo: false },
        Some(_) => Verdict::Passthrough("gh api with a non-read method"),
    }
}

fn has_flag(args: &[String], flag: &str) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == flag || a.strip_prefix(flag).is_some_and(|rest| rest.starts_with('=')))
}

/// Whether the user already chose a repository.
pub fn has_repo_flag(args: &[String]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "-R" || a == "--repo" || a.starts_with("--repo=") || (a.starts_with("-R") && a.len() > 2))
}

/// Adds `-R owner/repo` before any `--`.
pub fn with_repo(args: &[String], repo: &str) -> Vec<String> {
    let mut out = args.to_vec();
    let at = out.iter().position(|a| a == "--").unwrap_or(out.len());
    out.splice(at..at, ["-R".to_string(), repo.to_string()]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Verdict {
        classify(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn everyday_reads_go_to_the_relay() {
        for cmd in [
            "pr view 1",
            "pr list --state open",
            "pr checks 12",
            "pr diff 3",
            "pr status",
            "issue list",
            "issue view 2",
            "run list",
            "run view 99 --log",
            "release view v1.0.0",
            "release list",
            "label list",
            "workflow list",
        ] {
            assert_eq!(v(cmd), Verdict::Read { takes_repo: true }, "{cmd}");
        }
        assert_eq!(v("search issues bug"), Verdict::Read { takes_repo: false });
        assert_eq!(v("repo view o/r"), Verdict::Read { takes_repo: false });
        assert_eq!(v("api repos/o/r/pulls"), Verdict::Read { takes_repo: false });
        assert_eq!(
            v("api --paginate repos/o/r/issues"),
            Verdict::Read { takes_repo: false }
        );
        assert_eq!(v("api -X GET repos/o/r"), Verdict::Read { takes_repo: false });
        assert_eq!(v("api --method=head repos/o/r"), Verdict::Read { takes_repo: false });
        assert_eq!(
            v("api graphql -f query={viewer{login}}"),
            Verdict::Read { takes_repo: false }
        );
    }

    #[test]
    fn mutations_and_everything_else_pass_through() {
        for cmd in [
            "",
            "issue create --title x",
            "pr merge 1",
            "pr comment 1 --body hi",
            "auth login",
            "auth status",
            "config set editor vim",
            "extension install foo",
            "some-alias",
            "api -X POST repos/o/r/issues",
            "api --method PATCH repos/o/r",
            "api repos/o/r/issues -f title=x",
            "api repos/o/r/issues -Ftitle=x",
            "api repos/o/r/issues --raw-field=title=x",
            "api --input body.json repos/o/r/issues",
            "api -f query={viewer{login}} graphql",
            "label create bug",
            "workflow run ci.yml",
            "api --hostname github.com repos/o/r",
            "pr view 1 --web",
            "search nothing",
        ] {
            assert!(matches!(v(cmd), Verdict::Passthrough(_)), "{cmd} should pass through");
        }
    }

    #[test]
    fn repo_flag_is_detected_and_added_before_double_dash() {
        let args: Vec<String> = ["pr", "view", "1"].map(String::from).to_vec();
        assert!(!has_repo_flag(&args));
        assert_eq!(with_repo(&args, "o/r"), ["pr", "view", "1", "-R", "o/r"]);
        let dd: Vec<String> = ["run", "view", "--", "x"].map(String::from).to_vec();
        assert_eq!(with_repo(&dd, "o/r"), ["run", "view", "-R", "o/r", "--", "x"]);
        for given in ["-R o/r", "--repo o/r", "--repo=o/r", "-Ro/r"] {
            let a: Vec<String> = format!("pr list {given}")
                .split_whitespace()
                .map(String::from)
                .collect();
            assert!(has_repo_flag(&a), "{given}");
        }
    }
}
