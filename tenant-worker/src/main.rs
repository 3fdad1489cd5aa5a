use anyhow::{Context, bail};
use clap::Parser;
use shoal_common::{Secret, WorkerId};
use shoal_worker::clock::SystemClock;
use shoal_worker::config::{Config, ENV_VARS, Settings};
use shoal_worker::control::{ControlPlane, events_cursor_file, follow_bundles, follow_events, report_usage};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// shoal-worker: one org's GitHub read relay. Standalone with `--config`, or scheduled by the
/// control plane with `--control-plane` and `--worker-id` (secret in `SHOAL_WORKER_SECRET`).
#[derive(Parser)]
#[command(name = "shoal-worker", version)]
struct Args {
    /// TOML config file (listen, upstream, allowed_owners, [[identity]], [[caller]]).
    #[arg(long, env = "SHOAL_WORKER_CONFIG", conflicts_with_all = ["control_plane", "worker_id"])]
    config: Option<PathBuf>,
    /// Scheduled mode: the control plane's URL, where the bundle comes from.
    #[arg(long, requires = "worker_id")]
    control_plane: Option<String>,
    /// Scheduled mode: this worker's id.
    #[arg(long, requires = "control_plane")]
    worker_id: Option<WorkerId>,
    /// Scheduled mode: where to listen (the first stdout line says the bound address).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Scheduled mode: this worker's own data dir (the cache's disk tier lives in DIR/cache, the
    /// webhook change feed's cursor in DIR/events.cursor).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Scheduled mode: how often usage is reported to the control plane, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    usage_every_ms: u64,
    /// Scheduled mode: seconds before an upstream call is abandoned (1-300; standalone: the
    /// file's `upstream_timeout_secs` or the same variable).
    #[arg(long, env = "SHOAL_WORKER_UPSTREAM_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..=300))]
    upstream_timeout_secs: Option<u64>,
}

/// How long a starting worker keeps trying to fetch its first bundle.
const FIRST_BUNDLE_WITHIN: Duration = Duration::from_secs(30);
/// How long a stopping worker tries to deliver its last usage report (the scheduler waits 5 s).
const FINAL_REPORT_WITHIN: Duration = Duration::from_secs(4);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    shoal_common::telemetry::init("info");
    let from_env = ENV_VARS.iter().any(|(name, _)| std::env::var_os(name).is_some());
    match (&args.config, &args.control_plane, args.worker_id) {
        (Some(path), _, _) => standalone(Config::load(path)?).await,
        (None, Some(cp), Some(id)) => {
            let mut settings = Settings::defaults(args.listen);
            settings.cache_dir = args.data_dir.as_ref().map(|d| d.join("cache"));
            if let Some(secs) = args.upstream_timeout_secs {
                settings.upstream_timeout_secs = secs;
            }
            let cursor_file = args.data_dir.as_deref().map(events_cursor_file);
            let usage_every = Duration::from_millis(args.usage_every_ms.max(100));
            scheduled(cp, id, settings, cursor_file, usage_every).await
        }
        (None, None, None) if from_env => standalone(Config::from_toml_str("")?).await,
        _ => {
            let vars: Vec<String> = ENV_VARS.iter().map(|(n, what)| format!("  {n}: {what}")).collect();
            bail!(
                "give --config FILE (standalone), or --control-plane URL --worker-id ID (scheduled), or set:\n{}",
                vars.join("\n")
            )
        }
    }
}

async fn standalone(mut config: Config) -> anyhow::Result<()> {
    config.apply_env(|name| std::env::var(name).ok())?;
    let (settings, bundle) = config.into_parts()?;
    let listen = settings.listen;
    let discover = settings.discover_accounts;
    let worker = shoal_worker::Worker::new(settings, &bundle, Arc::new(SystemClock)).await?;
    if discover {
        worker.discover_accounts().await;
    }
    let running = shoal_worker::serve(worker, listen).await?;
    println!("listening on {}", running.url());
    shoal_common::shutdown::signal().await;
    running.shutdown().await;
    Ok(())
}

async fn scheduled(
    control_plane: &str,
    id: WorkerId,
    settings: Settings,
    events_cursor: Option<PathBuf>,
    usage_every: Duration,
) -> anyhow::Result<()> {
    let secret = std::env::var("SHOAL_WORKER_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .map(Secret::new)
        .context("SHOAL_WORKER_SECRET is not set: a scheduled worker gets it from the control plane")?;
    let cp = Arc::new(ControlPlane::new(control_plane, id, secret)?);
    let deadline = Instant::now() + FIRST_BUNDLE_WITHIN;
    let bundle = loop {
        match cp.bundle(None).await {
            Ok(Some(b)) => break b,
            Ok(None) => {}
            Err(e) if Instant::now() < deadline => tracing::warn!(error = %e, "first bundle not available yet"),
            Err(e) => return Err(e).context("could not get this worker's bundle from the control plane"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let listen = settings.listen;
    let worker = shoal_worker::Worker::new(settings, &bundle, Arc::new(SystemClock)).await?;
    worker.discover_accounts().await;
    let running = shoal_worker::serve(worker.clone(), listen).await?;
    println!("listening on {}", running.url());
    let follow = tokio::spawn(follow_bundles(worker.clone(), cp.clone(), bundle.version));
    let events = tokio::spawn(follow_events(worker.clone(), cp.clone(), events_cursor));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let usage = tokio::spawn(report_usage(worker, cp, usage_every, stopping));
    shoal_common::shutdown::signal().await;
    follow.abort();
    events.abort();
    running.shutdown().await;
    // The requests served since the last report are counted once the server has drained.
    let _ = stop.send(true);
    if tokio::time::timeout(FINAL_REPORT_WITHIN, usage).await.is_err() {
        tracing::warn!("the last usage report did not finish in time");
    }
    Ok(())
}
