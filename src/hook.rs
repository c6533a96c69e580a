//! The receipt hook: your answer to "does this receipt exist here?".
//!
//! Stores send notifications for every purchase of the app, including ones this backend never
//! saw (another environment, a deleted account, a purchase made before you integrated). The
//! pipeline asks the hook about each receipt: tracked receipts reach your handler; untracked ones
//! are answered 200 so the store stops retrying, and your handler is not called. An error from
//! the hook answers 503, so the store retries and nothing is lost.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;

use crate::BoxError;
use crate::store::StoreId;

/// What a notification is about: the store's receipt reference and what came with it.
///
/// | store | `reference` |
/// | --- | --- |
/// | Apple | `originalTransactionId` |
/// | Google | `purchaseToken` |
/// | Stripe | the subscription id, else the customer id |
/// | Amazon | `receiptId` |
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Receipt {
    /// The store.
    pub store: StoreId,
    /// The store's receipt reference (see the table above).
    pub reference: String,
    /// The product (Apple `productId`, Google `subscriptionId`/`sku`, Amazon `sku` …), if sent.
    pub product: Option<String>,
    /// The app (bundle id, package name, Stripe account …), if sent.
    pub app: Option<String>,
    /// The environment (`Production`, `Sandbox`, `live`, `test` …), if sent.
    pub environment: Option<String>,
    /// Whether `reference` is a credential (a Google purchase token is a bearer token for
    /// Google's API): then `Debug` shows only its length.
    sensitive: bool,
}

impl Receipt {
    /// A receipt of `store` with the given reference.
    pub fn new(store: StoreId, reference: impl Into<String>) -> Self {
        Receipt {
            store,
            reference: reference.into(),
            product: None,
            app: None,
            environment: None,
            sensitive: false,
        }
    }

    /// Marks the reference as a credential, kept out of `Debug` output and logs (a store
    /// whose references are bearer tokens builds its receipts this way).
    #[must_use]
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Whether the reference is a credential (see [`sensitive`](Receipt::sensitive)).
    pub fn is_sensitive(&self) -> bool {
        self.sensitive
    }

    /// With the product identifier.
    #[must_use]
    pub fn with_product(mut self, product: impl Into<String>) -> Self {
        self.product = Some(product.into());
        self
    }

    /// With the app identifier.
    #[must_use]
    pub fn with_app(mut self, app: impl Into<String>) -> Self {
        self.app = Some(app.into());
        self
    }

    /// With the environment.
    #[must_use]
    pub fn with_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }
}

// Credentials (purchase tokens) stay out of logs.
impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reference: &dyn fmt::Debug = if self.sensitive {
            &Redacted(self.reference.len())
        } else {
            &self.reference
        };
        f.debug_struct("Receipt")
            .field("store", &self.store)
            .field("reference", reference)
            .field("product", &self.product)
            .field("app", &self.app)
            .field("environment", &self.environment)
            .finish()
    }
}

/// A credential shown the way an operator can recognise it without being able to use it: its
/// first 8 characters, `…`, and its length.
///
/// ```
/// assert_eq!(
///     store_notifications::hook::redact("AO-J1OabcdefghijklmnOPQRSTUVWXYZ"),
///     "AO-J1Oab… (32 bytes)"
/// );
/// assert_eq!(store_notifications::hook::redact("short"), "… (5 bytes)");
/// ```
pub fn redact(value: &str) -> String {
    const SHOWN: usize = 8;
    // A value barely longer than the prefix would be nearly whole: show nothing of it.
    let prefix = if value.chars().count() >= SHOWN * 2 {
        value.chars().take(SHOWN).collect::<String>()
    } else {
        String::new()
    };
    format!("{prefix}… ({} bytes)", value.len())
}

struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.0)
    }
}

/// Answers whether a receipt exists in this backend.
///
/// Object-safe: the pipeline holds an `Arc<dyn ReceiptHook>`. Any
/// `Fn(Receipt) -> impl Future<Output = Result<bool, E>>` closure is a hook:
///
/// ```
/// use store_notifications::{Receipt, ReceiptHook, StoreId};
///
/// let hook = |receipt: Receipt| async move {
///     Ok::<_, std::io::Error>(receipt.reference.starts_with("sub_"))
/// };
/// # tokio_test_block_on(async {
/// let tracked = hook.receipt_exists(&Receipt::new(StoreId::STRIPE, "sub_1")).await.unwrap();
/// assert!(tracked);
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[async_trait]
pub trait ReceiptHook: Send + Sync + 'static {
    /// `Ok(true)` when the receipt is tracked here, `Ok(false)` when it is not, `Err` when the
    /// answer cannot be known now (the store is answered 503 and retries).
    async fn receipt_exists(&self, receipt: &Receipt) -> Result<bool, BoxError>;
}

