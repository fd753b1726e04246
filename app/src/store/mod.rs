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
//!
//! Two things stop the kiosk taking registrations without losing any it
//! has: a data partition nearly full ([`Storage::Full`], which clears by
//! itself when space returns) and a damaged database file, found by
//! `PRAGMA quick_check` at every open ([`StoreError::Damaged`]), which a
//! technician repairs with `kioskctl store salvage` (see [`salvage`]).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::domain::{Method, SubjectKind};
use crate::flow::PendingCheck;

mod audit;
mod relay;
pub mod salvage;
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
    r#"
-- The audit check looks up each registration's completion entry: without
-- this, `kioskctl status` took two minutes at 50,000 queued.
CREATE INDEX audit_registration ON audit (registration_id, event);
-- The relay takes the oldest due registrations first, a batch at a time,
-- and sleeps until the next is due.
CREATE INDEX registrations_created ON registrations (created_at);
CREATE INDEX outbox_due ON outbox (next_attempt_at);
"#,
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("database file: {0}")]
    File(std::io::Error),
    #[error("database was written by a newer kiosk (schema {found}, this build knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("database holds an unreadable value in {0}")]
    Corrupt(&'static str),
    /// SQLite found the file damaged (`quick_check` at open, or a damaged
    /// page met later). Nothing more is written into it.
    #[error("the database file is damaged ({0}); run `kioskctl store salvage`")]
    Damaged(String),
    /// The data partition has no room left for the write.
    #[error("the data partition is full")]
    Full,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        use rusqlite::ErrorCode::{DatabaseCorrupt, DiskFull, NotADatabase};
        match e.sqlite_error_code() {
            Some(DiskFull) => StoreError::Full,
            Some(DatabaseCorrupt | NotADatabase) => StoreError::Damaged(e.to_string()),
            _ => StoreError::Sqlite(e),
        }
    }
}

/// Below this much free space on the data partition the kiosk starts no
/// new registration: room for the ones already under way, the relay's
/// bookkeeping and SQLite's checkpoints.
pub const RESERVE_BYTES: u64 = 16 * 1024 * 1024;

/// What the kiosk's own records say of an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// A registration waits here to be delivered, under this reference.
    Queued { reference: String },
    /// The portal has a registration for it.
    Delivered,
}

/// Whether the store can take a new registration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Storage {
    #[default]
    Ready,
    /// Less than [`RESERVE_BYTES`] free; clears when space returns.
    Full,
    /// The database file is damaged; a technician must salvage it.
    Damaged,
}

/// A completed registration, ready to be written.
#[derive(Debug)]
pub struct NewRegistration<'a> {
    pub id: &'a str,
    pub reference: &'a str,
    /// For a complaint (reference `KN-…`), the method of the registration
    /// that found the account.
    pub method: Method,
    pub subject: SubjectKind,
    /// The account's level once nothing is pending; 0 for a complaint.
    pub level: u8,
    pub pending: &'a [PendingCheck],
    pub identity_tag: [u8; 32],
    pub created_at: i64,
    pub envelope: &'a [u8],
    /// At a counter: the clerk's staff code, for the audit entry.
    pub clerk: Option<&'a str>,
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

/// A registration of this kiosk as its reference looks it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalLookup {
    pub method: String,
    pub subject: String,
    pub level: u8,
    /// `queued`, `delivered`, `activated`, `duplicate`, `rejected`.
    pub status: String,
    pub created_at: i64,
    /// When the portal's answer or last status came, if one came.
    pub decided_at: Option<i64>,
    /// The portal's reason, as recorded, for a rejected one.
    pub rejected_because: Option<String>,
}

#[derive(Debug)]
pub struct Store {
    conn: Connection,
    /// The database file, `None` for the stand-in of a damaged one.
    path: Option<PathBuf>,
    /// Why the store takes no registration, once it found itself damaged.
    damaged: Option<String>,
}

