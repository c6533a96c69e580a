//! Properties every store's verifier keeps on any input, not only on the fixtures: it never
//! panics (`Store` promises that), it never accepts what was not signed with the configured key,
//! it accepts what was, whatever the contents, and a one-byte change to a signed delivery never
//! yields different authenticated content.
//!
//! Everything goes through [`Store::verify`] at a fixed clock, as the layer and the extractor
//! call it, with the `testing` signers' throwaway keys. Case counts are kept small so the file
//! runs in seconds in a debug build; `PROPTEST_CASES=10000` runs more.
#![cfg(any(
    feature = "stripe",
    feature = "apple",
    feature = "google",
    feature = "amazon"
))]

use std::cell::RefCell;

use bytes::Bytes;
use http::HeaderMap;
use proptest::prelude::*;
use proptest::sample::Index;
use store_notifications::{Rejection, RejectionKind, Store, Verdict};

/// The instant every store verifies at (2026-01-01T00:00:00Z).
const NOW: i64 = 1_767_225_600;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(cases),
        ..ProptestConfig::default()
    }
}

thread_local! {
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// Why [`verify`] gave no notification: refused, or authentic with an unusable payload.
#[derive(Debug)]
enum NotAccepted {
    Refused(Rejection),
    Unusable(Rejection),
}

impl NotAccepted {
    fn rejection(&self) -> &Rejection {
        match self {
            NotAccepted::Refused(r) | NotAccepted::Unusable(r) => r,
        }
    }

    fn kind(&self) -> RejectionKind {
        self.rejection().kind()
    }

    /// A [`Verdict::Unusable`]: the proof checked out.
    fn is_unusable(&self) -> bool {
        matches!(self, NotAccepted::Unusable(_))
    }
}

impl std::fmt::Display for NotAccepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self.rejection(), f)
    }
}

/// `store.verify(headers, body)`, driven to completion on a per-thread runtime.
fn verify<S: Store>(
    store: &S,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<S::Notification, NotAccepted> {
    let body = Bytes::copy_from_slice(body);
    RUNTIME.with(|cell| {
        let mut runtime = cell.borrow_mut();
        let runtime = runtime.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime")
        });
        match runtime.block_on(store.verify(headers, &body)) {
            Ok(Verdict::Notification(n)) => Ok(n),
            Ok(verdict) => Err(NotAccepted::Unusable(
                verdict.unusable().expect("not a notification"),
            )),
            Err(r) => Err(NotAccepted::Refused(r)),
        }
    })
}

/// `bytes` with one byte XOR-ed with a non-zero `flip`: always a different message.
fn mutate(bytes: &[u8], at: Index, flip: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if !out.is_empty() {
        let i = at.index(out.len());
        out[i] ^= flip;
    }
    out
}

#[cfg(any(feature = "stripe", feature = "google"))]
/// `headers` with `name` set to the raw `value`, or `None` when no HTTP stack could deliver
/// such a value (a control character, say).
fn with_header(mut headers: HeaderMap, name: &'static str, value: &[u8]) -> Option<HeaderMap> {
    let value = http::HeaderValue::from_bytes(value).ok()?;
    headers.insert(http::HeaderName::from_static(name), value);
    Some(headers)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// base64url without padding, as JOSE writes it.
#[cfg(any(feature = "apple", feature = "google"))]
fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(feature = "stripe")]
mod stripe {
    use std::sync::LazyLock;

    use store_notifications::testing::StripeSigner;
    use store_notifications::{Clock, Notification, RejectionKind, StripeStore};

    use super::*;

    const SECRET: &str = "whsec_property_test_secret";
    static STORE: LazyLock<StripeStore> =
        LazyLock::new(|| StripeStore::new(SECRET).with_clock(Clock::from_unix(NOW as u64)));

    fn signer() -> StripeSigner {
        StripeSigner::new(SECRET)
    }

    fn signed_headers(value: &[u8]) -> Option<HeaderMap> {
        with_header(HeaderMap::new(), "stripe-signature", value)
    }

