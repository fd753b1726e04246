//! Live checks a kiosk asks while the citizen waits: does an account exist,
//! does a BHXH record match, who owns a mobile number. Intake runs the same
//! checks for a kiosk that was offline.

use rusqlite::{Connection, OptionalExtension};

use kiosk_sync::IdentityRef;

use crate::{Portal, PortalError};

/// Names as a clerk compares them: same letters, any case, any spacing.
fn same_name(a: &str, b: &str) -> bool {
    use unicode_normalization::UnicodeNormalization as _;
    let norm = |s: &str| {
        s.nfc()
            .collect::<String>()
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    norm(a) == norm(b)
}

impl Portal {
    /// Whether an account exists for `identity` (`cccd:…`, `mst:…`, …).
    pub fn account_exists(&self, identity: &IdentityRef) -> Result<bool, PortalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM accounts WHERE identity = ?1
                 UNION ALL SELECT 1 FROM identity_links WHERE alias = ?1 LIMIT 1",
                [&*identity.wire()],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The personal ID of the BHXH record with this code, when the name and
    /// date of birth match it (names compared without case or extra spaces).
    pub fn bhxh_match(
        &self,
        code: &str,
        full_name: &str,
        date_of_birth: &str,
    ) -> Result<Option<IdentityRef>, PortalError> {
        bhxh_match_in(&self.conn, code, full_name, date_of_birth)
    }

    /// What the carriers' registers say of `phone` and `personal_id`:
    /// `Some(true)` registered to that person, `Some(false)` to someone
    /// else, `None` unknown.
    pub fn subscriber_owner(
        &self,
        phone: &str,
        personal_id: &IdentityRef,
    ) -> Result<Option<bool>, PortalError> {
        subscriber_owner_in(&self.conn, phone, personal_id)
    }
}

pub(crate) fn bhxh_match_in(
    conn: &Connection,
    code: &str,
    full_name: &str,
    date_of_birth: &str,
) -> Result<Option<IdentityRef>, PortalError> {
    let record: Option<(String, String, String)> = conn
        .query_row(
            "SELECT full_name, date_of_birth, personal_id FROM bhxh_records WHERE code = ?1",
            [code],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(record.and_then(|(name, dob, id)| {
        // Fixtures are checked when loaded: an unreadable ID matches nobody.
        (same_name(&name, full_name) && dob == date_of_birth)
            .then(|| id.parse().ok())
            .flatten()
    }))
}

pub(crate) fn subscriber_owner_in(
    conn: &Connection,
    phone: &str,
    personal_id: &IdentityRef,
) -> Result<Option<bool>, PortalError> {
    let owner: Option<String> = conn
        .query_row(
            "SELECT personal_id FROM subscribers WHERE phone = ?1",
            [phone],
            |r| r.get(0),
        )
        .optional()?;
    Ok(owner.map(|o| *o == *personal_id.wire()))
}
