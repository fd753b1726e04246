//! The portal's signed policy on the kiosk's disk: saved whole when the
//! relay fetches a newer one, verified again at every start.

use std::path::{Path, PathBuf};

use kiosk_sync::api::SignedPolicy;

use super::{Enrolment, UplinkError};
use crate::policy::{ActivePolicy, PolicyOrigin};
use crate::store::{Store, StoreError};

/// The highest policy version this kiosk ever accepted from the portal,
/// kept in the store: a validly signed but older file put back on the disk
/// is refused.
const HIGHEST_VERSION: &str = "policy.highest_version";

/// The highest portal policy version accepted so far (0: none).
pub fn highest_version(store: &Store) -> Result<u64, StoreError> {
    Ok(store
        .sync_value(HIGHEST_VERSION)?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Remembers that `version` was accepted.
pub(super) fn note_version(store: &mut Store, version: u64) -> Result<(), StoreError> {
    if version > highest_version(store)? {
        store.set_sync_value(HIGHEST_VERSION, Some(&version.to_string()))?;
    }
    Ok(())
}

/// Where the kiosk keeps the portal's signed policy.
pub fn portal_policy_path(data_dir: &Path) -> PathBuf {
    data_dir.join("portal-policy.json")
}

/// Keeps `signed` in `path`, whole or not at all.
pub(super) fn save_signed_policy(path: &Path, signed: &SignedPolicy) -> Result<(), UplinkError> {
    let json = serde_json::to_vec_pretty(signed).expect("a policy serialises");
    crate::atomic::write(path, &json, 0o600).map_err(|e| UplinkError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Applies the portal's policy kept in the data directory, verified again
/// (the file is on a disk that can be tampered with) and never older than
/// the newest the store has seen. `Ok(false)` when there is none.
pub fn load_portal_policy(
    data_dir: &Path,
    enrolment: &Enrolment,
    active: &mut ActivePolicy,
    store: &mut Store,
) -> Result<bool, UplinkError> {
    let path = portal_policy_path(data_dir);
    let file_error = |message: String| UplinkError::File {
        path: path.clone(),
        message,
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(file_error(e.to_string())),
    };
    let signed: SignedPolicy =
        serde_json::from_slice(&bytes).map_err(|e| file_error(e.to_string()))?;
    let key = kiosk_sync::DevicePublicKey::from_base64(&enrolment.policy_public_key)
        .map_err(UplinkError::PolicyKey)?;
    let policy_error = |source| UplinkError::Policy {
        path: path.clone(),
        source,
    };
    let policy =
        crate::policy::accept_signed(&signed, &key, &active.current()).map_err(policy_error)?;
    let highest = highest_version(store)?;
    if policy.version < highest {
        return Err(policy_error(crate::policy::PolicyError::Older {
            current: highest,
            candidate: policy.version,
        }));
    }
    let version = policy.version;
    active
        .apply(policy, PolicyOrigin::Portal)
        .map_err(policy_error)?;
    note_version(store, version)?;
    Ok(true)
}
