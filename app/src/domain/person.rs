//! Names and dates of birth.

use kiosk_ui::i18n::Text;
use time::{Date, Month};
use unicode_normalization::UnicodeNormalization;

use crate::policy::PersonRules;

/// Why a name or date was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonError {
    #[error("the field is empty")]
    Empty,
    #[error("the name is too short")]
    TooShort,
    #[error("the name is longer than {0} characters")]
    TooLong(usize),
    #[error("the name contains characters that are not allowed")]
    BadCharacters,
    #[error("the date must be written dd/mm/yyyy")]
    BadDate,
    #[error("no such day in the calendar")]
    NoSuchDate,
    #[error("the date of birth is in the future")]
    InFuture,
    #[error("the person must be at least {0} years old")]
    TooYoung(u8),
    #[error("the date of birth is more than {0} years ago")]
    TooOld(u8),
}

impl PersonError {
    /// What the screen says, in the language chosen when it is shown.
    pub fn message(&self) -> Text {
        match self {
            PersonError::Empty => Text::new("Vui lòng nhập thông tin này."),
            PersonError::TooShort => Text::new("Tên quá ngắn."),
            PersonError::TooLong(n) => Text::with("Không được dài quá {} ký tự.", [n]),
            PersonError::BadCharacters => Text::new("Có ký tự không hợp lệ."),
            PersonError::BadDate => {
                Text::new("Ngày không hợp lệ (định dạng ngày/tháng/năm, ví dụ 05/09/1990).")
            }
            PersonError::NoSuchDate => Text::new("Ngày không tồn tại (ví dụ 30/02)."),
            PersonError::InFuture => Text::new("Ngày sinh không được ở tương lai."),
            PersonError::TooYoung(n) => {
                Text::with("Người đăng ký phải từ đủ {} tuổi trở lên.", [n])
            }
            PersonError::TooOld(n) => Text::with("Ngày sinh không hợp lệ (quá {} năm trước).", [n]),
        }
    }
}

/// NFC, trimmed, runs of white space folded to one space.
fn normalise(input: &str) -> String {
    let nfc: String = input.nfc().collect();
    nfc.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn check_length(text: &str, max: usize) -> Result<(), PersonError> {
    let n = text.chars().count();
    if n == 0 {
        Err(PersonError::Empty)
    } else if n < 2 {
        Err(PersonError::TooShort)
    } else if n > max {
        Err(PersonError::TooLong(max))
    } else {
        Ok(())
    }
}

/// A person's full name (họ và tên), in NFC. Letters of any script, combining
/// marks, spaces, and `' - .` between them; no digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(input: &str, rules: &PersonRules) -> Result<Self, PersonError> {
        let name = normalise(input);
        check_length(&name, rules.name_max_chars)?;
        let allowed = |c: char| {
            c.is_alphabetic() || c == ' ' || c == '\'' || c == '-' || c == '.' || is_mark(c)
        };
        if !name.chars().all(allowed) || !name.chars().any(char::is_alphabetic) {
            return Err(PersonError::BadCharacters);
        }
        Ok(PersonName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Combining marks that NFC could not fold into a letter.
fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF)
}

/// A business's registered name (tên doanh nghiệp), in NFC: anything
/// printable, with at least one letter or digit.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BusinessName(String);

impl BusinessName {
    pub fn parse(input: &str, rules: &PersonRules) -> Result<Self, PersonError> {
        let name = normalise(input);
        check_length(&name, rules.business_name_max_chars)?;
        if name.chars().any(char::is_control) || !name.chars().any(char::is_alphanumeric) {
            return Err(PersonError::BadCharacters);
        }
        Ok(BusinessName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! initials_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let initials: String = self.0.split(' ').filter_map(|w| w.chars().next()).collect();
                write!(f, "{}({initials}…)", stringify!($t))
            }
        }
    )*};
}
initials_debug!(PersonName, BusinessName);

/// A date of birth within the policy's age bounds, as of `today`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateOfBirth(Date);

