//! Complaints ("khiếu nại"): a person finds that their identity already has
//! an account they did not make, and says so at a kiosk. The complaint
//! arrives sealed in an upload like a registration, under a `KN-…`
//! reference; the portal keeps a queue of them for its staff, tells the
//! contact number it received it, and reports to the kiosk when it is
//! settled, through the same status feed.

use std::str::FromStr;

use rusqlite::{OptionalExtension, params};
use serde::Deserialize;

use kiosk_sync::relay::ItemOutcome;
use kiosk_sync::{COMPLAINT_REASONS, COMPLAINT_SCHEMAS, ComplaintPayload, Envelope, IdentityRef};

use crate::evidence::{ChipProof, HELD_NO_CSCA, Trust, chip_proof, valid_clerk_id};

use crate::{Portal, PortalError};

/// One complaint as `portal complaints` lists it: the identity masked.
#[derive(Clone, PartialEq, Eq)]
pub struct ComplaintRow {
    pub reference: String,
    pub received_at: i64,
    pub reason: String,
    /// `received` or `resolved`.
    pub status: String,
    /// `cccd:…345`: the kind and the last three digits.
    pub identity_masked: String,
    /// The portal has an account for the identity (it may since have been
    /// closed by staff, or never have existed when the kiosk was offline).
    pub account_exists: bool,
    pub method: String,
    /// At a post-office counter: the clerk who took it, the person's
    /// identity proven by the chip of their card (verified here).
    pub clerk_id: Option<String>,
}

kiosk_sync::opaque_debug!(ComplaintRow);

/// Only the schema of a payload: whether it is a complaint.
#[derive(Deserialize)]
struct Schema<'a> {
    #[serde(borrow)]
    schema: std::borrow::Cow<'a, str>,
}

/// Whether `plain` is a complaint's payload.
pub(crate) fn is_complaint(plain: &[u8]) -> bool {
    serde_json::from_slice::<Schema<'_>>(plain)
        .is_ok_and(|s| COMPLAINT_SCHEMAS.contains(&s.schema.as_ref()))
}

/// What is wrong with a complaint, in fixed words (they travel back to the
/// kiosk's records, so never a value read from the payload).
fn check(payload: &ComplaintPayload, envelope: &Envelope) -> Result<IdentityRef, &'static str> {
    if payload.registration_id != envelope.registration_id {
        return Err("payload does not match its envelope");
    }
    let reference = kiosk_sync::normalise_reference(&payload.reference);
    if reference.as_deref() != Some(payload.reference.as_str())
        || !payload.reference.starts_with(kiosk_sync::COMPLAINT_PREFIX)
    {
        return Err("a complaint's reference is KN-XXXX-XXXX");
    }
    if !COMPLAINT_REASONS.contains(&payload.reason.as_str()) {
        return Err("unknown complaint reason");
    }
    let phone = payload.contact_phone.strip_prefix("+84").unwrap_or("");
    if !(9..=10).contains(&phone.len()) || !phone.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the contact phone is not a Vietnamese number");
    }
    match (&payload.counter, &payload.chip) {
        (None, _) => {}
        (Some(_), None) => return Err("a counter complaint without the ID card's chip"),
        (Some(c), Some(_)) if !valid_clerk_id(&c.clerk_id) || !c.face_confirmed => {
            return Err("a counter complaint names no clerk who checked the face");
        }
        (Some(_), Some(_)) => {}
    }
    IdentityRef::from_str(&payload.identity).map_err(|_| "the complaint names no valid identity")
}

