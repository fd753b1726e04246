//! The fleet: every kiosk's latest heartbeat, for the portal's admin.

use rusqlite::params;

use crate::{Portal, PortalError};

/// A kiosk as the admin CLI lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KioskRow {
    pub id: i64,
    pub public_key: String,
    pub enrolled_at: i64,
    pub revoked_at: Option<i64>,
    pub last_heartbeat_at: Option<i64>,
    pub last_heartbeat: Option<String>,
    pub registrations: i64,
}

impl Portal {
    /// Keeps the latest heartbeat of a kiosk.
    pub fn record_heartbeat(
        &mut self,
        kiosk_id: i64,
        report: &str,
        now: i64,
    ) -> Result<(), PortalError> {
        self.conn.execute(
            "INSERT INTO heartbeats (kiosk_id, at, report) VALUES (?1, ?2, ?3)
             ON CONFLICT (kiosk_id) DO UPDATE SET at = excluded.at, report = excluded.report",
            params![kiosk_id, now, report],
        )?;
        Ok(())
    }

    /// Every kiosk, for the admin CLI.
    pub fn kiosks(&self) -> Result<Vec<KioskRow>, PortalError> {
        let mut stmt = self.conn.prepare(
            "SELECT k.id, k.public_key, k.enrolled_at, k.revoked_at, h.at, h.report,
                    (SELECT COUNT(*) FROM registrations r WHERE r.kiosk_id = k.id)
             FROM kiosks k LEFT JOIN heartbeats h ON h.kiosk_id = k.id ORDER BY k.id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(KioskRow {
                id: r.get(0)?,
                public_key: r.get(1)?,
                enrolled_at: r.get(2)?,
                revoked_at: r.get(3)?,
                last_heartbeat_at: r.get(4)?,
                last_heartbeat: r.get(5)?,
                registrations: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
