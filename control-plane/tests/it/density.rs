//! The density bench (`make bench-density`; ignored by `make test`): the real `shoal-control-plane`
//! binary on the process backend with 1,000 tenants asleep, then one read each to a random 10% of
//! them through the edge, which wakes each worker. It prints the RSS (and PSS, which counts shared
//! pages once) of the whole service (the control plane and its workers) idle and with the woken
//! tenants, the latency of those first reads (the wake included) and what a sleeping and an awake
//! tenant cost in memory. GitHub is the fake, in this process.

use shoal_common::crypto::{DataKey, Keyring, MASTER_KEY_ENV, MasterKey};
use shoal_common::token::{Pepper, generate_token, hash_token};
use shoal_common::{IdentityId, TenantId};
use shoal_fake_github::{FakeGithub, Options};
use sqlx::PgPool;
use std::io::BufRead;
use std::time::{Duration, Instant};
use uuid::Uuid;

const TENANTS: usize = 1000;
const WOKEN: usize = TENANTS / 10;
const REPO: &str = "/api/v3/repos/octo-org/hello-world";

/// Resident and proportional set sizes in KiB of a process and all its descendants.
fn memory_of_tree(root: u32) -> (u64, u64, usize) {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let after = &stat[stat.rfind(')').unwrap_or(0) + 2..];
        let ppid: u32 = after.split(' ').nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        parents.push((pid, ppid));
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    let field = |pid: u32, file: &str, name: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0)
    };
    let rss = tree.iter().map(|p| field(*p, "status", "VmRSS:")).sum();
    let pss = tree.iter().map(|p| field(*p, "smaps_rollup", "Pss:")).sum();
    (rss, pss, tree.len())
}

/// CPU seconds the process has used (user + system).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = &stat[stat.rfind(')').unwrap_or(0) + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    let ticks: u64 =
        f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0) + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A small deterministic shuffle (xorshift), so runs wake the same tenants.
