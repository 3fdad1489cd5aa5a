//! The process backend: each tenant's `shoal-worker` is a child process on a loopback port with
//! its own data dir under `<state dir>/workers/<namespace>`, started with only its own worker id
//! and secret. A child announces its address with its first stdout line (`listening on
//! http://ADDR`). Crashed children are restarted with exponential backoff; five crashes within a
//! minute mark the worker failed, with the last lines it wrote to stderr as the reason.
//!
//! Isolation: where unprivileged user namespaces work, each child runs under
//! `unshare --user --map-root-user --pid --mount --mount-proc --fork --kill-child`: its own PID
//! namespace (it cannot see or signal other workers or the control plane) and mount namespace
//! (a private /proc). It shares the network namespace, because it must reach the control plane and
//! GitHub. Where namespaces are unavailable (some containers), children run as plain processes and
//! a warning is logged once: they are then separated only by having their own data dir and secret.

use super::{WorkerRuntime, WorkerSpec, WorkerState};
use shoal_common::TenantId;
use shoal_common::namespace::tenant_namespace;
use shoal_common::telemetry::{FORMAT_VAR, LOG_VAR};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CRASH_WINDOW: Duration = Duration::from_secs(60);
const CRASHES_BEFORE_FAILED: usize = 5;
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const STDERR_TAIL_LINES: usize = 20;
/// How long a plain child gets after SIGTERM (to send its last usage report) before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How a worker is put in its own user, PID and mount namespaces (see the module docs).
const UNSHARE_ARGS: &[&str] = &[
    "--user",
    "--map-root-user",
    "--pid",
    "--mount",
    "--mount-proc",
    "--fork",
    // unshare ignores SIGTERM; killing it hands the worker a SIGTERM, on which it sends its last
    // usage report and exits.
    "--kill-child=SIGTERM",
];
/// The worker's upstream deadline in seconds, passed on to every worker when set.
pub const UPSTREAM_TIMEOUT_VAR: &str = "SHOAL_WORKER_UPSTREAM_TIMEOUT_SECS";
/// The prefix of a worker's first stdout line.
pub const LISTENING_PREFIX: &str = "listening on http://";

/// Builds the command that runs one worker, given its spec and data dir.
pub type Launcher = Arc<dyn Fn(&WorkerSpec, &Path) -> Command + Send + Sync>;

/// How children are separated from each other and from the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    Namespaces,
    Plain,
}

impl Isolation {
    /// Namespaces if `unshare` can create them here, else plain (with a warning).
    pub async fn detect() -> Self {
        let ok = Command::new("unshare")
            .args(UNSHARE_ARGS)
            .arg("true")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
        if ok {
            Isolation::Namespaces
        } else {
            tracing::warn!(
                "user namespaces are unavailable: tenant workers run as plain child processes, separated only by data dir and secret"
            );
            Isolation::Plain
        }
    }
}

/// The launcher for real workers: `shoal-worker --control-plane URL --worker-id ID --listen
/// 127.0.0.1:0 --data-dir DIR`, with the secret in `SHOAL_WORKER_SECRET` and nothing else of the
/// control plane's environment but `PATH`, the log settings (`SHOAL_LOG`, `SHOAL_LOG_FORMAT`) and
/// the upstream deadline (`SHOAL_WORKER_UPSTREAM_TIMEOUT_SECS`).
pub fn worker_launcher(worker_bin: PathBuf, control_plane_url: String) -> Launcher {
    Arc::new(move |spec: &WorkerSpec, data_dir: &Path| {
        let mut c = Command::new(&worker_bin);
        c.arg("--control-plane")
            .arg(&control_plane_url)
            .arg("--worker-id")
            .arg(spec.worker.to_string())
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir)
            .env_clear()
            .env("SHOAL_WORKER_SECRET", spec.secret.expose());
        for keep in ["PATH", LOG_VAR, FORMAT_VAR, UPSTREAM_TIMEOUT_VAR] {
            if let Some(v) = std::env::var_os(keep) {
                c.env(keep, v);
            }
        }
        c
    })
}

struct Slot {
    child: Option<Child>,
    addr: Arc<Mutex<Option<SocketAddr>>>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    crashes: VecDeque<Instant>,
    restarts: u32,
    next_start: Instant,
    last_error: Option<String>,
    failed: bool,
}

impl Slot {
    fn new() -> Self {
        Self {
            child: None,
            addr: Arc::default(),
            stderr_tail: Arc::default(),
            crashes: VecDeque::new(),
            restarts: 0,
            next_start: Instant::now(),
            last_error: None,
            failed: false,
        }
    }
}

/// Runs workers as child processes of the control plane.
pub struct ProcessRuntime {
    launcher: Launcher,
    workers_dir: PathBuf,
    isolation: Isolation,
    slots: tokio::sync::Mutex<HashMap<TenantId, Slot>>,
}

impl ProcessRuntime {
    pub fn new(launcher: Launcher, state_dir: &Path, isolation: Isolation) -> Self {
        Self {
            launcher,
            workers_dir: state_dir.join("workers"),
            isolation,
            slots: Default::default(),
        }
    }

    /// The OS process id of a tenant's running worker (the `unshare` wrapper under namespaces).
    pub async fn pid(&self, tenant: TenantId) -> Option<u32> {
        self.slots
            .lock()
            .await
            .get(&tenant)
            .and_then(|s| s.child.as_ref())
            .and_then(Child::id)
    }

