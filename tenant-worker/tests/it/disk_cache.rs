//! The cache's on-disk tier: a restarted worker starts warm, so its first read of a known
//! resource costs a free 304 rather than a charged 200.

use crate::support::{Env, PR, REVIEWS, Setup, cache_status};
use std::path::Path;

fn with_dir(dir: &Path) -> Setup {
    Setup {
        extra: format!("[cache]\ndir = \"{}\"\n", dir.display()),
        ..Setup::default()
    }
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|f| std::fs::read(f.unwrap().path()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_restarted_worker_revalidates_its_disk_entries_for_free() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let env = Env::start(with_dir(&dir)).await;
    let first = env.get(PR).await;
    assert_eq!(cache_status(&first), "MISS");
    let body = first.text().await.unwrap();
    let up = env.upstream();
    assert_eq!((up.calls, up.charged), (1, 1));

    let before = env.worker.url();
    let env = env.restart().await;
    // The new process listens elsewhere: API URLs in bodies follow it.
    let body = body.replace(&before, &env.worker.url());
    let stored = files(&dir);
    assert_eq!(stored.len(), 1);
    for token in &env.tokens {
        assert!(!stored[0].windows(token.len()).any(|w| w == token.as_bytes()));
    }
    // Still fresh: served from what was loaded.
    let hit = env.get(PR).await;
    assert_eq!(cache_status(&hit), "HIT");
    assert_eq!(hit.text().await.unwrap(), body);
    assert_eq!(env.upstream().calls, 1);

    env.advance(21); // past the `fast` TTL
    let r = env.get(PR).await;
    assert_eq!(r.status(), 200);
    assert_eq!(cache_status(&r), "REVALIDATED");
    assert_eq!(r.text().await.unwrap(), body);
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (2, 1, 1));
}

#[tokio::test]
async fn without_a_dir_a_restarted_worker_pays_again() {
    let env = Env::start(Setup::default()).await;
    assert_eq!(cache_status(&env.get(PR).await), "MISS");
    let env = env.restart().await;
    env.advance(21);
    assert_eq!(cache_status(&env.get(PR).await), "MISS");
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (2, 2, 0));
}

#[tokio::test]
async fn a_corrupt_file_is_deleted_at_load_and_the_worker_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let env = Env::start(with_dir(&dir)).await;
    assert_eq!(cache_status(&env.get(PR).await), "MISS");
    let corrupt = dir.join("0".repeat(64));
    std::fs::write(&corrupt, b"{\"version\":1,\"key\":\n\0garbage").unwrap();
    let env = env.restart().await;
    assert!(!corrupt.exists());
    assert_eq!(files(&dir).len(), 1);
    env.advance(21);
    assert_eq!(cache_status(&env.get(PR).await), "REVALIDATED");
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (2, 1, 1));
}

#[tokio::test]
async fn after_a_restart_an_identitys_own_etag_still_revalidates() {
    let tmp = tempfile::tempdir().unwrap();
    let env = Env::start(with_dir(tmp.path())).await;
    assert_eq!(cache_status(&env.get(REVIEWS).await), "MISS");
    let env = env.restart().await;
    env.advance(21);
    assert_eq!(cache_status(&env.get(REVIEWS).await), "REVALIDATED");
    let up = env.upstream();
    assert_eq!((up.calls, up.charged, up.not_modified), (2, 1, 1));
    assert_eq!(env.stats()["revalidations"]["etag"]["not_modified"], 1);
}
