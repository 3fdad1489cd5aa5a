//! `shoal-fake-github --listen 127.0.0.1:PORT [--seed N] [--size small|medium|large]`:
//! prints `listening on http://ADDR` as its first stdout line and serves until killed.

use std::io::Write;
use std::net::SocketAddr;

use clap::Parser;
use shoal_fake_github::{FakeGithub, Limits, Options, Size};

#[derive(Debug, Parser)]
#[command(name = "shoal-fake-github", about = "A fake GitHub API that counts what it serves")]
struct Cli {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0", env = "FAKE_GITHUB_LISTEN")]
    listen: SocketAddr,
    /// Seed of the generated world.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// World size: small, medium or large.
    #[arg(long, default_value = "small")]
    size: Size,
    /// Core requests per hour per account.
    #[arg(long, default_value_t = 5000, env = "SHOAL_FAKE_GITHUB_CORE_LIMIT")]
    core_limit: u64,
    /// Search requests per minute per account.
    #[arg(long, default_value_t = 30, env = "SHOAL_FAKE_GITHUB_SEARCH_LIMIT")]
    search_limit: u64,
    /// GraphQL points per hour per account.
    #[arg(long, default_value_t = 5000, env = "SHOAL_FAKE_GITHUB_GRAPHQL_LIMIT")]
    graphql_limit: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let limits = Limits {
        core: cli.core_limit,
        search: cli.search_limit,
        graphql: cli.graphql_limit,
        ..Limits::default()
    };
    let fake = FakeGithub::try_start(Options {
        listen: cli.listen,
        seed: cli.seed,
        size: cli.size,
        limits,
    })
    .await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", fake.url())?;
        out.flush()?;
    }
    tokio::signal::ctrl_c().await?;
    fake.stop().await;
    Ok(())
}
