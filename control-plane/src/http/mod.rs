//! What pages and the JSON API share about a request: who is asking ([`ClientIp`],
//! [`SignedIn`], and the tenant access extractors in `tenant`), CSRF tokens ([`csrf`]) and
//! checked forms ([`CsrfForm`]), one-shot messages ([`flash`]), and the page frame and HTML
//! errors ([`page`]).
//! Session data never holds a GitHub token or a caller token.

mod client_ip;
pub mod csrf;
mod extract;
pub mod flash;
pub mod page;
pub mod session;
mod tenant;

pub use client_ip::ClientIp;
pub use extract::{Confirm, CsrfForm, SignedIn};
pub use page::{Layout, PageError, form_result};
pub use session::{SessionOrg, SessionUser};
