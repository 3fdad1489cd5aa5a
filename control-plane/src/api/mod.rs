//! The JSON API under `/api/v1`: the CLI's login exchange ([`login`]) and the admin API of each
//! tenant ([`admin`]). Its OpenAPI document is generated from the handlers and their types
//! ([`ApiDoc`], the rules in [`schema`]) and served at `/api/v1/openapi.json`; a test checks it
//! against [`API_ROUTES`]. Every error, a rejected path or body included, is the JSON body of
//! [`crate::Error`] (extractors in [`extract`]).

mod admin;
mod extract;
mod login;
pub mod schema;
mod stats;

use crate::http::session::SESSION_COOKIE;
use crate::state::AppState;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::sync::LazyLock;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

/// Every API operation as (method, path template): the OpenAPI document must describe exactly these.
pub const API_ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/openapi.json"),
    ("post", "/api/v1/login/exchange"),
    ("get", "/api/v1/tenants/{slug}/members"),
    ("patch", "/api/v1/tenants/{slug}/members/{user_id}"),
    ("delete", "/api/v1/tenants/{slug}/members/{user_id}"),
    ("get", "/api/v1/tenants/{slug}/removed-members"),
    ("delete", "/api/v1/tenants/{slug}/removed-members/{user_id}"),
    ("get", "/api/v1/tenants/{slug}/tokens"),
    ("post", "/api/v1/tenants/{slug}/tokens"),
    ("delete", "/api/v1/tenants/{slug}/tokens/{token_id}"),
    ("get", "/api/v1/tenants/{slug}/identities"),
    ("post", "/api/v1/tenants/{slug}/identities"),
    ("patch", "/api/v1/tenants/{slug}/identities/{identity_id}"),
    ("delete", "/api/v1/tenants/{slug}/identities/{identity_id}"),
    ("get", "/api/v1/tenants/{slug}/policy"),
    ("put", "/api/v1/tenants/{slug}/policy"),
    ("get", "/api/v1/tenants/{slug}/policy/module"),
    ("put", "/api/v1/tenants/{slug}/policy/module"),
    ("post", "/api/v1/tenants/{slug}/policy/module/restore"),
    ("put", "/api/v1/tenants/{slug}/policy/module/on-failure"),
    ("post", "/api/v1/tenants/{slug}/policy/module/test"),
    ("get", "/api/v1/tenants/{slug}/audit"),
    ("get", "/api/v1/tenants/{slug}/stats"),
];

/// The OpenAPI document of the JSON API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "shoal control plane API",
        version = "1.0.0",
        description = "The CLI's login exchange and each tenant's admin API. Admin calls authenticate with an admin API token (`Authorization: Bearer shoal_...`, created on the tenant's API page) or with an admin's browser session, whose writes must carry the page's CSRF token in `X-CSRF-Token`. Errors are `{\"message\": ...}` with a 4xx status that says what to fix."
    ),
    servers((url = "/")),
    paths(
        get_openapi,
        login::exchange_login,
        admin::list_members,
        admin::update_member,
        admin::remove_member,
        admin::list_removed_members,
        admin::allow_removed_member_back,
        admin::list_caller_tokens,
        admin::create_caller_token,
        admin::revoke_caller_token,
        admin::list_identities,
        admin::create_identity,
        admin::update_identity,
        admin::delete_identity,
        admin::get_policy,
        admin::update_policy,
        admin::get_policy_module,
        admin::upload_policy_module,
        admin::restore_policy_module,
        admin::update_policy_module_on_failure,
        admin::test_policy_module,
        admin::list_audit,
        stats::get_tenant_stats,
    ),
    components(schemas(schema::ErrorOut)),
    modifiers(&SecuritySchemes),
    security(("adminToken" = []), ("session" = [])),
)]
pub struct ApiDoc;

/// The two ways to call the admin API.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "adminToken",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An admin API token of the tenant in the path."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        );
    }
}

/// The document as served.
static OPENAPI_JSON: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
});

/// The OpenAPI document, as served at `/api/v1/openapi.json`.
pub fn openapi_json() -> &'static str {
    &OPENAPI_JSON
}

/// The JSON API's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(get_openapi))
        .route("/api/v1/login/exchange", post(login::exchange_login))
        .merge(admin::routes())
        .merge(stats::routes())
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "get_openapi",
    tag = "meta",
    security(),
    responses((status = 200, description = "The OpenAPI document.", body = Object, content_type = "application/json")),
)]
async fn get_openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json())
}
