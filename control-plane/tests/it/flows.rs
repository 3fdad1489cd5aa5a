//! The control plane's flows against the real server and the fake GitHub: OAuth sign-in (state
//! and PKCE, session cycled, sign-out server-side), creating a tenant as an org admin, joining as
//! an org member, caller tokens, PAT identities validated with GitHub, the login exchange, and the
//! membership re-check.

use crate::support::github::CLIENT_ID;
use crate::support::{self, app_with_github, location, octo_tenant, sign_in};
use shoal_common::Secret;
use shoal_common::token::hash_token;
use shoal_control_plane::config::BillingConfig;
use shoal_control_plane::db::begin_tenant;
use shoal_control_plane::github::GithubClient;
use shoal_control_plane::tenants::{self, members, sync};
use shoal_control_plane::tokens;
use shoal_fake_github::FakeGithub;
use sqlx::PgPool;

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn signing_in_with_github_creates_the_user_cycles_the_session_and_sign_out_ends_it(pool: PgPool) {
    let (app, gh) = app_with_github(pool.clone()).await;
    gh.add_org_member("octo-org", "alice", "admin");

    let b = app.browser();
    let _ = b.get("/").await;
    assert!(b.cookie.lock().unwrap().is_none(), "a drive-by visit stores no session");
    gh.set_oauth_approver("alice");
    let start = b.get("/auth/github/login").await;
    let before = b
        .cookie
        .lock()
        .unwrap()
        .clone()
        .expect("the flow's state lives in a session");
    let authorize = url::Url::parse(&location(&start)).unwrap();
    let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(q["scope"], "read:org");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["state"].len() >= 16 && q["code_challenge"].len() >= 43);
    assert_eq!(q["client_id"], CLIENT_ID);
    let back = b.http.get(authorize.as_str()).send().await.unwrap();
    let done = b.get(&location(&back)).await;
    assert_eq!(location(&done), "/");
    let after = b.cookie.lock().unwrap().clone().unwrap();
    assert_ne!(before, after, "the session id is cycled at sign-in");

    let (status, html) = b.get_text("/").await;
    assert_eq!(status, 200);
    assert!(html.contains("@alice") && html.contains("Signed in as alice"), "{html}");
    assert!(html.contains("Create a tenant"), "alice administers octo-org");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM users WHERE login = 'alice'").await,
        1
    );

    // The pre-sign-in session id is worthless.
    let old = app.browser();
    *old.cookie.lock().unwrap() = Some(before);
    assert!(!old.get_text("/").await.1.contains("@alice"));

    // Signing in again reuses the user.
    let b2 = sign_in(&app, &gh, "alice").await;
    assert_eq!(count(&pool, "SELECT count(*) FROM users").await, 1);

    // Sign-out deletes the session server-side: replaying the cookie shows the landing page.
    let cookie = b2.cookie.lock().unwrap().clone();
    let csrf = b2.csrf("/").await;
    let r = b2.post_form("/auth/logout", &[("csrf", &csrf)]).await;
    assert_eq!(location(&r), "/");
    let replay = app.browser();
    *replay.cookie.lock().unwrap() = cookie;
    let (_, html) = replay.get_text("/").await;
    assert!(html.contains("Sign in with GitHub") && !html.contains("@alice"));
    assert!(count(&pool, "SELECT count(*) FROM audit_log WHERE action = 'user.sign_out'").await == 1);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_callback_with_a_forged_state_or_a_denied_approval_signs_nobody_in(pool: PgPool) {
    let (app, gh) = app_with_github(pool.clone()).await;
    gh.set_oauth_approver("alice");
    let b = app.browser();
    let start = b.get("/auth/github/login").await;
    let back = b.http.get(location(&start)).send().await.unwrap();
    let callback = location(&back);
    let forged = url::Url::parse(&callback).unwrap();
    let code: String = forged.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let r = b.get(&format!("/auth/github/callback?code={code}&state=forged")).await;
    assert_eq!(location(&r), "/");
    let (_, html) = b.get_text("/").await;
    assert!(html.contains("did not match"), "{html}");
    // The pending flow was used up: the genuine callback now fails too.
    let _ = b.get(&callback).await;
    let (_, html) = b.get_text("/").await;
    assert!(html.contains("start again") && !html.contains("@alice"));

    gh.clear_oauth_approver();
    let b = app.browser();
    let start = b.get("/auth/github/login").await;
    let back = b.http.get(location(&start)).send().await.unwrap();
    let _ = b.get(&location(&back)).await;
    let (_, html) = b.get_text("/").await;
    assert!(html.contains("access_denied"), "{html}");
    assert_eq!(count(&pool, "SELECT count(*) FROM users").await, 0);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn an_org_admin_creates_a_tenant_members_join_by_signing_in_and_others_cannot(pool: PgPool) {
    let (app, gh) = app_with_github(pool.clone()).await;
    gh.add_org_member("octo-org", "alice", "admin");
    gh.add_org_member("octo-org", "bob", "member");
    gh.add_org_member("other-org", "carol", "admin");

    let alice = sign_in(&app, &gh, "alice").await;
    let (_, form) = alice.get_text("/tenants/new").await;
    assert!(form.contains(r#"<option value="octo-org">"#));
    let csrf = alice.csrf("/tenants/new").await;
    for (slug, says) in [("www", "reserved"), ("Oc", "3 to 32"), ("bad_slug", "lowercase")] {
        let r = alice
            .post_form(
                "/tenants/new",
                &[("csrf", &csrf), ("org", "octo-org"), ("slug", slug), ("plan", "free")],
            )
            .await;
        assert_eq!(location(&r), "/tenants/new");
        let (_, html) = alice.get_text("/tenants/new").await;
        assert!(html.contains(says), "{slug}: {html}");
    }
    let r = alice
        .post_form(
            "/tenants/new",
            &[("csrf", &csrf), ("org", "octo-org"), ("slug", "octo"), ("plan", "team")],
        )
        .await;
    assert_eq!(location(&r), "/tenants/new");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM tenants").await,
        0,
        "bad input creates nothing"
    );
    let r = alice
        .post_form(
            "/tenants/new",
            &[("csrf", &csrf), ("org", "octo-org"), ("slug", "octo"), ("plan", "free")],
        )
        .await;
    assert_eq!(location(&r), "/t/octo");
    let (status, html) = alice.get_text("/t/octo").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Tenant octo created") && html.contains("octo.localhost"),
        "{html}"
    );
    let (desired, keylen): (String, i32) = sqlx::query_as(
        "SELECT w.desired_state, length(t.wrapped_data_key) FROM tenants t JOIN workers w ON w.tenant_id = t.id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(desired, "running");
    assert!(keylen > 32);
    // The same slug again is a clear conflict.
    let r = alice
        .post_form(
            "/tenants/new",
            &[("csrf", &csrf), ("org", "octo-org"), ("slug", "octo")],
        )
        .await;
    assert_eq!(location(&r), "/tenants/new");
    assert!(alice.get_text("/tenants/new").await.1.contains("taken"));

    // Bob, an org member, joins by signing in, as a member; he cannot create a tenant for the org.
    let bob = sign_in(&app, &gh, "bob").await;
    let (_, home) = bob.get_text("/").await;
    assert!(home.contains("/t/octo") && !home.contains("Create a tenant"), "{home}");
    let (_, members) = bob.get_text("/t/octo/members").await;
    assert!(members.contains("@alice") && members.contains("@bob") && !members.contains("Make admin"));
    let csrf = bob.csrf("/").await;
    let r = bob
        .post_form(
            "/tenants/new",
            &[("csrf", &csrf), ("org", "octo-org"), ("slug", "bobs")],
        )
        .await;
    assert_eq!(location(&r), "/tenants/new");
    assert!(bob.get_text("/tenants/new").await.1.contains("admin of"));
    // Bob cannot do admin things.
    let (status, _) = bob.get_text("/t/octo/audit").await;
    assert_eq!(status, 403);

    // Carol is in another org: the tenant does not exist for her.
    let carol = sign_in(&app, &gh, "carol").await;
    let (status, html) = carol.get_text("/t/octo").await;
    assert_eq!(status, 404);
    assert!(!html.contains("octo-org"));
    assert_eq!(count(&pool, "SELECT count(*) FROM tenants").await, 1);

    // Alice promotes Bob, then the last-admin rule holds for the last one.
    let (_, members) = alice.get_text("/t/octo/members").await;
    assert!(members.contains("Make admin"));
    let bob_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE login = 'bob'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let alice_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE login = 'alice'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let csrf = alice.csrf("/t/octo/members").await;
    let r = alice
        .post_form(
            &format!("/t/octo/members/{alice_id}/role"),
            &[("csrf", &csrf), ("role", "member")],
        )
        .await;
    assert_eq!(location(&r), "/t/octo/members");
    assert!(alice.get_text("/t/octo/members").await.1.contains("last admin"));
    alice
        .post_form(
            &format!("/t/octo/members/{bob_id}/role"),
            &[("csrf", &csrf), ("role", "admin")],
        )
        .await;
    assert_eq!(
        count(&pool, "SELECT count(*) FROM memberships WHERE role = 'admin'").await,
        2
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_member_an_admin_removed_stays_out_until_let_back_in(pool: PgPool) {
    let (app, gh, alice) = octo_tenant(pool.clone()).await;
    sign_in(&app, &gh, "bob").await;
    let bob_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE login = 'bob'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let csrf = alice.csrf("/t/octo/members").await;
    let r = alice
        .post_form(&format!("/t/octo/members/{bob_id}/remove"), &[("csrf", &csrf)])
        .await;
    assert_eq!(location(&r), "/t/octo/members");
    let (_, members) = alice.get_text("/t/octo/members").await;
    assert!(
        members.contains("Removed") && members.contains("Let back in"),
        "{members}"
    );

    // GitHub still lists Bob in the org, but neither signing in nor the CLI's login brings him back.
    let bob = sign_in(&app, &gh, "bob").await;
    assert_eq!(bob.get_text("/t/octo").await.0, 404);
    let exchange = || {
        reqwest::Client::new()
            .post(format!("{}/api/v1/login/exchange", app.url))
            .json(&serde_json::json!({"github_token": gh.add_token("bob"), "tenant": "octo", "device_name": "d"}))
            .send()
    };
    let r = exchange().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("removed bob"));
    assert_eq!(
        count(&pool, "SELECT count(*) FROM memberships").await,
        1,
        "only alice is a member"
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM caller_tokens").await, 0);

    // The admin API lists him and lets him back in (the members page has the same button).
    let api = format!("{}/api/v1/tenants/octo/removed-members", app.url);
    let removed: serde_json::Value = alice
        .with_cookie(alice.http.get(&api))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(removed[0]["login"], "bob", "{removed}");
    let r = alice
        .with_cookie(alice.http.delete(format!("{api}/{bob_id}")))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let bob = sign_in(&app, &gh, "bob").await;
    assert_eq!(bob.get_text("/t/octo").await.0, 200);
    assert_eq!(exchange().await.unwrap().status(), 200);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM audit_log WHERE action IN ('member.remove', 'member.allow_back')"
        )
        .await,
        2
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn caller_tokens_are_shown_once_listed_by_prefix_and_revoked_by_owner_or_admin(pool: PgPool) {
    let (app, gh, alice) = octo_tenant(pool.clone()).await;
    let bob = sign_in(&app, &gh, "bob").await;
    let csrf = bob.csrf("/t/octo/tokens").await;
    let r = bob
        .post_form(
            "/t/octo/tokens",
            &[("csrf", &csrf), ("name", "laptop"), ("expires_in_days", "30")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let at = html.find("value=\"shoal_").expect("the token is shown once");
    let token = html[at + 7..at + 7 + 49].to_string();
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM caller_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(&stored[..], &hash_token(&app.config.keys.pepper, &token).as_bytes()[..]);
    let (_, list) = bob.get_text("/t/octo/tokens").await;
    assert!(
        list.contains(&token[..12]) && !list.contains(&token),
        "later only the prefix"
    );
    // A bad name changes nothing.
    let r = bob.post_form("/t/octo/tokens", &[("csrf", &csrf), ("name", " ")]).await;
    assert_eq!(location(&r), "/t/octo/tokens");
    assert_eq!(count(&pool, "SELECT count(*) FROM caller_tokens").await, 1);

    // Alice (admin) sees Bob's token and can revoke it; Bob cannot revoke Alice's.
    let alice_csrf = alice.csrf("/t/octo/tokens").await;
    let r = alice
        .post_form("/t/octo/tokens", &[("csrf", &alice_csrf), ("name", "alice-ci")])
        .await;
    assert_eq!(r.status(), 200);
    let alice_tok: uuid::Uuid = sqlx::query_scalar("SELECT id FROM caller_tokens WHERE name = 'alice-ci'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let bob_tok: uuid::Uuid = sqlx::query_scalar("SELECT id FROM caller_tokens WHERE name = 'laptop'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let (_, bobs_view) = bob.get_text("/t/octo/tokens").await;
    assert!(!bobs_view.contains("alice-ci"), "members see only their own tokens");
    bob.post_form(&format!("/t/octo/tokens/{alice_tok}/revoke"), &[("csrf", &csrf)])
        .await;
    assert!(bob.get_text("/t/octo/tokens").await.1.contains("another member"));
    assert_eq!(
        count(&pool, "SELECT count(*) FROM caller_tokens WHERE revoked_at IS NOT NULL").await,
        0
    );
    let (_, alices_view) = alice.get_text("/t/octo/tokens").await;
    assert!(alices_view.contains("laptop") && alices_view.contains("@bob"));
    alice
        .post_form(&format!("/t/octo/tokens/{bob_tok}/revoke"), &[("csrf", &alice_csrf)])
        .await;
    let (_, list) = bob.get_text("/t/octo/tokens").await;
    assert!(list.contains("revoked"), "{list}");
    assert_eq!(
        count(&pool, "SELECT count(*) FROM caller_tokens WHERE revoked_at IS NOT NULL").await,
        1
    );
    // The audit row has the actor, the action and the address; no token.
    let (actor, ip): (String, String) = sqlx::query_as(
        "SELECT u.login, host(a.ip) FROM audit_log a JOIN users u ON u.id = a.actor_user_id WHERE a.action = 'token.revoke'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((actor.as_str(), ip.as_str()), ("alice", "127.0.0.1"));
    assert_eq!(
        count(
            &pool,
            &format!(
                "SELECT count(*) FROM audit_log WHERE details::text LIKE '%{}%'",
                &token[6..]
            )
        )
        .await,
        0
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_pat_is_checked_with_github_before_it_is_sealed_and_a_refused_one_changes_nothing(pool: PgPool) {
    let (app, gh, alice) = octo_tenant(pool.clone()).await;
    let bot_pat = gh.add_token("octo-bot");
    let revoked = gh.add_revoked_token("octo-bot");
    gh.reset_stats();

    let csrf = alice.csrf("/t/octo/identities").await;
    let r = alice
        .post_form(
            "/t/octo/identities/pat",
            &[
                ("csrf", &csrf),
                ("name", "bot"),
                ("token", &revoked),
                ("scopes", "octo-org"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/t/octo/identities");
    let (_, html) = alice.get_text("/t/octo/identities").await;
    assert!(html.contains("GitHub refused this token"), "{html}");
    assert_eq!(count(&pool, "SELECT count(*) FROM identities").await, 0);
    let r = alice
        .post_form(
            "/t/octo/identities/pat",
            &[
                ("csrf", &csrf),
                ("name", "bot"),
                ("token", &bot_pat),
                ("scopes", "bad scope!"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/t/octo/identities");
    assert_eq!(count(&pool, "SELECT count(*) FROM identities").await, 0);

    let r = alice
        .post_form(
            "/t/octo/identities/pat",
            &[
                ("csrf", &csrf),
                ("name", "bot"),
                ("token", &bot_pat),
                ("scopes", "octo-org, octo-org/api"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/t/octo/identities");
    let (_, html) = alice.get_text("/t/octo/identities").await;
    assert!(
        html.contains("@octo-bot") && html.contains("octo-org, octo-org/api"),
        "{html}"
    );
    assert!(!html.contains(&bot_pat), "the secret is never shown again");
    let stats = gh.stats();
    let path_calls = |p: &str| stats.by_path.get(p).map(|c| c.calls).unwrap_or(0);
    // The revoked token was refused at /user; the good one was asked /user and /rate_limit once.
    assert_eq!(path_calls("/user"), 2);
    assert_eq!(path_calls("/rate_limit"), 1);

    // Sealed in the database, opens only through the tenant's key.
    let raw: Vec<u8> = sqlx::query_scalar("SELECT sealed_secret FROM identities")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!raw.windows(bot_pat.len()).any(|w| w == bot_pat.as_bytes()));
    let t = tenants::resolve(&pool, "octo").await.unwrap();
    let mut tx = begin_tenant(&pool, t.id).await.unwrap();
    let dk = tenants::data_key(&mut tx, &app.config.keys).await.unwrap();
    let ident = shoal_control_plane::identities::list_identities(&mut tx)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        shoal_control_plane::identities::open_secret(&mut tx, &dk, ident.id)
            .await
            .unwrap()
            .expose(),
        bot_pat
    );
    drop(tx);

    // Disable, then delete.
    let id = ident.id;
    alice
        .post_form(
            &format!("/t/octo/identities/{id}/enabled"),
            &[("csrf", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(
        count(&pool, "SELECT count(*) FROM identities WHERE NOT enabled").await,
        1
    );
    alice
        .post_form(&format!("/t/octo/identities/{id}/delete"), &[("csrf", &csrf)])
        .await;
    assert_eq!(count(&pool, "SELECT count(*) FROM identities").await, 0);
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_login_exchange_mints_a_device_token_for_org_members_only(pool: PgPool) {
    let (app, gh, _alice) = octo_tenant(pool.clone()).await;
    let http = reqwest::Client::new();
    let exchange = |token: String| {
        let http = http.clone();
        let url = format!("{}/api/v1/login/exchange", app.url);
        async move {
            let r = http
                .post(url)
                .json(&serde_json::json!({"github_token": token, "tenant": "octo", "device_name": "bob-laptop"}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<serde_json::Value>().await.unwrap())
        }
    };

    // Bob never signed in to shoal: the exchange creates his user and membership. The edge's dev
    // CA comes along so the CLI can trust the tenant host.
    let ca_dir = app.config.state_dir.join("ca");
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::write(
        ca_dir.join("ca.pem"),
        "-----BEGIN CERTIFICATE-----\ndev\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let (status, out) = exchange(gh.add_token("bob")).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["tenant"], "octo");
    assert_eq!(out["host"], app.config.tenant_host("octo"));
    assert!(out["host"].as_str().unwrap().starts_with("octo.localhost"));
    assert_eq!(out["user"], "bob");
    assert!(
        out["ca_pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    let token = out["token"].as_str().unwrap();
    assert!(token.starts_with("shoal_") && token.len() == 49);
    let (name, hash): (String, Vec<u8>) = sqlx::query_as("SELECT name, token_hash FROM caller_tokens")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "bob-laptop");
    assert_eq!(&hash[..], &hash_token(&app.config.keys.pepper, token).as_bytes()[..]);
    assert_eq!(count(&pool, "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.login = 'bob' AND m.role = 'member'").await, 1);

    // A revoked GitHub token: 401. Not in the org: 403 and nothing minted.
    let (status, out) = exchange(gh.add_revoked_token("bob")).await;
    assert_eq!(status, 401, "{out}");
    let (status, out) = exchange(gh.add_token("mallory")).await;
    assert_eq!(status, 403, "{out}");
    assert!(out["message"].as_str().unwrap().contains("not") && out["message"].as_str().unwrap().contains("octo-org"));
    assert_eq!(count(&pool, "SELECT count(*) FROM caller_tokens").await, 1);

    // Someone who was a member (with a live token) but GitHub no longer lists: removed, revoked.
    let t = tenants::resolve(&pool, "octo").await.unwrap();
    let gone = support::user(&pool, "gone-user").await;
    let mut tx = begin_tenant(&pool, t.id).await.unwrap();
    members::join_tenant(
        &mut tx,
        &BillingConfig::default(),
        support::actor(&gone),
        gone.id,
        false,
    )
    .await
    .unwrap();
    tokens::create_caller_token(
        &mut tx,
        &app.config.keys.pepper,
        support::actor(&gone),
        gone.id,
        "old",
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let gone_token = gh.add_token("gone-user");
    sqlx::query("UPDATE users SET github_id = $1 WHERE id = $2")
        .bind(gh.user_id("gone-user").unwrap() as i64)
        .bind(gone.id.as_uuid())
        .execute(&pool)
        .await
        .unwrap();
    let (status, _) = exchange(gone_token).await;
    assert_eq!(status, 403);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM caller_tokens WHERE name = 'old' AND revoked_at IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.login = 'gone-user'"
        )
        .await,
        0
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_periodic_recheck_removes_members_github_no_longer_lists_and_revokes_their_tokens(pool: PgPool) {
    let (app, gh) = app_with_github(pool.clone()).await;
    gh.add_org_member("octo-org", "alice", "admin");
    gh.add_org_member("octo-org", "octo-bot", "member");
    let keys = app.config.keys.clone();
    let alice = support::user(&pool, "alice").await;
    let t = support::tenant(&pool, &keys, &alice, "octo", "octo-org").await;
    let ghost = support::user(&pool, "ghost").await;
    let github = GithubClient::new(&app_github_config(&gh));

    // Without a PAT there is nothing to ask GitHub with: it does not run.
    let out = sync::recheck_tenant_members(&pool, &keys, &github, &t).await.unwrap();
    assert!(!out.ran);

    let mut tx = begin_tenant(&pool, t.id).await.unwrap();
    members::join_tenant(
        &mut tx,
        &BillingConfig::default(),
        support::actor(&ghost),
        ghost.id,
        false,
    )
    .await
    .unwrap();
    tokens::create_caller_token(
        &mut tx,
        &keys.pepper,
        support::actor(&ghost),
        ghost.id,
        "ghost-ci",
        None,
    )
    .await
    .unwrap();
    let dk = tenants::data_key(&mut tx, &keys).await.unwrap();
    let pat = Secret::new(gh.add_token("octo-bot"));
    shoal_control_plane::identities::insert_pat(
        &mut tx,
        &dk,
        support::actor(&alice),
        alice.id,
        shoal_control_plane::identities::NewPat {
            name: "bot",
            token: &pat,
            scopes: vec![],
            account: ("octo-bot".into(), 1),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    gh.reset_stats();

    let out = sync::recheck_tenant_members(&pool, &keys, &github, &t).await.unwrap();
    assert_eq!(
        out,
        sync::RecheckOutcome {
            checked: 2,
            removed: 1,
            ran: true
        }
    );
    let stats = gh.stats();
    assert_eq!(
        stats.by_path.get("/orgs/octo-org/members/alice").map(|c| c.calls),
        Some(1)
    );
    assert_eq!(
        stats.by_path.get("/orgs/octo-org/members/ghost").map(|c| c.calls),
        Some(1)
    );
    let mut tx = begin_tenant(&pool, t.id).await.unwrap();
    let left: Vec<String> = members::list_members(&mut tx)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.login)
        .collect();
    assert_eq!(left, ["alice"]);
    let tok = tokens::list_caller_tokens(&mut tx, Some(ghost.id)).await.unwrap();
    assert!(tok[0].revoked_at.is_some());
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM audit_log WHERE action = 'member.left_org' AND actor_user_id IS NULL"
        )
        .await,
        1
    );
}

fn app_github_config(gh: &FakeGithub) -> shoal_control_plane::config::GithubConfig {
    let url = url::Url::parse(&gh.url()).unwrap();
    shoal_control_plane::config::GithubConfig {
        api_url: url.clone(),
        web_url: url,
        client_id: None,
        client_secret: None,
    }
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn policy_app_identities_and_the_admin_api_follow_the_same_rules_from_pages_and_sessions(pool: PgPool) {
    let (app, gh, alice) = octo_tenant(pool.clone()).await;
    let bob = sign_in(&app, &gh, "bob").await;

    // Policy form: bad TTL refused with a reason and nothing saved; a good one is saved.
    let csrf = alice.csrf("/t/octo/policy").await;
    let form = |ttl: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("allowed_owners", "octo-org\nrust-lang".to_string()),
            ("search_allowed", "on".to_string()),
            ("ttl_overrides", ttl.to_string()),
        ]
    };
    let f = form("fast=soon");
    let r = alice
        .post_form(
            "/t/octo/policy",
            &f.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(location(&r), "/t/octo/policy");
    let (_, html) = alice.get_text("/t/octo/policy").await;
    assert!(html.contains("whole number of seconds"), "{html}");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM policies WHERE ttl_overrides <> '{}'::jsonb"
        )
        .await,
        0
    );
    let f = form("fast=30");
    alice
        .post_form(
            "/t/octo/policy",
            &f.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
        )
        .await;
    let (owners, public_only, search, ttl): (Vec<String>, bool, bool, serde_json::Value) =
        sqlx::query_as("SELECT allowed_owners, public_only, search_allowed, ttl_overrides FROM policies")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(owners, ["octo-org", "rust-lang"]);
    assert_eq!((public_only, search), (false, true));
    assert_eq!(ttl, serde_json::json!({"fast": 30}));
    // A member can read the policy page but not change it.
    let bob_csrf = bob.csrf("/t/octo/policy").await;
    bob.post_form("/t/octo/policy", &[("csrf", &bob_csrf), ("allowed_owners", "")])
        .await;
    assert!(bob.get_text("/t/octo/policy").await.1.contains("only admins"));
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM policies WHERE cardinality(allowed_owners) = 2"
        )
        .await,
        1
    );

    // A GitHub App identity from the page, proven with GitHub (JWT -> installation token);
    // a malformed key, a key GitHub does not know and a wrong installation are refused.
    gh.register_app(123, &support::rsa_public_pem());
    let installation = gh.add_installation(123, "octo-org").to_string();
    let csrf = alice.csrf("/t/octo/identities").await;
    let app_form = |key: String, installation: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("name", "reader app".to_string()),
            ("app_id", "123".to_string()),
            ("installation_id", installation.to_string()),
            ("private_key", key),
        ]
    };
    let other_key = {
        let out = std::process::Command::new("openssl")
            .args(["genrsa", "-traditional", "2048"])
            .stderr(std::process::Stdio::null())
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    gh.reset_stats();
    for (bad, inst, says) in [
        ("not a key".to_string(), installation.as_str(), "PEM"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEnotreally\n-----END RSA PRIVATE KEY-----".to_string(),
            installation.as_str(),
            "not a valid RSA key",
        ),
        (other_key, installation.as_str(), "refused the key"),
        (support::rsa_pem(), "999999", "no installation"),
    ] {
        let f = app_form(bad, inst);
        alice
            .post_form(
                "/t/octo/identities/app",
                &f.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
            )
            .await;
        assert!(alice.get_text("/t/octo/identities").await.1.contains(says), "{says}");
    }
    assert_eq!(count(&pool, "SELECT count(*) FROM identities").await, 0);
    let key = support::rsa_pem();
    let f = app_form(key.clone(), &installation);
    alice
        .post_form(
            "/t/octo/identities/app",
            &f.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>(),
        )
        .await;
    let (_, html) = alice.get_text("/t/octo/identities").await;
    let key_line = key.lines().nth(1).unwrap();
    assert!(html.contains("app 123") && !html.contains(key_line), "{html}");
    let minted = gh
        .stats()
        .by_path
        .iter()
        .filter(|(p, _)| p.starts_with("/app/installations/"))
        .map(|(_, c)| c.calls)
        .sum::<u64>();
    assert_eq!(
        minted, 3,
        "the unknown key, the wrong installation and the good one asked GitHub"
    );
    // Bob cannot add identities.
    bob.post_form("/t/octo/identities/app", &[("csrf", &bob_csrf)]).await;
    assert_eq!(count(&pool, "SELECT count(*) FROM identities").await, 1);

    // The admin API from Alice's browser session: reads work, writes need the CSRF header.
    let api = format!("{}/api/v1/tenants/octo/members", app.url);
    let r = alice.with_cookie(alice.http.get(&api)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let bob_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE login = 'bob'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let patch = format!("{api}/{bob_id}");
    let r = alice
        .with_cookie(alice.http.patch(&patch))
        .json(&serde_json::json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let csrf = alice.csrf("/t/octo").await;
    let r = alice
        .with_cookie(alice.http.patch(&patch))
        .header("x-csrf-token", &csrf)
        .json(&serde_json::json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Bob (now admin) demotes himself back through the API; a member's session is refused.
    let bob_csrf = bob.csrf("/t/octo").await;
    let r = bob
        .with_cookie(bob.http.patch(&patch))
        .header("x-csrf-token", &bob_csrf)
        .json(&serde_json::json!({"role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = bob.with_cookie(bob.http.get(&api)).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // An admin API token made on the API page works without a session.
    let csrf = alice.csrf("/t/octo/api-tokens").await;
    let r = alice
        .post_form("/t/octo/api-tokens", &[("csrf", &csrf), ("name", "script")])
        .await;
    let html = r.text().await.unwrap();
    let at = html.find("value=\"shoal_").unwrap();
    let token = &html[at + 7..at + 7 + 49];
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/tenants/octo/policy", app.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let policy: serde_json::Value = r.json().await.unwrap();
    assert_eq!(policy["ttl_overrides"]["fast"], 30);
    let (_, page) = alice.get_text("/t/octo/api-tokens").await;
    assert!(page.contains("script") && !page.contains(token));
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn a_session_cookie_without_a_valid_signature_is_not_a_session(pool: PgPool) {
    let (app, gh) = app_with_github(pool).await;
    let alice = sign_in(&app, &gh, "alice").await;
    let cookie = alice.cookie.lock().unwrap().clone().unwrap();
    // The value is the base64 HMAC-SHA256 of the session id (44 characters), then the id.
    let value = cookie.strip_prefix("shoal_session=").unwrap();
    let (sig, id) = value.split_at(44);
    let flip = if sig.starts_with('A') { "B" } else { "A" };
    for (what, value) in [
        ("tampered", format!("shoal_session={flip}{}{id}", &sig[1..])),
        ("unsigned", format!("shoal_session={id}")),
        ("signed with an id changed", format!("shoal_session={sig}{id}x")),
        ("genuine", cookie.clone()),
    ] {
        let b = app.browser();
        *b.cookie.lock().unwrap() = Some(value);
        let (_, html) = b.get_text("/").await;
        assert_eq!(html.contains("@alice"), what == "genuine", "{what}");
    }
    // The cookie's attributes: HttpOnly, SameSite=Lax, and Secure only behind https.
    let r = app.browser().get("/auth/github/login").await;
    let set = r.headers()["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("shoal_session="), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax") && !set.contains("Secure"),
        "{set}"
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn signing_in_after_leaving_the_org_removes_the_membership_and_revokes_tokens(pool: PgPool) {
    let (app, gh) = app_with_github(pool.clone()).await;
    gh.add_org_member("octo-org", "alice", "admin");
    gh.add_org_member("other-org", "bob", "member");
    let keys = app.config.keys.clone();
    let alice = support::user(&pool, "alice").await;
    let t = support::tenant(&pool, &keys, &alice, "octo", "octo-org").await;
    // Bob was a member (GitHub has since dropped him from octo-org) and holds a token.
    sign_in(&app, &gh, "bob").await;
    let bob: uuid::Uuid = sqlx::query_scalar("SELECT id FROM users WHERE login = 'bob'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let bob = shoal_common::UserId(bob);
    let mut tx = begin_tenant(&pool, t.id).await.unwrap();
    members::join_tenant(
        &mut tx,
        &BillingConfig::default(),
        shoal_control_plane::audit::Actor::system(),
        bob,
        false,
    )
    .await
    .unwrap();
    tokens::create_caller_token(
        &mut tx,
        &keys.pepper,
        shoal_control_plane::audit::Actor::system(),
        bob,
        "ci",
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    gh.reset_stats();

    let b = sign_in(&app, &gh, "bob").await;
    assert!(!b.get_text("/").await.1.contains("/t/octo"));
    assert_eq!(
        count(&pool, "SELECT count(*) FROM caller_tokens WHERE revoked_at IS NOT NULL").await,
        1
    );
    assert_eq!(
        count(&pool, "SELECT count(*) FROM memberships").await,
        1,
        "only alice is left"
    );
    let stats = gh.stats();
    assert_eq!(
        stats.by_path.get("/user/memberships/orgs/octo-org").map(|c| c.calls),
        Some(1)
    );
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
async fn the_overview_says_prominently_when_every_identity_is_quarantined(pool: PgPool) {
    let (_app, gh, alice) = octo_tenant(pool.clone()).await;
    let pat = gh.add_token("octo-bot");
    let csrf = alice.csrf("/t/octo/identities").await;
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "bot"),
        ("token", &pat),
        ("scopes", ""),
    ];
    alice.post_form("/t/octo/identities/pat", &form).await;
    let report = |state: &'static str| {
        sqlx::query(
            "INSERT INTO identity_health (tenant_id, identity_id, state, reason, budgets)
             SELECT tenant_id, id, $1, 'GitHub answered 401', '[]'::jsonb FROM identities
             ON CONFLICT (tenant_id, identity_id) DO UPDATE SET state = $1",
        )
        .bind(state)
        .execute(&pool)
    };
    report("healthy").await.unwrap();
    let (_, html) = alice.get_text("/t/octo").await;
    assert!(!html.contains("pool-unavailable"), "{html}");
    report("quarantined").await.unwrap();
    let (_, html) = alice.get_text("/t/octo").await;
    assert!(html.contains("No identity can serve reads"), "{html}");
    assert!(html.contains("bot: GitHub answered 401"), "{html}");
}
