//! What pages and the JSON API share about a request: who is asking ([`ClientIp`],
//! [`SignedIn`], and the tenant access extractors in [`tenant`]), CSRF tokens and forms
//! ([`csrf`]), one-shot messages ([`flash`]), and the page frame and HTML errors ([`page`]).
//! Session data never holds a GitHub token or a caller token.

mod client_ip;
pub mod csrf;
pub mod flash;
pub mod page;
pub mod session;
mod tenant;

pub use client_ip::ClientIp;
pub use csrf::CsrfForm;
pub use page::{Layout, PageError, form_result};
pub use session::{SessionOrg, SessionUser, SignedIn};
