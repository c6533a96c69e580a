//! Verification: the envelope, the JWS and its chain, the date, the app binding and the nested
//! JWS, in that order (see the [module docs](super)).

use std::future::Future;
use std::time::SystemTime;

use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::chain::{self, ChainKey, VerifiedChain};
use super::envelope::envelope;
use super::jws::{self, CompactJws};
use super::notification::AppleNotification;
use super::payload::{
    Environment, JWSRenewalInfoDecodedPayload, JWSTransactionDecodedPayload,
    ResponseBodyV2DecodedPayload,
};
use super::shape::AppBinding;
use super::store::{AppleStore, ValidityDate};
use crate::clock::unix_seconds;
use crate::kernel::json;
use crate::rejection::{Rejection, RejectionKind};
use crate::store::{Store, StoreId, Verdict};

impl AppleStore {
    /// Verifies one delivery at `now` (Apple signs only the body: `headers` are not read). An
    /// authentic JWS whose payload is not a usable notification is [`Verdict::Unusable`].
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verdict<AppleNotification>, Rejection> {
        let _ = headers;
        Verdict::from_result(self.verify_marked(body, now))
    }

    /// [`verify_at`](AppleStore::verify_at) with the authentic marker still in the rejection.
    pub(crate) fn verify_marked(
        &self,
        body: &[u8],
        now: SystemTime,
    ) -> Result<AppleNotification, Rejection> {
        let now_s = unix_seconds(now);
        let now_ms = now_s.saturating_mul(1000);
        let signed_payload = envelope(body)?;
        let jws = CompactJws::split(&signed_payload).map_err(jws::rejection)?;
        let chain = self.authenticate(&jws, now_s)?;

        // Signed by a trusted chain: from here the payload is Apple's (once the date checks out).
        let parsed = jws
            .decode_payload()
            .map_err(|_| "the payload is not base64url".to_owned())
            .and_then(|bytes| {
                serde_json::from_slice::<ResponseBodyV2DecodedPayload>(&bytes).map_err(|e| {
                    format!(
                        "the payload is not a ResponseBodyV2DecodedPayload ({})",
                        json::describe(&e)
                    )
                })
            });
        let signed_date = parsed.as_ref().ok().and_then(|p| p.signed_date);
        chain.check_date(self.effective_ms(signed_date, now_ms))?;
        let payload = parsed.map_err(|e| {
            Rejection::unusable(
                RejectionKind::Malformed,
                format!("authentic notification is unusable: {e}"),
            )
        })?;
        self.check_app(&payload)?;
        self.decode_nested(payload, now_s, now_ms)
    }

    /// Verifies a standalone `signedTransactionInfo` (from the App Store Server API, say) with
    /// the full rules, at the clock's "now": chain, signature, validity at its `signedDate`,
    /// bundle id and environment.
    pub fn verify_signed_transaction(
        &self,
        signed_transaction: &str,
    ) -> Result<JWSTransactionDecodedPayload, Rejection> {
        let now_s = self.clock.unix();
        let t: JWSTransactionDecodedPayload = self.verify_signed(
            signed_transaction,
            now_s,
            now_s.saturating_mul(1000),
            |t: &JWSTransactionDecodedPayload| t.signed_date,
        )?;
        self.check_nested_app(t.bundle_id.as_deref(), t.environment.as_ref(), true)?;
        Ok(t)
    }

    /// Verifies a standalone `signedRenewalInfo` with the full rules, at the clock's "now":
    /// chain, signature, validity at its `signedDate`, environment.
    pub fn verify_signed_renewal_info(
        &self,
        signed_renewal_info: &str,
    ) -> Result<JWSRenewalInfoDecodedPayload, Rejection> {
        let now_s = self.clock.unix();
        let r: JWSRenewalInfoDecodedPayload = self.verify_signed(
            signed_renewal_info,
            now_s,
            now_s.saturating_mul(1000),
            |r: &JWSRenewalInfoDecodedPayload| r.signed_date,
        )?;
        self.check_nested_app(None, r.environment.as_ref(), false)?;
        Ok(r)
    }

    fn effective_ms(&self, signed_date: Option<i64>, now_ms: i64) -> i64 {
        match self.validity {
            ValidityDate::SignedDate => signed_date.unwrap_or(now_ms),
            ValidityDate::Now => now_ms,
        }
    }

