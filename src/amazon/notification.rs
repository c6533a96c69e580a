//! The verified delivery: an RTN, or a subscription (un)confirmation, and what it tells the
//! pipeline.

use std::fmt;
use std::time::SystemTime;

use super::rtn::RtnMessage;
use super::sns::SnsMessage;
use crate::event::EventKind;
use crate::hook::Receipt;
use crate::store::{Disposition, Notification, StoreId};

/// A verified Amazon SNS delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AmazonNotification {
    /// A Real-Time Notification about a receipt.
    Rtn(Box<RtnNotification>),
    /// SNS asks to confirm the subscription (handled by the store: [`Disposition::Control`]).
    SubscriptionConfirmation(SnsConfirmation),
    /// The subscription was removed (recorded: [`Disposition::Control`]).
    UnsubscribeConfirmation(SnsConfirmation),
}

impl AmazonNotification {
    /// The SNS envelope.
    pub fn sns(&self) -> &SnsMessage {
        match self {
            AmazonNotification::Rtn(n) => &n.sns,
            AmazonNotification::SubscriptionConfirmation(c)
            | AmazonNotification::UnsubscribeConfirmation(c) => &c.sns,
        }
    }

    /// The RTN, for notifications.
    pub fn rtn(&self) -> Option<&RtnMessage> {
        match self {
            AmazonNotification::Rtn(n) => Some(&n.message),
            _ => None,
        }
    }

    /// The receipt (`receiptId`) an RTN is about — also for Live App Testing ones, which the
    /// pipeline treats as test notifications.
    pub fn receipt(&self) -> Option<&Receipt> {
        match self {
            AmazonNotification::Rtn(n) => Some(&n.receipt),
            _ => None,
        }
    }

    /// The confirmation, for subscribe and unsubscribe confirmations.
    pub fn confirmation(&self) -> Option<&SnsConfirmation> {
        match self {
            AmazonNotification::SubscriptionConfirmation(c)
            | AmazonNotification::UnsubscribeConfirmation(c) => Some(c),
            AmazonNotification::Rtn(_) => None,
        }
    }

    /// Whether it is a Live App Testing purchase (`betaProductTransaction`).
    pub fn is_test(&self) -> bool {
        self.rtn().is_some_and(RtnMessage::is_beta)
    }
}

impl Notification for AmazonNotification {
    fn store(&self) -> StoreId {
        StoreId::AMAZON
    }

    fn id(&self) -> &str {
        &self.sns().message_id
    }

    fn notification_type(&self) -> &str {
        match self {
            AmazonNotification::Rtn(n) => n.message.notification_type.as_str(),
            other => other.sns().message_type.as_str(),
        }
    }

    fn disposition(&self) -> Disposition<'_> {
        match self {
            // Live App Testing purchases are Amazon's test notifications: the handler sees
            // them, the receipt hook is not asked about a tester's receipt.
            AmazonNotification::Rtn(n) if n.message.is_beta() => Disposition::Test,
            AmazonNotification::Rtn(n) => Disposition::Receipt(&n.receipt),
            _ => Disposition::Control,
        }
    }

    fn event_kind(&self) -> EventKind {
        match self {
            AmazonNotification::Rtn(n) if n.message.is_beta() => EventKind::Test,
            AmazonNotification::Rtn(n) => n.message.notification_type.event_kind(),
            _ => EventKind::Other,
        }
    }

    fn occurred_at(&self) -> Option<SystemTime> {
        self.rtn()
            .and_then(RtnMessage::time)
            .or_else(|| self.sns().timestamp_time())
    }
}

/// A verified RTN with its envelope and receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtnNotification {
    pub(super) sns: SnsMessage,
    pub(super) message: RtnMessage,
    pub(super) receipt: Receipt,
}

impl RtnNotification {
    pub(super) fn new(sns: SnsMessage, message: RtnMessage, receipt: Receipt) -> Self {
        RtnNotification {
            sns,
            message,
            receipt,
        }
    }

    /// The SNS envelope.
    pub fn sns(&self) -> &SnsMessage {
        &self.sns
    }

    /// The RTN.
    pub fn message(&self) -> &RtnMessage {
        &self.message
    }

    /// The receipt: `receiptId`, with `appPackageName` as the app and `sku` (if sent) as the
    /// product; environment `production`, or `live_app_test` for beta transactions.
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }
}

/// A verified `SubscriptionConfirmation` or `UnsubscribeConfirmation`.
#[derive(Clone, PartialEq, Eq)]
pub struct SnsConfirmation {
    pub(super) sns: SnsMessage,
    pub(super) token: String,
    pub(super) subscribe_url: String,
}

impl SnsConfirmation {
    pub(super) fn new(sns: SnsMessage, token: String, subscribe_url: String) -> Self {
        SnsConfirmation {
            sns,
            token,
            subscribe_url,
        }
    }

    /// The SNS envelope.
    pub fn sns(&self) -> &SnsMessage {
        &self.sns
    }

    /// `TopicArn`.
    pub fn topic_arn(&self) -> &str {
        &self.sns.topic_arn
    }

    /// `Token` (confirms the subscription through the `ConfirmSubscription` API).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `SubscribeURL`, as signed (checked against the SNS host rule before it is followed).
    pub fn subscribe_url(&self) -> &str {
        &self.subscribe_url
    }
}

impl fmt::Debug for SnsConfirmation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnsConfirmation")
            .field("sns", &self.sns)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}
