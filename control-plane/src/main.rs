use clap::{Parser, Subcommand};
use shoal_control_plane::{Config, demo, run};
use std::path::PathBuf;

/// shoal's control plane: web UI, APIs, edge and scheduler. Configured from SHOAL_* variables.
#[derive(Parser)]
#[command(name = "shoal-control-plane", version)]
struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Everything offline: the fake GitHub, a seeded tenant `demo`, its worker and the edge.
    Demo {
        /// Where the demo keeps its database, keys and CA.
        #[arg(long, default_value = ".shoal/demo")]
        state_dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    shoal_common::telemetry::init("info,sqlx=warn");
    match args.command {
        None => run(Config::from_env()?).await?,
        Some(Cmd::Demo { state_dir }) => demo::run(state_dir).await?,
    }
    Ok(())
}
