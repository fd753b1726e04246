//! Secrets the citizen types: the account password, the OTP code, a token PIN.
//!
//! Each is zeroized on drop and prints as `***` in `Debug`.

use kiosk_ui::i18n::Text;
use zeroize::Zeroizing;

use crate::policy::PasswordRules;

/// One rule of the manual's password policy ("8 ký tự trở lên bao gồm chữ
/// thường, chữ in hoa, số và ký tự đặc biệt"; entered twice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PasswordRule {
    MinLength,
    Lowercase,
    Uppercase,
    Digit,
    Special,
    Matches,
}

impl PasswordRule {
    pub const ALL: [PasswordRule; 6] = [
        PasswordRule::MinLength,
        PasswordRule::Lowercase,
        PasswordRule::Uppercase,
        PasswordRule::Digit,
        PasswordRule::Special,
        PasswordRule::Matches,
    ];

    /// The checklist line shown beside the password fields.
    pub fn label(&self, rules: &PasswordRules) -> Text {
        match self {
            PasswordRule::MinLength => Text::with("Từ {} ký tự trở lên", [rules.min_length]),
            PasswordRule::Lowercase => Text::new("Có chữ thường (a–z)"),
            PasswordRule::Uppercase => Text::new("Có chữ in hoa (A–Z)"),
            PasswordRule::Digit => Text::new("Có chữ số (0–9)"),
            PasswordRule::Special => Text::new("Có ký tự đặc biệt (ví dụ ! @ # $ %)"),
            PasswordRule::Matches => Text::new("Hai lần nhập trùng khớp"),
        }
    }
}

/// The result of checking a password pair: which rules hold. The UI shows it
/// as a live checklist while the citizen types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordCheck {
    pub failing: Vec<PasswordRule>,
}

impl PasswordCheck {
    pub fn evaluate(first: &str, confirm: &str, rules: &PasswordRules) -> Self {
        let mut failing = Vec::new();
        if first.chars().count() < rules.min_length {
            failing.push(PasswordRule::MinLength);
        }
        if !first.chars().any(char::is_lowercase) {
            failing.push(PasswordRule::Lowercase);
        }
        if !first.chars().any(char::is_uppercase) {
            failing.push(PasswordRule::Uppercase);
        }
        if !first.chars().any(|c| c.is_ascii_digit()) {
            failing.push(PasswordRule::Digit);
        }
        if !first.chars().any(is_special) {
            failing.push(PasswordRule::Special);
        }
        // Constant time is not needed here: both strings are the citizen's own input.
        if first != confirm || first.is_empty() {
            failing.push(PasswordRule::Matches);
        }
        PasswordCheck { failing }
    }

    pub fn holds(&self, rule: PasswordRule) -> bool {
        !self.failing.contains(&rule)
    }

    pub fn is_ok(&self) -> bool {
        self.failing.is_empty()
    }
}

/// Anything printable that is neither a letter nor a digit nor a space.
fn is_special(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control()
}

/// Why a password pair was refused: the failing rules, or a character the
/// portal cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password breaks {} rule(s)", .0.failing.len())]
    Rules(PasswordCheck),
    #[error("the password contains control characters")]
    ControlCharacters,
    #[error("the password is longer than {0} characters")]
    TooLong(usize),
}

impl PasswordError {
    /// What the screen says, in the language chosen when it is shown.
    pub fn message(&self) -> Text {
        match self {
            PasswordError::Rules(_) => Text::new("Mật khẩu chưa đáp ứng đủ các quy tắc bên dưới."),
            PasswordError::ControlCharacters => Text::new("Mật khẩu có ký tự không hợp lệ."),
            PasswordError::TooLong(n) => Text::with("Mật khẩu không được dài quá {} ký tự.", [n]),
        }
    }
}

/// An account password that satisfies the policy. Zeroized on drop.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    pub fn new(first: &str, confirm: &str, rules: &PasswordRules) -> Result<Self, PasswordError> {
        if first.chars().any(char::is_control) {
            return Err(PasswordError::ControlCharacters);
        }
        if first.chars().count() > rules.max_length {
            return Err(PasswordError::TooLong(rules.max_length));
        }
        let check = PasswordCheck::evaluate(first, confirm, rules);
        if !check.is_ok() {
            return Err(PasswordError::Rules(check));
        }
        Ok(Password(Zeroizing::new(first.to_string())))
    }

    /// The only way to the characters: hashing on completion.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

macro_rules! secret_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}(***)", stringify!($t))
            }
        }
    )*};
}

/// A one-time code as sent by SMS. Zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(Zeroizing<String>);

