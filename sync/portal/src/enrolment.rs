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
/// How long failed enrolments are kept for the admin.
pub const FAILURE_RETENTION_SECS: i64 = 30 * 86_400;

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

/// An enrolment code as the portal keeps it.
struct Ticket {
    hash: Vec<u8>,
    expires: i64,
    used_by: Option<i64>,
    wrong_tries: i64,
    /// The kiosk whose key a replacement code replaces.
    replaces: Option<i64>,
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
        self.issue_ticket(now, valid_for_secs, None)
    }

    /// A one-time code that gives kiosk `kiosk_id` a new device key (its
    /// key file was lost or regenerated): the kiosk keeps its id, and what
    /// it sealed with its old keys is still accepted as its own.
    pub fn issue_replacement_code(
        &mut self,
        kiosk_id: i64,
        now: i64,
        valid_for_secs: i64,
    ) -> Result<String, PortalError> {
        self.kiosk_by_id(kiosk_id)?;
        self.issue_ticket(now, valid_for_secs, Some(kiosk_id))
    }

    fn issue_ticket(
        &mut self,
        now: i64,
        valid_for_secs: i64,
        replaces: Option<i64>,
    ) -> Result<String, PortalError> {
        let mut rng = rand::rng();
        loop {
            let chars: String = (0..GROUPS * 4)
                .map(|_| char::from(ALPHABET[rng.random_range(0..32usize)]))
                .collect();
            let (id, secret) = chars.split_at(4);
            let inserted = self.conn.execute(
                "INSERT INTO enrolment_tickets (code_id, secret_hash, expires_at, replaces) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (code_id) DO NOTHING",
                params![id, secret_hash(id, secret), now + valid_for_secs, replaces],
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
        // The admin's record of failures covers a month; a flood of
        // guesses cannot grow it without end.
        tx.execute(
            "DELETE FROM enrolment_failures WHERE at < ?1",
            [now - FAILURE_RETENTION_SECS],
        )?;
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
        let row: Option<Ticket> = tx
            .query_row(
                "SELECT secret_hash, expires_at, used_by, wrong_tries, replaces FROM enrolment_tickets WHERE code_id = ?1",
                [&id],
                |r| {
                    Ok(Ticket {
                        hash: r.get(0)?,
                        expires: r.get(1)?,
                        used_by: r.get(2)?,
                        wrong_tries: r.get(3)?,
                        replaces: r.get(4)?,
                    })
                },
            )
            .optional()?;
        let Some(Ticket {
            hash,
            expires,
            used_by,
            wrong_tries,
            replaces,
        }) = row
        else {
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
        let kiosk = match replaces {
            None if is_retired(&tx, key)? => {
                return fail(tx, "key retired by another kiosk", PortalError::KeyInUse);
            }
            None => {
                tx.execute(
                    "INSERT INTO kiosks (public_key, enrolled_at) VALUES (?1, ?2) ON CONFLICT (public_key) DO NOTHING",
                    params![key.to_base64(), now],
                )?;
                tx.query_row(
                    "SELECT id FROM kiosks WHERE public_key = ?1",
                    [key.to_base64()],
                    |r| r.get(0),
                )?
            }
            Some(kiosk) => match replace_key(&tx, kiosk, key, now) {
                Ok(()) => kiosk,
                Err(PortalError::KeyInUse) => {
                    return fail(
                        tx,
                        "key already used by another kiosk",
                        PortalError::KeyInUse,
                    );
                }
                Err(e) => return Err(e),
            },
        };
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

    /// The enrolled, unrevoked kiosk whose key is or was `key`: whose
    /// envelopes these are.
    pub fn kiosk_of_envelopes(&self, key: &DevicePublicKey) -> Result<i64, PortalError> {
        let retired: Option<i64> = self
            .conn
            .query_row(
                "SELECT kiosk_id FROM retired_keys WHERE public_key = ?1",
                [key.to_base64()],
                |r| r.get(0),
            )
            .optional()?;
        match retired {
            Some(kiosk) => self.kiosk_by_id(kiosk),
            None => self.kiosk(key),
        }
    }

    fn kiosk_by_id(&self, kiosk: i64) -> Result<i64, PortalError> {
        let revoked: Option<Option<i64>> = self
            .conn
            .query_row(
                "SELECT revoked_at FROM kiosks WHERE id = ?1",
                [kiosk],
                |r| r.get(0),
            )
            .optional()?;
        match revoked {
            None => Err(PortalError::UnknownKiosk),
            Some(Some(_)) => Err(PortalError::RevokedKiosk),
            Some(None) => Ok(kiosk),
        }
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

fn is_retired(tx: &rusqlite::Transaction<'_>, key: &DevicePublicKey) -> Result<bool, PortalError> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM retired_keys WHERE public_key = ?1",
            [key.to_base64()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Gives `kiosk` the device key `key`, keeping its current one as retired.
/// A key enrolled as another kiosk that has sent nothing (the technician
/// used a plain code first) leaves that empty kiosk; one that has sent
/// registrations is refused.
fn replace_key(
    tx: &rusqlite::Transaction<'_>,
    kiosk: i64,
    key: &DevicePublicKey,
    now: i64,
) -> Result<(), PortalError> {
    let key = key.to_base64();
    let (current, revoked): (String, Option<i64>) = tx
        .query_row(
            "SELECT public_key, revoked_at FROM kiosks WHERE id = ?1",
            [kiosk],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or(PortalError::UnknownKiosk)?;
    if revoked.is_some() {
        return Err(PortalError::RevokedKiosk);
    }
    if current == key {
        return Ok(());
    }
    let retired_by: Option<i64> = tx
        .query_row(
            "SELECT kiosk_id FROM retired_keys WHERE public_key = ?1",
            [&key],
            |r| r.get(0),
        )
        .optional()?;
    if retired_by.is_some() {
        // A key once replaced is never taken back: whoever had the old
        // key file could otherwise sign for the kiosk again.
        return Err(PortalError::KeyInUse);
    }
    let holder: Option<i64> = tx
        .query_row("SELECT id FROM kiosks WHERE public_key = ?1", [&key], |r| {
            r.get(0)
        })
        .optional()?;
    if let Some(other) = holder {
        let sent: i64 = tx.query_row(
            "SELECT COUNT(*) FROM registrations WHERE kiosk_id = ?1",
            [other],
            |r| r.get(0),
        )?;
        if sent > 0 {
            return Err(PortalError::KeyInUse);
        }
        tx.execute("DELETE FROM heartbeats WHERE kiosk_id = ?1", [other])?;
        tx.execute("DELETE FROM retired_keys WHERE kiosk_id = ?1", [other])?;
        tx.execute("DELETE FROM kiosks WHERE id = ?1", [other])?;
    }
    tx.execute(
        "INSERT INTO retired_keys (public_key, kiosk_id, retired_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (public_key) DO NOTHING",
        params![current, kiosk, now],
    )?;
    tx.execute(
        "UPDATE kiosks SET public_key = ?2 WHERE id = ?1",
        params![kiosk, key],
    )?;
    Ok(())
}
