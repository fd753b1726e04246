//! Mobile-signature sessions (Sim ký số): the portal asks the holder's
//! phone to sign on a kiosk's behalf, through the simulated MSSP, and the
//! kiosk reads the outcome.

use rand::RngExt as _;
use rusqlite::{OptionalExtension, params};

use kiosk_sync::api::SignatureState;

use crate::mssp::Mssp;
use crate::{Portal, PortalError};

/// How long a mobile-signature session is kept after it could last end
/// (its expiry): enough for a kiosk to read its outcome, no longer.
pub const SIGNATURE_SESSION_RETENTION_SECS: i64 = 3600;
/// A mobile-signature session as the portal keeps it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureSession {
    pub id: String,
    pub phone: String,
    pub display_text: String,
    pub state: SignatureState,
    pub expires_at: i64,
    pub certificate: Option<Vec<u8>>,
    pub signature: Option<Vec<u8>>,
}

/// What the holder does on the phone (the simulated phone's buttons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneAnswer {
    Confirm,
    Refuse,
    /// Lets it run out, as if the phone were off.
    Expire,
}

impl Portal {
    /// Starts a mobile-signature session for a kiosk: the request goes to
    /// the holder's phone and waits for them. A number with no signing SIM
    /// ends at once as `no_signature_sim`. Sessions that ended more than
    /// [`SIGNATURE_SESSION_RETENTION_SECS`] ago (number, text, signature)
    /// are deleted first: the kiosk has long since read its outcome.
    pub fn start_signature(
        &mut self,
        kiosk_id: i64,
        phone: &str,
        display_text: &str,
        now: i64,
        valid_for_secs: i64,
    ) -> Result<SignatureSession, PortalError> {
        let known: bool = self
            .conn
            .query_row("SELECT 1 FROM msig_users WHERE phone = ?1", [phone], |_| {
                Ok(())
            })
            .optional()?
            .is_some();
        self.conn.execute(
            "DELETE FROM msig_sessions WHERE expires_at < ?1",
            [now - SIGNATURE_SESSION_RETENTION_SECS],
        )?;
        let id = format!("{:032x}", rand::rng().random::<u128>());
        let state = if known {
            SignatureState::Pending
        } else {
            SignatureState::NoSignatureSim
        };
        self.conn.execute(
            "INSERT INTO msig_sessions (id, kiosk_id, phone, display_text, state, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, kiosk_id, phone, display_text, state.as_str(), now, now + valid_for_secs],
        )?;
        Ok(self
            .signature_session(Some(kiosk_id), &id, now)?
            .expect("just made"))
    }

    /// A session, for the kiosk that started it (`None`: any, for the
    /// phone). A pending session past its time becomes `expired`.
    pub fn signature_session(
        &mut self,
        kiosk_id: Option<i64>,
        id: &str,
        now: i64,
    ) -> Result<Option<SignatureSession>, PortalError> {
        self.conn.execute(
            "UPDATE msig_sessions SET state = 'expired' WHERE id = ?1 AND state = 'pending' AND expires_at < ?2",
            params![id, now],
        )?;
        Ok(self
            .conn
            .query_row(
                "SELECT id, phone, display_text, state, expires_at, certificate, signature
                 FROM msig_sessions WHERE id = ?1 AND (?2 IS NULL OR kiosk_id = ?2)",
                params![id, kiosk_id],
                session_row,
            )
            .optional()?)
    }

    /// The kiosk cancels (the citizen pressed Hủy): a pending session ends.
    pub fn cancel_signature(
        &mut self,
        kiosk_id: i64,
        id: &str,
        now: i64,
    ) -> Result<Option<SignatureSession>, PortalError> {
        self.conn.execute(
            "UPDATE msig_sessions SET state = 'cancelled' WHERE id = ?1 AND kiosk_id = ?2 AND state = 'pending'",
            params![id, kiosk_id],
        )?;
        self.signature_session(Some(kiosk_id), id, now)
    }

    /// Sessions waiting on a phone, oldest first (the simulated phone).
    pub fn pending_signatures(&self, now: i64) -> Result<Vec<SignatureSession>, PortalError> {
        // Read-only: a request past its time is simply not shown; it is
        // marked expired when its kiosk next asks.
        let mut stmt = self.conn.prepare(
            "SELECT id, phone, display_text, state, expires_at, certificate, signature
             FROM msig_sessions WHERE state = 'pending' AND expires_at >= ?1
             ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([now], session_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The holder answers on the phone. Confirming signs the text shown
    /// with the holder's SIM key (made, with its certificate, on first use).
    /// Answers the session after, or `None` when it is unknown.
    pub fn answer_signature(
        &mut self,
        id: &str,
        answer: PhoneAnswer,
        mssp: &Mssp,
        now: i64,
    ) -> Result<Option<SignatureSession>, PortalError> {
        let Some(session) = self.signature_session(None, id, now)? else {
            return Ok(None);
        };
        if session.state != SignatureState::Pending {
            return Ok(Some(session));
        }
        match answer {
            PhoneAnswer::Refuse | PhoneAnswer::Expire => {
                let state = if answer == PhoneAnswer::Refuse {
                    SignatureState::Refused
                } else {
                    SignatureState::Expired
                };
                self.conn.execute(
                    "UPDATE msig_sessions SET state = ?2 WHERE id = ?1 AND state = 'pending'",
                    params![id, state.as_str()],
                )?;
            }
            PhoneAnswer::Confirm => {
                let (name, personal_id, key, cert): (String, String, Option<Vec<u8>>, Option<Vec<u8>>) =
                    self.conn.query_row(
                        "SELECT full_name, personal_id, key_pkcs8, certificate FROM msig_users WHERE phone = ?1",
                        [&session.phone],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )?;
                let (key, cert) = match (key, cert) {
                    (Some(k), Some(c)) => (k, c),
                    _ => {
                        let (k, c) = mssp.issue(&name, &personal_id).map_err(PortalError::Mssp)?;
                        self.conn.execute(
                            "UPDATE msig_users SET key_pkcs8 = ?2, certificate = ?3 WHERE phone = ?1",
                            params![session.phone, k, c],
                        )?;
                        (k, c)
                    }
                };
                let signature =
                    Mssp::sign(&key, session.display_text.as_bytes()).map_err(PortalError::Mssp)?;
                self.conn.execute(
                    "UPDATE msig_sessions SET state = 'signed', certificate = ?2, signature = ?3 WHERE id = ?1 AND state = 'pending'",
                    params![id, cert, signature],
                )?;
            }
        }
        self.signature_session(None, id, now)
    }
}

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SignatureSession> {
    Ok(SignatureSession {
        id: r.get(0)?,
        phone: r.get(1)?,
        display_text: r.get(2)?,
        state: {
            let text: String = r.get(3)?;
            SignatureState::parse(&text).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    3,
                    rusqlite::types::Type::Text,
                    format!("unknown signature state {text:?}").into(),
                )
            })?
        },
        expires_at: r.get(4)?,
        certificate: r.get(5)?,
        signature: r.get(6)?,
    })
}
