//! The audit log: append-only (triggers refuse UPDATE and DELETE) and
//! chained: each entry carries an HMAC over the previous entry's MAC and
//! its own fields, keyed from the kiosk's local key.

use hmac::{Hmac, KeyInit, Mac};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use sha2::Sha256;

use super::{Store, StoreError};

type HmacSha256 = Hmac<Sha256>;

/// The audit event a completed registration writes.
pub const EVENT_COMPLETED: &str = "registration.completed";
/// What the audit verification found wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("audit entry {expected} is missing (next entry is {found})")]
    Gap { expected: i64, found: i64 },
    #[error("audit entry {0} does not link to the entry before it")]
    BrokenLink(i64),
    #[error("audit entry {0} was altered (MAC mismatch)")]
    BadMac(i64),
    #[error("registration {0} has no completion entry in the audit log")]
    MissingEntry(String),
    #[error("registration {0} is queued but has no outbox row")]
    NotInOutbox(String),
    #[error("outbox row {0} has no registration")]
    OrphanOutbox(String),
    #[error("cannot read the audit log: {0}")]
    Read(String),
}

/// What a verified audit log holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditReport {
    pub entries: i64,
    pub registrations: i64,
}
pub(super) fn audit_mac(
    key: &[u8; 32],
    prev: &[u8],
    seq: i64,
    at: i64,
    event: &str,
    registration_id: Option<&str>,
    detail: &str,
) -> Vec<u8> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(prev);
    mac.update(&seq.to_be_bytes());
    mac.update(&at.to_be_bytes());
    for field in [event, registration_id.unwrap_or("\u{0}none"), detail] {
        mac.update(&(field.len() as u64).to_be_bytes());
        mac.update(field.as_bytes());
    }
    mac.finalize().into_bytes().to_vec()
}

/// One audit entry as stored.
pub(super) struct Entry {
    pub seq: i64,
    pub at: i64,
    pub event: String,
    pub registration_id: Option<String>,
    pub detail: String,
    pub prev_mac: Vec<u8>,
    pub mac: Vec<u8>,
}

impl Entry {
    pub const SELECT: &'static str =
        "SELECT seq, at, event, registration_id, detail, prev_mac, mac FROM audit ORDER BY seq";

    pub fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
        Ok(Entry {
            seq: row.get(0)?,
            at: row.get(1)?,
            event: row.get(2)?,
            registration_id: row.get(3)?,
            detail: row.get(4)?,
            prev_mac: row.get(5)?,
            mac: row.get(6)?,
        })
    }

    /// Whether the entry's MAC is the one `key` gives it after `prev`.
    pub fn mac_holds(&self, key: &[u8; 32], prev: &[u8]) -> bool {
        audit_mac(
            key,
            prev,
            self.seq,
            self.at,
            &self.event,
            self.registration_id.as_deref(),
            &self.detail,
        ) == self.mac
    }
}

pub(super) fn append_audit_in(
    tx: &rusqlite::Transaction<'_>,
    key: &[u8; 32],
    at: i64,
    event: &str,
    registration_id: Option<&str>,
    detail: &str,
) -> Result<(), StoreError> {
    let last: Option<(i64, Vec<u8>)> = tx
        .query_row(
            "SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev) = match last {
        Some((seq, mac)) => (seq + 1, mac),
        None => (1, vec![0u8; 32]),
    };
    let mac = audit_mac(key, &prev, seq, at, event, registration_id, detail);
    tx.execute(
        "INSERT INTO audit (seq, at, event, registration_id, detail, prev_mac, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![seq, at, event, registration_id, detail, prev, mac],
    )?;
    Ok(())
}
impl Store {
    /// Appends a non-personal event to the audit log.
    pub fn append_audit(
        &mut self,
        audit_key: &[u8; 32],
        at: i64,
        event: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        append_audit_in(&tx, audit_key, at, event, None, detail)?;
        tx.commit()?;
        Ok(())
    }

    /// Every audit entry, oldest first: sequence, time, event, detail
    /// (nothing personal is ever written to it).
    pub fn audit_entries(&self) -> Result<Vec<(i64, i64, String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, at, event, detail FROM audit ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Walks the audit chain and cross-checks it against the registrations
    /// and the outbox.
    pub fn verify_audit(&self, audit_key: &[u8; 32]) -> Result<AuditReport, AuditError> {
        let read = |e: rusqlite::Error| AuditError::Read(e.to_string());
        let mut stmt = self.conn.prepare(Entry::SELECT).map_err(read)?;
        let mut rows = stmt.query([]).map_err(read)?;
        let mut expected = 1i64;
        let mut prev = vec![0u8; 32];
        while let Some(row) = rows.next().map_err(read)? {
            let entry = Entry::read(row).map_err(read)?;
            if entry.seq != expected {
                return Err(AuditError::Gap {
                    expected,
                    found: entry.seq,
                });
            }
            if entry.prev_mac != prev {
                return Err(AuditError::BrokenLink(entry.seq));
            }
            if !entry.mac_holds(audit_key, &prev) {
                return Err(AuditError::BadMac(entry.seq));
            }
            prev = entry.mac;
            expected += 1;
        }
        let first = |sql: &str| -> Result<Option<String>, AuditError> {
            self.conn
                .query_row(sql, [], |r| r.get(0))
                .optional()
                .map_err(read)
        };
        if let Some(id) = first(
            "SELECT r.id FROM registrations r WHERE NOT EXISTS
               (SELECT 1 FROM audit a WHERE a.registration_id = r.id AND a.event = 'registration.completed') LIMIT 1",
        )? {
            return Err(AuditError::MissingEntry(id));
        }
        if let Some(id) = first(
            "SELECT r.id FROM registrations r WHERE r.status = 'queued' AND NOT EXISTS
               (SELECT 1 FROM outbox o WHERE o.registration_id = r.id) LIMIT 1",
        )? {
            return Err(AuditError::NotInOutbox(id));
        }
        if let Some(id) = first(
            "SELECT o.registration_id FROM outbox o WHERE NOT EXISTS
               (SELECT 1 FROM registrations r WHERE r.id = o.registration_id) LIMIT 1",
        )? {
            return Err(AuditError::OrphanOutbox(id));
        }
        let registrations: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM registrations", [], |r| r.get(0))
            .map_err(read)?;
        Ok(AuditReport {
            entries: expected - 1,
            registrations,
        })
    }

    /// Direct access for tests that play the attacker.
    #[cfg(test)]
    pub(crate) fn connection(&self) -> &rusqlite::Connection {
        &self.conn
    }
}
