//! Reference data the live checks answer from: the portal's stand-in for
//! the BHXH database, the carriers' subscriber registers and the
//! mobile-signature subscribers, loaded from JSON.

use rusqlite::{TransactionBehavior, params};

use kiosk_sync::IdentityRef;

use crate::{Portal, PortalError};

/// Reference data for the live checks, as `portal load-fixtures` reads it
/// (JSON).
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixtures {
    #[serde(default)]
    pub bhxh: Vec<BhxhRecord>,
    #[serde(default)]
    pub subscribers: Vec<Subscriber>,
    /// Subscribers with a signing SIM.
    #[serde(default)]
    pub mobile_signature: Vec<SignatureUser>,
}

#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureUser {
    /// E.164
    pub phone: String,
    /// The person's name, or the organisation's.
    pub full_name: String,
    /// `cccd:…` or `cmnd:…`, or `mst:…` for an organisation's SIM.
    pub personal_id: IdentityRef,
}

/// The demo's people (`sync/portal/fixtures/demo.json`): what the demo portal's
/// live checks know.
pub fn demo_fixtures() -> Fixtures {
    serde_json::from_str(include_str!("../fixtures/demo.json")).expect("the demo fixtures parse")
}

#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BhxhRecord {
    pub code: String,
    pub full_name: String,
    /// YYYY-MM-DD
    pub date_of_birth: String,
    /// `cccd:…` or `cmnd:…`
    pub personal_id: IdentityRef,
}

#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscriber {
    /// E.164, e.g. `+84912345678`
    pub phone: String,
    /// `cccd:…` or `cmnd:…`
    pub personal_id: IdentityRef,
}

impl Portal {
    /// Loads reference data the live checks answer from (the portal's
    /// stand-in for the BHXH database and the carriers' registers).
    /// Loading the same file again replaces its records.
    pub fn load_fixtures(&mut self, fixtures: &Fixtures) -> Result<(usize, usize), PortalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for r in &fixtures.bhxh {
            tx.execute(
                "INSERT OR REPLACE INTO bhxh_records (code, full_name, date_of_birth, personal_id) VALUES (?1, ?2, ?3, ?4)",
                params![r.code, r.full_name, r.date_of_birth, &*r.personal_id.wire()],
            )?;
        }
        for u in &fixtures.mobile_signature {
            tx.execute(
                "INSERT INTO msig_users (phone, full_name, personal_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (phone) DO UPDATE SET full_name = excluded.full_name,
                    personal_id = excluded.personal_id, key_pkcs8 = NULL, certificate = NULL
                 WHERE full_name != excluded.full_name OR personal_id != excluded.personal_id",
                params![u.phone, u.full_name, &*u.personal_id.wire()],
            )?;
        }
        for s in &fixtures.subscribers {
            tx.execute(
                "INSERT OR REPLACE INTO subscribers (phone, personal_id) VALUES (?1, ?2)",
                params![s.phone, &*s.personal_id.wire()],
            )?;
        }
        tx.commit()?;
        Ok((fixtures.bhxh.len(), fixtures.subscribers.len()))
    }
}
