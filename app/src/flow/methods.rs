//! The four methods: each one's own steps up to an established identity.

use kiosk_ui::i18n::Text;
use rand::{CryptoRng, RngExt as _};
use time::{Date, OffsetDateTime};

use super::engine::Identified;
use super::outcomes::*;
use super::types::*;
use crate::domain::{
    BhxhCode, DateOfBirth, Email, Method, PersonName, PersonalId, PhoneNumber, SubjectKind,
};
use crate::policy::Policy;

use crate::domain::chip::{self, ChipIdentity};
use crate::domain::clock::local_date;
use kiosk_hal::card::bac::MrzKey;
use kiosk_hal::card::chip::AccessKey;
use zeroize::Zeroizing;

/// What a method's step sees besides its own state.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub policy: &'a Policy,
    pub subject: SubjectKind,
    pub now: OffsetDateTime,
    pub pending: &'a mut Vec<PendingCheck>,
}

/// A method's answer to one event.
#[derive(Debug)]
pub enum Step<S> {
    Stay(S, Vec<Effect>),
    /// Identity established: the shared tail takes over.
    Identified(Box<Identified>, Vec<Effect>),
    Fail(Failure),
    /// The event does not fit; the state is handed back unchanged.
    Invalid(S),
}

/// One registration method's own state machine.
pub trait MethodFlow {
    const METHOD: Method;
    /// Whether the tail checks with the carrier that the number is the person's.
    const CHECKS_SUBSCRIBER: bool;
    /// Whether the tail proves the phone with an SMS OTP.
    const USES_OTP: bool;
    type State: std::fmt::Debug;

