//! `StripeStore::verify` on arbitrary `Stripe-Signature` headers and bodies.
#![no_main]

use std::sync::LazyLock;

use http::HeaderValue;
use libfuzzer_sys::fuzz_target;
use store_notifications::testing::StripeSigner;
use store_notifications::{Clock, Store, StripeStore};
use store_notifications_fuzz::{NOW, Request, block_on, check};

const SECRET: &str = "whsec_fuzz_target_secret";
static STORE: LazyLock<StripeStore> =
    LazyLock::new(|| StripeStore::new(SECRET).with_clock(Clock::from_unix(NOW)));

fuzz_target!(|data: &[u8]| {
    let mut request = Request::parse(data);
    if request.sign {
        let signature = StripeSigner::new(SECRET).signature(NOW as i64, &request.body);
        let value = HeaderValue::from_str(&signature).expect("the signer writes ASCII");
        request.headers.insert("stripe-signature", value);
    }
    let result = block_on(STORE.verify(&request.headers, &request.body));
    check(request.sign, &result);
});
