//! Stripe's request bodies: `application/x-www-form-urlencoded` with bracketed keys
//! (`line_items[0][price]`, `metadata[tenant_id]`), kept flat and read by their literal key.

use std::collections::BTreeMap;

use crate::error::StripeError;

/// A parsed form (or query string): literal bracketed key -> value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(BTreeMap<String, String>);

impl Form {
    /// Parses `a=1&b[c]=2` (percent- and plus-decoded).
    pub fn parse(body: &[u8]) -> Form {
        Form(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// A value, if sent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// A value that must be sent.
    pub fn require(&self, key: &str) -> Result<&str, StripeError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| StripeError::missing(key))
    }

    /// Every `prefix[key]` as `key -> value` (e.g. `metadata[...]`).
    pub fn map(&self, prefix: &str) -> BTreeMap<String, String> {
        let open = format!("{prefix}[");
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let inner = k.strip_prefix(&open)?.strip_suffix(']')?;
                (!inner.contains('[')).then(|| (inner.to_string(), v.clone()))
            })
            .collect()
    }

    /// Every value of a list parameter (`lookup_keys[0]`, `lookup_keys[]`, ...), in key order.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let open = format!("{prefix}[");
        self.0
            .iter()
            .filter(|(k, _)| {
                k.strip_prefix(&open)
                    .and_then(|r| r.strip_suffix(']'))
                    .is_some_and(|i| !i.contains('['))
            })
            .map(|(_, v)| v.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_keys_are_read_literally_and_as_maps_and_lists() {
        let f =
            Form::parse(b"line_items[0][price]=price_1&metadata[tenant_id]=t%201&lookup_keys[0]=a&lookup_keys[1]=b");
        assert_eq!(f.get("line_items[0][price]"), Some("price_1"));
        assert_eq!(f.map("metadata").get("tenant_id").map(String::as_str), Some("t 1"));
        assert_eq!(f.list("lookup_keys"), vec!["a".to_string(), "b".to_string()]);
        assert!(f.require("customer").is_err());
    }
}