#[async_trait]
impl<F, Fut, E> ReceiptHook for F
where
    F: Fn(Receipt) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<bool, E>> + Send,
    E: Into<BoxError>,
{
    async fn receipt_exists(&self, receipt: &Receipt) -> Result<bool, BoxError> {
        self(receipt.clone()).await.map_err(Into::into)
    }
}

#[async_trait]
impl ReceiptHook for Arc<dyn ReceiptHook> {
    async fn receipt_exists(&self, receipt: &Receipt) -> Result<bool, BoxError> {
        (**self).receipt_exists(receipt).await
    }
}

/// A hook that tracks every receipt: every notification reaches the handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysTracked;

#[async_trait]
impl ReceiptHook for AlwaysTracked {
    async fn receipt_exists(&self, _: &Receipt) -> Result<bool, BoxError> {
        Ok(true)
    }
}

/// An in-memory set of tracked receipts, keyed by store and reference.
///
/// Cheap to clone (clones share the set). Good for tests and single-instance demos.
///
/// ```
/// use store_notifications::{InMemoryReceipts, StoreId};
/// let receipts = InMemoryReceipts::new();
/// assert!(receipts.insert(StoreId::APPLE, "2000000123456789"));
/// assert!(receipts.contains(StoreId::APPLE, "2000000123456789"));
/// assert!(!receipts.contains(StoreId::GOOGLE, "2000000123456789"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct InMemoryReceipts {
    // Keyed by store first so a lookup borrows the reference instead of allocating a key.
    set: Arc<RwLock<HashMap<StoreId, HashSet<String>>>>,
}

impl InMemoryReceipts {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tracks a receipt; `false` if it was already tracked.
    pub fn insert(&self, store: StoreId, reference: impl Into<String>) -> bool {
        self.set
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(store)
            .or_default()
            .insert(reference.into())
    }

    /// Stops tracking a receipt; `false` if it was not tracked.
    pub fn remove(&self, store: StoreId, reference: &str) -> bool {
        self.set
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&store)
            .is_some_and(|refs| refs.remove(reference))
    }

    /// Whether a receipt is tracked.
    pub fn contains(&self, store: StoreId, reference: &str) -> bool {
        self.set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&store)
            .is_some_and(|refs| refs.contains(reference))
    }

    /// How many receipts are tracked, over every store.
    pub fn len(&self) -> usize {
        self.set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(HashSet::len)
            .sum()
    }

    /// Whether no receipt is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl ReceiptHook for InMemoryReceipts {
    async fn receipt_exists(&self, receipt: &Receipt) -> Result<bool, BoxError> {
        Ok(self.contains(receipt.store, &receipt.reference))
    }
}

