//! Amazon Appstore Real-Time Notifications (RTN), delivered by Amazon SNS over HTTPS.
//!
//! ```
//! # #[cfg(feature = "test-util")] {
//! use store_notifications::amazon::AmazonStore;
//! use store_notifications::testing::{RtnMessageBuilder, SnsSigner};
//! use store_notifications::{Clock, Notification};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // In production: `AmazonStore::new(PinnedCerts::from_dir("sns-certs")?)`, or
//! // `AmazonStore::https()?` (feature `fetch`) to download certificates and confirm
//! // subscriptions. Here: the test signer's throwaway certificate.
//! let signer = SnsSigner::new();
//! let store = AmazonStore::new(signer.pinned_certs())
//!     .with_topic_arn(SnsSigner::TOPIC_ARN)      // only your topic
//!     .with_app_package_name("com.example.app")  // only your app
//!     .with_clock(Clock::from_unix(1_767_225_600));
//!
//! let rtn = RtnMessageBuilder::new("com.example.app", "SUBSCRIPTION_RENEWED", "rcpt:3:11");
//! let delivery = signer.notification(rtn.to_json()).sign();
//! let verdict = store.verify_at(&delivery.headers, &delivery.body, store.now()).await.unwrap();
//! let n = verdict.notification().expect("an RTN");
//! assert_eq!(n.notification_type(), "SUBSCRIPTION_RENEWED");
//! assert_eq!(n.receipt().unwrap().reference, "rcpt:3:11");
//! # });
//! # }
//! ```
//!
//! What is checked, in order (each rule is a test in `sns.rs`, `cert.rs` or below):
//!
//! 1. the body is an SNS JSON object (any content type: SNS sends `text/plain`) with the
//!    required fields of its `Type`; `x-amz-sns-message-type`, `-message-id` and `-topic-arn`,
//!    when present, agree with it (400 otherwise);
//! 2. `SignatureVersion` is `1` or `2`, `Signature` is base64 (401);
//! 3. `SigningCertURL` passes the [`CertUrl`] rules, and its host's region is the region of the
//!    `TopicArn` (401);
//! 4. the [`CertSource`] has the certificate (401 if it definitely has not, 503 if it cannot
//!    get it now — SNS only retries 5xx); its key is cached per URL, bounded;
//! 5. the RSA PKCS#1 v1.5 signature (`SignatureVersion` `1`: SHA-1, `2`: SHA-256) over
//!    `"Key\nValue\n"` for these keys, in this order (401):
//!
//!    | `Type` | signed keys |
//!    | --- | --- |
//!    | `Notification` | Message, MessageId, Subject (only if present), Timestamp, TopicArn, Type |
//!    | confirmations | Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type |
//!
//! 6. `TopicArn` is in the allow-list, when one is configured (403);
//! 7. for a `Notification`, `Message` is an RTN ([`RtnMessage`]) — an authentic message that
//!    is not one is [`Verdict::Unusable`](crate::Verdict::Unusable): dead-lettered, answered 200 —
//!    and its `appPackageName` is the configured one, when configured (403).
//!
//! Configure the topic allow-list ([`AmazonStore::with_topic_arn`]): the signature proves that
//! SNS delivered a message, not which AWS account published it.
//!
//! Certificate validity dates and the `Timestamp`'s age are not checked, as in AWS's PHP and
//! JS validators: trust comes from the URL rules (or your pinning), and SNS retries for hours.
//! Redeliveries keep their `MessageId` ([`Notification::id`](crate::Notification::id)).
//!
//! Subscription confirmations are [`Disposition::Control`](crate::Disposition::Control): the pipeline calls
//! [`Store::handle_control`](crate::Store::handle_control), which confirms through the [`Confirmer`] and reports the
//! [`Subscription`](crate::Subscription) for the status ("Verified" in the Amazon console). *Resend* in the console
//! sends a new confirmation, which is confirmed again.

mod cert;
mod confirm;
mod mapping;
mod notification;
mod rtn;
mod sns;
mod store;
mod verify;

#[cfg(feature = "fetch")]
pub use cert::HttpsCertSource;
pub use cert::{
    CertError, CertSource, CertSourceError, CertSourceErrorKind, CertUrl, PinnedCerts, UrlError,
};
#[cfg(feature = "fetch")]
pub use confirm::HttpsConfirmer;
pub use confirm::{ConfirmRequest, Confirmer, RecordOnly, SubscribeUrl};
pub use notification::{AmazonNotification, RtnNotification, SnsConfirmation};
pub use rtn::{RtnMessage, RtnNotificationType};
pub use sns::{SignatureVersion, SnsMessage, SnsMessageType};
pub use store::AmazonStore;

#[cfg(feature = "test-util")]
pub(crate) use cert::topic_arn_region;
#[cfg(feature = "test-util")]
pub(crate) use sns::string_to_sign as string_to_sign_for_tests;
