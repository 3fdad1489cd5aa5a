//! Single-flight: concurrent misses (and revalidations) of one key share one upstream call. The
//! call runs in its own task, so a caller that goes away does not cancel it for the others.

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

type Flight<T> = Shared<BoxFuture<'static, T>>;

/// Flights in progress, by key.
pub struct Flights<T: Clone + Send + Sync + 'static> {
    map: Arc<Mutex<HashMap<Arc<str>, Flight<T>>>>,
}

impl<T: Clone + Send + Sync + 'static> Default for Flights<T> {
    fn default() -> Self {
        Self {
            map: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

/// Removes the key when the flight ends, even if it panicked.
struct Landing<T: Clone + Send + Sync + 'static> {
    map: Arc<Mutex<HashMap<Arc<str>, Flight<T>>>>,
    key: Arc<str>,
}

impl<T: Clone + Send + Sync + 'static> Drop for Landing<T> {
    fn drop(&mut self) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
    }
}

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    /// Joins the flight for `key`, or starts one with `make()`. Returns the shared result and
    /// whether this caller started it. `on_panic` is the result when the task dies.
    pub async fn run<F, Fut>(&self, key: Arc<str>, make: F, on_panic: T) -> (T, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let (flight, leader) = {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(f) = map.get(&key) {
                (f.clone(), false)
            } else {
                let landing = Landing {
                    map: self.map.clone(),
                    key: key.clone(),
                };
                let fut = make();
                let handle = tokio::spawn(async move {
                    let out = fut.await;
                    // Remove only after the result is stored in the cache by `fut`.
                    drop(landing);
                    out
                });
                let flight = async move { handle.await.unwrap_or(on_panic) }.boxed().shared();
                map.insert(key, flight.clone());
                (flight, true)
            }
        };
        (flight.await, leader)
    }

    /// Flights in progress.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no flight is in progress.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_share_one_execution() {
        let flights: Arc<Flights<u32>> = Arc::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let joined = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (flights, runs, joined) = (flights.clone(), runs.clone(), joined.clone());
            let mut rx = rx.clone();
            tasks.push(tokio::spawn(async move {
                // Counted in the same poll that registers with the flight.
                joined.fetch_add(1, Ordering::SeqCst);
                let make = move || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let _ = rx.wait_for(|v| *v).await;
                    7
                };
                flights.run("k".into(), make, 0).await
            }));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while joined.load(Ordering::SeqCst) < 50 && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        tx.send(true).unwrap();
        let mut leaders = 0;
        for t in tasks {
            let (v, leader) = t.await.unwrap();
            assert_eq!(v, 7);
            leaders += usize::from(leader);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(leaders, 1);
        assert!(flights.is_empty());
    }

    #[tokio::test]
    async fn a_panicking_flight_lands_with_the_fallback() {
        let flights: Flights<u32> = Flights::default();
        let (v, leader) = flights.run("k".into(), || async { panic!("boom") }, 99).await;
        assert_eq!((v, leader), (99, true));
        assert!(flights.is_empty());
    }
}
