//! # kiosk-sync: what leaves the kiosk, and how
//!
//! This crate owns the wire format between a registration kiosk and the
//! central portal. Today that is the [`Envelope`]: a registration payload
//! sealed to the portal's public key with HPKE (RFC 9180, DHKEM(X25519,
//! HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305) and signed with the kiosk's
//! Ed25519 [`DeviceKey`]. The kiosk can make an envelope but never read one
//! back: only the holder of the [`PortalSecretKey`] can open it.
//!
//! The plaintext inside is a [`RegistrationPayload`], whose JSON shape is
//! the contract with the portal.
//!
//! [`relay`] holds the outbox relay's deterministic core: batching,
//! backoff with jitter, `Retry-After`, and what happens to each row after
//! an upload. [`api`] is the kiosk API's bodies (described by
//! `sync/openapi.json`), [`httpsig`] its request signatures, [`client`] the
//! kiosk's pinned-TLS client. None of it depends on the kiosk's domain
//! (`app` depends on this crate, never the reverse). The reference portal
//! that serves the other side is a crate of its own, `kiosk-portal`
//! (`sync/portal/`), never compiled into the kiosk.
//!
//! Start from [`seal`]:
//!
//! ```
//! use kiosk_sync::{seal, DeviceKey, EnvelopeHeader, PortalSecretKey};
//!
//! let portal = PortalSecretKey::generate();
//! let device = DeviceKey::generate();
//! let header = EnvelopeHeader::new("0b6f6c1e-2a39-4d53-9c55-0c3c56b1a0a1", 1_764_300_000);
//! let envelope = seal(b"{\"name\":\"...\"}", header, &portal.public_key(), &device).unwrap();
//! // On the portal:
//! let plaintext = envelope.open(&portal).unwrap();
//! assert_eq!(&plaintext[..], b"{\"name\":\"...\"}");
//! ```

/// `Debug` that names the type and prints none of its fields: for what
/// carries personal data (names, ID and phone numbers, certificates), so
/// that no log or panic message can show it.
#[doc(hidden)]
#[macro_export]
macro_rules! opaque_debug {
    ($($t:ty),* $(,)?) => {
        $(impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($t), "(..)"))
            }
        })*
    };
}

pub mod api;
pub mod client;
mod envelope;
mod export;
pub mod httpsig;
pub mod identity;
mod payload;
pub mod private_file;
pub mod relay;

pub use envelope::{
    DeviceKey, DevicePublicKey, Envelope, EnvelopeError, EnvelopeHeader, PortalPublicKey,
    PortalSecretKey, seal,
};
pub use export::{EXPORT_FORMAT, ExportFile};
pub use identity::{IdentityKind, IdentityRef};
pub use payload::{
    COMPLAINT_PREFIX, COMPLAINT_REASONS, COMPLAINT_SCHEMA, COMPLAINT_SCHEMAS, COUNTER_RESET_PREFIX,
    COUNTER_RESET_SCHEMA, ChipDataGroup, ChipEvidence, ComplaintPayload, CounterAttestation,
    CounterResetPayload, PAYLOAD_SCHEMA, PAYLOAD_SCHEMAS, PossessionProof, REFERENCE_ALPHABET,
    RESET_SCHEMA, RegistrationPayload, ResetPayload, TOKEN_PROOF_CONTEXT, normalise_code,
    normalise_reference,
};
