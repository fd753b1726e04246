//! Policy as data: which methods are offered to whom and at which level, the
//! OTP and session parameters, and the identifier tables.
//!
//! Law and provincial practice move faster than firmware, so none of this is
//! a constant in code. The kiosk starts from [`Policy::built_in`] (the
//! portal's manual, `policy/default.toml`) and replaces it with a document
//! the portal publishes. [`ActivePolicy`] guards the switch: a malformed or
//! older document is refused and the previous policy stays in force.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::domain::{Level, Method, SubjectKind};

mod rules;
pub use rules::*;

const BUILT_IN: &str = include_str!("../../policy/default.toml");

/// The whole policy document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Monotonic: a kiosk never applies a lower version over a higher one.
    pub version: u64,
    pub name: String,
    /// Keyed by method name (`mobile_subscriber`, …). Names this kiosk does
    /// not know are kept and ignored, so a newer portal can add methods.
    pub methods: BTreeMap<String, MethodPolicy>,
    pub otp: OtpRules,
    pub session: SessionRules,
    pub password: PasswordRules,
    pub person: PersonRules,
    pub identifiers: IdentifierRules,
    /// Absent from older documents: the defaults apply.
    #[serde(default)]
    pub sync: SyncRules,
    /// Where a person is served face to face near this kiosk (post
    /// offices, one-stop offices): shown when an account already exists.
    /// The province's own list; none in the manual's defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counters: Vec<Counter>,
    /// The clerk's session where the kiosk stands on a counter. Absent
    /// from older documents: the defaults apply.
    #[serde(default)]
    pub counter: CounterRules,
}

/// Why a method cannot be used right now. Shown next to the disabled button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    #[error("this method is switched off by policy")]
    DisabledByPolicy,
    #[error("this method is not offered to this kind of applicant")]
    NotForSubject,
    #[error("this method needs the portal, which is not reachable")]
    NeedsNetwork,
}

impl Unavailable {
    /// The Vietnamese wording; the catalogue has the others.
    pub fn message(&self) -> &'static str {
        match self {
            Unavailable::DisabledByPolicy => {
                "Phương thức này hiện không được cung cấp tại điểm đăng ký."
            }
            Unavailable::NotForSubject => "Phương thức này không dành cho đối tượng đã chọn.",
            Unavailable::NeedsNetwork => {
                "Cần kết nối mạng; hiện không kết nối được Cổng dịch vụ công."
            }
        }
    }
}

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file: {0}")]
    Io(String),
    #[error("policy is not valid TOML of the expected shape: {0}")]
    Syntax(String),
    #[error("policy is inconsistent: {}", .0.join("; "))]
    Invalid(Vec<String>),
    #[error("policy version {candidate} is older than the version in force ({current})")]
    Older { current: u64, candidate: u64 },
    #[error("the policy's signature does not verify with the portal's policy key")]
    BadSignature,
    #[error("the policy is signed as version {signed} but its document says {document}")]
    VersionMismatch { signed: u64, document: u64 },
}

/// Checks a policy the portal published: the signature with the portal's
/// policy key, the document, its version against the signed one, and that
/// it is not older than `current`. Answers the policy to apply.
pub fn accept_signed(
    signed: &kiosk_sync::api::SignedPolicy,
    key: &kiosk_sync::DevicePublicKey,
    current: &Policy,
) -> Result<Policy, PolicyError> {
    signed.verify(key).map_err(|_| PolicyError::BadSignature)?;
    let candidate = Policy::from_toml(&signed.document)?;
    if candidate.version != signed.version {
        return Err(PolicyError::VersionMismatch {
            signed: signed.version,
            document: candidate.version,
        });
    }
    if candidate.version < current.version {
        return Err(PolicyError::Older {
            current: current.version,
            candidate: candidate.version,
        });
    }
    Ok(candidate)
}

