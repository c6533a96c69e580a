//! `AppleStore::verify` on arbitrary bodies; in sign mode the body is the JWS payload, signed
//! with the `AppleSigner`'s throwaway chain.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use store_notifications::apple::Environment;
use store_notifications::testing::AppleSigner;
use store_notifications::{AppleStore, Clock, Store};
use store_notifications_fuzz::{NOW, Request, block_on, check};

/// The app of the shared fixtures (app Apple ID 1234567890, the signer's default), so their
/// payloads get past the app checks in sign mode.
static SIGNER: LazyLock<AppleSigner> =
    LazyLock::new(|| AppleSigner::new("com.example.storenotify", Environment::Production));
static STORE: LazyLock<AppleStore> =
    LazyLock::new(|| SIGNER.store().with_clock(Clock::from_unix(NOW)));

fuzz_target!(|data: &[u8]| {
    let mut request = Request::parse(data);
    if request.sign {
        request.body = SIGNER.body(&SIGNER.sign(&request.body));
    }
    let result = block_on(STORE.verify(&request.headers, &request.body));
    check(request.sign, &result);
});
