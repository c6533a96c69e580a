//! One cache for every key or certificate a store fetches (Google's token-signing key set,
//! Amazon's SNS signing certificates), so every source gets the same protections:
//!
//! - **bounded**: at most `capacity` values and `negative_capacity` remembered failures, kept
//!   apart so a flood of forged names cannot evict a genuine key;
//! - **single-flight**: N requests missing the same key at once cause one fetch, the others
//!   wait for its result;
//! - **negative cache**: a source's "not found" is remembered for `not_found_ttl`, so a forged
//!   certificate URL costs one outbound request per window, not one per message;
//! - **rate-limited**: after a fetch, a key missing from what it returned is not fetched again
//!   before `min_refetch` (Google's `kid`s: the whole set is one entry);
//! - **stale on failure**: when a refresh fails the old value keeps being served (signing keys
//!   overlap for days: an old key is still the right key), and a failure is not retried before
//!   `failure_backoff`.
//!
//! One convention for what a lookup that finds nothing means, for every source: [`Miss::NotFound`]
//! (the source answered and has no such key: the message cannot be authenticated, 401) or
//! [`Miss::Unavailable`] (nothing usable can be had right now: 503, so the store retries).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use crate::clock::Clock;
use crate::rejection::{Rejection, RejectionKind};

/// How long a source's "not found" is remembered by default: 5 minutes.
pub(crate) const DEFAULT_NOT_FOUND_TTL: Duration = Duration::from_secs(300);

/// How many "not found" or failed keys are remembered by default.
pub(crate) const DEFAULT_NEGATIVE_CAPACITY: usize = 1024;

/// The cache's limits and windows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CachePolicy {
    /// Values kept at most (at least 1).
    pub(crate) capacity: usize,
    /// "Not found" and failed keys remembered at most (at least 1).
    pub(crate) negative_capacity: usize,
    /// After a successful fetch: how long before a key its value does not hold is fetched
    /// again.
    pub(crate) min_refetch: Duration,
    /// After "not found": how long before the key is asked for again.
    pub(crate) not_found_ttl: Duration,
    /// After a failure: how long before the key is asked for again.
    pub(crate) failure_backoff: Duration,
}

/// A value from a source and how long it may be used (`None`: until evicted).
#[derive(Debug)]
pub(crate) struct Fetched<V> {
    pub(crate) value: V,
    pub(crate) max_age: Option<Duration>,
}

/// Why a source produced no value.
#[derive(Debug)]
pub(crate) enum SourceError {
    /// The source answered and has no such key (pinned set without it, HTTP 404/410, a
    /// certificate that is not usable).
    NotFound(String),
    /// The source could not answer (network, timeout, 5xx).
    Unavailable(String),
}

/// Why a lookup found nothing usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Miss {
    /// The source has no such key, with its explanation when it gave one: 401.
    NotFound(Option<Arc<str>>),
    /// Nothing usable can be had right now: 503.
    Unavailable,
}

impl Miss {
    /// The rejection for this miss: `Unauthenticated` (the source's explanation, else
    /// `not_found`) or `Unavailable` with `unavailable` (never the source's error text, which
    /// may name internal hosts).
    pub(crate) fn into_rejection(self, not_found: &str, unavailable: &str) -> Rejection {
        match self {
            Miss::NotFound(Some(why)) => Rejection::unauthenticated(why.to_string()),
            Miss::NotFound(None) => Rejection::unauthenticated(not_found.to_owned()),
            Miss::Unavailable => Rejection::new(RejectionKind::Unavailable, unavailable.to_owned()),
        }
    }
}

#[derive(Debug, Clone)]
enum Outcome {
    Fetched,
    NotFound(Arc<str>),
    Failed,
}

/// What the cache knows about one key: there is an entry only after a fetch was attempted.
struct Entry<V> {
    /// The last value fetched (possibly stale after a failed refresh).
    value: Option<V>,
    /// `None`: never expires.
    expires_at: Option<SystemTime>,
    last_attempt: SystemTime,
    outcome: Outcome,
    /// Bumped by every fetch: a request that waited for another's fetch sees it happened.
    attempts: u64,
}

