//! Certificates as the kiosk and the portal read them, in pure Rust (no
//! hardware, so the portal can use it too):
//!
//! - [`cert`]: parse with `x509-cert`, Vietnamese subject conventions,
//!   dates, key usage, signatures, and chains to trust anchors.
//! - [`crl`]: X.509 revocation lists (RFC 5280 §5), their signatures and
//!   freshness, and a certificate's status in them.
//! - [`emrtd`]: the CCCD chip's files and their passive authentication.
pub mod cert;
pub mod crl;
pub mod emrtd;
