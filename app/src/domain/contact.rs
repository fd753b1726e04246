//! How to reach the citizen: mobile number and e-mail.

use crate::policy::IdentifierRules;
use kiosk_ui::i18n::Text;

/// Why a phone number or e-mail was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("the field is empty")]
    Empty,
    #[error("a phone number may contain only digits, spaces, dots and a leading +")]
    BadCharacters,
    #[error("a Vietnamese mobile number has 10 digits starting with 0, or +84 and 9 digits")]
    WrongLength,
    #[error("the number's prefix belongs to no known mobile network")]
    UnknownPrefix,
    #[error("the e-mail address is not valid")]
    BadEmail,
}

impl ContactError {
    /// What the screen says, in the language chosen when it is shown.
    pub fn message(&self) -> Text {
        match self {
            ContactError::Empty => Text::new("Vui lòng nhập thông tin này."),
            ContactError::BadCharacters => Text::new("Số điện thoại chỉ gồm chữ số."),
            ContactError::WrongLength => {
                Text::new("Số điện thoại di động gồm 10 chữ số, bắt đầu bằng 0 (hoặc +84).")
            }
            ContactError::UnknownPrefix => {
                Text::new("Đầu số không thuộc nhà mạng di động nào tại Việt Nam.")
            }
            ContactError::BadEmail => {
                Text::new("Địa chỉ email không hợp lệ (ví dụ: ten@gmail.com).")
            }
        }
    }
}

/// A Vietnamese mobile number, kept as `+84` and nine digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber {
    e164: String,
    carrier: String,
}

impl PhoneNumber {
    /// Accepts `0912 345 678`, `84912345678`, `+84 912.345.678`; the national
    /// prefix must be in the policy's carrier table.
    pub fn parse(input: &str, rules: &IdentifierRules) -> Result<Self, ContactError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ContactError::Empty);
        }
        let (plus, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(12);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '.' | '-' => {}
                _ => return Err(ContactError::BadCharacters),
            }
        }
        let subscriber = if let Some(tail) = digits.strip_prefix("84").filter(|t| t.len() == 9) {
            tail.to_string()
        } else if plus {
            return Err(ContactError::WrongLength);
        } else if let Some(tail) = digits.strip_prefix('0').filter(|t| t.len() == 9) {
            tail.to_string()
        } else {
            return Err(ContactError::WrongLength);
        };
        let national_prefix = format!("0{}", &subscriber[..2]);
        let carrier = rules
            .carrier_of(&national_prefix)
            .ok_or(ContactError::UnknownPrefix)?
            .to_string();
        Ok(PhoneNumber {
            e164: format!("+84{subscriber}"),
            carrier,
        })
    }

    /// `+84912345678`.
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// `0912345678`, as Vietnamese people write it.
    pub fn national(&self) -> String {
        format!("0{}", &self.e164[3..])
    }

    pub fn carrier(&self) -> &str {
        &self.carrier
    }

    /// `091****678`: enough for the citizen to recognise, nothing for a log reader.
    pub fn masked(&self) -> String {
        let n = self.national();
        format!("{}****{}", &n[..3], &n[7..])
    }
}

impl std::fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

