//! Names of tenant namespaces (Kubernetes namespaces, process data dirs), derived from the tenant
//! id and never from user input.

use crate::TenantId;
use sha2::{Digest, Sha256};

/// `shoal-t-` followed by [`tenant_namespace_hash`].
pub fn tenant_namespace(tenant: TenantId) -> String {
    format!("shoal-t-{}", tenant_namespace_hash(tenant))
}

/// The first 16 hex digits of SHA-256("shoal-namespace:" || tenant uuid bytes): the part of a
/// namespace name that says which tenant it is.
pub fn tenant_namespace_hash(tenant: TenantId) -> String {
    let mut h = Sha256::new();
    h.update(b"shoal-namespace:");
    h.update(tenant.as_uuid().as_bytes());
    hex::encode(h.finalize())[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn namespace_is_stable_and_well_formed() {
        let t = TenantId(Uuid::parse_str("6f1c2a9e-0d8b-4c1e-9a57-3b2f0c4d5e6f").unwrap());
        let ns = tenant_namespace(t);
        assert_eq!(ns, tenant_namespace(t));
        assert_eq!(ns.len(), "shoal-t-".len() + 16);
        assert!(ns.starts_with("shoal-t-"));
        assert!(
            ns["shoal-t-".len()..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        // A DNS-1123 label, as Kubernetes requires.
        assert!(ns.len() <= 63);
    }

    #[test]
    fn different_tenants_get_different_namespaces() {
        assert_ne!(tenant_namespace(TenantId::new()), tenant_namespace(TenantId::new()));
    }
}