impl<V> Entry<V> {
    fn is_fresh(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }

    fn answer<T>(&self, pick: &impl Fn(&V) -> Option<T>) -> Result<T, Miss> {
        match self.value.as_ref().and_then(pick) {
            Some(found) => Ok(found),
            None => Err(match &self.outcome {
                Outcome::Failed => Miss::Unavailable,
                Outcome::NotFound(why) => Miss::NotFound(Some(Arc::clone(why))),
                Outcome::Fetched => Miss::NotFound(None),
            }),
        }
    }
}

/// The cache. `V` is what one fetch returns (a key, or a whole key set from which `pick`
/// takes one key).
pub(crate) struct Cache<V> {
    name: &'static str,
    policy: CachePolicy,
    entries: RwLock<HashMap<String, Entry<V>>>,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl<V> Cache<V> {
    /// An empty cache; `name` says what it holds in logs.
    pub(crate) fn new(name: &'static str, policy: CachePolicy) -> Self {
        Cache {
            name,
            policy: CachePolicy {
                capacity: policy.capacity.max(1),
                negative_capacity: policy.negative_capacity.max(1),
                ..policy
            },
            entries: RwLock::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// How many values are held.
    pub(crate) fn len(&self) -> usize {
        self.read().values().filter(|e| e.value.is_some()).count()
    }

    /// A fresh value for `key` that `pick` accepts, without fetching: the hot path.
    pub(crate) fn peek<T>(
        &self,
        key: &str,
        now: SystemTime,
        pick: impl Fn(&V) -> Option<T>,
    ) -> Option<T> {
        let entries = self.read();
        let entry = entries.get(key)?;
        if entry.is_fresh(now) {
            entry.value.as_ref().and_then(pick)
        } else {
            None
        }
    }

    /// What `pick` takes from the value for `key`: from the cache when fresh, else after a
    /// single-flight, rate-limited `fetch`; stale when a refresh failed.
    pub(crate) async fn get<T, F, Fut>(
        &self,
        key: &str,
        clock: &Clock,
        pick: impl Fn(&V) -> Option<T>,
        fetch: F,
    ) -> Result<T, Miss>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched<V>, SourceError>>,
    {
        let seen = {
            let now = clock.now();
            let entries = self.read();
            match entries.get(key) {
                Some(entry) => {
                    if entry.is_fresh(now) {
                        if let Some(found) = entry.value.as_ref().and_then(&pick) {
                            return Ok(found);
                        }
                    }
                    if !self.may_fetch(entry, now) {
                        return entry.answer(&pick);
                    }
                    entry.attempts
                }
                None => 0,
            }
        };
        let flight = self.join_flight(key);
        let result = {
            let _turn = flight.lock().await;
            self.fetch_once(key, seen, clock, &pick, fetch).await
        };
        self.leave_flight(key, flight);
        result
    }

    /// Under the key's flight lock: the result of a fetch another request made while this one
    /// waited, or of a fetch made now.
    async fn fetch_once<T, F, Fut>(
        &self,
        key: &str,
        seen: u64,
        clock: &Clock,
        pick: &impl Fn(&V) -> Option<T>,
        fetch: F,
    ) -> Result<T, Miss>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched<V>, SourceError>>,
    {
        {
            let now = clock.now();
            let entries = self.read();
            if let Some(entry) = entries.get(key) {
                if entry.attempts != seen || !self.may_fetch(entry, now) {
                    return entry.answer(pick);
                }
            }
        }
        let result = fetch().await;
        let now = clock.now();
        let mut entries = self.write();
        let previous = entries.remove(key);
        let attempts = previous.as_ref().map_or(0, |e| e.attempts).wrapping_add(1);
        let entry = match result {
            Ok(fetched) => Entry {
                value: Some(fetched.value),
                expires_at: fetched.max_age.and_then(|age| now.checked_add(age)),
                last_attempt: now,
                outcome: Outcome::Fetched,
                attempts,
            },
            Err(SourceError::NotFound(why)) => Entry {
                value: None,
                expires_at: None,
                last_attempt: now,
                outcome: Outcome::NotFound(why.into()),
                attempts,
            },
            Err(SourceError::Unavailable(why)) => {
                let (value, expires_at) =
                    previous.map_or((None, None), |e| (e.value, e.expires_at));
                tracing::warn!(cache = self.name, key, error = %why, stale = value.is_some(),
                    "could not fetch; retrying later");
                Entry {
                    value,
                    expires_at,
                    last_attempt: now,
                    outcome: Outcome::Failed,
                    attempts,
                }
            }
        };
        let answer = entry.answer(pick);
        self.make_room(&mut entries, entry.value.is_some(), now);
        entries.insert(key.to_owned(), entry);
        answer
    }

    fn may_fetch(&self, entry: &Entry<V>, now: SystemTime) -> bool {
        let wait = match entry.outcome {
            Outcome::Fetched => self.policy.min_refetch,
            Outcome::NotFound(_) => self.policy.not_found_ttl,
            Outcome::Failed => self.policy.failure_backoff,
        };
        // A clock that went backwards counts as "just now".
        now.duration_since(entry.last_attempt)
            .unwrap_or(Duration::ZERO)
            >= wait
    }

    /// Evicts one entry of the kind about to be inserted when that kind is full: an expired
    /// one if any, else any (an evicted key is simply fetched again when next needed).
    fn make_room(&self, entries: &mut HashMap<String, Entry<V>>, valued: bool, now: SystemTime) {
        let limit = if valued {
            self.policy.capacity
        } else {
            self.policy.negative_capacity
        };
        let same_kind = |e: &Entry<V>| e.value.is_some() == valued;
        if entries.values().filter(|e| same_kind(e)).count() < limit {
            return;
        }
        let victim = entries
            .iter()
            .filter(|(_, e)| same_kind(e))
            .min_by_key(|(_, e)| (valued && e.is_fresh(now), e.last_attempt))
            .map(|(k, _)| k.clone());
        if let Some(victim) = victim {
            entries.remove(&victim);
        }
    }

    fn join_flight(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(flights.entry(key.to_owned()).or_default())
    }

    /// The last request out of a flight removes it, so the map holds only keys being fetched.
    fn leave_flight(&self, key: &str, flight: Arc<tokio::sync::Mutex<()>>) {
        let mut flights = self.flights.lock().unwrap_or_else(PoisonError::into_inner);
        // Clones are made under this lock: the count is exact here. Two: the map's and ours.
        if flights.get(key).is_some_and(|f| Arc::ptr_eq(f, &flight))
            && Arc::strong_count(&flight) == 2
        {
            flights.remove(key);
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry<V>>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry<V>>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<V> fmt::Debug for Cache<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.read();
        let values = entries.values().filter(|e| e.value.is_some()).count();
        f.debug_struct("Cache")
            .field("name", &self.name)
            .field("values", &values)
            .field("negative", &(entries.len() - values))
            .field("policy", &self.policy)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

    const POLICY: CachePolicy = CachePolicy {
        capacity: 4,
        negative_capacity: 4,
        min_refetch: Duration::from_secs(30),
        not_found_ttl: DEFAULT_NOT_FOUND_TTL,
        failure_backoff: Duration::ZERO,
    };

    /// A source that counts fetches, answers "not found" for names starting `forged`, fails
    /// on demand and can be held mid-fetch.
    struct Source {
        fetches: AtomicUsize,
        fail: AtomicBool,
        max_age: Option<Duration>,
        gate: tokio::sync::Semaphore,
    }

    impl Source {
        fn new(max_age: Option<Duration>) -> Arc<Self> {
            Arc::new(Source {
                fetches: AtomicUsize::new(0),
                fail: AtomicBool::new(false),
                max_age,
                gate: tokio::sync::Semaphore::new(1_000),
            })
        }

        async fn fetch(&self, key: &str) -> Result<Fetched<String>, SourceError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let _permit = self.gate.acquire().await;
            if self.fail.load(Ordering::SeqCst) {
                return Err(SourceError::Unavailable("unreachable".into()));
            }
            if key.starts_with("forged") {
                return Err(SourceError::NotFound(format!("{key} answered 404")));
            }
            Ok(Fetched {
                value: format!("value of {key}"),
                max_age: self.max_age,
            })
        }

        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
    }

    fn clock() -> (Clock, Arc<AtomicU64>) {
        crate::clock::manual(1_767_225_600)
    }

    /// `n` lookups of `key` started while the source is held, released once all wait.
    async fn concurrent(
        source: &Arc<Source>,
        key: &'static str,
        n: usize,
    ) -> Vec<Result<String, Miss>> {
        let cache = Arc::new(Cache::new("test", POLICY));
        let (clock, _) = clock();
        let held = source.gate.acquire_many(1_000).await.expect("permits");
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (cache, source, clock) =
                    (Arc::clone(&cache), Arc::clone(source), clock.clone());
                tokio::spawn(async move { get(&cache, &source, &clock, key).await })
            })
            .collect();
        while source.fetches() == 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("join"));
        }
        assert!(
            cache.flights.lock().expect("flights").is_empty(),
            "flights are cleaned up"
        );
        results
    }

