//! The shared tail of every registration, and the method-agnostic wrapper.

use std::sync::Arc;

use rand::CryptoRng;
use time::OffsetDateTime;

use super::card::{CardStep, fill_form};
use super::methods::{Ctx, MethodFlow, Step};
use super::otp::OtpChallenge;
use super::outcomes::*;
use super::screen::*;
use super::types::*;
use super::{Bhxh, Counter, MobileSubscriber, SimSignature, UsbToken};
use crate::domain::{Level, Method, Password, PasswordRule, PersonalId, SubjectKind};
use crate::policy::Policy;

/// The applicant, once the method has established who they are.
#[derive(Debug)]
pub struct Identified {
    pub applicant: Applicant,
    pub key: IdentityKey,
}

#[derive(Debug)]
pub(super) enum Stage<S> {
    Method(S),
    /// The card's pages, over the method's form (its state kept as it was).
    Card(S, CardStep),
    AwaitDuplicate(Box<Identified>),
    /// The identity whose account exists; `None` when it is a
    /// registration still queued here.
    AccountExists(Option<IdentityKey>),
    AwaitSubscriber(Box<Identified>),
    AwaitOtpDelivery(Box<Identified>, OtpChallenge),
    OtpNotSent(Box<Identified>, OtpChallenge),
    EnterOtp(Box<Identified>, OtpChallenge),
    Password(Box<Identified>),
    Storing,
    Done,
    Failed,
    Ended,
}

/// One registration in progress, for method `M`.
#[derive(Debug)]
pub struct Registration<M: MethodFlow> {
    pub(super) policy: Arc<Policy>,
    pub(super) subject: SubjectKind,
    pub(super) level: Level,
    /// The level a genuine chip earns with this method, if it takes one.
    pub(super) chip_level: Option<Level>,
    /// What the chip proved, once read: it fills the form and files the
    /// registration under the card's number.
    pub(super) chip: Option<Box<ChipRead>>,
    pub(super) pending: Vec<PendingCheck>,
    /// How the applicant will hear of the decision, once it is known who.
    pub(super) notice: Notice,
    pub(super) stage: Stage<M::State>,
}

impl<M: MethodFlow> Registration<M> {
    /// Starts `M` for `subject` if the policy offers it now.
    pub fn start(
        policy: Arc<Policy>,
        subject: SubjectKind,
        online: bool,
    ) -> Result<(Self, Vec<Effect>), FlowError> {
        let offered = policy.check_offered(M::METHOD, subject, online)?;
        let (level, chip_level) = (offered.level, offered.chip_level);
        let (state, effects) = M::start(subject);
        let registration = Registration {
            policy,
            subject,
            level,
            chip_level,
            chip: None,
            pending: Vec::new(),
            notice: Notice::LookUp,
            stage: Stage::Method(state),
        };
        Ok((registration, effects))
    }

