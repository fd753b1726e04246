//! The reference portal's core, without HTTP: kiosk enrolment, intake of
//! sealed registrations, accounts with duplicate detection across all
//! kiosks, the status feed, and import of export files.
//!
//! Intake is idempotent by registration id: re-sending a batch after a lost
//! answer, or importing the same file twice, answers the recorded outcome
//! and creates nothing twice. A batch is decided in one transaction (one
//! disk sync, not one per registration): a crash in the middle of it
//! records none of it, and the kiosk, which got no answer, sends it again.

use std::path::Path;

use rand::RngExt as _;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use crate::relay::ItemOutcome;
use crate::{
    DevicePublicKey, Envelope, ExportFile, PAYLOAD_SCHEMA, PortalSecretKey, RegistrationPayload,
};

/// How long a mobile-signature session is kept after it could last end
/// (its expiry): enough for a kiosk to read its outcome, no longer.
pub const SIGNATURE_SESSION_RETENTION_SECS: i64 = 3600;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS enrolment_codes (
    code_hash  BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    used_by    INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS kiosks (
    id          INTEGER PRIMARY KEY,
    public_key  TEXT NOT NULL UNIQUE,
    enrolled_at INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
CREATE TABLE IF NOT EXISTS accounts (
    id         INTEGER PRIMARY KEY,
    identity   TEXT NOT NULL UNIQUE,   -- cccd:…, cmnd:…, mst:…, bhxh:…
    level      INTEGER NOT NULL,
    pending    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    registration_id TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS registrations (
    registration_id TEXT PRIMARY KEY,
    kiosk_id        INTEGER NOT NULL REFERENCES kiosks (id),
    received_at     INTEGER NOT NULL,
    outcome         TEXT NOT NULL,     -- accepted, duplicate, rejected
    reason          TEXT,
    account_id      INTEGER REFERENCES accounts (id)
) STRICT;
CREATE TABLE IF NOT EXISTS nonces (
    kiosk_key TEXT NOT NULL,
    nonce     TEXT NOT NULL,
    created   INTEGER NOT NULL,
    PRIMARY KEY (kiosk_key, nonce)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heartbeats (
    kiosk_id INTEGER PRIMARY KEY REFERENCES kiosks (id),
    at       INTEGER NOT NULL,
    report   TEXT NOT NULL           -- JSON, no personal data
) STRICT;
CREATE TABLE IF NOT EXISTS policies (
    version      INTEGER PRIMARY KEY,
    document     TEXT NOT NULL,
    signature    TEXT NOT NULL,
    published_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS bhxh_records (   -- the social-insurance database, as fixtures
    code          TEXT PRIMARY KEY,
    full_name     TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,         -- YYYY-MM-DD
    personal_id   TEXT NOT NULL          -- cccd:… or cmnd:…
) STRICT;
CREATE TABLE IF NOT EXISTS subscribers (    -- the carriers' subscriber registers, as fixtures
    phone       TEXT PRIMARY KEY,        -- E.164
    personal_id TEXT NOT NULL            -- cccd:… or cmnd:…
) STRICT;
CREATE TABLE IF NOT EXISTS msig_users (     -- mobile-signature subscribers, as fixtures
    phone       TEXT PRIMARY KEY,        -- E.164
    full_name   TEXT NOT NULL,
    personal_id TEXT NOT NULL,           -- cccd:… or cmnd:…
    key_pkcs8   BLOB,                    -- made at the first signature
    certificate BLOB
) STRICT;
CREATE TABLE IF NOT EXISTS msig_sessions (
    id           TEXT PRIMARY KEY,
    kiosk_id     INTEGER NOT NULL,
    phone        TEXT NOT NULL,
    display_text TEXT NOT NULL,
    state        TEXT NOT NULL,          -- pending, signed, refused, expired, cancelled, no_signature_sim
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    certificate  BLOB,
    signature    BLOB
) STRICT;
CREATE TABLE IF NOT EXISTS status_feed (
    seq             INTEGER PRIMARY KEY,
    kiosk_id        INTEGER NOT NULL,
    registration_id TEXT NOT NULL,
    status          TEXT NOT NULL,
    at              INTEGER NOT NULL
) STRICT;
"#;

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("unknown or already used enrolment code")]
    BadCode,
    #[error("the enrolment code has expired")]
    CodeExpired,
    #[error("this kiosk is not enrolled")]
    UnknownKiosk,
    #[error("this kiosk has been revoked")]
    RevokedKiosk,
    #[error("mobile-signature service: {0}")]
    Mssp(String),
    #[error("a policy of this version or newer is already published")]
    StalePolicy,
    #[error("export file: {0}")]
    Export(#[from] crate::EnvelopeError),
}

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
    pub full_name: String,
    /// `cccd:…` or `cmnd:…`
    pub personal_id: String,
}

/// A mobile-signature session as the portal keeps it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignatureSession {
    pub id: String,
    pub phone: String,
    pub display_text: String,
    pub state: String,
    pub expires_at: i64,
    pub certificate: Option<Vec<u8>>,
    pub signature: Option<Vec<u8>>,
}

/// What the holder does on the phone (the simulated phone's buttons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneAnswer {
    Confirm,
    Refuse,
    /// Lets it run out, as if the phone were off.
    Expire,
}

/// The demo's people (`sync/fixtures/demo.json`): what the demo portal's
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
    pub personal_id: String,
}

