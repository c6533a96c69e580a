//! `GoogleCerts` (feature `fetch`) against a loopback HTTP server this test starts: the JWKS and
//! PEM forms, `Cache-Control: max-age` minus `Age`, and stale keys kept when Google errors.
#![cfg(all(feature = "google", feature = "fetch", feature = "test-util"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use store_notifications::google::{GoogleCerts, GoogleStore, KeySource};
use store_notifications::testing::GoogleSigner;
use store_notifications::{Clock, RejectionKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const NOW: u64 = 1_767_225_600;
const AUDIENCE: &str = "https://example.com/notifications/google";
const SERVICE_ACCOUNT: &str = "push@fetch-project.iam.gserviceaccount.com";

/// Serves `response()` to every request and counts them.
struct Server {
    url: String,
    requests: Arc<AtomicUsize>,
    status: Arc<std::sync::Mutex<(u16, String, String)>>,
}

async fn serve(body: String, headers: &str) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let requests = Arc::new(AtomicUsize::new(0));
    let status = Arc::new(std::sync::Mutex::new((200, headers.to_owned(), body)));
    let (count, current) = (Arc::clone(&requests), Arc::clone(&status));
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            let mut read = 0;
            while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf[read..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
            }
            count.fetch_add(1, Ordering::SeqCst);
            let (code, headers, body) = current.lock().expect("lock").clone();
            let response = format!(
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    Server {
        url: format!("http://{addr}/oauth2/v3/certs"),
        requests,
        status,
    }
}

fn clock() -> (Clock, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(NOW));
    let read = Arc::clone(&now);
    (
        Clock::from_fn(move || {
            SystemTime::UNIX_EPOCH + Duration::from_secs(read.load(Ordering::SeqCst))
        }),
        now,
    )
}

#[tokio::test]
async fn the_jwks_is_fetched_and_its_max_age_minus_age_honoured() {
    let signer = GoogleSigner::new();
    let server = serve(
        signer.jwks(),
        "Cache-Control: public, max-age=100, must-revalidate, no-transform\r\nAge: 40\r\n",
    )
    .await;
    let fetched = GoogleCerts::from_url(&server.url)
        .fetch()
        .await
        .expect("fetch");
    assert_eq!(fetched.max_age, Some(Duration::from_secs(60)));
    assert!(fetched.keys.contains(signer.kid()));

    let (clock, now) = clock();
    let store = GoogleStore::new(
        AUDIENCE,
        SERVICE_ACCOUNT,
        GoogleCerts::from_url(&server.url),
    )
    .with_clock(clock);
    let headers = GoogleSigner::headers(&signer.id_token(AUDIENCE, SERVICE_ACCOUNT, NOW as i64));
    let before = server.requests.load(Ordering::SeqCst);
    for _ in 0..5 {
        store
            .verify_token(&headers, store.now())
            .await
            .expect("valid");
    }
    assert_eq!(server.requests.load(Ordering::SeqCst) - before, 1, "cached");
    now.fetch_add(59, Ordering::SeqCst);
    store
        .verify_token(&headers, store.now())
        .await
        .expect("valid");
    assert_eq!(
        server.requests.load(Ordering::SeqCst) - before,
        1,
        "still fresh"
    );
    now.fetch_add(1, Ordering::SeqCst);
    store
        .verify_token(&headers, store.now())
        .await
        .expect("valid");
    assert_eq!(
        server.requests.load(Ordering::SeqCst) - before,
        2,
        "expired → refetched"
    );
}

#[tokio::test]
async fn the_v1_pem_certificate_form_is_understood() {
    let signer = GoogleSigner::new();
    let server = serve(signer.pem_certificates(), "Cache-Control: max-age=10\r\n").await;
    let fetched = GoogleCerts::from_url(&server.url)
        .fetch()
        .await
        .expect("fetch");
    assert_eq!(fetched.keys, signer.key_set());
}

#[tokio::test]
async fn a_failing_refresh_keeps_the_stale_keys_and_no_keys_is_503() {
    let signer = GoogleSigner::new();
    let server = serve(signer.jwks(), "Cache-Control: max-age=60\r\n").await;
    let (clock, now) = clock();
    let store = GoogleStore::new(
        AUDIENCE,
        SERVICE_ACCOUNT,
        GoogleCerts::from_url(&server.url),
    )
    .with_clock(clock);
    let headers = GoogleSigner::headers(&signer.id_token(AUDIENCE, SERVICE_ACCOUNT, NOW as i64));
    store
        .verify_token(&headers, store.now())
        .await
        .expect("fresh");

    *server.status.lock().expect("lock") = (500, String::new(), "oops".into());
    now.fetch_add(120, Ordering::SeqCst);
    store
        .verify_token(&headers, store.now())
        .await
        .expect("stale keys still verify");
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        2,
        "a refresh was tried"
    );

    let fresh = GoogleStore::new(
        AUDIENCE,
        SERVICE_ACCOUNT,
        GoogleCerts::from_url(&server.url),
    )
    .with_clock(Clock::from_unix(NOW + 120));
    let r = fresh
        .verify_token(&headers, fresh.now())
        .await
        .expect_err("no keys");
    assert_eq!(r.kind(), RejectionKind::Unavailable, "{r}");
    assert_eq!(r.status(), 503);
}

#[tokio::test]
async fn an_unreachable_google_is_503() {
    // Bind then drop a listener: the port refuses connections.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let store = GoogleStore::new(
        AUDIENCE,
        SERVICE_ACCOUNT,
        GoogleCerts::from_url(format!("http://{addr}/certs")),
    )
    .with_clock(Clock::from_unix(NOW));
    let signer = GoogleSigner::new();
    let headers = GoogleSigner::headers(&signer.id_token(AUDIENCE, SERVICE_ACCOUNT, NOW as i64));
    let r = store
        .verify_token(&headers, store.now())
        .await
        .expect_err("unreachable");
    assert_eq!(r.kind(), RejectionKind::Unavailable);
}