impl Policy {
    /// The policy compiled into the kiosk: the manual's rules.
    pub fn built_in() -> &'static Policy {
        static POLICY: OnceLock<Policy> = OnceLock::new();
        POLICY.get_or_init(|| Policy::from_toml(BUILT_IN).expect("the built-in policy is valid"))
    }

    pub fn built_in_text() -> &'static str {
        BUILT_IN
    }

    /// Parses and validates; every problem is listed, not just the first.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let policy: Policy =
            toml::from_str(text).map_err(|e| PolicyError::Syntax(e.message().to_string()))?;
        let problems = policy.problems();
        if problems.is_empty() {
            Ok(policy)
        } else {
            Err(PolicyError::Invalid(problems))
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a policy always serialises")
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.version == 0 {
            p.push("version must be 1 or more".into());
        }
        for method in Method::EVERY {
            let Some(m) = self.methods.get(method.as_str()) else {
                // A policy written before the counter has no counter.
                if method != Method::Counter {
                    p.push(format!("methods.{} is missing", method.as_str()));
                }
                continue;
            };
            if m.enabled && m.subjects.is_empty() {
                p.push(format!(
                    "methods.{}: enabled for no subject",
                    method.as_str()
                ));
            }
            // Both prove a natural person; the manual offers them to citizens only.
            if matches!(method, Method::MobileSubscriber | Method::Bhxh)
                && m.subjects.contains(&SubjectKind::Business)
            {
                p.push(format!(
                    "methods.{}: cannot be offered to businesses",
                    method.as_str()
                ));
            }
            if m.chip_level.is_some_and(|chip| chip < m.level) {
                p.push(format!(
                    "methods.{}: chip_level cannot be below level (the chip only adds proof)",
                    method.as_str()
                ));
            }
            if method == Method::Counter {
                if m.chip_level != Some(m.level) {
                    p.push("methods.counter: the counter registers with the chip, so chip_level must equal level".into());
                }
                if m.subjects != [SubjectKind::Citizen] {
                    p.push("methods.counter: the chip proves a citizen; subjects must be [\"citizen\"]".into());
                }
            } else if m.chip_level.is_some()
                && !matches!(method, Method::MobileSubscriber | Method::Bhxh)
            {
                p.push(format!(
                    "methods.{}: chip_level only for the methods whose form names a person",
                    method.as_str()
                ));
            }
            if m.password == Some(false) && !method.signs() {
                p.push(format!(
                    "methods.{}: needs a password (its account has no other way in)",
                    method.as_str()
                ));
            }
            if method == Method::SimSignature && !m.needs_network {
                p.push("methods.sim_signature: the mobile-signature service is reached through the portal, so needs_network must be true".into());
            }
        }
        let o = &self.otp;
        if !(4..=8).contains(&o.digits) {
            p.push("otp.digits must be 4 to 8".into());
        }
        if o.ttl_seconds < 60 || o.ttl_seconds > 3600 {
            p.push("otp.ttl_seconds must be 60 to 3600".into());
        }
        if o.max_attempts == 0 {
            p.push("otp.max_attempts must be 1 or more".into());
        }
        if o.max_sms_per_number_per_day <= u16::from(o.max_resends) {
            p.push("otp.max_sms_per_number_per_day must exceed max_resends, or one session could not finish".into());
        }
        for (name, template) in [
            ("sms_template", &o.sms_template),
            ("complaint_sms_template", &o.complaint_sms_template),
        ] {
            if !template.contains("{code}") {
                p.push(format!("otp.{name} must contain {{code}}"));
            }
            if template.chars().count() > 300 {
                p.push(format!(
                    "otp.{name} must fit in two SMS segments (300 characters)"
                ));
            }
        }
        for (i, c) in self.counters.iter().enumerate() {
            let lengths = [
                c.name.chars().count(),
                c.address.chars().count(),
                c.hours.chars().count(),
            ];
            if lengths.contains(&0) || lengths.iter().any(|n| *n > 200) {
                p.push(format!(
                    "counters[{i}]: name, address and hours must each be 1 to 200 characters"
                ));
            }
        }
        if self.counters.len() > 10 {
            p.push("counters: at most 10 (the exists page shows them all)".into());
        }
        let c = &self.counter;
        if c.clerk_idle_lock_seconds < 30 || c.clerk_idle_lock_seconds > 8 * 3600 {
            p.push("counter.clerk_idle_lock_seconds must be 30 to 28800".into());
        }
        if !(1..=10).contains(&c.clerk_pin_max_attempts) {
            p.push("counter.clerk_pin_max_attempts must be 1 to 10".into());
        }
        if c.clerk_lockout_seconds < 60 {
            p.push("counter.clerk_lockout_seconds must be 60 or more".into());
        }
        let s = &self.session;
        if s.idle_timeout_seconds < 30 {
            p.push("session.idle_timeout_seconds must be 30 or more".into());
        }
        if s.idle_warning_seconds >= s.idle_timeout_seconds {
            p.push("session.idle_warning_seconds must be less than the timeout".into());
        }
        if self.password.min_length < 8 {
            p.push("password.min_length must be 8 or more (the portal's rule)".into());
        }
        if self.password.max_length < self.password.min_length {
            p.push("password.max_length must be at least min_length".into());
        }
        let per = &self.person;
        if per.min_age_years >= per.max_age_years {
            p.push("person.min_age_years must be less than max_age_years".into());
        }
        if per.name_max_chars < 2 || per.business_name_max_chars < 2 {
            p.push("person name limits must be 2 or more".into());
        }
        let sync = &self.sync;
        if sync.retention_days > 3650 {
            p.push("sync.retention_days must be 3650 or less".into());
        }
        if sync.heartbeat_seconds < 30 || sync.status_poll_seconds < 5 {
            p.push(
                "sync.heartbeat_seconds must be 30 or more and sync.status_poll_seconds 5 or more"
                    .into(),
            );
        }
        let ids = &self.identifiers;
        let three_digits = |c: &String| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit());
        for code in ids
            .birth_registration_codes
            .keys()
            .chain(&ids.cccd_foreign_birth_codes)
        {
            if !three_digits(code) {
                p.push(format!(
                    "identifiers: birth code {code:?} is not three digits"
                ));
            }
        }
        if ids.birth_registration_codes.is_empty() {
            p.push("identifiers.birth_registration_codes is empty".into());
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (carrier, prefixes) in &ids.phone_prefixes {
            for prefix in prefixes {
                if !(three_digits(prefix) && prefix.starts_with('0')) {
                    p.push(format!(
                        "identifiers.phone_prefixes.{carrier}: {prefix:?} is not 0 and two digits"
                    ));
                }
                if let Some(other) = seen.insert(prefix, carrier) {
                    p.push(format!(
                        "identifiers.phone_prefixes: {prefix} belongs to both {other} and {carrier}"
                    ));
                }
            }
        }
        p
    }

    pub fn method(&self, method: Method) -> &MethodPolicy {
        static NO_COUNTER: MethodPolicy = MethodPolicy {
            enabled: false,
            subjects: Vec::new(),
            level: Level::THREE,
            needs_network: false,
            chip_level: Some(Level::THREE),
            password: None,
        };
        match self.methods.get(method.as_str()) {
            Some(m) => m,
            // A policy from before the counter: it offers none.
            None if method == Method::Counter => &NO_COUNTER,
            None => panic!("validated policies have every known method"),
        }
    }

    /// Whether a registration by `method` ends by setting a password.
    pub fn asks_password(&self, method: Method) -> bool {
        self.method(method).password.unwrap_or(!method.signs())
    }

    /// Whether `method` may be started for `subject` now.
    pub fn check_offered(
        &self,
        method: Method,
        subject: SubjectKind,
        online: bool,
    ) -> Result<&MethodPolicy, Unavailable> {
        let m = self.method(method);
        if !m.enabled {
            return Err(Unavailable::DisabledByPolicy);
        }
        if !m.subjects.contains(&subject) {
            return Err(Unavailable::NotForSubject);
        }
        if m.needs_network && !online {
            return Err(Unavailable::NeedsNetwork);
        }
        Ok(m)
    }

    /// The method list for a subject, in the manual's order, with why each
    /// unavailable one is unavailable. Methods not offered to the subject at
    /// all are left out.
    pub fn methods_for(
        &self,
        subject: SubjectKind,
        online: bool,
    ) -> Vec<(Method, Result<Level, Unavailable>)> {
        Method::ALL
            .into_iter()
            .filter(|m| self.method(*m).subjects.contains(&subject))
            .map(|m| (m, self.check_offered(m, subject, online).map(|p| p.level)))
            .collect()
    }
}