impl DateOfBirth {
    /// Reads `dd/mm/yyyy` (also with `-` or `.`), or ISO `yyyy-mm-dd`.
    pub fn parse(input: &str, today: Date, rules: &PersonRules) -> Result<Self, PersonError> {
        let text = input.trim();
        if text.is_empty() {
            return Err(PersonError::Empty);
        }
        let parts: Vec<&str> = text.split(['/', '-', '.']).collect();
        let [a, b, c] = parts[..] else {
            return Err(PersonError::BadDate);
        };
        let num = |s: &str| -> Result<i32, PersonError> {
            if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PersonError::BadDate);
            }
            s.parse().map_err(|_| PersonError::BadDate)
        };
        let (day, month, year) = if a.len() == 4 {
            (num(c)?, num(b)?, num(a)?)
        } else if c.len() == 4 {
            (num(a)?, num(b)?, num(c)?)
        } else {
            return Err(PersonError::BadDate);
        };
        let month = u8::try_from(month)
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or(PersonError::NoSuchDate)?;
        let day = u8::try_from(day).map_err(|_| PersonError::NoSuchDate)?;
        let date =
            Date::from_calendar_date(year, month, day).map_err(|_| PersonError::NoSuchDate)?;
        Self::from_date(date, today, rules)
    }

    pub fn from_date(date: Date, today: Date, rules: &PersonRules) -> Result<Self, PersonError> {
        if date > today {
            return Err(PersonError::InFuture);
        }
        let age = age_on(date, today);
        if age < i32::from(rules.min_age_years) {
            return Err(PersonError::TooYoung(rules.min_age_years));
        }
        if age > i32::from(rules.max_age_years) {
            return Err(PersonError::TooOld(rules.max_age_years));
        }
        Ok(DateOfBirth(date))
    }

    pub fn date(&self) -> Date {
        self.0
    }

    /// `05/09/1990`.
    pub fn to_vietnamese(&self) -> String {
        format!(
            "{:02}/{:02}/{}",
            self.0.day(),
            u8::from(self.0.month()),
            self.0.year()
        )
    }
}

impl std::fmt::Debug for DateOfBirth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DateOfBirth(**/**/****)")
    }
}