    /// Values shaped like `Stripe-Signature`: items of `t`, `v1`, `v0` and junk keys, with
    /// timestamps near now, hex of every length around 64, and noise.
    fn header_like() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("t".to_owned()),
            Just("v1".to_owned()),
            Just("v0".to_owned()),
            Just(" v1".to_owned()),
            "[a-zA-Z0-9 ]{0,3}",
        ];
        let value = prop_oneof![
            (NOW - 400..NOW + 400).prop_map(|t| t.to_string()),
            "0{0,3}[0-9]{0,20}",
            "[0-9a-f]{64}",
            "[0-9a-fA-F]{62,66}",
            "[ -~]{0,8}",
        ];
        prop::collection::vec((key, prop::option::of(value)), 0..6).prop_map(|items| {
            items
                .into_iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k,
                })
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// A subscription as `data.object`, with arbitrary extra fields.
    fn subscription() -> impl Strategy<Value = (String, String)> {
        (
            any::<String>(),
            prop::collection::btree_map("x_[a-z_]{1,8}", json_value(), 0..4),
        )
            .prop_map(|(id, extra)| {
                let mut object: serde_json::Map<_, _> = extra.into_iter().collect();
                object.insert("object".into(), "subscription".into());
                object.insert("id".into(), id.clone().into());
                (id, serde_json::Value::Object(object).to_string())
            })
    }

    proptest! {
        #![proptest_config(config(64))]

        #[test]
        fn any_signature_header_bytes_are_refused_without_panicking(
            value in bytes(256),
            body in bytes(256),
        ) {
            if let Some(headers) = signed_headers(&value) {
                prop_assert!(verify(&*STORE, &headers, &body).is_err());
            }
        }

        #[test]
        fn a_header_without_the_secrets_mac_is_refused_before_its_time_is_looked_at(
            value in header_like(),
            body in bytes(128),
        ) {
            if let Some(headers) = signed_headers(value.as_bytes()) {
                let kind = verify(&*STORE, &headers, &body).map(|_| ()).unwrap_err().kind();
                // Expired / NotYetValid would tell a forger that the rest was fine.
                prop_assert!(
                    matches!(kind, RejectionKind::Malformed | RejectionKind::Unauthenticated),
                    "{value:?}: {kind:?}"
                );
            }
        }

        #[test]
        fn a_signed_event_within_the_tolerance_verifies_with_its_fields(
            id in any::<String>(),
            event_type in any::<String>(),
            (subscription_id, object) in subscription(),
            created in any::<i64>(),
            t in NOW - 300..=NOW + 300,
        ) {
            let body = signer().event(&id, &event_type, &object, created);
            let event = verify(&*STORE, &signer().headers(t, &body), &body)
                .map_err(|e| TestCaseError::fail(format!("{e}: {body:?}")))?;
            prop_assert_eq!(event.id(), id.as_str());
            prop_assert_eq!(event.notification_type(), event_type.as_str());
            prop_assert_eq!(event.created(), created);
            prop_assert_eq!(event.signed_at(), t);
            prop_assert_eq!(event.raw_body(), &body);
            prop_assert_eq!(
                event.receipt().map(|r| r.reference.as_str()),
                Some(subscription_id.as_str())
            );
        }

        #[test]
        fn any_signed_body_is_authentic_even_when_it_is_not_an_event(
            body in bytes(256),
            t in NOW - 300..=NOW + 300,
        ) {
            match verify(&*STORE, &signer().headers(t, &body), &body) {
                Ok(event) => prop_assert_eq!(event.raw_body().as_ref(), &body[..]),
                Err(e) => prop_assert!(
                    e.is_unusable() && e.kind() == RejectionKind::Malformed,
                    "{e:?}"
                ),
            }
        }

        #[test]
        fn a_signature_outside_the_tolerance_is_expired_or_not_yet_valid(
            past in 0..NOW - 300,
            future in NOW + 301..=i64::MAX,
        ) {
            let body = signer().event("evt_1", "invoice.paid", "{}", NOW);
            for (t, expected) in [
                (past, RejectionKind::Expired),
                (future, RejectionKind::NotYetValid),
            ] {
                let kind = verify(&*STORE, &signer().headers(t, &body), &body)
                    .map(|_| ())
                    .unwrap_err()
                    .kind();
                prop_assert_eq!(kind, expected, "t={}", t);
            }
        }

        #[test]
        fn a_single_byte_change_to_a_signed_body_or_header_is_refused(
            (_, object) in subscription(),
            at in any::<Index>(),
            flip in 1u8..,
        ) {
            let body = signer().event("evt_1", "customer.subscription.updated", &object, NOW);
            let header = signer().signature(NOW, &body);

            let tampered = mutate(&body, at, flip);
            let headers = signed_headers(header.as_bytes()).expect("the signer's header is valid");
            let rejection = verify(&*STORE, &headers, &tampered).map(|_| ()).unwrap_err();
            prop_assert_eq!(rejection.kind(), RejectionKind::Unauthenticated);

            if let Some(headers) = signed_headers(&mutate(header.as_bytes(), at, flip)) {
                let rejection = verify(&*STORE, &headers, &body).map(|_| ()).unwrap_err();
                prop_assert!(
                    matches!(
                        rejection.kind(),
                        RejectionKind::Malformed | RejectionKind::Unauthenticated
                    ),
                    "{:?}",
                    rejection
                );
            }
        }
    }
}

