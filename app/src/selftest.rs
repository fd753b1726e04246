//! A registration walked through the real state machine with the answers a
//! kiosk can give itself without devices or portal: offline, local checks
//! only, the OTP read back from the SMS the flow asked the modem to send.
//!
//! `kioskctl selftest` uses it to prove an installed kiosk can complete a
//! registration; the tests and benchmarks use it to get a real [`Draft`].

use std::sync::Arc;

use rand::CryptoRng;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::domain::{Method, SubjectKind};
use crate::flow::{
    self, Draft, DuplicateOutcome, Effect, Event, FieldError, FlowError, Form, SubscriberOutcome,
};
use crate::policy::Policy;

/// Who the synthetic citizen is.
#[derive(Debug, Clone, Copy)]
pub struct SyntheticPerson<'a> {
    pub full_name: &'a str,
    pub personal_id: &'a str,
    pub date_of_birth: &'a str,
    pub phone: &'a str,
    pub email: &'a str,
    pub password: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error("the form was refused: {}", .0.iter().map(|e| e.message_en.as_str()).collect::<Vec<_>>().join("; "))]
    Fields(Vec<FieldError>),
    #[error("the flow asked for no SMS with a code in it")]
    NoOtp,
    #[error("the flow did not reach the store step")]
    NoDraft,
}

/// Mobile subscriber, citizen, offline, from the form to the Store effect.
pub fn walk_offline_mobile<R: CryptoRng + ?Sized>(
    policy: Arc<Policy>,
    person: &SyntheticPerson<'_>,
    now: OffsetDateTime,
    rng: &mut R,
) -> Result<Draft, WalkError> {
    let digits = usize::from(policy.otp.digits);
    let (mut reg, _) = flow::start(
        Method::MobileSubscriber,
        SubjectKind::Citizen,
        policy,
        false,
    )?;
    let mut send = |event: Event| reg.handle(now, event, rng);
    let mut form = Form::default();
    form.full_name = person.full_name.into();
    form.personal_id = person.personal_id.into();
    form.date_of_birth = person.date_of_birth.into();
    form.phone = person.phone.into();
    form.email = person.email.into();
    for effect in send(Event::Submit(form))? {
        if let Effect::FieldErrors(errors) = effect {
            return Err(WalkError::Fields(errors));
        }
    }
    send(Event::DuplicateChecked(
        DuplicateOutcome::CheckedLocallyOnly,
    ))?;
    let code = send(Event::SubscriberChecked(SubscriberOutcome::Unavailable))?
        .into_iter()
        .find_map(|e| match e {
            Effect::SendOtp { text, .. } => text
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == digits)
                .map(|w| Zeroizing::new(w.to_string())),
            _ => None,
        })
        .ok_or(WalkError::NoOtp)?;
    send(Event::OtpDelivered)?;
    send(Event::OtpEntered(code))?;
    send(Event::PasswordSubmitted {
        first: Zeroizing::new(person.password.into()),
        confirm: Zeroizing::new(person.password.into()),
    })?
    .into_iter()
    .find_map(|e| match e {
        Effect::Store(draft) => Some(*draft),
        _ => None,
    })
    .ok_or(WalkError::NoDraft)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const PERSON: SyntheticPerson<'static> = SyntheticPerson {
        full_name: "Kiểm Tra",
        personal_id: "051090000001",
        date_of_birth: "01/01/1990",
        phone: "0912000001",
        email: "",
        password: "Kiemtra@2026",
    };

    #[test]
    fn the_walk_reaches_a_draft_and_explains_a_refused_form() {
        let policy = Arc::new(Policy::built_in().clone());
        let now = time::macros::datetime!(2026-11-28 10:00 +7);
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let draft = walk_offline_mobile(Arc::clone(&policy), &PERSON, now, &mut rng).unwrap();
        assert_eq!(draft.method, Method::MobileSubscriber);
        let bad = SyntheticPerson {
            phone: "0101234567",
            ..PERSON
        };
        let err = walk_offline_mobile(policy, &bad, now, &mut rng).unwrap_err();
        assert!(err.to_string().contains("mobile network"), "{err}");
    }
}
