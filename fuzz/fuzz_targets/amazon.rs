//! `AmazonStore::verify` on arbitrary SNS headers and bodies; in sign mode the body's envelope
//! fields are signed again with the `SnsSigner`'s throwaway key (the body's `Message`, or the
//! whole body when it is not an envelope, becomes the signed message).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use store_notifications::amazon::{AmazonStore, SignatureVersion};
use store_notifications::testing::{SnsDelivery, SnsSigner};
use store_notifications::{Clock, Disposition, Notification, Store, Verdict};
use store_notifications_fuzz::{NOW, Request, block_on, check};

static SIGNER: LazyLock<SnsSigner> = LazyLock::new(SnsSigner::new);
/// Configured as the shared fixtures' subscription, so their envelopes get past the topic and
/// app checks in sign mode.
static STORE: LazyLock<AmazonStore> = LazyLock::new(|| {
    AmazonStore::new(SIGNER.pinned_certs())
        .with_topic_arn("arn:aws:sns:us-east-1:123456789012:appstore-rtn-fixture")
        .with_topic_arn("arn:aws-cn:sns:cn-north-1:123456789012:appstore-rtn-fixture-cn")
        .with_app_package_name("com.example.fixture.rtnapp")
        .with_clock(Clock::from_unix(NOW))
});

/// The input's envelope, signed with the test key (its `SigningCertURL` is the pinned one).
fn sign(body: &[u8]) -> SnsDelivery {
    let envelope: Map<String, Value> = serde_json::from_slice(body).unwrap_or_default();
    let text = |name: &str| envelope.get(name).and_then(Value::as_str);
    let token = text("Token").unwrap_or_default();
    let mut builder = match text("Type") {
        Some("SubscriptionConfirmation") => SIGNER.subscription_confirmation(token),
        Some("UnsubscribeConfirmation") => SIGNER.unsubscribe_confirmation(token),
        _ => SIGNER.notification(match text("Message") {
            Some(message) => message.to_owned(),
            None => String::from_utf8_lossy(body).into_owned(),
        }),
    };
    if let Some(id) = text("MessageId") {
        builder = builder.message_id(id);
    }
    if let Some(subject) = text("Subject") {
        builder = builder.subject(subject);
    }
    if let Some(timestamp) = text("Timestamp") {
        builder = builder.timestamp(timestamp);
    }
    if let Some(topic_arn) = text("TopicArn") {
        builder = builder.topic_arn(topic_arn);
    }
    if let Some(url) = text("SubscribeURL") {
        builder = builder.subscribe_url(url);
    }
    builder
        .signature_version(match text("SignatureVersion") {
            Some("1") => SignatureVersion::V1,
            _ => SignatureVersion::V2,
        })
        .sign()
}

fuzz_target!(|data: &[u8]| {
    let request = Request::parse(data);
    let (headers, body) = if request.sign {
        let delivery = sign(&request.body);
        (delivery.headers, delivery.body)
    } else {
        (request.headers, request.body)
    };
    let result = block_on(STORE.verify(&headers, &body));
    check(request.sign, &result);
    // A genuine confirmation is acted on next: its SubscribeURL rules run there.
    if let Ok(Verdict::Notification(n)) = &result
        && matches!(n.disposition(), Disposition::Control)
    {
        let _ = block_on(STORE.handle_control(n));
    }
});