#[cfg(feature = "amazon")]
mod amazon {
    use std::sync::LazyLock;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use store_notifications::amazon::{
        AmazonNotification, AmazonStore, CertUrl, SignatureVersion, SnsMessage,
    };
    use store_notifications::testing::{RtnMessageBuilder, SnsSigner};
    use store_notifications::{Clock, RejectionKind};

    use super::*;

    static SIGNER: LazyLock<SnsSigner> = LazyLock::new(SnsSigner::new);
    static STORE: LazyLock<AmazonStore> = LazyLock::new(|| {
        AmazonStore::new(SIGNER.pinned_certs()).with_clock(Clock::from_unix(NOW as u64))
    });

    fn version() -> impl Strategy<Value = SignatureVersion> {
        prop_oneof![Just(SignatureVersion::V1), Just(SignatureVersion::V2)]
    }

    /// JSON objects with SNS's fields, each absent, of the right shape, or of any JSON type;
    /// `SigningCertURL` often the pinned one so the RSA check is reached.
    fn sns_like() -> impl Strategy<Value = String> {
        fn field(
            name: &'static str,
            likely: BoxedStrategy<String>,
        ) -> impl Strategy<Value = Option<(&'static str, serde_json::Value)>> {
            prop::option::weighted(
                0.9,
                prop_oneof![
                    4 => likely.prop_map(serde_json::Value::from),
                    1 => json_value(),
                ],
            )
            .prop_map(move |v| v.map(|v| (name, v)))
        }
        let message_type = prop_oneof![
            Just("Notification".to_owned()),
            Just("SubscriptionConfirmation".to_owned()),
            Just("UnsubscribeConfirmation".to_owned()),
            any::<String>(),
        ]
        .boxed();
        let signature_version =
            prop_oneof![Just("1".to_owned()), Just("2".to_owned()), any::<String>()].boxed();
        let signature = prop_oneof![
            prop::collection::vec(any::<u8>(), 256).prop_map(|s| STANDARD.encode(s)),
            bytes(300).prop_map(|s| STANDARD.encode(s)),
            any::<String>(),
        ]
        .boxed();
        let cert_url = prop_oneof![
            3 => Just(SnsSigner::CERT_URL.to_owned()),
            1 => any::<String>(),
        ]
        .boxed();
        let text = || any::<String>().boxed();
        (
            (
                field("Type", message_type),
                field("MessageId", text()),
                field("TopicArn", text()),
                field("Subject", text()),
                field("Message", text()),
                field("Timestamp", text()),
            ),
            (
                field("SignatureVersion", signature_version),
                field("Signature", signature),
                field("SigningCertURL", cert_url),
                field("SubscribeURL", text()),
                field("Token", text()),
                field("UnsubscribeURL", text()),
            ),
        )
            .prop_map(|((a, b, c, d, e, f), (g, h, i, j, k, l))| {
                let object: serde_json::Map<_, _> = [a, b, c, d, e, f, g, h, i, j, k, l]
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect();
                serde_json::Value::Object(object).to_string()
            })
    }

