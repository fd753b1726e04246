//! Recovery from a damaged database file: `kioskctl store salvage`.
//!
//! The damaged file is set aside untouched (`kiosk.sqlite3.damaged-<unix
//! time>`, its WAL beside it) and a fresh store is built in its place from
//! everything that can still be read:
//!
//! - every registration row that can be read, found by scanning the table
//!   and each of its indexes (a damaged page hides different rows from
//!   each) and then read one by one, so one bad page loses only the rows
//!   on it; its sealed envelope is carried over byte for byte, so the
//!   portal opens and verifies it as before;
//! - the outbox: the rows that can be read, and a fresh one for every
//!   registration still `queued` whose row was lost, so the relay delivers
//!   it (the portal answers a re-sent registration with the outcome it
//!   recorded, so nothing is created twice);
//! - the relay's state and the OTP log, what can be read of them;
//! - the audit chain up to its first unreadable or altered entry, verbatim
//!   (its MACs still verify), then a `store.salvaged` entry saying what was
//!   lost, then a completion entry marked `salvaged` for each registration
//!   whose own entry was beyond that point.
//!
//! Nothing personal is read in clear: the envelopes stay sealed.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use super::audit::{EVENT_COMPLETED, Entry, append_audit_in};
use super::{Store, StoreError};

/// What a salvage kept and lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalvageReport {
    /// Where the damaged file was set aside.
    pub damaged_copy: PathBuf,
    /// Registrations carried into the new store.
    pub registrations: usize,
    /// Of those, still waiting for the portal.
    pub queued: usize,
    /// Registration rows found in an index or the table that could not be
    /// read.
    pub unreadable: usize,
    /// Highest registration row number seen: with `registrations` and
    /// `unreadable`, a hint of how many rows vanished with their page.
    pub highest_row: i64,
    /// Audit entries carried over verbatim.
    pub audit_kept: usize,
    /// Registrations whose completion entry was rewritten as `salvaged`.
    pub audit_rewritten: usize,
    /// Outbox rows made anew for queued registrations whose row was lost.
    pub outbox_rebuilt: usize,
}

/// The event that opens the new part of a salvaged store's audit chain.
pub const EVENT_SALVAGED: &str = "store.salvaged";

const COLUMNS: &str = "id, reference, method, subject, level, status, pending, identity_tag, created_at, envelope, settled_at";

/// Salvages the database at `path` (see the module documentation).
/// The kiosk must not be running.
pub fn salvage(path: &Path, audit_key: &[u8; 32], now: i64) -> Result<SalvageReport, StoreError> {
    let aside = aside_name(path, now);
    move_with_journal(path, &aside)?;
    // Read from a scratch copy: opening even read-only may replay the WAL
    // into the file, and the damaged file stays as it was found.
    let scratch = aside.with_extension("salvage-scratch");
    copy_with_journal(&aside, &scratch)?;
    let result = salvage_from(&scratch, path, audit_key, now, &aside);
    remove_with_journal(&scratch);
    result
}

fn salvage_from(
    scratch: &Path,
    path: &Path,
    audit_key: &[u8; 32],
    now: i64,
    aside: &Path,
) -> Result<SalvageReport, StoreError> {
    let old = Connection::open_with_flags(
        scratch,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Damaged pages must not stop the reading; nothing is written.
    let _ = old.pragma_update(None, "query_only", true);
    let mut new = Store::open(path)?;
    let tx = new
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut report = SalvageReport {
        damaged_copy: aside.to_path_buf(),
        registrations: 0,
        queued: 0,
        unreadable: 0,
        highest_row: 0,
        audit_kept: 0,
        audit_rewritten: 0,
        outbox_rebuilt: 0,
    };

    // Registrations, each read on its own.
    let rowids = registration_rows(&old);
    report.highest_row = rowids.iter().next_back().copied().unwrap_or(0);
    let mut salvaged: Vec<(String, String, i64, String)> = Vec::new();
    for rowid in rowids {
        match copy_registration(&old, &tx, rowid) {
            Ok(row) => salvaged.push(row),
            Err(_) => report.unreadable += 1,
        }
    }
    report.registrations = salvaged.len();
    let ids: HashSet<&str> = salvaged.iter().map(|(id, ..)| id.as_str()).collect();

    // The outbox that can be read, then rows for queued ones without.
    for (id, attempts, next, error) in readable(
        &old,
        "SELECT registration_id, attempts, next_attempt_at, last_error FROM outbox",
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        },
    ) {
        if ids.contains(id.as_str()) {
            tx.execute(
                "INSERT OR IGNORE INTO outbox (registration_id, attempts, next_attempt_at, last_error) VALUES (?1, ?2, ?3, ?4)",
                params![id, attempts, next, error],
            )?;
        }
    }
    for (id, status, ..) in &salvaged {
        if status == "queued" {
            report.queued += 1;
            report.outbox_rebuilt += tx.execute(
                "INSERT OR IGNORE INTO outbox (registration_id, next_attempt_at) VALUES (?1, ?2)",
                params![id, now],
            )?;
        }
    }

    // The relay's state and the OTP log: whatever can be read.
    for (key, value) in readable(&old, "SELECT key, value FROM sync_state", |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    }) {
        tx.execute(
            "INSERT OR IGNORE INTO sync_state (key, value) VALUES (?1, ?2)",
            params![key, value],
        )?;
    }
    for (tag, sent, expires) in readable(
        &old,
        "SELECT phone_tag, sent_at, expires_at FROM otp_challenges",
        |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        },
    ) {
        tx.execute(
            "INSERT INTO otp_challenges (phone_tag, sent_at, expires_at) VALUES (?1, ?2, ?3)",
            params![tag, sent, expires],
        )?;
    }

    // The audit chain's sound prefix, verbatim.
    let mut completed: HashSet<String> = HashSet::new();
    let mut prev = vec![0u8; 32];
    let entries = readable(&old, Entry::SELECT, Entry::read);
    let audit_read = entries.len();
    for (expected, e) in (1i64..).zip(entries) {
        if e.seq != expected || e.prev_mac != prev || !e.mac_holds(audit_key, &prev) {
            break;
        }
        tx.execute(
            "INSERT INTO audit (seq, at, event, registration_id, detail, prev_mac, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![e.seq, e.at, e.event, e.registration_id, e.detail, e.prev_mac, e.mac],
        )?;
        if e.event == EVENT_COMPLETED
            && let Some(id) = e.registration_id
        {
            completed.insert(id);
        }
        prev = e.mac;
        report.audit_kept += 1;
    }
    append_audit_in(
        &tx,
        audit_key,
        now,
        EVENT_SALVAGED,
        None,
        &format!(
            "registrations={} unreadable={} highest_row={} audit_kept={} audit_read={} outbox_rebuilt={}",
            report.registrations,
            report.unreadable,
            report.highest_row,
            report.audit_kept,
            audit_read,
            report.outbox_rebuilt
        ),
    )?;
    for (id, _, created_at, detail) in &salvaged {
        if !completed.contains(id) {
            append_audit_in(
                &tx,
                audit_key,
                *created_at,
                EVENT_COMPLETED,
                Some(id),
                &format!("{detail} salvaged"),
            )?;
            report.audit_rewritten += 1;
        }
    }
    tx.commit()?;
    Ok(report)
}

