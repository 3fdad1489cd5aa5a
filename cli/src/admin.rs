//! `shoal admin ...`: the tenant's admin JSON API (identities, members, removed people, caller
//! tokens, policy, audit) through the tenant's host, authenticated with an admin API token (`--admin-token` or
//! `SHOAL_ADMIN_TOKEN`, created on the tenant's API page). Tables by default, `--json` for scripts.

use crate::config::{Login, config_dir, http_client};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::fmt::Write;

/// What to show or do.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AdminCmd {
    /// Pooled identities (never their secrets).
    Identities,
    /// Members and their roles.
    Members,
    /// People an admin removed (they stay out at sign-in).
    Removed,
    /// Let a removed person join again, by user id.
    AllowBack { user_id: String },
    /// Caller tokens (prefixes only).
    Tokens,
    /// Revoke a caller token by id.
    RevokeToken { id: String },
    /// The tenant's policy.
    Policy,
    /// Recent admin actions.
    Audit,
}

/// Columns shown for each list, in order.
fn columns(cmd: &AdminCmd) -> &'static [&'static str] {
    match cmd {
        AdminCmd::Identities => &["id", "name", "kind", "account_login", "enabled", "scopes"],
        AdminCmd::Members => &["user_id", "login", "role"],
        AdminCmd::Removed => &["user_id", "login", "removed_at"],
        AdminCmd::Tokens => &[
            "id",
            "name",
            "user_login",
            "display_prefix",
            "last_used_at",
            "revoked_at",
        ],
        AdminCmd::Audit => &["created_at", "actor", "action", "target"],
        AdminCmd::Policy | AdminCmd::RevokeToken { .. } | AdminCmd::AllowBack { .. } => &[],
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// A plain table of `cols` over a JSON array (or an object holding one).
pub fn table(v: &Value, cols: &[&str]) -> String {
    let rows: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        Value::Object(o) => o
            .values()
            .find_map(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| cols.iter().map(|c| cell(&r[*c])).collect())
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| cells.iter().map(|r| r[i].len()).max().unwrap_or(0).max(c.len()))
        .collect();
    let mut out = String::new();
    let line = |out: &mut String, vals: Vec<String>| {
        let l: Vec<String> = vals.iter().zip(&widths).map(|(v, w)| format!("{v:<w$}")).collect();
        let _ = writeln!(out, "{}", l.join("  ").trim_end());
    };
    line(&mut out, cols.iter().map(|c| c.to_ascii_uppercase()).collect());
    for r in cells {
        line(&mut out, r);
    }
    out
}

/// Runs one admin command.
pub async fn run(cmd: AdminCmd, admin_token: Option<String>, json: bool) -> Result<i32> {
    let Some(login) = Login::load_from(&config_dir()?)? else {
        bail!("not logged in: run `shoal login <tenant URL>` first (admin commands use its tenant host)");
    };
    let token = admin_token
        .or_else(|| std::env::var("SHOAL_ADMIN_TOKEN").ok())
        .filter(|t| !t.trim().is_empty())
        .context("an admin API token is needed: pass --admin-token or set SHOAL_ADMIN_TOKEN (create one on the tenant's API page)")?;
    let client = http_client(login.ca_file.as_deref(), std::time::Duration::from_secs(15))?;
    let base = format!("https://{}/api/v1/tenants/{}", login.host, login.tenant);
    let (method, path) = match &cmd {
        AdminCmd::Identities => (reqwest::Method::GET, "/identities".to_string()),
        AdminCmd::Members => (reqwest::Method::GET, "/members".to_string()),
        AdminCmd::Removed => (reqwest::Method::GET, "/removed-members".to_string()),
        AdminCmd::AllowBack { user_id } => (reqwest::Method::DELETE, format!("/removed-members/{user_id}")),
        AdminCmd::Tokens => (reqwest::Method::GET, "/tokens".to_string()),
        AdminCmd::RevokeToken { id } => (reqwest::Method::DELETE, format!("/tokens/{id}")),
        AdminCmd::Policy => (reqwest::Method::GET, "/policy".to_string()),
        AdminCmd::Audit => (reqwest::Method::GET, "/audit".to_string()),
    };
    let body = send(client.request(method, format!("{base}{path}")), &login.host, &token).await?;
    match (&cmd, json) {
        (_, true) => println!("{}", serde_json::to_string_pretty(&body)?),
        (AdminCmd::RevokeToken { id }, false) => println!("Revoked caller token {id}."),
        (AdminCmd::AllowBack { user_id }, false) => println!("User {user_id} can join again by signing in."),
        (AdminCmd::Policy, false) => println!("{}", serde_json::to_string_pretty(&body)?),
        (c, false) => print!("{}", table(&body, columns(c))),
    }
    Ok(0)
}

/// Sends an admin API request with `token`: the JSON answer, or an error carrying the API's message.
pub(crate) async fn send(req: reqwest::RequestBuilder, host: &str, token: &str) -> Result<Value> {
    let resp = req
        .bearer_auth(token.trim())
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {}: {}", host, e.without_url()))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!(
            "the admin API answered {}: {}",
            status.as_u16(),
            body["message"].as_str().unwrap_or("no message")
        );
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_show_missing_values_as_dashes() {
        let v = serde_json::json!([
            {"id": "1", "name": "octo-bot", "kind": "pat", "account_login": "octo-bot", "enabled": true, "scopes": ["octo-org"]},
            {"id": "2", "name": "app", "kind": "github_app", "account_login": null, "enabled": false, "scopes": []}
        ]);
        let t = table(&v, columns(&AdminCmd::Identities));
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("ID  NAME      KIND"), "{t}");
        assert!(lines[1].contains("octo-bot") && lines[1].contains("octo-org"), "{t}");
        assert!(lines[2].contains("github_app") && lines[2].contains('-'), "{t}");
    }
}
