//! Tại quầy giao dịch: a clerk on duty registers the citizen standing at
//! the counter. The chip of the citizen's CCCD card, proven genuine, gives
//! the identity (the form takes nothing typed for it); the clerk compares
//! the person with the card and confirms it by a deliberate touch; the
//! citizen then proves their phone with the OTP and sets the password
//! themselves. The manual: "tương đương với tài khoản đăng ký trực tiếp".

use rand::CryptoRng;

use super::engine::Identified;
use super::form::Validator;
use super::methods::{Ctx, MethodFlow, Step};
use super::outcomes::*;
use super::screen::*;
use super::types::*;
use crate::domain::chip::print_date;
use crate::domain::{Method, PersonalId, SubjectKind};
use kiosk_ui::i18n::Text;

#[derive(Debug)]
pub struct Counter;

#[derive(Debug)]
pub enum CounterState {
    /// The chip's fields, locked, and the phone and e-mail to type.
    Form,
    /// The clerk compares the person with the card.
    FaceCheck(Box<Identified>),
}

impl MethodFlow for Counter {
    const METHOD: Method = Method::Counter;
    // The chip proves the person; the OTP proves the phone is in their hand.
    const CHECKS_SUBSCRIBER: bool = false;
    const USES_OTP: bool = true;
    type State = CounterState;

    fn start(_: SubjectKind) -> (CounterState, Vec<Effect>) {
        // The counter's runtime opens the card's pages at once: nothing
        // of the person is typed at the counter.
        (CounterState::Form, vec![Effect::Show(Screen::Form)])
    }

    fn handle<R: CryptoRng + ?Sized>(
        state: CounterState,
        ctx: &mut Ctx<'_>,
        event: Event,
        _: &mut R,
    ) -> Step<CounterState> {
        match (state, event) {
            (CounterState::Form, Event::Submit(form)) => {
                let mut v = Validator::new(ctx);
                let phone = v.phone(&form.phone);
                let email = v.email(&form.email, false);
                let Some(chip) = ctx.chip else {
                    v.errors.push(FieldError::new(
                        Field::PersonalId,
                        Text::new(
                            "Đăng ký tại quầy cần đọc chip thẻ CCCD của công dân. Chạm “Đọc thẻ CCCD gắn chip”.",
                        ),
                        "a counter registration needs the chip of the CCCD card",
                    ));
                    return Step::Stay(CounterState::Form, vec![Effect::FieldErrors(v.errors)]);
                };
                let all = (|| Some((phone?, email?)))();
                match v.finish(all) {
                    Ok((phone, email)) => {
                        let id = PersonalId::Cccd(chip.cccd.clone());
                        let screen = Screen::FaceCheck {
                            full_name: chip.full_name.as_str().to_string(),
                            number: chip.cccd.as_str().to_string(),
                            date_of_birth: print_date(chip.date_of_birth.date()),
                            expires: print_date(chip.expires),
                        };
                        let who = Identified {
                            key: IdentityKey::Person(id.clone()),
                            applicant: Applicant {
                                full_name: Some(chip.full_name.clone()),
                                personal_id: Some(id),
                                date_of_birth: Some(chip.date_of_birth),
                                phone: Some(phone),
                                email,
                                ..Applicant::default()
                            },
                        };
                        Step::Stay(
                            CounterState::FaceCheck(Box::new(who)),
                            vec![Effect::Show(screen)],
                        )
                    }
                    Err(errors) => {
                        Step::Stay(CounterState::Form, vec![Effect::FieldErrors(errors)])
                    }
                }
            }
            (CounterState::FaceCheck(who), Event::FaceConfirmed) => {
                Step::Identified(who, Vec::new())
            }
            (CounterState::FaceCheck(_), Event::FaceMismatch) => Step::Fail(Failure::FaceMismatch),
            (state, _) => Step::Invalid(state),
        }
    }

    fn step_name(state: &CounterState) -> &'static str {
        match state {
            CounterState::Form => "form",
            CounterState::FaceCheck(_) => "face_check",
        }
    }

    fn takes_card(state: &CounterState) -> bool {
        matches!(state, CounterState::Form)
    }
}