impl Store {
    /// Opens (creating if needed), checks and migrates the database at
    /// `path`. A damaged file is [`StoreError::Damaged`], and nothing is
    /// written into it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        kiosk_sync::private_file::create_owner_only(path).map_err(StoreError::File)?;
        let conn = Connection::open(path)?;
        // Before anything writes: the journal mode and the migrations do.
        let problems = quick_check(&conn)?;
        if !problems.is_empty() {
            return Err(StoreError::Damaged(problems.join("; ")));
        }
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
        let mut store = Store {
            conn,
            path: Some(path.to_path_buf()),
            damaged: None,
        };
        store.migrate()?;
        Ok(store)
    }

    /// What the kiosk runs on when its database is damaged: an empty store
    /// in memory that takes no registration and says why, so the screen can
    /// tell citizens the kiosk is out of service while the damaged file
    /// waits, untouched, for `kioskctl store salvage`.
    pub fn out_of_service(why: String) -> Result<Store, StoreError> {
        let mut store = Store {
            conn: Connection::open_in_memory()?,
            path: None,
            damaged: Some(why),
        };
        store.migrate()?;
        Ok(store)
    }

    /// Whether a new registration can be started: the file is sound and
    /// the partition has room.
    pub fn storage(&self) -> Storage {
        if self.damaged.is_some() {
            return Storage::Damaged;
        }
        match self.free_bytes() {
            Some(free) if free < RESERVE_BYTES => Storage::Full,
            _ => Storage::Ready,
        }
    }

    /// Why the store is out of service, if it is.
    pub fn damage(&self) -> Option<&str> {
        self.damaged.as_deref()
    }

    /// Free bytes for the kiosk on the database's partition.
    pub fn free_bytes(&self) -> Option<u64> {
        let dir = self.path.as_deref()?.parent()?;
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let st = rustix::fs::statvfs(dir).ok()?;
        Some(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Notes a damaged page met while working: from then on the store
    /// takes no registration.
    fn note<T>(&mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(StoreError::Damaged(why)) = &result {
            tracing::error!(problem = %why, "the database file is damaged; no more registrations are taken");
            self.damaged = Some(why.clone());
        }
        result
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
        if let Some(why) = &self.damaged {
            return Err(StoreError::Damaged(why.clone()));
        }
        let result = self.write_registration(reg, audit_key);
        self.note(result)
    }

    fn write_registration(
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
                reg.level,
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
        let mut detail = format!(
            "method={} subject={} level={} pending={}",
            reg.method.as_str(),
            reg.subject.as_str(),
            reg.level,
            pending.join(",")
        );
        if let Some(clerk) = reg.clerk {
            detail.push_str(&format!(" clerk={clerk}"));
        }
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
        Ok(self.identity_here(tag)?.is_some())
    }

    /// What this kiosk knows of an identity: a registration still waiting
    /// here to be delivered (its reference), or one the portal has taken
    /// (an account, or its duplicate). Rejected registrations count for
    /// nothing, and neither do complaints (`KN-…`) nor a counter's password
    /// resets (`MK-…`, an account's, not a new one): a complaint says the account
    /// is not the person's, not that they have one.
    pub fn identity_here(&self, tag: &[u8; 32]) -> Result<Option<Known>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT status, reference FROM registrations
                 WHERE identity_tag = ?1 AND status <> 'rejected' AND reference NOT LIKE 'KN-%' AND reference NOT LIKE 'MK-%'
                 ORDER BY status = 'queued' DESC LIMIT 1",
                [&tag[..]],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?
            .map(|(status, reference)| match status.as_str() {
                "queued" => Known::Queued { reference },
                _ => Known::Delivered,
            }))
    }

    /// `PRAGMA quick_check`: empty when the file is sound, else SQLite's
    /// findings (page numbers and structure, never a row's content).
    pub fn quick_check(&self) -> Result<Vec<String>, StoreError> {
        quick_check(&self.conn)
    }

    /// The registration this kiosk made under `reference` (normalised), as
    /// the citizen's lookup shows it: metadata only.
    pub fn by_reference(&self, reference: &str) -> Result<Option<LocalLookup>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT r.method, r.subject, r.level, r.status, r.created_at,
                        COALESCE(r.settled_at,
                                 (SELECT MAX(a.at) FROM audit a
                                  WHERE a.registration_id = r.id AND a.event <> ?2)),
                        (SELECT a.detail FROM audit a
                         WHERE a.registration_id = r.id AND a.event = 'registration.rejected'
                         ORDER BY a.seq DESC LIMIT 1)
                 FROM registrations r WHERE r.reference = ?1",
                params![reference, audit::EVENT_COMPLETED],
                |r| {
                    Ok(LocalLookup {
                        method: r.get(0)?,
                        subject: r.get(1)?,
                        level: r.get(2)?,
                        status: r.get(3)?,
                        created_at: r.get(4)?,
                        decided_at: r.get(5)?,
                        rejected_because: r.get(6)?,
                    })
                },
            )
            .optional()?)
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

fn quick_check(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare("PRAGMA quick_check")?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if rows.len() == 1 && rows[0] == "ok" {
        Vec::new()
    } else {
        rows
    })
}
