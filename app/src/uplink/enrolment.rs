//! The kiosk's enrolment with a portal: where the portal is, the pin of its
//! TLS certificate, and the keys it gave (`<data_dir>/enrolment.json`).

use std::path::{Path, PathBuf};

use kiosk_sync::client::ClientConfig;
use serde::{Deserialize, Serialize};

/// What the kiosk keeps of its enrolment with a portal
/// (`<data_dir>/enrolment.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrolment {
    pub portal_url: String,
    /// SHA-256 of the portal's TLS certificate, hex; needed for https.
    pub tls_pin: Option<String>,
    pub kiosk_id: i64,
    /// What registrations are sealed to from now on.
    pub portal_public_key: String,
    /// What the portal's policy must be signed with.
    pub policy_public_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrolmentError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("tls_pin must be 64 hexadecimal digits (the certificate's SHA-256)")]
    Pin,
    #[error("the portal's address: {0}")]
    Address(String),
    #[error("the portal refused or could not be reached: {0}")]
    Portal(String),
}

/// Enrols this kiosk with the portal at `portal` using the one-time `code`
/// (blocking: its own runtime), and keeps the enrolment in `data_dir`. An
/// https portal needs its certificate's `pin`.
pub fn enrol(
    keys: &crate::keys::Keyring,
    data_dir: &Path,
    portal: &str,
    code: &str,
    pin: Option<&str>,
) -> Result<Enrolment, EnrolmentError> {
    let mut config = ClientConfig::new(portal);
    config.tls_pin = pin.map(parse_pin).transpose()?;
    let key = kiosk_sync::DeviceKey::from_secret_bytes(&*keys.device().secret_bytes())
        .map_err(|e| EnrolmentError::Portal(e.to_string()))?;
    let client = kiosk_sync::client::PortalClient::new(&config, key)
        .map_err(|e| EnrolmentError::Address(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| EnrolmentError::Portal(e.to_string()))?;
    let answer = runtime
        .block_on(client.enrol(code.trim()))
        .map_err(|e| EnrolmentError::Portal(e.to_string()))?;
    kiosk_sync::PortalPublicKey::from_base64(&answer.portal_public_key)
        .map_err(|e| EnrolmentError::Portal(format!("the portal sent an invalid key: {e}")))?;
    let enrolment = Enrolment {
        portal_url: portal.to_string(),
        tls_pin: pin.map(str::to_string),
        kiosk_id: answer.kiosk_id,
        portal_public_key: answer.portal_public_key,
        policy_public_key: answer.policy_public_key,
    };
    std::fs::create_dir_all(data_dir).map_err(|e| EnrolmentError::File {
        path: data_dir.to_path_buf(),
        message: e.to_string(),
    })?;
    enrolment.save(data_dir)?;
    Ok(enrolment)
}

impl Enrolment {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("enrolment.json")
    }

    /// The enrolment, or `None` for a kiosk never enrolled.
    pub fn load(data_dir: &Path) -> Result<Option<Enrolment>, EnrolmentError> {
        let path = Self::path(data_dir);
        let file_error = |message: String| EnrolmentError::File {
            path: path.clone(),
            message,
        };
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| file_error(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(file_error(e.to_string())),
        }
    }

    /// Writes the file whole or not at all.
    pub fn save(&self, data_dir: &Path) -> Result<(), EnrolmentError> {
        let path = Self::path(data_dir);
        let json = serde_json::to_vec_pretty(self).expect("an enrolment serialises");
        crate::atomic::write(&path, &json, 0o600).map_err(|e| EnrolmentError::File {
            path: path.clone(),
            message: e.to_string(),
        })
    }

    pub fn client_config(&self) -> Result<ClientConfig, EnrolmentError> {
        let mut config = ClientConfig::new(&self.portal_url);
        config.tls_pin = self.tls_pin.as_deref().map(parse_pin).transpose()?;
        Ok(config)
    }
}

/// A certificate pin as 64 hex digits (colons allowed, as `openssl x509
/// -fingerprint -sha256` prints them).
pub fn parse_pin(text: &str) -> Result<[u8; 32], EnrolmentError> {
    let hex: String = text.chars().filter(|c| *c != ':').collect();
    // Sliced by bytes below: anything but ASCII is refused first.
    if hex.len() != 64 || !hex.is_ascii() {
        return Err(EnrolmentError::Pin);
    }
    let mut pin = [0u8; 32];
    for (i, byte) in pin.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| EnrolmentError::Pin)?;
    }
    Ok(pin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_is_64_hex_digits_with_or_without_colons() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_pin(&hex).unwrap(), [0xab; 32]);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_pin(&colons).unwrap(), [0xab; 32]);
        for bad in [&hex[..62], "zz", &"g".repeat(64)] {
            assert!(matches!(parse_pin(bad), Err(EnrolmentError::Pin)), "{bad}");
        }
    }

    #[test]
    fn a_pin_with_letters_beyond_ascii_is_refused_not_a_panic() {
        // 64 bytes, not 64 characters: a three-byte letter puts a byte
        // slice's end inside it.
        for text in [
            format!("€{}", "a".repeat(61)),
            format!("a{}", "ắ".repeat(21)),
        ] {
            assert_eq!(text.len(), 64, "{text}");
            assert!(
                matches!(parse_pin(&text), Err(EnrolmentError::Pin)),
                "{text}"
            );
        }
    }
}
