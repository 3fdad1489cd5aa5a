//! `shoal`: the command-line client. Login, the gh shim and admin commands land with their issue.

fn main() {
    eprintln!("shoal {}: the CLI is not built yet", env!("CARGO_PKG_VERSION"));
    std::process::exit(2);
}