    fn start(subject: SubjectKind) -> (Self::State, Vec<Effect>);
    fn handle<R: CryptoRng + ?Sized>(
        state: Self::State,
        ctx: &mut Ctx<'_>,
        event: Event,
        rng: &mut R,
    ) -> Step<Self::State>;
    fn step_name(state: &Self::State) -> &'static str;
    /// Effects to undo work in flight when the citizen cancels.
    fn on_cancel(_state: &Self::State) -> Vec<Effect> {
        Vec::new()
    }
    /// Whether the CCCD card's chip may fill the form in this state (when
    /// policy gives the method a chip level).
    fn takes_card(_state: &Self::State) -> bool {
        false
    }
}

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
fn card_can(text: &str) -> Result<&str, FieldError> {
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
fn card_expiry(v: &mut Validator<'_>, text: &str) -> Option<Date> {
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

/// The fields of a method's form, each with whether it is required (red `*`).
pub fn required_fields(method: Method, subject: SubjectKind) -> Vec<(Field, bool)> {
    let business = subject == SubjectKind::Business;
    match method {
        Method::MobileSubscriber => vec![
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
struct Validator<'a> {
    policy: &'a Policy,
    today: Date,
    errors: Vec<FieldError>,
}

impl<'a> Validator<'a> {
    fn new(ctx: &Ctx<'a>) -> Self {
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

    fn name(&mut self, text: &str) -> Option<PersonName> {
        let r = PersonName::parse(text, &self.policy.person);
        self.take(Field::FullName, r, |e| e.message())
    }

    fn personal_id(&mut self, text: &str) -> Option<PersonalId> {
        let r = PersonalId::parse(text, &self.policy.identifiers, self.today.year());
        self.take(Field::PersonalId, r, |e| e.message())
    }

    fn dob(&mut self, text: &str) -> Option<DateOfBirth> {
        let r = DateOfBirth::parse(text, self.today, &self.policy.person);
        self.take(Field::DateOfBirth, r, |e| e.message())
    }

    fn phone(&mut self, text: &str) -> Option<PhoneNumber> {
        let r = PhoneNumber::parse(text, &self.policy.identifiers);
        self.take(Field::Phone, r, |e| e.message())
    }

    fn bhxh(&mut self, text: &str) -> Option<BhxhCode> {
        let r = BhxhCode::parse(text);
        self.take(Field::BhxhCode, r, |e| e.message())
    }

    /// Blank is fine when optional; anything typed must be valid.
    fn email(&mut self, text: &str, required: bool) -> Option<Option<Email>> {
        if text.trim().is_empty() && !required {
            return Some(None);
        }
        let r = Email::parse(text);
        self.take(Field::Email, r, |e| e.message()).map(Some)
    }

    fn finish<T>(self, value: Option<T>) -> Result<T, Vec<FieldError>> {
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
        Field::Otp | Field::Pin | Field::Password => true,
    };
    v.errors.pop()
}

/// Thuê bao di động: citizen only; the number must be the person's own.
#[derive(Debug)]
pub struct MobileSubscriber;

#[derive(Debug)]
pub enum MobileState {
    Form,
}

impl MethodFlow for MobileSubscriber {
    const METHOD: Method = Method::MobileSubscriber;
    const CHECKS_SUBSCRIBER: bool = true;
    const USES_OTP: bool = true;
    type State = MobileState;

    fn start(_: SubjectKind) -> (MobileState, Vec<Effect>) {
        (MobileState::Form, vec![Effect::Show(Screen::Form)])
    }

    fn handle<R: CryptoRng + ?Sized>(
        state: MobileState,
        ctx: &mut Ctx<'_>,
        event: Event,
        _: &mut R,
    ) -> Step<MobileState> {
        let Event::Submit(form) = event else {
            return Step::Invalid(state);
        };
        let mut v = Validator::new(ctx);
        let name = v.name(&form.full_name);
        let id = v.personal_id(&form.personal_id);
        let dob = v.dob(&form.date_of_birth);
        let phone = v.phone(&form.phone);
        let email = v.email(&form.email, false);
        if let (Some(id), Some(dob)) = (&id, &dob)
            && let Err(e) = id.check_birth_date(dob.date())
        {
            v.errors
                .push(FieldError::new(Field::PersonalId, e.message(), &e));
        }
        let all = (|| Some((name?, id?, dob?, phone?, email?)))();
        match v.finish(all) {
            Ok((name, id, dob, phone, email)) => Step::Identified(
                Box::new(Identified {
                    key: IdentityKey::Person(id.clone()),
                    applicant: Applicant {
                        full_name: Some(name),
                        personal_id: Some(id),
                        date_of_birth: Some(dob),
                        phone: Some(phone),
                        email,
                        ..Applicant::default()
                    },
                }),
                Vec::new(),
            ),
            Err(errors) => Step::Stay(MobileState::Form, vec![Effect::FieldErrors(errors)]),
        }
    }

    fn step_name(_: &MobileState) -> &'static str {
        "form"
    }

    fn takes_card(_: &MobileState) -> bool {
        true
    }
}

/// Mã số BHXH: the typed data is matched against the social-insurance
/// database, which names the person's CCCD; level 2 only once matched.
#[derive(Debug)]
pub struct Bhxh;

#[derive(Debug)]
pub enum BhxhState {
    Form,
    AwaitMatch(Box<Applicant>),
}

impl MethodFlow for Bhxh {
    const METHOD: Method = Method::Bhxh;
    const CHECKS_SUBSCRIBER: bool = false;
    const USES_OTP: bool = true;
    type State = BhxhState;

    fn start(_: SubjectKind) -> (BhxhState, Vec<Effect>) {
        (BhxhState::Form, vec![Effect::Show(Screen::Form)])
    }

    fn handle<R: CryptoRng + ?Sized>(
        state: BhxhState,
        ctx: &mut Ctx<'_>,
        event: Event,
        _: &mut R,
    ) -> Step<BhxhState> {
        match (state, event) {
            (BhxhState::Form, Event::Submit(form)) => {
                let mut v = Validator::new(ctx);
                let code = v.bhxh(&form.bhxh_code);
                let name = v.name(&form.full_name);
                let dob = v.dob(&form.date_of_birth);
                let phone = v.phone(&form.phone);
                let email = v.email(&form.email, false);
                let all = (|| Some((code?, name?, dob?, phone?, email?)))();
                match v.finish(all) {
                    Ok((code, name, dob, phone, email)) => {
                        let effects = vec![
                            Effect::Show(Screen::Checking),
                            Effect::CheckBhxh {
                                code: code.clone(),
                                full_name: name.clone(),
                                date_of_birth: dob,
                            },
                        ];
                        let applicant = Applicant {
                            bhxh_code: Some(code),
                            full_name: Some(name),
                            date_of_birth: Some(dob),
                            phone: Some(phone),
                            email,
                            ..Applicant::default()
                        };
                        Step::Stay(BhxhState::AwaitMatch(Box::new(applicant)), effects)
                    }
                    Err(errors) => Step::Stay(BhxhState::Form, vec![Effect::FieldErrors(errors)]),
                }
            }
            (BhxhState::AwaitMatch(applicant), Event::BhxhChecked(outcome)) => match outcome {
                BhxhOutcome::Matched(id) => {
                    let mut applicant = *applicant;
                    applicant.personal_id = Some(id.clone());
                    Step::Identified(
                        Box::new(Identified {
                            key: IdentityKey::Person(id),
                            applicant,
                        }),
                        Vec::new(),
                    )
                }
                BhxhOutcome::NotMatched => Step::Fail(Failure::BhxhNotMatched),
                BhxhOutcome::Unavailable => {
                    ctx.pending.push(PendingCheck::BhxhMatch);
                    let code = applicant.bhxh_code.clone().expect("set with the form");
                    Step::Identified(
                        Box::new(Identified {
                            key: IdentityKey::BhxhCode(code),
                            applicant: *applicant,
                        }),
                        Vec::new(),
                    )
                }
            },
            (state, _) => Step::Invalid(state),
        }
    }

    fn step_name(state: &BhxhState) -> &'static str {
        match state {
            BhxhState::Form => "form",
            BhxhState::AwaitMatch(_) => "await_bhxh",
        }
    }

    fn takes_card(state: &BhxhState) -> bool {
        matches!(state, BhxhState::Form)
    }
}

/// The certificate must name the kind of applicant chosen, and carry the
/// identifier the duplicate check needs. Then the e-mail (required for a
/// business) completes the applicant.
fn confirm_certificate(
    identity: &CertifiedIdentity,
    ctx: &Ctx<'_>,
    email: &str,
    phone: Option<PhoneNumber>,
) -> Result<Box<Identified>, Result<Vec<FieldError>, Failure>> {
    let key = match ctx.subject {
        SubjectKind::Citizen => identity.personal_id.clone().map(IdentityKey::Person),
        SubjectKind::Business => identity.mst.clone().map(IdentityKey::Business),
    }
    .ok_or(Err(Failure::CertificateSubjectMismatch))?;
    let mut v = Validator::new(ctx);
    let email = v.email(email, ctx.subject == SubjectKind::Business);
    let email = v.finish(email).map_err(Ok)?;
    Ok(Box::new(Identified {
        key,
        applicant: Applicant {
            full_name: identity.person_name.clone(),
            business_name: identity.business_name.clone(),
            personal_id: identity.personal_id.clone(),
            mst: identity.mst.clone(),
            phone,
            email,
            certificate: Some(identity.certificate.clone()),
            proof: identity.proof.clone(),
            ..Applicant::default()
        },
    }))
}

fn details_screen(ctx: &Ctx<'_>, identity: &CertifiedIdentity) -> Effect {
    Effect::Show(Screen::ConfirmDetails {
        email_required: ctx.subject == SubjectKind::Business,
        details: CertificateDetails::of(identity),
    })
}

/// Sim ký số: the carrier's signing SIM confirms on the citizen's phone; the
/// portal reaches the carrier, so this method needs the network.
#[derive(Debug)]
pub struct SimSignature;

#[derive(Debug)]
pub enum SimState {
    Form,
    AwaitSignature {
        phone: PhoneNumber,
    },
    Confirm {
        identity: Box<CertifiedIdentity>,
        phone: PhoneNumber,
    },
}

impl MethodFlow for SimSignature {
    const METHOD: Method = Method::SimSignature;
    const CHECKS_SUBSCRIBER: bool = false;
    const USES_OTP: bool = false;
    type State = SimState;

    fn start(_: SubjectKind) -> (SimState, Vec<Effect>) {
        (SimState::Form, vec![Effect::Show(Screen::Form)])
    }

    fn handle<R: CryptoRng + ?Sized>(
        state: SimState,
        ctx: &mut Ctx<'_>,
        event: Event,
        rng: &mut R,
    ) -> Step<SimState> {
        match (state, event) {
            (SimState::Form, Event::Submit(form)) => {
                let mut v = Validator::new(ctx);
                let phone = v.phone(&form.phone);
                match v.finish(phone) {
                    Ok(phone) => {
                        // Shown on both screens so the citizen confirms their own request.
                        let verification_code = format!("{:04}", rng.random_range(0..10_000u32));
                        let display_text = format!(
                            "Dang ky tai khoan Cong dich vu cong. Ma xac nhan: {verification_code}"
                        );
                        let effects = vec![
                            Effect::Show(Screen::WaitingForPhone {
                                verification_code: verification_code.clone(),
                            }),
                            Effect::StartMobileSignature {
                                phone: phone.clone(),
                                display_text,
                                verification_code,
                            },
                        ];
                        Step::Stay(SimState::AwaitSignature { phone }, effects)
                    }
                    Err(errors) => Step::Stay(SimState::Form, vec![Effect::FieldErrors(errors)]),
                }
            }
            (SimState::AwaitSignature { phone }, Event::SignatureAnswered(outcome)) => {
                match outcome {
                    SignatureOutcome::Signed(identity) if identity.subject == ctx.subject => {
                        let effects = vec![details_screen(ctx, &identity)];
                        Step::Stay(SimState::Confirm { identity, phone }, effects)
                    }
                    SignatureOutcome::Signed(_) => Step::Fail(Failure::CertificateSubjectMismatch),
                    SignatureOutcome::Failed(problem) => {
                        Step::Fail(Failure::MobileSignature(problem))
                    }
                }
            }
            (SimState::Confirm { identity, phone }, Event::DetailsConfirmed { email }) => {
                match confirm_certificate(&identity, ctx, &email, Some(phone.clone())) {
                    Ok(who) => Step::Identified(who, Vec::new()),
                    Err(Ok(errors)) => Step::Stay(
                        SimState::Confirm { identity, phone },
                        vec![Effect::FieldErrors(errors)],
                    ),
                    Err(Err(failure)) => Step::Fail(failure),
                }
            }
            (state, _) => Step::Invalid(state),
        }
    }

    fn step_name(state: &SimState) -> &'static str {
        match state {
            SimState::Form => "form",
            SimState::AwaitSignature { .. } => "await_signature",
            SimState::Confirm { .. } => "confirm_details",
        }
    }

    fn on_cancel(state: &SimState) -> Vec<Effect> {
        match state {
            SimState::AwaitSignature { .. } => vec![Effect::CancelMobileSignature],
            _ => Vec::new(),
        }
    }
}

/// USB ký số: the token signs a fresh challenge after the PIN; the chain and
/// dates are checked on the kiosk, revocation by the portal: asked at once
/// when online, otherwise left pending for delivery.
#[derive(Debug)]
pub struct UsbToken;

#[derive(Debug)]
pub enum TokenState {
    WaitingForToken,
    EnterPin,
    Proving,
    Confirm(Box<CertifiedIdentity>),
}

impl MethodFlow for UsbToken {
    const METHOD: Method = Method::UsbToken;
    const CHECKS_SUBSCRIBER: bool = false;
    const USES_OTP: bool = false;
    type State = TokenState;

    fn start(_: SubjectKind) -> (TokenState, Vec<Effect>) {
        (
            TokenState::WaitingForToken,
            vec![Effect::Show(Screen::WaitingForToken)],
        )
    }

    fn handle<R: CryptoRng + ?Sized>(
        state: TokenState,
        ctx: &mut Ctx<'_>,
        event: Event,
        _: &mut R,
    ) -> Step<TokenState> {
        use TokenState as T;
        let pin_screen = |count_low, final_try, wrong| {
            Effect::Show(Screen::EnterPin {
                count_low,
                final_try,
                wrong,
            })
        };
        match (state, event) {
            (T::WaitingForToken, Event::TokenInserted) => {
                Step::Stay(T::EnterPin, vec![pin_screen(false, false, false)])
            }
            (T::EnterPin, Event::PinEntered(pin)) => Step::Stay(
                T::Proving,
                vec![Effect::Show(Screen::ProvingToken), Effect::ProveToken(pin)],
            ),
            (T::Proving, Event::TokenAnswered(outcome)) => match outcome {
                TokenOutcome::Proven(identity) if identity.subject == ctx.subject => {
                    if !identity.not_revoked
                        && !ctx.pending.contains(&PendingCheck::CertificateRevocation)
                    {
                        ctx.pending.push(PendingCheck::CertificateRevocation);
                    }
                    let shown = details_screen(ctx, &identity);
                    Step::Stay(T::Confirm(identity), vec![shown])
                }
                TokenOutcome::Proven(_) => Step::Fail(Failure::CertificateSubjectMismatch),
                TokenOutcome::WrongPin {
                    count_low,
                    final_try,
                } => Step::Stay(T::EnterPin, vec![pin_screen(count_low, final_try, true)]),
                TokenOutcome::Removed => Step::Stay(
                    T::WaitingForToken,
                    vec![Effect::Show(Screen::WaitingForToken)],
                ),
                TokenOutcome::Problem(problem) => Step::Fail(Failure::Token(problem)),
            },
            (T::EnterPin | T::Proving, Event::TokenRemoved) => Step::Stay(
                T::WaitingForToken,
                vec![Effect::Show(Screen::WaitingForToken)],
            ),
            // The proof is done; the token may leave the reader now.
            (T::Confirm(identity), Event::TokenRemoved) => {
                Step::Stay(T::Confirm(identity), Vec::new())
            }
            (T::Confirm(identity), Event::DetailsConfirmed { email }) => {
                match confirm_certificate(&identity, ctx, &email, None) {
                    Ok(who) => Step::Identified(who, Vec::new()),
                    Err(Ok(errors)) => {
                        Step::Stay(T::Confirm(identity), vec![Effect::FieldErrors(errors)])
                    }
                    Err(Err(failure)) => Step::Fail(failure),
                }
            }
            (state, _) => Step::Invalid(state),
        }
    }

    fn step_name(state: &TokenState) -> &'static str {
        match state {
            TokenState::WaitingForToken => "waiting_for_token",
            TokenState::EnterPin => "enter_pin",
            TokenState::Proving => "proving_token",
            TokenState::Confirm(_) => "confirm_details",
        }
    }
}
