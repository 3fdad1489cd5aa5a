//! The edge: what answers `Host: <slug>.<base-domain>` and streams to that tenant's worker
//! (`proxy`), over plain HTTP and TLS (`serve`), with certificates from `tls` (a local CA issuing
//! a certificate per tenant host in dev, files in production); requests for a sleeping tenant are
//! held while its worker wakes (`wake`).

pub mod proxy;
pub mod serve;
pub mod tls;
pub mod wake;