    /// Strings built from the pieces a `SigningCertURL` is made of, right and wrong, so that
    /// both answers come up often.
    fn url_like() -> impl Strategy<Value = String> {
        (
            prop_oneof![
                4 => Just("https://"),
                1 => prop::sample::select(vec!["http://", "HTTPS://", "https:/", "ftp://", ""]),
            ],
            prop_oneof![
                6 => Just(""),
                1 => prop::sample::select(vec!["user@", "u:p@", "@"]),
            ],
            prop_oneof![
                3 => "sns\\.(us|eu|ap|cn|us-gov|[a-z]{1,3})-[a-z]{2,9}(-[a-z]{1,4})?-(0|[1-9]|[1-9][0-9]|100)\\.amazonaws\\.com(\\.cn)?",
                2 => "sns\\.[a-zA-Z0-9-]{0,6}\\.amazonaws\\.com(\\.cn)?",
                1 => "sns\\.[a-z0-9._@-]{1,12}\\.amazonaws\\.com(\\.cn|\\.evil\\.com|\\.)?",
                1 => "[a-zA-Z0-9.-]{0,20}",
            ],
            prop_oneof![
                6 => Just(""),
                1 => prop::sample::select(vec![":", ":443", ":8443"]),
            ],
            prop_oneof![
                4 => "/[A-Za-z0-9._-]{0,12}\\.pem",
                1 => "/[A-Za-z0-9._%/?#-]{0,12}(\\.pem)?",
                1 => "(/)?",
            ],
            prop_oneof![
                6 => Just(""),
                1 => prop::sample::select(vec!["?", "?x=y", "#f", " "]),
            ],
        )
            .prop_map(|(scheme, user, host, port, path, tail)| {
                format!("{scheme}{user}{host}{port}{path}{tail}")
            })
    }

    /// The documented shape, written from the rules rather than from the parser:
    /// `https://sns.<region>.amazonaws.com/<file>.pem` (`.amazonaws.com.cn` exactly for `cn-`
    /// regions), `<region>` two or more lower-case words of two or more letters and a number
    /// from 1 to 99 joined by `-` (`us-east-1`, `us-gov-west-1`), `<file>` a non-empty name of
    /// `[A-Za-z0-9._-]`, nothing else.
    fn has_the_documented_shape(url: &str) -> bool {
        let Some((host, file)) = url.strip_prefix("https://").and_then(|r| r.split_once('/'))
        else {
            return false;
        };
        let region_ok = |region: &str| {
            let parts: Vec<&str> = region.split('-').collect();
            let Some((number, words)) = parts.split_last() else {
                return false;
            };
            words.len() >= 2
                && words
                    .iter()
                    .all(|w| w.len() >= 2 && w.chars().all(|c| c.is_ascii_lowercase()))
                && number.parse::<u8>().is_ok_and(|n| (1..=99).contains(&n))
                && !number.starts_with('0')
        };
        let host_ok = host.strip_prefix("sns.").is_some_and(|h| {
            match (
                h.strip_suffix(".amazonaws.com.cn"),
                h.strip_suffix(".amazonaws.com"),
            ) {
                (Some(region), _) => region.starts_with("cn-") && region_ok(region),
                (None, Some(region)) => !region.starts_with("cn-") && region_ok(region),
                (None, None) => false,
            }
        });
        let file_ok = file.len() > ".pem".len()
            && file.ends_with(".pem")
            && file
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        host_ok && file_ok
    }

