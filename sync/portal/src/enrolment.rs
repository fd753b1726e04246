//! Enrolment: which kiosks the portal knows. A technician's one-time code
//! (120 bits, single use, burnt after a few wrong tries) binds a kiosk's
//! device key to a kiosk id; an address that keeps failing is turned away
//! for an hour, and the admin sees every failure; a revoked kiosk is
//! refused; every signed request's nonce is remembered so that a replay is
//! refused.

use rand::RngExt as _;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use kiosk_sync::DevicePublicKey;

use crate::{Portal, PortalError};

/// Crockford's base32: no I, L, O or U, so nothing reads as something else.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// A code is six groups of four: the first names it (20 bits, kept in
/// clear so that wrong tries can be counted against it), the other five
/// are its secret (100 bits, kept as a hash).
const GROUPS: usize = 6;
/// Wrong secrets for one code before it is burnt.
pub const MAX_WRONG_TRIES: i64 = 5;
/// Failed enrolments from one address within [`FAILURE_WINDOW_SECS`]
/// before it is refused without looking at its code.
pub const MAX_FAILURES_PER_SOURCE: i64 = 10;
pub const FAILURE_WINDOW_SECS: i64 = 3600;

/// A code as typed: any case, with or without its dashes and spaces, and
/// the letters that look like digits read as those digits.
fn normalise(code: &str) -> Option<(String, String)> {
    let chars: Vec<u8> = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .map(|c| u8::try_from(c).unwrap_or(b'?'))
        .collect();
    if chars.len() != GROUPS * 4 || !chars.iter().all(|c| ALPHABET.contains(c)) {
        return None;
    }
    let text = String::from_utf8(chars).ok()?;
    let (id, secret) = text.split_at(4);
    Some((id.to_string(), secret.to_string()))
}

fn secret_hash(id: &str, secret: &str) -> Vec<u8> {
    Sha256::digest(format!("{id}:{secret}").as_bytes()).to_vec()
}

/// One failed enrolment, for the portal's admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentFailure {
    pub at: i64,
    /// The address the request came from, when known.
    pub source: Option<String>,
    pub reason: String,
}

impl Portal {
    /// A one-time code for a technician to type on the kiosk:
    /// `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX` in Crockford base32 (120 bits),
    /// stored only as its name and the hash of its secret.
    pub fn issue_enrolment_code(
        &mut self,
        now: i64,
        valid_for_secs: i64,
    ) -> Result<String, PortalError> {
        let mut rng = rand::rng();
        loop {
            let chars: String = (0..GROUPS * 4)
                .map(|_| char::from(ALPHABET[rng.random_range(0..32usize)]))
                .collect();
            let (id, secret) = chars.split_at(4);
            let inserted = self.conn.execute(
                "INSERT INTO enrolment_tickets (code_id, secret_hash, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (code_id) DO NOTHING",
                params![id, secret_hash(id, secret), now + valid_for_secs],
            )?;
            if inserted == 1 {
                let groups: Vec<&str> = (0..GROUPS).map(|g| &chars[g * 4..g * 4 + 4]).collect();
                return Ok(groups.join("-"));
            }
        }
    }

    /// Enrols the kiosk holding `key` with a one-time code. Enrolling the
    /// same key again with a fresh code keeps its id. A wrong code is
    /// recorded with its `source` address; a code guessed at
    /// [`MAX_WRONG_TRIES`] times is burnt, and an address with
    /// [`MAX_FAILURES_PER_SOURCE`] failures in the last hour is turned away.
    pub fn enrol(
        &mut self,
        code: &str,
        key: &DevicePublicKey,
        source: Option<&str>,
        now: i64,
    ) -> Result<i64, PortalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let recent: i64 = tx.query_row(
            "SELECT COUNT(*) FROM enrolment_failures WHERE source = ?1 AND at > ?2",
            params![source, now - FAILURE_WINDOW_SECS],
            |r| r.get(0),
        )?;
        if source.is_some() && recent >= MAX_FAILURES_PER_SOURCE {
            return Err(PortalError::TooManyTries);
        }
        let fail = |tx: rusqlite::Transaction<'_>, reason: &str, error: PortalError| {
            tx.execute(
                "INSERT INTO enrolment_failures (at, source, reason) VALUES (?1, ?2, ?3)",
                params![now, source, reason],
            )?;
            tx.commit()?;
            Err(error)
        };
        let Some((id, secret)) = normalise(code) else {
            return fail(tx, "not a code", PortalError::BadCode);
        };
        let row: Option<(Vec<u8>, i64, Option<i64>, i64)> = tx
            .query_row(
                "SELECT secret_hash, expires_at, used_by, wrong_tries FROM enrolment_tickets WHERE code_id = ?1",
                [&id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((hash, expires, used_by, wrong_tries)) = row else {
            return fail(tx, "unknown code", PortalError::BadCode);
        };
        if used_by.is_some() {
            return fail(tx, "code already used", PortalError::BadCode);
        }
        if wrong_tries >= MAX_WRONG_TRIES {
            return fail(tx, "code burnt by wrong tries", PortalError::BadCode);
        }
        if hash != secret_hash(&id, &secret) {
            tx.execute(
                "UPDATE enrolment_tickets SET wrong_tries = wrong_tries + 1 WHERE code_id = ?1",
                [&id],
            )?;
            return fail(tx, "wrong secret for a known code", PortalError::BadCode);
        }
        if expires < now {
            return fail(tx, "code expired", PortalError::CodeExpired);
        }
        tx.execute(
            "INSERT INTO kiosks (public_key, enrolled_at) VALUES (?1, ?2) ON CONFLICT (public_key) DO NOTHING",
            params![key.to_base64(), now],
        )?;
        let kiosk: i64 = tx.query_row(
            "SELECT id FROM kiosks WHERE public_key = ?1",
            [key.to_base64()],
            |r| r.get(0),
        )?;
        tx.execute(
            "UPDATE enrolment_tickets SET used_by = ?2 WHERE code_id = ?1",
            params![id, kiosk],
        )?;
        tx.commit()?;
        Ok(kiosk)
    }

    /// The latest failed enrolments, newest first, for the admin.
    pub fn enrolment_failures(&self, limit: i64) -> Result<Vec<EnrolmentFailure>, PortalError> {
        let mut stmt = self.conn.prepare(
            "SELECT at, source, reason FROM enrolment_failures ORDER BY at DESC, rowid DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(EnrolmentFailure {
                at: r.get(0)?,
                source: r.get(1)?,
                reason: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
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
