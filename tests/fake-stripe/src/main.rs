//! `shoal-fake-stripe --listen 127.0.0.1:PORT [--webhook-url URL]`: prints
//! `listening on http://ADDR` as its first stdout line and serves until killed.

use std::io::Write;
use std::net::SocketAddr;

use clap::Parser;
use shoal_fake_stripe::{DEFAULT_SECRET_KEY, DEFAULT_WEBHOOK_SECRET, FakeStripe, Options};

#[derive(Debug, Parser)]
#[command(
    name = "shoal-fake-stripe",
    about = "A fake Stripe API with signed webhook deliveries"
)]
struct Cli {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0", env = "FAKE_STRIPE_LISTEN")]
    listen: SocketAddr,
    /// The only API key accepted.
    #[arg(long, default_value = DEFAULT_SECRET_KEY, env = "FAKE_STRIPE_SECRET_KEY")]
    secret_key: String,
    /// The secret webhook deliveries are signed with.
    #[arg(long, default_value = DEFAULT_WEBHOOK_SECRET, env = "FAKE_STRIPE_WEBHOOK_SECRET")]
    webhook_secret: String,
    /// Where events are delivered.
    #[arg(long, env = "FAKE_STRIPE_WEBHOOK_URL")]
    webhook_url: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let fake = FakeStripe::start(Options {
        listen: cli.listen,
        secret_key: cli.secret_key,
        webhook_secret: cli.webhook_secret,
        webhook_url: cli.webhook_url,
    })
    .await;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", fake.url())?;
    out.flush()?;
    tokio::signal::ctrl_c().await?;
    fake.stop().await;
    Ok(())
}
