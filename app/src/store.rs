//! The local store: SQLite in WAL mode with `synchronous=FULL`, so a
//! committed transaction survives a power cut.
//!
//! It holds sealed envelopes and non-personal metadata only: method, level,
//! status, times, what is pending, and a keyed hash of the identity for the
//! local duplicate check. Completing a registration writes the registration,
//! its outbox row and its audit entry in one transaction.
//!
//! The audit log is append-only (triggers refuse UPDATE and DELETE) and
//! chained: each entry carries an HMAC over the previous entry's MAC and its
//! own fields, keyed from the kiosk's local key. [`Store::verify_audit`]
//! finds an edited, inserted or deleted entry, and a registration whose
//! completion entry is missing.

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::Sha256;

use crate::domain::{Level, Method, SubjectKind};
use crate::flow::PendingCheck;

/// Versioned migrations; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE registrations (
    id            TEXT PRIMARY KEY,      -- idempotency key, a random UUID
    reference     TEXT NOT NULL UNIQUE,  -- shown to the citizen
    method        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    level         INTEGER NOT NULL,
    status        TEXT NOT NULL,         -- queued, then what the portal says
    pending       TEXT NOT NULL,         -- comma-separated checks the portal must run
    identity_tag  BLOB NOT NULL,         -- HMAC of the identity, never the number
    created_at    INTEGER NOT NULL,      -- Unix seconds
    envelope      BLOB                   -- sealed to the portal; NULL once retained no more
) STRICT;
CREATE INDEX registrations_identity ON registrations (identity_tag);

CREATE TABLE outbox (
    registration_id TEXT PRIMARY KEY REFERENCES registrations (id),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT
) STRICT;

CREATE TABLE otp_challenges (
    id          INTEGER PRIMARY KEY,
    phone_tag   BLOB NOT NULL,           -- HMAC of the number
    sent_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX otp_challenges_phone ON otp_challenges (phone_tag, sent_at);

CREATE TABLE audit (
    seq             INTEGER PRIMARY KEY,
    at              INTEGER NOT NULL,
    event           TEXT NOT NULL,
    registration_id TEXT,
    detail          TEXT NOT NULL,       -- never personal data
    prev_mac        BLOB NOT NULL,
    mac             BLOB NOT NULL
) STRICT;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
    r#"
-- When the portal confirmed the final outcome; the sealed payload is
-- deleted a policy-set time after.
ALTER TABLE registrations ADD COLUMN settled_at INTEGER;
-- The relay's own state: status-feed cursor, last success, last error.
CREATE TABLE sync_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
"#,
];

/// A status change the portal reported for one of this kiosk's registrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub cursor: i64,
    pub registration_id: String,
    pub status: String,
    pub terminal: bool,
}

/// The audit event a completed registration writes.
pub const EVENT_COMPLETED: &str = "registration.completed";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database was written by a newer kiosk (schema {found}, this build knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("database holds an unreadable value in {0}")]
    Corrupt(&'static str),
}

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

/// A completed registration, ready to be written.
#[derive(Debug)]
pub struct NewRegistration<'a> {
    pub id: &'a str,
    pub reference: &'a str,
    pub method: Method,
    pub subject: SubjectKind,
    pub level: Level,
    pub pending: &'a [PendingCheck],
    pub identity_tag: [u8; 32],
    pub created_at: i64,
    pub envelope: &'a [u8],
}

/// One line of `kioskctl queue list`: metadata only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    pub id: String,
    pub reference: String,
    pub method: String,
    pub subject: String,
    pub level: u8,
    pub status: String,
    pub pending: Vec<String>,
    pub created_at: i64,
    pub attempts: i64,
    pub envelope_bytes: i64,
}

#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

type HmacSha256 = Hmac<Sha256>;

