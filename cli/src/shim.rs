//! The gh shim: reads run the real gh against the tenant's relay; everything else, and any read
//! the relay hands back (`fallback_local`) or cannot serve because it is unreachable, runs the
//! real gh untouched with the user's own auth. gh's stdout and exit code are passed through.
//!
//! `shoal gh --fresh ...` (or `SHOAL_FRESH=1`) asks the relay for fresh answers (revalidated now,
//! free when unchanged, never a HIT): `gh api` gets `-H 'Cache-Control: no-cache'`; the other
//! commands cannot add headers, so gh is given the caller token with
//! [`shoal_common::github::FRESH_MARKER`] appended, which the relay reads as the same request.

use crate::classify::{Verdict, classify, has_repo_flag, with_repo};
use crate::config::{Login, config_dir};
use crate::{real_gh, remote};
use anyhow::{Context, Result, bail};
use shoal_common::github::{FALLBACK_LOCAL, FRESH_MARKER};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// What gh prints when it cannot reach a host (Go's net/http and crypto/tls errors).
const UNREACHABLE: &[&str] = &[
    "connection refused",
    "no such host",
    "dial tcp",
    "i/o timeout",
    "connection reset",
    "tls: ",
    "x509: ",
    "HTTP 502",
    "HTTP 503",
    "HTTP 504",
];

/// Why a relayed run should be repeated against github.com, judging by gh's stderr.
pub fn fallback_reason(stderr: &str) -> Option<&'static str> {
    if stderr.contains(FALLBACK_LOCAL) {
        // gh prints `HTTP <status>: <message>`; the worker answers 429 once the month's reads are spent.
        if stderr.contains("HTTP 429") {
            return Some("the tenant's monthly allowance of relayed reads is spent");
        }
        return Some("the relay does not serve this read (private repository, viewer or policy)");
    }
    UNREACHABLE
        .iter()
        .any(|p| stderr.contains(p))
        .then_some("the relay cannot be reached")
}

fn note(msg: &str) {
    if std::env::var_os("SHOAL_QUIET").is_none_or(|v| v.is_empty() || v == "0") {
        eprintln!("shoal: {msg}");
    }
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    status.code().unwrap_or(1)
}

fn run_untouched(gh: &Path, args: &[String]) -> Result<i32> {
    let status = Command::new(gh)
        .args(args)
        .status()
        .with_context(|| format!("cannot run {}", gh.display()))?;
    Ok(exit_code(status))
}

/// The command line without a leading `--fresh`, and whether a fresh answer was asked for (that
/// flag, or `SHOAL_FRESH` set to anything but empty or `0`).
pub fn take_fresh(mut args: Vec<String>, env: Option<&std::ffi::OsStr>) -> (Vec<String>, bool) {
    let flag = args.first().is_some_and(|a| a == "--fresh");
    if flag {
        args.remove(0);
    }
    let from_env = env.is_some_and(|v| !v.is_empty() && v != "0");
    (args, flag || from_env)
}

/// `gh api` arguments asking the relay for a fresh answer.
pub fn fresh_api_args(mut args: Vec<String>) -> Vec<String> {
    args.splice(1..1, ["-H".to_string(), "Cache-Control: no-cache".to_string()]);
    args
}

