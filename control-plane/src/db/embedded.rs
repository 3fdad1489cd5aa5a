//! A private Postgres cluster for `make run` when `DATABASE_URL` is unset: `initdb` under
//! `<state dir>/pg/data` (once), `pg_ctl start` on a free loopback port with its socket inside the
//! state dir, and `pg_ctl stop` on shutdown. `initdb` refuses to run as root, so as root the
//! cluster belongs to the `postgres` system user and its commands run through `runuser`.

use crate::Error;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

const SYSTEM_USER: &str = "postgres";

/// A running private cluster. Stopped by [`EmbeddedPostgres::stop`], or on drop as a last resort.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    run_as: Option<&'static str>,
    port: u16,
    running: bool,
}

impl EmbeddedPostgres {
    /// Initialises the cluster if needed and starts it.
    pub fn start(state_dir: &Path) -> Result<Self, Error> {
        let bin_dir = find_bin_dir()?;
        let root = absolute(&state_dir.join("pg"))?;
        let data_dir = root.join("data");
        let sock_dir = root.join("sock");
        std::fs::create_dir_all(&sock_dir).map_err(|e| embedded(format!("create {}: {e}", sock_dir.display())))?;
        let run_as = is_root().then_some(SYSTEM_USER);
        if run_as.is_some() {
            hand_over_to_postgres_user(state_dir, &root)?;
        }
        let mut pg = Self {
            bin_dir,
            data_dir,
            run_as,
            port: free_port()?,
            running: false,
        };

        if !pg.data_dir.join("PG_VERSION").exists() {
            tracing::info!(dir = %pg.data_dir.display(), "initialising embedded postgres");
            pg.run(
                "initdb",
                &[
                    "-D".as_ref(),
                    pg.data_dir.as_os_str(),
                    "-A".as_ref(),
                    "trust".as_ref(),
                    "-U".as_ref(),
                    "postgres".as_ref(),
                    "-E".as_ref(),
                    "UTF8".as_ref(),
                    "--no-locale".as_ref(),
                ],
            )?;
        }
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1", pg.port, sock_dir.display());
        let log = root.join("postgres.log");
        pg.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                pg.data_dir.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                opts.as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "start".as_ref(),
            ],
        )?;
        pg.running = true;
        tracing::info!(port = pg.port, "embedded postgres started");
        Ok(pg)
    }

    /// Where to connect: `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the cluster (fast shutdown) and waits for it to exit.
    pub fn stop(mut self) -> Result<(), Error> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), Error> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        let data = self.data_dir.clone();
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        )?;
        tracing::info!("embedded postgres stopped");
        Ok(())
    }

    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<(), Error> {
        let exe = self.bin_dir.join(program);
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let out = cmd
            .args(args)
            .output()
            .map_err(|e| embedded(format!("could not run {}: {e}", exe.display())))?;
        if !out.status.success() {
            return Err(embedded(format!(
                "{program} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if let Err(e) = self.stop_inner() {
            tracing::warn!(error = %e, "could not stop embedded postgres");
        }
    }
}

fn embedded(msg: String) -> Error {
    Error::Embedded(msg)
}

fn absolute(p: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(p).map_err(|e| embedded(format!("resolve {}: {e}", p.display())))
}

/// `initdb` on PATH, else the newest `/usr/lib/postgresql/<version>/bin`.
fn find_bin_dir() -> Result<PathBuf, Error> {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let initdb = dir.join("initdb");
            if initdb.is_file() && dir.join("pg_ctl").is_file() {
                // Debian links /usr/local/bin/initdb into the versioned dir; use the real one.
                let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
                return Ok(real.parent().map(Path::to_path_buf).unwrap_or(dir));
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p).ok_or_else(|| {
        embedded("no initdb/pg_ctl found on PATH or under /usr/lib/postgresql/*/bin: install the `postgresql` package or set DATABASE_URL".into())
    })
}

fn free_port() -> Result<u16, Error> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| embedded(format!("no free port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| embedded(format!("no free port: {e}")))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Gives the cluster dir to the postgres user and lets it traverse the state dir.
fn hand_over_to_postgres_user(state_dir: &Path, root: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(state_dir).map_err(|e| embedded(format!("stat {}: {e}", state_dir.display())))?;
    let mut perms = meta.permissions();
    perms.set_mode(perms.mode() | 0o011);
    std::fs::set_permissions(state_dir, perms).map_err(|e| embedded(format!("chmod {}: {e}", state_dir.display())))?;
    let out = Command::new("chown")
        .arg("-R")
        .arg(format!("{SYSTEM_USER}:"))
        .arg(root)
        .output()
        .map_err(|e| embedded(format!("chown: {e}")))?;
    if !out.status.success() {
        return Err(embedded(format!(
            "chown {} to {SYSTEM_USER} failed (is there a `{SYSTEM_USER}` system user?): {}",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
