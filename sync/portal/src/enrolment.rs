//! Enrolment: which kiosks the portal knows. A technician's one-time code
//! binds a kiosk's device key to a kiosk id; a revoked kiosk is refused;
//! every signed request's nonce is remembered so that a replay is refused.

use rand::RngExt as _;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use kiosk_sync::DevicePublicKey;

use crate::{Portal, PortalError};

fn code_hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.trim().as_bytes()).to_vec()
}

impl Portal {
    /// A one-time code a technician types on the kiosk (eight digits),
    /// stored only as a hash.
    pub fn issue_enrolment_code(
        &mut self,
        now: i64,
        valid_for_secs: i64,
    ) -> Result<String, PortalError> {
        let code = format!("{:08}", rand::rng().random_range(0..100_000_000u32));
        self.conn.execute(
            "INSERT INTO enrolment_codes (code_hash, expires_at) VALUES (?1, ?2)",
            params![code_hash(&code), now + valid_for_secs],
        )?;
        Ok(code)
    }

    /// Enrols the kiosk holding `key` with a one-time code. Enrolling the
    /// same key again with a fresh code keeps its id.
    pub fn enrol(
        &mut self,
        code: &str,
        key: &DevicePublicKey,
        now: i64,
    ) -> Result<i64, PortalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(i64, Option<i64>)> = tx
            .query_row(
                "SELECT expires_at, used_by FROM enrolment_codes WHERE code_hash = ?1",
                [code_hash(code)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None | Some((_, Some(_))) => return Err(PortalError::BadCode),
            Some((expires, None)) if expires < now => return Err(PortalError::CodeExpired),
            Some(_) => {}
        }
        tx.execute(
            "INSERT INTO kiosks (public_key, enrolled_at) VALUES (?1, ?2) ON CONFLICT (public_key) DO NOTHING",
            params![key.to_base64(), now],
        )?;
        let id: i64 = tx.query_row(
            "SELECT id FROM kiosks WHERE public_key = ?1",
            [key.to_base64()],
            |r| r.get(0),
        )?;
        tx.execute(
            "UPDATE enrolment_codes SET used_by = ?2 WHERE code_hash = ?1",
            params![code_hash(code), id],
        )?;
        tx.commit()?;
        Ok(id)
    }

    pub fn revoke(&mut self, kiosk_id: i64, now: i64) -> Result<(), PortalError> {
        self.conn.execute(
            "UPDATE kiosks SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![kiosk_id, now],
        )?;
        Ok(())
    }

    /// The enrolled, unrevoked kiosk holding `key`.
    pub fn kiosk(&self, key: &DevicePublicKey) -> Result<i64, PortalError> {
        let row: Option<(i64, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT id, revoked_at FROM kiosks WHERE public_key = ?1",
                [key.to_base64()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => Err(PortalError::UnknownKiosk),
            Some((_, Some(_))) => Err(PortalError::RevokedKiosk),
            Some((id, None)) => Ok(id),
        }
    }

    /// Remembers a request nonce of the kiosk holding `key`; false when it
    /// was seen before (a replay). Nonces older than `forget_before` are
    /// dropped: requests that old are refused by their timestamp anyway.
    pub fn remember_nonce(
        &mut self,
        key: &DevicePublicKey,
        nonce: &str,
        created: i64,
        forget_before: i64,
    ) -> Result<bool, PortalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM nonces WHERE created < ?1", [forget_before])?;
        let fresh = tx.execute(
            "INSERT INTO nonces (kiosk_key, nonce, created) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![key.to_base64(), nonce, created],
        )? == 1;
        tx.commit()?;
        Ok(fresh)
    }
}
