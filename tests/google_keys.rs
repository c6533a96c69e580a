//! Google's key rotation seen through `GoogleStore`: a token with a newly published `kid`
//! triggers one refetch however many requests carry it at once (single flight), forged `kid`s
//! cannot make the store hammer Google (rate limit), and a failing refresh keeps the old keys.
#![cfg(all(feature = "google", feature = "test-util"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use store_notifications::google::{FetchedKeys, GoogleStore, KeySet, KeySource};
use store_notifications::testing::GoogleSigner;
use store_notifications::{BoxError, Clock, RejectionKind};

const NOW: u64 = 1_767_225_600;
const AUDIENCE: &str = "https://example.com/notifications/google";
const SERVICE_ACCOUNT: &str = "push@keys-project.iam.gserviceaccount.com";
const OLD_KID: &str = "old-google-kid";
const NEW_KID: &str = "new-google-kid";

/// Serves the old key until `rotated`, then old and new; counts fetches; slow, so concurrent
/// requests really overlap; fails on demand.
struct Rotating {
    fetches: AtomicUsize,
    rotated: AtomicBool,
    failing: AtomicBool,
}

fn keys(kids: &[&str]) -> KeySet {
    let jwks: Vec<serde_json::Value> = kids
        .iter()
        .map(|kid| {
            let doc: serde_json::Value =
                serde_json::from_str(&GoogleSigner::new().with_kid(*kid).jwks()).expect("jwks");
            doc["keys"][0].clone()
        })
        .collect();
    KeySet::from_jwks(serde_json::json!({ "keys": jwks }).to_string().as_bytes()).expect("keys")
}

#[async_trait]
impl KeySource for Rotating {
    async fn fetch(&self) -> Result<FetchedKeys, BoxError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if self.failing.load(Ordering::SeqCst) {
            return Err("www.googleapis.com: 502".into());
        }
        let kids: &[&str] = if self.rotated.load(Ordering::SeqCst) {
            &[OLD_KID, NEW_KID]
        } else {
            &[OLD_KID]
        };
        Ok(FetchedKeys::new(
            keys(kids),
            Some(Duration::from_secs(3600)),
        ))
    }
}

fn setup() -> (GoogleStore, Arc<Rotating>, Arc<AtomicU64>) {
    let source = Arc::new(Rotating {
        fetches: AtomicUsize::new(0),
        rotated: AtomicBool::new(false),
        failing: AtomicBool::new(false),
    });
    let now = Arc::new(AtomicU64::new(NOW));
    let read = Arc::clone(&now);
    let clock = Clock::from_fn(move || {
        SystemTime::UNIX_EPOCH + Duration::from_secs(read.load(Ordering::SeqCst))
    });
    let store = GoogleStore::new(AUDIENCE, SERVICE_ACCOUNT, Arc::clone(&source)).with_clock(clock);
    (store, source, now)
}

fn headers(kid: &str) -> http::HeaderMap {
    let token = GoogleSigner::new()
        .with_kid(kid)
        .id_token(AUDIENCE, SERVICE_ACCOUNT, NOW as i64);
    GoogleSigner::headers(&token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_in_kid_is_fetched_once_for_many_concurrent_requests() {
    let (store, source, now) = setup();
    store
        .verify_token(&headers(OLD_KID), store.now())
        .await
        .expect("old kid");
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1);

    source.rotated.store(true, Ordering::SeqCst);
    now.fetch_add(31, Ordering::SeqCst);
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.verify_token(&headers(NEW_KID), store.now()).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("join").expect("the new kid verifies");
    }
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        2,
        "24 concurrent requests, one fetch"
    );
}

#[tokio::test]
async fn forged_kids_refetch_at_most_once_per_interval() {
    let (store, source, now) = setup();
    store
        .verify_token(&headers(OLD_KID), store.now())
        .await
        .expect("old kid");
    for i in 0..50 {
        let r = store
            .verify_token(&headers(&format!("forged-{i}")), store.now())
            .await
            .expect_err("forged");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated, "{r}");
    }
    assert_eq!(source.fetches.load(Ordering::SeqCst), 1, "rate-limited");
    now.fetch_add(30, Ordering::SeqCst);
    let _ = store.verify_token(&headers("forged-x"), store.now()).await;
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        2,
        "one more after 30 s"
    );
}

#[tokio::test]
async fn a_failing_refresh_keeps_the_old_keys_and_unknown_kids_get_503() {
    let (store, source, now) = setup();
    store
        .verify_token(&headers(OLD_KID), store.now())
        .await
        .expect("old kid");
    source.failing.store(true, Ordering::SeqCst);
    now.fetch_add(3600, Ordering::SeqCst); // the keys' max-age has passed
    // A token minted now, within its hour.
    let token = GoogleSigner::new().with_kid(OLD_KID).id_token(
        AUDIENCE,
        SERVICE_ACCOUNT,
        (NOW + 3600) as i64,
    );
    store
        .verify_token(&GoogleSigner::headers(&token), store.now())
        .await
        .expect("stale keys still verify");
    assert_eq!(
        source.fetches.load(Ordering::SeqCst),
        2,
        "a refresh was tried"
    );
    let r = store
        .verify_token(&headers(NEW_KID), store.now())
        .await
        .expect_err("unknown kid while Google fails");
    assert_eq!(r.kind(), RejectionKind::Unavailable, "{r}");
    assert_eq!(r.status(), 503);
}