/// An e-mail address, trimmed, with the domain in lower case. A dotted
/// domain is required: a kiosk user who types `name@gmail` made a typo.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Result<Self, ContactError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ContactError::Empty);
        }
        if trimmed.len() > 254 || trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ContactError::BadEmail);
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(ContactError::BadEmail)?;
        let domain = domain.to_ascii_lowercase();
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        let tld_ok = domain
            .rsplit('.')
            .next()
            .is_some_and(|t| t.len() >= 2 && t.chars().all(|c| c.is_ascii_alphabetic()));
        let address = format!("{local}@{domain}");
        if !labels_ok || !tld_ok || !email_address::EmailAddress::is_valid(&address) {
            return Err(ContactError::BadEmail);
        }
        Ok(Email(address))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `n***@gmail.com`.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').expect("parsed");
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use proptest::prelude::*;

    fn rules() -> IdentifierRules {
        Policy::built_in().identifiers.clone()
    }

    #[test]
    fn every_written_form_normalises_to_plus_84() {
        let r = rules();
        for input in [
            "0912345678",
            "0912 345 678",
            "84912345678",
            "+84912345678",
            "+84 912.345.678",
            " 091-234-5678 ",
        ] {
            let p = PhoneNumber::parse(input, &r).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(p.e164().len(), 12);
            assert!(p.e164().starts_with("+849"));
        }
        let p = PhoneNumber::parse("0912 345 678", &r).unwrap();
        assert_eq!(p.e164(), "+84912345678");
        assert_eq!(p.national(), "0912345678");
        assert_eq!(p.carrier(), "Vinaphone");
        assert_eq!(p.masked(), "091****678");
    }

    #[test]
    fn carriers_come_from_the_prefix_table() {
        let r = rules();
        assert_eq!(
            PhoneNumber::parse("0368123456", &r).unwrap().carrier(),
            "Viettel"
        );
        assert_eq!(
            PhoneNumber::parse("0778123456", &r).unwrap().carrier(),
            "MobiFone"
        );
        assert_eq!(
            PhoneNumber::parse("0921234567", &r).unwrap().carrier(),
            "Vietnamobile"
        );
        // 010 and 0240 (Hà Nội landline) are no mobile prefixes.
        assert_eq!(
            PhoneNumber::parse("0101234567", &r),
            Err(ContactError::UnknownPrefix)
        );
        assert_eq!(
            PhoneNumber::parse("0243123456", &r),
            Err(ContactError::UnknownPrefix)
        );
    }

    #[test]
    fn malformed_numbers_say_why() {
        let r = rules();
        assert_eq!(PhoneNumber::parse("", &r), Err(ContactError::Empty));
        assert_eq!(
            PhoneNumber::parse("091234567", &r),
            Err(ContactError::WrongLength)
        );
        assert_eq!(
            PhoneNumber::parse("09123456789", &r),
            Err(ContactError::WrongLength)
        );
        assert_eq!(
            PhoneNumber::parse("+0912345678", &r),
            Err(ContactError::WrongLength)
        );
        assert_eq!(
            PhoneNumber::parse("0912a45678", &r),
            Err(ContactError::BadCharacters)
        );
        assert_eq!(
            PhoneNumber::parse("+1 912345678", &r),
            Err(ContactError::WrongLength)
        );
    }

    #[test]
    fn emails_are_checked_and_domains_lowercased() {
        assert_eq!(
            Email::parse(" Nguyen.An@Gmail.COM ").unwrap().as_str(),
            "Nguyen.An@gmail.com"
        );
        assert_eq!(
            Email::parse("an@so-tttt.quangngai.gov.vn")
                .unwrap()
                .masked(),
            "a***@so-tttt.quangngai.gov.vn"
        );
        for bad in [
            "",
            "an",
            "an@",
            "@gmail.com",
            "an@gmail",
            "an@gmail.c",
            "a n@gmail.com",
            "an@-x.vn",
            "an@x..vn",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest! {
        #[test]
        fn any_known_prefix_with_nine_digits_parses_in_every_form(idx in 0usize..100, rest in 0u32..10_000_000) {
            let r = rules();
            let prefixes: Vec<&String> = r.phone_prefixes.values().flatten().collect();
            let prefix = prefixes[idx % prefixes.len()];
            let national = format!("{prefix}{rest:07}");
            let expected = format!("+84{}", &national[1..]);
            for form in [national.clone(), format!("84{}", &national[1..]), expected.clone(),
                         format!("{} {} {}", &national[..4], &national[4..7], &national[7..])] {
                let p = PhoneNumber::parse(&form, &r).unwrap();
                prop_assert_eq!(p.e164(), expected.as_str());
                prop_assert_eq!(p.national(), national.clone());
            }
        }

        #[test]
        fn ordinary_addresses_parse_and_keep_their_local_part(
            local in "[a-zA-Z0-9][a-zA-Z0-9._-]{0,20}[a-zA-Z0-9]",
            host in "[a-z0-9]{1,12}",
            tld in "(vn|com|com\\.vn|gov\\.vn|org)",
        ) {
            prop_assume!(!local.contains(".."));
            let address = format!("{local}@{}.{tld}", host.to_uppercase());
            let email = Email::parse(&address).unwrap();
            prop_assert_eq!(email.as_str(), format!("{local}@{host}.{tld}"));
            let shown = format!("{email:?}");
            prop_assert_eq!(shown, format!("Email({}***@{host}.{tld})", &local[..1]));
        }

        #[test]
        fn email_parser_never_panics(s in "\\PC{0,80}") {
            let _ = Email::parse(&s);
            let _ = PhoneNumber::parse(&s, &rules());
        }

        #[test]
        fn masked_numbers_hide_the_middle(rest in 0u32..10_000_000) {
            let p = PhoneNumber::parse(&format!("098{rest:07}"), &rules()).unwrap();
            prop_assert_eq!(p.masked().chars().filter(char::is_ascii_digit).count(), 6);
            let shown = format!("{p:?}");
            prop_assert!(!shown.contains(&p.national()));
        }
    }
}
