//! The store's key cache around a [`KeySource`] (see the [parent docs](super)).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::Clock;
use crate::kernel::cache::{Cache, CachePolicy, Fetched, SourceError};
use crate::rejection::Rejection;

/// The default time between two refetches caused by unknown `kid`s or failures: 30 s.
pub const DEFAULT_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// The store's key cache around a [`KeySource`]: the whole key set is one entry of the
/// shared cache, so a `kid` it lacks waits for the refetch interval like any missing key.
pub(crate) struct KeyCache {
    source: Arc<dyn KeySource>,
    clock: Clock,
    cache: Cache<KeySet>,
}

/// The one key of the cache: the source serves a whole set.
const KEY_SET: &str = "";

impl KeyCache {
    pub(crate) fn new(source: Arc<dyn KeySource>, clock: Clock, min_refetch: Duration) -> Self {
        let policy = CachePolicy {
            capacity: 1,
            negative_capacity: 1,
            min_refetch,
            not_found_ttl: min_refetch,
            failure_backoff: min_refetch,
        };
        KeyCache {
            source,
            clock,
            cache: Cache::new("Google token-signing keys", policy),
        }
    }

    /// The key named `kid`: from the cache when fresh, else after a (single-flight,
    /// rate-limited) refresh. Unknown `kid` with usable keys → 401; no usable keys, or a `kid`
    /// unknown while Google cannot be asked → 503.
    pub(crate) async fn key(&self, kid: &str) -> Result<Arc<RsaKey>, Rejection> {
        // Possibly stale keys after a failed refresh: Google's keys overlap for days, an old key
        // is still the right key.
        let pick = |keys: &KeySet| keys.get(kid).cloned();
        let fetch = || async {
            match self.source.fetch().await {
                Ok(fetched) => Ok(Fetched {
                    value: fetched.keys,
                    max_age: fetched.max_age,
                }),
                Err(e) => Err(SourceError::Unavailable(e.to_string())),
            }
        };
        self.cache
            .get(KEY_SET, &self.clock, pick, fetch)
            .await
            .map_err(|miss| {
                miss.into_rejection(
                    "the token's kid names no Google signing key",
                    "Google's token-signing keys are unobtainable right now; retry",
                )
            })
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use crate::BoxError;
    use crate::rejection::RejectionKind;
    use crate::testing::GoogleSigner;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    /// A source that counts fetches, fails on demand and can be held mid-fetch.
    struct Counting {
        fetches: AtomicUsize,
        fail: std::sync::atomic::AtomicBool,
        keys: KeySet,
        max_age: Option<Duration>,
        gate: tokio::sync::Semaphore,
    }

    #[async_trait]
    impl KeySource for Counting {
        async fn fetch(&self) -> Result<FetchedKeys, BoxError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let _permit = self.gate.acquire().await?;
            if self.fail.load(Ordering::SeqCst) {
                return Err("google unreachable".into());
            }
            Ok(FetchedKeys::new(self.keys.clone(), self.max_age))
        }
    }

    fn counting(max_age: Option<Duration>) -> Arc<Counting> {
        Arc::new(Counting {
            fetches: AtomicUsize::new(0),
            fail: false.into(),
            keys: GoogleSigner::new().key_set(),
            max_age,
            gate: tokio::sync::Semaphore::new(1_000),
        })
    }

    fn clock() -> (Clock, Arc<AtomicU64>) {
        crate::clock::manual(1_767_225_600)
    }

    fn kid() -> String {
        GoogleSigner::new().kid().to_owned()
    }

    #[tokio::test]
    async fn keys_are_fetched_once_and_served_from_the_cache() {
        let source = counting(Some(Duration::from_secs(600)));
        let (clock, _) = clock();
        let cache = KeyCache::new(source.clone(), clock, Duration::ZERO);
        for _ in 0..10 {
            cache.key(&kid()).await.expect("key");
        }
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expired_keys_are_refetched() {
        let source = counting(Some(Duration::from_secs(600)));
        let (clock, now) = clock();
        let cache = KeyCache::new(source.clone(), clock, Duration::ZERO);
        cache.key(&kid()).await.expect("key");
        now.fetch_add(599, Ordering::SeqCst);
        cache.key(&kid()).await.expect("key");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1, "still fresh");
        now.fetch_add(1, Ordering::SeqCst);
        cache.key(&kid()).await.expect("key");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2, "max-age passed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_unknown_kids_cause_a_single_fetch() {
        let source = counting(None);
        let (clock, _) = clock();
        let cache = Arc::new(KeyCache::new(source.clone(), clock, Duration::ZERO));
        // Hold the fetch until every request is waiting on it.
        let held = source.gate.acquire_many(1_000).await.expect("permits");
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let cache = Arc::clone(&cache);
                tokio::spawn(async move { cache.key("rotated-in-kid").await })
            })
            .collect();
        while source.fetches.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        for task in tasks {
            let rejection = task.await.expect("join").expect_err("unknown kid");
            assert_eq!(rejection.kind(), RejectionKind::Unauthenticated);
        }
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1, "single flight");
    }

    #[tokio::test]
    async fn unknown_kid_refetches_are_rate_limited() {
        let source = counting(None);
        let (clock, now) = clock();
        let cache = KeyCache::new(source.clone(), clock, Duration::from_secs(30));
        cache.key(&kid()).await.expect("first fetch");
        for i in 0..100 {
            let r = cache.key(&format!("forged-{i}")).await.expect_err("forged");
            assert_eq!(r.kind(), RejectionKind::Unauthenticated);
        }
        assert_eq!(
            source.fetches.load(Ordering::SeqCst),
            1,
            "within the interval"
        );
        now.fetch_add(30, Ordering::SeqCst);
        cache.key("forged-again").await.expect_err("forged");
        assert_eq!(
            source.fetches.load(Ordering::SeqCst),
            2,
            "after the interval"
        );
        cache.key(&kid()).await.expect("known kids never wait");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn stale_keys_are_kept_when_a_refresh_fails() {
        let source = counting(Some(Duration::from_secs(60)));
        let (clock, now) = clock();
        let cache = KeyCache::new(source.clone(), clock, Duration::from_secs(30));
        cache.key(&kid()).await.expect("first fetch");
        source.fail.store(true, Ordering::SeqCst);
        now.fetch_add(120, Ordering::SeqCst);
        cache.key(&kid()).await.expect("stale key still verifies");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
        let r = cache
            .key("new-kid")
            .await
            .expect_err("unknown while failing");
        assert_eq!(r.kind(), RejectionKind::Unavailable, "503, not 401: {r}");
        source.fail.store(false, Ordering::SeqCst);
        now.fetch_add(30, Ordering::SeqCst);
        cache.key(&kid()).await.expect("recovered");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn no_keys_at_all_is_unavailable_not_unauthenticated() {
        let source = counting(None);
        source.fail.store(true, Ordering::SeqCst);
        let (clock, now) = clock();
        let cache = KeyCache::new(source.clone(), clock, Duration::from_secs(30));
        let r = cache.key(&kid()).await.expect_err("no keys");
        assert_eq!(r.kind(), RejectionKind::Unavailable);
        assert_eq!(r.status(), 503);
        cache.key(&kid()).await.expect_err("no keys");
        assert_eq!(
            source.fetches.load(Ordering::SeqCst),
            1,
            "failures are rate-limited too"
        );
        source.fail.store(false, Ordering::SeqCst);
        now.fetch_add(30, Ordering::SeqCst);
        cache.key(&kid()).await.expect("recovered");
    }
}
