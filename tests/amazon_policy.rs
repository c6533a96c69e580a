//! Amazon SNS / RTN's own rules (signature versions, signing-cert URL rules and fetching, topic
//! and app binding, subscription confirmation), through real axum Routers mounted both ways
//! (layer and extractor), with deliveries signed by the test-util `SnsSigner` (no shared
//! fixtures needed). Subscription confirmation goes to a loopback HTTP server the test starts,
//! standing in for the `SubscribeURL` host. The rows every store shares run from
//! `tests/policy.rs`.
#![cfg(all(feature = "amazon", feature = "axum", feature = "test-util"))]

mod common;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use common::{HookMode, harness};
use http::StatusCode;
use store_notifications::amazon::{
    AmazonStore, CertSource, CertSourceError, CertSourceErrorKind, CertUrl, ConfirmRequest,
};
use store_notifications::testing::{RtnMessageBuilder, SnsSigner};
use store_notifications::{
    BoxError, Clock, Endpoint, InMemoryStatus, Outcome, ReceiptHook, RejectionKind, StatusStore,
    StoreId, SubscriptionState,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const NOW: u64 = 1_767_225_600;
const APP: &str = "com.example.policy";
const RECEIPT: &str = "q0d4Zx3Rk2mPolicyReceipt=:3:11";

fn store() -> AmazonStore {
    AmazonStore::new(SnsSigner::new().pinned_certs())
        .with_topic_arn(SnsSigner::TOPIC_ARN)
        .with_app_package_name(APP)
        .with_clock(Clock::from_unix(NOW))
}

fn endpoint_with(store: AmazonStore) -> impl Fn(Arc<dyn ReceiptHook>) -> Endpoint<AmazonStore> {
    move |hook| Endpoint::with_shared_hook(store.clone(), hook).with_clock(Clock::from_unix(NOW))
}

fn rtn(notification_type: &str) -> RtnMessageBuilder {
    RtnMessageBuilder::new(APP, notification_type, RECEIPT)
}

#[tokio::test]
async fn the_hook_sees_the_receipt_id_and_app_package() {
    let h = harness(HookMode::Tracked, endpoint_with(store()));
    let d = SnsSigner::new()
        .notification(rtn("SUBSCRIPTION_RENEWED").to_json())
        .sign();
    let (reply, calls) = h.both(&d.headers, d.body).await;
    assert_eq!(reply.status, common::HANDLER_STATUS);
    assert_eq!(calls, (1, 1, 0));
    let seen = h.receipts_seen.lock().expect("lock");
    assert_eq!(seen[0].store, StoreId::AMAZON);
    assert_eq!(seen[0].reference, RECEIPT);
    assert_eq!(seen[0].app.as_deref(), Some(APP));
}

#[tokio::test]
async fn sv1_sha1_signatures_are_accepted_too() {
    let h = harness(HookMode::Tracked, endpoint_with(store()));
    let d = SnsSigner::new()
        .notification(rtn("SUBSCRIPTION_PURCHASED").to_json())
        .subject("Amazon Appstore Real-Time Notification")
        .signature_version(store_notifications::amazon::SignatureVersion::V1)
        .sign();
    let (reply, calls) = h.both(&d.headers, d.body).await;
    assert_eq!(reply.outcome, Some(Outcome::Tracked));
    assert_eq!(calls, (1, 1, 0));
}

#[tokio::test]
async fn tampered_message_is_401_and_never_reaches_the_hook() {
    let h = harness(HookMode::Tracked, endpoint_with(store()));
    let d = SnsSigner::new()
        .notification(rtn("SUBSCRIPTION_RENEWED").to_json())
        .sign();
    let tampered = String::from_utf8(d.body.to_vec())
        .expect("utf8")
        .replace("SUBSCRIPTION_RENEWED", "SUBSCRIPTION_PURCHASED");
    let (reply, calls) = h.both(&d.headers, tampered).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn cert_url_off_the_sns_host_is_401_and_never_reaches_the_hook() {
    let h = harness(HookMode::Tracked, endpoint_with(store()));
    let d = SnsSigner::new()
        .notification(rtn("SUBSCRIPTION_RENEWED").to_json())
        .signing_cert_url(
            "https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-store-notifications-test.pem",
        )
        .sign();
    let (reply, calls) = h.both(&d.headers, d.body).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn header_disagreeing_with_the_body_is_400() {
    let h = harness(HookMode::Tracked, endpoint_with(store()));
    let mut d = SnsSigner::new()
        .notification(rtn("SUBSCRIPTION_RENEWED").to_json())
        .sign();
    d.headers.insert(
        "x-amz-sns-message-type",
        "SubscriptionConfirmation".parse().expect("value"),
    );
    let (reply, calls) = h.both(&d.headers, d.body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn genuine_rtn_for_another_app_is_403_and_never_reaches_the_hook() {
    let h = harness(HookMode::Tracked, endpoint_with(store()));
    let msg = RtnMessageBuilder::new("com.someone.else", "SUBSCRIPTION_RENEWED", RECEIPT).to_json();
    let d = SnsSigner::new().notification(msg).sign();
    let (reply, calls) = h.both(&d.headers, d.body).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.outcome,
        Some(Outcome::Rejected(RejectionKind::WrongApp))
    );
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn genuine_message_from_another_topic_is_403() {
    let h = harness(HookMode::Tracked, endpoint_with(store()));
    let d = SnsSigner::new()
        .with_topic_arn("arn:aws:sns:us-east-1:123456789012:someone-elses-topic")
        .notification(rtn("SUBSCRIPTION_RENEWED").to_json())
        .sign();
    let (reply, calls) = h.both(&d.headers, d.body).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(calls, (0, 0, 0));
}

struct Unreachable;

#[async_trait]
impl CertSource for Unreachable {
    async fn certificate(&self, url: &CertUrl) -> Result<Vec<u8>, CertSourceError> {
        Err(CertSourceError::new(
            CertSourceErrorKind::Unavailable,
            format!("{url}: connection timed out"),
        ))
    }
}

#[tokio::test]
async fn unobtainable_signing_cert_is_503_so_sns_retries() {
    let h = harness(
        HookMode::Tracked,
        endpoint_with(AmazonStore::new(Unreachable)),
    );
    let d = SnsSigner::new()
        .notification(rtn("SUBSCRIPTION_RENEWED").to_json())
        .sign();
    let (reply, calls) = h.both(&d.headers, d.body).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reply.outcome,
        Some(Outcome::Rejected(RejectionKind::Unavailable))
    );
    assert_eq!(calls, (0, 0, 0));
}

/// A loopback HTTP server standing in for the `SubscribeURL` host: answers every request with
/// `status` and keeps the request lines.
struct FakeSns {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn fake_sns(status: u16) -> FakeSns {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 16 * 1024];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            seen.lock()
                .expect("lock")
                .push(text.lines().next().unwrap_or_default().to_owned());
            let reply =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    FakeSns { port, requests }
}

/// A confirmer that GETs the validated `SubscribeURL`'s path and query from the loopback
/// server (the production host check has already passed when it is called).
fn loopback_confirmer(
    port: u16,
) -> impl Fn(ConfirmRequest) -> std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>
+ Send
+ Sync
+ 'static {
    move |req: ConfirmRequest| {
        Box::pin(async move {
            let url = req.subscribe_url.as_str();
            let path = url
                .strip_prefix("https://")
                .and_then(|r| r.find('/').and_then(|i| r.get(i..)))
                .unwrap_or("/")
                .to_owned();
            let mut sock = TcpStream::connect(("127.0.0.1", port)).await?;
            sock.write_all(format!("GET {path} HTTP/1.1\r\nhost: sns\r\n\r\n").as_bytes())
                .await?;
            let mut answer = String::new();
            sock.read_to_string(&mut answer).await?;
            if answer.starts_with("HTTP/1.1 200") {
                Ok(())
            } else {
                Err(format!("SubscribeURL answered {:?}", answer.lines().next()).into())
            }
        }) as std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>
    }
}

#[tokio::test]
async fn subscription_confirmation_is_confirmed_recorded_and_resend_works_again() {
    let sns = fake_sns(200).await;
    let status = InMemoryStatus::new();
    let store = store().with_confirmer(loopback_confirmer(sns.port));
    let st = status.clone();
    let h = harness(HookMode::Tracked, move |hook| {
        endpoint_with(store.clone())(hook).with_status(st.clone())
    });
    for (i, token) in ["token-first", "token-resent"].into_iter().enumerate() {
        let d = SnsSigner::new().subscription_confirmation(token).sign();
        let (reply, calls) = h.both(&d.headers, d.body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.outcome, Some(Outcome::Control));
        assert_eq!(calls, (0, 0, 0), "neither hook nor handler");
        // Both mountings confirmed: two GETs per delivery.
        let requests = sns.requests.lock().expect("lock").clone();
        assert_eq!(requests.len(), 2 * (i + 1));
        assert!(
            requests
                .last()
                .expect("request")
                .contains(&format!("Token={token}")),
            "{requests:?}"
        );
        let snap = status.snapshot().await.expect("snapshot");
        let sub = snap.stores[&StoreId::AMAZON]
            .subscription
            .clone()
            .expect("recorded");
        assert_eq!(sub.state, SubscriptionState::Confirmed);
        assert_eq!(sub.topic, SnsSigner::TOPIC_ARN);
        assert_eq!(sub.token.as_deref(), Some(token));
    }
}

#[tokio::test]
async fn failed_confirmation_is_503_so_sns_resends() {
    let sns = fake_sns(500).await;
    let store = store().with_confirmer(loopback_confirmer(sns.port));
    let h = harness(HookMode::Tracked, endpoint_with(store));
    let d = SnsSigner::new().subscription_confirmation("token-x").sign();
    let (reply, calls) = h.both(&d.headers, d.body).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reply.outcome,
        Some(Outcome::Rejected(RejectionKind::Unavailable))
    );
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn record_only_leaves_the_subscription_pending_with_its_token() {
    let status = InMemoryStatus::new();
    let st = status.clone();
    let h = harness(HookMode::Tracked, move |hook| {
        endpoint_with(store())(hook).with_status(st.clone())
    });
    let d = SnsSigner::new()
        .subscription_confirmation("token-manual")
        .sign();
    let (reply, calls) = h.both(&d.headers, d.body).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(calls, (0, 0, 0));
    let snap = status.snapshot().await.expect("snapshot");
    let sub = snap.stores[&StoreId::AMAZON]
        .subscription
        .clone()
        .expect("recorded");
    assert_eq!(sub.state, SubscriptionState::PendingConfirmation);
    assert_eq!(sub.token.as_deref(), Some("token-manual"));
    assert!(sub.subscribe_url.is_some());
}

#[tokio::test]
async fn unsubscribe_confirmation_is_recorded_and_never_followed() {
    let sns = fake_sns(200).await;
    let status = InMemoryStatus::new();
    let store = store().with_confirmer(loopback_confirmer(sns.port));
    let st = status.clone();
    let h = harness(HookMode::Tracked, move |hook| {
        endpoint_with(store.clone())(hook).with_status(st.clone())
    });
    let d = SnsSigner::new()
        .unsubscribe_confirmation("token-bye")
        .sign();
    let (reply, calls) = h.both(&d.headers, d.body).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.outcome, Some(Outcome::Control));
    assert_eq!(calls, (0, 0, 0));
    assert!(sns.requests.lock().expect("lock").is_empty(), "no GET");
    let snap = status.snapshot().await.expect("snapshot");
    let sub = snap.stores[&StoreId::AMAZON]
        .subscription
        .clone()
        .expect("recorded");
    assert_eq!(sub.state, SubscriptionState::Unsubscribed);
}
