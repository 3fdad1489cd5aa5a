fn main() {
    eprintln!(
        "{} {}: the relay is not built yet",
        shoal_worker::NAME,
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
