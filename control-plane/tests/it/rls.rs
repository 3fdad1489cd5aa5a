//! Row-level security: a tenant-scoped transaction sees only its tenant's rows, even when a
//! query forgets its `WHERE tenant_id = ...`, and cannot write rows for another tenant.

use crate::support;
use shoal_control_plane::config::Keys;
use shoal_control_plane::db::begin_tenant;
use shoal_control_plane::tokens::create_caller_token;
use sqlx::PgPool;

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_query_without_a_tenant_filter_sees_only_its_own_tenants_rows(pool: PgPool) {
    let keys = Keys::generate();
    let alice = support::user(&pool, "alice").await;
    let bob = support::user(&pool, "bob").await;
    let a = support::tenant(&pool, &keys, &alice, "acme", "acme-org").await;
    let b = support::tenant(&pool, &keys, &bob, "bobco", "bob-org").await;
    for (t, u, n) in [(&a, &alice, 2), (&b, &bob, 3)] {
        let mut tx = begin_tenant(&pool, t.id).await.unwrap();
        for i in 0..n {
            create_caller_token(&mut tx, &keys.pepper, support::actor(u), u.id, &format!("t{i}"), None)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    // The connection's own view (the table owner) sees everything.
    let all: i64 = sqlx::query_scalar("SELECT count(*) FROM caller_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(all, 5);

    let mut tx = begin_tenant(&pool, a.id).await.unwrap();
    let count = |table: &'static str| format!("SELECT count(*) FROM {table}");
    for (table, want) in [
        ("caller_tokens", 2i64),
        ("memberships", 1),
        ("tenants", 1),
        ("policies", 1),
        ("workers", 1),
        // tenant.create + 2 token.create
        ("audit_log", 3),
    ] {
        let n: i64 = sqlx::query_scalar(&count(table)).fetch_one(&mut *tx).await.unwrap();
        assert_eq!(n, want, "{table} as seen from tenant a");
    }
    let slugs: Vec<String> = sqlx::query_scalar("SELECT slug FROM tenants")
        .fetch_all(&mut *tx)
        .await
        .unwrap();
    assert_eq!(slugs, ["acme"]);
    // Even naming the other tenant explicitly finds nothing.
    let other: i64 = sqlx::query_scalar("SELECT count(*) FROM caller_tokens WHERE tenant_id = $1")
        .bind(b.id.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(other, 0);
    drop(tx);

    let mut tx = begin_tenant(&pool, b.id).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM caller_tokens")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 3);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_tenant_transaction_cannot_write_or_change_another_tenants_rows(pool: PgPool) {
    let keys = Keys::generate();
    let alice = support::user(&pool, "alice").await;
    let bob = support::user(&pool, "bob").await;
    let a = support::tenant(&pool, &keys, &alice, "acme", "acme-org").await;
    let b = support::tenant(&pool, &keys, &bob, "bobco", "bob-org").await;

    let mut tx = begin_tenant(&pool, a.id).await.unwrap();
    let insert = sqlx::query("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'admin')")
        .bind(b.id.as_uuid())
        .bind(alice.id.as_uuid())
        .execute(&mut *tx)
        .await;
    let err = insert.unwrap_err().to_string();
    assert!(err.contains("row-level security"), "{err}");
    drop(tx);

    let mut tx = begin_tenant(&pool, a.id).await.unwrap();
    let updated = sqlx::query("UPDATE memberships SET role = 'member'")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(updated, 1, "only tenant a's one membership is visible to update");
    drop(tx); // rolled back

    let mut tx = begin_tenant(&pool, a.id).await.unwrap();
    let deleted = sqlx::query("DELETE FROM policies")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(deleted, 1);
    tx.commit().await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM policies WHERE tenant_id = $1")
        .bind(b.id.as_uuid())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 1, "tenant b's policy survives a careless delete in tenant a");
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_tenant_setting_does_not_leak_to_the_next_transaction_on_the_connection(pool: PgPool) {
    let keys = Keys::generate();
    let alice = support::user(&pool, "alice").await;
    let a = support::tenant(&pool, &keys, &alice, "acme", "acme-org").await;
    let mut conn = pool.acquire().await.unwrap();
    {
        let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
        sqlx::query("SET LOCAL ROLE shoal_app").execute(&mut *tx).await.unwrap();
        sqlx::query("SELECT set_config('shoal.tenant_id', $1, true)")
            .bind(a.id.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    // Same connection, role switched again but no tenant set: nothing is visible (and no error
    // from the empty setting).
    let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
    sqlx::query("SET LOCAL ROLE shoal_app").execute(&mut *tx).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM memberships")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(n, 0);
}
