//! The kiosk's own keys, created on first start and kept in files only root
//! can read (`0600` in a `0700` directory).
//!
//! - `device.key`: the Ed25519 device key that signs envelopes (and, with the
//!   sync issue, requests to the portal).
//! - `local.key`: 32 random bytes from which the keyed hash of identities
//!   (local duplicate detection without storing the numbers) and the audit
//!   log's MAC key are derived.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use kiosk_sync::DeviceKey;
use rand::Rng as _;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::flow::IdentityKey;

/// Why the keys could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: readable by group or others (mode {mode:o}); run: chmod 600 {path}")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{0}: not a valid key file (wrong length)")]
    Corrupt(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The device and local keys.
pub struct Keyring {
    device: DeviceKey,
    local: Zeroizing<[u8; 32]>,
    created: bool,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Opens `dir/device.key` and `dir/local.key`, creating both if neither
    /// exists. A key readable by others is refused, not silently fixed: the
    /// technician must know it was exposed.
    pub fn open_or_create(dir: &Path) -> Result<Keyring, KeyError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        let device_path = dir.join("device.key");
        let local_path = dir.join("local.key");
        let mut created = false;
        let device = match read_key(&device_path)? {
            Some(bytes) => DeviceKey::from_secret_bytes(&bytes[..])
                .map_err(|_| KeyError::Corrupt(device_path.clone()))?,
            None => {
                let key = DeviceKey::generate();
                write_key(&device_path, key.secret_bytes().as_ref())?;
                created = true;
                key
            }
        };
        let local = match read_key(&local_path)? {
            Some(bytes) => bytes,
            None => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                rand::rng().fill_bytes(bytes.as_mut());
                write_key(&local_path, bytes.as_ref())?;
                created = true;
                bytes
            }
        };
        Ok(Keyring {
            device,
            local,
            created,
        })
    }

    /// Whether this call made a new key (first start).
    pub fn was_created(&self) -> bool {
        self.created
    }

    pub fn device(&self) -> &DeviceKey {
        &self.device
    }

    fn derive(&self, label: &[u8], input: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.local.as_ref())
            .expect("HMAC takes any key length");
        mac.update(label);
        mac.update(&[0]);
        mac.update(input);
        mac.finalize().into_bytes().into()
    }

    /// The keyed hash under which the store remembers an identity.
    pub fn identity_tag(&self, key: &IdentityKey) -> [u8; 32] {
        self.derive(b"identity", key.canonical().as_bytes())
    }

    /// The keyed hash of a phone number, for per-number SMS limits.
    pub fn phone_tag(&self, e164: &str) -> [u8; 32] {
        self.derive(b"phone", e164.as_bytes())
    }

    /// The key of the audit log's MAC chain.
    pub fn audit_key(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.derive(b"audit", b""))
    }
}

pub(crate) fn read_key(path: &Path) -> Result<Option<Zeroizing<[u8; 32]>>, KeyError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    let mode = file.metadata().map_err(io(path))?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(33));
    file.read_to_end(&mut bytes).map_err(io(path))?;
    let key: [u8; 32] = bytes[..]
        .try_into()
        .map_err(|_| KeyError::Corrupt(path.to_path_buf()))?;
    Ok(Some(Zeroizing::new(key)))
}

/// Written whole or not at all, owner-only: a power cut leaves either no
/// key or the whole key.
pub(crate) fn write_key(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    crate::atomic::write(path, bytes, 0o600).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Mst;

    #[test]
    fn keys_are_created_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("keys");
        let first = Keyring::open_or_create(&keys_dir).unwrap();
        assert!(first.was_created());
        for name in ["device.key", "local.key"] {
            let mode = fs::metadata(keys_dir.join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        }
        assert_eq!(
            fs::metadata(&keys_dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let again = Keyring::open_or_create(&keys_dir).unwrap();
        assert!(!again.was_created());
        assert_eq!(again.device().public_key(), first.device().public_key());
        let key = IdentityKey::Business(Mst::parse("0100047516").unwrap());
        assert_eq!(again.identity_tag(&key), first.identity_tag(&key));
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        Keyring::open_or_create(dir.path()).unwrap();
        let path = dir.path().join("device.key");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = Keyring::open_or_create(dir.path()).unwrap_err();
        assert!(
            matches!(err, KeyError::TooOpen { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn a_truncated_key_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        Keyring::open_or_create(dir.path()).unwrap();
        let path = dir.path().join("local.key");
        fs::write(&path, [1u8; 5]).unwrap();
        assert!(matches!(
            Keyring::open_or_create(dir.path()),
            Err(KeyError::Corrupt(_))
        ));
    }

    #[test]
    fn tags_differ_by_purpose_and_by_kiosk() {
        let a = Keyring::open_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        let b = Keyring::open_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        let key = IdentityKey::Business(Mst::parse("0100047516").unwrap());
        assert_ne!(a.identity_tag(&key), b.identity_tag(&key));
        assert_ne!(a.phone_tag("+84912345678"), a.identity_tag(&key));
        assert_ne!(a.audit_key().as_ref(), &a.identity_tag(&key));
    }
}