/// Whole years completed between `born` and `today`.
pub fn age_on(born: Date, today: Date) -> i32 {
    let mut age = today.year() - born.year();
    if (u8::from(today.month()), today.day()) < (u8::from(born.month()), born.day()) {
        age -= 1;
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use proptest::prelude::*;
    use time::macros::date;

    fn rules() -> PersonRules {
        Policy::built_in().person.clone()
    }

    #[test]
    fn names_are_nfc_and_single_spaced() {
        // "Nguyễn" typed as decomposed e + circumflex + tilde.
        let decomposed = "  nguye\u{302}\u{303}n   Văn\tAn ";
        let name = PersonName::parse(decomposed, &rules()).unwrap();
        assert_eq!(name.as_str(), "nguyễn Văn An");
        assert_eq!(name.as_str().chars().count(), 13);
        assert_eq!(
            PersonName::parse("Đặng Quốc Ưng", &rules())
                .unwrap()
                .as_str(),
            "Đặng Quốc Ưng"
        );
        assert_eq!(
            PersonName::parse("H'Hen Niê", &rules()).unwrap().as_str(),
            "H'Hen Niê"
        );
    }

    #[test]
    fn names_refuse_digits_controls_and_extremes() {
        let r = rules();
        assert_eq!(PersonName::parse("   ", &r), Err(PersonError::Empty));
        assert_eq!(PersonName::parse("A", &r), Err(PersonError::TooShort));
        assert_eq!(
            PersonName::parse("Trần 2", &r),
            Err(PersonError::BadCharacters)
        );
        assert_eq!(
            PersonName::parse("Trần\u{7}Thị", &r),
            Err(PersonError::BadCharacters)
        );
        assert_eq!(PersonName::parse("--", &r), Err(PersonError::BadCharacters));
        let long = "A".repeat(r.name_max_chars + 1);
        assert_eq!(
            PersonName::parse(&long, &r),
            Err(PersonError::TooLong(r.name_max_chars))
        );
    }

    #[test]
    fn business_names_allow_digits_and_punctuation() {
        let n = BusinessName::parse(
            "CÔNG TY TNHH 2 THÀNH VIÊN \"AN PHÚ\" (CN Quảng Ngãi)",
            &rules(),
        )
        .unwrap();
        assert!(n.as_str().starts_with("CÔNG TY"));
        assert_eq!(
            BusinessName::parse("\"--\"", &rules()),
            Err(PersonError::BadCharacters)
        );
    }

    #[test]
    fn debug_shows_initials_only() {
        let name = PersonName::parse("Trần Thị Thuỷ", &rules()).unwrap();
        assert_eq!(format!("{name:?}"), "PersonName(TTT…)");
    }

    #[test]
    fn dates_read_in_vietnamese_order() {
        let today = date!(2026 - 11 - 28);
        let r = rules();
        let d = DateOfBirth::parse("05/09/1990", today, &r).unwrap();
        assert_eq!(d.date(), date!(1990 - 09 - 05));
        assert_eq!(d.to_vietnamese(), "05/09/1990");
        assert_eq!(
            DateOfBirth::parse("1990-09-05", today, &r).unwrap().date(),
            date!(1990 - 09 - 05)
        );
        assert_eq!(
            DateOfBirth::parse("5.9.1990", today, &r).unwrap().date(),
            date!(1990 - 09 - 05)
        );
        for impossible in ["31/02/1990", "29/02/2013", "05/13/1990", "00/01/1990"] {
            assert_eq!(
                DateOfBirth::parse(impossible, today, &r),
                Err(PersonError::NoSuchDate),
                "{impossible}"
            );
        }
        assert!(DateOfBirth::parse("29/02/2012", today, &r).is_ok());
        for bad in ["1990", "05/09/90", "aa/bb/cccc", "05/09/1990/1"] {
            assert_eq!(
                DateOfBirth::parse(bad, today, &r),
                Err(PersonError::BadDate),
                "{bad}"
            );
        }
    }

    #[test]
    fn age_bounds_come_from_policy() {
        let today = date!(2026 - 11 - 28);
        let r = rules();
        assert_eq!(
            DateOfBirth::parse("29/11/2026", today, &r),
            Err(PersonError::InFuture)
        );
        // Fourteen tomorrow: still too young today.
        assert_eq!(
            DateOfBirth::parse("29/11/2012", today, &r),
            Err(PersonError::TooYoung(r.min_age_years))
        );
        assert!(DateOfBirth::parse("28/11/2012", today, &r).is_ok());
        assert_eq!(
            DateOfBirth::parse("01/01/1900", today, &r),
            Err(PersonError::TooOld(r.max_age_years))
        );
        let strict = PersonRules {
            min_age_years: 18,
            ..r
        };
        assert_eq!(
            DateOfBirth::parse("28/11/2010", today, &strict),
            Err(PersonError::TooYoung(18))
        );
    }

    proptest! {
        #[test]
        fn age_is_monotonic_and_counts_birthdays(days in 0i64..40_000, extra in 0i64..800) {
            let today = date!(2026 - 11 - 28);
            let born = today - time::Duration::days(days);
            let later = today + time::Duration::days(extra);
            prop_assert!(age_on(born, later) >= age_on(born, today));
            prop_assert!(age_on(born, today) >= 0);
            prop_assert!((age_on(born, today) as i64) <= days / 365);
        }

        #[test]
        fn name_normalisation_is_idempotent(s in "\\PC{0,60}") {
            if let Ok(name) = PersonName::parse(&s, &rules()) {
                let again = PersonName::parse(name.as_str(), &rules()).unwrap();
                prop_assert_eq!(again.as_str(), name.as_str());
            }
            let _ = BusinessName::parse(&s, &rules());
            let _ = DateOfBirth::parse(&s, date!(2026 - 11 - 28), &rules());
        }
    }
}
