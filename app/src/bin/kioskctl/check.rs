//! `kioskctl check`: one identifier, date or password against the policy
//! in force, as the kiosk would judge it.

use std::io::BufRead;

use kiosk::domain::{
    BhxhCode, BusinessName, Cccd, Cmnd, DateOfBirth, Email, Mst, PasswordCheck, PasswordRule,
    PersonName, PersonalId, PhoneNumber, Sex,
};
use kiosk::policy::Policy;
use kiosk_ui::i18n::Lang;
use time::OffsetDateTime;

use crate::{CheckKind, CtlError, invalid};

pub(crate) fn today() -> time::Date {
    kiosk::domain::clock::local_date(OffsetDateTime::now_utc())
}

pub(crate) fn check(
    policy: &Policy,
    kind: CheckKind,
    value: Option<&str>,
    dob: Option<&str>,
) -> Result<(), CtlError> {
    let today = today();
    let year = today.year();
    if let CheckKind::Password = kind {
        return check_password(policy);
    }
    let value = value.ok_or_else(|| CtlError {
        code: 2,
        message: "a value to check is required".into(),
    })?;
    let ids = &policy.identifiers;
    let say = |label: &str, e: &dyn std::fmt::Display| invalid(format!("{label}: {e}"));
    let describe_cccd = |id: &Cccd| {
        let sex = match id.sex() {
            Sex::Male => "male",
            Sex::Female => "female",
        };
        let province = ids.province_name(id.birth_code()).unwrap_or("country code");
        format!(
            "born {}, {sex}, birth registered in {province} ({})",
            id.birth_year(),
            id.birth_code()
        )
    };
    let line = match kind {
        CheckKind::Cccd | CheckKind::Id => {
            let id = if let CheckKind::Cccd = kind {
                PersonalId::Cccd(Cccd::parse(value, ids, year).map_err(|e| say("cccd", &e))?)
            } else {
                PersonalId::parse(value, ids, year).map_err(|e| say("id", &e))?
            };
            if let Some(dob) = dob {
                let dob =
                    DateOfBirth::parse(dob, today, &policy.person).map_err(|e| say("dob", &e))?;
                id.check_birth_date(dob.date())
                    .map_err(|e| say("cccd", &e))?;
            }
            match &id {
                PersonalId::Cccd(c) => format!("cccd {}: valid; {}", c.as_str(), describe_cccd(c)),
                PersonalId::Cmnd(c) => format!("cmnd {}: valid (old identity card)", c.as_str()),
            }
        }
        CheckKind::Cmnd => {
            let c = Cmnd::parse(value).map_err(|e| say("cmnd", &e))?;
            format!("cmnd {}: valid", c.as_str())
        }
        CheckKind::Mst => {
            let m = Mst::parse(value).map_err(|e| say("mst", &e))?;
            let kind = if m.is_branch() {
                "branch"
            } else {
                "enterprise"
            };
            format!("mst {}: valid ({kind}, check digit correct)", m.as_str())
        }
        CheckKind::Bhxh => format!(
            "bhxh {}: valid",
            BhxhCode::parse(value)
                .map_err(|e| say("bhxh", &e))?
                .as_str()
        ),
        CheckKind::Phone => {
            let p = PhoneNumber::parse(value, ids).map_err(|e| say("phone", &e))?;
            format!(
                "phone {}: valid ({}, national form {})",
                p.e164(),
                p.carrier(),
                p.national()
            )
        }
        CheckKind::Email => format!(
            "email {}: valid",
            Email::parse(value).map_err(|e| say("email", &e))?.as_str()
        ),
        CheckKind::Name => {
            let n = PersonName::parse(value, &policy.person).map_err(|e| say("name", &e))?;
            format!(
                "name \"{}\": valid ({} characters, NFC)",
                n.as_str(),
                n.as_str().chars().count()
            )
        }
        CheckKind::BusinessName => {
            let n =
                BusinessName::parse(value, &policy.person).map_err(|e| say("business name", &e))?;
            format!("business name \"{}\": valid", n.as_str())
        }
        CheckKind::Dob => {
            let d = DateOfBirth::parse(value, today, &policy.person).map_err(|e| say("dob", &e))?;
            format!(
                "dob {}: valid, age {}",
                d.to_vietnamese(),
                kiosk::domain::age_on(d.date(), today)
            )
        }
        CheckKind::Password => unreachable!("handled above"),
    };
    println!("{line}");
    Ok(())
}

/// Reads the password and its confirmation from standard input, so neither
/// lands in shell history or the process list.
pub(crate) fn check_password(policy: &Policy) -> Result<(), CtlError> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut next =
        || zeroize::Zeroizing::new(lines.next().and_then(Result::ok).unwrap_or_default());
    let first = next();
    let confirm = next();
    let check = PasswordCheck::evaluate(&first, &confirm, &policy.password);
    for rule in PasswordRule::ALL {
        let mark = if check.holds(rule) { "ok  " } else { "FAIL" };
        println!("{mark} {}", rule.label(&policy.password).render(Lang::En));
    }
    if check.is_ok() {
        Ok(())
    } else {
        Err(invalid(format!(
            "password: {} rule(s) not met",
            check.failing.len()
        )))
    }
}
