//! Domain rules against real Postgres: slugs, tenant creation, the last-admin rule, token hashing
//! and revocation, sealing identity secrets through the database, and policy validation.

use crate::support;
use shoal_common::crypto::SealedSecret;
use shoal_common::token::hash_token;
use shoal_common::{IdentityId, Secret};
use shoal_control_plane::Error;
use shoal_control_plane::access::{authenticate_admin_token, find_role};
use shoal_control_plane::audit::Actor;
use shoal_control_plane::config::BillingConfig;
use shoal_control_plane::config::Keys;
use shoal_control_plane::db::begin_tenant;
use shoal_control_plane::identities::{self, NewApp, NewPat, parse_scopes};
use shoal_control_plane::tenants::Role;
use shoal_control_plane::tenants::members;
use shoal_control_plane::tenants::policy::{self, PolicySettings, parse_ttl_lines};
use shoal_control_plane::tenants::{self, NewTenant, Plan, Slug, VerifiedAdminOrg, data_key};
use shoal_control_plane::tokens::{self, admin};
use sqlx::PgPool;

#[test]
fn slugs_follow_the_subdomain_rules() {
    for ok in ["acme", "a-b", "octo-org-42", &"a".repeat(32)] {
        assert!(Slug::parse(ok).is_ok(), "{ok}");
    }
    for bad in [
        "ab",
        "Acme",
        "-acme",
        "acme-",
        "ac me",
        "acmé",
        "www",
        "api",
        "admin",
        &"a".repeat(33),
    ] {
        assert!(matches!(Slug::parse(bad), Err(Error::BadRequest(_))), "{bad}");
    }
    assert!(Plan::parse("free").is_ok());
    assert!(
        Plan::parse("team")
            .unwrap_err()
            .to_string()
            .contains("not available yet")
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn creating_a_tenant_makes_its_admin_policy_worker_and_a_data_key_only_the_master_key_opens(pool: PgPool) {
    let keys = Keys::generate();
    let alice = support::user(&pool, "alice").await;
    let t = support::tenant(&pool, &keys, &alice, "acme", "acme-org").await;
    assert_eq!(
        (t.slug.as_str(), t.plan.as_str(), t.github_org.as_str()),
        ("acme", "free", "acme-org")
    );

    let mut tx = begin_tenant(&pool, t.id).await.unwrap();
    assert_eq!(find_role(&mut tx, alice.id).await.unwrap(), Some(Role::Admin));
    let p = policy::get_policy(&mut tx).await.unwrap();
    assert_eq!(p.allowed_owners, ["acme-org"]);
    let (desired, version): (String, i64) = sqlx::query_as("SELECT desired_state, bundle_version FROM workers")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!((desired.as_str(), version), ("running", 1));
    assert!(data_key(&mut tx, &keys).await.is_ok());
    assert!(
        data_key(&mut tx, &Keys::generate()).await.is_err(),
        "another master key cannot unwrap it"
    );
    drop(tx);

    // A taken slug is a clear conflict and creates nothing.
    let err = tenants::create_tenant(
        &pool,
        &keys,
        Actor::user(alice.id, None),
        alice.id,
        &VerifiedAdminOrg {
            login: "other".into(),
            id: 5,
        },
        NewTenant {
            slug: Slug::parse("acme").unwrap(),
            plan: Plan::Free,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Conflict(ref m) if m.contains("taken")), "{err}");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_last_admin_can_be_neither_demoted_nor_removed(pool: PgPool) {
    let keys = Keys::generate();
    let alice = support::user(&pool, "alice").await;
    let bob = support::user(&pool, "bob").await;
    let t = support::tenant(&pool, &keys, &alice, "acme", "acme-org").await;
    let mut tx = begin_tenant(&pool, t.id).await.unwrap();
    let a = support::actor(&alice);
    assert_eq!(
        members::join_tenant(
            &mut tx,
            &BillingConfig::default(),
            Actor::user(bob.id, None),
            bob.id,
            true
        )
        .await
        .unwrap(),
        Some(Role::Member)
    );

    let err = members::set_role(&mut tx, a, alice.id, Role::Member).await.unwrap_err();
    assert!(
        matches!(err, Error::Conflict(ref m) if m.contains("last admin")),
        "{err}"
    );
    let err = members::remove_member(&mut tx, a, alice.id).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)));

    members::set_role(&mut tx, a, bob.id, Role::Admin).await.unwrap();
    members::set_role(&mut tx, a, alice.id, Role::Member).await.unwrap();
    assert_eq!(find_role(&mut tx, alice.id).await.unwrap(), Some(Role::Member));
    let err = members::remove_member(&mut tx, a, bob.id).await.unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "bob is now the last admin");
    members::remove_member(&mut tx, a, alice.id).await.unwrap();
    let listed = members::list_members(&mut tx).await.unwrap();
    assert_eq!(listed.iter().map(|m| m.login.as_str()).collect::<Vec<_>>(), ["bob"]);
    assert!(matches!(
        members::set_role(&mut tx, a, alice.id, Role::Admin).await,
        Err(Error::NotFound)
    ));
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn caller_tokens_are_stored_as_hashes_and_revoked_by_owner_admin_or_removal(pool: PgPool) {
    let keys = Keys::generate();
    let alice = support::user(&pool, "alice").await;
    let bob = support::user(&pool, "bob").await;
    let carol = support::user(&pool, "carol").await;
    let t = support::tenant(&pool, &keys, &alice, "acme", "acme-org").await;
    let mut tx = begin_tenant(&pool, t.id).await.unwrap();
    members::join_tenant(&mut tx, &BillingConfig::default(), support::actor(&bob), bob.id, false)
        .await
        .unwrap();
    members::join_tenant(
        &mut tx,
        &BillingConfig::default(),
        support::actor(&carol),
        carol.id,
        false,
    )
    .await
    .unwrap();

    let (bob_tok, secret) =
        tokens::create_caller_token(&mut tx, &keys.pepper, support::actor(&bob), bob.id, " laptop ", None)
            .await
            .unwrap();
    assert_eq!(bob_tok.name, "laptop");
    assert!(secret.expose().starts_with(&bob_tok.display_prefix));
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM caller_tokens WHERE id = $1")
        .bind(bob_tok.id.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert_eq!(&stored[..], &hash_token(&keys.pepper, secret.expose()).as_bytes()[..]);
    let plain: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM caller_tokens WHERE position($1::bytea in token_hash) > 0 OR display_prefix = $2",
    )
    .bind(secret.expose().as_bytes())
    .bind(secret.expose())
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    assert_eq!(plain, 0, "the token itself is stored nowhere");

    // Bad input changes nothing.
    for bad in ["", "   ", &"x".repeat(101)] {
        assert!(matches!(
            tokens::create_caller_token(&mut tx, &keys.pepper, support::actor(&bob), bob.id, bad, None).await,
            Err(Error::BadRequest(_))
        ));
    }
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    assert!(
        tokens::create_caller_token(&mut tx, &keys.pepper, support::actor(&bob), bob.id, "old", Some(past))
            .await
            .is_err()
    );
    assert_eq!(
        tokens::list_caller_tokens(&mut tx, Some(bob.id)).await.unwrap().len(),
        1
    );

    // Carol (a member) cannot revoke Bob's token; Bob can; Alice (admin) could.
    let err = tokens::revoke_caller_token(&mut tx, support::actor(&carol), Role::Member, bob_tok.id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)));
    let revoked = tokens::revoke_caller_token(&mut tx, support::actor(&bob), Role::Member, bob_tok.id)
        .await
        .unwrap();
    assert!(revoked.revoked_at.is_some() && !revoked.is_active());
    let (carol_tok, _) =
        tokens::create_caller_token(&mut tx, &keys.pepper, support::actor(&carol), carol.id, "ci", None)
            .await
            .unwrap();
    tokens::revoke_caller_token(&mut tx, support::actor(&alice), Role::Admin, carol_tok.id)
        .await
        .unwrap();

    // Removing a member revokes every token they hold.
    let (b2, _) = tokens::create_caller_token(&mut tx, &keys.pepper, support::actor(&bob), bob.id, "desktop", None)
        .await
        .unwrap();
    members::remove_member(&mut tx, support::actor(&alice), bob.id)
        .await
        .unwrap();
    assert!(
        tokens::find_caller_token(&mut tx, b2.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    let version: i64 = sqlx::query_scalar("SELECT bundle_version FROM workers")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert!(version > 1, "token changes bump the worker's bundle");
    tx.commit().await.unwrap();

    // Another tenant's admin cannot see or revoke them.
    let dave = support::user(&pool, "dave").await;
    let other = support::tenant(&pool, &keys, &dave, "other", "other-org").await;
    let mut tx = begin_tenant(&pool, other.id).await.unwrap();
    assert!(tokens::list_caller_tokens(&mut tx, None).await.unwrap().is_empty());
    assert!(matches!(
        tokens::revoke_caller_token(&mut tx, support::actor(&dave), Role::Admin, carol_tok.id).await,
        Err(Error::NotFound)
    ));
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn identity_secrets_are_sealed_in_the_database_and_open_only_for_their_tenant_and_record(pool: PgPool) {
    let keys = Keys::generate();
    let alice = support::user(&pool, "alice").await;
    let t = support::tenant(&pool, &keys, &alice, "acme", "acme-org").await;
    let mut tx = begin_tenant(&pool, t.id).await.unwrap();
    let dk = data_key(&mut tx, &keys).await.unwrap();
    let pat = Secret::new("ghp_canary_SECRET_value_123");
    let ident = identities::insert_pat(
        &mut tx,
        &dk,
        support::actor(&alice),
        alice.id,
        NewPat {
            name: "bot pat",
            token: &pat,
            scopes: parse_scopes("acme-org, acme-org/api").unwrap(),
            account: ("acme-bot".into(), 77),
        },
    )
    .await
    .unwrap();
    let pem = Secret::new(support::rsa_pem());
    let app = identities::insert_app(
        &mut tx,
        &dk,
        support::actor(&alice),
        alice.id,
        NewApp {
            name: "app",
            app_id: 12,
            installation_id: 34,
            private_key: &pem,
            scopes: vec![],
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let raw: Vec<Vec<u8>> = sqlx::query_scalar("SELECT sealed_secret FROM identities")
        .fetch_all(&pool)
        .await
        .unwrap();
    for r in &raw {
        assert!(
            !r.windows(10).any(|w| w == b"ghp_canary" || w == b"BEGIN RSA "),
            "plaintext in the database"
        );
    }
    let audit: Vec<String> = sqlx::query_scalar("SELECT details::text FROM audit_log")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(audit.iter().all(|d| !d.contains("ghp_canary")));

    let mut tx = begin_tenant(&pool, t.id).await.unwrap();
    // Reload the data key from the database: the round trip goes through storage.
    let dk = data_key(&mut tx, &keys).await.unwrap();
    assert_eq!(
        identities::open_secret(&mut tx, &dk, ident.id).await.unwrap().expose(),
        pat.expose()
    );
    assert_eq!(
        identities::open_secret(&mut tx, &dk, app.id).await.unwrap().expose(),
        pem.expose().trim()
    );
    let listed = identities::list_identities(&mut tx).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].scopes, ["acme-org", "acme-org/api"]);
    assert_eq!(listed[0].account_login.as_deref(), Some("acme-bot"));
    assert!(!serde_json::to_string(&listed).unwrap().contains("canary"));

    // Moved to another record, the ciphertext no longer opens (AAD binds the record id).
    let sealed: Vec<u8> = sqlx::query_scalar("SELECT sealed_secret FROM identities WHERE id = $1")
        .bind(ident.id.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert!(
        dk.open(
            &SealedSecret::from_bytes(sealed.clone()),
            t.id,
            IdentityId::new().as_uuid()
        )
        .is_err()
    );
    drop(tx);

    // Another tenant's key cannot open it either.
    let bob = support::user(&pool, "bob").await;
    let other = support::tenant(&pool, &keys, &bob, "other", "other-org").await;
    let mut tx = begin_tenant(&pool, other.id).await.unwrap();
    let other_dk = data_key(&mut tx, &keys).await.unwrap();
    assert!(
        other_dk
            .open(&SealedSecret::from_bytes(sealed), other.id, ident.id.as_uuid())
            .is_err()
    );
    assert!(matches!(
        identities::open_secret(&mut tx, &other_dk, ident.id).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        identities::delete_identity(&mut tx, support::actor(&bob), ident.id).await,
        Err(Error::NotFound)
    ));
    drop(tx);

    // Scopes, disable and delete.
    let mut tx = begin_tenant(&pool, t.id).await.unwrap();
    let a = support::actor(&alice);
    identities::update_scopes(&mut tx, a, ident.id, parse_scopes("octo/*").unwrap())
        .await
        .unwrap();
    identities::set_enabled(&mut tx, a, ident.id, false).await.unwrap();
    let got = identities::find_identity(&mut tx, ident.id).await.unwrap().unwrap();
    assert_eq!((got.scopes.clone(), got.enabled), (vec!["octo/*".to_string()], false));
    identities::delete_identity(&mut tx, a, app.id).await.unwrap();
    assert_eq!(identities::list_identities(&mut tx).await.unwrap().len(), 1);
}

#[test]
fn scopes_and_identity_input_are_validated() {
    assert_eq!(parse_scopes("a, b/c\nb/c d/*").unwrap(), ["a", "b/c", "d/*"]);
    for bad in ["-a", "a/", "a b/c/d", "a/b c/$", "x".repeat(40).as_str()] {
        assert!(parse_scopes(bad).is_err(), "{bad}");
    }
    assert!(identities::validate_name("  ").is_err());
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn bad_policy_input_is_refused_and_changes_nothing(pool: PgPool) {
    let keys = Keys::generate();
    let alice = support::user(&pool, "alice").await;
    let t = support::tenant(&pool, &keys, &alice, "acme", "acme-org").await;
    let mut tx = begin_tenant(&pool, t.id).await.unwrap();
    let before = policy::get_policy(&mut tx).await.unwrap();
    let mut bad = before.clone();
    bad.allowed_owners = vec!["not an owner!".into()];
    assert!(matches!(
        policy::update_policy(&mut tx, support::actor(&alice), bad).await,
        Err(Error::BadRequest(_))
    ));
    let mut bad = before.clone();
    bad.ttl_overrides = parse_ttl_lines("forever=10").unwrap();
    assert!(
        policy::update_policy(&mut tx, support::actor(&alice), bad)
            .await
            .is_err()
    );
    assert!(parse_ttl_lines("fast=soon").is_err());
    assert_eq!(policy::get_policy(&mut tx).await.unwrap(), before);

    let good = PolicySettings {
        allowed_owners: vec!["acme-org".into(), "rust-lang".into(), "ACME-ORG".into()],
        public_only: false,
        search_allowed: false,
        token_free_reads: true,
        ttl_overrides: parse_ttl_lines("fast = 30\nimmutable=86400").unwrap(),
    };
    let saved = policy::update_policy(&mut tx, support::actor(&alice), good)
        .await
        .unwrap();
    assert_eq!(saved.allowed_owners, ["acme-org", "rust-lang"]);
    assert_eq!(policy::get_policy(&mut tx).await.unwrap(), saved);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn admin_api_tokens_work_only_while_their_owner_is_an_admin(pool: PgPool) {
    let keys = Keys::generate();
    let alice = support::user(&pool, "alice").await;
    let bob = support::user(&pool, "bob").await;
    let t = support::tenant(&pool, &keys, &alice, "acme", "acme-org").await;
    let mut tx = begin_tenant(&pool, t.id).await.unwrap();
    members::join_tenant(&mut tx, &BillingConfig::default(), support::actor(&bob), bob.id, false)
        .await
        .unwrap();
    assert!(matches!(
        admin::create_admin_token(&mut tx, &keys.pepper, support::actor(&bob), bob.id, "x").await,
        Err(Error::Forbidden(_))
    ));
    members::set_role(&mut tx, support::actor(&alice), bob.id, Role::Admin)
        .await
        .unwrap();
    let tok = admin::create_admin_token(&mut tx, &keys.pepper, support::actor(&bob), bob.id, "script")
        .await
        .unwrap();
    assert_eq!(
        authenticate_admin_token(&mut tx, &keys.pepper, tok.expose())
            .await
            .unwrap(),
        Some(bob.id)
    );
    assert_eq!(
        authenticate_admin_token(&mut tx, &keys.pepper, "shoal_nope")
            .await
            .unwrap(),
        None
    );
    members::set_role(&mut tx, support::actor(&alice), bob.id, Role::Member)
        .await
        .unwrap();
    assert_eq!(
        authenticate_admin_token(&mut tx, &keys.pepper, tok.expose())
            .await
            .unwrap(),
        None
    );
}
