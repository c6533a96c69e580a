//! Signers with throwaway test keys, so you can test your handlers end to end.
//!
//! Never use these keys outside tests: they are generated on the fly or published.
//!
//! Every signer is also a [`PolicySigner`]: a store that trusts it plus one delivery per row
//! of the response policy, so one table of policy tests runs against every store.

mod policy;
pub use policy::PolicySigner;

#[cfg(feature = "stripe")]
mod stripe;

#[cfg(feature = "apple")]
mod apple;
#[cfg(feature = "apple")]
pub use apple::AppleSigner;

#[cfg(feature = "stripe")]
pub use stripe::StripeSigner;

#[cfg(feature = "amazon")]
mod amazon;
#[cfg(feature = "amazon")]
pub use amazon::{RtnMessageBuilder, SnsBuilder, SnsDelivery, SnsSigner};

#[cfg(feature = "google")]
mod google;
#[cfg(feature = "google")]
pub use google::GoogleSigner;
