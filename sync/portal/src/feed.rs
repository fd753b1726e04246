//! The status feed: each registration's outcome, for the kiosk that made
//! it, read after a cursor.

use rusqlite::params;

use kiosk_sync::DevicePublicKey;

use crate::{Portal, PortalError};

/// A change of a registration's status, for the kiosk that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub cursor: i64,
    pub registration_id: String,
    pub status: String,
}

impl Portal {
    /// Status changes for the kiosk holding `key` after `cursor`.
    pub fn status_since(
        &self,
        key: &DevicePublicKey,
        cursor: i64,
    ) -> Result<Vec<StatusChange>, PortalError> {
        self.status_page(key, cursor, i64::MAX)
    }

    /// At most `limit` status changes after `cursor`, oldest first.
    pub fn status_page(
        &self,
        key: &DevicePublicKey,
        cursor: i64,
        limit: i64,
    ) -> Result<Vec<StatusChange>, PortalError> {
        let kiosk = self.kiosk(key)?;
        let mut stmt = self
            .conn
            .prepare("SELECT seq, registration_id, status FROM status_feed WHERE kiosk_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")?;
        let rows = stmt.query_map(params![kiosk, cursor, limit], |r| {
            Ok(StatusChange {
                cursor: r.get(0)?,
                registration_id: r.get(1)?,
                status: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