/// Takes a complaint inside its batch's transaction: records it once and
/// answers what was recorded.
pub(crate) fn receive(
    tx: &rusqlite::Transaction<'_>,
    trust: &Trust,
    kiosk: i64,
    envelope: &Envelope,
    plain: &[u8],
    now: i64,
) -> Result<ItemOutcome, PortalError> {
    let checked = match serde_json::from_slice::<ComplaintPayload>(plain) {
        Ok(payload) => check(&payload, envelope)
            .map_err(String::from)
            .map(|identity| (payload, identity)),
        Err(_) => Err("the payload does not follow the complaint schema".to_string()),
    };
    // At a counter the chip proves the identity is the person's: verified
    // here against the portal's own CSCA list, as a registration's.
    let checked = match checked {
        Ok((payload, identity)) => match &payload.chip {
            None => Ok((payload, identity)),
            Some(evidence) => {
                let whose = "the identity complained about";
                match chip_proof(evidence, &identity, whose, trust, now) {
                    ChipProof::NoCscaList => return Ok(ItemOutcome::Held(HELD_NO_CSCA.into())),
                    ChipProof::Refused(why) => Err(why),
                    ChipProof::Proves(_) => Ok((payload, identity)),
                }
            }
        },
        Err(reason) => Err(reason),
    };
    let (payload, identity) = match checked {
        Ok(checked) => checked,
        Err(reason) => {
            tx.execute(
                "INSERT INTO registrations (registration_id, kiosk_id, received_at, outcome, reason)
                 VALUES (?1, ?2, ?3, 'rejected', ?4)",
                params![envelope.registration_id, kiosk, now, reason],
            )?;
            tx.execute(
                "INSERT INTO status_feed (kiosk_id, registration_id, status, at) VALUES (?1, ?2, 'rejected', ?3)",
                params![kiosk, envelope.registration_id, now],
            )?;
            return Ok(ItemOutcome::Rejected(reason));
        }
    };
    let clerk = payload.counter.as_ref().map(|c| c.clerk_id.as_str());
    let account: Option<i64> = tx
        .query_row(
            "SELECT id FROM accounts WHERE identity = ?1
             UNION ALL SELECT account_id FROM identity_links WHERE alias = ?1 LIMIT 1",
            [&*identity.wire()],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute(
        "INSERT INTO complaints (reference, kiosk_id, registration_id, identity, account_id, contact_phone, reason, method, status, created_at, received_at, clerk_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'received', ?9, ?10, ?11)
         ON CONFLICT (reference) DO NOTHING",
        params![
            payload.reference,
            kiosk,
            envelope.registration_id,
            &*identity.wire(),
            account,
            payload.contact_phone,
            payload.reason,
            payload.method,
            payload.created_at,
            now,
            clerk
        ],
    )?;
    tx.execute(
        "INSERT INTO registrations (registration_id, kiosk_id, received_at, outcome, account_id, reference, method, created_at, clerk_id)
         VALUES (?1, ?2, ?3, 'accepted', ?4, ?5, ?6, ?7, ?8)",
        params![
            envelope.registration_id,
            kiosk,
            now,
            account,
            payload.reference,
            payload.method,
            payload.created_at,
            clerk
        ],
    )?;
    tx.execute(
        "INSERT INTO status_feed (kiosk_id, registration_id, status, at) VALUES (?1, ?2, 'received', ?3)",
        params![kiosk, envelope.registration_id, now],
    )?;
    let text = format!(
        "Cổng DVC: Đã nhận khiếu nại {} về tài khoản đăng ký bằng giấy tờ của bạn. Kết quả xử lý sẽ được nhắn tin đến số này.",
        payload.reference
    );
    tx.execute(
        "INSERT INTO messages (channel, recipient, text, at) VALUES ('sms', ?1, ?2, ?3)",
        params![payload.contact_phone, text, now],
    )?;
    Ok(ItemOutcome::Accepted)
}

impl Portal {
    /// Every complaint, newest first, for the staff's queue.
    pub fn complaints(&self) -> Result<Vec<ComplaintRow>, PortalError> {
        let mut stmt = self.conn.prepare(
            "SELECT reference, received_at, reason, status, identity, account_id IS NOT NULL, method, clerk_id
             FROM complaints ORDER BY received_at DESC, reference",
        )?;
        let rows = stmt.query_map([], |r| {
            let identity: String = r.get(4)?;
            let (kind, value) = identity.split_once(':').unwrap_or(("?", ""));
            let tail = value.get(value.len().saturating_sub(3)..).unwrap_or("");
            Ok(ComplaintRow {
                reference: r.get(0)?,
                received_at: r.get(1)?,
                reason: r.get(2)?,
                status: r.get(3)?,
                identity_masked: format!("{kind}:…{tail}"),
                account_exists: r.get(5)?,
                method: r.get(6)?,
                clerk_id: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Staff have settled the complaint filed under `reference` (as typed):
    /// the kiosk that took it hears so through its status feed, and the
    /// contact number by SMS. `false` when there is no such complaint
    /// still open.
    pub fn resolve_complaint(&mut self, reference: &str, now: i64) -> Result<bool, PortalError> {
        let Some(reference) = kiosk_sync::normalise_reference(reference) else {
            return Ok(false);
        };
        let tx = self.conn.transaction()?;
        let open: Option<(i64, String, String)> = tx
            .query_row(
                "SELECT kiosk_id, registration_id, contact_phone FROM complaints
                 WHERE reference = ?1 AND status = 'received'",
                [&reference],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((kiosk, registration_id, phone)) = open else {
            return Ok(false);
        };
        tx.execute(
            "UPDATE complaints SET status = 'resolved', resolved_at = ?2 WHERE reference = ?1",
            params![reference, now],
        )?;
        tx.execute(
            "INSERT INTO status_feed (kiosk_id, registration_id, status, at) VALUES (?1, ?2, 'resolved', ?3)",
            params![kiosk, registration_id, now],
        )?;
        let text = format!(
            "Cổng DVC: Khiếu nại {reference} đã được xử lý. Tra cứu mã này tại máy đăng ký hoặc hỏi tại quầy giao dịch."
        );
        tx.execute(
            "INSERT INTO messages (channel, recipient, text, at) VALUES ('sms', ?1, ?2, ?3)",
            params![phone, text, now],
        )?;
        tx.commit()?;
        Ok(true)
    }
}
