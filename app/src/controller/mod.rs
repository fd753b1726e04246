//! The controller between the screens and the state machines.
//!
//! It owns one session at a time: what the citizen typed (every buffer is
//! zeroized, and allocated once so typing leaves no stray copies), which
//! field has the keyboard, and the registration in progress. The UI calls
//! the `on_*` methods with what the citizen touched; the controller turns
//! them into flow events, sends the flow's effects to the [`Effects`] (the worker), feeds
//! the answers back, and describes the screen as a [`View`]: plain data the
//! Slint binding copies into the window. Nothing here depends on Slint, so
//! the whole kiosk can be driven and checked without a display.
//!
//! A session ends on completion, on Hủy, and when the citizen walks away
//! (the policy's idle timeout, with a visible countdown before it). Ending
//! drops the session: its buffers are wiped, answers still in flight for it
//! are discarded, and the screen goes home.
//!
//! A session runs on its own time: the wall clock read when it starts,
//! moved on by the monotonic clock. A wall clock set forwards or back
//! while a citizen waits neither expires their code early nor lengthens
//! it, nor skips a resend interval or the idle timeout.

use std::sync::Arc;
use std::time::Duration;

use kiosk_ui::i18n::{Lang, Text};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::domain::clock::Clock;
use crate::domain::{Method, Pin, SubjectKind};
use crate::flow::{self, Effect, Event, Field, FieldError, Screen};
use crate::policy::Policy;
use crate::store::Storage;
use crate::worker::{Answer, Job, Status};

mod card_view;
mod complaint_view;
mod desk;
mod input;
mod method_view;
mod outcome_view;
mod recovery_view;
mod session;
mod technician;
#[cfg(test)]
mod tests;
mod view;

pub use desk::{
    EVENT_CLERK_LOCKED, EVENT_CLERK_REFUSED, EVENT_CLERK_SIGNED_IN, EVENT_FACE_CHECKED,
};
pub use input::{Focus, field_id};
pub use session::SessionId;
use session::{Session, Stage};
pub use technician::{EVENT_ENROLLED, SETUP_FILE, Technician, device_fingerprint};
pub use view::{FieldView, MethodView, RuleView, View};

/// What the controller asks of the world: a worker that carries out
/// effects and answers, in the kiosk [`crate::worker::Worker`], a scripted
/// stand-in in the view's tests.
pub trait Effects {
    /// Hands over a job; never blocks.
    fn submit(&self, job: Job);
    /// An answer that is ready, if any.
    fn try_answer(&self) -> Option<Answer>;
    /// Waits up to `timeout` for an answer.
    fn wait_answer(&self, timeout: Duration) -> Option<Answer>;
}

/// The kiosk's controller. See the module documentation.
pub struct Controller {
    policy: Arc<Policy>,
    effects: Box<dyn Effects>,
    clock: Box<dyn Clock>,
    /// The wall and monotonic clocks read together when the current (or
    /// last) session started: the session's time is the first moved on by
    /// the second.
    anchor: (OffsetDateTime, Duration),
    status: Status,
    session: Option<Session>,
    /// The id the next session gets.
    next_session: SessionId,
    /// The monotonic clock at the last touch.
    last_touch: Duration,
    /// Chosen by the citizen; every visit starts in Vietnamese.
    lang: Lang,
    /// The monotonic clock when the worker last answered a status.
    status_answered: Option<Duration>,
    /// On a post-office counter: the clerks' sign-in and who is on duty.
    desk: Option<crate::counter::Desk>,
    /// The technician's pages: the setup of a kiosk never enrolled, and
    /// behind the technician's PIN later.
    technician: Option<Technician>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("status", &self.status)
            .field("session", &self.session.as_ref().map(|s| s.id))
            .finish_non_exhaustive()
    }
}

impl Controller {
    pub fn new(
        policy: Arc<Policy>,
        effects: Box<dyn Effects>,
        clock: Box<dyn Clock>,
    ) -> Controller {
        let anchor = (clock.wall(), clock.monotonic());
        effects.submit(Job::Status);
        Controller {
            policy,
            effects,
            clock,
            anchor,
            status: Status::default(),
            session: None,
            next_session: SessionId::FIRST,
            last_touch: anchor.1,
            lang: Lang::Vi,
            status_answered: None,
            desk: None,
            technician: None,
        }
    }

