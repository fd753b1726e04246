//! Intake: sealed registrations from kiosks (uploads and export files),
//! decided idempotently, and the accounts they open.
//!
//! Intake is idempotent by registration id: re-sending a batch after a lost
//! answer, or importing the same file twice, answers the recorded outcome
//! and creates nothing twice. A batch is decided in one transaction (one
//! disk sync, not one per registration): a crash in the middle of it
//! records none of it, and the kiosk, which got no answer, sends it again.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use kiosk_sync::relay::ItemOutcome;
use kiosk_sync::{
    DevicePublicKey, Envelope, ExportFile, PAYLOAD_SCHEMA, PAYLOAD_SCHEMAS, RegistrationPayload,
};

use crate::evidence::{Decision, decide};
use crate::{Portal, PortalError};

impl Portal {
    /// Takes a batch from the kiosk holding `key`; answers one outcome per
    /// envelope, the recorded one for a registration seen before.
    pub fn receive(
        &mut self,
        key: &DevicePublicKey,
        envelopes: &[Envelope],
        now: i64,
    ) -> Result<Vec<(String, ItemOutcome)>, PortalError> {
        let kiosk = self.kiosk(key)?;
        self.receive_as(kiosk, envelopes, now)
    }

    /// Takes envelopes for `kiosk`: each must be signed by one of its keys,
    /// the current one or one it held before a replacement enrolment.
    fn receive_as(
        &mut self,
        kiosk: i64,
        envelopes: &[Envelope],
        now: i64,
    ) -> Result<Vec<(String, ItemOutcome)>, PortalError> {
        self.refresh_revocations();
        let judge = Judge {
            secret: &self.secret,
            trust: &self.trust,
            methods: &self.methods,
            kiosk,
            now,
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcomes = envelopes
            .iter()
            .map(|e| Ok((e.registration_id.clone(), judge.receive_one(&tx, e)?)))
            .collect::<Result<Vec<_>, PortalError>>()?;
        tx.commit()?;
        Ok(outcomes)
    }

    /// Imports a kiosk's export file; the same as receiving its envelopes
    /// from the kiosk whose key made the file (now or before a replacement).
    pub fn import(
        &mut self,
        bytes: &[u8],
        now: i64,
    ) -> Result<Vec<(String, ItemOutcome)>, PortalError> {
        let file = ExportFile::from_bytes(bytes)?;
        let key = DevicePublicKey::from_base64(&file.kiosk_key)?;
        let kiosk = self.kiosk_of_envelopes(&key)?;
        self.receive_as(kiosk, &file.envelopes, now)
    }

    /// Accounts by level and pending state, for the admin CLI: never the
    /// identities themselves.
    pub fn account_summary(&self) -> Result<Vec<(i64, String, i64)>, PortalError> {
        let mut stmt = self.conn.prepare(
            "SELECT level, pending, COUNT(*) FROM accounts GROUP BY level, pending ORDER BY level, pending",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Accounts opened, for the admin CLI: never the identities themselves.
    pub fn account_count(&self) -> Result<i64, PortalError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))?)
    }
}

const HELD_OTHER_KEY: &str = "sealed with a key this portal does not know as this kiosk's: ask the portal's admin for a replacement enrolment code";
const HELD_PORTAL_KEY: &str = "sealed to a key this portal does not hold";

/// Whether `signer` is or was `kiosk`'s key.
fn signed_by(
    tx: &rusqlite::Transaction<'_>,
    kiosk: i64,
    signer: &DevicePublicKey,
) -> Result<bool, PortalError> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM kiosks WHERE id = ?1 AND public_key = ?2
             UNION ALL SELECT 1 FROM retired_keys WHERE kiosk_id = ?1 AND public_key = ?2",
            params![kiosk, signer.to_base64()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// What a batch is decided with.
struct Judge<'a> {
    secret: &'a kiosk_sync::PortalSecretKey,
    trust: &'a crate::evidence::Trust,
    methods: &'a std::collections::HashMap<String, crate::evidence::MethodRule>,
    kiosk: i64,
    now: i64,
}

