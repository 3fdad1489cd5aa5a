//! The optional on-disk tier: every entry the memory cache stores is also written to a file, so a
//! restarted worker starts warm and its first read of a known resource costs a free 304 instead of
//! a charged 200. One file per key (named by the key's SHA-256), written atomically (temp file and
//! rename) by one background thread; the memory cache's evictions remove files, so the directory
//! stays about as large as the memory bound. A file is a one-line JSON header and the body.
//!
//! Entries never hold a credential: only what GitHub answered (filtered headers, body) and the
//! upstream validators.

use super::entry::Entry;
use crate::route::Freshness;
use axum::http::{HeaderName, HeaderValue};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shoal_common::IdentityId;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Bumped whenever the header's meaning changes; files of another version are deleted at load.
const FORMAT_VERSION: u32 = 1;
/// Writes and removals waiting for the disk thread; beyond this they are dropped (and logged).
const QUEUE: usize = 4096;

const FRESHNESS: [Freshness; 7] = [
    Freshness::Immutable,
    Freshness::Slow,
    Freshness::List,
    Freshness::Fast,
    Freshness::Search,
    Freshness::Meta,
    Freshness::NotFound,
];

/// What precedes the body in a file.
#[derive(Serialize, Deserialize)]
struct Header {
    version: u32,
    key: String,
    /// The upstream the entry came from: entries of another upstream are not loaded.
    upstream: String,
    status: u16,
    headers: Vec<(String, Vec<u8>)>,
    validated_ms: u64,
    ttl_ms: u64,
    freshness: String,
    last_modified: Option<String>,
    etags: Vec<(IdentityId, String)>,
    relay_etag: String,
    body_len: u64,
}

enum Op {
    Write(Arc<str>, Arc<Entry>),
    Remove(Arc<str>),
    Flush(oneshot::Sender<()>),
}

/// The handle the memory cache writes through; cheap to clone.
#[derive(Clone)]
pub struct Disk {
    tx: mpsc::Sender<Op>,
}

impl Disk {
    /// Opens (creating, mode 0700) `dir` and starts the thread that writes into it.
    pub fn open(dir: &Path, upstream: &str) -> std::io::Result<Self> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = Writer {
            dir: dir.to_path_buf(),
            upstream: upstream.trim_end_matches('/').to_string(),
        };
        std::thread::Builder::new()
            .name("shoal-cache-disk".into())
            .spawn(move || writer.run(rx))?;
        Ok(Self { tx })
    }

    /// Queues the write of `entry` under `key` (replacing the key's file).
    pub fn write(&self, key: Arc<str>, entry: Arc<Entry>) {
        self.send(Op::Write(key, entry));
    }

    /// Queues the removal of `key`'s file.
    pub fn remove(&self, key: Arc<str>) {
        self.send(Op::Remove(key));
    }

    fn send(&self, op: Op) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(op) {
            tracing::warn!("the disk cache is behind: a write or removal was dropped");
        }
    }

    /// Waits until everything queued so far is on disk.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Op::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

struct Writer {
    dir: PathBuf,
    upstream: String,
}

impl Writer {
    fn run(self, mut rx: mpsc::Receiver<Op>) {
        while let Some(op) = rx.blocking_recv() {
            match op {
                Op::Write(key, entry) => {
                    if let Err(e) = self.write(&key, &entry) {
                        tracing::warn!(error = %e, "could not write a cache entry to disk");
                    }
                }
                Op::Remove(key) => match fs::remove_file(self.dir.join(file_name(&key))) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!(error = %e, "could not remove a cache file"),
                },
                Op::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }

    fn write(&self, key: &str, e: &Entry) -> std::io::Result<()> {
        let header = Header {
            version: FORMAT_VERSION,
            key: key.to_string(),
            upstream: self.upstream.clone(),
            status: e.status,
            headers: e
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
                .collect(),
            validated_ms: e.validated_ms,
            ttl_ms: e.ttl_ms,
            freshness: e.freshness.as_str().to_string(),
            last_modified: e.last_modified.clone(),
            etags: e.etags.clone(),
            relay_etag: e.relay_etag.to_str().unwrap_or_default().to_string(),
            body_len: e.body.len() as u64,
        };
        let mut head = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
        head.push(b'\n');
        let name = file_name(key);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&head)?;
        f.write_all(&e.body)?;
        drop(f);
        fs::rename(&tmp, self.dir.join(name))
    }
}