/// Where the policy in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyOrigin {
    BuiltIn,
    File(String),
    /// Signed by the portal and verified.
    Portal,
}

impl std::fmt::Display for PolicyOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyOrigin::BuiltIn => f.write_str("built in"),
            PolicyOrigin::File(path) => f.write_str(path),
            PolicyOrigin::Portal => f.write_str("signed by the portal"),
        }
    }
}

/// The policy in force, replaced only by a valid document of the same or a
/// newer version.
#[derive(Debug, Clone)]
pub struct ActivePolicy {
    current: Arc<Policy>,
    origin: PolicyOrigin,
}

impl Default for ActivePolicy {
    fn default() -> Self {
        ActivePolicy {
            current: Arc::new(Policy::built_in().clone()),
            origin: PolicyOrigin::BuiltIn,
        }
    }
}

impl ActivePolicy {
    pub fn current(&self) -> Arc<Policy> {
        Arc::clone(&self.current)
    }

    pub fn origin(&self) -> &PolicyOrigin {
        &self.origin
    }

    /// Applies `candidate` unless it is older than the policy in force.
    pub fn apply(&mut self, candidate: Policy, origin: PolicyOrigin) -> Result<(), PolicyError> {
        if candidate.version < self.current.version {
            return Err(PolicyError::Older {
                current: self.current.version,
                candidate: candidate.version,
            });
        }
        self.current = Arc::new(candidate);
        self.origin = origin;
        Ok(())
    }

