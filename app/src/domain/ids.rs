//! Identity numbers: CCCD, CMND, MST (tax code), BHXH code.
//!
//! Each type can only be built by its parser. Error messages never repeat the
//! number itself, so they are safe to log.

use kiosk_sync::{IdentityKind, IdentityRef};
use kiosk_ui::i18n::Text;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::policy::IdentifierRules;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("the field is empty")]
    Empty,
    #[error("only digits are allowed")]
    NotDigits,
    #[error("expected {expected} digits, got {got}")]
    WrongLength { expected: &'static str, got: usize },
    #[error("the first three digits are not a known province or country code")]
    UnknownBirthCode,
    #[error("the century and birth-year digits give a year in the future")]
    BirthYearInFuture,
    #[error("the century and birth-year digits do not match the date of birth")]
    InconsistentWithBirthDate,
    #[error("the tax code's check digit is wrong")]
    BadCheckDigit,
    #[error("the branch suffix of a 13-digit tax code must be 001 to 999")]
    BadBranch,
}

impl IdError {
    /// The message shown on screen, in Vietnamese.
    /// What the screen says, in the language chosen when it is shown.
    pub fn message(&self) -> Text {
        match self {
            IdError::Empty => Text::new("Vui lòng nhập thông tin này."),
            IdError::NotDigits => Text::new("Chỉ được nhập chữ số."),
            IdError::WrongLength { expected, .. } => {
                Text::with("Cần nhập đủ {} chữ số.", [expected])
            }
            IdError::UnknownBirthCode => {
                Text::new("Ba số đầu không phải mã tỉnh/thành phố hoặc mã quốc gia hợp lệ.")
            }
            IdError::BirthYearInFuture => {
                Text::new("Số định danh không hợp lệ (năm sinh ở tương lai).")
            }
            IdError::InconsistentWithBirthDate => {
                Text::new("Số định danh không khớp với giới tính/năm sinh theo ngày sinh đã nhập.")
            }
            IdError::BadCheckDigit => Text::new("Mã số thuế không hợp lệ (sai chữ số kiểm tra)."),
            IdError::BadBranch => Text::new("Mã chi nhánh (3 số cuối) phải từ 001 đến 999."),
        }
    }
}

/// Removes the spaces, dots and dashes people type between groups of digits.
fn digits_only(input: &str, allowed_separators: &[char]) -> Result<String, IdError> {
    let mut out = String::with_capacity(input.len());
    for c in input.trim().chars() {
        if c.is_ascii_digit() {
            out.push(c);
        } else if c.is_whitespace() || allowed_separators.contains(&c) {
            continue;
        } else {
            return Err(IdError::NotDigits);
        }
    }
    if out.is_empty() {
        return Err(IdError::Empty);
    }
    Ok(out)
}