    async fn get(
        cache: &Cache<String>,
        source: &Source,
        clock: &Clock,
        key: &str,
    ) -> Result<String, Miss> {
        cache
            .get(key, clock, |v| Some(v.clone()), || source.fetch(key))
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_of_a_new_key_cause_one_fetch() {
        let source = Source::new(None);
        for result in concurrent(&source, "new", 32).await {
            assert_eq!(result.as_deref(), Ok("value of new"));
        }
        assert_eq!(source.fetches(), 1, "single flight");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_of_a_forged_key_cause_one_fetch() {
        let source = Source::new(None);
        for result in concurrent(&source, "forged", 16).await {
            assert!(matches!(result, Err(Miss::NotFound(Some(_)))), "{result:?}");
        }
        assert_eq!(source.fetches(), 1, "single flight");
    }

    #[tokio::test]
    async fn a_forged_key_is_fetched_once_per_window() {
        let source = Source::new(None);
        let cache = Cache::new("test", POLICY);
        let (clock, now) = clock();
        for _ in 0..100 {
            let miss = get(&cache, &source, &clock, "forged-1")
                .await
                .expect_err("404");
            assert_eq!(miss, Miss::NotFound(Some("forged-1 answered 404".into())));
        }
        assert_eq!(source.fetches(), 1, "within the window");
        now.fetch_add(DEFAULT_NOT_FOUND_TTL.as_secs() - 1, Ordering::SeqCst);
        get(&cache, &source, &clock, "forged-1")
            .await
            .expect_err("404");
        assert_eq!(source.fetches(), 1, "still within the window");
        now.fetch_add(1, Ordering::SeqCst);
        get(&cache, &source, &clock, "forged-1")
            .await
            .expect_err("404");
        assert_eq!(source.fetches(), 2, "once the window passed");
        let rejection = get(&cache, &source, &clock, "forged-1")
            .await
            .expect_err("404")
            .into_rejection("unused", "unused");
        assert_eq!(rejection.status(), 401);
    }

    #[tokio::test]
    async fn forged_keys_do_not_evict_genuine_ones() {
        let source = Source::new(None);
        let cache = Cache::new("test", POLICY);
        let (clock, _) = clock();
        get(&cache, &source, &clock, "genuine")
            .await
            .expect("value");
        for i in 0..100 {
            get(&cache, &source, &clock, &format!("forged-{i}"))
                .await
                .expect_err("404");
        }
        assert_eq!(cache.len(), 1);
        assert!(cache.read().len() <= POLICY.capacity + POLICY.negative_capacity);
        get(&cache, &source, &clock, "genuine")
            .await
            .expect("still cached");
        assert_eq!(source.fetches(), 101);
    }

    #[tokio::test]
    async fn values_are_bounded() {
        let source = Source::new(None);
        let cache = Cache::new("test", POLICY);
        let (clock, _) = clock();
        for i in 0..10 {
            get(&cache, &source, &clock, &format!("k{i}"))
                .await
                .expect("value");
        }
        assert_eq!(cache.len(), POLICY.capacity);
    }

    #[tokio::test]
    async fn a_stale_value_is_served_when_a_refresh_fails() {
        let source = Source::new(Some(Duration::from_secs(60)));
        let cache = Cache::new("test", POLICY);
        let (clock, now) = clock();
        get(&cache, &source, &clock, "k").await.expect("value");
        source.fail.store(true, Ordering::SeqCst);
        now.fetch_add(120, Ordering::SeqCst);
        assert_eq!(
            cache.peek("k", clock.now(), |v| Some(v.clone())),
            None,
            "expired"
        );
        assert_eq!(
            get(&cache, &source, &clock, "k").await.as_deref(),
            Ok("value of k")
        );
        assert_eq!(source.fetches(), 2, "the refresh was tried");
        source.fail.store(false, Ordering::SeqCst);
        get(&cache, &source, &clock, "k").await.expect("value");
        assert_eq!(source.fetches(), 3, "and tried again after the failure");
        assert!(
            cache.peek("k", clock.now(), |v| Some(v.clone())).is_some(),
            "fresh again"
        );
    }

    #[tokio::test]
    async fn no_value_and_a_failure_is_unavailable() {
        let source = Source::new(None);
        let cache = Cache::new("test", POLICY);
        let (clock, _) = clock();
        source.fail.store(true, Ordering::SeqCst);
        let miss = get(&cache, &source, &clock, "k")
            .await
            .expect_err("failing");
        assert_eq!(miss, Miss::Unavailable);
        let rejection = miss.into_rejection("unused", "retry later");
        assert_eq!(rejection.kind(), RejectionKind::Unavailable);
        assert_eq!(rejection.status(), 503);
        assert!(
            !rejection.to_string().contains("unreachable"),
            "{rejection}"
        );
    }

    #[tokio::test]
    async fn failures_are_retried_after_the_backoff() {
        let source = Source::new(None);
        let cache = Cache::new(
            "test",
            CachePolicy {
                failure_backoff: Duration::from_secs(10),
                ..POLICY
            },
        );
        let (clock, now) = clock();
        source.fail.store(true, Ordering::SeqCst);
        for _ in 0..5 {
            get(&cache, &source, &clock, "k")
                .await
                .expect_err("failing");
        }
        assert_eq!(source.fetches(), 1);
        source.fail.store(false, Ordering::SeqCst);
        now.fetch_add(10, Ordering::SeqCst);
        get(&cache, &source, &clock, "k").await.expect("recovered");
        assert_eq!(source.fetches(), 2);
    }

    #[tokio::test]
    async fn a_key_missing_from_a_fetched_value_waits_for_min_refetch() {
        // Google's shape: one entry holds the whole key set; `pick` takes one key from it.
        let source = Source::new(None);
        let cache = Cache::new("test", POLICY);
        let (clock, now) = clock();
        let pick_kid =
            |kid: &'static str| move |set: &String| set.contains(kid).then(|| kid.to_owned());
        let lookup =
            |kid: &'static str| cache.get("", &clock, pick_kid(kid), || source.fetch("set"));
        assert_eq!(lookup("set").await.as_deref(), Ok("set"));
        for _ in 0..10 {
            assert_eq!(lookup("unknown").await, Err(Miss::NotFound(None)));
        }
        assert_eq!(source.fetches(), 1, "rate-limited");
        now.fetch_add(30, Ordering::SeqCst);
        assert_eq!(lookup("unknown").await, Err(Miss::NotFound(None)));
        assert_eq!(source.fetches(), 2, "after min_refetch");
    }
}
