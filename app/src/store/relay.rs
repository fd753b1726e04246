//! What the relay reads and writes: the outbox, the relay's state, the
//! status feed's cursor and outcomes, and the retention of sealed payloads.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::audit::append_audit_in;
use super::{Store, StoreError};

/// A status change the portal reported for one of this kiosk's registrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub cursor: i64,
    pub registration_id: String,
    pub status: String,
    pub terminal: bool,
}

/// One outbox row as the relay sees it, from the columns both queries
/// select in the same order.
fn queued(r: &rusqlite::Row<'_>) -> rusqlite::Result<kiosk_sync::relay::Queued> {
    Ok(kiosk_sync::relay::Queued {
        registration_id: r.get(0)?,
        envelope_bytes: r.get::<_, i64>(1)? as usize,
        attempts: r.get(2)?,
        next_attempt_at: r.get(3)?,
        created_at: r.get(4)?,
    })
}

impl Store {
    /// The outbox as the relay sees it: ids, sizes and schedule only.
    pub fn outbox(&self) -> Result<Vec<kiosk_sync::relay::Queued>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT o.registration_id, COALESCE(length(r.envelope), 0), o.attempts, o.next_attempt_at, r.created_at
             FROM outbox o JOIN registrations r ON r.id = o.registration_id
             ORDER BY r.created_at, r.rowid",
        )?;
        let rows = stmt.query_map([], queued)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// At most `limit` rows due at `now` (or scheduled beyond `horizon`, by
    /// a clock since set back), oldest first: what the next batch is made
    /// of, found without reading the whole outbox.
    pub fn due_outbox(
        &self,
        now: i64,
        horizon: i64,
        limit: usize,
    ) -> Result<Vec<kiosk_sync::relay::Queued>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT o.registration_id, COALESCE(length(r.envelope), 0), o.attempts, o.next_attempt_at, r.created_at
             FROM registrations r JOIN outbox o ON o.registration_id = r.id
             WHERE o.next_attempt_at <= ?1 OR o.next_attempt_at > ?2
             ORDER BY r.created_at, r.rowid LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![now, horizon, limit as i64], queued)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The outbox in three figures: how many wait, when the oldest was
    /// made, when the next is due.
    pub fn outbox_summary(&self) -> Result<(usize, Option<i64>, Option<i64>), StoreError> {
        // Three indexed look-ups rather than one join over the outbox.
        let oldest = self
            .conn
            .query_row(
                "SELECT r.created_at FROM registrations r JOIN outbox o ON o.registration_id = r.id
                 ORDER BY r.created_at LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let next_due = self
            .conn
            .query_row("SELECT MIN(next_attempt_at) FROM outbox", [], |r| r.get(0))?;
        Ok((self.outbox_len()?, oldest, next_due))
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
                        ItemOutcome::RetryLater | ItemOutcome::Held(_) => continue,
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
}
