//! The Pub/Sub push request: wrapped (the JSON envelope) or unwrapped (the raw data as the body,
//! metadata in `x-goog-pubsub-*` headers).
//!
//! - Wrapped (<https://cloud.google.com/pubsub/docs/push>): `{"message": {"data", "attributes",
//!   "messageId", "publishTime", "orderingKey"}, "subscription", "deliveryAttempt"}`. Pub/Sub sends
//!   both spellings of the metadata (`messageId` and `message_id`, …); either is accepted, the
//!   camel-case one first. `data` is standard, padded base64
//!   (<https://cloud.google.com/pubsub/docs/reference/rest/v1/PubsubMessage>).
//! - Unwrapped (<https://cloud.google.com/pubsub/docs/payload-unwrapping>): the body is the data
//!   itself; with "write metadata" on, `x-goog-pubsub-message-id`, `x-goog-pubsub-publish-time`
//!   and `x-goog-pubsub-subscription-name` carry the metadata.
//!
//! Pub/Sub does not say which one it sent. A body is the wrapper when it is a JSON object with a
//! `message` or `subscription` key (a DeveloperNotification has neither). A body that starts
//! like a JSON object (`{`) but does not parse is a damaged wrapper: malformed (400), so Pub/Sub
//! retries it. Any other body (empty, not JSON, a JSON array or string) can only be unwrapped
//! data: the token vouched for it, so it is authentic but unusable (dead-lettered, 200) — no
//! retry can make it a notification.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;

use crate::kernel::encoding::b64_decode;
// A rejection's message ends up in logs and in the response, and a value serde_json would
// quote could be a purchase token.
use crate::kernel::json::describe;
use crate::rejection::{Rejection, RejectionKind};

/// The Pub/Sub metadata of one push.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushMetadata {
    /// Whether the body was the JSON push wrapper (`false`: unwrapped payload).
    pub wrapped: bool,
    /// `messageId` (or `x-goog-pubsub-message-id`): Pub/Sub's id, the same on redeliveries.
    pub message_id: Option<String>,
    /// `publishTime` (or `x-goog-pubsub-publish-time`), RFC 3339 as sent.
    pub publish_time: Option<String>,
    /// `subscription` (or `x-goog-pubsub-subscription-name`): the push subscription's full name.
    pub subscription: Option<String>,
    /// `message.attributes` (wrapped pushes only).
    pub attributes: BTreeMap<String, String>,
    /// `message.orderingKey`, if the topic uses ordering.
    pub ordering_key: Option<String>,
    /// `deliveryAttempt`, sent when the subscription has a dead-letter policy.
    pub delivery_attempt: Option<i64>,
}

/// An opened push: its metadata and the message data (the DeveloperNotification JSON).
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) metadata: PushMetadata,
    pub(crate) data: Bytes,
}

/// Opens a push whose token has been verified. Envelope garbage is `Malformed` (400); a `data`
/// that is missing, empty or not base64 is an authentic (dead-lettered) `Malformed`. `own`
/// turns the body into the `Bytes` an unwrapped push keeps (a shared clone when the caller has
/// `Bytes`, else a copy).
pub(crate) fn open<B: AsRef<[u8]> + ?Sized>(
    headers: &HeaderMap,
    raw: &B,
    own: fn(&B) -> Bytes,
) -> Result<Delivery, Rejection> {
    let body = raw.as_ref();
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    if first != Some(b'{') {
        return Ok(unwrapped(headers, own(raw)));
    }

    // One pass over the body. A wrapper whose `message` or `subscription` has the wrong shape
    // fails here as a whole, which is the same 400 it would get field by field.
    #[derive(Deserialize)]
    struct Wrapper {
        message: Option<WireMessage>,
        subscription: Option<String>,
        #[serde(rename = "deliveryAttempt")]
        delivery_attempt: Option<serde_json::Value>,
    }
    let wrapper: Wrapper = serde_json::from_slice(body).map_err(|e| {
        Rejection::malformed(format!(
            "the push body is not a Pub/Sub push wrapper: {}",
            describe(&e)
        ))
    })?;
    if wrapper.message.is_none() && wrapper.subscription.is_none() {
        return Ok(unwrapped(headers, own(raw)));
    }
    let message = wrapper
        .message
        .ok_or_else(|| Rejection::malformed("the push wrapper has no message"))?;
    let subscription = wrapper.subscription;
    let metadata = PushMetadata {
        wrapped: true,
        message_id: message.message_id.or(message.message_id_snake),
        publish_time: message.publish_time.or(message.publish_time_snake),
        subscription,
        attributes: message.attributes.unwrap_or_default(),
        ordering_key: message.ordering_key.or(message.ordering_key_snake),
        delivery_attempt: wrapper.delivery_attempt.and_then(|v| v.as_i64()),
    };
    let unusable = |why: &'static str| Rejection::unusable(RejectionKind::Malformed, why);
    let data = message
        .data
        .ok_or_else(|| unusable("the push message has no data"))?;
    let data = b64_decode(data).ok_or_else(|| unusable("the push message data is not base64"))?;
    Ok(Delivery {
        metadata,
        data: Bytes::from(data),
    })
}