    /// The fields the SNS signature covers, to compare two envelopes by.
    fn signed_fields(sns: &SnsMessage) -> [Option<String>; 6] {
        [
            Some(sns.message_type().as_str().to_owned()),
            Some(sns.message_id().to_owned()),
            Some(sns.topic_arn().to_owned()),
            sns.subject().map(str::to_owned),
            Some(sns.message().to_owned()),
            Some(sns.timestamp().to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(config(64))]

        #[test]
        fn any_body_is_refused_without_panicking(body in bytes(512)) {
            let rejection = verify(&*STORE, &HeaderMap::new(), &body).map(|_| ()).unwrap_err();
            prop_assert!(!rejection.is_unusable());
        }

        #[test]
        fn any_sns_shaped_object_is_refused_without_panicking(body in sns_like()) {
            let rejection = verify(&*STORE, &HeaderMap::new(), body.as_bytes())
                .map(|_| ())
                .unwrap_err();
            prop_assert!(!rejection.is_unusable(), "{:?}", rejection);
        }

        #[test]
        fn only_signing_cert_urls_of_the_documented_shape_are_accepted(
            url in prop_oneof![1 => any::<String>(), 3 => url_like()],
        ) {
            match CertUrl::parse(&url) {
                Ok(parsed) => {
                    prop_assert!(has_the_documented_shape(&url), "accepted {:?}", url);
                    prop_assert_eq!(parsed.as_str(), url.as_str());
                    prop_assert_eq!(Some(parsed.file_name()), url.rsplit('/').next());
                }
                Err(_) => prop_assert!(!has_the_documented_shape(&url), "refused {:?}", url),
            }
        }
    }

    proptest! {
        // RSA signing (SignatureVersion 1 is a big-integer exponentiation) is slow in debug.
        #![proptest_config(config(24))]

        #[test]
        fn a_signed_rtn_verifies_with_its_fields(
            receipt_id in any::<String>(),
            package in any::<String>(),
            notification_type in any::<String>(),
            subject in prop::option::of(any::<String>()),
            message_id in any::<String>(),
            version in version(),
        ) {
            let rtn = RtnMessageBuilder::new(&package, &notification_type, &receipt_id).to_json();
            let mut builder = SIGNER
                .notification(rtn.clone())
                .message_id(message_id.clone())
                .signature_version(version);
            if let Some(subject) = &subject {
                builder = builder.subject(subject.clone());
            }
            let delivery = builder.sign();
            let n = verify(&*STORE, &delivery.headers, &delivery.body)
                .map_err(|e| TestCaseError::fail(format!("{e}: {:?}", delivery.body)))?;
            prop_assert_eq!(n.receipt().map(|r| r.reference.as_str()), Some(receipt_id.as_str()));
            let rtn_message = n.rtn().expect("an RTN");
            prop_assert_eq!(&rtn_message.app_package_name, &package);
            prop_assert_eq!(n.sns().message(), rtn.as_str());
            prop_assert_eq!(n.sns().message_id(), message_id.as_str());
            prop_assert_eq!(n.sns().subject(), subject.as_deref());
            prop_assert_eq!(n.sns().signature_version(), version);
        }

        #[test]
        fn any_signed_message_is_authentic_even_when_it_is_not_an_rtn(
            message in any::<String>(),
            version in version(),
        ) {
            let delivery = SIGNER.notification(message.clone()).signature_version(version).sign();
            match verify(&*STORE, &delivery.headers, &delivery.body) {
                Ok(n) => prop_assert_eq!(n.sns().message(), message.as_str()),
                Err(e) => prop_assert!(
                    e.is_unusable() && e.kind() == RejectionKind::Unsupported,
                    "{e:?}"
                ),
            }
        }

        #[test]
        fn a_signed_confirmation_verifies_with_its_token(
            token in "[0-9a-f]{1,64}",
            unsubscribe in any::<bool>(),
            version in version(),
        ) {
            let builder = if unsubscribe {
                SIGNER.unsubscribe_confirmation(token.clone())
            } else {
                SIGNER.subscription_confirmation(token.clone())
            };
            let delivery = builder.signature_version(version).sign();
            let n = verify(&*STORE, &delivery.headers, &delivery.body)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(n.confirmation().map(|c| c.token()), Some(token.as_str()));
            prop_assert_eq!(
                matches!(n, AmazonNotification::UnsubscribeConfirmation(_)),
                unsubscribe
            );
        }

        #[test]
        fn a_single_byte_change_never_yields_other_signed_content(
            receipt_id in "[ -~]{1,40}",
            version in version(),
            at in any::<Index>(),
            flip in 1u8..,
        ) {
            let rtn = RtnMessageBuilder::new("com.example.app", "SUBSCRIPTION_RENEWED", &receipt_id);
            let delivery = SIGNER
                .notification(rtn.to_json())
                .subject("Amazon Appstore Real-Time Notification")
                .signature_version(version)
                .sign();
            let original = verify(&*STORE, &delivery.headers, &delivery.body)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let tampered = mutate(&delivery.body, at, flip);
            // Whitespace between fields and the unsigned `UnsubscribeURL` are not covered by
            // the signature, so some changes still verify: they must leave what is signed alone.
            match verify(&*STORE, &delivery.headers, &tampered) {
                Ok(n) => prop_assert_eq!(signed_fields(n.sns()), signed_fields(original.sns())),
                Err(e) => prop_assert!(!e.is_unusable(), "{e:?}"),
            }
        }
    }
}

#[cfg(feature = "google")]
mod google {
    use std::sync::LazyLock;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;
    use store_notifications::google::GoogleStore;
    use store_notifications::testing::GoogleSigner;
    use store_notifications::{Clock, RejectionKind};

