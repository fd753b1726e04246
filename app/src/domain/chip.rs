//! What the chip in a CCCD card proves, in the domain's types: read by
//! `hal::card`, proven by passive authentication, then checked here as the
//! kiosk checks anything typed (the birth code and year of the CCCD number,
//! the age bounds, the name rules), and the chip's two records (the MRZ in
//! DG1, Vietnam's fields in DG13) must agree with each other.

use kiosk_hal::card::chip::Verified;
use time::{Date, Month};

use super::{Cccd, Cmnd, DateOfBirth, IdError, PersonError, PersonName, PersonalId};
use crate::policy::Policy;

/// The identity a genuine chip gives.
#[derive(Clone)]
pub struct ChipIdentity {
    pub cccd: Cccd,
    /// The old 9-digit CMND number in DG13, when the citizen had one.
    pub old_cmnd: Option<Cmnd>,
    pub full_name: PersonName,
    pub date_of_birth: DateOfBirth,
    /// The card's last valid day.
    pub expires: Date,
}

/// Masked: the value types print so.
impl std::fmt::Debug for ChipIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChipIdentity")
            .field("cccd", &self.cccd.masked())
            .field("old_cmnd", &self.old_cmnd.as_ref().map(Cmnd::masked))
            .field("full_name", &self.full_name)
            .finish_non_exhaustive()
    }
}

