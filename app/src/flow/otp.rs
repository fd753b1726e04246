//! One-time codes sent by SMS: issue, verify, resend.
//!
//! Pure logic: the caller passes `now` and a CSPRNG. The code itself is held
//! only as a salted SHA-256; the clear code leaves in the [`OtpCode`] handed
//! to the modem and is zeroized after.

use kiosk_ui::i18n::Text;
use rand::{CryptoRng, RngExt as _};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use crate::domain::OtpCode;
use crate::policy::OtpRules;

/// Why a code was not accepted, or a new one not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OtpError {
    #[error("the code must be {0} digits")]
    Malformed(u8),
    #[error("wrong code; {attempts_left} attempt(s) left")]
    Wrong { attempts_left: u8 },
    #[error("the code has expired")]
    Expired,
    #[error("too many wrong attempts for this code")]
    TooManyAttempts,
    #[error("a new code can be sent from {available_at}")]
    ResendTooSoon { available_at: OffsetDateTime },
    #[error("no more codes can be sent in this session")]
    NoResendsLeft,
    #[error("the code was already used")]
    AlreadyUsed,
}

impl OtpError {
    /// What the screen says, in the language chosen when it is shown.
    pub fn message(&self) -> Text {
        match self {
            OtpError::Malformed(n) => Text::with("Mã OTP gồm {} chữ số.", [n]),
            OtpError::Wrong { attempts_left } => {
                Text::with("Mã OTP không đúng. Còn {} lần nhập.", [attempts_left])
            }
            OtpError::Expired => Text::new("Mã OTP đã hết hạn. Nhấn “Gửi lại OTP” để nhận mã mới."),
            OtpError::TooManyAttempts => {
                Text::new("Đã nhập sai quá số lần cho phép. Nhấn “Gửi lại OTP” để nhận mã mới.")
            }
            OtpError::ResendTooSoon { .. } => Text::new("Vui lòng chờ trước khi gửi lại mã OTP."),
            OtpError::NoResendsLeft => Text::new(
                "Đã hết số lần gửi lại OTP. Vui lòng thực hiện lại từ đầu hoặc liên hệ cán bộ hỗ trợ.",
            ),
            OtpError::AlreadyUsed => Text::new("Mã OTP đã được sử dụng."),
        }
    }
}

/// A live OTP challenge for one phone number in one session.
pub struct OtpChallenge {
    rules: OtpRules,
    salt: [u8; 16],
    hash: [u8; 32],
    expires_at: OffsetDateTime,
    last_sent_at: OffsetDateTime,
    attempts_left: u8,
    resends_left: u8,
    used: bool,
}

impl std::fmt::Debug for OtpChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtpChallenge")
            .field("expires_at", &self.expires_at)
            .field("attempts_left", &self.attempts_left)
            .field("resends_left", &self.resends_left)
            .finish_non_exhaustive()
    }
}

fn digest(salt: &[u8; 16], code: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"kiosk-otp-v1");
    h.update(salt);
    h.update(code.as_bytes());
    h.finalize().into()
}

