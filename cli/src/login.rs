//! `shoal login`: exchanges the user's own GitHub token for a caller token of a tenant.

use crate::config::{CA_FILE, Login, config_dir, http_client, write_private};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use shoal_common::Secret;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

/// `POST /api/v1/login/exchange` body.
#[derive(Serialize)]
pub struct ExchangeIn<'a> {
    pub github_token: &'a str,
    pub tenant: &'a str,
    pub device_name: &'a str,
}

/// Its answer.
#[derive(Deserialize)]
pub struct ExchangeOut {
    pub token: Secret,
    pub tenant: String,
    pub host: String,
    pub user: String,
    /// PEM of the private CA that signs the tenant host's certificate, when it is not public.
    #[serde(default)]
    pub ca_pem: Option<String>,
}

#[derive(Deserialize)]
struct ErrorOut {
    message: String,
}

/// Options of `shoal login`.
pub struct LoginArgs {
    pub url: String,
    pub tenant: Option<String>,
    pub with_token: bool,
    pub ca_file: Option<PathBuf>,
    pub device: Option<String>,
}

/// The tenant slug of a tenant URL: its first host label (`https://acme.shoal.dev` -> `acme`).
pub fn tenant_from_url(url: &url::Url) -> Option<String> {
    let host = url.host_str()?;
    let (first, rest) = host.split_once('.')?;
    (!first.is_empty() && !rest.is_empty() && host.parse::<std::net::IpAddr>().is_err()).then(|| first.to_string())
}

fn github_token(with_token: bool) -> Result<Secret> {
    let token = if with_token {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the token from stdin")?;
        s
    } else {
        let me = std::env::current_exe()?;
        let gh = crate::real_gh::find(std::env::var_os("PATH").as_deref(), &me)
            .context("gh is not installed: install it, or pass --with-token and your GitHub token on stdin")?;
        let out = std::process::Command::new(gh)
            .args(["auth", "token"])
            .env_remove("GH_HOST")
            .output()
            .context("cannot run `gh auth token`")?;
        if !out.status.success() {
            bail!("`gh auth token` failed: run `gh auth login` first, or pass --with-token");
        }
        String::from_utf8(out.stdout).context("`gh auth token` printed something that is not a token")?
    };
    let token = token.trim();
    if token.is_empty() {
        bail!("the GitHub token is empty");
    }
    Ok(Secret::new(token))
}

pub async fn login(args: LoginArgs) -> Result<Login> {
    let url = url::Url::parse(&args.url).with_context(|| {
        format!(
            "{:?} is not a URL: give the tenant URL, e.g. https://acme.shoal.dev",
            args.url
        )
    })?;
    if !matches!(url.scheme(), "https" | "http") {
        bail!("the URL must start with https:// (got {})", url.scheme());
    }
    let tenant = match args.tenant.or_else(|| tenant_from_url(&url)) {
        Some(t) => t,
        None => bail!("cannot tell the tenant from {url}: pass --tenant SLUG"),
    };
    let token = github_token(args.with_token)?;
    let device = args.device.unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "cli".into())
    });

    let client = http_client(args.ca_file.as_deref(), Duration::from_secs(30))?;
    let endpoint = url.join("/api/v1/login/exchange")?;

    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!(
        "exchanging your GitHub token at {}",
        url.host_str().unwrap_or("")
    ));
    spinner.enable_steady_tick(Duration::from_millis(100));
    let resp = client
        .post(endpoint)
        .json(&ExchangeIn {
            github_token: token.expose(),
            tenant: &tenant,
            device_name: &device,
        })
        .send()
        .await;
    spinner.finish_and_clear();
    let resp = resp.map_err(|e| anyhow::anyhow!("cannot reach {url}: {}", e.without_url()))?;
    let status = resp.status();
    if !status.is_success() {
        let message = resp
            .json::<ErrorOut>()
            .await
            .map(|e| e.message)
            .unwrap_or_else(|_| status.to_string());
        bail!("login refused ({}): {message}", status.as_u16());
    }
    let out: ExchangeOut = resp
        .json()
        .await
        .context("the server's answer is not a login exchange answer")?;

    let dir = config_dir()?;
    let ca_file = match (&out.ca_pem, &args.ca_file) {
        (Some(pem), _) => {
            write_private(&dir.join(CA_FILE), pem.as_bytes())?;
            Some(dir.join(CA_FILE))
        }
        (None, Some(given)) => {
            write_private(&dir.join(CA_FILE), &std::fs::read(given)?)?;
            Some(dir.join(CA_FILE))
        }
        (None, None) => None,
    };
    let token_prefix = shoal_common::token::display_prefix(out.token.expose()).unwrap_or_else(|_| "shoal_?".into());
    let saved = Login {
        url: args.url,
        tenant: out.tenant,
        host: out.host,
        user: out.user,
        token: out.token,
        token_prefix,
        ca_file,
    };
    saved.save_to(&dir)?;
    wait_for_relay(&saved).await;
    Ok(saved)
}

/// Waits (up to a few seconds, with a spinner) until the relay accepts the new caller token: the
/// worker learns of it by long-polling the control plane, usually within a second.
async fn wait_for_relay(login: &Login) {
    let Ok(client) = http_client(login.ca_file.as_deref(), Duration::from_secs(5)) else {
        return;
    };
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_message(format!("waiting for {} to accept the new token", login.host));
    spinner.enable_steady_tick(Duration::from_millis(100));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let answer = client
            .get(format!("https://{}/api/v3/", login.host))
            .header("authorization", format!("token {}", login.token.expose()))
            .send()
            .await;
        match answer {
            Ok(r) if r.status() != reqwest::StatusCode::UNAUTHORIZED && !r.status().is_server_error() => break,
            Err(_) => break, // unreachable from here: `shoal whoami` says so; nothing to wait for
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    spinner.finish_and_clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_is_the_first_label_of_a_tenant_url() {
        let t = |u: &str| tenant_from_url(&url::Url::parse(u).unwrap());
        assert_eq!(t("https://acme.shoal.dev").as_deref(), Some("acme"));
        assert_eq!(t("https://acme.localhost:8443/").as_deref(), Some("acme"));
        assert_eq!(t("http://localhost:8080"), None);
        assert_eq!(t("http://127.0.0.1:8080"), None);
    }
}
