//! [`PolicySigner`]: what a response-policy test needs from a store's signer.

use bytes::Bytes;
use http::HeaderMap;

use crate::store::Store;

/// The instant this crate's signers sign their policy deliveries at, and the fixed clock of the
/// stores they return: 2026-01-01T00:00:00Z.
#[cfg(any(
    feature = "stripe",
    feature = "apple",
    feature = "google",
    feature = "amazon"
))]
pub(crate) const POLICY_NOW: u64 = 1_767_225_600;

/// A store's test signer as the response policy sees it: a store that trusts the signer, and
/// one delivery for each row of the policy table (tracked or untracked receipt, test message,
/// forged proof, unusable payload …).
///
/// With it, one table of policy rows runs unchanged against every store, built-in or your own
/// (this crate's `tests/common/policy_suite.rs` runs its rows against the four built-in signers
/// and a Standard Webhooks store written outside the crate). Each delivery is a request's
/// headers and exact body.
///
/// Only [`store`](Self::store), [`receipt`](Self::receipt) and [`forged`](Self::forged) are
/// required: a store that has no test message, say, keeps the default `None` and the rows
/// needing one are skipped. A row added later comes with a defaulted method, so implementing
/// this trait stays non-breaking.
///
/// ```
/// # #[cfg(feature = "stripe")] {
/// use store_notifications::testing::{PolicySigner, StripeSigner};
/// use store_notifications::{Disposition, Notification, Store};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let signer = StripeSigner::new("whsec_test");
/// let store = signer.store();
///
/// let (headers, body) = signer.receipt("sub_1");
/// let event = store.verify(&headers, &body).await.unwrap().notification().unwrap();
/// assert!(matches!(event.disposition(), Disposition::Receipt(r) if r.reference == "sub_1"));
///
/// let (headers, body) = signer.forged("sub_1");
/// assert_eq!(store.verify(&headers, &body).await.unwrap_err().status(), 401);
/// # });
/// # }
/// ```
pub trait PolicySigner {
    /// The store verifying this signer's deliveries.
    type Store: Store;

    /// A store that trusts this signer (its keys, secret or roots) and nothing else, with its
    /// clock fixed so that the signer's deliveries are fresh.
    ///
    /// (`AppleSigner` also has an inherent `store()`, on the system clock; call this one as
    /// `PolicySigner::store(&signer)`.)
    fn store(&self) -> Self::Store;

    /// An authentic delivery about the receipt `reference`: verified, its
    /// [`disposition`](crate::Notification::disposition) is a receipt with that reference.
    fn receipt(&self, reference: &str) -> (HeaderMap, Bytes);

    /// The [`receipt`](Self::receipt) delivery with its proof broken (a signature made with
    /// another key, or over other bytes): rejected as unauthenticated (401).
    fn forged(&self, reference: &str) -> (HeaderMap, Bytes);

    /// An authentic test message (the store console's "send test notification"), if the store
    /// has one.
    fn test(&self) -> Option<(HeaderMap, Bytes)> {
        None
    }

    /// An authentic notification about no receipt, if the store sends any.
    fn unreferenced(&self) -> Option<(HeaderMap, Bytes)> {
        None
    }

    /// An authentic delivery whose payload is unusable (the proof checks out, the payload is
    /// not a notification): dead-lettered. `None` if the store's proof cannot cover such a
    /// payload.
    fn unusable(&self) -> Option<(HeaderMap, Bytes)> {
        None
    }

    /// An authentic control message the store handles by itself (an SNS subscription
    /// confirmation), if it has any. With the store as [`store`](Self::store) returns it,
    /// handling it must succeed without the network.
    fn control(&self) -> Option<(HeaderMap, Bytes)> {
        None
    }
}

#[cfg(all(
    test,
    any(
        feature = "stripe",
        feature = "apple",
        feature = "google",
        feature = "amazon"
    )
))]
mod tests {
    use super::*;
    use crate::rejection::RejectionKind;
    use crate::store::{Disposition, Notification};

    /// Checks a signer's deliveries against its store, one method at a time.
    async fn honours_the_contract<P: PolicySigner>(signer: P) {
        let store = signer.store();
        let id = <P::Store as Store>::ID;

        let (headers, body) = signer.receipt("policy-ref-1");
        let n = store
            .verify(&headers, &body)
            .await
            .expect("receipt")
            .notification()
            .expect("usable");
        assert_eq!(n.store(), id);
        match n.disposition() {
            Disposition::Receipt(r) => {
                assert_eq!(r.reference, "policy-ref-1", "{id}");
                assert_eq!(r.store, id);
            }
            other => panic!("{id}: receipt delivery is {other:?}"),
        }

        let (headers, body) = signer.forged("policy-ref-1");
        let r = store.verify(&headers, &body).await.expect_err("forged");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated, "{id}: {r}");

        let expected = [
            (signer.test(), "test"),
            (signer.unreferenced(), "unreferenced"),
            (signer.control(), "control"),
        ];
        for (delivery, what) in expected {
            let Some((headers, body)) = delivery else {
                continue;
            };
            let n = store
                .verify(&headers, &body)
                .await
                .expect(what)
                .notification()
                .expect(what);
            let got = match n.disposition() {
                Disposition::Test => "test",
                Disposition::Unreferenced => "unreferenced",
                Disposition::Control => "control",
                _ => "receipt",
            };
            assert_eq!(got, what, "{id}");
        }

        if let Some((headers, body)) = signer.unusable() {
            let verdict = store.verify(&headers, &body).await.expect("authentic");
            assert!(verdict.is_unusable(), "{id}: {verdict:?}");
        }
    }

    #[cfg(feature = "stripe")]
    #[tokio::test]
    async fn stripe_signer_honours_the_contract() {
        let signer = crate::testing::StripeSigner::new("whsec_contract");
        assert!(signer.test().is_none() && signer.control().is_none());
        honours_the_contract(signer).await;
    }

    #[cfg(feature = "apple")]
    #[tokio::test]
    async fn apple_signer_honours_the_contract() {
        let signer = crate::testing::AppleSigner::new(
            "com.example.contract",
            crate::apple::Environment::Production,
        );
        assert!(signer.test().is_some() && signer.unreferenced().is_some());
        honours_the_contract(signer).await;
    }

    #[cfg(feature = "google")]
    #[tokio::test]
    async fn google_signer_honours_the_contract() {
        let signer = crate::testing::GoogleSigner::new();
        assert!(signer.test().is_some() && signer.unreferenced().is_some());
        honours_the_contract(signer).await;
    }

    #[cfg(feature = "amazon")]
    #[tokio::test]
    async fn sns_signer_honours_the_contract() {
        let signer = crate::testing::SnsSigner::new();
        assert!(signer.control().is_some() && signer.unreferenced().is_none());
        honours_the_contract(signer).await;
    }
}