/// `PubsubMessage` as a push wrapper carries it (both spellings of every field).
#[derive(Deserialize)]
struct WireMessage {
    data: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
    #[serde(rename = "messageId")]
    message_id: Option<String>,
    #[serde(rename = "message_id")]
    message_id_snake: Option<String>,
    #[serde(rename = "publishTime")]
    publish_time: Option<String>,
    #[serde(rename = "publish_time")]
    publish_time_snake: Option<String>,
    #[serde(rename = "orderingKey")]
    ordering_key: Option<String>,
    #[serde(rename = "ordering_key")]
    ordering_key_snake: Option<String>,
}

fn unwrapped(headers: &HeaderMap, body: Bytes) -> Delivery {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    Delivery {
        metadata: PushMetadata {
            wrapped: false,
            message_id: header("x-goog-pubsub-message-id"),
            publish_time: header("x-goog-pubsub-publish-time"),
            subscription: header("x-goog-pubsub-subscription-name"),
            ..PushMetadata::default()
        },
        data: body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_body(body: &str) -> Result<Delivery, Rejection> {
        open(
            &HeaderMap::new(),
            &Bytes::from(body.to_owned()),
            Bytes::clone,
        )
    }

    #[test]
    fn both_spellings_of_the_metadata_are_accepted() {
        let camel = open_body(
            r#"{"message":{"data":"e30=","messageId":"1","publishTime":"t"},"subscription":"s"}"#,
        )
        .expect("camel");
        let snake = open_body(
            r#"{"message":{"data":"e30=","message_id":"1","publish_time":"t"},"subscription":"s"}"#,
        )
        .expect("snake");
        assert_eq!(camel.metadata, snake.metadata);
        assert_eq!(camel.metadata.message_id.as_deref(), Some("1"));
        assert_eq!(camel.metadata.publish_time.as_deref(), Some("t"));
        assert_eq!(camel.metadata.subscription.as_deref(), Some("s"));
        assert_eq!(&camel.data[..], b"{}");
    }

    #[test]
    fn data_is_standard_padded_base64() {
        let d = open_body(r#"{"message":{"data":"Pz8/Pw=="}}"#).expect("padded");
        assert_eq!(&d.data[..], b"????");
        for bad in ["Pz8_Pw==", "Pz8/Pw", "%%%"] {
            let r = open_body(&format!(r#"{{"message":{{"data":"{bad}"}}}}"#)).expect_err(bad);
            assert!(
                r.is_authentic(),
                "{bad}: the wrapper parsed, the data is unusable"
            );
        }
    }

    #[test]
    fn a_message_without_data_is_authentic_but_unusable() {
        let r =
            open_body(r#"{"message":{"messageId":"1"},"subscription":"s"}"#).expect_err("no data");
        assert!(r.is_authentic());
    }

    #[test]
    fn envelope_garbage_is_malformed_and_not_dead_lettered() {
        for body in [
            r#"{"subscription":"s"}"#,
            r#"{"message":"hello"}"#,
            r#"{"message":{"data":12345}}"#,
            r#"{"message":{"data":"e30=","attributes":{"a":1}}}"#,
            r#"{"message":{"data":"e30="#,
        ] {
            let r = open_body(body).expect_err(body);
            assert_eq!(r.kind(), RejectionKind::Malformed, "{body}");
            assert!(!r.is_authentic(), "{body}");
        }
    }

    #[test]
    fn a_body_without_message_or_subscription_is_unwrapped_data() {
        let mut h = HeaderMap::new();
        h.insert("x-goog-pubsub-message-id", "42".parse().expect("v"));
        h.insert(
            "x-goog-pubsub-publish-time",
            "2026-01-01T00:00:00Z".parse().expect("v"),
        );
        h.insert(
            "x-goog-pubsub-subscription-name",
            "projects/p/subscriptions/s".parse().expect("v"),
        );
        let body = Bytes::from_static(br#"{"packageName":"p"}"#);
        let d = open(&h, &body, Bytes::clone).expect("unwrapped");
        assert!(!d.metadata.wrapped);
        assert_eq!(d.metadata.message_id.as_deref(), Some("42"));
        assert_eq!(
            d.metadata.subscription.as_deref(),
            Some("projects/p/subscriptions/s")
        );
        assert_eq!(d.data, body);
    }

    #[test]
    fn a_body_that_is_not_a_json_object_is_unwrapped_data() {
        for body in ["", "[]", r#""hello""#, "message=hello", "\u{ff} not json"] {
            let d = open_body(body).expect(body);
            assert!(!d.metadata.wrapped);
            assert_eq!(d.metadata.message_id, None);
        }
    }

    #[test]
    fn error_messages_never_quote_values() {
        let e = serde_json::from_str::<i32>(r#""secret-purchase-token""#).expect_err("string");
        let shown = describe(&e);
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("expected i32"), "{shown}");
    }

    #[test]
    fn delivery_attempt_and_attributes_are_kept() {
        let d = open_body(r#"{"message":{"data":"e30=","attributes":{"k":"v"},"orderingKey":"o"},"subscription":"s","deliveryAttempt":3}"#).expect("ok");
        assert_eq!(d.metadata.delivery_attempt, Some(3));
        assert_eq!(
            d.metadata.attributes.get("k").map(String::as_str),
            Some("v")
        );
        assert_eq!(d.metadata.ordering_key.as_deref(), Some("o"));
    }
}
