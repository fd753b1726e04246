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

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::domain::{Level, Method, SubjectKind};
use crate::flow::PendingCheck;

mod audit;
mod relay;
#[cfg(test)]
mod tests;

use audit::append_audit_in;
pub use audit::{AuditError, AuditReport, EVENT_COMPLETED};
pub use relay::StatusChange;

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

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database file: {0}")]
    File(std::io::Error),
    #[error("database was written by a newer kiosk (schema {found}, this build knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("database holds an unreadable value in {0}")]
    Corrupt(&'static str),
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

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        kiosk_sync::private_file::create_owner_only(path).map_err(StoreError::File)?;
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
}
