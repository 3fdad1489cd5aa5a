use anyhow::Context;
use clap::Parser;
use shoal_worker::clock::SystemClock;
use shoal_worker::config::Config;
use std::path::PathBuf;
use std::sync::Arc;

/// shoal-worker: one org's GitHub read relay.
#[derive(Parser)]
#[command(name = "shoal-worker", version)]
struct Args {
    /// TOML config file (listen, upstream, allowed_owners, [[identity]], [[caller]]).
    #[arg(long, env = "SHOAL_WORKER_CONFIG")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = Config::load(&args.config)?;
    let (settings, bundle) = config.into_parts()?;
    let listen = settings.listen;
    let discover = settings.discover_accounts;
    let worker = shoal_worker::Worker::new(settings, &bundle, Arc::new(SystemClock))?;
    if discover {
        worker.discover_accounts().await;
    }
    let running = shoal_worker::serve(worker, listen).await?;
    println!("listening on {}", running.url());
    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    running.shutdown().await;
    Ok(())
}
