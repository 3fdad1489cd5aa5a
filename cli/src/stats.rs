//! `shoal stats`: the tenant relay's own counters (`/_shoal/stats`): how reads were answered, and
//! each pooled identity's state and budget left. A human table by default, `--json` for scripts.

use crate::config::{Login, config_dir, http_client};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::fmt::Write;

/// Fetches the stats with the stored caller token.
pub async fn fetch(login: &Login) -> Result<Value> {
    let resp = http_client(login.ca_file.as_deref(), std::time::Duration::from_secs(10))?
        .get(format!("https://{}/_shoal/stats", login.host))
        .header("authorization", format!("token {}", login.token.expose()))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the relay at {}: {}", login.host, e.without_url()))?;
    if !resp.status().is_success() {
        bail!(
            "the relay answered {}: run `shoal login` again if your token was revoked",
            resp.status()
        );
    }
    resp.json().await.context("the relay's stats are not JSON")
}

/// The human rendering: one line of request counts, then a row per identity.
pub fn render(v: &Value) -> String {
    let n = |x: &Value| x.as_u64().unwrap_or(0);
    let r = &v["requests"];
    let (hit, miss, reval, stale, bypass) = (
        n(&r["hit"]),
        n(&r["miss"]),
        n(&r["revalidated"]),
        n(&r["stale"]),
        n(&r["bypass"]),
    );
    let total = hit + miss + reval + stale + bypass;
    let free = hit + reval + stale;
    let mut out = String::new();
    let rate = if total == 0 {
        0.0
    } else {
        100.0 * free as f64 / total as f64
    };
    let _ = writeln!(
        out,
        "requests {total}: {hit} hit, {reval} revalidated, {stale} stale, {miss} miss, {bypass} bypass ({rate:.1}% answered without spending budget)"
    );
    let _ = writeln!(
        out,
        "\n{:<24} {:<13} {:>15} {:>15} {:>15}",
        "IDENTITY", "STATE", "CORE LEFT", "SEARCH LEFT", "GRAPHQL LEFT"
    );
    for i in v["identities"].as_array().into_iter().flatten() {
        let left = |res: &str| {
            let b = &i["budget"][res];
            if b.is_null() {
                "-".to_string()
            } else {
                format!("{}/{}", n(&b["remaining"]), n(&b["limit"]))
            }
        };
        let _ = writeln!(
            out,
            "{:<24} {:<13} {:>15} {:>15} {:>15}",
            i["name"].as_str().unwrap_or("?"),
            i["state"].as_str().unwrap_or("?"),
            left("core"),
            left("search"),
            left("graphql")
        );
    }
    out
}

/// `shoal stats [--json]`.
pub async fn run(json: bool) -> Result<i32> {
    let Some(login) = Login::load_from(&config_dir()?)? else {
        bail!("not logged in: run `shoal login <tenant URL>`");
    };
    let v = fetch(&login).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", render(&v));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_the_hit_rate_and_each_identitys_budget() {
        let v = serde_json::json!({
            "requests": {"hit": 6, "miss": 2, "revalidated": 2, "stale": 0, "bypass": 0},
            "identities": [
                {"name": "octo-bot", "state": "healthy", "budget": {"core": {"remaining": 4990, "limit": 5000}}},
                {"name": "old-pat", "state": "quarantined", "budget": {}}
            ]
        });
        let t = render(&v);
        assert!(
            t.contains("requests 10: 6 hit, 2 revalidated, 0 stale, 2 miss, 0 bypass (80.0%"),
            "{t}"
        );
        assert!(
            t.lines()
                .any(|l| l.starts_with("octo-bot") && l.contains("healthy") && l.contains("4990/5000")),
            "{t}"
        );
        assert!(
            t.lines().any(|l| l.starts_with("old-pat") && l.contains("quarantined")),
            "{t}"
        );
    }
}
