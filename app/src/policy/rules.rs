//! The rules a policy document holds, one table each: the methods, the
//! OTP, the session, passwords, people, identifiers, sync, the counter.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{Level, SubjectKind};

/// How long a clerk's session lasts and how many PINs they may get wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CounterRules {
    /// The clerk's session locks after this long untouched at the
    /// counter's own pages (a citizen's session has its own timeout).
    pub clerk_idle_lock_seconds: u32,
    /// Wrong PINs in a row before that clerk cannot sign in for a while.
    pub clerk_pin_max_attempts: u8,
    pub clerk_lockout_seconds: u32,
}

impl Default for CounterRules {
    fn default() -> Self {
        CounterRules {
            clerk_idle_lock_seconds: 300,
            clerk_pin_max_attempts: 5,
            clerk_lockout_seconds: 900,
        }
    }
}

/// A service counter, as the exists page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counter {
    /// "Bưu điện huyện Kế Sách", "Bộ phận Một cửa UBND xã …".
    pub name: String,
    pub address: String,
    /// "Thứ Hai – Thứ Sáu, 7:30–17:00".
    pub hours: String,
}

impl Counter {
    /// One line on screen: name, address and hours.
    pub fn line(&self) -> String {
        format!("{}: {} ({})", self.name, self.address, self.hours)
    }
}

/// How the kiosk talks to the portal and how long it keeps what it sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncRules {
    /// Days a sealed payload is kept after the portal confirmed its final
    /// outcome (0: deleted at once).
    pub retention_days: u32,
    pub heartbeat_seconds: u32,
    /// How often the status feed is read while online.
    pub status_poll_seconds: u32,
}

impl Default for SyncRules {
    fn default() -> Self {
        SyncRules {
            retention_days: 30,
            heartbeat_seconds: 300,
            status_poll_seconds: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodPolicy {
    pub enabled: bool,
    pub subjects: Vec<SubjectKind>,
    pub level: Level,
    pub needs_network: bool,
    /// The level a registration by this method earns when the chip in the
    /// citizen's CCCD card, proven genuine, gives the identity; absent: the
    /// method does not take the card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip_level: Option<Level>,
    /// Whether the registration ends by setting a password. Absent: as the
    /// manual has it, yes for the methods whose account has no other way
    /// in, no for the signature methods (the SIM or token is the login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtpRules {
    pub digits: u8,
    pub ttl_seconds: u32,
    pub max_attempts: u8,
    pub max_resends: u8,
    pub resend_interval_seconds: u32,
    /// Codes sent to one number in 24 hours, whatever the session.
    pub max_sms_per_number_per_day: u16,
    /// `{code}` and `{minutes}` are replaced.
    pub sms_template: String,
    /// The code that proves a complaint's contact number: a registration's
    /// wording would tell the person they are registering.
    #[serde(default = "complaint_sms_template")]
    pub complaint_sms_template: String,
}

fn complaint_sms_template() -> String {
    "Ma xac nhan so dien thoai lien he cho khieu nai tai Cong DVC la {code}. Ma co hieu luc {minutes} phut. Khong cung cap ma nay cho bat ky ai.".into()
}

impl OtpRules {
    pub fn sms_text(&self, code: &str) -> String {
        self.fill(&self.sms_template, code)
    }

    /// The SMS that proves a complaint's contact number.
    pub fn complaint_sms_text(&self, code: &str) -> String {
        self.fill(&self.complaint_sms_template, code)
    }

    fn fill(&self, template: &str, code: &str) -> String {
        template
            .replace("{code}", code)
            .replace("{minutes}", &(self.ttl_seconds / 60).to_string())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRules {
    pub idle_timeout_seconds: u32,
    /// How long before the timeout the countdown is shown.
    pub idle_warning_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordRules {
    pub min_length: usize,
    pub max_length: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRules {
    pub min_age_years: u8,
    pub max_age_years: u8,
    pub name_max_chars: usize,
    pub business_name_max_chars: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifierRules {
    #[serde(default)]
    pub cccd_foreign_birth_codes: Vec<String>,
    /// Code → province name.
    pub birth_registration_codes: BTreeMap<String, String>,
    /// Network → national prefixes (`"091"`).
    pub phone_prefixes: BTreeMap<String, Vec<String>>,
}

impl IdentifierRules {
    pub fn is_birth_code(&self, code: &str) -> bool {
        self.birth_registration_codes.contains_key(code)
            || self.cccd_foreign_birth_codes.iter().any(|c| c == code)
    }

    pub fn province_name(&self, code: &str) -> Option<&str> {
        self.birth_registration_codes.get(code).map(String::as_str)
    }

    pub fn carrier_of(&self, national_prefix: &str) -> Option<&str> {
        self.phone_prefixes
            .iter()
            .find(|(_, prefixes)| prefixes.iter().any(|p| p == national_prefix))
            .map(|(carrier, _)| carrier.as_str())
    }
}