/// `text` with all but its first `keep_front` and last `keep_back`
/// characters starred: how an identifier is shown where a person's full
/// number must not be (screens, `kioskctl`, logs).
pub fn mask_middle(text: &str, keep_front: usize, keep_back: usize) -> String {
    let n = text.chars().count();
    text.chars()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_front || i + keep_back >= n {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// Sex as encoded in the century digit of a CCCD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

/// Personal identification number (căn cước công dân, 12 digits):
/// `PPP G YY NNNNNN`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cccd(String);

impl Cccd {
    /// Checks length, digits and the birth-registration code against policy.
    /// The year check needs today's year; consistency with a date of birth is
    /// [`Cccd::check_birth_date`].
    pub fn parse(input: &str, rules: &IdentifierRules, current_year: i32) -> Result<Self, IdError> {
        let digits = digits_only(input, &['.', '-'])?;
        if digits.len() != 12 {
            return Err(IdError::WrongLength {
                expected: "12",
                got: digits.len(),
            });
        }
        if !rules.is_birth_code(&digits[..3]) {
            return Err(IdError::UnknownBirthCode);
        }
        let id = Cccd(digits);
        if id.birth_year() > current_year {
            return Err(IdError::BirthYearInFuture);
        }
        Ok(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn birth_code(&self) -> &str {
        &self.0[..3]
    }

    fn century_digit(&self) -> u32 {
        u32::from(self.0.as_bytes()[3] - b'0')
    }

    /// 0/1 → 1900s, 2/3 → 2000s, … 8/9 → 2300s; even is male, odd female.
    pub fn sex(&self) -> Sex {
        if self.century_digit().is_multiple_of(2) {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    pub fn birth_year(&self) -> i32 {
        let century = 1900 + (self.century_digit() / 2) as i32 * 100;
        let yy: i32 = self.0[4..6].parse().expect("checked digits");
        century + yy
    }

    /// The century and year digits must agree with the date of birth.
    pub fn check_birth_date(&self, dob: Date) -> Result<(), IdError> {
        if self.birth_year() == dob.year() {
            Ok(())
        } else {
            Err(IdError::InconsistentWithBirthDate)
        }
    }

    /// For logs and lists: `079*******45`.
    pub fn masked(&self) -> String {
        mask_middle(&self.0, 3, 2)
    }
}

/// Old identity card number (chứng minh nhân dân): 9 digits, or 12.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cmnd(String);

impl Cmnd {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let digits = digits_only(input, &['.', '-'])?;
        match digits.len() {
            9 | 12 => Ok(Cmnd(digits)),
            got => Err(IdError::WrongLength {
                expected: "9 hoặc 12",
                got,
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_middle(&self.0, 2, 2)
    }
}

/// The number a citizen is identified by for duplicate checks: CCCD or CMND.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PersonalId {
    Cccd(Cccd),
    Cmnd(Cmnd),
}

impl PersonalId {
    /// Twelve digits are read as a CCCD (the 12-digit CMND share its
    /// structure); nine as a CMND.
    pub fn parse(input: &str, rules: &IdentifierRules, current_year: i32) -> Result<Self, IdError> {
        let digits = digits_only(input, &['.', '-'])?;
        match digits.len() {
            12 => Cccd::parse(&digits, rules, current_year).map(PersonalId::Cccd),
            9 => Cmnd::parse(&digits).map(PersonalId::Cmnd),
            got => Err(IdError::WrongLength {
                expected: "12 (CCCD) hoặc 9 (CMND)",
                got,
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            PersonalId::Cccd(id) => id.as_str(),
            PersonalId::Cmnd(id) => id.as_str(),
        }
    }

    pub fn masked(&self) -> String {
        match self {
            PersonalId::Cccd(id) => id.masked(),
            PersonalId::Cmnd(id) => id.masked(),
        }
    }

    /// The date of birth must agree with a CCCD; a CMND carries no birth data.
    pub fn check_birth_date(&self, dob: Date) -> Result<(), IdError> {
        match self {
            PersonalId::Cccd(id) => id.check_birth_date(dob),
            PersonalId::Cmnd(_) => Ok(()),
        }
    }

    pub fn kind(&self) -> &'static str {
        self.identity_kind().as_str()
    }

    fn identity_kind(&self) -> IdentityKind {
        match self {
            PersonalId::Cccd(_) => IdentityKind::Cccd,
            PersonalId::Cmnd(_) => IdentityKind::Cmnd,
        }
    }

    /// `cccd:…` or `cmnd:…`, as the portal and the carriers know the person.
    pub fn reference(&self) -> IdentityRef {
        IdentityRef::new(self.identity_kind(), self.as_str())
            .expect("a parsed personal ID is digits")
    }
}

/// Tax code (mã số thuế) of a business: 10 digits with a check digit, or 13
/// for a branch, written `NNNNNNNNNN-NNN`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mst(String);

const MST_WEIGHTS: [u32; 9] = [31, 29, 23, 19, 17, 13, 7, 5, 3];

/// The 10th digit of a tax code from its first nine, or `None` when the
/// remainder is 0 (no valid code has such a prefix).
pub fn mst_check_digit(first_nine: &[u8; 9]) -> Option<u8> {
    let sum: u32 = first_nine
        .iter()
        .zip(MST_WEIGHTS)
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    match sum % 11 {
        0 => None,
        r => Some((10 - r) as u8),
    }
}

impl Mst {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let digits = digits_only(input, &['-', '.'])?;
        match digits.len() {
            10 | 13 => {}
            got => {
                return Err(IdError::WrongLength {
                    expected: "10 hoặc 13",
                    got,
                });
            }
        }
        let bytes: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
        let first_nine: [u8; 9] = bytes[..9].try_into().expect("length checked");
        if mst_check_digit(&first_nine) != Some(bytes[9]) {
            return Err(IdError::BadCheckDigit);
        }
        if digits.len() == 13 {
            if &digits[10..] == "000" {
                return Err(IdError::BadBranch);
            }
            return Ok(Mst(format!("{}-{}", &digits[..10], &digits[10..])));
        }
        Ok(Mst(digits))
    }

    /// Canonical form: 10 digits, or `NNNNNNNNNN-NNN` for a branch.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_branch(&self) -> bool {
        self.0.len() == 14
    }

    pub fn masked(&self) -> String {
        mask_middle(&self.0, 3, 2)
    }
}

/// Social-insurance code (mã số BHXH): 10 digits. The 15-character code
/// printed on the health-insurance card is accepted too: its last ten
/// characters are the BHXH code.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BhxhCode(String);

impl BhxhCode {
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let trimmed: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if trimmed.is_empty() {
            return Err(IdError::Empty);
        }
        // Health-insurance card: 2 letters, 1 digit, 2 digits (province), 10 digits.
        if trimmed.len() == 15 && trimmed.is_ascii() {
            let (head, tail) = trimmed.split_at(5);
            let head = head.as_bytes();
            if head[0].is_ascii_alphabetic()
                && head[1].is_ascii_alphabetic()
                && head[2..].iter().all(u8::is_ascii_digit)
                && tail.bytes().all(|b| b.is_ascii_digit())
            {
                return Ok(BhxhCode(tail.to_string()));
            }
        }
        let digits = digits_only(&trimmed, &[])?;
        if digits.len() != 10 {
            return Err(IdError::WrongLength {
                expected: "10",
                got: digits.len(),
            });
        }
        Ok(BhxhCode(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_middle(&self.0, 2, 2)
    }
}

macro_rules! redacted_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($t), self.masked())
            }
        }
    )*};
}
redacted_debug!(Cccd, Cmnd, PersonalId, Mst, BhxhCode);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use proptest::prelude::*;
    use time::macros::date;

    fn rules() -> IdentifierRules {
        Policy::built_in().identifiers.clone()
    }

    #[test]
    fn cccd_reads_province_sex_and_year() {
        let id = Cccd::parse("079 303 012345", &rules(), 2026).unwrap();
        assert_eq!(id.as_str(), "079303012345");
        assert_eq!(id.birth_code(), "079");
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.birth_year(), 2003);
        assert_eq!(id.masked(), "079*******45");
        let id = Cccd::parse("001099012345", &rules(), 2026).unwrap();
        assert_eq!((id.sex(), id.birth_year()), (Sex::Male, 1999));
    }

    #[test]
    fn cccd_refuses_bad_shapes() {
        let r = rules();
        assert_eq!(Cccd::parse("", &r, 2026), Err(IdError::Empty));
        assert_eq!(
            Cccd::parse("0010990123", &r, 2026),
            Err(IdError::WrongLength {
                expected: "12",
                got: 10
            })
        );
        assert_eq!(
            Cccd::parse("00109901234a", &r, 2026),
            Err(IdError::NotDigits)
        );
        // 003 is not a province code (Hà Giang is 002, Cao Bằng 004).
        assert_eq!(
            Cccd::parse("003099012345", &r, 2026),
            Err(IdError::UnknownBirthCode)
        );
        // Century digit 2 and year 27: born 2027, in the future in 2026.
        assert_eq!(
            Cccd::parse("001227012345", &r, 2026),
            Err(IdError::BirthYearInFuture)
        );
    }

    #[test]
    fn cccd_must_agree_with_birth_date() {
        let id = Cccd::parse("001099012345", &rules(), 2026).unwrap();
        assert_eq!(id.check_birth_date(date!(1999 - 05 - 01)), Ok(()));
        assert_eq!(
            id.check_birth_date(date!(1899 - 05 - 01)),
            Err(IdError::InconsistentWithBirthDate)
        );
        assert_eq!(
            id.check_birth_date(date!(1998 - 12 - 31)),
            Err(IdError::InconsistentWithBirthDate)
        );
    }

    #[test]
    fn personal_id_picks_cccd_or_cmnd_by_length() {
        let r = rules();
        assert!(matches!(
            PersonalId::parse("001099012345", &r, 2026),
            Ok(PersonalId::Cccd(_))
        ));
        assert!(matches!(
            PersonalId::parse("212 345 678", &r, 2026),
            Ok(PersonalId::Cmnd(_))
        ));
        assert!(matches!(
            PersonalId::parse("1234567890", &r, 2026),
            Err(IdError::WrongLength { got: 10, .. })
        ));
        // A CMND carries no birth data to disagree with.
        let cmnd = PersonalId::parse("212345678", &r, 2026).unwrap();
        assert_eq!(cmnd.check_birth_date(date!(1970 - 01 - 01)), Ok(()));
    }

    #[test]
    fn mst_check_digit_matches_published_codes() {
        assert_eq!(Mst::parse("0100047516").unwrap().as_str(), "0100047516");
        assert_eq!(Mst::parse("0100233488").unwrap().as_str(), "0100233488");
        assert_eq!(Mst::parse("0100047517"), Err(IdError::BadCheckDigit));
    }

    #[test]
    fn mst_branches_are_normalised_with_a_dash() {
        let m = Mst::parse("0100047516 001").unwrap();
        assert_eq!(m.as_str(), "0100047516-001");
        assert!(m.is_branch());
        assert_eq!(Mst::parse("0100047516-000"), Err(IdError::BadBranch));
        assert_eq!(
            Mst::parse("0100047516-1"),
            Err(IdError::WrongLength {
                expected: "10 hoặc 13",
                got: 11
            })
        );
    }

    #[test]
    fn bhxh_accepts_ten_digits_or_the_card_code() {
        assert_eq!(
            BhxhCode::parse("79 0123 4567").unwrap().as_str(),
            "7901234567"
        );
        assert_eq!(
            BhxhCode::parse("GD4797901234567").unwrap().as_str(),
            "7901234567"
        );
        assert!(BhxhCode::parse("GD479790123456").is_err());
        assert!(BhxhCode::parse("123456789").is_err());
    }

    #[test]
    fn debug_and_errors_never_show_the_number() {
        let id = Cccd::parse("079303012345", &rules(), 2026).unwrap();
        assert!(!format!("{id:?}").contains("079303012345"));
        let e = Cccd::parse("079303012345", &rules(), 2000).unwrap_err();
        assert!(!e.to_string().contains("0793"));
    }

    proptest! {
        #[test]
        fn every_valid_prefix_has_exactly_one_check_digit(first in proptest::array::uniform9(0u8..10)) {
            let valid: Vec<u8> = (0..10u8).filter(|d| {
                let mut code: String = first.iter().map(|d| char::from(b'0' + d)).collect();
                code.push(char::from(b'0' + d));
                Mst::parse(&code).is_ok()
            }).collect();
            match mst_check_digit(&first) {
                Some(d) => prop_assert_eq!(valid, vec![d]),
                None => prop_assert!(valid.is_empty()),
            }
        }

        #[test]
        fn a_single_changed_digit_breaks_a_tax_code(first in proptest::array::uniform9(0u8..10), pos in 0usize..9, delta in 1u8..10) {
            prop_assume!(mst_check_digit(&first).is_some());
            let check = mst_check_digit(&first).unwrap();
            let mut changed = first;
            changed[pos] = (changed[pos] + delta) % 10;
            // Weights are distinct and coprime to 11, so any single change moves the sum mod 11.
            prop_assert_ne!(mst_check_digit(&changed), Some(check));
        }

        #[test]
        fn cccd_year_and_sex_round_trip(code_idx in 0usize..63, g in 0u32..10, yy in 0u32..100, tail in 0u32..1_000_000) {
            let r = rules();
            let codes: Vec<&String> = r.birth_registration_codes.keys().collect();
            let code = codes[code_idx % codes.len()];
            let text = format!("{code}{g}{yy:02}{tail:06}");
            let year = 1900 + (g / 2) as i32 * 100 + yy as i32;
            match Cccd::parse(&text, &r, 2026) {
                Ok(id) => {
                    prop_assert!(year <= 2026);
                    prop_assert_eq!(id.birth_year(), year);
                    prop_assert_eq!(id.sex() == Sex::Female, g % 2 == 1);
                    prop_assert_eq!(id.as_str(), text.as_str());
                }
                Err(e) => {
                    prop_assert!(year > 2026);
                    prop_assert_eq!(e, IdError::BirthYearInFuture);
                }
            }
        }

        #[test]
        fn bhxh_codes_round_trip_alone_or_inside_a_card_code(code in "[0-9]{10}", object in "[A-Z]{2}", rest in "[0-9]{3}") {
            let plain = BhxhCode::parse(&code).unwrap();
            prop_assert_eq!(plain.as_str(), code.as_str());
            let card = format!("{object}{rest}{code}");
            let from_card = BhxhCode::parse(&card).unwrap();
            prop_assert_eq!(from_card.as_str(), code.as_str());
            prop_assert!(BhxhCode::parse(&code[1..]).is_err());
        }

        #[test]
        fn cmnd_takes_nine_or_twelve_digits_only(digits in "[0-9]{1,15}") {
            let ok = Cmnd::parse(&digits).is_ok();
            prop_assert_eq!(ok, digits.len() == 9 || digits.len() == 12);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let r = rules();
            let _ = Cccd::parse(&s, &r, 2026);
            let _ = PersonalId::parse(&s, &r, 2026);
            let _ = Mst::parse(&s);
            let _ = BhxhCode::parse(&s);
            let _ = Cmnd::parse(&s);
        }
    }
}