    use super::*;

    const AUDIENCE: &str = "https://push.example.com/notifications/google";
    const SERVICE_ACCOUNT: &str = "push@example-project.iam.gserviceaccount.com";
    const PACKAGE: &str = "com.example.app";
    static SIGNER: LazyLock<GoogleSigner> = LazyLock::new(GoogleSigner::new);
    static STORE: LazyLock<GoogleStore> = LazyLock::new(|| {
        GoogleStore::new(AUDIENCE, SERVICE_ACCOUNT, SIGNER.static_keys())
            .with_clock(Clock::from_unix(NOW as u64))
    });

    fn body() -> Bytes {
        GoogleSigner::wrapped_body(
            &GoogleSigner::test_notification(PACKAGE, NOW * 1000),
            "1",
            "2026-01-01T00:00:00Z",
            "projects/p/subscriptions/s",
        )
    }

    fn authorization(value: &[u8]) -> Option<HeaderMap> {
        with_header(HeaderMap::new(), "authorization", value)
    }

    /// `header.claims.signature` where each part is base64url of a JSON object (the right
    /// header and claims, or any) or of any bytes: forged tokens the parser must get through.
    fn jwt_like() -> impl Strategy<Value = String> {
        let header = prop_oneof![
            (
                prop::sample::select(vec!["RS256", "none", "HS256", "ES256", "rs256"]),
                prop::option::of(prop_oneof![
                    Just(GoogleSigner::KID.to_owned()),
                    any::<String>()
                ]),
            )
                .prop_map(|(alg, kid)| json!({ "alg": alg, "kid": kid, "typ": "JWT" }).to_string()),
            json_value().prop_map(|v| v.to_string()),
        ]
        .prop_map(|h| b64url(h.as_bytes()));
        let claims = prop_oneof![
            (NOW - 3600..NOW + 60).prop_map(|iat| GoogleSigner::claims(
                AUDIENCE,
                SERVICE_ACCOUNT,
                iat
            )
            .to_string()),
            json_value().prop_map(|v| v.to_string()),
        ]
        .prop_map(|c| b64url(c.as_bytes()));
        let signature = prop_oneof![
            prop::collection::vec(any::<u8>(), 256).prop_map(|s| b64url(&s)),
            bytes(300).prop_map(|s| b64url(&s)),
            "[A-Za-z0-9_=+/.-]{0,20}",
        ];
        prop_oneof![
            (header, claims, signature).prop_map(|(h, c, s)| format!("{h}.{c}.{s}")),
            prop::collection::vec(bytes(64).prop_map(|p| b64url(&p)), 0..5)
                .prop_map(|parts| parts.join(".")),
        ]
    }

