//! The sealed queue on a USB stick, for a kiosk that has no network at all.
//!
//! An export file is a JSON document of the kiosk's sealed envelopes. It is
//! as private as the queue itself: every envelope opens only with the
//! portal's key. The portal imports it like an upload, keyed by each
//! registration id, so importing the same file twice creates nothing twice.

use serde::{Deserialize, Serialize};

use crate::{DevicePublicKey, Envelope, EnvelopeError};

/// The `format` value of this version.
pub const EXPORT_FORMAT: &str = "vn-dvc-kiosk/export/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportFile {
    pub format: String,
    /// The exporting kiosk's Ed25519 public key, base64.
    pub kiosk_key: String,
    /// Unix seconds.
    pub created_at: i64,
    pub envelopes: Vec<Envelope>,
}

impl ExportFile {
    pub fn new(kiosk: &DevicePublicKey, created_at: i64, envelopes: Vec<Envelope>) -> Self {
        ExportFile {
            format: EXPORT_FORMAT.into(),
            kiosk_key: kiosk.to_base64(),
            created_at,
            envelopes,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("an export always serialises")
    }

    /// Parses and checks: known format, and every envelope signed by the
    /// kiosk the file names.
    pub fn from_bytes(bytes: &[u8]) -> Result<ExportFile, EnvelopeError> {
        let file: ExportFile =
            serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        if file.format != EXPORT_FORMAT {
            return Err(EnvelopeError::Malformed(format!(
                "unknown export format {:?}",
                file.format
            )));
        }
        let kiosk = DevicePublicKey::from_base64(&file.kiosk_key)?;
        for envelope in &file.envelopes {
            if envelope.verify()? != kiosk {
                return Err(EnvelopeError::BadSignature);
            }
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceKey, EnvelopeHeader, PortalSecretKey, seal};

    #[test]
    fn an_export_round_trips_and_refuses_a_foreign_envelope() {
        let portal = PortalSecretKey::generate();
        let kiosk = DeviceKey::generate();
        let envelopes = (0..3)
            .map(|i| {
                seal(
                    b"x",
                    EnvelopeHeader::new(format!("r{i}"), 1),
                    &portal.public_key(),
                    &kiosk,
                )
                .unwrap()
            })
            .collect();
        let file = ExportFile::new(&kiosk.public_key(), 10, envelopes);
        let parsed = ExportFile::from_bytes(&file.to_bytes()).unwrap();
        assert_eq!(parsed, file);

        let mut mixed = file.clone();
        let other = DeviceKey::generate();
        mixed.envelopes.push(
            seal(
                b"y",
                EnvelopeHeader::new("r9", 1),
                &portal.public_key(),
                &other,
            )
            .unwrap(),
        );
        assert_eq!(
            ExportFile::from_bytes(&mixed.to_bytes()),
            Err(EnvelopeError::BadSignature)
        );
        let mut wrong = file;
        wrong.format = "something/else".into();
        assert!(matches!(
            ExportFile::from_bytes(&wrong.to_bytes()),
            Err(EnvelopeError::Malformed(_))
        ));
    }
}
