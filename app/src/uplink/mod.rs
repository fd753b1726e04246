//! The kiosk's link to the portal, by job:
//!
//! - [`relay`]: the outbox relay driven on tokio: it delivers the store's
//!   sealed registrations, reads the status feed back, reports the kiosk's
//!   health, fetches newer policy and deletes sealed payloads whose
//!   retention has passed;
//! - [`live`]: the live checks asked while a citizen waits, and the
//!   mobile-signature session followed in the background;
//! - [`enrolment`]: which portal the kiosk is enrolled with, and its pin;
//! - [`policy_file`]: the portal's signed policy kept on disk;
//! - [`runtime`]: the tokio runtime all of it runs on.
//!
//! The decisions (batching, backoff with jitter, `Retry-After`) are
//! [`kiosk_sync::relay`]'s; this module only carries them out.

pub mod enrolment;
pub mod live;
pub mod policy_file;
pub mod relay;
pub mod runtime;

use std::path::PathBuf;

pub use enrolment::{Enrolment, EnrolmentError, enrol, parse_pin};
pub use live::{BhxhRecord, LiveChecks};
pub use policy_file::{load_portal_policy, portal_policy_path};
pub use relay::{Round, StoredRelayState, Uplink, UplinkHandle, UplinkStatus, stored_state};
pub use runtime::AsyncRuntime;

/// Why the uplink could not be set up, or a policy file not be used.
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    #[error("local store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Enrolment(#[from] EnrolmentError),
    #[error("the device key: {0}")]
    DeviceKey(kiosk_sync::EnvelopeError),
    #[error("the enrolment's policy key: {0}")]
    PolicyKey(kiosk_sync::EnvelopeError),
    #[error("portal client: {0}")]
    Client(#[from] kiosk_sync::client::ClientError),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Policy {
        path: PathBuf,
        source: crate::policy::PolicyError,
    },
}
