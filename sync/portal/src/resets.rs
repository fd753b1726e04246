//! "Quên mật khẩu" at a kiosk: the portal sends a one-time code to the
//! phone it has on file for the account (its simulated SMS gateway), the
//! person types it and a new password at the kiosk, and the kiosk sends
//! the code with the password's Argon2id hash sealed to the portal. The
//! portal checks the code (bounded tries, resends and resets a day), sets
//! the hash and tells the account's phone that its password changed.

use rand::RngExt as _;
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use kiosk_sync::api::{ResetAnswer, ResetDone, ResetResult, ResetSent};
use kiosk_sync::{DevicePublicKey, Envelope, IdentityRef, RESET_SCHEMA, ResetPayload};

use crate::{Portal, PortalError};

/// How long a code works.
pub const RESET_CODE_TTL_SECS: i64 = 300;
/// Wrong codes before a reset is spent.
pub const RESET_TRIES: u8 = 5;
/// Codes after the first.
pub const RESET_RESENDS: u8 = 2;
/// Between two codes of one reset.
pub const RESET_RESEND_INTERVAL_SECS: i64 = 60;
/// Resets one account may start in a day.
pub const RESETS_PER_DAY: i64 = 3;

fn code_hash(reset_id: &str, code: &str) -> Vec<u8> {
    Sha256::digest(format!("{reset_id}:{code}").as_bytes()).to_vec()
}

fn masked(phone: &str) -> String {
    let national = phone
        .strip_prefix("+84")
        .map_or(phone.to_string(), |n| format!("0{n}"));
    let n = national.chars().count();
    national
        .chars()
        .enumerate()
        .map(|(i, c)| if i >= 3 && i + 3 < n { '*' } else { c })
        .collect()
}

fn refused(outcome: ResetSent) -> ResetAnswer {
    ResetAnswer {
        outcome,
        reset_id: None,
        masked_phone: None,
        expires_at: None,
        tries_left: 0,
        resends_left: 0,
        resend_after: None,
    }
}

/// A reset under way, as its row holds it.
struct Pending {
    account: i64,
    phone: String,
    expires_at: i64,
    tries_left: u8,
    resends_left: u8,
    last_sent_at: i64,
}

impl Portal {
    /// Starts a password reset for the account of `identity`, asked by the
    /// kiosk holding `key`: a code to the account's phone.
    pub fn start_reset(
        &mut self,
        key: &DevicePublicKey,
        identity: &IdentityRef,
        now: i64,
    ) -> Result<ResetAnswer, PortalError> {
        let kiosk = self.kiosk(key)?;
        let account: Option<(i64, Option<String>)> = self
            .conn
            .query_row(
                "SELECT a.id, a.phone FROM accounts a WHERE a.identity = ?1
                 UNION ALL SELECT a.id, a.phone FROM identity_links l JOIN accounts a ON a.id = l.account_id
                 WHERE l.alias = ?1 LIMIT 1",
                [&*identity.wire()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((account, phone)) = account else {
            return Ok(refused(ResetSent::NoAccount));
        };
        let Some(phone) = phone else {
            return Ok(refused(ResetSent::NoPhone));
        };
        let today: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM password_resets WHERE account_id = ?1 AND created_at > ?2",
            params![account, now - 86_400],
            |r| r.get(0),
        )?;
        if today >= RESETS_PER_DAY {
            return Ok(refused(ResetSent::TooMany));
        }
        // Resets a day old are forgotten as new ones start.
        self.conn.execute(
            "DELETE FROM password_resets WHERE created_at < ?1",
            [now - 2 * 86_400],
        )?;
        let reset_id = uuid::Uuid::new_v4().to_string();
        let pending = Pending {
            account,
            phone,
            expires_at: now + RESET_CODE_TTL_SECS,
            tries_left: RESET_TRIES,
            resends_left: RESET_RESENDS,
            last_sent_at: now,
        };
        let tx = self.conn.transaction()?;
        let code = new_code();
        tx.execute(
            "INSERT INTO password_resets (id, account_id, kiosk_id, code_hash, expires_at, tries_left, resends_left, last_sent_at, state, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?8)",
            params![
                reset_id,
                pending.account,
                kiosk,
                code_hash(&reset_id, &code),
                pending.expires_at,
                pending.tries_left,
                pending.resends_left,
                now
            ],
        )?;
        send_code(&tx, &pending.phone, &code, now)?;
        tx.commit()?;
        Ok(sent(&reset_id, &pending))
    }

    /// A fresh code for a reset of this kiosk's that is still pending.
    pub fn resend_reset(
        &mut self,
        key: &DevicePublicKey,
        reset_id: &str,
        now: i64,
    ) -> Result<ResetAnswer, PortalError> {
        let kiosk = self.kiosk(key)?;
        let Some(mut pending) = self.pending_reset(kiosk, reset_id)? else {
            return Ok(refused(ResetSent::Unknown));
        };
        if pending.resends_left == 0
            || now < pending.last_sent_at + RESET_RESEND_INTERVAL_SECS
            || pending.tries_left == 0
        {
            return Ok(ResetAnswer {
                outcome: ResetSent::TooMany,
                ..sent(reset_id, &pending)
            });
        }
        pending.resends_left -= 1;
        pending.last_sent_at = now;
        pending.expires_at = now + RESET_CODE_TTL_SECS;
        let code = new_code();
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE password_resets SET code_hash = ?2, expires_at = ?3, resends_left = ?4, last_sent_at = ?5 WHERE id = ?1",
            params![
                reset_id,
                code_hash(reset_id, &code),
                pending.expires_at,
                pending.resends_left,
                now
            ],
        )?;
        send_code(&tx, &pending.phone, &code, now)?;
        tx.commit()?;
        Ok(sent(reset_id, &pending))
    }

