//! What the citizen hears after the kiosk: the portal tells them by SMS (or
//! e-mail) when it decides on their registration, through its simulated
//! gateway, and anyone holding a reference number can look it up. A person
//! whose account exists gets a hand-off code for the counter.

use rusqlite::{OptionalExtension, params};

use kiosk_sync::RegistrationPayload;
use kiosk_sync::api::{LookedUp, Rejection};

use crate::{Portal, PortalError};

/// A message the simulated gateway sent.
#[derive(Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub seq: i64,
    /// `sms` or `email`.
    pub channel: String,
    pub recipient: String,
    pub text: String,
    pub at: i64,
}

kiosk_sync::opaque_debug!(SentMessage);

/// The message for a decision, in Vietnamese: the reference, what was
/// decided and what to do next; nothing else of the person.
fn message(status: &str, reference: &str, level: u8, payload: &RegistrationPayload) -> String {
    let login = if payload.subject == "business" {
        "mã số thuế"
    } else {
        "số định danh"
    };
    // Without a password, the SIM or token it was registered with is the
    // way in.
    let way_in = match (payload.password_hash.is_some(), payload.method.as_str()) {
        (false, "sim_signature") => "Đăng nhập bằng Sim ký số đã dùng khi đăng ký.".to_string(),
        (false, _) => "Đăng nhập bằng USB ký số đã dùng khi đăng ký.".to_string(),
        (true, _) => format!("Đăng nhập bằng {login} và mật khẩu đã đặt."),
    };
    match status {
        "activated" => format!(
            "Cổng DVC: Tài khoản mức {level} của bạn đã được kích hoạt (hồ sơ {reference}). {way_in}"
        ),
        "duplicate" => format!(
            "Cổng DVC: Hồ sơ {reference} không tạo tài khoản mới vì {login} này đã có tài khoản. Dùng chức năng Quên mật khẩu hoặc đến quầy giao dịch."
        ),
        _ => format!(
            "Cổng DVC: Hồ sơ {reference} không được chấp nhận. Tra cứu mã hồ sơ tại máy đăng ký hoặc hỏi tại quầy giao dịch."
        ),
    }
}

/// Tells the applicant of `payload` what was decided: by SMS to the number
/// of the account, by e-mail when there is no number; nobody otherwise (the
/// kiosk told them to look the reference up).
pub(crate) fn notify(
    tx: &rusqlite::Transaction<'_>,
    payload: &RegistrationPayload,
    reference: &str,
    status: &str,
    level: u8,
    now: i64,
) -> Result<(), PortalError> {
    let (channel, recipient) = match (&payload.phone, &payload.email) {
        (Some(phone), _) => ("sms", phone),
        (None, Some(email)) => ("email", email),
        (None, None) => return Ok(()),
    };
    let text = message(status, reference, level, payload);
    tx.execute(
        "INSERT INTO messages (channel, recipient, text, at) VALUES (?1, ?2, ?3, ?4)",
        params![channel, recipient, text, now],
    )?;
    Ok(())
}

/// How long a hand-off code works: time to reach a counter.
pub const HANDOFF_TTL_SECS: i64 = 30 * 86_400;

/// An account found by a hand-off code, as a counter clerk sees it before
/// proving the person.
#[derive(Clone, PartialEq, Eq)]
pub struct HandedOff {
    /// `cccd:…`, `cmnd:…` or `mst:…`: for the clerk to compare with the
    /// card the person hands over.
    pub identity: String,
    pub level: i64,
    pub account_created_at: i64,
    pub expires_at: i64,
}

kiosk_sync::opaque_debug!(HandedOff);