impl OtpChallenge {
    /// Draws a fresh code and starts its clock.
    pub fn issue<R: CryptoRng + ?Sized>(
        rules: &OtpRules,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> (Self, OtpCode) {
        let mut challenge = OtpChallenge {
            rules: rules.clone(),
            salt: [0; 16],
            hash: [0; 32],
            expires_at: now,
            last_sent_at: now,
            attempts_left: 0,
            resends_left: rules.max_resends,
            used: false,
        };
        let code = challenge.draw(now, rng);
        (challenge, code)
    }

    fn draw<R: CryptoRng + ?Sized>(&mut self, now: OffsetDateTime, rng: &mut R) -> OtpCode {
        let digits = u32::from(self.rules.digits);
        let n: u32 = rng.random_range(0..10u32.pow(digits));
        let code = OtpCode::from_digits(format!("{n:0width$}", width = digits as usize));
        rng.fill_bytes(&mut self.salt);
        self.hash = digest(&self.salt, code.expose());
        self.expires_at = now + Duration::seconds(i64::from(self.rules.ttl_seconds));
        self.last_sent_at = now;
        self.attempts_left = self.rules.max_attempts;
        self.used = false;
        code
    }

    /// Checks a typed code. Expiry and malformed input cost no attempt.
    pub fn verify(&mut self, entered: &str, now: OffsetDateTime) -> Result<(), OtpError> {
        if self.used {
            return Err(OtpError::AlreadyUsed);
        }
        if self.attempts_left == 0 {
            return Err(OtpError::TooManyAttempts);
        }
        if now >= self.expires_at {
            return Err(OtpError::Expired);
        }
        let entered = entered.trim();
        if entered.len() != usize::from(self.rules.digits)
            || !entered.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(OtpError::Malformed(self.rules.digits));
        }
        if bool::from(digest(&self.salt, entered).ct_eq(&self.hash)) {
            self.used = true;
            return Ok(());
        }
        self.attempts_left -= 1;
        if self.attempts_left == 0 {
            Err(OtpError::TooManyAttempts)
        } else {
            Err(OtpError::Wrong {
                attempts_left: self.attempts_left,
            })
        }
    }