    /// The header rules, the chain (from the cache or verified now) and the ES256 signature
    /// with the chain's leaf key; the chain, not yet date-checked, when all hold.
    fn authenticate(&self, jws: &CompactJws<'_>, now_s: i64) -> Result<VerifiedChain, Rejection> {
        let header_bytes = jws.decode_header(&jws::RULES).map_err(jws::rejection)?;
        let header = jws::Header::parse(&header_bytes)?;
        let x5c = header.x5c()?;
        let key = ChainKey::of(x5c);
        if let Some(chain) = self.cache.get(&key, now_s) {
            jws::verify_es256(jws, &chain.leaf_key)?;
            return Ok(chain);
        }
        let chain = chain::verify_chain(x5c, &self.roots)?;
        jws::verify_es256(jws, &chain.leaf_key)?;
        // Only now: caching before the signature let a genuine x5c with a garbage signature
        // take an entry (and evict a good one) on every request.
        self.cache.insert(key, chain, now_s);
        Ok(chain)
    }

    /// A JWS verified with the full rules: chain, signature, validity at its own date.
    fn verify_signed<T: DeserializeOwned>(
        &self,
        compact: &str,
        now_s: i64,
        fallback_ms: i64,
        signed_date: fn(&T) -> Option<i64>,
    ) -> Result<T, Rejection> {
        let jws = CompactJws::split(compact).map_err(jws::rejection)?;
        let chain = self.authenticate(&jws, now_s)?;
        let value: T = jws
            .decode_payload()
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| Rejection::malformed("signed payload is not the expected JSON"))?;
        chain.check_date(self.effective_ms(signed_date(&value), fallback_ms))?;
        Ok(value)
    }

    /// The app-binding rule of Apple's `_verify_notification`.
    fn check_app(&self, payload: &ResponseBodyV2DecodedPayload) -> Result<(), Rejection> {
        let Some(AppBinding {
            bundle_id,
            app_apple_id,
            environment,
            ..
        }) = AppBinding::of(payload)
        else {
            return Err(Rejection::unusable(
                RejectionKind::Malformed,
                "authentic notification has no data, summary, externalPurchaseToken or appData",
            ));
        };
        if bundle_id != Some(self.bundle_id.as_str()) {
            return Err(Rejection::new(
                RejectionKind::WrongApp,
                "notification is for another bundle id",
            ));
        }
        if self.environment == Environment::Production && app_apple_id != self.app_apple_id {
            return Err(Rejection::new(
                RejectionKind::WrongApp,
                "notification is for another app Apple ID",
            ));
        }
        if environment.as_ref() != Some(&self.environment) {
            return Err(Rejection::new(
                RejectionKind::WrongApp,
                "notification is for another environment",
            ));
        }
        Ok(())
    }

    fn check_nested_app(
        &self,
        bundle_id: Option<&str>,
        environment: Option<&Environment>,
        check_bundle: bool,
    ) -> Result<(), Rejection> {
        if check_bundle && bundle_id != Some(self.bundle_id.as_str()) {
            return Err(Rejection::new(
                RejectionKind::WrongApp,
                "signed data is for another bundle id",
            ));
        }
        if environment != Some(&self.environment) {
            return Err(Rejection::new(
                RejectionKind::WrongApp,
                "signed data is for another environment",
            ));
        }
        Ok(())
    }

    fn decode_nested(
        &self,
        payload: ResponseBodyV2DecodedPayload,
        now_s: i64,
        now_ms: i64,
    ) -> Result<AppleNotification, Rejection> {
        let outer_ms = self.effective_ms(payload.signed_date, now_ms);
        let data = payload.data.as_ref();
        let transaction = data
            .and_then(|d| d.signed_transaction_info.as_deref())
            .map(|jws| {
                self.nested(jws, now_s, outer_ms, |t: &JWSTransactionDecodedPayload| {
                    t.signed_date
                })
            })
            .transpose()?;
        let renewal_info = data
            .and_then(|d| d.signed_renewal_info.as_deref())
            .map(|jws| {
                self.nested(jws, now_s, outer_ms, |r: &JWSRenewalInfoDecodedPayload| {
                    r.signed_date
                })
            })
            .transpose()?;
        if self.verify_nested {
            if let Some(t) = &transaction {
                self.check_nested_app(t.bundle_id.as_deref(), t.environment.as_ref(), true)?;
            }
            if let Some(r) = &renewal_info {
                self.check_nested_app(None, r.environment.as_ref(), false)?;
            }
            if let Some(app_tx) = payload
                .app_data
                .as_ref()
                .and_then(|a| a.signed_app_transaction_info.as_deref())
            {
                self.nested(app_tx, now_s, outer_ms, |v: &AppTransactionDate| {
                    v.signed_date
                })?;
            }
        }
        Ok(AppleNotification::new(payload, transaction, renewal_info))
    }

    /// A nested JWS: decoded only (its bytes are covered by the outer signature), or verified
    /// with the full rules under `verify_nested`. Undecodable nested data is an authentic
    /// payload that is unusable.
    fn nested<T: DeserializeOwned>(
        &self,
        compact: &str,
        now_s: i64,
        outer_ms: i64,
        signed_date: fn(&T) -> Option<i64>,
    ) -> Result<T, Rejection> {
        let unusable = |what: &str| {
            Rejection::unusable(
                RejectionKind::Malformed,
                format!("authentic notification is unusable: nested {what}"),
            )
        };
        if self.verify_nested {
            return self
                .verify_signed(compact, now_s, outer_ms, signed_date)
                .map_err(|r| {
                    if r.kind() == RejectionKind::Malformed {
                        unusable("JWS is malformed")
                    } else {
                        r
                    }
                });
        }
        let jws = CompactJws::split(compact).map_err(|_| unusable("data is not a compact JWS"))?;
        let bytes = jws
            .decode_payload()
            .map_err(|_| unusable("JWS payload is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| unusable("JWS payload is not the expected JSON"))
    }
}

/// The only field of an app transaction this store needs (its date, under `verify_nested`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppTransactionDate {
    signed_date: Option<i64>,
}

