//! `shoal stats`: the tenant relay's own counters (`/_shoal/stats`): how reads were answered, and
//! each pooled identity's state and budget left. With `--range 1h|24h|7d|30d` the tenant's
//! dashboard numbers over that range instead, from the admin API (`GET
//! /api/v1/tenants/{slug}/stats`, an admin API token). A human table by default, `--json` for
//! scripts.

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

/// The ranges `--range` takes.
pub const RANGES: [&str; 4] = ["1h", "24h", "7d", "30d"];

/// Fetches the tenant's numbers over `range` from the admin API.
pub async fn fetch_range(login: &Login, range: &str, admin_token: &str) -> Result<Value> {
    let req = http_client(login.ca_file.as_deref(), std::time::Duration::from_secs(15))?
        .get(format!("https://{}/api/v1/tenants/{}/stats", login.host, login.tenant))
        .query(&[("range", range)]);
    crate::admin::send(req, &login.host, admin_token).await
}

/// The human rendering of the range's numbers: totals, then identities, members, routes and
/// repositories.
pub fn render_range(v: &Value) -> String {
    let n = |x: &Value| x.as_i64().unwrap_or(0);
    let mut out = String::new();
    let m = &v["month"];
    let _ = writeln!(
        out,
        "this month: {} reads, {} GitHub units saved, {} spent",
        n(&m["requests"]),
        n(&m["units_saved"]),
        n(&m["units"])
    );
    let s = &v["by_status"];
    let rate = v["hit_rate_percent"]
        .as_i64()
        .map_or_else(|| "-".to_string(), |p| format!("{p}%"));
    let _ = writeln!(
        out,
        "range {}: {} requests ({} hit, {} revalidated, {} stale, {} miss, {} bypass), hit rate {rate}",
        v["range"].as_str().unwrap_or("?"),
        n(&v["requests"]),
        n(&s["hit"]),
        n(&s["revalidated"]),
        n(&s["stale"]),
        n(&s["miss"]),
        n(&s["bypass"]),
    );
    let _ = writeln!(
        out,
        "upstream: {} calls ({} free 304s), {} units spent, {} saved",
        n(&v["upstream_calls"]),
        n(&v["not_modified"]),
        n(&v["units"]),
        n(&v["units_saved"])
    );
    let _ = writeln!(
        out,
        "\n{:<24} {:<13} {:>8} {:>8}  BUDGET LEFT",
        "IDENTITY", "STATE", "CALLS", "UNITS"
    );
    for i in v["identities"].as_array().into_iter().flatten() {
        let budgets: Vec<String> = i["budgets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| {
                format!(
                    "{} {}/{}",
                    b["resource"].as_str().unwrap_or("?"),
                    n(&b["remaining"]),
                    n(&b["limit"])
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<24} {:<13} {:>8} {:>8}  {}",
            i["name"].as_str().unwrap_or("?"),
            i["state"].as_str().unwrap_or("-"),
            n(&i["calls"]),
            n(&i["units"]),
            if budgets.is_empty() {
                "-".into()
            } else {
                budgets.join(", ")
            }
        );
    }
    for (title, list, key) in [
        ("MEMBER", &v["members"], "login"),
        ("ROUTE", &v["routes"], "route_class"),
        ("REPOSITORY", &v["repositories"], "repository"),
    ] {
        let rows = list.as_array().map(Vec::as_slice).unwrap_or_default();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title:<40} {:>10}", "REQUESTS");
        for r in rows {
            let _ = writeln!(out, "{:<40} {:>10}", r[key].as_str().unwrap_or("?"), n(&r["requests"]));
        }
    }
    out
}

/// `shoal stats [--range R [--admin-token T]] [--json]`.
pub async fn run(json: bool, range: Option<String>, admin_token: Option<String>) -> Result<i32> {
    let Some(login) = Login::load_from(&config_dir()?)? else {
        bail!("not logged in: run `shoal login <tenant URL>`");
    };
    if let Some(range) = range {
        if !RANGES.contains(&range.as_str()) {
            bail!("unknown range {range:?}: use 1h, 24h, 7d or 30d");
        }
        let token = admin_token
            .or_else(|| std::env::var("SHOAL_ADMIN_TOKEN").ok())
            .filter(|t| !t.trim().is_empty())
            .context("--range reads the admin API: pass --admin-token or set SHOAL_ADMIN_TOKEN (create one on the tenant's API page)")?;
        let v = fetch_range(&login, &range, &token).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            print!("{}", render_range(&v));
        }
        return Ok(0);
    }
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
    fn the_range_table_shows_totals_identities_and_top_lists() {
        let v = serde_json::json!({
            "range": "7d", "requests": 147, "from_cache": 135, "hit_rate_percent": 91,
            "by_status": {"hit": 130, "revalidated": 5, "stale": 0, "miss": 12, "bypass": 0},
            "upstream_calls": 17, "not_modified": 5, "units": 12, "units_saved": 135,
            "month": {"requests": 197, "units_saved": 185, "units": 12},
            "identities": [{"name": "octo bot", "state": "healthy", "calls": 17, "units": 12,
                            "budgets": [{"resource": "core", "remaining": 4990, "limit": 5000}]}],
            "members": [{"login": "bob", "requests": 106}],
            "routes": [{"route_class": "pulls", "requests": 134}],
            "repositories": []
        });
        let t = render_range(&v);
        assert!(
            t.contains("this month: 197 reads, 185 GitHub units saved, 12 spent"),
            "{t}"
        );
        assert!(
            t.contains("range 7d: 147 requests (130 hit, 5 revalidated, 0 stale, 12 miss, 0 bypass), hit rate 91%"),
            "{t}"
        );
        assert!(
            t.lines()
                .any(|l| l.starts_with("octo bot") && l.contains("core 4990/5000")),
            "{t}"
        );
        assert!(t.lines().any(|l| l.starts_with("bob") && l.ends_with("106")), "{t}");
        assert!(!t.contains("REPOSITORY"), "{t}");
    }

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
