use shoal_control_plane::db::MIGRATOR;
use sqlx::PgPool;

const TABLES: &[&str] = &[
    "users",
    "tenants",
    "memberships",
    "caller_tokens",
    "identities",
    "policies",
    "workers",
    "usage_requests_hourly",
    "usage_upstream_hourly",
    "usage_reports",
    "audit_log",
    "billing_events",
    "webhook_secrets",
    "webhook_events",
];

async fn public_tables(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations' ORDER BY 1")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn migrations_apply_revert_and_reapply_from_scratch(pool: PgPool) {
    assert!(public_tables(&pool).await.is_empty());

    MIGRATOR.run(&pool).await.unwrap();
    let after_up = public_tables(&pool).await;
    for t in TABLES {
        assert!(after_up.contains(&t.to_string()), "table {t} missing after migrating");
    }
    // Running again is a no-op.
    MIGRATOR.run(&pool).await.unwrap();

    MIGRATOR.undo(&pool, 0).await.unwrap();
    assert!(
        public_tables(&pool).await.is_empty(),
        "down migrations leave tables behind"
    );

    MIGRATOR.run(&pool).await.unwrap();
    assert_eq!(public_tables(&pool).await, after_up);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn schema_refuses_bad_slugs_and_short_token_hashes(pool: PgPool) {
    let insert = |slug: &'static str| {
        sqlx::query("INSERT INTO tenants (id, slug, github_org, github_org_id, wrapped_data_key) VALUES (gen_random_uuid(), $1, 'o', 1, '\\x00')")
            .bind(slug)
            .execute(&pool)
    };
    assert!(insert("acme").await.is_ok());
    assert!(insert("acme").await.is_err(), "slugs are unique");
    assert!(insert("Acme").await.is_err());
    assert!(insert("a").await.is_err());
    assert!(insert("-acme").await.is_err());

    let short = sqlx::query(
        "INSERT INTO users (id, github_id, login) VALUES (gen_random_uuid(), 1, 'u');
         INSERT INTO caller_tokens (id, tenant_id, user_id, name, token_hash, display_prefix)
         SELECT gen_random_uuid(), t.id, u.id, 'x', '\\x0102', 'shoal_' FROM tenants t, users u",
    )
    .execute(&pool)
    .await;
    assert!(short.is_err(), "a token hash must be 32 bytes");
}
