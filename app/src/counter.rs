//! The post-office counter: the office's clerks and the desk's sign-in.
//!
//! A kiosk stands on a counter when its configuration lists the office's
//! clerks (`[[counter.clerks]]` in `/etc/kiosk/kiosk.toml`). A clerk signs
//! in with a staff code and PIN (kept as an Argon2id hash, never in clear)
//! or with their USB signing token, whose certificate's SHA-256 the list
//! names. The desk locks after the policy's idle time and on the clerk's
//! own "Khóa quầy"; a clerk who gets the PIN wrong too often waits out a
//! lockout. Everything the desk decides is pure: the controller feeds it
//! the monotonic clock.

use std::collections::HashMap;
use std::time::Duration;

use argon2::{Argon2, PasswordHash, PasswordVerifier as _};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::flow::ClerkStamp;
use crate::policy::CounterRules;

/// One clerk of the office, as the configuration lists them.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clerk {
    /// The staff code (`BD-KS-0001`): what the audit and the portal record.
    pub id: String,
    /// Shown on the counter's pages while they are on duty.
    pub name: String,
    /// Argon2id of the PIN in PHC form (`kioskctl clerk hash-pin`).
    #[serde(default)]
    pub pin_hash: Option<String>,
    /// SHA-256 of the clerk's token certificate, hex
    /// (`kioskctl clerk fingerprint`).
    #[serde(default)]
    pub token_sha256: Option<String>,
}

/// By staff code only: the name and the credentials stay out of logs.
impl std::fmt::Debug for Clerk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clerk")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The office's clerks, checked as the configuration is read.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    clerks: Vec<Clerk>,
}

impl Roster {
    /// Every problem of the list, in the technician's words.
    pub fn new(clerks: Vec<Clerk>) -> Result<Roster, Vec<String>> {
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, c) in clerks.iter().enumerate() {
            let ok_id = (2..=32).contains(&c.id.len())
                && c.id
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
            if !ok_id {
                problems.push(format!(
                    "counter.clerks[{i}]: id must be 2 to 32 of A-Z, 0-9 and -"
                ));
            }
            if !seen.insert(c.id.as_str()) {
                problems.push(format!("counter.clerks[{i}]: id {} twice", c.id));
            }
            if !(1..=100).contains(&c.name.chars().count()) {
                problems.push(format!(
                    "counter.clerks[{i}]: name must be 1 to 100 characters"
                ));
            }
            if c.pin_hash.is_none() && c.token_sha256.is_none() {
                problems.push(format!(
                    "counter.clerks[{i}]: needs pin_hash or token_sha256 (a way to sign in)"
                ));
            }
            if let Some(hash) = &c.pin_hash
                && !PasswordHash::new(hash).is_ok_and(|h| h.algorithm.as_str() == "argon2id")
            {
                problems.push(format!(
                    "counter.clerks[{i}]: pin_hash is not an Argon2id PHC string"
                ));
            }
            if let Some(fp) = &c.token_sha256
                && !(fp.len() == 64 && fp.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                problems.push(format!(
                    "counter.clerks[{i}]: token_sha256 must be 64 hex digits"
                ));
            }
        }
        if problems.is_empty() {
            Ok(Roster { clerks })
        } else {
            Err(problems)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.clerks.is_empty()
    }

    fn by_id(&self, id: &str) -> Option<&Clerk> {
        self.clerks.iter().find(|c| c.id == id)
    }
}

/// SHA-256 of a certificate, lowercase hex: how the roster names a token.
pub fn certificate_sha256(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How a clerk proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInBy {
    Pin,
    Token,
}

impl SignInBy {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInBy::Pin => "pin",
            SignInBy::Token => "token",
        }
    }
}

/// The clerk on duty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnDuty {
    pub id: String,
    pub name: String,
    pub by: SignInBy,
    pub certificate_sha256: Option<String>,
}

impl OnDuty {
    /// What a registration made now carries of the clerk.
    pub fn stamp(&self) -> ClerkStamp {
        ClerkStamp {
            clerk_id: self.id.clone(),
            signed_in_by: self.by.as_str(),
            certificate_sha256: self.certificate_sha256.clone(),
        }
    }
}

/// Why a sign-in was refused. An unknown staff code and a wrong PIN are
/// one answer: the screen does not tell which codes exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("unknown staff code or wrong PIN ({left} tries left)")]
    Wrong { left: u8 },
    #[error("too many wrong PINs: signing in waits {seconds} s")]
    LockedOut { seconds: u64 },
    #[error("the token's certificate is not on the office's list of clerks")]
    NotAClerk,
}