    /// The wall clock: the status bar's time.
    pub fn now(&self) -> OffsetDateTime {
        self.clock.wall()
    }

    /// The session's time: see the module documentation.
    fn session_time(&self) -> OffsetDateTime {
        self.anchor.0 + self.clock.monotonic().saturating_sub(self.anchor.1)
    }

    /// Seconds since the last touch, on the monotonic clock.
    fn idle_seconds(&self) -> u64 {
        self.clock
            .monotonic()
            .saturating_sub(self.last_touch)
            .as_secs()
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether a session is open (something of a citizen is in memory).
    pub fn has_session(&self) -> bool {
        self.session.is_some()
    }

    /// Whether the kiosk is alive, for the service manager's watchdog: the
    /// worker (and so the store) answered a status lately, and whether the
    /// store takes registrations.
    pub fn health(&self) -> crate::service::Health {
        let now = self.clock.monotonic();
        crate::service::Health {
            worker_answering: self
                .status_answered
                .is_some_and(|at| now.saturating_sub(at) < crate::service::WORKER_STALE_AFTER),
            store_ready: self.status.storage == Storage::Ready,
        }
    }

    /// Whether the worker is working for the current session.
    pub fn is_busy(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.in_flight > 0)
    }

    fn touch(&mut self) {
        self.last_touch = self.clock.monotonic();
        self.desk_touch();
    }

    // --- what the citizen touches ---

    /// "Đăng ký" on the home screen. A kiosk that cannot store a
    /// registration (disk full, database damaged) starts none: the home
    /// screen says so instead.
    pub fn on_register(&mut self) {
        self.touch();
        self.end_session();
        if self.status.storage != Storage::Ready {
            self.effects.submit(Job::Status);
            return;
        }
        let session = self.begin_visit("registration");
        self.session = Some(session);
        self.effects.submit(Job::Status);
    }

    /// "Tra cứu hồ sơ" on the home screen: a visit that looks a reference
    /// number up. It stores nothing, so it is offered even when the kiosk
    /// takes no registration.
    pub fn on_lookup(&mut self) {
        self.touch();
        self.end_session();
        let mut session = self.begin_visit("lookup");
        let (lookup, effects) = flow::Lookup::start();
        session.lookup = Some(lookup);
        self.session = Some(session);
        self.apply(effects);
    }

    /// "Quầy giao dịch" on the home screen: the province's counters, with
    /// addresses and hours. A visit of one page.
    pub fn on_counters(&mut self) {
        self.touch();
        self.end_session();
        let mut session = self.begin_visit("counters");
        session.stage = Stage::Flow(Screen::Counters);
        self.session = Some(session);
    }

    /// A new visit's session, on its own time from now.
    fn begin_visit(&mut self, kind: &'static str) -> Session {
        self.anchor = (self.clock.wall(), self.clock.monotonic());
        let id = self.next_session;
        self.next_session = id.next();
        tracing::debug!(session = ?id, kind, "session started");
        Session::new(id)
    }

    pub fn on_choose_subject(&mut self, id: &str) {
        self.touch();
        let subject = SubjectKind::ALL.into_iter().find(|s| s.as_str() == id);
        if let (Some(session), Some(subject)) = (self.session.as_mut(), subject) {
            session.subject = Some(subject);
            session.stage = Stage::Method;
        }
    }

    pub fn on_choose_method(&mut self, id: &str) {
        self.touch();
        let Some(method) = Method::parse(id) else {
            return;
        };
        let Some(subject) = self.session.as_ref().and_then(|s| s.subject) else {
            return;
        };
        if self.method_unavailable(method, subject).is_some() {
            return;
        }
        self.start(method, subject);
    }

    fn start(&mut self, method: Method, subject: SubjectKind) {
        let started = flow::start(
            method,
            subject,
            Arc::clone(&self.policy),
            self.status.online,
        );
        let Some(session) = self.session.as_mut() else {
            return;
        };
        match started {
            Ok((registration, effects)) => {
                session.method = Some(method);
                session.registration = Some(registration);
                session.errors.clear();
                session.locked.clear();
                self.apply(effects);
            }
            Err(e) => tracing::warn!(?method, error = %e, "a method could not start"),
        }
    }

