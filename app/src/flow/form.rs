//! The forms' rules: which fields a method's form has, and the validator
//! that checks every typed field at once (on submit) or one at a time (as
//! the citizen leaves it), with the policy's rules.

use kiosk_ui::i18n::Text;
use time::{Date, OffsetDateTime};

use super::card::{card_can, card_expiry};
use super::methods::Ctx;
use super::types::*;
use crate::domain::clock::local_date;
use crate::domain::{
    BhxhCode, DateOfBirth, Email, Method, PersonName, PersonalId, PhoneNumber, SubjectKind,
};
use crate::policy::Policy;

/// The fields of a method's form, each with whether it is required (red `*`).
pub fn required_fields(method: Method, subject: SubjectKind) -> Vec<(Field, bool)> {
    let business = subject == SubjectKind::Business;
    match method {
        // At the counter the chip fills the first three.
        Method::MobileSubscriber | Method::Counter => vec![
            (Field::FullName, true),
            (Field::PersonalId, true),
            (Field::DateOfBirth, true),
            (Field::Phone, true),
            (Field::Email, false),
        ],
        Method::Bhxh => vec![
            (Field::BhxhCode, true),
            (Field::FullName, true),
            (Field::DateOfBirth, true),
            (Field::Phone, true),
            (Field::Email, false),
        ],
        // The phone first; the e-mail on the confirmation screen.
        Method::SimSignature => vec![(Field::Phone, true), (Field::Email, business)],
        Method::UsbToken => vec![(Field::Email, business)],
    }
}

/// Collects every field error at once, so the citizen fixes them in one go.
pub(super) struct Validator<'a> {
    policy: &'a Policy,
    pub(super) today: Date,
    pub(super) errors: Vec<FieldError>,
}

impl<'a> Validator<'a> {
    pub(super) fn new(ctx: &Ctx<'a>) -> Self {
        Validator {
            policy: ctx.policy,
            today: local_date(ctx.now),
            errors: Vec::new(),
        }
    }

    fn take<T, E: std::fmt::Display>(
        &mut self,
        field: Field,
        result: Result<T, E>,
        message: impl Fn(&E) -> Text,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(FieldError::new(field, message(&e), &e));
                None
            }
        }
    }

    pub(super) fn name(&mut self, text: &str) -> Option<PersonName> {
        let r = PersonName::parse(text, &self.policy.person);
        self.take(Field::FullName, r, |e| e.message())
    }

    pub(super) fn personal_id(&mut self, text: &str) -> Option<PersonalId> {
        let r = PersonalId::parse(text, &self.policy.identifiers, self.today.year());
        self.take(Field::PersonalId, r, |e| e.message())
    }

    pub(super) fn dob(&mut self, text: &str) -> Option<DateOfBirth> {
        let r = DateOfBirth::parse(text, self.today, &self.policy.person);
        self.take(Field::DateOfBirth, r, |e| e.message())
    }

    pub(super) fn phone(&mut self, text: &str) -> Option<PhoneNumber> {
        let r = PhoneNumber::parse(text, &self.policy.identifiers);
        self.take(Field::Phone, r, |e| e.message())
    }

    pub(super) fn bhxh(&mut self, text: &str) -> Option<BhxhCode> {
        let r = BhxhCode::parse(text);
        self.take(Field::BhxhCode, r, |e| e.message())
    }

    /// Blank is fine when optional; anything typed must be valid.
    pub(super) fn email(&mut self, text: &str, required: bool) -> Option<Option<Email>> {
        if text.trim().is_empty() && !required {
            return Some(None);
        }
        let r = Email::parse(text);
        self.take(Field::Email, r, |e| e.message()).map(Some)
    }

    pub(super) fn finish<T>(self, value: Option<T>) -> Result<T, Vec<FieldError>> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(self.errors),
        }
    }
}

/// Checks one typed field on its own, as the citizen leaves it, with the
/// same rules the method applies on submit. `None` when it is fine or blank
/// (blank required fields are reported on submit, not while moving on).
pub fn check_field(
    field: Field,
    text: &str,
    policy: &Policy,
    now: OffsetDateTime,
) -> Option<FieldError> {
    if text.trim().is_empty() {
        return None;
    }
    let mut v = Validator {
        policy,
        today: local_date(now),
        errors: Vec::new(),
    };
    let _valid = match field {
        Field::FullName => v.name(text).is_some(),
        Field::PersonalId => v.personal_id(text).is_some(),
        Field::DateOfBirth => v.dob(text).is_some(),
        Field::Phone => v.phone(text).is_some(),
        Field::BhxhCode => v.bhxh(text).is_some(),
        Field::Email => v.email(text, false).is_some(),
        Field::CardExpiry => card_expiry(&mut v, text).is_some(),
        Field::CardCan => {
            if let Err(e) = card_can(text) {
                v.errors.push(e);
            }
            true
        }
        Field::Otp
        | Field::Pin
        | Field::Password
        | Field::Reference
        | Field::ClerkId
        | Field::PortalUrl
        | Field::EnrolCode
        | Field::TlsPin => true,
    };
    v.errors.pop()
}
