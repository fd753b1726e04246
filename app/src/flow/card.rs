//! The CCCD card's pages over a method's form: the key as the citizen
//! types it off the card (the number and dates, or the CAN), the card on
//! the reader, the read, and what the chip fills into the form.

use kiosk_hal::card::bac::MrzKey;
use kiosk_hal::card::chip::AccessKey;
use kiosk_ui::i18n::Text;
use time::{Date, OffsetDateTime};
use zeroize::Zeroizing;

use super::engine::{Registration, Stage};
use super::form::Validator;
use super::methods::Ctx;
use super::methods::MethodFlow;
use super::outcomes::*;
use super::screen::*;
use super::types::*;
use crate::domain::PersonalId;
use crate::domain::chip::{self, ChipIdentity};

/// The key to the chip from what the citizen read off the card: the
/// 12-digit number, the date of birth and the date of expiry; or, `by_can`,
/// the six digits of its CAN.
pub(super) fn card_key(
    ctx: &Ctx<'_>,
    form: &Form,
    by_can: bool,
) -> Result<AccessKey, Vec<FieldError>> {
    if by_can {
        return card_can(&form.card_can)
            .map(|can| AccessKey::Can(Zeroizing::new(can.to_string())))
            .map_err(|e| vec![e]);
    }
    let mut v = Validator::new(ctx);
    let id = v.personal_id(&form.personal_id);
    let dob = v.dob(&form.date_of_birth);
    let cccd = match id {
        Some(PersonalId::Cccd(c)) => Some(c),
        Some(PersonalId::Cmnd(_)) => {
            v.errors.push(FieldError::new(
                Field::PersonalId,
                Text::new("Thẻ gắn chip mang số định danh 12 chữ số; CMND 9 số không có chip."),
                "a chip card carries the 12-digit number; a 9-digit CMND has no chip",
            ));
            None
        }
        None => None,
    };
    let expiry = card_expiry(&mut v, &form.card_expiry);
    if let (Some(cccd), Some(dob)) = (&cccd, &dob)
        && let Err(e) = cccd.check_birth_date(dob.date())
    {
        v.errors
            .push(FieldError::new(Field::PersonalId, e.message(), &e));
    }
    let all = (|| Some((cccd?, dob?, expiry?)))();
    let (cccd, dob, expiry) = v.finish(all)?;
    MrzKey::from_cccd(
        cccd.as_str(),
        &chip::mrz_date(dob.date()),
        &chip::mrz_date(expiry),
    )
    .map(AccessKey::Mrz)
    .map_err(|e| {
        vec![FieldError::new(
            Field::PersonalId,
            Text::new("Số CCCD không hợp lệ."),
            e,
        )]
    })
}

/// The CAN: six digits.
pub(super) fn card_can(text: &str) -> Result<&str, FieldError> {
    let can = text.trim();
    if can.len() == 6 && can.bytes().all(|b| b.is_ascii_digit()) {
        Ok(can)
    } else {
        Err(FieldError::new(
            Field::CardCan,
            Text::new("Số CAN gồm 6 chữ số in trên mặt trước của thẻ."),
            "the CAN is six digits",
        ))
    }
}

/// "Có giá trị đến": a date, not yet passed (an expired card's chip is
/// not taken as proof).
pub(super) fn card_expiry(v: &mut Validator<'_>, text: &str) -> Option<Date> {
    let error = |message: &'static str, en: &str| {
        FieldError::new(Field::CardExpiry, Text::new(message), en)
    };
    let problem = match chip::printed_date(text) {
        _ if text.trim().is_empty() => error(
            "Nhập ngày “Có giá trị đến” in trên thẻ.",
            "the date of expiry is required",
        ),
        None => error(
            "Ngày không hợp lệ. Nhập theo dạng ngày/tháng/năm, ví dụ 15/03/2031.",
            "the date of expiry is not a dd/mm/yyyy date",
        ),
        Some(d) if d < v.today => error(
            "Thẻ đã quá ngày “Có giá trị đến”, chip không dùng được. Vui lòng nhập thông tin bằng tay.",
            "the card has expired",
        ),
        Some(d) => return Some(d),
    };
    v.errors.push(problem);
    None
}

/// Writes what the chip proved over the form's fields for it.
pub fn fill_form(form: &mut Form, identity: &ChipIdentity) {
    let put = |field: &mut String, value: &str| {
        field.clear();
        field.push_str(value);
    };
    put(&mut form.full_name, identity.full_name.as_str());
    put(&mut form.personal_id, identity.cccd.as_str());
    put(
        &mut form.date_of_birth,
        &chip::print_date(identity.date_of_birth.date()),
    );
}

