//! The chip's files (ICAO 9303-10): EF.COM, DG1 (the MRZ), DG13 (Vietnam's
//! numbered personal data), and the security object EF.SOD holds.

use std::collections::BTreeMap;

use unicode_normalization::UnicodeNormalization;

use super::tlv;

/// The elementary files the kiosk reads, with their file identifiers and the
/// tag each file's content starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum File {
    /// EF.CardAccess, under the master file: what access protocols the
    /// chip offers (PACE), readable before any.
    CardAccess,
    Com,
    Sod,
    Dg(u8),
}

impl File {
    pub fn id(self) -> u16 {
        match self {
            File::CardAccess => 0x011C,
            File::Com => 0x011E,
            File::Sod => 0x011D,
            File::Dg(n) => 0x0100 | u16::from(n),
        }
    }

    /// The tag the content starts with: 0x60 for EF.COM, 0x77 for EF.SOD,
    /// 0x61, 0x75, 0x63... for the data groups.
    pub fn tag(self) -> u8 {
        match self {
            File::CardAccess => 0x31,
            File::Com => 0x60,
            File::Sod => 0x77,
            File::Dg(n) => match n {
                1 => 0x61,
                2 => 0x75,
                3 => 0x63,
                4 => 0x76,
                5 => 0x65,
                6 => 0x66,
                7 => 0x67,
                8 => 0x68,
                9 => 0x69,
                10 => 0x6A,
                11 => 0x6B,
                12 => 0x6C,
                13 => 0x6D,
                14 => 0x6E,
                15 => 0x6F,
                16 => 0x70,
                _ => 0,
            },
        }
    }

    pub fn name(self) -> String {
        match self {
            File::CardAccess => "EF.CardAccess".into(),
            File::Com => "EF.COM".into(),
            File::Sod => "EF.SOD".into(),
            File::Dg(n) => format!("DG{n}"),
        }
    }
}

/// Why a file's content cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} is malformed: {why}")]
pub struct Malformed {
    pub file: String,
    pub why: &'static str,
}

fn malformed(file: File, why: &'static str) -> Malformed {
    Malformed {
        file: file.name(),
        why,
    }
}

/// The body of a file: its outer object, which must fill it.
fn body(file: File, bytes: &[u8]) -> Result<&[u8], Malformed> {
    let (t, rest) = tlv::parse(bytes).ok_or(malformed(file, "not one TLV object"))?;
    if t.tag != u32::from(file.tag()) || !rest.is_empty() {
        return Err(malformed(file, "unexpected tag or trailing bytes"));
    }
    Ok(t.value)
}

/// EF.COM: which data groups the chip says it holds.
pub fn data_groups(com: &[u8]) -> Result<Vec<u8>, Malformed> {
    let list = tlv::find(body(File::Com, com)?, 0x5C).ok_or(malformed(File::Com, "no tag list"))?;
    Ok(list
        .value
        .iter()
        .filter_map(|&tag| (1..=16).find(|&n| File::Dg(n).tag() == tag))
        .collect())
}

/// The machine-readable zone, as DG1 holds it (TD1 on the CCCD card: three
/// lines of 30; TD3 on passports: two of 44).
#[derive(Clone, PartialEq, Eq)]
pub struct Mrz {
    pub document_code: String,
    pub issuer: String,
    pub document_number: String,
    /// YYMMDD.
    pub birth: String,
    /// `M`, `F` or `<`.
    pub sex: char,
    /// YYMMDD.
    pub expiry: String,
    pub nationality: String,
    /// Surname and given names, `<` as spaces.
    pub name: String,
    /// The first optional field: on a CCCD card the 12-digit personal number.
    pub optional: String,
}