impl SignInError {
    /// The Vietnamese wording; the catalogue has the others.
    pub fn message(&self) -> kiosk_ui::i18n::Text {
        use kiosk_ui::i18n::Text;
        match self {
            SignInError::Wrong { left } => {
                Text::with("Mã cán bộ hoặc mã PIN không đúng. Còn {} lần nhập.", [left])
            }
            SignInError::LockedOut { seconds } => Text::with(
                "Nhập sai mã PIN quá số lần cho phép. Vui lòng thử lại sau {} phút.",
                [seconds.div_ceil(60)],
            ),
            SignInError::NotAClerk => {
                Text::new("Chứng thư số trong USB không thuộc cán bộ nào của quầy này.")
            }
        }
    }
}

/// The counter's desk: who is on duty, since when untouched, and the
/// wrong PINs counted per staff code.
#[derive(Debug)]
pub struct Desk {
    roster: Roster,
    rules: CounterRules,
    on_duty: Option<OnDuty>,
    /// Monotonic time of the clerk's last touch.
    last_active: Duration,
    /// Per staff code typed: wrong PINs in a row, and when a lockout ends.
    wrong: HashMap<String, (u8, Option<Duration>)>,
}

impl Desk {
    pub fn new(roster: Roster, rules: CounterRules) -> Desk {
        Desk {
            roster,
            rules,
            on_duty: None,
            last_active: Duration::ZERO,
            wrong: HashMap::new(),
        }
    }

    pub fn on_duty(&self) -> Option<&OnDuty> {
        self.on_duty.as_ref()
    }

    /// The rules may change with a new policy.
    pub fn set_rules(&mut self, rules: CounterRules) {
        self.rules = rules;
    }

    /// The staff code and PIN typed. The hash is checked whatever the
    /// code, so a wrong code takes as long as a wrong PIN.
    pub fn sign_in_pin(
        &mut self,
        id: &str,
        pin: &str,
        now: Duration,
    ) -> Result<&OnDuty, SignInError> {
        let id = id.trim().to_uppercase();
        let entry = self.wrong.entry(id.clone()).or_insert((0, None));
        if let Some(until) = entry.1 {
            if now < until {
                return Err(SignInError::LockedOut {
                    seconds: (until - now).as_secs().max(1),
                });
            }
            *entry = (0, None);
        }
        let clerk = self.roster.by_id(&id);
        let hash = clerk.and_then(|c| c.pin_hash.as_deref());
        let good = verify_pin(pin, hash);
        let entry = self.wrong.entry(id.clone()).or_insert((0, None));
        match clerk {
            Some(clerk) if good => {
                *entry = (0, None);
                self.on_duty = Some(OnDuty {
                    id: clerk.id.clone(),
                    name: clerk.name.clone(),
                    by: SignInBy::Pin,
                    certificate_sha256: None,
                });
                self.last_active = now;
                Ok(self.on_duty.as_ref().expect("just set"))
            }
            _ => {
                entry.0 = entry.0.saturating_add(1);
                let max = self.rules.clerk_pin_max_attempts;
                if entry.0 >= max {
                    let lockout = Duration::from_secs(u64::from(self.rules.clerk_lockout_seconds));
                    entry.1 = Some(now + lockout);
                    return Err(SignInError::LockedOut {
                        seconds: lockout.as_secs(),
                    });
                }
                Err(SignInError::Wrong {
                    left: max - entry.0,
                })
            }
        }
    }

    /// The clerk's token proved itself (PIN, signature, chain, dates):
    /// its certificate must be one the office's list names.
    pub fn sign_in_token(
        &mut self,
        certificate: &[u8],
        now: Duration,
    ) -> Result<&OnDuty, SignInError> {
        let fingerprint = certificate_sha256(certificate);
        let clerk = self
            .roster
            .clerks
            .iter()
            .find(|c| {
                c.token_sha256
                    .as_deref()
                    .is_some_and(|fp| fp.eq_ignore_ascii_case(&fingerprint))
            })
            .ok_or(SignInError::NotAClerk)?;
        self.on_duty = Some(OnDuty {
            id: clerk.id.clone(),
            name: clerk.name.clone(),
            by: SignInBy::Token,
            certificate_sha256: Some(fingerprint),
        });
        self.last_active = now;
        Ok(self.on_duty.as_ref().expect("just set"))
    }

    /// The clerk touched the counter's pages.
    pub fn touch(&mut self, now: Duration) {
        self.last_active = now;
    }

    /// Locks the desk; answers who was on duty.
    pub fn lock(&mut self) -> Option<OnDuty> {
        self.on_duty.take()
    }

    /// Whether the clerk on duty has been away longer than policy allows.
    pub fn idle_expired(&self, now: Duration) -> bool {
        self.on_duty.is_some()
            && now.saturating_sub(self.last_active)
                >= Duration::from_secs(u64::from(self.rules.clerk_idle_lock_seconds))
    }
}