    fn spawn(&self, spec: &WorkerSpec, slot: &mut Slot) -> Result<(), String> {
        let data_dir = self.workers_dir.join(tenant_namespace(spec.tenant));
        std::fs::create_dir_all(&data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700));
        }
        let base = (self.launcher)(spec, &data_dir);
        let mut cmd = match self.isolation {
            Isolation::Plain => base,
            Isolation::Namespaces => {
                let std_cmd = base.as_std();
                let mut wrapped = Command::new("unshare");
                wrapped
                    .args(UNSHARE_ARGS)
                    .arg("--")
                    .arg(std_cmd.get_program())
                    .args(std_cmd.get_args());
                wrapped.env_clear();
                for (k, v) in std_cmd.get_envs() {
                    if let Some(v) = v {
                        wrapped.env(k, v);
                    }
                }
                if let Some(dir) = std_cmd.get_current_dir() {
                    wrapped.current_dir(dir);
                }
                wrapped
            }
        };
        // A replica killed with SIGKILL runs no drop: its children must not outlive it, serving
        // from a stale bundle beside the worker the replica that takes over starts.
        // SAFETY: prctl(2) is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the worker: {e}"))?;

        *slot.addr.lock().unwrap_or_else(|p| p.into_inner()) = None;
        slot.stderr_tail.lock().unwrap_or_else(|p| p.into_inner()).clear();
        let slug = spec.slug.clone();
        if let Some(out) = child.stdout.take() {
            let addr = slot.addr.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(a) = line.strip_prefix(LISTENING_PREFIX).and_then(|a| a.trim().parse().ok()) {
                        *addr.lock().unwrap_or_else(|p| p.into_inner()) = Some(a);
                    }
                }
            });
        }
        if let Some(err) = child.stderr.take() {
            let tail = slot.stderr_tail.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::debug!(tenant.slug = %slug, "worker: {line}");
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    if t.len() == STDERR_TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            });
        }
        tracing::info!(tenant.slug = %spec.slug, isolation = ?self.isolation, "started worker");
        slot.child = Some(child);
        Ok(())
    }

    /// Records that the child exited and schedules (or refuses) its restart.
    fn record_exit(slot: &mut Slot, why: String) {
        let now = Instant::now();
        slot.child = None;
        slot.restarts += 1;
        slot.crashes.push_back(now);
        while slot
            .crashes
            .front()
            .is_some_and(|t| now.duration_since(*t) > CRASH_WINDOW)
        {
            slot.crashes.pop_front();
        }
        let exp = (slot.crashes.len() as u32).saturating_sub(1).min(16);
        slot.next_start = now + (BACKOFF_BASE * 2u32.pow(exp)).min(BACKOFF_MAX);
        slot.failed = slot.crashes.len() >= CRASHES_BEFORE_FAILED;
        slot.last_error = Some(why);
    }
}

fn describe_exit(status: std::process::ExitStatus, tail: &VecDeque<String>) -> String {
    let last: Vec<&str> = tail
        .iter()
        .rev()
        .take(3)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if last.is_empty() {
        format!("worker exited ({status})")
    } else {
        format!("worker exited ({status}): {}", last.join(" | "))
    }
}

impl WorkerRuntime for ProcessRuntime {
    async fn ensure_running(&self, spec: &WorkerSpec) -> WorkerState {
        let mut slots = self.slots.lock().await;
        let slot = slots.entry(spec.tenant).or_insert_with(Slot::new);
        if let Some(child) = slot.child.as_mut() {
            match child.try_wait() {
                Ok(None) => {
                    return match *slot.addr.lock().unwrap_or_else(|p| p.into_inner()) {
                        Some(addr) => WorkerState::Running { addr },
                        None => WorkerState::Starting,
                    };
                }
                Ok(Some(status)) => {
                    // Let the stderr reader drain what the child wrote before it died.
                    tokio::task::yield_now().await;
                    let why = describe_exit(status, &slot.stderr_tail.lock().unwrap_or_else(|p| p.into_inner()));
                    tracing::warn!(tenant.slug = %spec.slug, error = %why, "worker exited");
                    Self::record_exit(slot, why);
                }
                Err(e) => Self::record_exit(slot, format!("cannot watch the worker: {e}")),
            }
        }
        let last_error = slot.last_error.clone().unwrap_or_default();
        if slot.failed {
            return WorkerState::Failed {
                last_error,
                restarts: slot.restarts,
            };
        }
        if Instant::now() < slot.next_start {
            return WorkerState::BackingOff {
                last_error,
                restarts: slot.restarts,
            };
        }
        match self.spawn(spec, slot) {
            Ok(()) => WorkerState::Starting,
            Err(why) => {
                Self::record_exit(slot, why.clone());
                WorkerState::BackingOff {
                    last_error: why,
                    restarts: slot.restarts,
                }
            }
        }
    }

    async fn stop(&self, tenant: TenantId) {
        let slot = self.slots.lock().await.remove(&tenant);
        if let Some(mut child) = slot.and_then(|s| s.child) {
            if self.isolation == Isolation::Plain
                && let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok())
            {
                // SAFETY: kill(2) on the pid of a child we have not reaped, so it is still ours.
                unsafe { libc::kill(pid, libc::SIGTERM) };
                if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_ok() {
                    tracing::info!(tenant.id = %tenant, "stopped worker");
                    return;
                }
            }
            let _ = child.start_kill();
            let _ = child.wait().await;
            tracing::info!(tenant.id = %tenant, "stopped worker");
        }
    }

    async fn tenants(&self) -> Vec<TenantId> {
        self.slots.lock().await.keys().copied().collect()
    }
}
