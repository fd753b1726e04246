//! The four methods: each one's own steps up to an established identity.

use rand::{CryptoRng, RngExt as _};
use time::OffsetDateTime;

use super::engine::Identified;
use super::form::Validator;
use super::outcomes::*;
use super::screen::*;
use super::types::*;
use crate::domain::{Method, PhoneNumber, SubjectKind};
use crate::policy::Policy;

/// What a method's step sees besides its own state.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub policy: &'a Policy,
    pub subject: SubjectKind,
    pub now: OffsetDateTime,
    pub pending: &'a mut Vec<PendingCheck>,
    /// What the chip of the CCCD card proved in this registration, if read.
    pub chip: Option<&'a crate::domain::chip::ChipIdentity>,
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