/// Checks `pin` against `hash`; without a hash, against a fixed one, so
/// an unknown staff code costs the same time as a known one.
pub(crate) fn verify_pin(pin: &str, hash: Option<&str>) -> bool {
    const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$0cJ+3ivIZ/2C1q0GqkhBk8TnFF0XjDw5f1ZlyuCIz8A";
    let Ok(parsed) = PasswordHash::new(hash.unwrap_or(DECOY)) else {
        return false;
    };
    Argon2::default()
        .verify_password(pin.as_bytes(), &parsed)
        .is_ok()
        && hash.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PasswordHashCost;
    use crate::register::hash_password;

    fn cheap() -> PasswordHashCost {
        PasswordHashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    fn desk() -> Desk {
        let clerks = vec![
            Clerk {
                id: "BD-KS-0001".into(),
                name: "Nguyễn Thị Lan".into(),
                pin_hash: Some(hash_password("246810", cheap()).unwrap().to_string()),
                token_sha256: None,
            },
            Clerk {
                id: "BD-KS-0002".into(),
                name: "Trần Văn Minh".into(),
                pin_hash: None,
                token_sha256: Some(certificate_sha256(b"clerk certificate")),
            },
        ];
        Desk::new(Roster::new(clerks).unwrap(), CounterRules::default())
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_clerk_signs_in_with_the_right_pin_only() {
        let mut d = desk();
        assert_eq!(
            d.sign_in_pin("BD-KS-0001", "246811", S(1)),
            Err(SignInError::Wrong { left: 4 })
        );
        assert!(d.on_duty().is_none());
        // Typed in lower case with spaces: the same code.
        let on = d.sign_in_pin(" bd-ks-0001 ", "246810", S(2)).unwrap();
        assert_eq!((on.id.as_str(), on.by), ("BD-KS-0001", SignInBy::Pin));
        assert_eq!(d.on_duty().unwrap().stamp().signed_in_by, "pin");
    }

    #[test]
    fn an_unknown_code_reads_as_a_wrong_pin_and_a_token_clerk_has_no_pin() {
        let mut d = desk();
        assert_eq!(
            d.sign_in_pin("BD-KS-9999", "246810", S(1)),
            Err(SignInError::Wrong { left: 4 })
        );
        assert_eq!(
            d.sign_in_pin("BD-KS-0002", "246810", S(1)),
            Err(SignInError::Wrong { left: 4 })
        );
    }

    #[test]
    fn wrong_pins_lock_that_clerk_out_for_the_policys_time() {
        let mut d = desk();
        for left in (1..5).rev() {
            assert_eq!(
                d.sign_in_pin("BD-KS-0001", "000000", S(10)),
                Err(SignInError::Wrong { left })
            );
        }
        assert_eq!(
            d.sign_in_pin("BD-KS-0001", "000000", S(10)),
            Err(SignInError::LockedOut { seconds: 900 })
        );
        // The right PIN does not help during the lockout.
        assert_eq!(
            d.sign_in_pin("BD-KS-0001", "246810", S(500)),
            Err(SignInError::LockedOut { seconds: 410 })
        );
        assert!(d.sign_in_pin("BD-KS-0001", "246810", S(910)).is_ok());
    }

    #[test]
    fn a_token_signs_in_only_when_its_certificate_is_listed() {
        let mut d = desk();
        assert_eq!(
            d.sign_in_token(b"someone else's certificate", S(1)),
            Err(SignInError::NotAClerk)
        );
        let on = d.sign_in_token(b"clerk certificate", S(1)).unwrap();
        assert_eq!((on.id.as_str(), on.by), ("BD-KS-0002", SignInBy::Token));
        assert_eq!(
            on.stamp().certificate_sha256.unwrap(),
            certificate_sha256(b"clerk certificate")
        );
    }

    #[test]
    fn the_desk_locks_after_the_idle_time_and_on_request() {
        let mut d = desk();
        d.sign_in_pin("BD-KS-0001", "246810", S(100)).unwrap();
        assert!(!d.idle_expired(S(399)));
        d.touch(S(300));
        assert!(!d.idle_expired(S(599)));
        assert!(d.idle_expired(S(600)));
        assert_eq!(d.lock().unwrap().id, "BD-KS-0001");
        assert!(!d.idle_expired(S(10_000)));
        assert!(d.on_duty().is_none());
    }

    #[test]
    fn a_roster_with_problems_names_them_all() {
        let bad = vec![
            Clerk {
                id: "bd 1".into(),
                name: String::new(),
                pin_hash: Some("1234".into()),
                token_sha256: Some("xyz".into()),
            },
            Clerk {
                id: "BD-2".into(),
                name: "A".into(),
                pin_hash: None,
                token_sha256: None,
            },
        ];
        let problems = Roster::new(bad).unwrap_err();
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("needs pin_hash")));
        let clerk = Clerk {
            id: "BD-1".into(),
            name: "Lan".into(),
            pin_hash: Some("secret-pin".into()),
            token_sha256: None,
        };
        assert!(!format!("{clerk:?}").contains("secret"));
    }
}