    /// The page's main button: Đăng ký, Xác nhận, Thử lại, Hoàn tất.
    pub fn on_submit(&mut self) {
        self.touch();
        self.leave_field();
        let Some(session) = self.session.as_mut() else {
            return;
        };
        if session.in_flight > 0 {
            return;
        }
        let event = match &session.stage {
            Stage::Flow(Screen::Setup | Screen::TechnicianPin | Screen::Technician) => {
                self.technician_submit();
                return;
            }
            Stage::Flow(Screen::ClerkSignIn) => {
                self.signin_submit();
                return;
            }
            Stage::Flow(Screen::CounterToday { .. }) => {
                self.leave();
                return;
            }
            Stage::Flow(Screen::Form | Screen::Lookup | Screen::ComplaintContact) => {
                Event::Submit(session.form.clone())
            }
            Stage::Flow(Screen::EnterOtp { .. }) => {
                let typed = Zeroizing::new(session.otp.to_string());
                session.otp.clear();
                Event::OtpEntered(typed)
            }
            Stage::Flow(Screen::Password { .. }) => Event::PasswordSubmitted {
                first: Zeroizing::new(session.password.to_string()),
                confirm: Zeroizing::new(session.confirm.to_string()),
            },
            Stage::Flow(Screen::EnterPin { .. }) => {
                let pin = Pin::new(&session.pin);
                session.pin.clear();
                match pin {
                    Some(pin) => Event::PinEntered(pin),
                    None => {
                        session.errors = vec![FieldError::new(
                            Field::Pin,
                            Text::new("Mã PIN gồm 4 đến 16 chữ số."),
                            "the PIN has 4 to 16 characters",
                        )];
                        return;
                    }
                }
            }
            Stage::Flow(Screen::CardKey { .. }) => Event::CardKeyEntered(session.form.clone()),
            Stage::Flow(Screen::CardRefused(_)) => Event::CardBack,
            Stage::Flow(Screen::ConfirmDetails { .. }) => Event::DetailsConfirmed {
                email: Zeroizing::new(session.form.email.clone()),
            },
            Stage::Flow(Screen::OtpNotSent { .. }) => Event::RetryDelivery,
            Stage::Flow(
                Screen::Done { .. }
                | Screen::Failed(_)
                | Screen::AccountExists { .. }
                | Screen::QueuedHere { .. }
                | Screen::LookupAnswer { .. }
                | Screen::ComplaintFiled { .. }
                | Screen::ResetDone { .. }
                | Screen::CounterResetQueued { .. }
                | Screen::ResetUnavailable(_),
            ) => Event::Finish,
            Stage::Flow(Screen::Counters) => {
                self.leave();
                return;
            }
            _ => return,
        };
        self.feed(event);
    }

    /// A card of the exists page (a way out the kiosk runs itself) or of a
    /// complaint's reasons.
    pub fn on_choose(&mut self, id: &str) {
        self.touch();
        if self.technician_choose(id) {
            return;
        }
        if self.session.as_ref().is_none_or(|s| s.in_flight == 0) && self.counter_choose(id) {
            return;
        }
        let Some(session) = self.session.as_mut() else {
            return;
        };
        if session.in_flight > 0 {
            return;
        }
        match &session.stage {
            Stage::Flow(exists @ Screen::AccountExists { .. }) if id == "complaint" => {
                let from = exists.clone();
                self.start_complaint(from);
            }
            // At a counter the chip proves the person: no code to the
            // account's phone, and it is queued, so offline too.
            Stage::Flow(exists @ Screen::AccountExists { .. })
                if id == "forgot" && session.method == Some(Method::Counter) =>
            {
                let from = exists.clone();
                let Some(identity) = session
                    .registration
                    .as_ref()
                    .and_then(|r| r.existing_account())
                    .cloned()
                else {
                    return;
                };
                let (reset, effects) =
                    flow::CounterReset::start(Arc::clone(&self.policy), identity);
                tracing::debug!(session = ?session.id, "counter password reset started");
                session.counter_reset = Some((reset, from));
                self.apply(effects);
            }
            Stage::Flow(exists @ Screen::AccountExists { .. })
                if id == "forgot" && self.status.online =>
            {
                let from = exists.clone();
                let Some(identity) = session
                    .registration
                    .as_ref()
                    .and_then(|r| r.existing_account())
                    .cloned()
                else {
                    return;
                };
                let (reset, effects) = flow::Recovery::start(Arc::clone(&self.policy), identity);
                tracing::debug!(session = ?session.id, "password reset started");
                session.reset = Some((reset, from));
                self.apply(effects);
            }
            Stage::Flow(Screen::ComplaintReason) => {
                if let Some(reason) = flow::ComplaintReason::parse(id) {
                    self.feed(Event::ReasonChosen(reason));
                }
            }
            _ => {}
        }
    }