    proptest! {
        #![proptest_config(config(64))]

        #[test]
        fn any_authorization_value_is_refused_without_panicking(
            value in bytes(256),
            bearer in any::<bool>(),
        ) {
            let value = if bearer { [b"Bearer ".as_slice(), &value].concat() } else { value };
            if let Some(headers) = authorization(&value) {
                let rejection = verify(&*STORE, &headers, &body()).map(|_| ()).unwrap_err();
                prop_assert!(!rejection.is_unusable());
            }
        }

        #[test]
        fn any_forged_bearer_token_is_refused_without_panicking(token in jwt_like()) {
            if let Some(headers) = authorization(format!("Bearer {token}").as_bytes()) {
                let rejection = verify(&*STORE, &headers, &body()).map(|_| ()).unwrap_err();
                prop_assert!(!rejection.is_unusable(), "{:?}", rejection);
            }
        }

        #[test]
        fn a_signed_push_verifies_with_its_fields(
            subject in any::<String>(),
            iat in NOW - 3600..=NOW,
            message_id in any::<String>(),
            purchase_token in any::<String>(),
            subscription_id in any::<String>(),
            notification_type in 1..=20i32,
        ) {
            let mut claims = GoogleSigner::claims(AUDIENCE, SERVICE_ACCOUNT, iat);
            claims["sub"] = subject.clone().into();
            let token = SIGNER.token(&claims);
            let data = GoogleSigner::subscription_notification(
                PACKAGE,
                notification_type,
                &purchase_token,
                &subscription_id,
                NOW * 1000,
            );
            let body = GoogleSigner::wrapped_body(
                &data,
                &message_id,
                "2026-01-01T00:00:00Z",
                "projects/p/subscriptions/s",
            );
            let n = verify(&*STORE, &GoogleSigner::headers(&token), &body)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(n.token().subject.as_deref(), Some(subject.as_str()));
            prop_assert_eq!(n.token().issued_at, iat);
            prop_assert_eq!(n.push().message_id.as_deref(), Some(message_id.as_str()));
            prop_assert_eq!(n.notification().kind.purchase_token(), Some(purchase_token.as_str()));
            prop_assert_eq!(n.data().as_ref(), data.as_bytes());
        }

        #[test]
        fn any_message_data_under_a_valid_token_is_authentic(data in bytes(256)) {
            let token = SIGNER.id_token(AUDIENCE, SERVICE_ACCOUNT, NOW - 10);
            let body = json!({
                "message": { "data": STANDARD.encode(&data), "messageId": "1" },
                "subscription": "projects/p/subscriptions/s",
            })
            .to_string();
            match verify(&*STORE, &GoogleSigner::headers(&token), body.as_bytes()) {
                Ok(n) => prop_assert_eq!(n.data().as_ref(), &data[..]),
                Err(e) => prop_assert!(
                    e.is_unusable() && e.kind() == RejectionKind::Malformed,
                    "{e:?}"
                ),
            }
        }

        #[test]
        fn a_single_byte_change_to_a_signed_token_is_refused(
            at in any::<Index>(),
            flip in 1u8..,
        ) {
            let token = SIGNER.id_token(AUDIENCE, SERVICE_ACCOUNT, NOW - 10);
            let tampered = mutate(token.as_bytes(), at, flip);
            let value = [b"Bearer ".as_slice(), &tampered].concat();
            if let Some(headers) = authorization(&value) {
                let rejection = verify(&*STORE, &headers, &body()).map(|_| ()).unwrap_err();
                prop_assert!(!rejection.is_unusable(), "{:?}", rejection);
            }
        }
    }
}

#[cfg(feature = "apple")]
mod apple {
    use std::sync::LazyLock;

    use store_notifications::apple::Environment;
    use store_notifications::testing::AppleSigner;
    use store_notifications::{AppleStore, Clock, Notification, RejectionKind};

    use super::*;