impl Judge<'_> {
    /// Decides one envelope of a batch inside the batch's transaction.
    fn receive_one(
        &self,
        tx: &rusqlite::Transaction<'_>,
        envelope: &Envelope,
    ) -> Result<ItemOutcome, PortalError> {
        let (kiosk, now) = (self.kiosk, self.now);
        // Nothing is recorded for an envelope this kiosk did not sign: a
        // replayed copy must not take the registration id from its maker.
        // Nor is it refused for good: a kiosk whose key was regenerated
        // holds what its old key sealed until the admin gives it a
        // replacement code.
        match envelope.verify() {
            Ok(signer) if signed_by(tx, kiosk, &signer)? => {}
            Ok(_) => return Ok(ItemOutcome::Held(HELD_OTHER_KEY.into())),
            Err(e) => return Ok(ItemOutcome::Rejected(e.to_string())),
        }
        let seen: Option<(String, Option<String>)> = tx
            .query_row(
                "SELECT outcome, reason FROM registrations WHERE kiosk_id = ?1 AND registration_id = ?2",
                params![kiosk, envelope.registration_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((outcome, reason)) = seen {
            return Ok(match outcome.as_str() {
                "accepted" => ItemOutcome::Accepted,
                "duplicate" => ItemOutcome::Duplicate,
                _ => ItemOutcome::Rejected(reason.unwrap_or_default()),
            });
        }
        // Sealed to a key this portal does not hold (its key was changed
        // and the old one not kept): the portal must fix that, and the
        // kiosk keeps it.
        let Ok(plain) = envelope.open(self.secret) else {
            return Ok(ItemOutcome::Held(HELD_PORTAL_KEY.into()));
        };
        if crate::counter_resets::is_counter_reset(&plain) {
            return crate::counter_resets::receive(tx, self.trust, kiosk, envelope, &plain, now);
        }
        if crate::complaints::is_complaint(&plain) {
            return crate::complaints::receive(tx, self.trust, kiosk, envelope, &plain, now);
        }
        // Fixed wording: a parser's message may quote the values it read,
        // and the reason travels back to the kiosk's records.
        let payload = serde_json::from_slice::<RegistrationPayload>(&plain);
        let decision = match &payload {
            Err(_) => Decision::Reject(format!("the payload does not follow {PAYLOAD_SCHEMA}")),
            Ok(p)
                if !PAYLOAD_SCHEMAS.contains(&p.schema.as_str())
                    || p.registration_id != envelope.registration_id =>
            {
                Decision::Reject("payload does not match its envelope".to_string())
            }
            Ok(p) => decide(tx, self.trust, self.methods, p, now)?,
        };
        let payload = payload
            .ok()
            .filter(|p| p.registration_id == envelope.registration_id);
        let mut level = payload.as_ref().map(|p| p.level);
        let (outcome, reason, account) = match decision {
            Decision::Hold(reason) => return Ok(ItemOutcome::Held(reason)),
            Decision::Reject(reason) => ("rejected", Some(reason), None),
            Decision::Open {
                identity,
                level: opened,
                also,
            } => {
                level = Some(opened);
                let mut existing: Option<i64> = None;
                for known in std::iter::once(&identity).chain(&also) {
                    existing = existing.or(tx
                        .query_row(
                            "SELECT id FROM accounts WHERE identity = ?1
                             UNION ALL SELECT account_id FROM identity_links WHERE alias = ?1
                             LIMIT 1",
                            [&*known.wire()],
                            |r| r.get(0),
                        )
                        .optional()?);
                }
                let identity = identity.wire();
                match existing {
                    Some(id) => ("duplicate", None, Some(id)),
                    None => {
                        // Every check ran on intake: nothing is left pending.
                        tx.execute(
                            "INSERT INTO accounts (identity, level, pending, created_at, registration_id, phone, password_hash)
                             VALUES (?1, ?2, '', ?3, ?4, ?5, ?6)",
                            params![
                                &*identity,
                                opened,
                                now,
                                envelope.registration_id,
                                payload.as_ref().and_then(|p| p.phone.as_deref()),
                                payload.as_ref().and_then(|p| p.password_hash.as_deref()),
                            ],
                        )?;
                        let account = tx.last_insert_rowid();
                        // The old numbers the chip proved find it from now on.
                        for alias in &also {
                            tx.execute(
                                "INSERT INTO identity_links (alias, account_id) VALUES (?1, ?2)
                                 ON CONFLICT (alias) DO NOTHING",
                                params![&*alias.wire(), account],
                            )?;
                        }
                        ("accepted", None, Some(account))
                    }
                }
            }
        };
        // The reference as the citizen was given it, if it is one.
        let reference = payload
            .as_ref()
            .and_then(|p| kiosk_sync::normalise_reference(&p.reference))
            .filter(|r| payload.as_ref().is_some_and(|p| &p.reference == r));
        tx.execute(
            "INSERT INTO registrations (registration_id, kiosk_id, received_at, outcome, reason, account_id, reference, method, level, created_at, clerk_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                envelope.registration_id,
                kiosk,
                now,
                outcome,
                reason,
                account,
                reference,
                payload.as_ref().map(|p| p.method.as_str()),
                level,
                payload.as_ref().map(|p| p.created_at),
                payload
                    .as_ref()
                    .and_then(|p| p.counter.as_ref())
                    .map(|c| c.clerk_id.as_str())
                    .filter(|id| crate::evidence::valid_clerk_id(id)),
            ],
        )?;
        // The reference portal runs every check on intake, so each outcome
        // is final at once: an accepted registration's account is active.
        let status = if outcome == "accepted" {
            "activated"
        } else {
            outcome
        };
        tx.execute(
            "INSERT INTO status_feed (kiosk_id, registration_id, status, at) VALUES (?1, ?2, ?3, ?4)",
            params![kiosk, envelope.registration_id, status, now],
        )?;
        // The person is told, once: in this transaction, so a batch sent
        // again answers the recorded outcome and sends nothing twice.
        if let (Some(p), Some(reference)) = (&payload, &reference) {
            crate::lookup::notify(tx, p, reference, status, level.unwrap_or(p.level), now)?;
        }
        Ok(match outcome {
            "accepted" => ItemOutcome::Accepted,
            "duplicate" => ItemOutcome::Duplicate,
            _ => ItemOutcome::Rejected(reason.unwrap_or_default()),
        })
    }
}
