//! Password resets made at a post-office counter: the person proved by the
//! chip of their CCCD card (verified here against the portal's own CSCA
//! list) and by the clerk who compared their face with it. The reset
//! arrives sealed in an upload like a registration, under an `MK-…`
//! reference; the account of the chip's identity gets the new password
//! hash, its phone (if the portal has one) is told, and the kiosk hears the
//! outcome through the status feed.

use std::str::FromStr;

use rusqlite::{OptionalExtension, params};
use serde::Deserialize;

use kiosk_sync::relay::ItemOutcome;
use kiosk_sync::{COUNTER_RESET_SCHEMA, CounterResetPayload, Envelope, IdentityRef};

use crate::PortalError;
use crate::evidence::{ChipProof, HELD_NO_CSCA, Trust, chip_proof, valid_clerk_id};

/// Only the schema of a payload.
#[derive(Deserialize)]
struct Schema<'a> {
    #[serde(borrow)]
    schema: std::borrow::Cow<'a, str>,
}

/// Whether `plain` is a counter password reset's payload.
pub(crate) fn is_counter_reset(plain: &[u8]) -> bool {
    serde_json::from_slice::<Schema<'_>>(plain).is_ok_and(|s| s.schema == COUNTER_RESET_SCHEMA)
}

/// What is wrong with it before the chip, in fixed words (they travel back
/// to the kiosk's records, so never a value read from the payload).
fn check(p: &CounterResetPayload, envelope: &Envelope) -> Result<IdentityRef, &'static str> {
    if p.registration_id != envelope.registration_id {
        return Err("payload does not match its envelope");
    }
    let reference = kiosk_sync::normalise_reference(&p.reference);
    if reference.as_deref() != Some(p.reference.as_str())
        || !p.reference.starts_with(kiosk_sync::COUNTER_RESET_PREFIX)
    {
        return Err("a counter reset's reference is MK-XXXX-XXXX");
    }
    if !valid_clerk_id(&p.counter.clerk_id) || !p.counter.face_confirmed {
        return Err("a counter reset names no clerk who checked the face");
    }
    if !p.password_hash.starts_with("$argon2id$") {
        return Err("the new password is not an Argon2id hash");
    }
    IdentityRef::from_str(&p.identity).map_err(|_| "the reset names no valid identity")
}

/// Takes a counter reset inside its batch's transaction: applied once,
/// answered as recorded.
pub(crate) fn receive(
    tx: &rusqlite::Transaction<'_>,
    trust: &Trust,
    kiosk: i64,
    envelope: &Envelope,
    plain: &[u8],
    now: i64,
) -> Result<ItemOutcome, PortalError> {
    let payload = match serde_json::from_slice::<CounterResetPayload>(plain) {
        Ok(p) => p,
        Err(_) => {
            return reject(
                tx,
                kiosk,
                envelope,
                None,
                now,
                "the payload does not follow the counter reset schema",
            );
        }
    };
    let identity = match check(&payload, envelope) {
        Ok(identity) => identity,
        Err(reason) => return reject(tx, kiosk, envelope, Some(&payload), now, reason),
    };
    let whose = "the account's holder";
    let ids = match chip_proof(&payload.chip, &identity, whose, trust, now) {
        ChipProof::Proves(ids) => ids,
        ChipProof::NoCscaList => return Ok(ItemOutcome::Held(HELD_NO_CSCA.into())),
        ChipProof::Refused(why) => {
            return reject(tx, kiosk, envelope, Some(&payload), now, &why);
        }
    };
    // The account of any number the chip proves (the card's, the old CMND).
    let mut account: Option<(i64, Option<String>)> = None;
    for id in &ids {
        account = account.or(tx
            .query_row(
                "SELECT a.id, a.phone FROM accounts a
                 WHERE a.id = (SELECT id FROM accounts WHERE identity = ?1
                               UNION ALL SELECT account_id FROM identity_links WHERE alias = ?1 LIMIT 1)",
                [&*id.wire()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?);
    }
    let Some((account, phone)) = account else {
        return reject(
            tx,
            kiosk,
            envelope,
            Some(&payload),
            now,
            "no account for this identity",
        );
    };
    tx.execute(
        "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
        params![account, payload.password_hash],
    )?;
    tx.execute(
        "INSERT INTO registrations (registration_id, kiosk_id, received_at, outcome, account_id, reference, method, created_at, clerk_id)
         VALUES (?1, ?2, ?3, 'accepted', ?4, ?5, 'counter', ?6, ?7)",
        params![
            envelope.registration_id,
            kiosk,
            now,
            account,
            payload.reference,
            payload.created_at,
            payload.counter.clerk_id
        ],
    )?;
    tx.execute(
        "INSERT INTO status_feed (kiosk_id, registration_id, status, at) VALUES (?1, ?2, 'activated', ?3)",
        params![kiosk, envelope.registration_id, now],
    )?;
    if let Some(phone) = phone {
        let text = format!(
            "Cổng DVC: Mật khẩu tài khoản của bạn đã được đặt lại tại quầy giao dịch (mã {}). Nếu không phải bạn, hãy đến quầy giao dịch ngay.",
            payload.reference
        );
        tx.execute(
            "INSERT INTO messages (channel, recipient, text, at) VALUES ('sms', ?1, ?2, ?3)",
            params![phone, text, now],
        )?;
    }
    Ok(ItemOutcome::Accepted)
}

/// Records a refused reset once, and tells the kiosk through the feed.
fn reject(
    tx: &rusqlite::Transaction<'_>,
    kiosk: i64,
    envelope: &Envelope,
    payload: Option<&CounterResetPayload>,
    now: i64,
    reason: &str,
) -> Result<ItemOutcome, PortalError> {
    // The reference only when it is one: it is what the lookup reads.
    let reference = payload
        .and_then(|p| kiosk_sync::normalise_reference(&p.reference).filter(|r| *r == p.reference));
    tx.execute(
        "INSERT INTO registrations (registration_id, kiosk_id, received_at, outcome, reason, reference, method, created_at)
         VALUES (?1, ?2, ?3, 'rejected', ?4, ?5, ?6, ?7)",
        params![
            envelope.registration_id,
            kiosk,
            now,
            reason,
            reference,
            reference.as_ref().map(|_| "counter"),
            payload.map(|p| p.created_at)
        ],
    )?;
    tx.execute(
        "INSERT INTO status_feed (kiosk_id, registration_id, status, at) VALUES (?1, ?2, 'rejected', ?3)",
        params![kiosk, envelope.registration_id, now],
    )?;
    Ok(ItemOutcome::Rejected(reason.to_string()))
}
