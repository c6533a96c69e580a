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
use crate::store::StoreKind;

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
    pub store: StoreKind,
    /// The store's receipt reference (see the table above).
    pub reference: String,
    /// The product (Apple `productId`, Google `subscriptionId`/`sku`, Amazon `sku` …), if sent.
    pub product: Option<String>,
    /// The app (bundle id, package name, Stripe account …), if sent.
    pub app: Option<String>,
    /// The environment (`Production`, `Sandbox`, `live`, `test` …), if sent.
    pub environment: Option<String>,
}

impl Receipt {
    /// A receipt of `store` with the given reference.
    pub fn new(store: StoreKind, reference: impl Into<String>) -> Self {
        Receipt {
            store,
            reference: reference.into(),
            product: None,
            app: None,
            environment: None,
        }
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

// Purchase tokens are bearer credentials for Google's API: keep them out of logs.
impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reference: &dyn fmt::Debug = if self.store == StoreKind::Google {
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
/// use store_notifications::{Receipt, ReceiptHook, StoreKind};
///
/// let hook = |receipt: Receipt| async move {
///     Ok::<_, std::io::Error>(receipt.reference.starts_with("sub_"))
/// };
/// # tokio_test_block_on(async {
/// let tracked = hook.receipt_exists(&Receipt::new(StoreKind::Stripe, "sub_1")).await.unwrap();
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
/// use store_notifications::{InMemoryReceipts, StoreKind};
/// let receipts = InMemoryReceipts::new();
/// assert!(receipts.insert(StoreKind::Apple, "2000000123456789"));
/// assert!(receipts.contains(StoreKind::Apple, "2000000123456789"));
/// assert!(!receipts.contains(StoreKind::Google, "2000000123456789"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct InMemoryReceipts {
    // Keyed by store first so a lookup borrows the reference instead of allocating a key.
    set: Arc<RwLock<HashMap<StoreKind, HashSet<String>>>>,
}

impl InMemoryReceipts {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tracks a receipt; `false` if it was already tracked.
    pub fn insert(&self, store: StoreKind, reference: impl Into<String>) -> bool {
        self.set
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(store)
            .or_default()
            .insert(reference.into())
    }

    /// Stops tracking a receipt; `false` if it was not tracked.
    pub fn remove(&self, store: StoreKind, reference: &str) -> bool {
        self.set
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&store)
            .is_some_and(|refs| refs.remove(reference))
    }

    /// Whether a receipt is tracked.
    pub fn contains(&self, store: StoreKind, reference: &str) -> bool {
        self.set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&store)
            .is_some_and(|refs| refs.contains(reference))
    }

    /// How many receipts are tracked.
    pub fn len(&self) -> usize {
        self.set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
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
    use crate::store::StoreKind;

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
        let apple = Receipt::new(StoreKind::Apple, "conformance-2000000000000001");
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

        let other_store = Receipt::new(StoreKind::Amazon, apple.reference.clone());
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
                !exists(Receipt::new(StoreKind::Apple, variant.clone())).await,
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
        let ask = |s: &str| block_on(hook.receipt_exists(&Receipt::new(StoreKind::Stripe, s)));
        assert!(ask("yes").expect("ok"));
        assert!(!ask("no").expect("ok"));
        assert_eq!(ask("boom").expect_err("err").to_string(), "db down");
    }

    #[test]
    fn google_purchase_tokens_are_redacted_in_debug() {
        let r = Receipt::new(StoreKind::Google, "secret-token");
        assert!(!format!("{r:?}").contains("secret-token"));
        let r = Receipt::new(StoreKind::Apple, "2000000000000001");
        assert!(format!("{r:?}").contains("2000000000000001"));
    }

    #[test]
    fn in_memory_receipts_insert_and_remove() {
        let set = InMemoryReceipts::new();
        assert!(set.is_empty());
        assert!(set.insert(StoreKind::Amazon, "r1"));
        assert!(!set.insert(StoreKind::Amazon, "r1"));
        assert_eq!(set.len(), 1);
        assert!(set.remove(StoreKind::Amazon, "r1"));
        assert!(!set.contains(StoreKind::Amazon, "r1"));
    }

    #[test]
    fn always_tracked_tracks_everything() {
        let r = Receipt::new(StoreKind::Apple, "x");
        assert!(block_on(AlwaysTracked.receipt_exists(&r)).expect("ok"));
    }
}