    /// A fresh code on the citizen's request ("Gửi lại OTP"); the old one
    /// stops working at once.
    pub fn resend<R: CryptoRng + ?Sized>(
        &mut self,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> Result<OtpCode, OtpError> {
        if self.resends_left == 0 {
            return Err(OtpError::NoResendsLeft);
        }
        let available_at =
            self.last_sent_at + Duration::seconds(i64::from(self.rules.resend_interval_seconds));
        if now < available_at {
            return Err(OtpError::ResendTooSoon { available_at });
        }
        self.resends_left -= 1;
        Ok(self.draw(now, rng))
    }

    /// A fresh code after the modem could not send the previous one. Nothing
    /// reached the phone, so this spends no resend.
    pub fn redraw_after_failed_delivery<R: CryptoRng + ?Sized>(
        &mut self,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> OtpCode {
        self.draw(now, rng)
    }

    pub fn expires_at(&self) -> OffsetDateTime {
        self.expires_at
    }

    pub fn attempts_left(&self) -> u8 {
        self.attempts_left
    }

    pub fn resends_left(&self) -> u8 {
        self.resends_left
    }

    /// When "Gửi lại OTP" becomes active, or `None` when no resend is left.
    pub fn resend_available_at(&self) -> Option<OffsetDateTime> {
        (self.resends_left > 0).then(|| {
            self.last_sent_at + Duration::seconds(i64::from(self.rules.resend_interval_seconds))
        })
    }

    /// Neither this code nor any new one can be accepted.
    pub fn is_spent(&self) -> bool {
        self.attempts_left == 0 && self.resends_left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-11-28 09:00 +7);

    fn issue(seed: u64) -> (OtpChallenge, OtpCode, StdRng) {
        let mut rng = StdRng::seed_from_u64(seed);
        let (c, code) = OtpChallenge::issue(&Policy::built_in().otp, T0, &mut rng);
        (c, code, rng)
    }

    fn wrong(code: &OtpCode) -> String {
        let n: u32 = code.expose().parse().unwrap();
        format!("{:06}", (n + 1) % 1_000_000)
    }

    #[test]
    fn the_right_code_within_five_minutes_is_accepted_once() {
        let (mut c, code, _) = issue(1);
        assert_eq!(code.expose().len(), 6);
        assert_eq!(c.verify(code.expose(), T0 + Duration::seconds(299)), Ok(()));
        assert_eq!(
            c.verify(code.expose(), T0 + Duration::seconds(299)),
            Err(OtpError::AlreadyUsed)
        );
    }

    #[test]
    fn an_expired_code_is_refused_without_spending_an_attempt() {
        let (mut c, code, _) = issue(2);
        assert_eq!(
            c.verify(code.expose(), T0 + Duration::seconds(300)),
            Err(OtpError::Expired)
        );
        assert_eq!(c.attempts_left(), 5);
    }

    #[test]
    fn five_wrong_codes_lock_the_challenge() {
        let (mut c, code, _) = issue(3);
        for left in (1..5).rev() {
            assert_eq!(
                c.verify(&wrong(&code), T0),
                Err(OtpError::Wrong {
                    attempts_left: left
                })
            );
        }
        assert_eq!(c.verify(&wrong(&code), T0), Err(OtpError::TooManyAttempts));
        // Even the right code is refused now.
        assert_eq!(c.verify(code.expose(), T0), Err(OtpError::TooManyAttempts));
    }

    #[test]
    fn malformed_input_costs_nothing() {
        let (mut c, _, _) = issue(4);
        assert_eq!(c.verify("12345", T0), Err(OtpError::Malformed(6)));
        assert_eq!(c.verify("12a456", T0), Err(OtpError::Malformed(6)));
        assert_eq!(c.attempts_left(), 5);
    }

    #[test]
    fn resend_waits_sixty_seconds_and_invalidates_the_old_code() {
        let (mut c, old, mut rng) = issue(5);
        let at = T0 + Duration::seconds(60);
        assert_eq!(
            c.resend(T0 + Duration::seconds(59), &mut rng).unwrap_err(),
            OtpError::ResendTooSoon { available_at: at }
        );
        let new = c.resend(at, &mut rng).unwrap();
        assert_ne!(new.expose(), old.expose(), "seeded draw happened to repeat");
        assert!(matches!(
            c.verify(old.expose(), at),
            Err(OtpError::Wrong { .. })
        ));
        assert_eq!(c.verify(new.expose(), at), Ok(()));
    }

    #[test]
    fn at_most_three_resends() {
        let (mut c, _, mut rng) = issue(6);
        let mut t = T0;
        for _ in 0..3 {
            t += Duration::seconds(60);
            c.resend(t, &mut rng).unwrap();
        }
        assert_eq!(
            c.resend(t + Duration::hours(1), &mut rng).unwrap_err(),
            OtpError::NoResendsLeft
        );
        assert_eq!(c.resend_available_at(), None);
    }

    #[test]
    fn a_resend_restores_attempts_and_the_clock() {
        let (mut c, code, mut rng) = issue(7);
        for _ in 0..5 {
            let _ = c.verify(&wrong(&code), T0);
        }
        let t = T0 + Duration::seconds(400);
        let new = c.resend(t, &mut rng).unwrap();
        assert_eq!(c.attempts_left(), 5);
        assert_eq!(c.expires_at(), t + Duration::seconds(300));
        assert_eq!(c.verify(new.expose(), t + Duration::seconds(10)), Ok(()));
    }

    #[test]
    fn a_failed_delivery_redraw_spends_no_resend() {
        let (mut c, _, mut rng) = issue(8);
        let code = c.redraw_after_failed_delivery(T0, &mut rng);
        assert_eq!(c.resends_left(), 3);
        assert_eq!(c.verify(code.expose(), T0), Ok(()));
    }

    #[test]
    fn codes_cover_the_whole_range() {
        // 2000 draws of a uniform 6-digit code: leading zeros must occur (≈10%).
        let mut rng = StdRng::seed_from_u64(9);
        let rules = &Policy::built_in().otp;
        let zeros = (0..2000)
            .filter(|_| {
                OtpChallenge::issue(rules, T0, &mut rng)
                    .1
                    .expose()
                    .starts_with('0')
            })
            .count();
        assert!(
            (120..=280).contains(&zeros),
            "{zeros} codes with a leading zero"
        );
    }

    #[test]
    fn debug_shows_no_hash_or_code() {
        let (c, code, _) = issue(10);
        let shown = format!("{c:?}");
        assert!(!shown.contains(code.expose()));
        assert!(!shown.contains("hash") && !shown.contains("salt"));
    }

    proptest! {
        #[test]
        fn only_the_issued_code_verifies(seed in any::<u64>(), guess in 0u32..1_000_000) {
            let (mut c, code, _) = issue(seed);
            let guess = format!("{guess:06}");
            let ok = c.verify(&guess, T0).is_ok();
            prop_assert_eq!(ok, guess == code.expose());
        }
    }
}