/// The file holding `key`: its SHA-256 in hex, so keys never shape paths.
fn file_name(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

fn is_entry_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// Entries found in `dir`, newest first, within `max_bytes` (as the memory cache weighs them) and
/// `max_entry_bytes` each, prepared for `upstream`. Files that are corrupt, of another format
/// version or upstream, or that do not fit, are deleted; so are left-over temp files.
pub fn load(dir: &Path, upstream: &str, max_bytes: u64, max_entry_bytes: u64) -> Vec<(Arc<str>, Entry)> {
    let upstream = upstream.trim_end_matches('/');
    let Ok(listing) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for item in listing.flatten() {
        let path = item.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if name.strip_suffix(".tmp").is_some_and(is_entry_name) {
            discard(&path, "left-over temp file");
        } else if is_entry_name(&name) {
            let modified = item.metadata().and_then(|m| m.modified()).ok();
            files.push((modified, name, path));
        }
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    let mut used = 0u64;
    let mut out = Vec::new();
    for (_, name, path) in files {
        let entry = match read(&path, &name, upstream) {
            Ok(x) => x,
            Err(why) => {
                discard(&path, why);
                continue;
            }
        };
        let (key, e) = entry;
        let weight = u64::from(e.weight()) + key.len() as u64;
        if e.body.len() as u64 > max_entry_bytes || used + weight > max_bytes {
            discard(&path, "over the cache bound");
            continue;
        }
        used += weight;
        out.push((key, e));
    }
    out
}

fn discard(path: &Path, why: &str) {
    tracing::info!(file = %path.display(), reason = why, "deleting a cache file");
    if let Err(e) = fs::remove_file(path) {
        tracing::warn!(file = %path.display(), error = %e, "could not delete a cache file");
    }
}

fn read(path: &Path, name: &str, upstream: &str) -> Result<(Arc<str>, Entry), &'static str> {
    let data = Bytes::from(fs::read(path).map_err(|_| "unreadable")?);
    let nl = memchr::memchr(b'\n', &data).ok_or("corrupt")?;
    let h: Header = serde_json::from_slice(&data[..nl]).map_err(|_| "corrupt")?;
    if h.version != FORMAT_VERSION {
        return Err("another format version");
    }
    if h.upstream != upstream {
        return Err("another upstream");
    }
    if file_name(&h.key) != name {
        return Err("corrupt");
    }
    let body = data.slice(nl + 1..);
    if body.len() as u64 != h.body_len {
        return Err("corrupt");
    }
    let freshness = FRESHNESS
        .into_iter()
        .find(|f| f.as_str() == h.freshness)
        .ok_or("corrupt")?;
    let headers = h
        .headers
        .iter()
        .map(|(k, v)| {
            Some((
                HeaderName::from_bytes(k.as_bytes()).ok()?,
                HeaderValue::from_bytes(v).ok()?,
            ))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or("corrupt")?;
    let relay_etag = HeaderValue::from_str(&h.relay_etag).map_err(|_| "corrupt")?;
    let e = Entry {
        status: h.status,
        headers,
        body,
        validated_ms: h.validated_ms,
        ttl_ms: h.ttl_ms,
        freshness,
        last_modified: h.last_modified,
        etags: h.etags,
        relay_etag,
        prebuilt: Default::default(),
        rebase: Default::default(),
        per_caller: Default::default(),
    }
    .prebuild()
    .rebase_links(upstream);
    Ok((h.key.into(), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::relay_etag;

    const UP: &str = "https://api.example";

    fn entry(body: &str) -> Arc<Entry> {
        Arc::new(
            Entry {
                status: 200,
                headers: vec![
                    (
                        HeaderName::from_static("content-type"),
                        HeaderValue::from_static("application/json"),
                    ),
                    (
                        HeaderName::from_static("link"),
                        HeaderValue::from_static("</x?page=2>; rel=\"next\""),
                    ),
                ],
                body: Bytes::from(body.to_string()),
                validated_ms: 1_000,
                ttl_ms: 20_000,
                freshness: Freshness::Fast,
                last_modified: Some("Mon, 01 Jan 2024 00:00:00 GMT".into()),
                etags: vec![(IdentityId::new(), "W/\"e\"".into())],
                relay_etag: relay_etag(200, "a", body.as_bytes()),
                prebuilt: Default::default(),
                rebase: Default::default(),
                per_caller: Default::default(),
            }
            .prebuild(),
        )
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn an_entry_round_trips_with_private_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        let disk = Disk::open(&dir, UP).unwrap();
        let body = format!(r#"{{"url":"{UP}/repos/o/r"}}"#);
        let e = entry(&body);
        disk.write("k1".into(), e.clone());
        disk.flush().await;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(file_name("k1"))), 0o600);
        let loaded = load(&dir, UP, 1 << 20, 1 << 20);
        assert_eq!(loaded.len(), 1);
        let (k, l) = &loaded[0];
        assert_eq!(&**k, "k1");
        assert_eq!(
            (l.status, &l.body, l.validated_ms, l.ttl_ms),
            (200, &e.body, 1_000, 20_000)
        );
        assert_eq!(
            (&l.headers, &l.etags, &l.last_modified),
            (&e.headers, &e.etags, &e.last_modified)
        );
        assert_eq!(
            (l.freshness, &l.relay_etag, &l.prebuilt.map, &l.prebuilt.lines),
            (Freshness::Fast, &e.relay_etag, &e.prebuilt.map, &e.prebuilt.lines)
        );
        assert!(l.rebase.is_needed());
        assert_eq!(
            l.body_for("http://relay"),
            Bytes::from(r#"{"url":"http://relay/repos/o/r"}"#)
        );
        disk.remove("k1".into());
        disk.flush().await;
        assert!(fs::read_dir(&dir).unwrap().next().is_none());
    }

    #[tokio::test]
    async fn bad_files_and_what_does_not_fit_are_deleted() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let disk = Disk::open(dir, UP).unwrap();
        for i in 0..4 {
            disk.write(format!("k{i}").into(), entry(&"x".repeat(1000)));
        }
        disk.flush().await;
        let other = Disk::open(dir, "https://other.example").unwrap();
        other.write("elsewhere".into(), entry("{}"));
        other.flush().await;
        fs::write(dir.join(file_name("corrupt")), b"{not json\n").unwrap();
        fs::write(dir.join(format!("{}.tmp", file_name("t"))), b"partial").unwrap();
        let truncated = fs::read(dir.join(file_name("k0"))).unwrap();
        fs::write(dir.join(file_name("k0")), &truncated[..truncated.len() - 1]).unwrap();
        fs::write(dir.join("notes.txt"), b"not ours").unwrap();
        let weight = u64::from(entry(&"x".repeat(1000)).weight()) + 2;
        let loaded = load(dir, UP, 2 * weight, 1 << 20);
        assert_eq!(loaded.len(), 2);
        let mut left: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|f| f.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want: Vec<String> = loaded.iter().map(|(k, _)| file_name(k)).collect();
        want.push("notes.txt".into());
        want.sort();
        assert_eq!(left, want);
    }
}
