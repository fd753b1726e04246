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

use rusqlite::{Connection, OptionalExtension};

use kiosk_sync::PortalSecretKey;

mod checks;
mod complaints;
mod counter_resets;
mod enrolment;
mod evidence;
mod feed;
mod fixtures;
mod fleet;
mod intake;
mod lookup;
pub mod mssp;
mod policy;
mod resets;
pub mod server;
mod signature;
pub mod tls;

pub use complaints::ComplaintRow;
pub use enrolment::{
    EnrolmentFailure, FAILURE_WINDOW_SECS, MAX_FAILURES_PER_SOURCE, MAX_WRONG_TRIES,
};
pub use evidence::{CertificateVerdict, CrlSummary};
pub use feed::StatusChange;
pub use fixtures::{BhxhRecord, Fixtures, SignatureUser, Subscriber, demo_fixtures};
pub use fleet::KioskRow;
pub use lookup::{HANDOFF_TTL_SECS, HandedOff, SentMessage};
pub use resets::{
    RESET_CODE_TTL_SECS, RESET_RESEND_INTERVAL_SECS, RESET_RESENDS, RESET_TRIES, RESETS_PER_DAY,
};
pub use signature::{PhoneAnswer, SIGNATURE_SESSION_RETENTION_SECS, SignatureSession};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS enrolment_tickets (
    code_id     TEXT PRIMARY KEY,       -- the code's first group, in clear
    secret_hash BLOB NOT NULL,          -- SHA-256 of id and the other five
    expires_at  INTEGER NOT NULL,
    used_by     INTEGER,
    wrong_tries INTEGER NOT NULL DEFAULT 0,
    replaces    INTEGER                 -- a replacement code: the kiosk whose key it replaces
) STRICT;
CREATE TABLE IF NOT EXISTS enrolment_failures (
    at     INTEGER NOT NULL,
    source TEXT,                        -- the requester's address
    reason TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS enrolment_failures_by_source ON enrolment_failures (source, at);
CREATE TABLE IF NOT EXISTS kiosks (
    id          INTEGER PRIMARY KEY,
    public_key  TEXT NOT NULL UNIQUE,
    enrolled_at INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;
-- Keys a kiosk held before a replacement enrolment: what it sealed with
-- them is still its own, though it no longer signs requests with them.
CREATE TABLE IF NOT EXISTS retired_keys (
    public_key TEXT PRIMARY KEY,
    kiosk_id   INTEGER NOT NULL REFERENCES kiosks (id),
    retired_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS accounts (
    id         INTEGER PRIMARY KEY,
    identity   TEXT NOT NULL UNIQUE,   -- cccd:…, cmnd:…, mst:…, bhxh:…
    level      INTEGER NOT NULL,
    pending    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    registration_id TEXT NOT NULL,
    phone      TEXT,                   -- E.164, where "Quên mật khẩu" sends its code
    password_hash TEXT                 -- Argon2id, PHC; none when a SIM or token is the login
) STRICT;
-- Other numbers an account's holder is proven to have had: the old CMND
-- that the chip of a CCCD card names in DG13.
CREATE TABLE IF NOT EXISTS identity_links (
    alias      TEXT PRIMARY KEY,       -- cmnd:…
    account_id INTEGER NOT NULL REFERENCES accounts (id)
) STRICT;
CREATE TABLE IF NOT EXISTS registrations (
    -- A registration id is its kiosk's: another kiosk that learns it (an
    -- export file on a USB stick carries it) cannot take it.
    kiosk_id        INTEGER NOT NULL REFERENCES kiosks (id),
    registration_id TEXT NOT NULL,
    received_at     INTEGER NOT NULL,
    outcome         TEXT NOT NULL,     -- accepted, duplicate, rejected
    reason          TEXT,
    account_id      INTEGER REFERENCES accounts (id),
    -- What the citizen's reference number looks up: nothing of the person.
    reference       TEXT,              -- DK-XXXX-XXXX, as the kiosk gave it
    method          TEXT,
    level           INTEGER,
    created_at      INTEGER,           -- made at the kiosk
    clerk_id        TEXT,              -- at a post-office counter: the clerk's staff code
    PRIMARY KEY (kiosk_id, registration_id)
) STRICT;
CREATE INDEX IF NOT EXISTS registrations_by_reference ON registrations (reference);
-- The simulated SMS and e-mail gateway: every message the portal sent,
-- as a carrier's or mail server's log would show it.
CREATE TABLE IF NOT EXISTS messages (
    seq       INTEGER PRIMARY KEY,
    channel   TEXT NOT NULL,           -- sms, email
    recipient TEXT NOT NULL,           -- E.164 or an address
    text      TEXT NOT NULL,
    at        INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS messages_by_recipient ON messages (recipient, seq);
-- Codes a kiosk gave a person whose account exists, for a counter clerk to
-- find the account by: a pointer, not a proof (the clerk checks the person).
CREATE TABLE IF NOT EXISTS handoffs (
    code       TEXT PRIMARY KEY,        -- HD-XXXX-XXXX
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
-- "Quên mật khẩu" at a kiosk: a code sent to the account's phone.
CREATE TABLE IF NOT EXISTS password_resets (
    id           TEXT PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts (id),
    kiosk_id     INTEGER NOT NULL REFERENCES kiosks (id),
    code_hash    BLOB NOT NULL,        -- SHA-256 of the id and the code
    expires_at   INTEGER NOT NULL,
    tries_left   INTEGER NOT NULL,
    resends_left INTEGER NOT NULL,
    last_sent_at INTEGER NOT NULL,
    state        TEXT NOT NULL,        -- pending, done
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS password_resets_by_account ON password_resets (account_id, created_at);
-- Complaints from people whose identity has an account they did not make:
-- the staff's queue. The status flows back to the kiosk by the status feed.
CREATE TABLE IF NOT EXISTS complaints (
    reference       TEXT PRIMARY KEY,   -- KN-XXXX-XXXX
    kiosk_id        INTEGER NOT NULL REFERENCES kiosks (id),
    registration_id TEXT NOT NULL,
    identity        TEXT NOT NULL,      -- cccd:…, mst:…: the disputed account's
    account_id      INTEGER REFERENCES accounts (id),
    contact_phone   TEXT NOT NULL,      -- E.164, proven by the kiosk's OTP
    reason          TEXT NOT NULL,
    method          TEXT NOT NULL,
    status          TEXT NOT NULL,      -- received, resolved
    created_at      INTEGER NOT NULL,
    received_at     INTEGER NOT NULL,
    resolved_at     INTEGER,
    clerk_id        TEXT                -- at a counter: the identity proven by the chip, this clerk
) STRICT;
-- Signatures that proved a certificate's holder was there: each proves
-- one registration, not a second one it was copied into.
CREATE TABLE IF NOT EXISTS spent_proofs (
    signature_hash  BLOB PRIMARY KEY,
    registration_id TEXT NOT NULL,
    at              INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS nonces (
    kiosk_key TEXT NOT NULL,
    nonce     TEXT NOT NULL,
    created   INTEGER NOT NULL,
    PRIMARY KEY (kiosk_key, nonce)
) STRICT, WITHOUT ROWID;
-- Every request forgets the nonces past their window: by this index, not
-- by a scan of the table.
CREATE INDEX IF NOT EXISTS nonces_by_age ON nonces (created);
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
    #[error("database file: {0}")]
    File(std::io::Error),
    #[error("unknown, already used or burnt enrolment code")]
    BadCode,
    #[error("too many failed enrolments from this address; try again in an hour")]
    TooManyTries,
    #[error("the enrolment code has expired")]
    CodeExpired,
    #[error("this kiosk is not enrolled")]
    UnknownKiosk,
    #[error("this kiosk has been revoked")]
    RevokedKiosk,
    #[error(
        "this key has already sent registrations as another kiosk; make a new device key and enrol again"
    )]
    KeyInUse,
    #[error("mobile-signature service: {0}")]
    Mssp(String),
    #[error("a policy of this version or newer is already published")]
    StalePolicy,
    #[error("export file: {0}")]
    Export(#[from] kiosk_sync::EnvelopeError),
    #[error("trusted CAs: {0}")]
    Trust(String),
}

#[derive(Debug)]
pub struct Portal {
    conn: Connection,
    secret: PortalSecretKey,
    trust: evidence::Trust,
    /// How each method is offered: the published policy's, or the manual's.
    methods: std::collections::HashMap<String, evidence::MethodRule>,
}
impl Portal {
    pub fn open(path: &Path, secret: PortalSecretKey) -> Result<Portal, PortalError> {
        kiosk_sync::private_file::create_owner_only(path).map_err(PortalError::File)?;
        let conn = Connection::open(path)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&conn)?;
        conn.execute_batch(SCHEMA)?;
        let mut portal = Portal {
            conn,
            secret,
            trust: evidence::Trust::default(),
            methods: evidence::built_in_methods(),
        };
        if let Some(policy) = portal.current_policy()? {
            portal.follow_policy(&policy.document);
        }
        Ok(portal)
    }

    /// What kiosks seal registrations to.
    pub fn public_key(&self) -> kiosk_sync::PortalPublicKey {
        self.secret.public_key()
    }
}

kiosk_sync::opaque_debug!(
    Fixtures,
    BhxhRecord,
    Subscriber,
    SignatureUser,
    SignatureSession
);

/// Brings a database made by an earlier version to [`SCHEMA`]'s shape.
/// Version 1: registrations are keyed by kiosk and id, not id alone.
/// Version 2: eight-digit enrolment codes are gone (any still outstanding
/// stops working; the admin issues a new one).
/// Version 3: an enrolment ticket may replace a kiosk's key.
/// Version 4: registrations keep their reference, method, level and date
/// for the citizen's lookup (earlier ones have none: not found by it).
/// Version 5: accounts keep the phone and the password hash their
/// registration carried, for "Quên mật khẩu" (earlier ones have none:
/// their holders are sent to a counter).
/// Version 6: registrations and complaints made at a post-office counter
/// keep the clerk.
fn migrate(conn: &Connection) -> Result<(), PortalError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version < 2 {
        conn.execute_batch("DROP TABLE IF EXISTS enrolment_codes;")?;
    }
    if version < 3 {
        let tickets: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'enrolment_tickets'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if tickets.is_some_and(|sql| !sql.contains("replaces")) {
            conn.execute_batch("ALTER TABLE enrolment_tickets ADD COLUMN replaces INTEGER;")?;
        }
    }
    if version < 4 {
        let registrations: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'registrations'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if registrations.is_some_and(|sql| !sql.contains("reference")) {
            conn.execute_batch(
                "BEGIN IMMEDIATE;
                 ALTER TABLE registrations ADD COLUMN reference TEXT;
                 ALTER TABLE registrations ADD COLUMN method TEXT;
                 ALTER TABLE registrations ADD COLUMN level INTEGER;
                 ALTER TABLE registrations ADD COLUMN created_at INTEGER;
                 COMMIT;",
            )?;
        }
    }
    if version < 5 {
        let accounts: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'accounts'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if accounts.is_some_and(|sql| !sql.contains("password_hash")) {
            conn.execute_batch(
                "BEGIN IMMEDIATE;
                 ALTER TABLE accounts ADD COLUMN phone TEXT;
                 ALTER TABLE accounts ADD COLUMN password_hash TEXT;
                 COMMIT;",
            )?;
        }
    }
    if version < 6 {
        let registrations: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'registrations'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if registrations.is_some_and(|sql| sql.contains("reference") && !sql.contains("clerk_id")) {
            conn.execute_batch("ALTER TABLE registrations ADD COLUMN clerk_id TEXT;")?;
        }
        let complaints: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'complaints'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if complaints.is_some_and(|sql| !sql.contains("clerk_id")) {
            conn.execute_batch("ALTER TABLE complaints ADD COLUMN clerk_id TEXT;")?;
        }
    }
    if version >= 1 {
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        return Ok(());
    }
    let old: Option<String> = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'registrations'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if old.is_some_and(|sql| sql.contains("registration_id TEXT PRIMARY KEY")) {
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             ALTER TABLE registrations RENAME TO registrations_v0;
             CREATE TABLE registrations (
                 kiosk_id        INTEGER NOT NULL REFERENCES kiosks (id),
                 registration_id TEXT NOT NULL,
                 received_at     INTEGER NOT NULL,
                 outcome         TEXT NOT NULL,
                 reason          TEXT,
                 account_id      INTEGER REFERENCES accounts (id),
                 reference       TEXT,
                 method          TEXT,
                 level           INTEGER,
                 created_at      INTEGER,
                 clerk_id        TEXT,
                 PRIMARY KEY (kiosk_id, registration_id)
             ) STRICT;
             INSERT INTO registrations (kiosk_id, registration_id, received_at, outcome, reason, account_id)
                 SELECT kiosk_id, registration_id, received_at, outcome, reason, account_id FROM registrations_v0;
             DROP TABLE registrations_v0;
             COMMIT;",
        )?;
    }
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(())
}

const SCHEMA_VERSION: i64 = 6;

#[cfg(test)]
mod tests;