    const BUNDLE_ID: &str = "com.example.app";
    static SIGNER: LazyLock<AppleSigner> =
        LazyLock::new(|| AppleSigner::new(BUNDLE_ID, Environment::Sandbox));
    static STORE: LazyLock<AppleStore> =
        LazyLock::new(|| SIGNER.store().with_clock(Clock::from_unix(NOW as u64)));

    /// The signer's protected header (`alg` ES256 and its `x5c` chain), base64url.
    fn signer_header() -> String {
        let jws = SIGNER.sign(b"{}");
        jws.split('.').next().unwrap_or_default().to_owned()
    }

    proptest! {
        #![proptest_config(config(64))]

        #[test]
        fn any_body_is_refused_without_panicking(body in bytes(512)) {
            let rejection = verify(&*STORE, &HeaderMap::new(), &body).map(|_| ()).unwrap_err();
            prop_assert!(!rejection.is_unusable());
        }

        #[test]
        fn any_compact_jws_of_arbitrary_parts_is_refused_without_panicking(
            parts in prop::collection::vec(bytes(128), 3),
        ) {
            let jws = parts.iter().map(|p| b64url(p)).collect::<Vec<_>>().join(".");
            let body = SIGNER.body(&jws);
            let rejection = verify(&*STORE, &HeaderMap::new(), &body).map(|_| ()).unwrap_err();
            prop_assert!(!rejection.is_unusable(), "{:?}", rejection);
        }

        #[test]
        fn a_trusted_chain_with_a_forged_signature_is_unauthenticated(
            payload in prop_oneof![bytes(256), json_value().prop_map(|v| v.to_string().into_bytes())],
            signature in prop_oneof![prop::collection::vec(any::<u8>(), 64), bytes(96)],
        ) {
            let jws = format!("{}.{}.{}", signer_header(), b64url(&payload), b64url(&signature));
            let body = SIGNER.body(&jws);
            let rejection = verify(&*STORE, &HeaderMap::new(), &body).map(|_| ()).unwrap_err();
            prop_assert_eq!(rejection.kind(), RejectionKind::Unauthenticated);
        }
    }

    proptest! {
        // Three ECDSA signatures per notification.
        #![proptest_config(config(32))]

        #[test]
        fn a_signed_notification_verifies_with_its_fields(
            notification_type in any::<String>(),
            uuid in any::<String>(),
            original_transaction_id in any::<String>(),
            product_id in any::<String>(),
            signed_date_ms in (NOW - 86_400 * 365) * 1000..=NOW * 1000,
        ) {
            let signer = SIGNER.clone().with_product_id(product_id.clone());
            let body = signer.notification(
                &notification_type,
                None,
                &uuid,
                Some(&original_transaction_id),
                signed_date_ms,
            );
            let n = verify(&*STORE, &signer.headers(), &body)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(n.id(), uuid.as_str());
            prop_assert_eq!(n.typed_notification_type().as_str(), notification_type.as_str());
            prop_assert_eq!(n.signed_date(), Some(signed_date_ms));
            prop_assert_eq!(
                n.receipt().map(|r| r.reference.as_str()),
                Some(original_transaction_id.as_str())
            );
            let transaction = n.transaction().expect("a transaction");
            prop_assert_eq!(transaction.product_id.as_deref(), Some(product_id.as_str()));
            let transaction_id = format!("{original_transaction_id}-1");
            prop_assert_eq!(transaction.transaction_id.as_deref(), Some(transaction_id.as_str()));
        }

        #[test]
        fn a_single_byte_change_to_a_signed_body_is_refused(
            original_transaction_id in "[0-9]{1,20}",
            at in any::<Index>(),
            flip in 1u8..,
        ) {
            let body = SIGNER.notification(
                "DID_RENEW",
                None,
                "uuid-1",
                Some(&original_transaction_id),
                NOW * 1000,
            );
            let tampered = mutate(&body, at, flip);
            let rejection = verify(&*STORE, &HeaderMap::new(), &tampered).map(|_| ()).unwrap_err();
            prop_assert!(!rejection.is_unusable(), "{:?}", rejection);
        }
    }
}
