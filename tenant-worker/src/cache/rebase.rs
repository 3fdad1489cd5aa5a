//! API URLs inside JSON bodies (`"url": "https://api.github.com/repos/o/r"`, `pulls_url`, ...)
//! re-rooted at the base each caller used, so clients that follow them (PyGithub builds every
//! next request from them and refuses another host or port) stay on the relay. Web URLs
//! (`html_url` on github.com) are on another base and stay as they are.

use bytes::{Bytes, BytesMut};
use std::sync::{Arc, OnceLock};

/// Where a body mentions the upstream base, and the body last built for a caller base.
#[derive(Debug, Clone, Default)]
pub struct Rebase {
    /// Byte offsets of each `upstream` occurrence (just after its opening quote).
    cuts: Arc<[usize]>,
    upstream_len: usize,
    /// Nearly every caller of a tenant uses the same base (its host on the edge): built once.
    memo: Arc<OnceLock<(Box<str>, Bytes)>>,
}

impl Rebase {
    /// Finds JSON strings in `body` that start with `upstream/`.
    pub fn find(body: &[u8], upstream: &str) -> Self {
        let needle = format!("\"{}/", upstream.trim_end_matches('/'));
        let cuts: Vec<usize> = memchr::memmem::find_iter(body, needle.as_bytes())
            .map(|i| i + 1)
            .collect();
        Self {
            cuts: cuts.into(),
            upstream_len: needle.len() - 2,
            memo: Arc::default(),
        }
    }

    /// Whether the body mentions the upstream at all.
    pub fn is_needed(&self) -> bool {
        !self.cuts.is_empty()
    }

    /// The body last built, when it was built for the caller base that `pieces` spell: a hit
    /// answers from it without building the base.
    pub fn remembered(&self, pieces: &[&str]) -> Option<Bytes> {
        let (base, built) = self.memo.get()?;
        let mut rest: &str = base;
        for p in pieces {
            rest = rest.strip_prefix(p)?;
        }
        rest.is_empty().then(|| built.clone())
    }

    /// `body` with each upstream occurrence replaced by `caller_base`.
    pub fn apply(&self, body: &Bytes, caller_base: &str) -> Bytes {
        if self.cuts.is_empty() {
            return body.clone();
        }
        if let Some((base, built)) = self.memo.get()
            && **base == *caller_base
        {
            return built.clone();
        }
        let grown = caller_base.len().saturating_sub(self.upstream_len) * self.cuts.len();
        let mut out = BytesMut::with_capacity(body.len() + grown);
        let mut at = 0;
        for &cut in self.cuts.iter() {
            out.extend_from_slice(&body[at..cut]);
            out.extend_from_slice(caller_base.as_bytes());
            at = cut + self.upstream_len;
        }
        out.extend_from_slice(&body[at..]);
        let built = out.freeze();
        let _ = self.memo.set((caller_base.into(), built.clone()));
        built
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_urls_move_to_the_caller_and_web_urls_stay() {
        let body = Bytes::from_static(
            br#"{"url":"https://api.github.com/repos/o/r","html_url":"https://github.com/o/r","pulls_url":"https://api.github.com/repos/o/r/pulls{/number}","homepage":"https://api.github.com.evil/x","note":"see https://api.github.com/x"}"#,
        );
        let r = Rebase::find(&body, "https://api.github.com/");
        assert!(r.is_needed());
        let out = r.apply(&body, "https://acme.shoal.example:8443/api/v3");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"url":"https://acme.shoal.example:8443/api/v3/repos/o/r","html_url":"https://github.com/o/r","pulls_url":"https://acme.shoal.example:8443/api/v3/repos/o/r/pulls{/number}","homepage":"https://api.github.com.evil/x","note":"see https://api.github.com/x"}"#
        );
        assert_eq!(
            r.remembered(&["https://", "acme.shoal.example:8443", "/api/v3"]),
            Some(out.clone())
        );
        assert_eq!(r.remembered(&["https://", "acme.shoal.example:8443", "/api/v"]), None);
        assert_eq!(
            r.remembered(&["https://", "acme.shoal.example:8443", "/api/v3", "/"]),
            None
        );
        // Another caller base is built afresh, not served from the first caller's memo.
        let other = r.apply(&body, "http://127.0.0.1:9");
        assert!(
            std::str::from_utf8(&other)
                .unwrap()
                .starts_with(r#"{"url":"http://127.0.0.1:9/repos/o/r""#)
        );
        assert_eq!(r.apply(&body, "https://acme.shoal.example:8443/api/v3"), out);
    }

    #[test]
    fn a_body_without_the_upstream_is_served_as_is() {
        let body = Bytes::from_static(br#"{"html_url":"https://github.com/o/r"}"#);
        let r = Rebase::find(&body, "https://api.github.com");
        assert!(!r.is_needed());
        assert_eq!(r.apply(&body, "http://x"), body);
    }
}