impl std::fmt::Debug for Mrz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mrz")
            .field("document_code", &self.document_code)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Mrz {
    /// The card's last valid day has passed at `now` (Unix seconds). The
    /// MRZ gives two digits of the year: expiries are this century.
    pub fn expires_before(&self, now: i64) -> bool {
        let digits =
            |r: std::ops::Range<usize>| self.expiry.get(r).and_then(|s| s.parse::<u8>().ok());
        let (Some(yy), Some(mm), Some(dd)) = (digits(0..2), digits(2..4), digits(4..6)) else {
            return true;
        };
        let Ok(month) = time::Month::try_from(mm) else {
            return true;
        };
        let Ok(last) = time::Date::from_calendar_date(2000 + i32::from(yy), month, dd) else {
            return true;
        };
        let today = time::OffsetDateTime::from_unix_timestamp(now)
            .map(|t| t.date())
            .unwrap_or(time::Date::MAX);
        today > last
    }

    pub fn parse_dg1(dg1: &[u8]) -> Result<Mrz, Malformed> {
        let file = File::Dg(1);
        let zone = tlv::find(body(file, dg1)?, 0x5F1F).ok_or(malformed(file, "no MRZ"))?;
        let text = std::str::from_utf8(zone.value)
            .ok()
            .filter(|t| {
                t.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'<')
            })
            .ok_or(malformed(file, "characters outside the MRZ set"))?;
        Mrz::parse(text).ok_or(malformed(
            file,
            "not a TD1 or TD3 zone with valid check digits",
        ))
    }

    /// Reads a zone of 90 (TD1) or 88 (TD3) characters, checking every
    /// check digit.
    pub fn parse(text: &str) -> Option<Mrz> {
        let field = |s: &str| s.trim_end_matches('<').to_owned();
        let checked = |s: &str, cd: u8| {
            (cd == b'<' && s.bytes().all(|b| b == b'<')
                || cd.is_ascii_digit() && check_digit(s) == cd - b'0')
                .then_some(())
        };
        let name = |s: &str| {
            let (surname, given) = s.split_once("<<").unwrap_or((s, ""));
            let part = |p: &str| {
                p.split('<')
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            [part(surname), part(given)]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let b = text.as_bytes();
        // The MRZ's own alphabet only: slicing by position needs ASCII.
        if !b
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'<')
        {
            return None;
        }
        match b.len() {
            90 => {
                let (l1, l2, l3) = (&text[..30], &text[30..60], &text[60..]);
                let mut number = l1[5..14].to_owned();
                let mut optional = l1[15..30].to_owned();
                if b[14] == b'<' {
                    // A number longer than nine: the rest, and its check
                    // digit, open the optional field.
                    let end = optional.find('<')?;
                    let (rest, cd) = optional[..end].split_at(end.checked_sub(1)?);
                    number = format!("{}{}", number.trim_end_matches('<'), rest);
                    checked(&number, cd.as_bytes()[0])?;
                    optional = optional[end..].to_owned();
                } else {
                    checked(&number, b[14])?;
                }
                checked(&l2[0..6], b[36])?;
                checked(&l2[8..14], b[44])?;
                let composite = format!("{}{}{}{}", &l1[5..30], &l2[0..7], &l2[8..15], &l2[18..29]);
                checked(&composite, b[59])?;
                Some(Mrz {
                    document_code: field(&l1[0..2]),
                    issuer: field(&l1[2..5]),
                    document_number: field(&number),
                    birth: l2[0..6].to_owned(),
                    sex: char::from(b[37]),
                    expiry: l2[8..14].to_owned(),
                    nationality: field(&l2[15..18]),
                    name: name(l3),
                    optional: field(&optional),
                })
            }
            88 => {
                let (l1, l2) = (&text[..44], &text[44..]);
                checked(&l2[0..9], b[53])?;
                checked(&l2[13..19], b[63])?;
                checked(&l2[21..27], b[71])?;
                let composite = format!("{}{}{}", &l2[0..10], &l2[13..20], &l2[21..43]);
                checked(&composite, b[87])?;
                Some(Mrz {
                    document_code: field(&l1[0..2]),
                    issuer: field(&l1[2..5]),
                    document_number: field(&l2[0..9]),
                    birth: l2[13..19].to_owned(),
                    sex: char::from(b[64]),
                    expiry: l2[21..27].to_owned(),
                    nationality: field(&l2[10..13]),
                    name: name(&l1[5..44]),
                    optional: field(&l2[28..42]),
                })
            }
            _ => None,
        }
    }
}

/// DG13 of the Vietnamese CCCD card: a sequence of numbered fields, each a
/// SEQUENCE of an INTEGER (the field number) and one or more strings (the
/// parents' field holds two). Values NFC-normalised; numbers the kiosk does
/// not know are kept.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Dg13 {
    pub fields: BTreeMap<u32, Vec<String>>,
}

impl std::fmt::Debug for Dg13 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Dg13(fields {:?})",
            self.fields.keys().collect::<Vec<_>>()
        )
    }
}

/// The field numbers of DG13 (Vietnam's profile).
pub mod field {
    pub const ID_NUMBER: u32 = 1;
    pub const FULL_NAME: u32 = 2;
    pub const BIRTH: u32 = 3;
    pub const SEX: u32 = 4;
    pub const NATIONALITY: u32 = 5;
    pub const ETHNICITY: u32 = 6;
    pub const RELIGION: u32 = 7;
    pub const HOME_TOWN: u32 = 8;
    pub const RESIDENCE: u32 = 9;
    pub const MARKS: u32 = 10;
    pub const ISSUED: u32 = 11;
    pub const EXPIRES: u32 = 12;
    pub const PARENTS: u32 = 13;
    pub const SPOUSE: u32 = 14;
    pub const OLD_ID: u32 = 15;
}

impl Dg13 {
    pub fn parse(dg13: &[u8]) -> Result<Dg13, Malformed> {
        let file = File::Dg(13);
        let mut out = Dg13::default();
        collect(body(file, dg13)?, &mut out.fields, 0).ok_or(malformed(file, "bad structure"))?;
        if out.fields.is_empty() {
            return Err(malformed(file, "no numbered fields"));
        }
        Ok(out)
    }