    /// The name of the current step, for logs and errors.
    pub fn step(&self) -> &'static str {
        match &self.stage {
            Stage::Method(s) => M::step_name(s),
            Stage::Card(_, step) => step.name(),
            Stage::AwaitDuplicate(_) => "await_duplicate",
            Stage::AccountExists(_) => "account_exists",
            Stage::AwaitSubscriber(_) => "await_subscriber",
            Stage::AwaitOtpDelivery(..) => "await_otp_delivery",
            Stage::OtpNotSent(..) => "otp_not_sent",
            Stage::EnterOtp(..) => "enter_otp",
            Stage::Password(_) => "password",
            Stage::Storing => "storing",
            Stage::Done => "done",
            Stage::Failed => "failed",
            Stage::Ended => "ended",
        }
    }

    /// The identity an existing account was found for, while its page
    /// shows: what a complaint or a password reset is about.
    pub fn existing_account(&self) -> Option<&IdentityKey> {
        match &self.stage {
            Stage::AccountExists(key) => key.as_ref(),
            _ => None,
        }
    }

    pub fn is_ended(&self) -> bool {
        matches!(self.stage, Stage::Ended)
    }

    /// Whether the form offers reading the CCCD card now.
    pub fn takes_card(&self) -> bool {
        self.chip_level.is_some() && matches!(&self.stage, Stage::Method(s) if M::takes_card(s))
    }

    /// Takes what the chip proved, to carry it into the method started
    /// again (the citizen went back to the form).
    pub fn take_chip(&mut self) -> Option<Box<ChipRead>> {
        self.chip.take()
    }

    /// Puts back what the chip proved in this session, on the form.
    pub fn resume_chip(&mut self, chip: Box<ChipRead>) -> Vec<Effect> {
        match &self.stage {
            Stage::Method(s) if self.chip_level.is_some() && M::takes_card(s) => {
                vec![self.adopt_chip(chip)]
            }
            _ => Vec::new(),
        }
    }

    /// The chip's identity is the applicant's from now on, at the level
    /// policy gives it.
    pub(super) fn adopt_chip(&mut self, chip: Box<ChipRead>) -> Effect {
        let fill = Effect::FillFromChip(Box::new(chip.identity.clone()));
        if let Some(level) = self.chip_level {
            self.level = level;
        }
        self.chip = Some(chip);
        fill
    }

    /// Feeds one event; answers the effects, or why the event does not fit.
    /// On error the registration is unchanged.
    pub fn handle<R: CryptoRng + ?Sized>(
        &mut self,
        now: OffsetDateTime,
        event: Event,
        rng: &mut R,
    ) -> Result<Vec<Effect>, FlowError> {
        let (step, event_name) = (self.step(), event.name());
        let stage = std::mem::replace(&mut self.stage, Stage::Ended);
        let moved = self.transition(stage, now, event, rng);
        settle(&mut self.stage, step, event_name, moved)
    }

    /// `Err` hands the untouched stage back for an invalid event; it is a
    /// move of the state, not an error value, so its size does not matter.
    #[allow(clippy::type_complexity, clippy::result_large_err)]
    fn transition<R: CryptoRng + ?Sized>(
        &mut self,
        stage: Stage<M::State>,
        now: OffsetDateTime,
        event: Event,
        rng: &mut R,
    ) -> Result<(Stage<M::State>, Vec<Effect>), Stage<M::State>> {
        use Stage as S;
        // Leaving: cancel works everywhere but while the store transaction
        // runs; the last screens end with Finish or Cancel alike.
        match (stage, event) {
            (S::Ended, _) => Err(S::Ended),
            (S::Storing, Event::Cancel) => Err(S::Storing),
            (S::AccountExists(key), Event::HandoffIssued(code)) => Ok((
                S::AccountExists(key),
                vec![Effect::Show(Screen::AccountExists {
                    ways_out: WayOut::ALL.to_vec(),
                    handoff: code.map_or(Handoff::Unavailable, Handoff::Code),
                })],
            )),
            (S::Done | S::Failed | S::AccountExists(_), Event::Finish | Event::Cancel) => {
                Ok((S::Ended, vec![Effect::EndSession]))
            }
            (S::Method(state) | S::Card(state, _), Event::Cancel) => {
                let mut effects = M::on_cancel(&state);
                effects.push(Effect::EndSession);
                Ok((S::Ended, effects))
            }

            (S::Method(state), Event::UseCard)
                if self.chip_level.is_some() && M::takes_card(&state) =>
            {
                Ok((
                    S::Card(state, CardStep::Key { can: false }),
                    vec![Effect::Show(Screen::CardKey { can: false })],
                ))
            }
            (S::Card(state, step), event) => self.card(state, step, now, event),
            (S::Method(state), Event::Submit(mut form)) => {
                // What the chip proved stands, whatever the form says.
                if let Some(chip) = &self.chip {
                    fill_form(&mut form, &chip.identity);
                }
                self.method(state, now, Event::Submit(form), rng)
            }
            (
                S::AwaitDuplicate(_)
                | S::AwaitSubscriber(_)
                | S::AwaitOtpDelivery(..)
                | S::OtpNotSent(..)
                | S::EnterOtp(..)
                | S::Password(_),
                Event::Cancel,
            ) => Ok((S::Ended, vec![Effect::EndSession])),

            (S::Method(state), event) => self.method(state, now, event, rng),

            (S::AwaitDuplicate(who), Event::DuplicateChecked(outcome)) => match outcome {
                DuplicateOutcome::AccountExists => Ok((
                    S::AccountExists(Some(who.key.clone())),
                    vec![
                        Effect::Show(Screen::AccountExists {
                            ways_out: WayOut::ALL.to_vec(),
                            handoff: Handoff::Asking,
                        }),
                        Effect::RequestHandoff(who.key.clone()),
                    ],
                )),
                DuplicateOutcome::QueuedHere(reference) => Ok((
                    S::AccountExists(None),
                    vec![Effect::Show(Screen::QueuedHere { reference })],
                )),
                DuplicateOutcome::NoAccount => Ok(self.after_duplicate(who, now, rng)),
                DuplicateOutcome::CheckedLocallyOnly => {
                    self.pend(PendingCheck::GlobalDuplicate);
                    Ok(self.after_duplicate(who, now, rng))
                }
            },

            (S::AwaitSubscriber(who), Event::SubscriberChecked(outcome)) => match outcome {
                SubscriberOutcome::Confirmed => Ok(self.send_otp(who, now, rng)),
                SubscriberOutcome::Unavailable => {
                    self.pend(PendingCheck::SubscriberOwnership);
                    Ok(self.send_otp(who, now, rng))
                }
                SubscriberOutcome::NotOwner => Ok(self.fail(Failure::NotSubscriberOwner)),
            },

            (S::AwaitOtpDelivery(who, challenge), Event::OtpDelivered) => {
                let screen = enter_otp_screen(&who, &challenge, None);
                Ok((S::EnterOtp(who, challenge), vec![Effect::Show(screen)]))
            }
            (S::AwaitOtpDelivery(who, challenge), Event::OtpNotDelivered(failure)) => Ok((
                S::OtpNotSent(who, challenge),
                vec![Effect::Show(Screen::OtpNotSent { failure })],
            )),
            (S::OtpNotSent(who, mut challenge), Event::RetryDelivery) => {
                let code = challenge.redraw_after_failed_delivery(now, rng);
                Ok(self.deliver(who, challenge, &code))
            }

            (S::EnterOtp(who, mut challenge), Event::OtpEntered(typed)) => {
                match challenge.verify(&typed, now) {
                    Ok(()) => Ok(password_step(who)),
                    Err(_) if challenge.is_spent() => Ok(self.fail(Failure::OtpExhausted)),
                    Err(error) => {
                        let screen = enter_otp_screen(&who, &challenge, Some(error));
                        Ok((S::EnterOtp(who, challenge), vec![Effect::Show(screen)]))
                    }
                }
            }
            (S::EnterOtp(who, mut challenge), Event::ResendOtp) => match challenge.resend(now, rng)
            {
                Ok(code) => Ok(self.deliver(who, challenge, &code)),
                Err(error) => {
                    let screen = enter_otp_screen(&who, &challenge, Some(error));
                    Ok((S::EnterOtp(who, challenge), vec![Effect::Show(screen)]))
                }
            },

            (S::Password(who), Event::PasswordSubmitted { first, confirm }) => {
                match Password::new(&first, &confirm, &self.policy.password) {
                    Ok(password) => Ok(self.store(*who, Some(password))),
                    Err(error) => Ok((S::Password(who), super::password_refused(&error))),
                }
            }

            (S::Storing, Event::Stored { reference }) => Ok((
                S::Done,
                vec![Effect::Show(Screen::Done {
                    reference,
                    level: self.level,
                    pending: self.pending.clone(),
                    notice: self.notice.clone(),
                    password: self.policy.asks_password(M::METHOD),
                })],
            )),
            (S::Storing, Event::StoreFailed(StoreProblem::Failed)) => {
                Ok(self.fail(Failure::StorageFailed))
            }
            (S::Storing, Event::StoreFailed(StoreProblem::OutOfService)) => {
                Ok(self.fail(Failure::OutOfService))
            }

            (stage, _) => Err(stage),
        }
    }

    #[allow(clippy::type_complexity, clippy::result_large_err)]
    pub(super) fn method<R: CryptoRng + ?Sized>(
        &mut self,
        state: M::State,
        now: OffsetDateTime,
        event: Event,
        rng: &mut R,
    ) -> Result<(Stage<M::State>, Vec<Effect>), Stage<M::State>> {
        let mut ctx = Ctx {
            policy: &self.policy,
            subject: self.subject,
            now,
            pending: &mut self.pending,
            chip: self.chip.as_deref().map(|c| &c.identity),
        };
        match M::handle(state, &mut ctx, event, rng) {
            Step::Stay(state, effects) => Ok((Stage::Method(state), effects)),
            Step::Identified(mut who, mut effects) => {
                let mut keys = vec![who.key.clone()];
                if let Some(chip) = &self.chip {
                    let ids = chip.identity.personal_ids();
                    // The BHXH record must be the card holder's.
                    if who
                        .applicant
                        .personal_id
                        .as_ref()
                        .is_some_and(|id| !ids.contains(id))
                    {
                        return Ok(self.fail(Failure::ChipMismatch));
                    }
                    let cccd = PersonalId::Cccd(chip.identity.cccd.clone());
                    who.applicant.personal_id = Some(cccd.clone());
                    who.applicant.chip = Some(chip.evidence.clone());
                    who.key = IdentityKey::Person(cccd);
                    keys = ids.into_iter().map(IdentityKey::Person).collect();
                }
                effects.push(Effect::Show(Screen::Checking));
                effects.push(Effect::CheckDuplicate(keys));
                Ok((Stage::AwaitDuplicate(who), effects))
            }
            Step::Fail(failure) => Ok(self.fail(failure)),
            Step::Invalid(state) => Err(Stage::Method(state)),
        }
    }

    fn pend(&mut self, check: PendingCheck) {
        if !self.pending.contains(&check) {
            self.pending.push(check);
        }
    }

    fn fail(&self, failure: Failure) -> (Stage<M::State>, Vec<Effect>) {
        (Stage::Failed, vec![Effect::Show(Screen::Failed(failure))])
    }

    fn after_duplicate<R: CryptoRng + ?Sized>(
        &mut self,
        who: Box<Identified>,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> (Stage<M::State>, Vec<Effect>) {
        if M::CHECKS_SUBSCRIBER {
            if let (Some(phone), Some(id)) = (&who.applicant.phone, &who.applicant.personal_id) {
                let effects = vec![
                    Effect::Show(Screen::Checking),
                    Effect::CheckSubscriber {
                        phone: phone.clone(),
                        id: id.clone(),
                    },
                ];
                return (Stage::AwaitSubscriber(who), effects);
            }
            self.pend(PendingCheck::SubscriberOwnership);
        }
        if M::USES_OTP {
            self.send_otp(who, now, rng)
        } else if self.policy.asks_password(M::METHOD) {
            password_step(who)
        } else {
            // The manual's signature methods end at "Đăng ký": the SIM or
            // the token is how the account is entered.
            self.store(*who, None)
        }
    }

    /// Everything is known and checked: seal and store it.
    fn store(
        &mut self,
        who: Identified,
        password: Option<Password>,
    ) -> (Stage<M::State>, Vec<Effect>) {
        self.pending.sort();
        self.pending.dedup();
        self.notice = Notice::of(&who.applicant);
        let draft = Draft {
            method: M::METHOD,
            subject: self.subject,
            level: self.level,
            pending: self.pending.clone(),
            identity: who.key,
            applicant: who.applicant,
            password,
            clerk: None,
        };
        (
            Stage::Storing,
            vec![
                Effect::Show(Screen::Storing),
                Effect::Store(Box::new(draft)),
            ],
        )
    }

    fn send_otp<R: CryptoRng + ?Sized>(
        &mut self,
        who: Box<Identified>,
        now: OffsetDateTime,
        rng: &mut R,
    ) -> (Stage<M::State>, Vec<Effect>) {
        let (challenge, code) = OtpChallenge::issue(&self.policy.otp, now, rng);
        self.deliver(who, challenge, &code)
    }

    fn deliver(
        &self,
        who: Box<Identified>,
        challenge: OtpChallenge,
        code: &crate::domain::OtpCode,
    ) -> (Stage<M::State>, Vec<Effect>) {
        let Some(phone) = who.applicant.phone.clone() else {
            // The phone methods validate the number before the tail starts;
            // should one ever arrive without it, stop rather than skip the OTP.
            return self.fail(Failure::NoPhoneToVerify);
        };
        let effects = vec![
            Effect::Show(Screen::SendingOtp {
                masked_phone: phone.masked(),
            }),
            Effect::SendOtp {
                to: phone,
                text: SmsText::new(self.policy.otp.sms_text(code.expose())),
            },
        ];
        (Stage::AwaitOtpDelivery(who, challenge), effects)
    }
}