/// Every registration row number an index or the table still leads to.
fn registration_rows(old: &Connection) -> BTreeSet<i64> {
    let mut rows = BTreeSet::new();
    for sql in [
        "SELECT rowid FROM registrations",
        "SELECT rowid, id FROM registrations INDEXED BY sqlite_autoindex_registrations_1 ORDER BY id",
        "SELECT rowid, reference FROM registrations INDEXED BY sqlite_autoindex_registrations_2 ORDER BY reference",
        "SELECT rowid, identity_tag FROM registrations INDEXED BY registrations_identity ORDER BY identity_tag",
    ] {
        rows.extend(readable(old, sql, |r| r.get::<_, i64>(0)));
    }
    rows
}

/// Copies one registration row; answers its id, status, time and the
/// detail its completion entry carries.
fn copy_registration(
    old: &Connection,
    tx: &rusqlite::Transaction<'_>,
    rowid: i64,
) -> Result<(String, String, i64, String), StoreError> {
    let row = old.query_row(
        &format!("SELECT {COLUMNS} FROM registrations WHERE rowid = ?1"),
        [rowid],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Vec<u8>>(7)?,
                r.get::<_, i64>(8)?,
                r.get::<_, Option<Vec<u8>>>(9)?,
                r.get::<_, Option<i64>>(10)?,
            ))
        },
    )?;
    let (id, reference, method, subject, level, status, pending, tag, created, envelope, settled) =
        row;
    tx.execute(
        &format!(
            "INSERT INTO registrations ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            id, reference, method, subject, level, status, pending, tag, created, envelope, settled
        ],
    )?;
    let detail = format!("method={method} subject={subject} level={level} pending={pending}");
    Ok((id, status, created, detail))
}

/// The rows of `sql` up to the first that cannot be read.
fn readable<T>(
    old: &Connection,
    sql: &str,
    map: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    let Ok(mut stmt) = old.prepare(sql) else {
        return out;
    };
    let Ok(mut rows) = stmt.query([]) else {
        return out;
    };
    while let Ok(Some(row)) = rows.next() {
        match map(row) {
            Ok(v) => out.push(v),
            Err(_) => continue,
        }
    }
    out
}

fn aside_name(path: &Path, now: i64) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{now}"));
    path.with_file_name(name)
}

fn journal(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn move_with_journal(from: &Path, to: &Path) -> Result<(), StoreError> {
    std::fs::rename(from, to).map_err(StoreError::File)?;
    for suffix in ["-wal", "-shm"] {
        let src = journal(from, suffix);
        if src.exists() {
            std::fs::rename(&src, journal(to, suffix)).map_err(StoreError::File)?;
        }
    }
    Ok(())
}

fn copy_with_journal(from: &Path, to: &Path) -> Result<(), StoreError> {
    std::fs::copy(from, to).map_err(StoreError::File)?;
    let wal = journal(from, "-wal");
    if wal.exists() {
        std::fs::copy(&wal, journal(to, "-wal")).map_err(StoreError::File)?;
    }
    Ok(())
}

fn remove_with_journal(path: &Path) {
    for p in [
        path.to_path_buf(),
        journal(path, "-wal"),
        journal(path, "-shm"),
    ] {
        let _ = std::fs::remove_file(p);
    }
}
