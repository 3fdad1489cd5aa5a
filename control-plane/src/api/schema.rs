//! What the OpenAPI document states beyond the Rust types: the rules the handlers enforce on
//! names, tokens, keys, scopes, owners and TTL overrides (as JSON Schema, whose patterns are
//! ECMA-262 regular expressions), and the one error body with the refusals every admin call can
//! answer. Each rule restates a check in the domain modules; where a pattern cannot say it
//! exactly (bytes, duplicates) it is stricter, so a request the document allows is not refused
//! for its shape.

use crate::tenants::policy::{MAX_TTL_SECS, TTL_CLASSES};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOf, OneOfBuilder, SchemaType, Type};
use utoipa::openapi::{Array, Object};
use utoipa::{IntoParams, IntoResponses, ToSchema};

/// Control characters (`char::is_control`).
const CONTROL: &str = r"\x00-\x1F\x7F-\x9F";
/// The white space `str::trim` removes, besides the control characters among it.
const SPACE: &str = r" \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// A GitHub login (`github::is_valid_login`).
const LOGIN: &str = "[A-Za-z0-9][A-Za-z0-9-]{0,38}";
/// The repo part of a scope (`identities::parse_scopes`).
const REPO: &str = r"[A-Za-z0-9._*-]{1,100}";

/// Anything `str::trim` removes.
fn trimmed() -> String {
    format!(r"[\t-\r{SPACE}]")
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// A name (of a caller token, device or identity): at most 100 characters, not blank, no control
/// characters anywhere (`tokens::validate_token_name`, `identities::validate_name`); stored trimmed.
pub fn name() -> Object {
    string()
        .min_length(Some(1))
        .max_length(Some(100))
        .pattern(Some(format!("^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$")))
        .description(Some(
            "At most 100 characters, not blank, no control characters; stored trimmed.",
        ))
        .build()
}

/// A GitHub token: printable ASCII, 1 to 255 characters once trimmed (`tokens::login::exchange`,
/// `identities::validate_pat`).
pub fn github_token() -> Object {
    let t = trimmed();
    string()
        .pattern(Some(format!("^{t}*[!-~]{{1,255}}{t}*$")))
        .description(Some(
            "A GitHub token (printable ASCII, at most 255 characters); used to ask GitHub who it belongs to.",
        ))
        .build()
}

/// A GitHub App's private key in PEM form (`identities::insert_app`).
pub fn private_key() -> Object {
    let t = trimmed();
    string()
        .max_length(Some(16_384))
        .pattern(Some(format!(
            r"^{t}*-----BEGIN[\s\S]*PRIVATE KEY-----(?:[\s\S]*-----)?{t}*$"
        )))
        .description(Some(
            "The App's RSA private key in PEM form, as GitHub generated it; proven with GitHub, then sealed; never returned.",
        ))
        .build()
}

/// Scope patterns (`identities::parse_scopes`): each item holds one or more `owner` or
/// `owner/repo`, separated by commas or white space.
pub fn scopes() -> Array {
    scopes_builder().build()
}

/// [`scopes`], or null to leave them as they are.
pub fn scopes_or_null() -> Array {
    scopes_builder()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .build()
}

fn scopes_builder() -> ArrayBuilder {
    let sep = format!(r"[,\t-\r{SPACE}]");
    let scope = format!("{LOGIN}(?:/{REPO})?");
    ArrayBuilder::new()
        .items(string().pattern(Some(format!("^{sep}*(?:{scope}(?:{sep}+{scope})*{sep}*)?$"))))
        .max_items(Some(100))
        .description(Some(
            "Owners or owner/repo patterns (the repo part may use `*`) the identity may serve; an item may hold several, separated by commas or spaces; at most 100 in all, duplicates dropped. Empty: any allowed owner.",
        ))
}

/// Allowed owners (`PolicySettings::validate`): GitHub logins; blank items are dropped.
pub fn owners() -> Array {
    let t = trimmed();
    ArrayBuilder::new()
        .items(string().pattern(Some(format!("^{t}*(?:{LOGIN}{t}*)?$"))))
        .max_items(Some(100))
        .description(Some(
            "GitHub owners whose repos may be read (letters, digits and dashes, up to 39); at most 100, duplicates and blanks dropped. Empty refuses every repo route.",
        ))
        .build()
}

/// TTL overrides (`PolicySettings::validate`): seconds per freshness class.
pub fn ttl_overrides() -> Object {
    ObjectBuilder::new()
        .property_names(Some(string().enum_values(Some(TTL_CLASSES.iter().copied()))))
        .additional_properties(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(MAX_TTL_SECS)),
        ))
        .description(Some("Cache TTL in seconds (at most a week) per freshness class."))
        .build()
}

/// A policy module upload: exactly one of `wat` (WebAssembly text) and `wasm_base64` (the binary
/// module in base64), the other absent or null.
pub fn policy_module_in() -> OneOf {
    let branch = |one: &str, other: &str, what: &str| {
        ObjectBuilder::new()
            .property(one, string().description(Some(what)))
            .required(one)
            .property(other, ObjectBuilder::new().schema_type(Type::Null))
            .build()
    };
    OneOfBuilder::new()
        .item(branch("wat", "wasm_base64", "The module as WebAssembly text (`.wat`)."))
        .item(branch("wasm_base64", "wat", "The binary module (`.wasm`), base64."))
        .description(Some("Exactly one of `wat` and `wasm_base64`."))
        .build()
}

/// The body of every error: what was wrong and how to fix it (5xx: a generic message).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorOut {
    /// What was wrong and how to fix it.
    pub message: String,
}

/// The refusals every admin call can answer.
#[derive(IntoResponses)]
pub enum AdminRefusals {
    /// Not signed in, or an unknown or revoked admin API token.
    #[response(status = 401)]
    Unauthorized(ErrorOut),
    /// Not an admin of this tenant, or a session write without `X-CSRF-Token`.
    #[response(status = 403)]
    Forbidden(ErrorOut),
    /// No such tenant, or you are not a member; or no such record in this tenant.
    #[response(status = 404)]
    NotFound(ErrorOut),
}

/// The tenant every admin path names.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantSlug {
    /// Tenant slug (its subdomain).
    #[param(pattern = "^[a-z0-9][a-z0-9-]{1,30}[a-z0-9]$")]
    pub slug: String,
}
