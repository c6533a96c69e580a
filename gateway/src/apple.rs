//! Apple in the gateway: `APPLE_BUNDLE_ID`, `APPLE_APP_APPLE_ID` (required in Production),
//! `APPLE_ENVIRONMENT` (Production|Sandbox|Xcode|LocalTesting) and `APPLE_ROOT_CERTS`
//! (comma-separated DER or PEM files replacing Apple Root CA - G3).
//!
//! For the demo, the crate's `testing::AppleSigner` makes a throwaway root, intermediate and
//! leaf; they are saved in `DEMO_KEYS_DIR` (`apple_root.der`, the only root the demo trusts,
//! and `apple_signer.pem`, the chain and leaf key) so `simulate` can sign from another process.
// The demo's signing half (test keys) is compiled only with the `demo` feature.
#![cfg_attr(not(feature = "demo"), allow(dead_code, unused_imports))]

use std::path::Path;

use store_notifications::apple::{AppleConfigError, AppleRoot, Environment};
#[cfg(feature = "demo")]
use store_notifications::testing::AppleSigner;
use store_notifications::{AppleStore, BoxError, StoreId};

use super::config::{AppleConfig, AppleEnvironment, Config};
use super::db::Db;
use super::routes;
use super::stores::{Delivery, Route, Sample, StoreModule};
use super::{keys, time};

/// Apple's wiring.
pub const MODULE: StoreModule = StoreModule {
    kind: StoreId::APPLE,
    mount,
    #[cfg(feature = "demo")]
    demo_setup,
    #[cfg(feature = "demo")]
    sign,
    new_reference,
};

/// The demo's trusted root (DER), what `APPLE_ROOT_CERTS` points at.
pub const ROOT_FILE: &str = "apple_root.der";
/// The demo signer's chain and leaf key (`AppleSigner::to_pem`).
pub const SIGNER_FILE: &str = "apple_signer.pem";
/// The demo app's bundle id.
pub const DEMO_BUNDLE_ID: &str = "com.example.gateway.demo";
/// The demo app's Apple ID.
pub const DEMO_APP_APPLE_ID: u64 = 1_234_567_890;
/// The demo's environment.
pub const DEMO_ENVIRONMENT: AppleEnvironment = AppleEnvironment::Sandbox;

fn mount(config: &Config, db: &Db) -> Result<Option<Route>, BoxError> {
    let store = config.apple.as_ref().map(store).transpose()?;
    Ok(routes::mounted(store, db, config))
}

/// The store `APPLE_*` describe.
pub fn store(apple: &AppleConfig) -> Result<AppleStore, BoxError> {
    let environment = match apple.environment {
        AppleEnvironment::Production => Environment::Production,
        AppleEnvironment::Sandbox => Environment::Sandbox,
        AppleEnvironment::Xcode => Environment::Xcode,
        AppleEnvironment::LocalTesting => Environment::LocalTesting,
    };
    let app_apple_id = apple
        .app_apple_id
        .map(i64::try_from)
        .transpose()
        .map_err(|_| "APPLE_APP_APPLE_ID is too large")?;
    let store = AppleStore::new(apple.bundle_id.clone(), environment, app_apple_id)?;
    if apple.root_certs.is_empty() {
        return Ok(store);
    }
    let mut roots = Vec::new();
    for path in &apple.root_certs {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("APPLE_ROOT_CERTS: cannot read {}: {e}", path.display()))?;
        roots.extend(
            certificates(&bytes)
                .map_err(|e| format!("APPLE_ROOT_CERTS: {}: {e}", path.display()))?,
        );
    }
    let mut roots = roots.into_iter();
    let Some(first) = roots.next() else {
        return Ok(store);
    };
    Ok(store.with_only_trusted_roots(first, roots))
}

/// The roots of a file: every `CERTIFICATE` block of a PEM text, or the file itself as DER.
fn certificates(bytes: &[u8]) -> Result<Vec<AppleRoot>, AppleConfigError> {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.contains("-----BEGIN ") => AppleRoot::from_pem(text),
        _ => Ok(vec![AppleRoot::from_der(bytes)?]),
    }
}

#[cfg(feature = "demo")]
fn demo_setup(dir: &Path, config: &mut Config) -> Result<(), BoxError> {
    let signer = AppleSigner::try_new(DEMO_BUNDLE_ID, Environment::Sandbox)?;
    keys::write(dir, ROOT_FILE, signer.root_der())?;
    keys::write(dir, SIGNER_FILE, signer.to_pem().as_bytes())?;
    config.apple = Some(AppleConfig {
        bundle_id: DEMO_BUNDLE_ID.to_owned(),
        app_apple_id: Some(DEMO_APP_APPLE_ID),
        environment: DEMO_ENVIRONMENT,
        root_certs: vec![dir.join(ROOT_FILE)],
    });
    config.enable(StoreId::APPLE);
    Ok(())
}

#[cfg(feature = "demo")]
fn sign(dir: &Path, sample: &Sample) -> Result<Delivery, BoxError> {
    let pem = keys::read(dir, SIGNER_FILE)?;
    let signer = AppleSigner::from_pem(DEMO_BUNDLE_ID, Environment::Sandbox, &pem)?
        .with_app_apple_id(i64::try_from(DEMO_APP_APPLE_ID)?);
    let id = uuid()?;
    let default_type = match sample.receipt {
        Some(_) => "SUBSCRIBED/INITIAL_BUY",
        None => "TEST",
    };
    // `--type DID_RENEW`, or with a subtype: `--type SUBSCRIBED/RESUBSCRIBE`.
    let full_type = sample.notification_type.as_deref().unwrap_or(default_type);
    let (notification_type, subtype) = match full_type.split_once('/') {
        Some((t, s)) => (t, Some(s)),
        None => (full_type, None),
    };
    let signed_ms = time::now().saturating_mul(1000);
    let body = signer.notification(
        notification_type,
        subtype,
        &id,
        sample.receipt.as_deref(),
        signed_ms,
    );
    Ok(Delivery {
        id,
        headers: signer.headers(),
        body: body.to_vec(),
    })
}

/// A random (version 4) UUID, as Apple's `notificationUUID`.
fn uuid() -> Result<String, BoxError> {
    let mut hex = keys::random_hex(16)?.into_bytes();
    hex[12] = b'4';
    hex[16] = b"89ab"[usize::from(hex[16] % 4)];
    let hex = String::from_utf8(hex)?;
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

fn new_reference() -> Result<String, BoxError> {
    // Original transaction ids are decimal numbers, 2000000… in the sandbox.
    let n = u64::from_str_radix(&keys::random_hex(6)?, 16)? % 1_000_000_000_000;
    Ok(format!("2000{n:012}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_reads_pem_bundles_and_der() {
        let der = store_notifications::apple::APPLE_ROOT_CA_G3;
        assert_eq!(certificates(der).expect("DER").len(), 1);
        let block = pem_block(der);
        let pem = format!("x\n{block}between\n{block}");
        assert_eq!(certificates(pem.as_bytes()).expect("PEM").len(), 2);
        assert!(certificates(b"  ").is_err());
        assert!(certificates(&[0x30, 0x82]).is_err());
        let not_a_root = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";
        assert!(certificates(not_a_root.as_bytes()).is_err());
    }

    fn pem_block(der: &[u8]) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|l| std::str::from_utf8(l).expect("ascii"))
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    #[test]
    fn references_and_ids_have_apple_shapes() {
        let r = new_reference().expect("reference");
        assert!(
            r.len() == 16 && r.bytes().all(|b| b.is_ascii_digit()),
            "{r}"
        );
        let u = uuid().expect("uuid");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