    /// A complaint about the account the registration found, from its
    /// first page; Quay lại there returns to `from`.
    fn start_complaint(&mut self, from: Screen) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let (Some(identity), Some(method), Some(subject)) = (
            session
                .registration
                .as_ref()
                .and_then(|r| r.existing_account())
                .cloned(),
            session.method,
            session.subject,
        ) else {
            return;
        };
        let (complaint, effects) =
            flow::Complaint::start(Arc::clone(&self.policy), identity, method, subject);
        tracing::debug!(session = ?session.id, "complaint started");
        session.complaint = Some((complaint, from));
        self.apply(effects);
    }

    /// "Đọc thẻ CCCD gắn chip" on the form: the card's pages open.
    pub fn on_use_card(&mut self) {
        self.touch();
        self.leave_field();
        if self.session.as_ref().is_some_and(|s| s.signin) {
            self.signin_by_token();
            return;
        }
        if self
            .session
            .as_ref()
            .is_some_and(|s| matches!(s.stage, Stage::Flow(Screen::Setup)))
        {
            self.setup_from_usb();
            return;
        }
        let takes_card = self.session.as_ref().is_some_and(|s| {
            s.in_flight == 0
                && matches!(s.stage, Stage::Flow(Screen::Form))
                && s.registration.as_ref().is_some_and(|r| r.takes_card())
        });
        if takes_card && self.status.card_reader {
            self.feed(Event::UseCard);
        }
    }

    /// On the card's key page: the CAN instead of the number and dates, or
    /// back.
    pub fn on_card_key_other(&mut self) {
        self.touch();
        self.leave_field();
        let by_can = match self.session.as_ref().map(|s| &s.stage) {
            Some(Stage::Flow(Screen::CardKey { can })) => !can,
            _ => return,
        };
        self.feed(Event::CardKeyByCan(by_can));
    }

    /// "Gửi lại OTP".
    pub fn on_resend(&mut self) {
        self.touch();
        if matches!(
            self.session.as_ref().map(|s| &s.stage),
            Some(Stage::Flow(Screen::EnterOtp { .. }))
        ) {
            self.feed(Event::ResendOtp);
        }
    }

    /// "Quay lại": one step back. After the form, back means editing the
    /// form again: the method starts over with what was typed, so no check
    /// can be skipped by going back and forth.
    pub fn on_back(&mut self) {
        self.touch();
        let Some(session) = self.session.as_mut() else {
            return;
        };
        // Waiting on the citizen's phone is the one wait Back may leave: the
        // request is cancelled and its answer, if any, never comes.
        if session.technician {
            // Nothing to go back to; not while the portal is asked.
            if session.in_flight == 0 {
                self.leave();
            }
            return;
        }
        if session.signin {
            // From the token's pages back to the staff code and PIN.
            if session.in_flight == 0 {
                session.pin.clear();
                self.apply(vec![Effect::Show(Screen::ClerkSignIn)]);
            }
            return;
        }
        let on_phone = matches!(session.stage, Stage::Flow(Screen::WaitingForPhone { .. }));
        if session.in_flight > 0 && !on_phone {
            return;
        }
        if let Some((reset, from)) = session.counter_reset.take() {
            match &session.stage {
                Stage::Flow(Screen::CounterResetQueued { .. } | Screen::Failed(_)) => {
                    session.counter_reset = Some((reset, from));
                    self.feed(Event::Finish);
                }
                // The new password's page: the exists page again.
                _ => session.return_to(from),
            }
            return;
        }
        if let Some((reset, from)) = session.reset.take() {
            match &session.stage {
                Stage::Flow(Screen::ResetDone { .. } | Screen::Failed(_)) => {
                    session.reset = Some((reset, from));
                    self.feed(Event::Finish);
                }
                // Any other page: the exists page again; the code the
                // portal sent simply expires.
                _ => session.return_to(from),
            }
            return;
        }
        if let Some((complaint, from)) = session.complaint.take() {
            match &session.stage {
                // Its first page: back to the page it started from.
                Stage::Flow(Screen::ComplaintReason) => {
                    session.stage = Stage::Flow(from);
                    session.focus = None;
                }
                Stage::Flow(Screen::ComplaintFiled { .. } | Screen::Failed(_)) => {
                    session.complaint = Some((complaint, from));
                    self.feed(Event::Finish);
                }
                // Any later page: the reason again, the number as typed.
                _ => {
                    session.otp.clear();
                    self.start_complaint(from);
                }
            }
            return;
        }
        let restart = match (session.method, session.subject) {
            (Some(m), Some(s)) => Some((m, s)),
            _ => None,
        };
        match &session.stage {
            Stage::Subject | Stage::Flow(Screen::Lookup | Screen::Counters) => self.end_session(),
            Stage::Flow(Screen::CounterToday { .. }) => self.leave(),
            // Another number, with the last one still there to correct.
            Stage::Flow(Screen::LookupAnswer { .. }) => self.feed(Event::LookAgain),
            Stage::Method => {
                session.stage = Stage::Subject;
                session.subject = None;
            }
            Stage::Flow(Screen::Form) => {
                session.registration = None;
                session.method = None;
                session.errors.clear();
                session.focus = None;
                session.stage = Stage::Method;
            }
            // The last pages end the visit; the exists pages go back to the
            // form, as typed, for a mistyped number to be corrected.
            Stage::Flow(Screen::Done { .. } | Screen::Failed(_)) => {
                self.feed(Event::Finish);
            }
            Stage::Flow(
                Screen::CardKey { .. } | Screen::PlaceCard { .. } | Screen::CardRefused(_),
            ) => {
                self.feed(Event::CardBack);
            }
            Stage::Flow(_) => {
                session.otp.clear();
                session.pin.clear();
                session.password.clear();
                session.confirm.clear();
                // What the chip proved in this visit stays proved.
                let chip = session.registration.as_mut().and_then(|r| r.take_chip());
                // Undo work in flight at the flow (a signature request).
                self.cancel_flow();
                if let Some((method, subject)) = restart {
                    self.start(method, subject);
                    let resumed = chip.and_then(|chip| {
                        let session = self.session.as_mut()?;
                        Some(session.registration.as_mut()?.resume_chip(chip))
                    });
                    self.apply(resumed.unwrap_or_default());
                }
            }
        }
    }

    /// "Hủy": everything of this session is wiped and the kiosk goes home.
    pub fn on_cancel(&mut self) {
        self.touch();
        if self.is_storing() {
            // The registration is being written; it finishes in a moment
            // and the citizen gets their reference.
            return;
        }
        self.cancel_flow();
        self.leave();
    }

    fn is_storing(&self) -> bool {
        matches!(
            self.session.as_ref().map(|s| &s.stage),
            Some(Stage::Flow(Screen::Storing | Screen::Enrolling))
        )
    }

    /// Sends Cancel to the flow and runs only what undoes work in flight.
    fn cancel_flow(&mut self) {
        let now = self.session_time();
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let Some(registration) = session.registration.as_mut() else {
            return;
        };
        if let Ok(effects) = registration.handle(now, Event::Cancel, &mut rand::rng()) {
            for effect in effects {
                if matches!(effect, Effect::CancelMobileSignature) {
                    // The wait on the phone ends here: its answer never
                    // comes, so it no longer counts as in flight.
                    session.in_flight = session.in_flight.saturating_sub(1);
                    self.effects.submit(Job::Effect(session.id, effect));
                }
            }
        }
        session.registration = None;
    }

    /// The language switch in the status bar: Tiếng Việt ⇄ English. What
    /// is typed stays; every text on screen changes, errors included.
    pub fn on_toggle_language(&mut self) {
        self.touch();
        self.lang = self.lang.other();
    }

    /// "Tiếp tục" on the idle warning: the citizen is still here.
    pub fn on_still_here(&mut self) {
        self.touch();
    }

    // --- time and the worker ---

    /// Called every second or so: takes the worker's answers and ends a
    /// session the citizen walked away from.
    pub fn on_tick(&mut self) {
        self.poll();
        self.desk_tick();
        if self.session.is_some() && self.idle_left().is_some_and(|s| s == 0) && !self.is_storing()
        {
            self.cancel_flow();
            self.leave();
        }
        // English chosen at home by someone who then walked away.
        let idle = self.idle_seconds();
        if self.session.is_none() && idle >= u64::from(self.policy.session.idle_timeout_seconds) {
            self.lang = Lang::Vi;
        }
    }

    /// Takes every answer the worker has ready.
    pub fn poll(&mut self) {
        while let Some(answer) = self.effects.try_answer() {
            self.answer(answer);
        }
    }

    /// Waits up to `timeout` until the worker has answered everything for
    /// this session (for the headless walk and the tests).
    pub fn settle(&mut self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        self.poll();
        while self.is_busy() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Some(answer) = self.effects.wait_answer(left) {
                self.answer(answer);
            }
        }
        true
    }

    /// Asks for fresh status and waits up to `timeout` for it.
    pub fn wait_for_status(&mut self, timeout: Duration) -> bool {
        self.effects.submit(Job::Status);
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.effects.wait_answer(left) {
                Some(Answer::Status(status)) => {
                    self.take_status(status);
                    return true;
                }
                Some(answer) => self.answer(answer),
                None => return false,
            }
        }
    }

    /// Asks the worker for fresh status (queue depth, modem).
    pub fn refresh_status(&mut self) {
        self.effects.submit(Job::Status);
    }

    fn answer(&mut self, answer: Answer) {
        match answer {
            Answer::Status(status) => self.take_status(status),
            Answer::Event(session_id, event) => {
                let Some(session) = self.session.as_mut() else {
                    return;
                };
                if session.id != session_id {
                    // The citizen this was for has gone.
                    return;
                }
                session.in_flight = session.in_flight.saturating_sub(1);
                if let Event::TodayListed(rows) = event {
                    if matches!(session.stage, Stage::Flow(Screen::CounterToday { .. })) {
                        session.stage = Stage::Flow(Screen::CounterToday { rows });
                    }
                    return;
                }
                // The queue grew, or the store may have just found itself
                // full: the status bar and the home screen follow.
                let stored = matches!(event, Event::Stored { .. } | Event::StoreFailed(_));
                self.feed(event);
                if stored {
                    self.effects.submit(Job::Status);
                }
            }
        }
    }

    /// Fresh status: the status bar shows it, and a flow waiting for a
    /// token or a card hears that it came.
    fn take_status(&mut self, status: Status) {
        self.status_answered = Some(self.clock.monotonic());
        let (tokens, card, events) = (
            status.tokens_present,
            status.card_present,
            status.card_events,
        );
        self.status = status;
        self.follow_token(tokens);
        self.follow_card(card, events);
    }

    /// Tells a flow waiting for the ID card that it is on the reader. After
    /// a card was lifted mid-read, only a card put back counts (the
    /// reader's event count has moved): the one that left is not read
    /// again while the reader has not yet noticed it gone.
    fn follow_card(&mut self, present: bool, events: u32) {
        let Some(session) = self.session.as_mut() else {
            return;
        };
        if session.in_flight > 0 || !matches!(session.stage, Stage::Flow(Screen::PlaceCard { .. }))
        {
            return;
        }
        if present && session.card_lifted.is_none_or(|then| then != events) {
            self.feed(Event::CardPlaced);
        }
    }

    /// Tells a token flow that the token arrived or left: the reader is
    /// polled with the status.
    fn follow_token(&mut self, present: usize) {
        let Some(session) = self.session.as_ref() else {
            return;
        };
        if session.in_flight > 0 {
            return;
        }
        let event = match (&session.stage, present) {
            (Stage::Flow(Screen::WaitingForToken), 1..) => Event::TokenInserted,
            (Stage::Flow(Screen::EnterPin { .. }), 0) => Event::TokenRemoved,
            _ => return,
        };
        self.feed(event);
    }

    fn feed(&mut self, event: Event) {
        let now = self.session_time();
        let Some(session) = self.session.as_mut() else {
            return;
        };
        if session.signin {
            self.signin_event(event);
            return;
        }
        if session.technician {
            self.technician_event(event);
            return;
        }
        if let Some((reset, _)) = session.counter_reset.as_mut() {
            tracing::trace!(session = ?session.id, ?event, "counter reset event");
            match reset.handle(event) {
                Ok(effects) => self.apply(effects),
                Err(e) => tracing::warn!(error = %e, "the counter reset refused an event"),
            }
            return;
        }
        if let Some((reset, _)) = session.reset.as_mut() {
            tracing::trace!(session = ?session.id, ?event, "reset event");
            match reset.handle(event) {
                Ok(effects) => self.apply(effects),
                Err(e) => tracing::warn!(error = %e, "the reset refused an event"),
            }
            return;
        }
        if let Some((complaint, _)) = session.complaint.as_mut() {
            tracing::trace!(session = ?session.id, ?event, "complaint event");
            match complaint.handle(now, event, &mut rand::rng()) {
                Ok(effects) => self.apply(effects),
                Err(e) => tracing::warn!(error = %e, "the complaint refused an event"),
            }
            return;
        }
        if let Some(lookup) = session.lookup.as_mut() {
            tracing::trace!(session = ?session.id, ?event, "lookup event");
            match lookup.handle(event) {
                Ok(effects) => self.apply(effects),
                Err(e) => tracing::warn!(error = %e, "the lookup refused an event"),
            }
            return;
        }
        let Some(registration) = session.registration.as_mut() else {
            return;
        };
        tracing::trace!(session = ?session.id, ?event, "event");
        match registration.handle(now, event, &mut rand::rng()) {
            Ok(effects) => self.apply(effects),
            Err(e) => tracing::warn!(error = %e, "the flow refused an event"),
        }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            // At a counter, what is stored carries the clerk (and the
            // chip); without a clerk on duty it is not stored at all.
            let Some(effect) = self.stamped(effect) else {
                self.cancel_flow();
                self.leave();
                return;
            };
            let Some(session) = self.session.as_mut() else {
                return;
            };
            match effect {
                Effect::Show(screen) => {
                    let device_wait =
                        matches!(screen, Screen::WaitingForToken | Screen::PlaceCard { .. });
                    session.errors.clear();
                    session.card_lifted = matches!(screen, Screen::PlaceCard { again: true })
                        .then_some(self.status.card_events);
                    session.stage = Stage::Flow(screen);
                    session.focus = session.first_open_input();
                    if device_wait {
                        // Is the token or the card there already?
                        self.effects.submit(Job::Status);
                    }
                }
                Effect::FillFromChip(identity) => {
                    flow::fill_form(&mut session.form, &identity);
                    session.locked = vec![Field::FullName, Field::PersonalId, Field::DateOfBirth];
                    session
                        .errors
                        .retain(|e| !session.locked.contains(&e.field));
                    session.focus = session.first_open_input();
                }
                Effect::FieldErrors(errors) => {
                    session.focus = errors
                        .first()
                        .map(|e| Focus::Field(e.field))
                        .or(session.focus);
                    session.errors = errors;
                }
                Effect::EndSession => self.leave(),
                other => {
                    session.in_flight += 1;
                    self.effects.submit(Job::Effect(session.id, other));
                }
            }
        }
    }

    fn end_session(&mut self) {
        // Dropping the session zeroizes every buffer in it.
        if let Some(session) = self.session.take() {
            tracing::debug!(session = ?session.id, "session ended");
        }
    }

    /// The citizen is done (finished, cancelled or gone): the session ends
    /// and the next person meets the kiosk in Vietnamese.
    fn leave(&mut self) {
        self.end_session();
        self.lang = Lang::Vi;
        self.ensure_setup();
        self.ensure_signin();
    }

    // --- what is shown ---

    /// Seconds left before the idle timeout, once the warning is due.
    pub fn idle_left(&self) -> Option<u32> {
        // The counter's sign-in page waits for a clerk as long as it
        // takes, and a new kiosk's setup for its technician.
        let session = self.session.as_ref()?;
        if session.signin || (session.technician && self.first_boot()) {
            return None;
        }
        let rules = &self.policy.session;
        let idle = i64::try_from(self.idle_seconds()).unwrap_or(i64::MAX);
        let left = i64::from(rules.idle_timeout_seconds).saturating_sub(idle);
        (left <= i64::from(rules.idle_warning_seconds)).then(|| left.max(0) as u32)
    }
}