impl Portal {
    /// A hand-off code for the account of `identity` (or one it is linked
    /// to), valid [`HANDOFF_TTL_SECS`]; `None` when there is no account.
    pub fn issue_handoff(
        &mut self,
        identity: &kiosk_sync::IdentityRef,
        now: i64,
    ) -> Result<Option<(String, i64)>, PortalError> {
        let account: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM accounts WHERE identity = ?1
                 UNION ALL SELECT account_id FROM identity_links WHERE alias = ?1 LIMIT 1",
                [&*identity.wire()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(account) = account else {
            return Ok(None);
        };
        let expires_at = now + HANDOFF_TTL_SECS;
        // Codes past their time are forgotten as new ones are made.
        self.conn
            .execute("DELETE FROM handoffs WHERE expires_at < ?1", [now])?;
        loop {
            let code = new_handoff_code();
            let inserted = self.conn.execute(
                "INSERT INTO handoffs (code, account_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (code) DO NOTHING",
                params![code, account, now, expires_at],
            )?;
            if inserted == 1 {
                return Ok(Some((code, expires_at)));
            }
        }
    }

    /// The account a hand-off code (as typed) points at, while it works.
    pub fn handoff(&self, code: &str, now: i64) -> Result<Option<HandedOff>, PortalError> {
        let Some(code) = kiosk_sync::normalise_code(code, "HD") else {
            return Ok(None);
        };
        Ok(self
            .conn
            .query_row(
                "SELECT a.identity, a.level, a.created_at, h.expires_at
                 FROM handoffs h JOIN accounts a ON a.id = h.account_id
                 WHERE h.code = ?1 AND h.expires_at >= ?2",
                params![code, now],
                |r| {
                    Ok(HandedOff {
                        identity: r.get(0)?,
                        level: r.get(1)?,
                        account_created_at: r.get(2)?,
                        expires_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// The clerk a registration (or a password reset, which has no level)
    /// was made by at a post-office counter, and its level: `None` for a
    /// reference not accepted from a counter.
    pub fn counter_registration(
        &self,
        reference: &str,
    ) -> Result<Option<(String, Option<u8>)>, PortalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT clerk_id, level FROM registrations
                 WHERE reference = ?1 AND method = 'counter' AND outcome = 'accepted' AND clerk_id IS NOT NULL",
                [reference],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The registration filed under `reference` (as typed; normalised
    /// here), as anyone holding the reference may see it.
    pub fn lookup(&self, reference: &str) -> Result<Option<LookedUp>, PortalError> {
        let Some(reference) = kiosk_sync::normalise_reference(reference) else {
            return Ok(None);
        };
        let row = self
            .conn
            .query_row(
                "SELECT COALESCE((SELECT c.status FROM complaints c WHERE c.reference = r.reference), r.outcome),
                        r.reason, r.method, r.level, r.created_at,
                        COALESCE((SELECT c.resolved_at FROM complaints c WHERE c.reference = r.reference), r.received_at)
                 FROM registrations r
                 WHERE r.reference = ?1 AND r.method IS NOT NULL ORDER BY r.received_at LIMIT 1",
                [&reference],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                },
            )
            .optional()?;
        Ok(
            row.map(|(outcome, reason, method, level, created_at, decided_at)| {
                let status = if outcome == "accepted" {
                    "activated".to_string()
                } else {
                    outcome
                };
                LookedUp {
                    rejection: (status == "rejected")
                        .then(|| Rejection::of(reason.as_deref().unwrap_or(""))),
                    status,
                    method,
                    level: level.and_then(|l| u8::try_from(l).ok()).unwrap_or(0),
                    created_at: created_at.unwrap_or(decided_at),
                    decided_at,
                }
            }),
        )
    }

    /// What the simulated gateway sent after `seq`, oldest first: the demo
    /// phone's inbox and `portal messages`.
    pub fn messages_since(&self, seq: i64) -> Result<Vec<SentMessage>, PortalError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, channel, recipient, text, at FROM messages WHERE seq > ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([seq], |r| {
            Ok(SentMessage {
                seq: r.get(0)?,
                channel: r.get(1)?,
                recipient: r.get(2)?,
                text: r.get(3)?,
                at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// `HD-7K2M-9XQ4`: 40 random bits in Crockford's alphabet.
fn new_handoff_code() -> String {
    use rand::RngExt as _;
    let mut rng = rand::rng();
    let chars: String = (0..8)
        .map(|_| char::from(kiosk_sync::REFERENCE_ALPHABET[rng.random_range(0..32usize)]))
        .collect();
    format!("HD-{}-{}", &chars[..4], &chars[4..])
}