#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscriber {
    /// E.164, e.g. `+84912345678`
    pub phone: String,
    /// `cccd:…` or `cmnd:…`
    pub personal_id: String,
}

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

/// A change of a registration's status, for the kiosk that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub cursor: i64,
    pub registration_id: String,
    pub status: String,
}

#[derive(Debug)]
pub struct Portal {
    conn: Connection,
    secret: PortalSecretKey,
}

fn code_hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.trim().as_bytes()).to_vec()
}

/// The identity an account is unique by, from what the kiosk sealed.
fn identity(p: &RegistrationPayload) -> Option<String> {
    if let (Some(kind), Some(id)) = (&p.personal_id_kind, &p.personal_id) {
        return Some(format!("{kind}:{id}"));
    }
    if let Some(mst) = &p.tax_code {
        return Some(format!("mst:{mst}"));
    }
    p.bhxh_code.as_ref().map(|c| format!("bhxh:{c}"))
}

impl Portal {
    pub fn open(path: &Path, secret: PortalSecretKey) -> Result<Portal, PortalError> {
        let conn = Connection::open(path)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Portal { conn, secret })
    }

    /// What kiosks seal registrations to.
    pub fn public_key(&self) -> crate::PortalPublicKey {
        self.secret.public_key()
    }

    /// A one-time code a technician types on the kiosk (eight digits),
    /// stored only as a hash.
    pub fn issue_enrolment_code(
        &mut self,
        now: i64,
        valid_for_secs: i64,
    ) -> Result<String, PortalError> {
        let code = format!("{:08}", rand::rng().random_range(0..100_000_000u32));
        self.conn.execute(
            "INSERT INTO enrolment_codes (code_hash, expires_at) VALUES (?1, ?2)",
            params![code_hash(&code), now + valid_for_secs],
        )?;
        Ok(code)
    }

    /// Enrols the kiosk holding `key` with a one-time code. Enrolling the
    /// same key again with a fresh code keeps its id.
    pub fn enrol(
        &mut self,
        code: &str,
        key: &DevicePublicKey,
        now: i64,
    ) -> Result<i64, PortalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row: Option<(i64, Option<i64>)> = tx
            .query_row(
                "SELECT expires_at, used_by FROM enrolment_codes WHERE code_hash = ?1",
                [code_hash(code)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None | Some((_, Some(_))) => return Err(PortalError::BadCode),
            Some((expires, None)) if expires < now => return Err(PortalError::CodeExpired),
            Some(_) => {}
        }
        tx.execute(
            "INSERT INTO kiosks (public_key, enrolled_at) VALUES (?1, ?2) ON CONFLICT (public_key) DO NOTHING",
            params![key.to_base64(), now],
        )?;
        let id: i64 = tx.query_row(
            "SELECT id FROM kiosks WHERE public_key = ?1",
            [key.to_base64()],
            |r| r.get(0),
        )?;
        tx.execute(
            "UPDATE enrolment_codes SET used_by = ?2 WHERE code_hash = ?1",
            params![code_hash(code), id],
        )?;
        tx.commit()?;
        Ok(id)
    }

    pub fn revoke(&mut self, kiosk_id: i64, now: i64) -> Result<(), PortalError> {
        self.conn.execute(
            "UPDATE kiosks SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![kiosk_id, now],
        )?;
        Ok(())
    }

    /// The enrolled, unrevoked kiosk holding `key`.
    pub fn kiosk(&self, key: &DevicePublicKey) -> Result<i64, PortalError> {
        let row: Option<(i64, Option<i64>)> = self
            .conn
            .query_row(
                "SELECT id, revoked_at FROM kiosks WHERE public_key = ?1",
                [key.to_base64()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            None => Err(PortalError::UnknownKiosk),
            Some((_, Some(_))) => Err(PortalError::RevokedKiosk),
            Some((id, None)) => Ok(id),
        }
    }

    /// Takes a batch from the kiosk holding `key`; answers one outcome per
    /// envelope, the recorded one for a registration seen before.
    pub fn receive(
        &mut self,
        key: &DevicePublicKey,
        envelopes: &[Envelope],
        now: i64,
    ) -> Result<Vec<(String, ItemOutcome)>, PortalError> {
        let kiosk = self.kiosk(key)?;
        let secret = &self.secret;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcomes = envelopes
            .iter()
            .map(|e| {
                Ok((
                    e.registration_id.clone(),
                    receive_one(&tx, secret, kiosk, key, e, now)?,
                ))
            })
            .collect::<Result<Vec<_>, PortalError>>()?;
        tx.commit()?;
        Ok(outcomes)
    }

    /// Imports a kiosk's export file; the same as receiving its envelopes.
    pub fn import(
        &mut self,
        bytes: &[u8],
        now: i64,
    ) -> Result<Vec<(String, ItemOutcome)>, PortalError> {
        let file = ExportFile::from_bytes(bytes)?;
        let key = DevicePublicKey::from_base64(&file.kiosk_key)?;
        self.receive(&key, &file.envelopes, now)
    }

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

    /// Remembers a request nonce of the kiosk holding `key`; false when it
    /// was seen before (a replay). Nonces older than `forget_before` are
    /// dropped: requests that old are refused by their timestamp anyway.
    pub fn remember_nonce(
        &mut self,
        key: &DevicePublicKey,
        nonce: &str,
        created: i64,
        forget_before: i64,
    ) -> Result<bool, PortalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM nonces WHERE created < ?1", [forget_before])?;
        let fresh = tx.execute(
            "INSERT INTO nonces (kiosk_key, nonce, created) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            params![key.to_base64(), nonce, created],
        )? == 1;
        tx.commit()?;
        Ok(fresh)
    }

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

    /// Publishes a signed policy. Versions only go up.
    pub fn publish_policy(
        &mut self,
        policy: &crate::api::SignedPolicy,
        now: i64,
    ) -> Result<(), PortalError> {
        let latest: Option<i64> =
            self.conn
                .query_row("SELECT MAX(version) FROM policies", [], |r| r.get(0))?;
        let version = i64::try_from(policy.version).map_err(|_| PortalError::StalePolicy)?;
        if latest.is_some_and(|l| l >= version) {
            return Err(PortalError::StalePolicy);
        }
        self.conn.execute(
            "INSERT INTO policies (version, document, signature, published_at) VALUES (?1, ?2, ?3, ?4)",
            params![version, policy.document, policy.signature, now],
        )?;
        Ok(())
    }

    /// The newest published policy.
    pub fn current_policy(&self) -> Result<Option<crate::api::SignedPolicy>, PortalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT version, document, signature FROM policies ORDER BY version DESC LIMIT 1",
                [],
                |r| {
                    Ok(crate::api::SignedPolicy {
                        version: r.get::<_, i64>(0)? as u64,
                        document: r.get(1)?,
                        signature: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    /// Accounts by level and pending state, for the admin CLI: never the
    /// identities themselves.
    pub fn account_summary(&self) -> Result<Vec<(i64, String, i64)>, PortalError> {
        let mut stmt = self.conn.prepare(
            "SELECT level, pending, COUNT(*) FROM accounts GROUP BY level, pending ORDER BY level, pending",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

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
                params![r.code, r.full_name, r.date_of_birth, r.personal_id],
            )?;
        }
        for u in &fixtures.mobile_signature {
            tx.execute(
                "INSERT INTO msig_users (phone, full_name, personal_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (phone) DO UPDATE SET full_name = excluded.full_name,
                    personal_id = excluded.personal_id, key_pkcs8 = NULL, certificate = NULL
                 WHERE full_name != excluded.full_name OR personal_id != excluded.personal_id",
                params![u.phone, u.full_name, u.personal_id],
            )?;
        }
        for s in &fixtures.subscribers {
            tx.execute(
                "INSERT OR REPLACE INTO subscribers (phone, personal_id) VALUES (?1, ?2)",
                params![s.phone, s.personal_id],
            )?;
        }
        tx.commit()?;
        Ok((fixtures.bhxh.len(), fixtures.subscribers.len()))
    }

    /// Whether an account exists for `identity` (`cccd:…`, `mst:…`, …).
    pub fn account_exists(&self, identity: &str) -> Result<bool, PortalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM accounts WHERE identity = ?1",
                [identity],
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
    ) -> Result<Option<String>, PortalError> {
        bhxh_match_in(&self.conn, code, full_name, date_of_birth)
    }

    /// What the carriers' registers say of `phone` and `personal_id`:
    /// `Some(true)` registered to that person, `Some(false)` to someone
    /// else, `None` unknown.
    pub fn subscriber_owner(
        &self,
        phone: &str,
        personal_id: &str,
    ) -> Result<Option<bool>, PortalError> {
        subscriber_owner_in(&self.conn, phone, personal_id)
    }

    /// Starts a mobile-signature session for a kiosk: the request goes to
    /// the holder's phone and waits for them. A number with no signing SIM
    /// ends at once as `no_signature_sim`. Sessions that ended more than
    /// [`SIGNATURE_SESSION_RETENTION_SECS`] ago (number, text, signature)
    /// are deleted first: the kiosk has long since read its outcome.
    pub fn start_signature(
        &mut self,
        kiosk_id: i64,
        phone: &str,
        display_text: &str,
        now: i64,
        valid_for_secs: i64,
    ) -> Result<SignatureSession, PortalError> {
        let known: bool = self
            .conn
            .query_row("SELECT 1 FROM msig_users WHERE phone = ?1", [phone], |_| {
                Ok(())
            })
            .optional()?
            .is_some();
        self.conn.execute(
            "DELETE FROM msig_sessions WHERE expires_at < ?1",
            [now - SIGNATURE_SESSION_RETENTION_SECS],
        )?;
        let id = format!("{:032x}", rand::rng().random::<u128>());
        let state = if known { "pending" } else { "no_signature_sim" };
        self.conn.execute(
            "INSERT INTO msig_sessions (id, kiosk_id, phone, display_text, state, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![id, kiosk_id, phone, display_text, state, now, now + valid_for_secs],
        )?;
        Ok(self
            .signature_session(Some(kiosk_id), &id, now)?
            .expect("just made"))
    }

    /// A session, for the kiosk that started it (`None`: any, for the
    /// phone). A pending session past its time becomes `expired`.
    pub fn signature_session(
        &mut self,
        kiosk_id: Option<i64>,
        id: &str,
        now: i64,
    ) -> Result<Option<SignatureSession>, PortalError> {
        self.conn.execute(
            "UPDATE msig_sessions SET state = 'expired' WHERE id = ?1 AND state = 'pending' AND expires_at < ?2",
            params![id, now],
        )?;
        Ok(self
            .conn
            .query_row(
                "SELECT id, phone, display_text, state, expires_at, certificate, signature
                 FROM msig_sessions WHERE id = ?1 AND (?2 IS NULL OR kiosk_id = ?2)",
                params![id, kiosk_id],
                session_row,
            )
            .optional()?)
    }

    /// The kiosk cancels (the citizen pressed Hủy): a pending session ends.
    pub fn cancel_signature(
        &mut self,
        kiosk_id: i64,
        id: &str,
        now: i64,
    ) -> Result<Option<SignatureSession>, PortalError> {
        self.conn.execute(
            "UPDATE msig_sessions SET state = 'cancelled' WHERE id = ?1 AND kiosk_id = ?2 AND state = 'pending'",
            params![id, kiosk_id],
        )?;
        self.signature_session(Some(kiosk_id), id, now)
    }

    /// Sessions waiting on a phone, oldest first (the simulated phone).
    pub fn pending_signatures(&self, now: i64) -> Result<Vec<SignatureSession>, PortalError> {
        // Read-only: a request past its time is simply not shown; it is
        // marked expired when its kiosk next asks.
        let mut stmt = self.conn.prepare(
            "SELECT id, phone, display_text, state, expires_at, certificate, signature
             FROM msig_sessions WHERE state = 'pending' AND expires_at >= ?1
             ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([now], session_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The holder answers on the phone. Confirming signs the text shown
    /// with the holder's SIM key (made, with its certificate, on first use).
    /// Answers the session after, or `None` when it is unknown.
    pub fn answer_signature(
        &mut self,
        id: &str,
        answer: PhoneAnswer,
        mssp: &crate::mssp::Mssp,
        now: i64,
    ) -> Result<Option<SignatureSession>, PortalError> {
        let Some(session) = self.signature_session(None, id, now)? else {
            return Ok(None);
        };
        if session.state != "pending" {
            return Ok(Some(session));
        }
        match answer {
            PhoneAnswer::Refuse | PhoneAnswer::Expire => {
                let state = if answer == PhoneAnswer::Refuse {
                    "refused"
                } else {
                    "expired"
                };
                self.conn.execute(
                    "UPDATE msig_sessions SET state = ?2 WHERE id = ?1 AND state = 'pending'",
                    params![id, state],
                )?;
            }
            PhoneAnswer::Confirm => {
                let (name, personal_id, key, cert): (String, String, Option<Vec<u8>>, Option<Vec<u8>>) =
                    self.conn.query_row(
                        "SELECT full_name, personal_id, key_pkcs8, certificate FROM msig_users WHERE phone = ?1",
                        [&session.phone],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                    )?;
                let (key, cert) = match (key, cert) {
                    (Some(k), Some(c)) => (k, c),
                    _ => {
                        let (k, c) = mssp.issue(&name, &personal_id).map_err(PortalError::Mssp)?;
                        self.conn.execute(
                            "UPDATE msig_users SET key_pkcs8 = ?2, certificate = ?3 WHERE phone = ?1",
                            params![session.phone, k, c],
                        )?;
                        (k, c)
                    }
                };
                let signature = crate::mssp::Mssp::sign(&key, session.display_text.as_bytes())
                    .map_err(PortalError::Mssp)?;
                self.conn.execute(
                    "UPDATE msig_sessions SET state = 'signed', certificate = ?2, signature = ?3 WHERE id = ?1 AND state = 'pending'",
                    params![id, cert, signature],
                )?;
            }
        }
        self.signature_session(None, id, now)
    }

    /// Accounts opened, for the admin CLI: never the identities themselves.
    pub fn account_count(&self) -> Result<i64, PortalError> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))?)
    }
}

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SignatureSession> {
    Ok(SignatureSession {
        id: r.get(0)?,
        phone: r.get(1)?,
        display_text: r.get(2)?,
        state: r.get(3)?,
        expires_at: r.get(4)?,
        certificate: r.get(5)?,
        signature: r.get(6)?,
    })
}