    fn first(&self, n: u32) -> Option<&str> {
        self.fields
            .get(&n)?
            .first()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn id_number(&self) -> Option<&str> {
        self.first(field::ID_NUMBER)
    }
    pub fn full_name(&self) -> Option<&str> {
        self.first(field::FULL_NAME)
    }
    /// As printed: dd/mm/yyyy.
    pub fn birth(&self) -> Option<&str> {
        self.first(field::BIRTH)
    }
    pub fn sex(&self) -> Option<&str> {
        self.first(field::SEX)
    }
    pub fn nationality(&self) -> Option<&str> {
        self.first(field::NATIONALITY)
    }
    pub fn ethnicity(&self) -> Option<&str> {
        self.first(field::ETHNICITY)
    }
    pub fn religion(&self) -> Option<&str> {
        self.first(field::RELIGION)
    }
    pub fn home_town(&self) -> Option<&str> {
        self.first(field::HOME_TOWN)
    }
    pub fn residence(&self) -> Option<&str> {
        self.first(field::RESIDENCE)
    }
    pub fn issued(&self) -> Option<&str> {
        self.first(field::ISSUED)
    }
    pub fn expires(&self) -> Option<&str> {
        self.first(field::EXPIRES)
    }
    pub fn father(&self) -> Option<&str> {
        self.fields
            .get(&field::PARENTS)?
            .first()
            .map(String::as_str)
    }
    pub fn mother(&self) -> Option<&str> {
        self.fields.get(&field::PARENTS)?.get(1).map(String::as_str)
    }
    pub fn spouse(&self) -> Option<&str> {
        self.first(field::SPOUSE)
    }

    /// The old 9-digit CMND number (field 15; some issues of the card put
    /// it at 16), when the citizen had one.
    pub fn old_id(&self) -> Option<&str> {
        [field::OLD_ID, field::OLD_ID + 1]
            .into_iter()
            .filter_map(|n| self.first(n))
            .find(|v| v.len() == 9 && v.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// Walks the objects in `bytes`: a SEQUENCE that starts with a small
/// INTEGER and holds no such SEQUENCE inside it is a field, and every
/// string inside it (at any depth) is one of its values; other constructed
/// objects (the wrappers around the fields) are searched.
fn collect(bytes: &[u8], fields: &mut BTreeMap<u32, Vec<String>>, depth: u8) -> Option<()> {
    if depth > 8 {
        return None;
    }
    for t in tlv::parse_all(bytes)? {
        if let Some((number, rest)) = as_field(&t)?
            && !rest.iter().any(|r| contains_field(r, depth + 1))
        {
            let mut values = Vec::new();
            for v in &rest {
                strings(v, &mut values, depth + 1)?;
            }
            fields.entry(number).or_default().extend(values);
        } else if t.is_constructed() {
            collect(t.value, fields, depth + 1)?;
        }
    }
    Some(())
}

/// A SEQUENCE whose first element is a one-byte INTEGER: its number and the
/// other elements. `None` inside when malformed.
fn as_field<'a>(t: &tlv::Tlv<'a>) -> Option<Option<(u32, Vec<tlv::Tlv<'a>>)>> {
    if t.tag != 0x30 {
        return Some(None);
    }
    let mut inner = tlv::parse_all(t.value)?;
    match inner.first() {
        Some(f) if f.tag == 0x02 && f.value.len() == 1 => {
            let n = u32::from(f.value[0]);
            inner.remove(0);
            Some(Some((n, inner)))
        }
        _ => Some(None),
    }
}

fn contains_field(t: &tlv::Tlv<'_>, depth: u8) -> bool {
    if depth > 8 || !t.is_constructed() {
        return false;
    }
    if matches!(as_field(t), Some(Some(_))) {
        return true;
    }
    tlv::parse_all(t.value).is_some_and(|inner| inner.iter().any(|i| contains_field(i, depth + 1)))
}

fn strings(t: &tlv::Tlv<'_>, out: &mut Vec<String>, depth: u8) -> Option<()> {
    if depth > 8 {
        return None;
    }
    match t.tag {
        // UTF8String, PrintableString, IA5String, VisibleString.
        0x0C | 0x13 | 0x16 | 0x1A => {
            let s = std::str::from_utf8(t.value).ok()?;
            out.push(s.trim().nfc().collect());
        }
        _ if t.is_constructed() => {
            for inner in tlv::parse_all(t.value)? {
                strings(&inner, out, depth + 1)?;
            }
        }
        _ => {}
    }
    Some(())
}

/// The MRZ check digit: weights 7, 3, 1; digits as themselves, letters
/// A=10 to Z=35, the filler `<` as 0.
pub fn check_digit(field: &str) -> u8 {
    let sum: u32 = field
        .bytes()
        .zip([7u32, 3, 1].into_iter().cycle())
        .map(|(b, w)| {
            let v = match b {
                b'0'..=b'9' => u32::from(b - b'0'),
                b'A'..=b'Z' => u32::from(b - b'A') + 10,
                _ => 0,
            };
            v * w
        })
        .sum();
    (sum % 10) as u8
}