fn enter_otp_screen(who: &Identified, c: &OtpChallenge, error: Option<super::OtpError>) -> Screen {
    Screen::EnterOtp {
        masked_phone: who
            .applicant
            .phone
            .as_ref()
            .map(|p| p.masked())
            .unwrap_or_default(),
        expires_at: c.expires_at(),
        attempts_left: c.attempts_left(),
        resends_left: c.resends_left(),
        resend_available_at: c.resend_available_at(),
        error,
    }
}

fn password_step<S>(who: Box<Identified>) -> (Stage<S>, Vec<Effect>) {
    (
        Stage::Password(who),
        vec![Effect::Show(Screen::Password {
            failing: PasswordRule::ALL.to_vec(),
        })],
    )
}

/// A registration of any method, for a runtime that handles them alike.
#[derive(Debug)]
pub enum AnyRegistration {
    MobileSubscriber(Registration<MobileSubscriber>),
    Bhxh(Registration<Bhxh>),
    SimSignature(Registration<SimSignature>),
    UsbToken(Registration<UsbToken>),
    Counter(Registration<Counter>),
}

/// Starts a registration by `method` for `subject`, if policy offers it.
pub fn start(
    method: Method,
    subject: SubjectKind,
    policy: Arc<Policy>,
    online: bool,
) -> Result<(AnyRegistration, Vec<Effect>), FlowError> {
    Ok(match method {
        Method::MobileSubscriber => {
            let (r, e) = Registration::start(policy, subject, online)?;
            (AnyRegistration::MobileSubscriber(r), e)
        }
        Method::Bhxh => {
            let (r, e) = Registration::start(policy, subject, online)?;
            (AnyRegistration::Bhxh(r), e)
        }
        Method::SimSignature => {
            let (r, e) = Registration::start(policy, subject, online)?;
            (AnyRegistration::SimSignature(r), e)
        }
        Method::UsbToken => {
            let (r, e) = Registration::start(policy, subject, online)?;
            (AnyRegistration::UsbToken(r), e)
        }
        Method::Counter => {
            let (r, e) = Registration::start(policy, subject, online)?;
            (AnyRegistration::Counter(r), e)
        }
    })
}