/// Runs one gh command line; returns the exit code to exit with.
pub fn run(args: Vec<String>) -> Result<i32> {
    let (args, fresh) = take_fresh(args, std::env::var_os("SHOAL_FRESH").as_deref());
    let me = std::env::current_exe().context("cannot find the shoal executable")?;
    let Some(gh) = real_gh::find(std::env::var_os("PATH").as_deref(), &me) else {
        bail!(
            "the real gh is not on PATH (install the `gh` package, or set {})",
            real_gh::REAL_GH_ENV
        );
    };
    let takes_repo = match classify(&args) {
        Verdict::Passthrough(_) => return run_untouched(&gh, &args),
        Verdict::Read { takes_repo } => takes_repo,
    };
    let Some(login) = Login::load_from(&config_dir()?)? else {
        note("not logged in (run `shoal login`): running gh directly");
        return run_untouched(&gh, &args);
    };

    let mut relayed = args.clone();
    if (takes_repo && !has_repo_flag(&args)) || args.iter().any(|a| a.contains("{owner}") || a.contains("{repo}")) {
        match remote::current_repo() {
            Some(repo) if takes_repo && !has_repo_flag(&args) => relayed = with_repo(&relayed, &repo),
            Some(repo) => {
                let (owner, name) = repo.split_once('/').unwrap_or((&repo, ""));
                relayed = relayed
                    .iter()
                    .map(|a| a.replace("{owner}", owner).replace("{repo}", name))
                    .collect();
            }
            None => {
                note("no GitHub remote here to pick the repository from: running gh directly");
                return run_untouched(&gh, &args);
            }
        }
    }

    let mut token = login.token.expose().to_string();
    if fresh && args[0] == "api" {
        relayed = fresh_api_args(relayed);
    } else if fresh {
        token.push_str(FRESH_MARKER);
    }
    let mut cmd = Command::new(&gh);
    cmd.args(&relayed)
        .env("GH_HOST", &login.host)
        .env("GH_ENTERPRISE_TOKEN", &token)
        .env("GH_NO_UPDATE_NOTIFIER", "1")
        .env_remove("GITHUB_ENTERPRISE_TOKEN")
        .stderr(Stdio::piped());
    if let Some(ca) = &login.ca_file {
        cmd.env("SSL_CERT_FILE", ca);
    }
    let out = cmd
        .spawn()
        .and_then(|c| c.wait_with_output())
        .with_context(|| format!("cannot run {}", gh.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if let Some(reason) = fallback_reason(&stderr).filter(|_| !out.status.success()) {
        note(&format!("{reason}: running gh directly"));
        return run_untouched(&gh, &args);
    }
    std::io::stderr().write_all(&out.stderr).ok();
    Ok(exit_code(out.status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_is_asked_with_a_leading_flag_or_the_environment() {
        let a = |s: &str| s.split(' ').map(str::to_string).collect::<Vec<_>>();
        assert_eq!(take_fresh(a("--fresh pr view 1"), None), (a("pr view 1"), true));
        assert_eq!(take_fresh(a("pr view 1"), Some("1".as_ref())), (a("pr view 1"), true));
        assert_eq!(take_fresh(a("pr view 1"), Some("0".as_ref())), (a("pr view 1"), false));
        assert_eq!(take_fresh(a("pr view 1"), None), (a("pr view 1"), false));
        // Only a leading flag is the shim's: a later one belongs to gh.
        assert_eq!(take_fresh(a("pr view --fresh"), None), (a("pr view --fresh"), false));
        assert_eq!(
            fresh_api_args(a("api repos/o/r")),
            vec!["api", "-H", "Cache-Control: no-cache", "repos/o/r"]
        );
    }

    #[test]
    fn fallback_is_recognised_from_gh_errors() {
        assert!(
            fallback_reason("HTTP 405: shoal fallback_local: mutations use your own gh (https://x/api/v3/...)")
                .is_some()
        );
        assert!(
            fallback_reason(
                "error connecting to acme.localhost:8443\ndial tcp 127.0.0.1:8443: connect: connection refused"
            )
            .is_some()
        );
        assert_eq!(
            fallback_reason(
                "HTTP 429: fallback_local: the free plan's 50000 relayed reads for this month are used up (https://x/api/v3/...)"
            ),
            Some("the tenant's monthly allowance of relayed reads is spent")
        );
        assert!(fallback_reason("HTTP 429: API rate limit exceeded").is_none());
        assert!(fallback_reason("HTTP 404: Not Found (https://acme/api/v3/repos/o/r/pulls/99)").is_none());
        assert!(fallback_reason("no pull requests match your search").is_none());
    }
}