    /// Reads, validates and applies a policy file. On any error the previous
    /// policy stays in force and the error says why.
    pub fn load_file(&mut self, path: &Path) -> Result<(), PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Io(e.to_string()))?;
        let candidate = Policy::from_toml(&text)?;
        self.apply(candidate, PolicyOrigin::File(path.display().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_policy_is_accepted_only_when_genuine_matching_and_not_older() {
        use kiosk_sync::DeviceKey;
        use kiosk_sync::api::SignedPolicy;
        let key = DeviceKey::generate();
        let text =
            |v: u64| Policy::built_in_text().replacen("version = 1", &format!("version = {v}"), 1);
        let current = Policy::from_toml(&text(4)).unwrap();
        let good = SignedPolicy::sign(5, text(5), &key);
        assert_eq!(
            accept_signed(&good, &key.public_key(), &current)
                .unwrap()
                .version,
            5
        );
        let mut tampered = good.clone();
        tampered.document = tampered
            .document
            .replace("idle_timeout_seconds = 90", "idle_timeout_seconds = 9000");
        assert!(matches!(
            accept_signed(&tampered, &key.public_key(), &current),
            Err(PolicyError::BadSignature)
        ));
        let foreign = SignedPolicy::sign(5, text(5), &DeviceKey::generate());
        assert!(matches!(
            accept_signed(&foreign, &key.public_key(), &current),
            Err(PolicyError::BadSignature)
        ));
        let relabelled = SignedPolicy::sign(6, text(5), &key);
        assert!(matches!(
            accept_signed(&relabelled, &key.public_key(), &current),
            Err(PolicyError::VersionMismatch {
                signed: 6,
                document: 5
            })
        ));
        let older = SignedPolicy::sign(3, text(3), &key);
        assert!(matches!(
            accept_signed(&older, &key.public_key(), &current),
            Err(PolicyError::Older {
                current: 4,
                candidate: 3
            })
        ));
        let broken = SignedPolicy::sign(7, "version = 7".into(), &key);
        assert!(matches!(
            accept_signed(&broken, &key.public_key(), &current),
            Err(PolicyError::Syntax(_))
        ));
    }

    #[test]
    fn a_provinces_counters_are_data_read_and_written_back() {
        assert!(Policy::built_in().counters.is_empty());
        let text = format!(
            "{}\n[[counters]]\nname = \"Bưu điện huyện Kế Sách\"\naddress = \"Ấp An Phú, TT. Kế Sách, Sóc Trăng\"\nhours = \"Thứ Hai – Thứ Bảy, 7:00–17:00\"\n",
            Policy::built_in_text()
        );
        let p = Policy::from_toml(&text).unwrap();
        assert_eq!(p.counters.len(), 1);
        assert_eq!(p.counters[0].name, "Bưu điện huyện Kế Sách");
        assert_eq!(Policy::from_toml(&p.to_toml()).unwrap(), p);
        let empty = text.replace("hours = \"Thứ Hai – Thứ Bảy, 7:00–17:00\"", "hours = \"\"");
        let Err(PolicyError::Invalid(problems)) = Policy::from_toml(&empty) else {
            panic!("a counter without hours is refused");
        };
        assert!(problems[0].starts_with("counters[0]"), "{problems:?}");
    }

    #[test]
    fn the_chip_level_is_data_and_never_lowers_a_method() {
        let p = Policy::built_in();
        assert_eq!(
            p.method(Method::MobileSubscriber).chip_level,
            Some(Level::TWO)
        );
        assert_eq!(p.method(Method::UsbToken).chip_level, None);
        let text = Policy::built_in_text();
        let lower = text.replacen("chip_level = 2\n", "chip_level = 1\n", 2);
        let e = Policy::from_toml(&lower).unwrap_err().to_string();
        assert!(
            e.contains("methods.bhxh: chip_level cannot be below level"),
            "{e}"
        );
        let token = text.replace(
            "[methods.usb_token]           # USB ký số\n",
            "[methods.usb_token]           # USB ký số\nchip_level = 3\n",
        );
        let e = Policy::from_toml(&token).unwrap_err().to_string();
        assert!(e.contains("methods.usb_token: chip_level only for"), "{e}");
        // A policy written before the chip parses, with no chip levels.
        let old = text
            .replace(
                "chip_level = 2                # khi chip thẻ CCCD (đã xác thực) cho danh tính\n",
                "",
            )
            .replace("chip_level = 2\n", "");
        let p = Policy::from_toml(&old).unwrap();
        assert_eq!(p.method(Method::Bhxh).chip_level, None);
    }

    #[test]
    fn built_in_policy_matches_the_manual() {
        let p = Policy::built_in();
        assert_eq!(
            p.method(Method::MobileSubscriber).subjects,
            vec![SubjectKind::Citizen]
        );
        assert_eq!(p.method(Method::MobileSubscriber).level, Level::ONE);
        assert_eq!(p.method(Method::Bhxh).level, Level::TWO);
        assert_eq!(p.method(Method::SimSignature).level, Level::THREE);
        assert_eq!(
            p.method(Method::UsbToken).subjects,
            vec![SubjectKind::Citizen, SubjectKind::Business]
        );
        assert_eq!(
            (p.otp.digits, p.otp.ttl_seconds, p.otp.max_attempts),
            (6, 300, 5)
        );
        assert_eq!((p.otp.max_resends, p.otp.resend_interval_seconds), (3, 60));
        assert_eq!(p.otp.max_sms_per_number_per_day, 8);
        assert_eq!(p.session.idle_timeout_seconds, 90);
        assert_eq!(p.password.min_length, 8);
        assert_eq!(p.identifiers.birth_registration_codes.len(), 63);
        assert_eq!(p.identifiers.province_name("051"), Some("Quảng Ngãi"));
        assert_eq!(p.identifiers.carrier_of("086"), Some("Viettel"));
    }

    #[test]
    fn offered_methods_follow_subject_and_network() {
        let p = Policy::built_in();
        let business: Vec<Method> = p
            .methods_for(SubjectKind::Business, true)
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        assert_eq!(business, vec![Method::SimSignature, Method::UsbToken]);
        assert_eq!(
            p.check_offered(Method::MobileSubscriber, SubjectKind::Business, true),
            Err(Unavailable::NotForSubject)
        );
        let offline = p.methods_for(SubjectKind::Citizen, false);
        assert_eq!(
            offline[2],
            (Method::SimSignature, Err(Unavailable::NeedsNetwork))
        );
        assert_eq!(offline[0], (Method::MobileSubscriber, Ok(Level::ONE)));
    }

    #[test]
    fn policy_can_switch_a_method_off() {
        let text = Policy::built_in_text().replacen(
            "[methods.bhxh]                # Mã số BHXH — mức 2 khi khớp CSDL BHXH\nenabled = true",
            "[methods.bhxh]\nenabled = false",
            1,
        );
        let p = Policy::from_toml(&text).unwrap();
        assert_eq!(
            p.check_offered(Method::Bhxh, SubjectKind::Citizen, true),
            Err(Unavailable::DisabledByPolicy)
        );
    }

    #[test]
    fn unknown_methods_from_a_newer_portal_are_ignored() {
        let text = format!(
            "{}\n[methods.vneid]\nenabled = true\nsubjects = [\"citizen\"]\nlevel = 2\nneeds_network = true\n",
            Policy::built_in_text()
        );
        let p = Policy::from_toml(&text).unwrap();
        // The counter is offered by policy, but only a clerk starts it:
        // never in the citizen's own list.
        assert_eq!(
            p.check_offered(Method::Counter, SubjectKind::Citizen, false)
                .map(|m| m.level),
            Ok(Level::THREE)
        );
        let listed: Vec<Method> = p
            .methods_for(SubjectKind::Citizen, true)
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        assert_eq!(listed, Method::ALL);
    }

    #[test]
    fn every_problem_is_reported() {
        let text = Policy::built_in_text()
            .replace("digits = 6", "digits = 2")
            .replace("min_length = 8", "min_length = 4")
            .replace("\"091\", ", "\"091\", \"032\", ");
        match Policy::from_toml(&text) {
            Err(PolicyError::Invalid(problems)) => {
                assert_eq!(problems.len(), 3, "{problems:?}");
                assert!(problems.iter().any(|p| p.contains("032 belongs to both")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn business_cannot_get_mobile_subscriber_even_by_policy() {
        let text = Policy::built_in_text().replacen(
            "subjects = [\"citizen\"]\nlevel = 1",
            "subjects = [\"citizen\", \"business\"]\nlevel = 1",
            1,
        );
        assert!(matches!(
            Policy::from_toml(&text),
            Err(PolicyError::Invalid(_))
        ));
    }

    #[test]
    fn a_bad_file_keeps_the_previous_policy() {
        let dir = tempfile::tempdir().unwrap();
        let mut active = ActivePolicy::default();
        let newer = dir.path().join("newer.toml");
        std::fs::write(
            &newer,
            Policy::built_in_text()
                .replace("version = 1", "version = 7")
                .replace("idle_timeout_seconds = 90", "idle_timeout_seconds = 120"),
        )
        .unwrap();
        active.load_file(&newer).unwrap();
        assert_eq!(active.current().session.idle_timeout_seconds, 120);

        let broken = dir.path().join("broken.toml");
        std::fs::write(&broken, "version = 8\nname = ").unwrap();
        assert!(matches!(
            active.load_file(&broken),
            Err(PolicyError::Syntax(_))
        ));
        let older = dir.path().join("older.toml");
        std::fs::write(
            &older,
            Policy::built_in_text().replace("version = 1", "version = 3"),
        )
        .unwrap();
        assert_eq!(
            active.load_file(&older),
            Err(PolicyError::Older {
                current: 7,
                candidate: 3
            })
        );
        assert!(matches!(
            active.load_file(&dir.path().join("missing.toml")),
            Err(PolicyError::Io(_))
        ));

        assert_eq!(active.current().version, 7);
        assert_eq!(active.current().session.idle_timeout_seconds, 120);
        assert_eq!(
            active.origin(),
            &PolicyOrigin::File(newer.display().to_string())
        );
    }

    #[test]
    fn policy_round_trips_through_toml() {
        let p = Policy::built_in();
        assert_eq!(&Policy::from_toml(&p.to_toml()).unwrap(), p);
    }

    #[test]
    fn sms_text_fills_the_template() {
        let text = Policy::built_in().otp.sms_text("482913");
        assert!(text.contains("482913") && text.contains("5 phut"));
        assert!(text.is_ascii());
    }
}
