//! What an account is unique by, as kiosk and portal name it on the wire:
//! `cccd:079303012345`, `cmnd:012345678`, `mst:0100047516`, `bhxh:5101234567`.
//!
//! One type for the kiosk's duplicate key, the live checks and the portal's
//! accounts, so the `kind:value` form is written and read in one place. The
//! value is personal data: it is wiped on drop, `Debug` shows only the kind,
//! and a parse error never repeats the input.

use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

/// The kind of identifier before the colon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentityKind {
    /// The 12-digit personal ID (căn cước công dân).
    Cccd,
    /// The old 9-digit identity card (chứng minh nhân dân).
    Cmnd,
    /// A business's tax code (mã số thuế), with its branch suffix if any.
    Mst,
    /// The social-insurance code, until the BHXH database names the person.
    Bhxh,
}

impl IdentityKind {
    pub const ALL: [IdentityKind; 4] = [
        IdentityKind::Cccd,
        IdentityKind::Cmnd,
        IdentityKind::Mst,
        IdentityKind::Bhxh,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IdentityKind::Cccd => "cccd",
            IdentityKind::Cmnd => "cmnd",
            IdentityKind::Mst => "mst",
            IdentityKind::Bhxh => "bhxh",
        }
    }

    /// The kind named `text` (`cccd`, …).
    pub fn parse(text: &str) -> Option<IdentityKind> {
        IdentityKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// A person's own number (CCCD or CMND), as carriers and the BHXH
    /// database know people.
    pub fn is_personal_id(self) -> bool {
        matches!(self, IdentityKind::Cccd | IdentityKind::Cmnd)
    }
}

/// Why a `kind:value` text is not an identity. Never carries the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("an identity is kind:value, with kind one of cccd, cmnd, mst, bhxh")]
    UnknownKind,
    #[error(
        "an identity's value is 1 to 20 digits; a tax code 1 to 16, with a branch as -N to -NNN"
    )]
    BadValue,
}

/// `kind:value`, checked for form (not for the identifier's own rules:
/// those are the kiosk's domain, and the portal's register).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdentityRef {
    kind: IdentityKind,
    value: String,
}

impl IdentityRef {
    /// The form of `sync/openapi.json`'s pattern: 1 to 20 digits, and for
    /// a tax code 1 to 16 digits with an optional branch of 1 to 3.
    pub fn new(kind: IdentityKind, value: &str) -> Result<IdentityRef, IdentityError> {
        let digits = |s: &str, most: usize| {
            (1..=most).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        };
        let ok = match (kind, value.split_once('-')) {
            (IdentityKind::Mst, Some((head, branch))) => digits(head, 16) && digits(branch, 3),
            (IdentityKind::Mst, None) => digits(value, 16),
            (_, Some(_)) => false,
            (_, None) => digits(value, 20),
        };
        if !ok {
            return Err(IdentityError::BadValue);
        }
        Ok(IdentityRef {
            kind,
            value: value.to_string(),
        })
    }

    pub fn kind(&self) -> IdentityKind {
        self.kind
    }

    /// The identifier without its kind.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// `kind:value`, in a buffer wiped on drop.
    pub fn wire(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(self.value.len() + 5));
        s.push_str(self.kind.as_str());
        s.push(':');
        s.push_str(&self.value);
        s
    }
}

impl FromStr for IdentityRef {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<IdentityRef, IdentityError> {
        let (kind, value) = s.split_once(':').ok_or(IdentityError::UnknownKind)?;
        let kind = IdentityKind::parse(kind).ok_or(IdentityError::UnknownKind)?;
        IdentityRef::new(kind, value)
    }
}

impl Drop for IdentityRef {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

impl std::fmt::Debug for IdentityRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IdentityRef({}:…)", self.kind.as_str())
    }
}

impl Serialize for IdentityRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.wire())
    }
}

impl<'de> Deserialize<'de> for IdentityRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<IdentityRef, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_what_it_writes() {
        for (text, kind, value) in [
            ("cccd:079303012345", IdentityKind::Cccd, "079303012345"),
            ("cmnd:012345678", IdentityKind::Cmnd, "012345678"),
            ("mst:0100686209-199", IdentityKind::Mst, "0100686209-199"),
            ("bhxh:5101234567", IdentityKind::Bhxh, "5101234567"),
        ] {
            let id: IdentityRef = text.parse().unwrap();
            assert_eq!((id.kind(), id.value()), (kind, value));
            assert_eq!(&id.wire()[..], text);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<IdentityRef>(&json).unwrap(), id);
        }
    }

    #[test]
    fn malformed_identities_are_refused_without_repeating_them() {
        for text in [
            "079303012345",
            "passport:123",
            "cccd:",
            "cccd:07930301234x",
            "cccd:0793-03",
            "mst:0100686209-",
            "bhxh:123456789012345678901",
        ] {
            let e = text.parse::<IdentityRef>().unwrap_err();
            assert!(!e.to_string().contains("0793"), "{e}");
        }
        let e = serde_json::from_str::<IdentityRef>("\"cccd:0793x\"").unwrap_err();
        assert!(!e.to_string().contains("0793x"), "{e}");
    }

    #[test]
    fn debug_shows_only_the_kind() {
        let id: IdentityRef = "cccd:079303012345".parse().unwrap();
        assert_eq!(format!("{id:?}"), "IdentityRef(cccd:…)");
    }
}
