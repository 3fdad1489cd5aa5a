//! The edge: what answers `Host: <slug>.<base-domain>` and proxies to that tenant's worker.
//! `tls` gives it HTTPS (a local CA issuing a certificate per tenant host in dev, files in production).

pub mod tls;
