//! The control plane wired to a fresh fake GitHub, and users signed in through its OAuth flow.

use super::app::{Browser, TestApp, location};
use shoal_common::Secret;
use shoal_control_plane::Config;
use shoal_fake_github::{FakeGithub, Options};
use sqlx::PgPool;

pub const CLIENT_ID: &str = "Iv1.shoaltest";
pub const CLIENT_SECRET: &str = "shoal-test-oauth-secret";

/// The control plane talking to `gh` as GitHub (and telling its workers to).
pub async fn app_against(pool: PgPool, gh: &FakeGithub, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let url = url::Url::parse(&gh.url()).unwrap();
    TestApp::spawn_with(pool, |c| {
        c.github.api_url = url.clone();
        c.github.web_url = url.clone();
        tweak(c);
    })
    .await
}

/// The control plane wired to a fresh fake GitHub with a registered OAuth app.
pub async fn app_with_github(pool: PgPool) -> (TestApp, FakeGithub) {
    app_with_github_and(pool, |_| {}).await
}

/// [`app_with_github`], with the config tweaked further.
pub async fn app_with_github_and(pool: PgPool, tweak: impl FnOnce(&mut Config)) -> (TestApp, FakeGithub) {
    let gh = FakeGithub::start(Options::default()).await;
    gh.register_oauth_app(CLIENT_ID, CLIENT_SECRET);
    let app = app_against(pool, &gh, |c| {
        c.github.client_id = Some(CLIENT_ID.into());
        c.github.client_secret = Some(Secret::new(CLIENT_SECRET));
        tweak(c);
    })
    .await;
    (app, gh)
}

/// Runs the OAuth web flow as `login` and returns the signed-in browser.
pub async fn sign_in(app: &TestApp, gh: &FakeGithub, login: &str) -> Browser {
    let b = app.browser();
    let _ = b.get("/").await;
    gh.set_oauth_approver(login);
    let start = b.get("/auth/github/login").await;
    assert_eq!(start.status(), 303);
    let authorize = location(&start);
    assert!(
        authorize.starts_with(&format!("{}/login/oauth/authorize?", gh.url())),
        "{authorize}"
    );
    let back = b.http.get(&authorize).send().await.unwrap();
    assert_eq!(back.status(), 302);
    let callback = location(&back);
    assert!(
        callback.starts_with(&format!("{}/auth/github/callback?", app.url)),
        "{callback}"
    );
    let done = b.get(&callback).await;
    assert_eq!((done.status().as_u16(), location(&done)), (303, "/".to_string()));
    b
}

/// A tenant `octo` for the org `octo-org`, created by its admin alice (returned signed in); bob
/// is an org member who has not signed in yet.
pub async fn octo_tenant(pool: PgPool) -> (TestApp, FakeGithub, Browser) {
    octo_tenant_and(pool, |_| {}).await
}

/// [`octo_tenant`], with the config tweaked.
pub async fn octo_tenant_and(pool: PgPool, tweak: impl FnOnce(&mut Config)) -> (TestApp, FakeGithub, Browser) {
    let (app, gh) = app_with_github_and(pool, tweak).await;
    gh.add_org_member("octo-org", "alice", "admin");
    gh.add_org_member("octo-org", "bob", "member");
    let alice = sign_in(&app, &gh, "alice").await;
    let csrf = alice.csrf("/tenants/new").await;
    let r = alice
        .post_form(
            "/tenants/new",
            &[("csrf", &csrf), ("org", "octo-org"), ("slug", "octo")],
        )
        .await;
    assert_eq!(location(&r), "/t/octo");
    (app, gh, alice)
}
