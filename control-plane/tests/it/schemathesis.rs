//! schemathesis (installed by `infra/dev/ensure-test-clients.sh`) against the real admin API and
//! its OpenAPI document, with every one of its checks: the answers match the document (status
//! codes, content types, headers, bodies), bad input the document forbids is refused, input it
//! allows is accepted, and authentication is not ignored.

use shoal_control_plane::db::begin_tenant;
use shoal_control_plane::tokens::admin::create_admin_token;
use sqlx::PgPool;
use std::path::PathBuf;
use std::process::Command;

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_admin_api_passes_every_schemathesis_check(pool: PgPool) {
    let st = PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/shoal-schemathesis");
    assert!(
        st.join("schemathesis").is_dir(),
        "{} is missing: schemathesis is installed by infra/dev/ensure-test-clients.sh (make test runs it)",
        st.display()
    );
    let (app, gh) = crate::support::app_with_github(pool.clone()).await;
    gh.add_org_member("octo-org", "alice", "admin");
    let keys = app.config.keys.clone();
    let alice = crate::support::user(&pool, "alice").await;
    let demo = crate::support::tenant(&pool, &keys, &alice, "demo", "octo-org").await;
    let mut tx = begin_tenant(&pool, demo.id).await.unwrap();
    let token = create_admin_token(
        &mut tx,
        &keys.pepper,
        crate::support::actor(&alice),
        alice.id,
        "schemathesis",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml");
    let report = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "schemathesis.cli", "--config-file"])
        .arg(&config)
        .args([
            "run",
            "--checks",
            "all",
            "--no-color",
            "--max-examples",
            "5",
            "--seed",
            "1",
        ])
        .arg("--report-dir")
        .arg(report.path())
        .arg("-H")
        .arg(format!("Authorization: Bearer {}", token.expose()))
        .arg(format!("{}/api/v1/openapi.json", app.url))
        .env("PYTHONPATH", &st)
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(report.path());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis found failures:\n{text}");
    assert!(!text.contains("No operations"), "{text}");
}
