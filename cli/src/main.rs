//! `shoal`, or the same binary called as `gh` (the shim).

use clap::{Parser, Subcommand};
use shoal_cli::config::{Login, config_dir};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "shoal", version, about = "Run gh reads through your team's shoal relay")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Log in to a tenant with your own GitHub token (from `gh auth token`).
    Login {
        /// The tenant URL, e.g. https://acme.shoal.dev
        url: String,
        /// The tenant slug, when the URL does not start with it.
        #[arg(long)]
        tenant: Option<String>,
        /// Read the GitHub token from stdin instead of `gh auth token`.
        #[arg(long)]
        with_token: bool,
        /// A CA certificate to trust for the tenant (a private or dev CA).
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// The name of this device's caller token (default: the hostname).
        #[arg(long)]
        device: Option<String>,
    },
    /// Forget the stored caller token.
    Logout,
    /// Show the tenant, user and token you are logged in with, and whether the relay answers.
    Whoami,
    /// The tenant's admin API: identities, members, caller tokens, policy, audit.
    Admin {
        /// An admin API token (default: $SHOAL_ADMIN_TOKEN).
        #[arg(long)]
        admin_token: Option<String>,
        /// Print the API's JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        what: shoal_cli::admin::AdminCmd,
    },
    /// The relay's counters: how reads were answered and each pooled identity's budget left; with
    /// --range, the tenant's dashboard numbers over 1h, 24h, 7d or 30d (admin API).
    Stats {
        /// Print the JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// 1h, 24h, 7d or 30d: the tenant's numbers over that range, from the admin API.
        #[arg(long)]
        range: Option<String>,
        /// An admin API token for --range (default: $SHOAL_ADMIN_TOKEN).
        #[arg(long)]
        admin_token: Option<String>,
    },
    /// Run gh: reads through the relay, everything else untouched.
    #[command(disable_help_flag = true)]
    Gh {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn invoked_as_gh() -> bool {
    std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n == "gh"))
        .unwrap_or(false)
}

fn finish(r: anyhow::Result<i32>) -> ExitCode {
    match r {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("shoal: {e:#}");
            ExitCode::from(1)
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    if invoked_as_gh() {
        return finish(shoal_cli::shim::run(std::env::args().skip(1).collect()));
    }
    let cli = Cli::parse();
    finish(match cli.command {
        Cmd::Gh { args } => shoal_cli::shim::run(args),
        Cmd::Login {
            url,
            tenant,
            with_token,
            ca_file,
            device,
        } => shoal_cli::login::login(shoal_cli::login::LoginArgs {
            url,
            tenant,
            with_token,
            ca_file,
            device,
        })
        .await
        .map(|l| {
            println!(
                "Logged in to {} as {} (token {}). Reads now go through {}.",
                l.tenant, l.user, l.token_prefix, l.host
            );
            0
        }),
        Cmd::Logout => config_dir().and_then(|d| Login::remove_from(&d)).map(|removed| {
            println!("{}", if removed { "Logged out." } else { "Not logged in." });
            0
        }),
        Cmd::Whoami => whoami().await,
        Cmd::Stats {
            json,
            range,
            admin_token,
        } => shoal_cli::stats::run(json, range, admin_token).await,
        Cmd::Admin {
            admin_token,
            json,
            what,
        } => shoal_cli::admin::run(what, admin_token, json).await,
    })
}

async fn whoami() -> anyhow::Result<i32> {
    let Some(login) = Login::load_from(&config_dir()?)? else {
        println!("Not logged in: run `shoal login <tenant URL>`.");
        return Ok(1);
    };
    println!(
        "tenant  {}\nuser    {}\ntoken   {}\nrelay   https://{}",
        login.tenant, login.user, login.token_prefix, login.host
    );
    let reach = shoal_cli::config::http_client(login.ca_file.as_deref(), std::time::Duration::from_secs(5))?
        .get(format!("https://{}/api/v3/", login.host))
        .header("authorization", format!("token {}", login.token.expose()))
        .send()
        .await;
    match reach {
        Ok(r) if r.status().is_success() => println!("status  reachable"),
        Ok(r) => println!("status  answered {}", r.status()),
        Err(e) => println!("status  unreachable ({})", e.without_url()),
    }
    Ok(0)
}
