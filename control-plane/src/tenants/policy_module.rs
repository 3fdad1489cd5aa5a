//! The tenant's WebAssembly policy module: uploaded as `.wat` or `.wasm`, validated with the
//! worker's own host (`shoal_common::policy`: compiles, imports only `shoal`, exports the entry
//! point and a known ABI version, within the size cap) and dry-run on sample requests before it is
//! stored with its hash; the module before it is kept and restorable; a "test a request" runs it
//! on one method and path; the failure setting; and the failures and log lines workers report.

use crate::Error;
use crate::access::{TenantAdmin, TenantMember};
use crate::audit::{self, Actor};
use crate::db::TenantTx;
use crate::state::AppState;
use crate::tenants::bump_bundle;
use serde::Serialize;
use serde_json::json;
use shoal_common::policy::{Facts, Program, load::to_binary, sample_requests};
use shoal_common::protocol::{OnFailure, PolicyModule, PolicyModuleReport};
use std::sync::Arc;
use time::OffsetDateTime;

/// Largest upload request body (API or page): a 1 MiB module in base64, or `.wat` text, with room.
pub const UPLOAD_BODY_LIMIT: usize = 3 << 20;

/// Log lines kept per tenant; older ones are deleted as new ones arrive.
pub const MAX_LOG_LINES: i64 = 100;

/// A stored module.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModuleInfo {
    /// Hex SHA-256 of the binary module.
    pub sha256: String,
    /// Size of the binary module in bytes.
    pub size: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: OffsetDateTime,
}

/// One way the module failed in the worker, as reported.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FailureCount {
    pub sha256: String,
    /// `fuel`, `timeout`, `memory`, `trap`, `garbage` or `instantiate`.
    pub kind: String,
    pub count: i64,
    pub last_detail: String,
}

/// A line the module logged.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogLine {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub level: String,
    pub message: String,
}

/// Everything the policy page and `GET .../policy/module` show.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModuleState {
    pub current: Option<ModuleInfo>,
    pub previous: Option<ModuleInfo>,
    /// `serve` or `fallback_local`.
    pub on_failure: String,
    pub failures: Vec<FailureCount>,
    /// Newest first.
    pub logs: Vec<LogLine>,
}

/// What the module decided for one request.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Decided {
    /// `METHOD path`.
    pub request: String,
    /// `serve`, `serve ttl=N`, `deny: reason`, `fallback_local`, or `failed (kind): detail`.
    pub decision: String,
}

/// The module as loaded, the program and its binary.
struct Checked {
    program: Program,
    binary: Vec<u8>,
}

/// Validates an upload and dry-runs it on the sample requests; any failure refuses it.
async fn check(source: &[u8]) -> Result<(Checked, Vec<Decided>), Error> {
    let bad = |e: shoal_common::policy::LoadError| Error::Unprocessable(format!("policy module refused: {e}"));
    let binary = to_binary(source).map_err(bad)?;
    let program = Program::from_binary(&binary).map_err(bad)?;
    let mut decided = Vec::new();
    for facts in sample_requests() {
        let d = run(&program, facts).await;
        if d.decision.starts_with("failed") {
            return Err(Error::Unprocessable(format!(
                "policy module refused: its dry run on {} {}",
                d.request, d.decision
            )));
        }
        decided.push(d);
    }
    Ok((Checked { program, binary }, decided))
}

async fn run(program: &Program, facts: Facts) -> Decided {
    let request = format!("{} {}", facts.method, facts.path);
    let outcome = program.decide(Arc::new(facts)).await;
    Decided {
        request,
        decision: match outcome.decision {
            Ok(d) => d.describe(),
            Err(f) => format!("failed ({}): {}", f.kind.as_str(), f.detail),
        },
    }
}