fn pick(n: usize, k: usize, mut seed: u64) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        all.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    all.truncate(k);
    all
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Inserts a sleeping tenant `slug` with one caller token and one PAT identity.
async fn sleeping_tenant(pool: &PgPool, keyring: &Keyring, pepper: &Pepper, slug: &str, pat: &str, token: &str) {
    let tenant = TenantId::new();
    let dk = DataKey::generate().unwrap();
    let wrapped = keyring.current().wrap(&dk, tenant).unwrap();
    let user = Uuid::new_v4();
    let identity = IdentityId::new();
    let sealed = dk.seal(pat.as_bytes(), tenant, identity.as_uuid()).unwrap();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("INSERT INTO tenants (id, slug, github_org, github_org_id, wrapped_data_key) VALUES ($1, $2, 'octo-org', 1, $3)")
        .bind(tenant.as_uuid())
        .bind(slug)
        .bind(wrapped.as_bytes())
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO workers (tenant_id, id, observed_state, sleeping_since) VALUES ($1, gen_random_uuid(), 'stopped', now())",
    )
    .bind(tenant.as_uuid())
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query("INSERT INTO policies (tenant_id, allowed_owners, public_only) VALUES ($1, ARRAY['octo-org'], false)")
        .bind(tenant.as_uuid())
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("INSERT INTO users (id, github_id, login) VALUES ($1, (random() * 1e12)::bigint, $2)")
        .bind(user)
        .bind(format!("{slug}-admin"))
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("INSERT INTO caller_tokens (id, tenant_id, user_id, name, token_hash, display_prefix) VALUES ($1, $2, $3, 'bench', $4, 'shoal_x')")
        .bind(Uuid::new_v4())
        .bind(tenant.as_uuid())
        .bind(user)
        .bind(hash_token(pepper, token).as_bytes().to_vec())
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("INSERT INTO identities (id, tenant_id, kind, name, sealed_secret) VALUES ($1, $2, 'pat', 'bot', $3)")
        .bind(identity.as_uuid())
        .bind(tenant.as_uuid())
        .bind(sealed.as_bytes())
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[sqlx::test(migrator = "shoal_control_plane::db::MIGRATOR")]
#[ignore = "a benchmark: make bench-density"]
async fn density_of_sleeping_tenants(pool: PgPool) {
    let gh = FakeGithub::start(Options::default()).await;
    let (master, master_text) = MasterKey::generate().unwrap();
    let keyring = Keyring::new(master);
    let pepper = Pepper::generate().unwrap();
    let db: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").expect("DATABASE_URL")).unwrap();
    url.set_path(&format!("/{db}"));
    let edge_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let state = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(crate::support::workspace_bin("shoal-control-plane"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABASE_URL", url.as_str())
        .env("SHOAL_STATE_DIR", state.path())
        .env("SHOAL_LISTEN", "127.0.0.1:0")
        .env("SHOAL_EDGE_LISTEN", "127.0.0.1:0")
        .env("SHOAL_EDGE_HTTP_LISTEN", format!("127.0.0.1:{edge_port}"))
        .env("SHOAL_GITHUB_URL", gh.url())
        .env("SHOAL_WORKER_BIN", crate::support::workspace_bin("shoal-worker"))
        .env(MASTER_KEY_ENV, master_text.as_str())
        .env("SHOAL_TOKEN_PEPPER", hex::encode(pepper.as_bytes()))
        .env("SHOAL_WORKER_IDLE_SECS", "3600")
        .env("SHOAL_MEMBERSHIP_RECHECK_SECS", "0")
        .env("SHOAL_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let _stop = StopOnDrop(pid);
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let web = loop {
        let line = lines.next().expect("the control plane printed its addresses").unwrap();
        if let Some(a) = line.strip_prefix("web on ") {
            break a.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let settle = || tokio::time::sleep(Duration::from_secs(3));
    settle().await;
    let (rss_empty, pss_empty, _) = memory_of_tree(pid);

    let created = Instant::now();
    let mut tokens = Vec::with_capacity(TENANTS);
    for i in 0..TENANTS {
        let slug = format!("t{i:04}");
        let pat = gh.add_token(&format!("bot-{i}"));
        let token = generate_token().unwrap();
        sleeping_tenant(&pool, &keyring, &pepper, &slug, &pat, token.expose()).await;
        tokens.push((slug, token));
    }
    let created = created.elapsed();
    settle().await;
    let cpu_before = cpu_secs(pid);
    let idle_window = Instant::now();
    settle().await;
    let idle_cpu = (cpu_secs(pid) - cpu_before) / idle_window.elapsed().as_secs_f64();
    let (rss_idle, pss_idle, procs_idle) = memory_of_tree(pid);

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut latencies = Vec::with_capacity(WOKEN);
    let mut failed = Vec::new();
    for i in pick(TENANTS, WOKEN, 0x5eed_d0e5) {
        let (slug, token) = &tokens[i];
        let started = Instant::now();
        let r = client
            .get(format!("http://127.0.0.1:{edge_port}{REPO}"))
            .header("host", format!("{slug}.localhost"))
            .header("authorization", format!("token {}", token.expose()))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        latencies.push(started.elapsed());
        if status != 200 {
            failed.push(format!("{slug}: {status} {body}"));
        }
    }
    settle().await;
    let (rss_awake, pss_awake, procs_awake) = memory_of_tree(pid);
    let metrics = reqwest::get(format!("{web}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let wakes = metrics
        .lines()
        .find_map(|l| l.strip_prefix("shoal_edge_wakes_total "))
        .unwrap_or("0")
        .to_string();

    let tenth = |from: usize| {
        let mut part = latencies[from..from + WOKEN / 10].to_vec();
        part.sort();
        percentile(&part, 0.5)
    };
    let (first_tenth, last_tenth) = (tenth(0), tenth(WOKEN - WOKEN / 10));
    latencies.sort();
    let per_sleeping = rss_idle.saturating_sub(rss_empty) as f64 / TENANTS as f64;
    let per_awake_rss = rss_awake.saturating_sub(rss_idle) as f64 / WOKEN as f64;
    let per_awake_pss = pss_awake.saturating_sub(pss_idle) as f64 / WOKEN as f64;
    let gib_kib = 1024.0 * 1024.0;
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!();
    println!(
        "density: {TENANTS} tenants on the process backend, {WOKEN} woken with one read each (debug build unless said otherwise)"
    );
    println!();
    println!("| measure | RSS | PSS |");
    println!("| --- | ---: | ---: |");
    println!("| control plane, no tenant | {} | {} |", mib(rss_empty), mib(pss_empty));
    println!(
        "| whole service, {TENANTS} tenants asleep ({procs_idle} processes) | {} | {} |",
        mib(rss_idle),
        mib(pss_idle)
    );
    println!(
        "| whole service, {} asleep + {WOKEN} awake ({procs_awake} processes) | {} | {} |",
        TENANTS - WOKEN,
        mib(rss_awake),
        mib(pss_awake)
    );
    println!("| per sleeping tenant | {:.1} KiB | - |", per_sleeping);
    println!(
        "| per awake tenant (its worker) | {:.1} MiB | {:.1} MiB |",
        per_awake_rss / 1024.0,
        per_awake_pss / 1024.0
    );
    println!();
    println!("| wake (first read after sleep, end to end) | value |");
    println!("| --- | ---: |");
    println!("| p50 | {} |", ms(percentile(&latencies, 0.50)));
    println!("| p99 (goal < 300 ms) | {} |", ms(percentile(&latencies, 0.99)));
    println!("| max | {} |", ms(latencies[latencies.len() - 1]));
    println!(
        "| p50 of the first {} wakes / of the last {} (more workers awake) | {} / {} |",
        WOKEN / 10,
        WOKEN / 10,
        ms(first_tenth),
        ms(last_tenth)
    );
    println!("| wakes counted by /metrics | {wakes} |");
    println!("| first reads not answered 200 | {} |", failed.len());
    println!();
    println!("| per GB | tenants |");
    println!("| --- | ---: |");
    println!(
        "| idle (asleep) tenants per GB, control-plane memory | {} |",
        if per_sleeping > 0.0 {
            format!("{:.0}", gib_kib / per_sleeping)
        } else {
            "unbounded by memory".into()
        }
    );
    println!(
        "| awake tenants per GB (worker RSS) | {:.0} |",
        gib_kib / per_awake_rss.max(1.0)
    );
    println!(
        "| awake tenants per GB (worker PSS) | {:.0} |",
        gib_kib / per_awake_pss.max(1.0)
    );
    println!();
    println!(
        "created {TENANTS} tenants in {:.1} s; control plane CPU while {TENANTS} sleep: {:.1}% of a core",
        created.as_secs_f64(),
        idle_cpu * 100.0
    );

    for f in failed.iter().take(5) {
        println!("not 200: {f}");
    }
    drop(_stop);
    let _ = child.wait();
    gh.stop().await;
}

/// SIGTERM to the control plane (which stops its workers), also when the bench panics.
struct StopOnDrop(u32);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.0 as i32, libc::SIGTERM) };
    }
}