/// A conformance test any [`ReceiptHook`] implementation can run.
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod conformance {
    use std::future::Future;

    use super::{Receipt, ReceiptHook};
    use crate::store::StoreId;

    /// Checks the rules every hook must follow, panicking with a clear message on the first
    /// one broken. `track` must make the given receipt tracked in your storage.
    ///
    /// Rules: an unknown receipt is untracked; a tracked one is tracked, whatever product, app
    /// or environment comes with it; the same reference under another store is another receipt;
    /// references are compared exactly (case and surrounding space count); tracking is
    /// idempotent; answers are consistent under concurrent calls.
    ///
    /// ```
    /// use store_notifications::InMemoryReceipts;
    /// use store_notifications::hook::conformance::check;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let hook = InMemoryReceipts::new();
    /// let tracker = hook.clone();
    /// check(&hook, |r| {
    ///     tracker.insert(r.store, r.reference);
    ///     async {}
    /// })
    /// .await;
    /// # });
    /// ```
    pub async fn check<H, F, Fut>(hook: &H, mut track: F)
    where
        H: ReceiptHook + ?Sized,
        F: FnMut(Receipt) -> Fut,
        Fut: Future<Output = ()>,
    {
        let exists = |r: Receipt| async move {
            match hook.receipt_exists(&r).await {
                Ok(b) => b,
                Err(e) => panic!("hook errored on {r:?}: {e}"),
            }
        };
        let apple = Receipt::new(StoreId::APPLE, "conformance-2000000000000001");
        assert!(
            !exists(apple.clone()).await,
            "an unknown receipt must be untracked"
        );

        track(apple.clone()).await;
        assert!(
            exists(apple.clone()).await,
            "a tracked receipt must be tracked"
        );
        track(apple.clone()).await;
        assert!(
            exists(apple.clone()).await,
            "tracking twice must keep it tracked"
        );

        let decorated = apple
            .clone()
            .with_product("com.example.pro")
            .with_app("com.example")
            .with_environment("Sandbox");
        assert!(
            exists(decorated).await,
            "product, app and environment must not change the answer"
        );

        let other_store = Receipt::new(StoreId::AMAZON, apple.reference.clone());
        assert!(
            !exists(other_store).await,
            "the same reference under another store is another receipt"
        );
        for variant in [
            apple.reference.to_uppercase(),
            format!(" {}", apple.reference),
            format!("{}1", apple.reference),
            String::new(),
        ] {
            assert!(
                !exists(Receipt::new(StoreId::APPLE, variant.clone())).await,
                "references are compared exactly: {variant:?} must be untracked"
            );
        }

        let answers = std::iter::repeat_with(|| exists(apple.clone())).take(16);
        for answer in answers {
            assert!(answer.await, "answers must be consistent");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn closures_are_hooks_and_errors_are_boxed() {
        let hook = |r: Receipt| async move {
            if r.reference == "boom" {
                Err(std::io::Error::other("db down"))
            } else {
                Ok(r.reference == "yes")
            }
        };
        let hook: Arc<dyn ReceiptHook> = Arc::new(hook);
        let ask = |s: &str| block_on(hook.receipt_exists(&Receipt::new(StoreId::STRIPE, s)));
        assert!(ask("yes").expect("ok"));
        assert!(!ask("no").expect("ok"));
        assert_eq!(ask("boom").expect_err("err").to_string(), "db down");
    }

    #[test]
    fn sensitive_references_are_redacted_in_debug_whatever_the_store() {
        const PADDLE: StoreId = StoreId::new("paddle");
        for store in [StoreId::GOOGLE, PADDLE] {
            let r = Receipt::new(store, "secret-token").sensitive();
            assert!(r.is_sensitive());
            assert!(!format!("{r:?}").contains("secret-token"), "{store}");
            assert!(format!("{r:?}").contains("<redacted 12 bytes>"), "{store}");
        }
        let r = Receipt::new(StoreId::APPLE, "2000000000000001");
        assert!(!r.is_sensitive());
        assert!(format!("{r:?}").contains("2000000000000001"));
    }

    #[test]
    fn in_memory_receipts_count_receipts_not_stores() {
        let set = InMemoryReceipts::new();
        assert!(set.insert(StoreId::APPLE, "a1"));
        assert!(set.insert(StoreId::APPLE, "a2"));
        assert!(set.insert(StoreId::GOOGLE, "g1"));
        assert_eq!(set.len(), 3);
        for (store, r) in [
            (StoreId::APPLE, "a1"),
            (StoreId::APPLE, "a2"),
            (StoreId::GOOGLE, "g1"),
        ] {
            assert!(set.remove(store, r));
        }
        assert_eq!(set.len(), 0);
        assert!(set.is_empty(), "empty after the last removal");
    }

    #[test]
    fn in_memory_receipts_insert_and_remove() {
        let set = InMemoryReceipts::new();
        assert!(set.is_empty());
        assert!(set.insert(StoreId::AMAZON, "r1"));
        assert!(!set.insert(StoreId::AMAZON, "r1"));
        assert_eq!(set.len(), 1);
        assert!(set.remove(StoreId::AMAZON, "r1"));
        assert!(!set.contains(StoreId::AMAZON, "r1"));
    }

    #[test]
    fn always_tracked_tracks_everything() {
        let r = Receipt::new(StoreId::APPLE, "x");
        assert!(block_on(AlwaysTracked.receipt_exists(&r)).expect("ok"));
    }
}