/// Why genuine chip data cannot be used: the technician's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChipDataError {
    #[error("the chip holds no DG13 (Vietnam's personal data)")]
    NoDg13,
    #[error("DG13 has no {0}")]
    Missing(&'static str),
    #[error("DG1 and DG13 disagree on the {0}")]
    Inconsistent(&'static str),
    #[error("the personal number: {0}")]
    Id(#[from] IdError),
    #[error("the name or date of birth: {0}")]
    Person(#[from] PersonError),
}

/// `dd/mm/yyyy` as the card prints dates and DG13 holds them.
pub fn printed_date(text: &str) -> Option<Date> {
    let mut parts = text.trim().split('/');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    if y.len() != 4 {
        return None;
    }
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// `date` as the card prints it, `dd/mm/yyyy`.
pub fn print_date(date: Date) -> String {
    format!(
        "{:02}/{:02}/{}",
        date.day(),
        u8::from(date.month()),
        date.year()
    )
}

/// `date` as the MRZ holds it, `YYMMDD`.
pub fn mrz_date(date: Date) -> String {
    format!(
        "{:02}{:02}{:02}",
        date.year().rem_euclid(100),
        u8::from(date.month()),
        date.day()
    )
}

impl ChipIdentity {
    /// The identity in `v` (already proven genuine), checked by `policy`'s
    /// rules as of `today`.
    pub fn from_verified(
        v: &Verified,
        policy: &Policy,
        today: Date,
    ) -> Result<Self, ChipDataError> {
        let dg13 = v.dg13.as_ref().ok_or(ChipDataError::NoDg13)?;
        let number = dg13
            .id_number()
            .ok_or(ChipDataError::Missing("personal number"))?;
        let cccd = Cccd::parse(number, &policy.identifiers, today.year())?;
        // The MRZ of a CCCD card: the number's last nine digits as the
        // document number, the whole number in the optional field.
        if v.mrz.optional.get(..12) != Some(cccd.as_str())
            || v.mrz.document_number != cccd.as_str()[3..]
        {
            return Err(ChipDataError::Inconsistent("personal number"));
        }
        let birth = dg13
            .birth()
            .and_then(printed_date)
            .ok_or(ChipDataError::Missing("date of birth"))?;
        if v.mrz.birth != mrz_date(birth) {
            return Err(ChipDataError::Inconsistent("date of birth"));
        }
        cccd.check_birth_date(birth)?;
        let date_of_birth = DateOfBirth::from_date(birth, today, &policy.person)?;
        let full_name = PersonName::parse(
            dg13.full_name()
                .ok_or(ChipDataError::Missing("full name"))?,
            &policy.person,
        )?;
        let expires = dg13
            .expires()
            .and_then(printed_date)
            .ok_or(ChipDataError::Missing("date of expiry"))?;
        let old_cmnd = dg13.old_id().map(Cmnd::parse).transpose()?;
        Ok(ChipIdentity {
            cccd,
            old_cmnd,
            full_name,
            date_of_birth,
            expires,
        })
    }

    /// Every number an account of this citizen may have been opened with:
    /// the CCCD, and the old CMND an account opened years ago carries.
    pub fn personal_ids(&self) -> Vec<PersonalId> {
        std::iter::once(PersonalId::Cccd(self.cccd.clone()))
            .chain(self.old_cmnd.clone().map(PersonalId::Cmnd))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiosk_hal::card::lds::{Dg13, Mrz};
    use kiosk_hal::card::pa::HashAlgorithm;
    use kiosk_hal::card::sim::issue::{Citizen, dg1, dg13};
    use time::macros::date;

    const TODAY: Date = date!(2026 - 12 - 05);

    fn verified(c: &Citizen) -> Verified {
        Verified {
            mrz: Mrz::parse_dg1(&dg1(c)).unwrap(),
            dg13: Some(Dg13::parse(&dg13(c)).unwrap()),
            signer: "Document Signer".into(),
            hash: HashAlgorithm::Sha256,
            checked: vec![1, 13],
            active_auth: kiosk_hal::card::chip::ActiveAuth::NotOffered,
        }
    }

    #[test]
    fn the_demo_card_gives_the_domain_identity_with_both_numbers() {
        let c = Citizen::demo();
        let id = ChipIdentity::from_verified(&verified(&c), Policy::built_in(), TODAY).unwrap();
        assert_eq!(id.cccd.as_str(), "001203004567");
        assert_eq!(id.full_name.as_str(), "Nguyễn Thị Thu Hà");
        assert_eq!(id.date_of_birth.date(), date!(2003 - 03 - 15));
        assert_eq!(id.expires, date!(2028 - 03 - 15));
        let ids: Vec<String> = id.personal_ids().iter().map(|p| p.masked()).collect();
        assert_eq!(ids, ["001*******67", "01*****89"]);
    }

    #[test]
    fn records_that_disagree_or_break_the_rules_are_refused() {
        let c = Citizen::demo();
        let policy = Policy::built_in();
        // DG13's number differs from the MRZ's.
        let mut v = verified(&c);
        let mut other = c.clone();
        other.cccd = "001203004568".into();
        v.dg13 = Some(Dg13::parse(&dg13(&other)).unwrap());
        assert_eq!(
            ChipIdentity::from_verified(&v, policy, TODAY).unwrap_err(),
            ChipDataError::Inconsistent("personal number")
        );
        // A date of birth DG1 does not carry.
        let mut v = verified(&c);
        let mut other = c.clone();
        other.birth = "16/03/2003".into();
        v.dg13 = Some(Dg13::parse(&dg13(&other)).unwrap());
        assert_eq!(
            ChipIdentity::from_verified(&v, policy, TODAY).unwrap_err(),
            ChipDataError::Inconsistent("date of birth")
        );
        // A number whose century and year digits contradict the birth.
        let mut odd = c.clone();
        odd.cccd = "001103004567".into();
        assert!(matches!(
            ChipIdentity::from_verified(&verified(&odd), policy, TODAY),
            Err(ChipDataError::Id(IdError::InconsistentWithBirthDate))
        ));
        // No old number: only the CCCD.
        let mut young = c.clone();
        young.old_id = None;
        let id = ChipIdentity::from_verified(&verified(&young), policy, TODAY).unwrap();
        assert_eq!(id.personal_ids().len(), 1);
        // No DG13 at all.
        let mut v = verified(&c);
        v.dg13 = None;
        assert_eq!(
            ChipIdentity::from_verified(&v, policy, TODAY).unwrap_err(),
            ChipDataError::NoDg13
        );
    }
}