/// Calls the same method on whichever registration it is.
macro_rules! each {
    ($self:expr, $r:ident => $call:expr) => {
        match $self {
            AnyRegistration::MobileSubscriber($r) => $call,
            AnyRegistration::Bhxh($r) => $call,
            AnyRegistration::SimSignature($r) => $call,
            AnyRegistration::UsbToken($r) => $call,
            AnyRegistration::Counter($r) => $call,
        }
    };
}

impl AnyRegistration {
    pub fn handle<R: CryptoRng + ?Sized>(
        &mut self,
        now: OffsetDateTime,
        event: Event,
        rng: &mut R,
    ) -> Result<Vec<Effect>, FlowError> {
        each!(self, r => r.handle(now, event, rng))
    }

    pub fn step(&self) -> &'static str {
        each!(self, r => r.step())
    }

    /// See [`Registration::takes_card`].
    pub fn takes_card(&self) -> bool {
        each!(self, r => r.takes_card())
    }

    /// See [`Registration::existing_account`].
    pub fn existing_account(&self) -> Option<&IdentityKey> {
        each!(self, r => r.existing_account())
    }

    /// What the chip proved in this registration, if it was read.
    pub fn chip(&self) -> Option<&ChipRead> {
        each!(self, r => r.chip.as_deref())
    }

    /// See [`Registration::take_chip`].
    pub fn take_chip(&mut self) -> Option<Box<ChipRead>> {
        each!(self, r => r.take_chip())
    }

    /// See [`Registration::resume_chip`].
    pub fn resume_chip(&mut self, chip: Box<ChipRead>) -> Vec<Effect> {
        each!(self, r => r.resume_chip(chip))
    }
}