/// Validates, dry-runs and stores a module (the one in force becomes the previous), and tells the
/// worker. Returns the dry run's decisions.
pub async fn upload(state: &AppState, admin: &TenantAdmin, source: &[u8]) -> Result<Vec<Decided>, Error> {
    let (checked, decided) = check(source).await?;
    let mut tx = admin.begin(state).await?;
    let tenant = tx.tenant().as_uuid();
    sqlx::query("DELETE FROM policy_modules WHERE tenant_id = $1 AND slot = 'previous'")
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE policy_modules SET slot = 'previous' WHERE tenant_id = $1 AND slot = 'current'")
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO policy_modules (tenant_id, slot, wasm, sha256, uploaded_by) VALUES ($1, 'current', $2, $3, $4)",
    )
    .bind(tenant)
    .bind(&checked.binary)
    .bind(checked.program.sha256())
    .bind(admin.user.as_uuid())
    .execute(&mut *tx)
    .await?;
    publish(
        &mut tx,
        admin,
        "policy.module.upload",
        json!({ "sha256": checked.program.sha256(), "size": checked.binary.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok(decided)
}

/// Puts the previous module back in force (the current one becomes the previous).
pub async fn restore(state: &AppState, admin: &TenantAdmin) -> Result<ModuleState, Error> {
    let mut tx = admin.begin(state).await?;
    let tenant = tx.tenant().as_uuid();
    let swapped = sqlx::query(
        "UPDATE policy_modules SET slot = CASE slot WHEN 'current' THEN 'previous' ELSE 'current' END
         WHERE tenant_id = $1 AND EXISTS (SELECT 1 FROM policy_modules WHERE tenant_id = $1 AND slot = 'previous')",
    )
    .bind(tenant)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if swapped == 0 {
        return Err(Error::Conflict("there is no previous policy module to restore".into()));
    }
    let now = state_of(&mut tx).await?;
    publish(
        &mut tx,
        admin,
        "policy.module.restore",
        json!({ "sha256": now.current.as_ref().map(|c| c.sha256.clone()) }),
    )
    .await?;
    tx.commit().await?;
    Ok(now)
}

/// Sets what a request gets when the module fails on it.
pub async fn set_on_failure(state: &AppState, admin: &TenantAdmin, on_failure: OnFailure) -> Result<(), Error> {
    let mut tx = admin.begin(state).await?;
    sqlx::query("UPDATE policies SET module_on_failure = $2, updated_at = now() WHERE tenant_id = $1")
        .bind(tx.tenant().as_uuid())
        .bind(on_failure.as_str())
        .execute(&mut *tx)
        .await?;
    publish(
        &mut tx,
        admin,
        "policy.module.on_failure",
        json!({ "on_failure": on_failure.as_str() }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Tells the worker (a new bundle version) and records `action` in the audit log.
async fn publish(
    tx: &mut TenantTx,
    admin: &TenantAdmin,
    action: &str,
    details: serde_json::Value,
) -> Result<(), Error> {
    bump_bundle(tx).await?;
    audit::record(tx, Actor::from(admin), action, "policy", details).await
}

/// Longest path [`test_request`] takes.
pub const MAX_TEST_PATH: usize = 2048;

/// What the module in force decides for `method` and `path` (a REST path like
/// `/repos/octo-org/x/pulls/1`, a search, or `/graphql`).
pub async fn test_request(state: &AppState, member: &TenantMember, method: &str, path: &str) -> Result<Decided, Error> {
    if !matches!(method, "GET" | "HEAD" | "POST") {
        return Err(Error::BadRequest("the method must be GET, HEAD or POST".into()));
    }
    if !path.starts_with('/') || path.chars().count() > MAX_TEST_PATH {
        return Err(Error::BadRequest(
            "the path must start with / (for example /repos/octo-org/hello-world/pulls/1)".into(),
        ));
    }
    let mut tx = member.begin(state).await?;
    let wasm: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT wasm FROM policy_modules WHERE tenant_id = $1 AND slot = 'current'")
            .bind(tx.tenant().as_uuid())
            .fetch_optional(&mut *tx)
            .await?;
    let login: String = sqlx::query_scalar("SELECT login FROM users WHERE id = $1")
        .bind(member.user.as_uuid())
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    let wasm = wasm.ok_or_else(|| Error::Conflict("upload a policy module first".into()))?;
    let program = Program::from_binary(&wasm).map_err(|e| Error::BadRequest(e.to_string()))?;
    Ok(run(&program, facts_of(method, path, &login)).await)
}

/// The facts the worker would give for `method path`, as far as the control plane can tell
/// without the worker's classifier: owner, repo and number from `/repos/...`, search and GraphQL.
fn facts_of(method: &str, path: &str, login: &str) -> Facts {
    let bare = path.split('?').next().unwrap_or_default().to_ascii_lowercase();
    let segs: Vec<&str> = bare.trim_matches('/').split('/').collect();
    let mut f = Facts {
        method: method.into(),
        path: path.into(),
        route_class: "meta".into(),
        resource: "core".into(),
        caller_token_id: "00000000-0000-0000-0000-000000000000".into(),
        member_login: login.into(),
        default_ttl: 60,
        ..Facts::default()
    };
    match segs.as_slice() {
        ["graphql"] => {
            f.route_class = "graphql".into();
            f.resource = "graphql".into();
            f.graphql_operation = Some("query".into());
        }
        ["search", ..] => {
            f.route_class = "search".into();
            f.resource = if segs.get(1) == Some(&"code") {
                "code_search"
            } else {
                "search"
            }
            .into();
        }
        ["repos", owner, repo, rest @ ..] => {
            f.owner = Some(owner.to_string());
            f.repo = Some(format!("{owner}/{repo}"));
            f.route_class = match rest.first() {
                Some(&c @ ("pulls" | "issues" | "actions" | "contents" | "commits" | "git")) => c,
                Some(&("check-runs" | "check-suites" | "statuses")) => "checks",
                _ => "repos",
            }
            .into();
            if let ["pulls" | "issues", n, ..] = rest {
                f.number = n.parse().ok();
            }
        }
        _ => {}
    }
    f
}

#[derive(sqlx::FromRow)]
struct InfoRow {
    slot: String,
    sha256: String,
    size: i32,
    uploaded_at: OffsetDateTime,
}

async fn state_of(tx: &mut TenantTx) -> Result<ModuleState, Error> {
    let tenant = tx.tenant().as_uuid();
    let rows: Vec<InfoRow> = sqlx::query_as(
        "SELECT slot, sha256, length(wasm) AS size, uploaded_at FROM policy_modules WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_all(&mut **tx)
    .await?;
    let info = |slot: &str| {
        rows.iter().find(|r| r.slot == slot).map(|r| ModuleInfo {
            sha256: r.sha256.clone(),
            size: i64::from(r.size),
            uploaded_at: r.uploaded_at,
        })
    };
    let on_failure: String = sqlx::query_scalar("SELECT module_on_failure FROM policies WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&mut **tx)
        .await?;
    let failures = sqlx::query_as::<_, (String, String, i64, String)>(
        "SELECT sha256, kind, count, last_detail FROM policy_module_failures WHERE tenant_id = $1 ORDER BY last_at DESC",
    )
    .bind(tenant)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|(sha256, kind, count, last_detail)| FailureCount {
        sha256,
        kind,
        count,
        last_detail,
    })
    .collect();
    let logs = sqlx::query_as::<_, (OffsetDateTime, String, String)>(
        "SELECT at, level, message FROM policy_module_logs WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(tenant)
    .bind(MAX_LOG_LINES)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|(at, level, message)| LogLine { at, level, message })
    .collect();
    Ok(ModuleState {
        current: info("current"),
        previous: info("previous"),
        on_failure,
        failures,
        logs,
    })
}

/// The module state, for any member.
pub async fn get(state: &AppState, by: &TenantMember) -> Result<ModuleState, Error> {
    state_of(&mut by.begin(state).await?).await
}

/// The bundle's module: the one in force with the failure setting.
pub async fn for_bundle(tx: &mut TenantTx) -> Result<Option<PolicyModule>, Error> {
    let row: Option<(Vec<u8>, String)> = sqlx::query_as(
        "SELECT m.wasm, p.module_on_failure FROM policy_modules m JOIN policies p ON p.tenant_id = m.tenant_id
         WHERE m.tenant_id = $1 AND m.slot = 'current'",
    )
    .bind(tx.tenant().as_uuid())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row
        .map(|(wasm, on_failure)| PolicyModule::from_binary(&wasm, OnFailure::parse(&on_failure).unwrap_or_default())))
}

/// Adds a worker's report of the module's failures and log lines.
pub async fn apply_report(tx: &mut TenantTx, report: &PolicyModuleReport) -> Result<(), Error> {
    let tenant = tx.tenant().as_uuid();
    let sha256 = report.sha256.clone().unwrap_or_default();
    for f in &report.failures {
        sqlx::query(
            "INSERT INTO policy_module_failures (tenant_id, sha256, kind, count, last_detail)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant_id, sha256, kind) DO UPDATE SET
                count = policy_module_failures.count + EXCLUDED.count,
                last_detail = EXCLUDED.last_detail, last_at = now()",
        )
        .bind(tenant)
        .bind(&sha256)
        .bind(f.kind.chars().take(32).collect::<String>())
        .bind(f.count as i64)
        .bind(f.last_detail.chars().take(300).collect::<String>())
        .execute(&mut **tx)
        .await?;
    }
    for l in report.logs.iter().rev().take(MAX_LOG_LINES as usize).rev() {
        sqlx::query("INSERT INTO policy_module_logs (tenant_id, at, level, message) VALUES ($1, $2, $3, $4)")
            .bind(tenant)
            .bind(l.at)
            .bind(l.level.chars().take(8).collect::<String>())
            .bind(l.message.chars().take(300).collect::<String>())
            .execute(&mut **tx)
            .await?;
    }
    if !report.logs.is_empty() {
        sqlx::query(
            "DELETE FROM policy_module_logs WHERE tenant_id = $1 AND id NOT IN
               (SELECT id FROM policy_module_logs WHERE tenant_id = $1 ORDER BY id DESC LIMIT $2)",
        )
        .bind(tenant)
        .bind(MAX_LOG_LINES)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