/// Where the card's pages are, while the method's form waits under them.
#[derive(Debug)]
pub(super) enum CardStep {
    /// What is printed on the card: the number and dates, or the CAN.
    Key {
        can: bool,
    },
    Place(AccessKey),
    Reading(AccessKey),
    Refused,
}

impl CardStep {
    pub(super) fn name(&self) -> &'static str {
        match self {
            CardStep::Key { .. } => "card_key",
            CardStep::Place(_) => "place_card",
            CardStep::Reading(_) => "reading_card",
            CardStep::Refused => "card_refused",
        }
    }
}

impl<M: MethodFlow> Registration<M> {
    /// The card's pages: what is printed on it, the card on the reader,
    /// the read; then back to the form, filled by the chip or as it was.
    #[allow(clippy::type_complexity, clippy::result_large_err)]
    pub(super) fn card(
        &mut self,
        state: M::State,
        step: CardStep,
        now: OffsetDateTime,
        event: Event,
    ) -> Result<(Stage<M::State>, Vec<Effect>), Stage<M::State>> {
        use CardStep as C;
        let form = |state| (Stage::Method(state), vec![Effect::Show(Screen::Form)]);
        let place = |again| vec![Effect::Show(Screen::PlaceCard { again })];
        let key_page = |can| vec![Effect::Show(Screen::CardKey { can })];
        Ok(match (step, event) {
            (C::Key { .. } | C::Place(_) | C::Refused, Event::CardBack) => form(state),
            (C::Key { .. }, Event::CardKeyByCan(can)) => {
                (Stage::Card(state, C::Key { can }), key_page(can))
            }
            (C::Key { can }, Event::CardKeyEntered(typed)) => {
                let ctx = Ctx {
                    policy: &self.policy,
                    subject: self.subject,
                    now,
                    pending: &mut self.pending,
                    chip: None,
                };
                match card_key(&ctx, &typed, can) {
                    Ok(key) => (Stage::Card(state, C::Place(key)), place(false)),
                    Err(errors) => (
                        Stage::Card(state, C::Key { can }),
                        vec![Effect::FieldErrors(errors)],
                    ),
                }
            }
            (C::Place(key), Event::CardPlaced) => (
                Stage::Card(state, C::Reading(key.clone())),
                vec![Effect::Show(Screen::ReadingCard), Effect::ReadCard(key)],
            ),
            (C::Reading(key), Event::CardRead(outcome)) => match outcome {
                CardOutcome::Read(chip) => {
                    let (stage, mut effects) = form(state);
                    effects.push(self.adopt_chip(chip));
                    (stage, effects)
                }
                CardOutcome::Removed => (Stage::Card(state, C::Place(key)), place(true)),
                CardOutcome::WrongKey => {
                    let can = matches!(key, AccessKey::Can(_));
                    let error = if can {
                        FieldError::new(
                            Field::CardCan,
                            Text::new(
                                "Chip của thẻ không mở được bằng số CAN này. Kiểm tra lại 6 số CAN in trên thẻ.",
                            ),
                            "the chip refused the CAN typed",
                        )
                    } else {
                        FieldError::new(
                            Field::PersonalId,
                            Text::new(
                                "Chip của thẻ không mở được bằng các số này. Kiểm tra lại số CCCD, ngày sinh và ngày “Có giá trị đến” in trên thẻ.",
                            ),
                            "the chip refused the key made of the number and dates typed",
                        )
                    };
                    let mut effects = key_page(can);
                    effects.push(Effect::FieldErrors(vec![error]));
                    (Stage::Card(state, C::Key { can }), effects)
                }
                CardOutcome::NoCan => {
                    let mut effects = key_page(false);
                    effects.push(Effect::FieldErrors(vec![FieldError::new(
                        Field::PersonalId,
                        Text::new(
                            "Chip của thẻ này không mở bằng số CAN. Vui lòng nhập số CCCD, ngày sinh và ngày “Có giá trị đến” in trên thẻ.",
                        ),
                        "the chip offers no PACE: the CAN cannot open it",
                    )]));
                    (Stage::Card(state, C::Key { can: false }), effects)
                }
                CardOutcome::Refused(problem) => (
                    Stage::Card(state, C::Refused),
                    vec![Effect::Show(Screen::CardRefused(problem))],
                ),
            },
            (step, _) => return Err(Stage::Card(state, step)),
        })
    }
}