impl Store for AppleStore {
    type Notification = AppleNotification;
    const ID: StoreId = StoreId::APPLE;

    fn verify(
        &self,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> impl Future<Output = Result<Verdict<AppleNotification>, Rejection>> + Send {
        std::future::ready(self.verify_at(headers, body, self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_binding_takes_values_from_the_first_shape_present() {
        let store = AppleStore::production("com.example", 42);
        let payload = |json: &str| -> ResponseBodyV2DecodedPayload {
            serde_json::from_str(json).expect("payload")
        };
        let ok = payload(
            r#"{"notificationType":"DID_RENEW","notificationUUID":"u","data":{"bundleId":"com.example","appAppleId":42,"environment":"Production"}}"#,
        );
        assert!(store.check_app(&ok).is_ok());
        for json in [
            r#"{"notificationType":"DID_RENEW","notificationUUID":"u","data":{"bundleId":"com.other","appAppleId":42,"environment":"Production"}}"#,
            r#"{"notificationType":"DID_RENEW","notificationUUID":"u","data":{"bundleId":"com.example","appAppleId":43,"environment":"Production"}}"#,
            r#"{"notificationType":"DID_RENEW","notificationUUID":"u","data":{"bundleId":"com.example","environment":"Production"}}"#,
            r#"{"notificationType":"DID_RENEW","notificationUUID":"u","data":{"bundleId":"com.example","appAppleId":42,"environment":"Sandbox"}}"#,
            r#"{"notificationType":"EXTERNAL_PURCHASE_TOKEN","notificationUUID":"u","externalPurchaseToken":{"externalPurchaseId":"SANDBOX_1","bundleId":"com.example","appAppleId":42}}"#,
        ] {
            assert_eq!(
                store.check_app(&payload(json)).unwrap_err().kind(),
                RejectionKind::WrongApp,
                "{json}"
            );
        }
        let none = payload(r#"{"notificationType":"DID_RENEW","notificationUUID":"u"}"#);
        assert!(store.check_app(&none).unwrap_err().is_authentic());
    }

    #[test]
    fn the_sandbox_does_not_check_the_app_apple_id() {
        let store = AppleStore::sandbox("com.example").with_app_apple_id(42);
        let p: ResponseBodyV2DecodedPayload = serde_json::from_str(
            r#"{"notificationType":"DID_RENEW","notificationUUID":"u","data":{"bundleId":"com.example","appAppleId":7,"environment":"Sandbox"}}"#,
        )
        .expect("payload");
        assert!(store.check_app(&p).is_ok());
    }
}

/// Tests that need the test signer's chain.
#[cfg(all(test, feature = "test-util"))]
mod signed_tests {
    use super::*;
    use crate::clock::Clock;
    use crate::kernel::encoding::{b64url_decode, b64url_encode};
    use crate::store::Notification as _;
    use crate::testing::AppleSigner;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    use serde_json::Value;
    use std::time::Duration;

    const NOW: u64 = 1_767_225_600;
    const SIGNED_MS: i64 = 1_767_225_570_000;

    fn signer() -> AppleSigner {
        AppleSigner::new("com.example.cache", Environment::Sandbox)
    }

    #[test]
    fn rejections_never_quote_a_value_of_the_body() {
        let s = signer();
        // `signedDate` is a number: the parse error would quote the secret-looking string.
        let payload = serde_json::json!({
            "notificationType": "DID_RENEW",
            "notificationUUID": "u-1",
            "version": "2.0",
            "signedDate": "SECRET_RECEIPT_VALUE",
            "data": { "bundleId": "com.example.cache", "environment": "Sandbox" },
        });
        let body = s.body(&s.sign(payload.to_string().as_bytes()));
        let store = s.store().with_clock(Clock::from_unix(NOW));
        let r = store
            .verify_marked(&body, store.now())
            .map(|_| ())
            .expect_err("signedDate is not a number");
        assert!(r.is_authentic(), "{r}");
        assert!(!r.to_string().contains("SECRET"), "{r}");
        assert!(r.to_string().contains("expected i64"), "{r}");
    }

    fn genuine(s: &AppleSigner) -> String {
        let body = s.notification(
            "DID_RENEW",
            None,
            "u-1",
            Some("2000000000000001"),
            SIGNED_MS,
        );
        let v: Value = serde_json::from_slice(&body).expect("json");
        v["signedPayload"].as_str().expect("jws").to_owned()
    }

    /// `jws` with its header replaced by `edit(header)`, signed again with the signer's leaf key:
    /// a JWS Apple could have sent, with the same certificates.
    fn resigned(s: &AppleSigner, jws: &str, edit: impl FnOnce(&mut Value)) -> String {
        let mut parts = jws.split('.');
        let (header, payload) = (parts.next().expect("h"), parts.next().expect("p"));
        let mut header: Value =
            serde_json::from_slice(&b64url_decode(header).expect("b64")).expect("json");
        edit(&mut header);
        let input = format!("{}.{payload}", b64url_encode(header.to_string().as_bytes()));
        let pem = s.to_pem();
        let pkcs8 = x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
            .filter_map(Result::ok)
            .find(|p| p.label == "PRIVATE KEY")
            .expect("key")
            .contents;
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
            .expect("leaf key");
        let sig = key.sign(&rng, input.as_bytes()).expect("sign");
        format!("{input}.{}", b64url_encode(sig.as_ref()))
    }

    fn verify(
        store: &AppleStore,
        s: &AppleSigner,
        jws: &str,
    ) -> Result<AppleNotification, Rejection> {
        store.verify_marked(&s.body(jws), store.now())
    }

    #[test]
    fn protected_header_over_16_kib_is_malformed() {
        let s = signer();
        let store = s.store().with_clock(Clock::from_unix(NOW));
        let padded = resigned(&s, &genuine(&s), |h| {
            h["pad"] = Value::from("x".repeat(16 * 1024));
        });
        let r = verify(&store, &s, &padded).expect_err("too large");
        assert_eq!(r.kind(), RejectionKind::Malformed);
        assert_eq!(r.status(), 400);
        assert_eq!(store.cache.len(), 0, "the chain was never looked at");
    }

    #[test]
    fn jws_signature_must_verify_before_its_chain_is_cached() {
        let s = signer();
        let store = s.store().with_clock(Clock::from_unix(NOW));
        let jws = genuine(&s);
        let (input, _) = jws.rsplit_once('.').expect("three parts");
        let garbage = format!("{input}.{}", b64url_encode(&[7; 64]));
        let r = verify(&store, &s, &garbage).expect_err("bad signature");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
        assert_eq!(
            store.cache.len(),
            0,
            "a chain whose leaf did not sign is not cached"
        );

        // Nor does a stream of them evict a good entry.
        let store = s
            .store()
            .with_clock(Clock::from_unix(NOW))
            .with_chain_cache(1, Duration::from_secs(900));
        verify(&store, &s, &jws).expect("genuine");
        for i in 0..3 {
            let padded = resigned(&s, &jws, |h| h["pad"] = Value::from(i));
            let (input, _) = padded.rsplit_once('.').expect("three parts");
            let garbage = format!("{input}.{}", b64url_encode(&[7; 64]));
            assert!(verify(&store, &s, &garbage).is_err());
        }
        let hits = store.cache.hits();
        verify(&store, &s, &jws).expect("genuine");
        assert_eq!(
            store.cache.hits(),
            hits + 1,
            "the good entry is still there"
        );
    }

    #[test]
    fn signed_date_out_of_range_is_no_occurred_at_never_a_panic() {
        let s = signer();
        // Validity at "now": at `signedDate` an i64::MAX date is past every certificate.
        let store = s
            .store()
            .with_clock(Clock::from_unix(NOW))
            .with_validity_date(ValidityDate::Now);
        let body = s.notification("DID_RENEW", None, "u-1", Some("2000000000000001"), i64::MAX);
        let n = store.verify_marked(&body, store.now()).expect("authentic");
        assert_eq!(n.signed_date(), Some(i64::MAX));
        assert_eq!(n.occurred_at(), None);
    }

    #[test]
    fn chain_cache_is_keyed_by_the_certificates_not_the_header() {
        let s = signer();
        let store = s.store().with_clock(Clock::from_unix(NOW));
        let jws = genuine(&s);
        verify(&store, &s, &jws).expect("genuine");
        let padded = resigned(&s, &jws, |h| {
            h["kid"] = Value::from("padding");
            h["pad"] = Value::from("x".repeat(4096));
        });
        verify(&store, &s, &padded).expect("same certificates, other header fields");
        assert_eq!(store.cache.len(), 1, "one entry for one chain");
        assert_eq!(
            store.cache.hits(),
            1,
            "the second header hit the first one's entry"
        );
    }
}