    /// The code and the new password, sealed by the kiosk holding `key`.
    pub fn complete_reset(
        &mut self,
        key: &DevicePublicKey,
        envelope: &Envelope,
        now: i64,
    ) -> Result<ResetResult, PortalError> {
        let kiosk = self.kiosk(key)?;
        let spent = ResetResult {
            outcome: ResetDone::Spent,
            tries_left: 0,
        };
        // Sealed by this kiosk, to this portal, as a reset: else nothing.
        if !envelope.verify().is_ok_and(|signer| &signer == key) {
            return Ok(spent);
        }
        let Ok(plain) = envelope.open(&self.secret) else {
            return Ok(spent);
        };
        let Ok(payload) = serde_json::from_slice::<ResetPayload>(&plain) else {
            return Ok(spent);
        };
        if payload.schema != RESET_SCHEMA || payload.reset_id != envelope.registration_id {
            return Ok(spent);
        }
        let Some(pending) = self.pending_reset(kiosk, &payload.reset_id)? else {
            return Ok(spent);
        };
        if pending.tries_left == 0 {
            return Ok(spent);
        }
        if now >= pending.expires_at {
            return Ok(ResetResult {
                outcome: ResetDone::Expired,
                tries_left: pending.tries_left,
            });
        }
        let stored: Vec<u8> = self.conn.query_row(
            "SELECT code_hash FROM password_resets WHERE id = ?1",
            [&payload.reset_id],
            |r| r.get(0),
        )?;
        let typed = code_hash(&payload.reset_id, &payload.code);
        let tx = self.conn.transaction()?;
        if !bool::from(typed.ct_eq(&stored)) {
            let tries_left = pending.tries_left - 1;
            tx.execute(
                "UPDATE password_resets SET tries_left = ?2 WHERE id = ?1",
                params![payload.reset_id, tries_left],
            )?;
            tx.commit()?;
            return Ok(ResetResult {
                outcome: if tries_left == 0 {
                    ResetDone::Spent
                } else {
                    ResetDone::WrongCode
                },
                tries_left,
            });
        }
        if !payload.password_hash.starts_with("$argon2id$") {
            return Ok(spent);
        }
        tx.execute(
            "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
            params![pending.account, payload.password_hash],
        )?;
        tx.execute(
            "UPDATE password_resets SET state = 'done', tries_left = 0 WHERE id = ?1",
            [&payload.reset_id],
        )?;
        tx.execute(
            "INSERT INTO messages (channel, recipient, text, at) VALUES ('sms', ?1, ?2, ?3)",
            params![
                pending.phone,
                "Cổng DVC: Mật khẩu tài khoản của bạn vừa được đặt lại tại máy đăng ký. Nếu không phải bạn, hãy đến quầy giao dịch ngay.",
                now
            ],
        )?;
        tx.commit()?;
        Ok(ResetResult {
            outcome: ResetDone::Done,
            tries_left: 0,
        })
    }

    /// The account's password hash, for the tests and the admin: whether
    /// one is set, and the reset that set it could be checked.
    pub fn password_hash_of(&self, identity: &IdentityRef) -> Result<Option<String>, PortalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT password_hash FROM accounts WHERE identity = ?1",
                [&*identity.wire()],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    fn pending_reset(&self, kiosk: i64, reset_id: &str) -> Result<Option<Pending>, PortalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT r.account_id, a.phone, r.expires_at, r.tries_left, r.resends_left, r.last_sent_at
                 FROM password_resets r JOIN accounts a ON a.id = r.account_id
                 WHERE r.id = ?1 AND r.kiosk_id = ?2 AND r.state = 'pending' AND a.phone IS NOT NULL",
                params![reset_id, kiosk],
                |r| {
                    Ok(Pending {
                        account: r.get(0)?,
                        phone: r.get(1)?,
                        expires_at: r.get(2)?,
                        tries_left: r.get(3)?,
                        resends_left: r.get(4)?,
                        last_sent_at: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }
}

fn sent(reset_id: &str, p: &Pending) -> ResetAnswer {
    ResetAnswer {
        outcome: ResetSent::Sent,
        reset_id: Some(reset_id.to_string()),
        masked_phone: Some(masked(&p.phone)),
        expires_at: Some(p.expires_at),
        tries_left: p.tries_left,
        resends_left: p.resends_left,
        resend_after: (p.resends_left > 0).then_some(p.last_sent_at + RESET_RESEND_INTERVAL_SECS),
    }
}

fn new_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// The code, by the simulated SMS gateway, to the account's phone.
fn send_code(
    tx: &rusqlite::Transaction<'_>,
    phone: &str,
    code: &str,
    now: i64,
) -> Result<(), PortalError> {
    tx.execute(
        "INSERT INTO messages (channel, recipient, text, at) VALUES ('sms', ?1, ?2, ?3)",
        params![
            phone,
            format!(
                "Cong DVC: Ma dat lai mat khau cua ban la {code}. Ma co hieu luc {} phut. Khong cung cap ma nay cho bat ky ai.",
                RESET_CODE_TTL_SECS / 60
            ),
            now
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_phone_is_masked_as_the_kiosk_masks_it() {
        assert_eq!(super::masked("+84912345678"), "091****678");
    }
}
