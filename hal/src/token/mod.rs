//! USB signing tokens (USB ký số) through PKCS#11, and their certificates.
//!
//! Start from [`pkcs11::list_tokens`] and [`pkcs11::prove_possession`]: the
//! kiosk loads the configured PKCS#11 modules once per process, finds the
//! tokens in their slots, logs in with the PIN typed on its own keypad, has
//! the token sign a fresh challenge with the key behind the certificate, and
//! verifies that signature itself. [`cert`] reads the certificate and checks
//! it against the trust anchors.
//!
//! - [`cert`]: parse, Vietnamese subject conventions, dates, key usage, chain.
//! - [`pkcs11`]: modules, tokens, PIN outcomes, proof of possession.
//! - [`testpki`]: SoftHSM2 tokens and a test CA for tests and the demo.
//! - [`watch`]: polls the slots and publishes insertions and removals.
pub use kiosk_pki::cert;
pub mod pkcs11;
pub mod testpki;
pub mod watch;