impl OtpCode {
    pub(crate) fn from_digits(digits: String) -> Self {
        OtpCode(Zeroizing::new(digits))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A token PIN typed on the kiosk's keypad. It leaves memory only into the
/// token's login call. Zeroized on drop.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// PKCS#11 tokens take 4 to 16 characters; Vietnamese tokens use digits
    /// or letters.
    pub fn new(typed: &str) -> Option<Self> {
        let n = typed.chars().count();
        ((4..=16).contains(&n) && typed.chars().all(|c| c.is_ascii_alphanumeric()))
            .then(|| Pin(Zeroizing::new(typed.to_string())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A kiosk's one-time enrolment code, from the portal's administrator:
/// whoever holds it can enrol a device in the kiosk's place until it is
/// used. Zeroized on drop.
#[derive(Clone)]
pub struct EnrolCode(Zeroizing<String>);

impl EnrolCode {
    /// The code as typed, without surrounding spaces; `None` when empty.
    pub fn new(typed: &str) -> Option<Self> {
        let code = typed.trim();
        (!code.is_empty()).then(|| EnrolCode(Zeroizing::new(code.to_string())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

secret_debug!(Password, OtpCode, Pin, EnrolCode);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use proptest::prelude::*;

    fn rules() -> PasswordRules {
        Policy::built_in().password.clone()
    }

    #[test]
    fn the_manuals_rules_each_fail_alone() {
        let r = rules();
        let cases = [
            ("Ab1!xyz", PasswordRule::MinLength),
            ("AB1!XYZW", PasswordRule::Lowercase),
            ("ab1!xyzw", PasswordRule::Uppercase),
            ("Abc!xyzw", PasswordRule::Digit),
            ("Abc1xyzw", PasswordRule::Special),
        ];
        for (pw, rule) in cases {
            let check = PasswordCheck::evaluate(pw, pw, &r);
            assert_eq!(check.failing, vec![rule], "{pw}");
        }
        let check = PasswordCheck::evaluate("Abc1!xyz", "Abc1!xyy", &r);
        assert_eq!(check.failing, vec![PasswordRule::Matches]);
        assert!(PasswordCheck::evaluate("Abc1!xyz", "Abc1!xyz", &r).is_ok());
    }

    #[test]
    fn empty_entries_fail_every_rule() {
        let check = PasswordCheck::evaluate("", "", &rules());
        assert_eq!(check.failing, PasswordRule::ALL.to_vec());
    }

    #[test]
    fn vietnamese_letters_count_as_cases() {
        assert!(PasswordCheck::evaluate("Đường1!aa", "Đường1!aa", &rules()).is_ok());
    }

    #[test]
    fn password_refuses_controls_and_reports_rules() {
        let r = rules();
        assert_eq!(
            Password::new("Abc1!xy\u{0}z", "Abc1!xy\u{0}z", &r).unwrap_err(),
            PasswordError::ControlCharacters
        );
        match Password::new("abc", "abc", &r) {
            Err(PasswordError::Rules(check)) => assert!(!check.holds(PasswordRule::MinLength)),
            other => panic!("{other:?}"),
        }
        let long = format!("Aa1!{}", "x".repeat(r.max_length));
        assert_eq!(
            Password::new(&long, &long, &r).unwrap_err(),
            PasswordError::TooLong(r.max_length)
        );
    }

    #[test]
    fn secrets_never_print() {
        let pw = Password::new("Bí-Mật-2026", "Bí-Mật-2026", &rules()).unwrap();
        assert_eq!(format!("{pw:?}"), "Password(***)");
        let otp = OtpCode::from_digits("123456".into());
        assert_eq!(format!("{otp:?}"), "OtpCode(***)");
        let pin = Pin::new("1234").unwrap();
        assert_eq!(format!("{pin:?}"), "Pin(***)");
        assert!(Pin::new("12").is_none());
        assert!(Pin::new("12 34").is_none());
    }

    proptest! {
        #[test]
        fn a_password_is_accepted_exactly_when_no_rule_fails(pw in "\\PC{0,20}") {
            let r = rules();
            let check = PasswordCheck::evaluate(&pw, &pw, &r);
            let accepted = Password::new(&pw, &pw, &r);
            prop_assert_eq!(accepted.is_ok(), check.is_ok() && !pw.chars().any(char::is_control));
            if let Ok(p) = accepted {
                prop_assert_eq!(p.expose(), pw.as_str());
            }
        }

        #[test]
        fn a_different_confirmation_always_fails_matches(a in "[a-zA-Z0-9!@#]{8,12}", b in "[a-zA-Z0-9!@#]{8,12}") {
            prop_assume!(a != b);
            prop_assert!(!PasswordCheck::evaluate(&a, &b, &rules()).holds(PasswordRule::Matches));
        }
    }
}
