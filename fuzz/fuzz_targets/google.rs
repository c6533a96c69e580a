//! `GoogleStore::verify` on arbitrary `Authorization` headers and push bodies; in sign mode the
//! request carries a valid push token from the `GoogleSigner`'s throwaway key.
#![no_main]

use std::sync::LazyLock;

use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use store_notifications::google::GoogleStore;
use store_notifications::testing::GoogleSigner;
use store_notifications::{Clock, Store};
use store_notifications_fuzz::{NOW, Request, block_on, check};

// The shared fixtures' subscription, so their bodies get past the package check in sign mode.
const AUDIENCE: &str = "https://notifications.example.com/notifications/google";
const SERVICE_ACCOUNT: &str = "play-rtdn-push@fixture-project-123.iam.gserviceaccount.com";
const PACKAGE: &str = "com.example.fixture.app";

static SIGNER: LazyLock<GoogleSigner> = LazyLock::new(GoogleSigner::new);
static STORE: LazyLock<GoogleStore> = LazyLock::new(|| {
    GoogleStore::new(AUDIENCE, SERVICE_ACCOUNT, SIGNER.static_keys())
        .with_package_name(PACKAGE)
        .with_clock(Clock::from_unix(NOW))
});
/// Minted once: the token does not depend on the input.
static AUTHORIZATION: LazyLock<HeaderValue> = LazyLock::new(|| {
    let token = SIGNER.id_token(AUDIENCE, SERVICE_ACCOUNT, NOW as i64 - 60);
    HeaderValue::from_str(&format!("Bearer {token}")).expect("a token is ASCII")
});

fuzz_target!(|data: &[u8]| {
    let mut request = Request::parse(data);
    if request.sign {
        request
            .headers
            .insert(http::header::AUTHORIZATION, AUTHORIZATION.clone());
    }
    let result = block_on(STORE.verify(&request.headers, &request.body));
    check(request.sign, &result);
});
