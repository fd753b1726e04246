//! What the counter's desk asks of the worker: today's list and the
//! clerk's audit entries.

use super::Backend;
use crate::flow::TodayRow;

impl Backend {
    /// The registrations made here since `since` (Unix seconds), newest
    /// first: what the counter's supervisor view lists.
    pub(super) fn today(&self, since: i64) -> Vec<TodayRow> {
        match self.store.queue() {
            Ok(rows) => rows
                .into_iter()
                .rev()
                .filter(|r| r.created_at >= since)
                .map(|r| TodayRow {
                    reference: r.reference,
                    method: r.method,
                    level: r.level,
                    status: r.status,
                    attempts: r.attempts,
                    pending: r.pending,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "today's registrations could not be read");
                Vec::new()
            }
        }
    }

    /// Notes something the counter's clerk did in the audit chain.
    pub fn audit_desk(&mut self, event: &str, detail: &str) {
        let now = (self.clock)();
        self.audit(now, event, detail);
    }
}