fn bhxh_match_in(
    conn: &Connection,
    code: &str,
    full_name: &str,
    date_of_birth: &str,
) -> Result<Option<String>, PortalError> {
    let record: Option<(String, String, String)> = conn
        .query_row(
            "SELECT full_name, date_of_birth, personal_id FROM bhxh_records WHERE code = ?1",
            [code],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(record.and_then(|(name, dob, id)| {
        (same_name(&name, full_name) && dob == date_of_birth).then_some(id)
    }))
}

fn subscriber_owner_in(
    conn: &Connection,
    phone: &str,
    personal_id: &str,
) -> Result<Option<bool>, PortalError> {
    let owner: Option<String> = conn
        .query_row(
            "SELECT personal_id FROM subscribers WHERE phone = ?1",
            [phone],
            |r| r.get(0),
        )
        .optional()?;
    Ok(owner.map(|o| o == personal_id))
}

/// Runs the checks the kiosk could not (it was offline): the reason the
/// registration is refused, or `None` when nothing stands in the way. A
/// register that does not know the number says nothing against it.
fn failed_check(conn: &Connection, p: &RegistrationPayload) -> Result<Option<String>, PortalError> {
    for check in &p.pending {
        match check.as_str() {
            "bhxh_match" => {
                let (Some(code), Some(name), Some(dob)) =
                    (&p.bhxh_code, &p.full_name, &p.date_of_birth)
                else {
                    return Ok(Some("BHXH data missing".into()));
                };
                if bhxh_match_in(conn, code, name, dob)?.is_none() {
                    return Ok(Some("BHXH data did not match".into()));
                }
            }
            "subscriber_ownership" => {
                if let (Some(phone), Some(kind), Some(id)) =
                    (&p.phone, &p.personal_id_kind, &p.personal_id)
                    && subscriber_owner_in(conn, phone, &format!("{kind}:{id}"))? == Some(false)
                {
                    return Ok(Some(
                        "the mobile number is registered to someone else".into(),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Decides one envelope of a batch inside the batch's transaction.
fn receive_one(
    tx: &rusqlite::Transaction<'_>,
    secret: &PortalSecretKey,
    kiosk: i64,
    key: &DevicePublicKey,
    envelope: &Envelope,
    now: i64,
) -> Result<ItemOutcome, PortalError> {
    // Nothing is recorded for an envelope this kiosk did not sign: a
    // replayed copy must not take the registration id from its maker.
    match envelope.verify() {
        Ok(signer) if signer == *key => {}
        Ok(_) => return Ok(ItemOutcome::Rejected("signed by another kiosk".into())),
        Err(e) => return Ok(ItemOutcome::Rejected(e.to_string())),
    }
    let seen: Option<(String, Option<String>)> = tx
        .query_row(
            "SELECT outcome, reason FROM registrations WHERE registration_id = ?1",
            [&envelope.registration_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((outcome, reason)) = seen {
        return Ok(match outcome.as_str() {
            "accepted" => ItemOutcome::Accepted,
            "duplicate" => ItemOutcome::Duplicate,
            _ => ItemOutcome::Rejected(reason.unwrap_or_default()),
        });
    }
    let opened = envelope.open(secret).map_err(|e| e.to_string());
    let payload = opened.and_then(|plain| {
        serde_json::from_slice::<RegistrationPayload>(&plain).map_err(|e| e.to_string())
    });
    let (outcome, reason, account) = match payload {
        Err(reason) => ("rejected", Some(reason), None),
        Ok(p) if p.schema != PAYLOAD_SCHEMA || p.registration_id != envelope.registration_id => (
            "rejected",
            Some("payload does not match its envelope".to_string()),
            None,
        ),
        Ok(p) => match (identity(&p), failed_check(tx, &p)?) {
            (None, _) => (
                "rejected",
                Some("no identity to open an account for".to_string()),
                None,
            ),
            (Some(_), Some(reason)) => ("rejected", Some(reason), None),
            (Some(identity), None) => {
                let existing: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM accounts WHERE identity = ?1",
                        [&identity],
                        |r| r.get(0),
                    )
                    .optional()?;
                match existing {
                    Some(id) => ("duplicate", None, Some(id)),
                    None => {
                        tx.execute(
                            "INSERT INTO accounts (identity, level, pending, created_at, registration_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![identity, p.level, p.pending.join(","), now, p.registration_id],
                        )?;
                        ("accepted", None, Some(tx.last_insert_rowid()))
                    }
                }
            }
        },
    };
    tx.execute(
        "INSERT INTO registrations (registration_id, kiosk_id, received_at, outcome, reason, account_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![envelope.registration_id, kiosk, now, outcome, reason, account],
    )?;
    // The reference portal runs every check on intake, so each outcome is
    // final at once: an accepted registration's account is active.
    let status = if outcome == "accepted" {
        "activated"
    } else {
        outcome
    };
    tx.execute(
        "INSERT INTO status_feed (kiosk_id, registration_id, status, at) VALUES (?1, ?2, ?3, ?4)",
        params![kiosk, envelope.registration_id, status, now],
    )?;
    Ok(match outcome {
        "accepted" => ItemOutcome::Accepted,
        "duplicate" => ItemOutcome::Duplicate,
        _ => ItemOutcome::Rejected(reason.unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DeviceKey, EnvelopeHeader, seal};

    fn payload(id: &str, person: &str) -> Vec<u8> {
        let p = RegistrationPayload {
            schema: PAYLOAD_SCHEMA.into(),
            registration_id: id.into(),
            reference: format!("DK-{id}"),
            created_at: 1,
            method: "mobile_subscriber".into(),
            subject: "citizen".into(),
            level: 1,
            pending: vec!["global_duplicate".into()],
            full_name: Some("Nguyễn Văn An".into()),
            business_name: None,
            personal_id_kind: Some("cccd".into()),
            personal_id: Some(person.into()),
            tax_code: None,
            bhxh_code: None,
            date_of_birth: Some("1999-09-05".into()),
            phone: Some("+84912345678".into()),
            email: None,
            certificate: None,
            password_hash: "$argon2id$…".into(),
        };
        serde_json::to_vec(&p).unwrap()
    }

    struct World {
        _dir: tempfile::TempDir,
        portal: Portal,
        public: crate::PortalPublicKey,
    }

    fn world() -> World {
        let dir = tempfile::tempdir().unwrap();
        let secret = PortalSecretKey::generate();
        let public = secret.public_key();
        World {
            portal: Portal::open(&dir.path().join("portal.sqlite3"), secret).unwrap(),
            public,
            _dir: dir,
        }
    }

    fn enrolled(w: &mut World) -> DeviceKey {
        let kiosk = DeviceKey::generate();
        let code = w.portal.issue_enrolment_code(0, 3600).unwrap();
        w.portal.enrol(&code, &kiosk.public_key(), 10).unwrap();
        kiosk
    }

    fn envelope(w: &World, kiosk: &DeviceKey, id: &str, person: &str) -> Envelope {
        seal(
            &payload(id, person),
            EnvelopeHeader::new(id, 1),
            &w.public,
            kiosk,
        )
        .unwrap()
    }

    #[test]
    fn ended_signature_sessions_are_deleted_after_their_retention() {
        let mut w = world();
        let first = w
            .portal
            .start_signature(1, "+84912345678", "Ma xac nhan: 1234", 1000, 120)
            .unwrap();
        let expiry = 1000 + 120;
        w.portal
            .start_signature(
                1,
                "+84912345679",
                "Ma xac nhan: 5678",
                expiry + SIGNATURE_SESSION_RETENTION_SECS,
                120,
            )
            .unwrap();
        assert!(
            w.portal
                .signature_session(
                    Some(1),
                    &first.id,
                    expiry + SIGNATURE_SESSION_RETENTION_SECS
                )
                .unwrap()
                .is_some(),
            "kept until its retention is over"
        );
        let now = expiry + SIGNATURE_SESSION_RETENTION_SECS + 1;
        w.portal
            .start_signature(1, "+84912345670", "Ma xac nhan: 9012", now, 120)
            .unwrap();
        assert!(
            w.portal
                .signature_session(Some(1), &first.id, now)
                .unwrap()
                .is_none()
        );
        let left: i64 = w
            .portal
            .conn
            .query_row("SELECT COUNT(*) FROM msig_sessions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 2);
    }

    #[test]
    fn enrolment_codes_are_one_time_and_expire() {
        let mut w = world();
        let kiosk = DeviceKey::generate();
        let code = w.portal.issue_enrolment_code(0, 60).unwrap();
        assert_eq!(code.len(), 8);
        assert!(matches!(
            w.portal.enrol(&code, &kiosk.public_key(), 61),
            Err(PortalError::CodeExpired)
        ));
        let code = w.portal.issue_enrolment_code(100, 60).unwrap();
        let id = w.portal.enrol(&code, &kiosk.public_key(), 110).unwrap();
        assert!(matches!(
            w.portal
                .enrol(&code, &DeviceKey::generate().public_key(), 111),
            Err(PortalError::BadCode)
        ));
        assert!(matches!(
            w.portal.enrol("00000000", &kiosk.public_key(), 111),
            Err(PortalError::BadCode)
        ));
        assert_eq!(w.portal.kiosk(&kiosk.public_key()).unwrap(), id);
    }

    #[test]
    fn a_resent_batch_creates_nothing_twice() {
        let mut w = world();
        let kiosk = enrolled(&mut w);
        let batch = vec![
            envelope(&w, &kiosk, "r1", "051099000001"),
            envelope(&w, &kiosk, "r2", "051099000002"),
        ];
        let first = w.portal.receive(&kiosk.public_key(), &batch, 100).unwrap();
        let again = w.portal.receive(&kiosk.public_key(), &batch, 200).unwrap();
        assert_eq!(
            first,
            vec![
                ("r1".into(), ItemOutcome::Accepted),
                ("r2".into(), ItemOutcome::Accepted)
            ]
        );
        assert_eq!(again, first);
        assert_eq!(w.portal.account_count().unwrap(), 2);
        assert_eq!(
            w.portal.status_since(&kiosk.public_key(), 0).unwrap().len(),
            2
        );
    }

    #[test]
    fn the_same_citizen_at_two_offline_kiosks_gets_one_account() {
        let mut w = world();
        let (a, b) = (enrolled(&mut w), enrolled(&mut w));
        let from_a = envelope(&w, &a, "ra", "051099000009");
        let from_b = envelope(&w, &b, "rb", "051099000009");
        assert_eq!(
            w.portal.receive(&a.public_key(), &[from_a], 100).unwrap()[0].1,
            ItemOutcome::Accepted
        );
        assert_eq!(
            w.portal.receive(&b.public_key(), &[from_b], 101).unwrap()[0].1,
            ItemOutcome::Duplicate
        );
        assert_eq!(w.portal.account_count().unwrap(), 1);
        let feed = w.portal.status_since(&b.public_key(), 0).unwrap();
        assert_eq!(
            (feed[0].registration_id.as_str(), feed[0].status.as_str()),
            ("rb", "duplicate")
        );
        // Each kiosk reads only its own feed, from its cursor on.
        assert_eq!(
            w.portal
                .status_since(&a.public_key(), feed[0].cursor)
                .unwrap(),
            vec![]
        );
    }

    #[test]
    fn unknown_revoked_and_forged_senders_are_refused() {
        let mut w = world();
        let kiosk = enrolled(&mut w);
        let stranger = DeviceKey::generate();
        let e = envelope(&w, &stranger, "rx", "051099000003");
        assert!(matches!(
            w.portal
                .receive(&stranger.public_key(), std::slice::from_ref(&e), 1),
            Err(PortalError::UnknownKiosk)
        ));
        // An enrolled kiosk relaying another kiosk's envelope: refused for that item.
        let out = w.portal.receive(&kiosk.public_key(), &[e], 2).unwrap();
        assert!(matches!(&out[0].1, ItemOutcome::Rejected(r) if r.contains("another kiosk")));
        let id = w.portal.kiosk(&kiosk.public_key()).unwrap();
        w.portal.revoke(id, 3).unwrap();
        let e = envelope(&w, &kiosk, "ry", "051099000004");
        assert!(matches!(
            w.portal.receive(&kiosk.public_key(), &[e], 4),
            Err(PortalError::RevokedKiosk)
        ));
    }

    #[test]
    fn importing_the_same_export_twice_creates_nothing_twice() {
        let mut w = world();
        let kiosk = enrolled(&mut w);
        let file = ExportFile::new(
            &kiosk.public_key(),
            5,
            vec![
                envelope(&w, &kiosk, "u1", "051099000005"),
                envelope(&w, &kiosk, "u2", "051099000006"),
            ],
        );
        let bytes = file.to_bytes();
        let first = w.portal.import(&bytes, 10).unwrap();
        assert_eq!(w.portal.import(&bytes, 20).unwrap(), first);
        assert_eq!(w.portal.account_count().unwrap(), 2);
        assert_eq!(
            w.portal.status_since(&kiosk.public_key(), 0).unwrap().len(),
            2
        );
    }

    #[test]
    fn a_replayed_envelope_cannot_take_the_registration_from_its_maker() {
        let mut w = world();
        let (maker, replayer) = (enrolled(&mut w), enrolled(&mut w));
        let e = envelope(&w, &maker, "stolen", "051099000011");
        let out = w
            .portal
            .receive(&replayer.public_key(), std::slice::from_ref(&e), 1)
            .unwrap();
        assert!(matches!(&out[0].1, ItemOutcome::Rejected(r) if r.contains("another kiosk")));
        assert_eq!(
            w.portal.receive(&maker.public_key(), &[e], 2).unwrap()[0].1,
            ItemOutcome::Accepted
        );
        assert!(
            w.portal
                .status_since(&replayer.public_key(), 0)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn checks_left_pending_by_an_offline_kiosk_run_on_intake() {
        let mut w = world();
        w.portal.load_fixtures(&demo_fixtures()).unwrap();
        let kiosk = enrolled(&mut w);
        let sealed = |id: &str, edit: &dyn Fn(&mut RegistrationPayload)| {
            let mut p: RegistrationPayload =
                serde_json::from_slice(&payload(id, "051085001234")).unwrap();
            edit(&mut p);
            seal(
                &serde_json::to_vec(&p).unwrap(),
                EnvelopeHeader::new(id, 1),
                &w.public,
                &kiosk,
            )
            .unwrap()
        };
        let bhxh = |name: &'static str, dob: &'static str| {
            move |p: &mut RegistrationPayload| {
                p.personal_id = Some("079192004567".into());
                p.pending = vec!["bhxh_match".into()];
                p.bhxh_code = Some("7901234568".into());
                p.full_name = Some(name.into());
                p.date_of_birth = Some(dob.into());
            }
        };
        let wrong_dob = sealed("b1", &bhxh("Trần Thị Thủy", "1992-11-03"));
        let stranger_phone = sealed("s1", &|p: &mut RegistrationPayload| {
            p.pending = vec!["subscriber_ownership".into()];
            p.phone = Some("+84987654321".into()); // Trần Thị Thủy's
        });
        let right = sealed("b2", &bhxh("TRẦN THỊ THỦY", "1992-11-02"));
        let out = w
            .portal
            .receive(&kiosk.public_key(), &[wrong_dob, stranger_phone, right], 5)
            .unwrap();
        assert_eq!(
            out[0].1,
            ItemOutcome::Rejected("BHXH data did not match".into())
        );
        assert!(matches!(&out[1].1, ItemOutcome::Rejected(r) if r.contains("someone else")));
        assert_eq!(out[2].1, ItemOutcome::Accepted);
        assert_eq!(w.portal.account_count().unwrap(), 1);
        let feed: Vec<String> = w
            .portal
            .status_since(&kiosk.public_key(), 0)
            .unwrap()
            .into_iter()
            .map(|c| c.status)
            .collect();
        assert_eq!(feed, vec!["rejected", "rejected", "activated"]);
    }

    #[test]
    fn a_tampered_envelope_is_rejected_and_stays_rejected() {
        let mut w = world();
        let kiosk = enrolled(&mut w);
        let mut e = envelope(&w, &kiosk, "t1", "051099000007");
        e.ciphertext[3] ^= 1;
        let out = w
            .portal
            .receive(&kiosk.public_key(), &[e.clone()], 1)
            .unwrap();
        assert!(matches!(&out[0].1, ItemOutcome::Rejected(_)));
        assert_eq!(w.portal.receive(&kiosk.public_key(), &[e], 2).unwrap(), out);
        assert_eq!(w.portal.account_count().unwrap(), 0);
    }
}

opaque_debug!(
    Fixtures,
    BhxhRecord,
    Subscriber,
    SignatureUser,
    SignatureSession
);
