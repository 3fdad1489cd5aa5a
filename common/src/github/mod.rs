//! GitHub's contracts that the control plane, the worker and the CLI must agree on: the error
//! body clients display, the `fallback_local` marker the gh shim looks for, how a credential is
//! read from `Authorization`, GitHub App authentication, and the webhook signature ([`webhook`]).

pub mod app;
pub mod webhook;

use serde::Serialize;

/// The documentation link GitHub puts in its REST error bodies.
pub const DOCS_URL: &str = "https://docs.github.com/rest";

/// Marks an answer the gh shim must retry with the caller's own gh: it stands at the start of the
/// error `message` (gh prints only that) and in the body's `shoal` field (for other clients).
pub const FALLBACK_LOCAL: &str = "fallback_local";

/// GitHub's REST error body: `{"message": .., "documentation_url": ..}`, plus
/// `"shoal": "fallback_local"` when the caller's own gh should take over.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub message: String,
    pub documentation_url: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shoal: Option<&'static str>,
}

impl ErrorBody {
    /// A plain GitHub-shaped error.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            documentation_url: DOCS_URL,
            shoal: None,
        }
    }

    /// An error that hands the request back to the caller's own gh; the message starts with the
    /// marker unless it already carries it.
    pub fn fallback_local(message: impl Into<String>) -> Self {
        let message = message.into();
        let message = if message.contains(FALLBACK_LOCAL) {
            message
        } else {
            format!("{FALLBACK_LOCAL}: {message}")
        };
        Self {
            message,
            documentation_url: DOCS_URL,
            shoal: Some(FALLBACK_LOCAL),
        }
    }
}

/// The credential in an `Authorization` header value: `token X` or `Bearer X` (the scheme in any
/// case, as HTTP allows). Anything else, or an empty credential, is `None`.
pub fn credential(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
        let t = rest.trim();
        (!t.is_empty()).then_some(t)
    } else {
        None
    }
}

/// Appended to a caller token by `shoal gh --fresh` (or `SHOAL_FRESH=1`): the relay then serves
/// every request made with it as if it carried `Cache-Control: no-cache` (revalidated now, never
/// a HIT). gh cannot add headers to its own commands, but it sends the token it is given as is.
/// The marker grants nothing: the token before it is checked as always.
pub const FRESH_MARKER: &str = "+fresh";

/// The caller token of a credential and whether it carries [`FRESH_MARKER`].
pub fn split_fresh(credential: &str) -> (&str, bool) {
    match credential.strip_suffix(FRESH_MARKER) {
        Some(token) => (token, true),
        None => (credential, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fresh_marker_is_split_off_the_token() {
        assert_eq!(split_fresh("shoal_abc+fresh"), ("shoal_abc", true));
        assert_eq!(split_fresh("shoal_abc"), ("shoal_abc", false));
        assert_eq!(split_fresh("shoal_abc+fresh+fresh"), ("shoal_abc+fresh", true));
    }

    #[test]
    fn credential_reads_token_and_bearer_in_any_case() {
        assert_eq!(credential("token abc"), Some("abc"));
        assert_eq!(credential("Bearer abc "), Some("abc"));
        assert_eq!(credential("bearer  abc"), Some("abc"));
        assert_eq!(credential("TOKEN abc"), Some("abc"));
        assert_eq!(credential("Basic abc"), None);
        assert_eq!(credential("token "), None);
        assert_eq!(credential("abc"), None);
    }

    #[test]
    fn error_bodies_have_githubs_shape_and_the_marker_once() {
        let plain = serde_json::to_value(ErrorBody::new("Not Found")).unwrap();
        assert_eq!(
            plain,
            serde_json::json!({ "message": "Not Found", "documentation_url": DOCS_URL })
        );
        let fallback = serde_json::to_value(ErrorBody::fallback_local("mutations stay local")).unwrap();
        assert_eq!(fallback["message"], "fallback_local: mutations stay local");
        assert_eq!(fallback["shoal"], "fallback_local");
        let marked = ErrorBody::fallback_local("fallback_local: already said");
        assert_eq!(marked.message, "fallback_local: already said");
    }
}
