//! Property suites over what crosses a process boundary: the bundle and usage wire formats and the
//! signed internal requests. Each takes input an attacker or a broken peer could send.

mod signing;
mod wire;
