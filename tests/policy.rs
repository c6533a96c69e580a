//! The response policy (the table in the crate docs), written once
//! (`tests/common/policy_suite.rs`) and run for every built-in store with the crate's own test
//! signers (no shared fixtures needed), through the Tower layer and, with the `axum` feature,
//! the `Verified` extractor. Each store's own rules (signature schemes, app binding, key
//! fetching …) stay in `tests/<store>_policy.rs`.

mod common;

#[cfg(feature = "stripe")]
mod stripe {
    crate::common::policy_suite!(store_notifications::testing::StripeSigner::new(
        "whsec_policy_test_secret"
    ));
}

#[cfg(feature = "apple")]
mod apple {
    crate::common::policy_suite!(store_notifications::testing::AppleSigner::new(
        "com.example.policy",
        store_notifications::apple::Environment::Production,
    ));
}

#[cfg(feature = "google")]
mod google {
    crate::common::policy_suite!(store_notifications::testing::GoogleSigner::new());
}

#[cfg(feature = "amazon")]
mod amazon {
    crate::common::policy_suite!(store_notifications::testing::SnsSigner::new());
}

/// Not a store's rule: the ready-made hook passes the conformance check users run on theirs.
#[tokio::test]
async fn in_memory_receipts_pass_the_hook_conformance_test() {
    let hook = store_notifications::InMemoryReceipts::new();
    let tracker = hook.clone();
    store_notifications::hook::conformance::check(&hook, |r| {
        tracker.insert(r.store, r.reference);
        async {}
    })
    .await;
}