fn audit_mac(
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

fn append_audit_in(
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
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt("journal_mode"));
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Freed pages are zeroed, so deleted envelopes do not linger.
        conn.pragma_update(None, "secure_delete", "ON")?;
        let mut store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        let found: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if found > known {
            return Err(StoreError::TooNew { found, known });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Writes the registration, its outbox row and its audit entry in one
    /// transaction. When this returns `Ok`, the registration is on disk.
    pub fn complete(
        &mut self,
        reg: &NewRegistration<'_>,
        audit_key: &[u8; 32],
    ) -> Result<(), StoreError> {
        let pending: Vec<&str> = reg.pending.iter().map(PendingCheck::as_str).collect();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO registrations (id, reference, method, subject, level, status, pending, identity_tag, created_at, envelope)
             VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?8, ?9)",
            params![
                reg.id,
                reg.reference,
                reg.method.as_str(),
                reg.subject.as_str(),
                reg.level.get(),
                pending.join(","),
                &reg.identity_tag[..],
                reg.created_at,
                reg.envelope,
            ],
        )?;
        tx.execute(
            "INSERT INTO outbox (registration_id, next_attempt_at) VALUES (?1, ?2)",
            params![reg.id, reg.created_at],
        )?;
        let detail = format!(
            "method={} subject={} level={} pending={}",
            reg.method.as_str(),
            reg.subject.as_str(),
            reg.level.get(),
            pending.join(",")
        );
        append_audit_in(
            &tx,
            audit_key,
            reg.created_at,
            EVENT_COMPLETED,
            Some(reg.id),
            &detail,
        )?;
        tx.commit()?;
        Ok(())
    }

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

    /// Whether a registration for this identity was already made here.
    pub fn has_identity(&self, tag: &[u8; 32]) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM registrations WHERE identity_tag = ?1 AND status <> 'rejected' LIMIT 1", [&tag[..]], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Whether a reference number is taken.
    pub fn reference_exists(&self, reference: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM registrations WHERE reference = ?1",
                [reference],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Every registration, oldest first, metadata only.
    pub fn queue(&self) -> Result<Vec<QueueRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT r.id, r.reference, r.method, r.subject, r.level, r.status, r.pending, r.created_at,
                    COALESCE(o.attempts, 0), COALESCE(length(r.envelope), 0)
             FROM registrations r LEFT JOIN outbox o ON o.registration_id = r.id
             ORDER BY r.created_at, r.rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            let pending: String = r.get(6)?;
            Ok(QueueRow {
                id: r.get(0)?,
                reference: r.get(1)?,
                method: r.get(2)?,
                subject: r.get(3)?,
                level: r.get(4)?,
                status: r.get(5)?,
                pending: pending
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
                created_at: r.get(7)?,
                attempts: r.get(8)?,
                envelope_bytes: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The outbox as the relay sees it: ids, sizes and schedule only.
    pub fn outbox(&self) -> Result<Vec<kiosk_sync::relay::Queued>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT o.registration_id, COALESCE(length(r.envelope), 0), o.attempts, o.next_attempt_at, r.created_at
             FROM outbox o JOIN registrations r ON r.id = o.registration_id
             ORDER BY r.created_at, r.rowid",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(kiosk_sync::relay::Queued {
                registration_id: r.get(0)?,
                envelope_bytes: r.get::<_, i64>(1)? as usize,
                attempts: r.get(2)?,
                next_attempt_at: r.get(3)?,
                created_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many registrations wait in the outbox (the status bar's figure,
    /// read once a second: a count, not the rows).
    pub fn outbox_len(&self) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get::<_, i64>(0))?
            as usize)
    }

    /// The error of the most-tried waiting registration, for
    /// `kioskctl sync status`.
    pub fn last_relay_error(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT last_error FROM outbox WHERE last_error IS NOT NULL ORDER BY attempts DESC, next_attempt_at DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Records what the relay decided after an upload, in one transaction:
    /// a settled registration takes the portal's outcome as its status,
    /// leaves the outbox and gets an audit entry; a retried one gets its
    /// new schedule.
    pub fn apply_dispositions(
        &mut self,
        dispositions: &[kiosk_sync::relay::Disposition],
        audit_key: &[u8; 32],
        now: i64,
    ) -> Result<(), StoreError> {
        use kiosk_sync::relay::{Disposition, ItemOutcome};
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for d in dispositions {
            match d {
                Disposition::Settled {
                    registration_id,
                    outcome,
                } => {
                    let (status, detail) = match outcome {
                        ItemOutcome::Accepted => {
                            ("delivered", "accepted by the portal".to_string())
                        }
                        ItemOutcome::Duplicate => {
                            ("duplicate", "an account already exists".to_string())
                        }
                        ItemOutcome::Rejected(reason) => {
                            ("rejected", format!("rejected: {reason}"))
                        }
                        ItemOutcome::RetryLater => continue,
                    };
                    let changed = tx.execute(
                        "UPDATE registrations SET status = ?2 WHERE id = ?1 AND status = 'queued'",
                        params![registration_id, status],
                    )?;
                    if changed == 0 {
                        continue; // already settled by an earlier answer
                    }
                    tx.execute(
                        "DELETE FROM outbox WHERE registration_id = ?1",
                        [registration_id],
                    )?;
                    append_audit_in(
                        &tx,
                        audit_key,
                        now,
                        &format!("registration.{status}"),
                        Some(registration_id),
                        &detail,
                    )?;
                }
                Disposition::Retry {
                    registration_id,
                    next_attempt_at,
                    attempts,
                    error,
                } => {
                    tx.execute(
                        "UPDATE outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4 WHERE registration_id = ?1",
                        params![registration_id, attempts, next_attempt_at, error],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A value of the relay's state.
    pub fn sync_value(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM sync_state WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets (or with `None` clears) a value of the relay's state.
    pub fn set_sync_value(&mut self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        match value {
            Some(v) => self.conn.execute(
                "INSERT INTO sync_state (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, v],
            )?,
            None => self
                .conn
                .execute("DELETE FROM sync_state WHERE key = ?1", [key])?,
        };
        Ok(())
    }

    /// The status-feed cursor: the last change applied.
    pub fn status_cursor(&self) -> Result<i64, StoreError> {
        Ok(self
            .sync_value("status_cursor")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Applies status changes from the portal and moves the cursor past
    /// them, in one transaction. A registration the portal reports on
    /// leaves the outbox even if the upload's own answer was lost; a final
    /// status marks it settled, which starts its retention period.
    pub fn apply_status_changes(
        &mut self,
        changes: &[StatusChange],
        audit_key: &[u8; 32],
        now: i64,
    ) -> Result<usize, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut applied = 0;
        let mut cursor: Option<i64> = None;
        for c in changes {
            cursor = Some(cursor.map_or(c.cursor, |k| k.max(c.cursor)));
            let status = match c.status.as_str() {
                "accepted" => "delivered",
                other => other,
            };
            let changed = tx.execute(
                "UPDATE registrations SET status = ?2,
                        settled_at = CASE WHEN ?3 THEN COALESCE(settled_at, ?4) ELSE settled_at END
                 WHERE id = ?1 AND (status != ?2 OR (?3 AND settled_at IS NULL))",
                params![c.registration_id, status, c.terminal, now],
            )?;
            tx.execute(
                "DELETE FROM outbox WHERE registration_id = ?1",
                [&c.registration_id],
            )?;
            if changed > 0 {
                applied += 1;
                append_audit_in(
                    &tx,
                    audit_key,
                    now,
                    &format!("registration.status.{status}"),
                    Some(&c.registration_id),
                    if c.terminal {
                        "final status from the portal"
                    } else {
                        "status from the portal"
                    },
                )?;
            }
        }
        if let Some(cursor) = cursor {
            tx.execute(
                "INSERT INTO sync_state (key, value) VALUES ('status_cursor', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value
                 WHERE CAST(excluded.value AS INTEGER) > CAST(sync_state.value AS INTEGER)",
                [cursor.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(applied)
    }

    /// Deletes the sealed payloads of registrations settled at or before
    /// `settled_before`; the metadata and audit stay. Answers how many.
    pub fn purge_sealed(&mut self, settled_before: i64) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "UPDATE registrations SET envelope = NULL
             WHERE envelope IS NOT NULL AND settled_at IS NOT NULL AND settled_at <= ?1",
            [settled_before],
        )?)
    }

    /// The sealed envelope of a registration, for the relay.
    pub fn envelope(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT envelope FROM registrations WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Remembers that an OTP was sent to a number (by keyed hash).
    pub fn record_otp_sent(
        &mut self,
        phone_tag: &[u8; 32],
        sent_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO otp_challenges (phone_tag, sent_at, expires_at) VALUES (?1, ?2, ?3)",
            params![&phone_tag[..], sent_at, expires_at],
        )?;
        Ok(())
    }

    /// How many OTPs went to a number since `since`, across sessions; the
    /// runtime compares it with the policy's `max_sms_per_number_per_day`
    /// before it lets the modem send.
    pub fn otp_sent_since(&self, phone_tag: &[u8; 32], since: i64) -> Result<u32, StoreError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM otp_challenges WHERE phone_tag = ?1 AND sent_at >= ?2",
            params![&phone_tag[..], since],
            |r| r.get(0),
        )?)
    }

    /// Walks the audit chain and cross-checks it against the registrations
    /// and the outbox.
    pub fn verify_audit(&self, audit_key: &[u8; 32]) -> Result<AuditReport, AuditError> {
        let read = |e: rusqlite::Error| AuditError::Read(e.to_string());
        let mut stmt = self
            .conn
            .prepare("SELECT seq, at, event, registration_id, detail, prev_mac, mac FROM audit ORDER BY seq")
            .map_err(read)?;
        let mut rows = stmt.query([]).map_err(read)?;
        let mut expected = 1i64;
        let mut prev = vec![0u8; 32];
        while let Some(row) = rows.next().map_err(read)? {
            let seq: i64 = row.get(0).map_err(read)?;
            let at: i64 = row.get(1).map_err(read)?;
            let event: String = row.get(2).map_err(read)?;
            let registration_id: Option<String> = row.get(3).map_err(read)?;
            let detail: String = row.get(4).map_err(read)?;
            let prev_mac: Vec<u8> = row.get(5).map_err(read)?;
            let mac: Vec<u8> = row.get(6).map_err(read)?;
            if seq != expected {
                return Err(AuditError::Gap {
                    expected,
                    found: seq,
                });
            }
            if prev_mac != prev {
                return Err(AuditError::BrokenLink(seq));
            }
            if audit_mac(
                audit_key,
                &prev,
                seq,
                at,
                &event,
                registration_id.as_deref(),
                &detail,
            ) != mac
            {
                return Err(AuditError::BadMac(seq));
            }
            prev = mac;
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
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn reg<'a>(id: &'a str, reference: &'a str, tag: u8) -> NewRegistration<'a> {
        NewRegistration {
            id,
            reference,
            method: Method::MobileSubscriber,
            subject: SubjectKind::Citizen,
            level: Level::ONE,
            pending: &[PendingCheck::GlobalDuplicate],
            identity_tag: [tag; 32],
            created_at: 1_764_300_000,
            envelope: b"{sealed}",
        }
    }

    fn store_with(n: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("k.sqlite3")).unwrap();
        for i in 0..n {
            let (id, r) = (format!("id-{i}"), format!("REF-{i}"));
            store.complete(&reg(&id, &r, i as u8), &KEY).unwrap();
        }
        (dir, store)
    }

    #[test]
    fn completion_writes_registration_outbox_and_audit_together() {
        let (_dir, store) = store_with(3);
        let queue = store.queue().unwrap();
        assert_eq!(queue.len(), 3);
        assert_eq!(queue[0].status, "queued");
        assert_eq!(queue[0].pending, vec!["global_duplicate"]);
        assert_eq!(
            store.verify_audit(&KEY).unwrap(),
            AuditReport {
                entries: 3,
                registrations: 3
            }
        );
        assert!(store.has_identity(&[1; 32]).unwrap());
        assert!(!store.has_identity(&[9; 32]).unwrap());
        assert_eq!(store.envelope("id-2").unwrap().unwrap(), b"{sealed}");
    }

    #[test]
    fn a_failed_completion_leaves_nothing_behind() {
        let (_dir, mut store) = store_with(1);
        // Same reference: the UNIQUE constraint fails after nothing else was visible.
        let err = store.complete(&reg("id-9", "REF-0", 9), &KEY);
        assert!(err.is_err());
        assert_eq!(store.queue().unwrap().len(), 1);
        assert_eq!(store.verify_audit(&KEY).unwrap().entries, 1);
    }

    #[test]
    fn the_database_is_wal_with_full_sync_and_migrated() {
        let (_dir, store) = store_with(0);
        let c = store.connection();
        let mode: String = c
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        let sync: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 2));
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    }

    #[test]
    fn reopening_keeps_everything_and_migrates_nothing_twice() {
        let (dir, store) = store_with(2);
        drop(store);
        let store = Store::open(&dir.path().join("k.sqlite3")).unwrap();
        assert_eq!(store.queue().unwrap().len(), 2);
        assert_eq!(store.verify_audit(&KEY).unwrap().entries, 2);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let (dir, store) = store_with(0);
        store
            .connection()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        drop(store);
        assert!(matches!(
            Store::open(&dir.path().join("k.sqlite3")),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn the_audit_log_refuses_update_and_delete() {
        let (_dir, store) = store_with(2);
        let c = store.connection();
        assert!(
            c.execute("UPDATE audit SET detail = 'x' WHERE seq = 1", [])
                .is_err()
        );
        assert!(c.execute("DELETE FROM audit WHERE seq = 2", []).is_err());
    }

    #[test]
    fn an_edited_audit_row_is_detected() {
        let (_dir, store) = store_with(3);
        let c = store.connection();
        c.execute_batch("DROP TRIGGER audit_no_update; UPDATE audit SET detail = 'method=usb_token' WHERE seq = 2;").unwrap();
        assert_eq!(store.verify_audit(&KEY), Err(AuditError::BadMac(2)));
    }

    #[test]
    fn a_deleted_audit_row_is_detected() {
        let (_dir, store) = store_with(3);
        store
            .connection()
            .execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 2;")
            .unwrap();
        assert_eq!(
            store.verify_audit(&KEY),
            Err(AuditError::Gap {
                expected: 2,
                found: 3
            })
        );
    }

    #[test]
    fn a_deleted_last_row_is_detected_through_its_registration() {
        let (_dir, store) = store_with(3);
        store
            .connection()
            .execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 3;")
            .unwrap();
        assert_eq!(
            store.verify_audit(&KEY),
            Err(AuditError::MissingEntry("id-2".into()))
        );
    }

    #[test]
    fn a_forged_chain_without_the_key_is_detected() {
        let (_dir, store) = store_with(2);
        let c = store.connection();
        // Recomputing the chain with a guessed key does not help.
        let forged = audit_mac(
            &[0; 32],
            &[0; 32],
            1,
            1_764_300_000,
            EVENT_COMPLETED,
            Some("id-0"),
            "method=bhxh",
        );
        c.execute_batch("DROP TRIGGER audit_no_update;").unwrap();
        c.execute(
            "UPDATE audit SET detail = 'method=bhxh', mac = ?1 WHERE seq = 1",
            [forged],
        )
        .unwrap();
        assert_eq!(store.verify_audit(&KEY), Err(AuditError::BadMac(1)));
    }

    #[test]
    fn orphaned_and_missing_outbox_rows_are_detected() {
        let (_dir, store) = store_with(2);
        store
            .connection()
            .execute("DELETE FROM outbox WHERE registration_id = 'id-1'", [])
            .unwrap();
        assert_eq!(
            store.verify_audit(&KEY),
            Err(AuditError::NotInOutbox("id-1".into()))
        );
    }

    #[test]
    fn relay_dispositions_settle_or_reschedule_and_stay_audited() {
        use kiosk_sync::relay::{Disposition, ItemOutcome};
        let (_dir, mut store) = store_with(4);
        let outbox = store.outbox().unwrap();
        assert_eq!(outbox.len(), 4);
        assert_eq!((outbox[0].envelope_bytes, outbox[0].attempts), (8, 0));
        let decided = vec![
            Disposition::Settled {
                registration_id: "id-0".into(),
                outcome: ItemOutcome::Accepted,
            },
            Disposition::Settled {
                registration_id: "id-1".into(),
                outcome: ItemOutcome::Duplicate,
            },
            Disposition::Settled {
                registration_id: "id-2".into(),
                outcome: ItemOutcome::Rejected("BHXH data did not match".into()),
            },
            Disposition::Retry {
                registration_id: "id-3".into(),
                next_attempt_at: 2_000,
                attempts: 1,
                error: Some("connection refused".into()),
            },
        ];
        store
            .apply_dispositions(&decided, &KEY, 1_764_300_100)
            .unwrap();
        // The same answer arriving twice changes nothing.
        store
            .apply_dispositions(&decided[..1], &KEY, 1_764_300_200)
            .unwrap();
        let statuses: Vec<String> = store
            .queue()
            .unwrap()
            .into_iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(
            statuses,
            vec!["delivered", "duplicate", "rejected", "queued"]
        );
        let outbox = store.outbox().unwrap();
        assert_eq!(outbox.len(), 1);
        assert_eq!((outbox[0].attempts, outbox[0].next_attempt_at), (1, 2_000));
        assert_eq!(
            store.last_relay_error().unwrap().as_deref(),
            Some("connection refused")
        );
        assert_eq!(
            store.verify_audit(&KEY).unwrap(),
            AuditReport {
                entries: 7,
                registrations: 4
            }
        );
    }

    #[test]
    fn otp_sends_are_counted_per_number_across_sessions() {
        let (_dir, mut store) = store_with(0);
        for t in [100, 200, 300] {
            store.record_otp_sent(&[1; 32], t, t + 300).unwrap();
        }
        store.record_otp_sent(&[2; 32], 250, 550).unwrap();
        assert_eq!(store.otp_sent_since(&[1; 32], 150).unwrap(), 2);
        assert_eq!(store.otp_sent_since(&[2; 32], 0).unwrap(), 1);
    }
}
