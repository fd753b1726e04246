//! The controller between the screens and the state machines.
//!
//! It owns one session at a time: what the citizen typed (every buffer is
//! zeroized, and allocated once so typing leaves no stray copies), which
//! field has the keyboard, and the registration in progress. The UI calls
//! the `on_*` methods with what the citizen touched; the controller turns
//! them into flow events, sends the flow's effects to the [`Runtime`], feeds
//! the answers back, and describes the screen as a [`View`]: plain data the
//! Slint binding copies into the window. Nothing here depends on Slint, so
//! the whole kiosk can be driven and checked without a display.
//!
//! A session ends on completion, on Hủy, and when the citizen walks away
//! (the policy's idle timeout, with a visible countdown before it). Ending
//! drops the session: its buffers are wiped, answers still in flight for it
//! are discarded, and the screen goes home.

use std::sync::Arc;
use std::time::Duration;

use kiosk_ui::i18n::{Lang, Text, fill, tr};
use kiosk_ui::telex::{self, ToneStyle};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::domain::{Method, PasswordCheck, PasswordRule, Pin, SubjectKind};
use crate::flow::{
    self, AnyRegistration, Effect, Event, Field, FieldError, Form, Screen, check_field,
    required_fields,
};
use crate::policy::{Policy, Unavailable};
use crate::runtime::{Answer, Job, Runtime, Status};

/// The room every typed buffer gets up front; input stops before it, so a
/// buffer never reallocates (and never leaves a copy behind in freed memory).
const BUFFER: usize = 128;

/// Where typed keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Field(Field),
    /// The second password entry.
    Confirm,
}

impl Focus {
    pub fn id(self) -> &'static str {
        match self {
            Focus::Field(f) => field_id(f),
            Focus::Confirm => "confirm",
        }
    }

    pub fn parse(id: &str) -> Option<Focus> {
        if id == "confirm" {
            return Some(Focus::Confirm);
        }
        FIELDS
            .iter()
            .find(|f| field_id(**f) == id)
            .map(|f| Focus::Field(*f))
    }

    /// The on-screen keyboard this input needs.
    fn keyboard(self) -> Keyboard {
        match self {
            Focus::Field(Field::FullName) => Keyboard::Text,
            Focus::Field(Field::Email) => Keyboard::Email,
            Focus::Field(Field::Password) | Focus::Confirm => Keyboard::Password,
            Focus::Field(Field::DateOfBirth) => Keyboard::Date,
            Focus::Field(_) => Keyboard::Digits,
        }
    }

    fn max_chars(self, policy: &Policy) -> usize {
        match self {
            Focus::Field(Field::FullName) => policy.person.name_max_chars.min(100),
            Focus::Field(Field::PersonalId) => 12,
            Focus::Field(Field::DateOfBirth) => 10,
            Focus::Field(Field::Phone) => 12,
            Focus::Field(Field::BhxhCode) => 15,
            Focus::Field(Field::Email) => 100,
            Focus::Field(Field::Otp) => usize::from(policy.otp.digits),
            Focus::Field(Field::Pin) => 16,
            Focus::Field(Field::Password) | Focus::Confirm => 64,
        }
    }
}

const FIELDS: [Field; 9] = [
    Field::FullName,
    Field::PersonalId,
    Field::DateOfBirth,
    Field::Phone,
    Field::Email,
    Field::BhxhCode,
    Field::Otp,
    Field::Pin,
    Field::Password,
];

pub fn field_id(field: Field) -> &'static str {
    match field {
        Field::FullName => "full_name",
        Field::PersonalId => "personal_id",
        Field::DateOfBirth => "date_of_birth",
        Field::Phone => "phone",
        Field::Email => "email",
        Field::BhxhCode => "bhxh_code",
        Field::Otp => "otp",
        Field::Pin => "pin",
        Field::Password => "password",
    }
}

fn field_label(focus: Focus, subject: Option<SubjectKind>) -> (&'static str, &'static str) {
    match focus {
        Focus::Field(Field::FullName) => ("Họ và tên", "Gõ có dấu: aa→â, dd→đ, s f r x j"),
        Focus::Field(Field::PersonalId) => ("Số CCCD/CMND", "12 số CCCD hoặc 9 số CMND"),
        Focus::Field(Field::DateOfBirth) => ("Ngày sinh", "ngày/tháng/năm"),
        Focus::Field(Field::Phone) => ("Số điện thoại", "Ví dụ 0912345678"),
        Focus::Field(Field::Email) => (
            "Email",
            if subject == Some(SubjectKind::Business) {
                "Email của doanh nghiệp"
            } else {
                "Không bắt buộc"
            },
        ),
        Focus::Field(Field::BhxhCode) => ("Mã số BHXH", "10 chữ số trên thẻ BHYT/sổ BHXH"),
        Focus::Field(Field::Otp) => ("Mã OTP", ""),
        Focus::Field(Field::Pin) => ("Mã PIN", ""),
        Focus::Field(Field::Password) => ("Mật khẩu", ""),
        Focus::Confirm => ("Nhập lại mật khẩu", ""),
    }
}

/// The key that respells the name's last word (`.slint` sends the same).
const RESPELL: &str = "⇄";

/// The on-screen keyboards (`.slint` names them the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyboard {
    None,
    /// 0–9.
    Digits,
    /// 0–9 with `/` filled in for dd/mm/yyyy.
    Date,
    /// Letters with Telex (switchable to plain letters).
    Text,
    /// Letters, digits, @ . _ - .com .vn.
    Email,
    /// Letters, digits and symbols; never Telex.
    Password,
}

impl Keyboard {
    pub fn as_str(self) -> &'static str {
        match self {
            Keyboard::None => "none",
            Keyboard::Digits => "digits",
            Keyboard::Date => "date",
            Keyboard::Text => "text",
            Keyboard::Email => "email",
            Keyboard::Password => "password",
        }
    }
}

/// One method on the method screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodView {
    pub id: String,
    pub title: String,
    pub detail: String,
    pub enabled: bool,
    pub reason: String,
}

/// One input on screen. `value` is what is drawn: passwords and PINs as dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldView {
    pub id: String,
    pub label: String,
    pub value: String,
    pub hint: String,
    pub required: bool,
    pub error: String,
    pub focused: bool,
}

/// A line of the password checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleView {
    pub text: String,
    pub ok: bool,
}

/// Everything a screen shows. Built fresh after each change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    /// home, subject, method, form, busy, otp, otp-not-sent, password,
    /// exists, token-wait, pin, confirm, phone-wait, done, failed.
    pub page: &'static str,
    pub subject_title: String,
    pub method_title: String,
    pub methods: Vec<MethodView>,
    pub fields: Vec<FieldView>,
    pub keyboard: &'static str,
    pub telex: bool,
    /// The name's last word with its tone on the other vowel (*Thủy* ⇄
    /// *Thuỷ*), offered as a key; empty when it reads the same either way.
    pub respell: String,
    /// Headline and text of the busy, failed, done, exists and wait pages.
    pub title: String,
    pub message: String,
    /// Lines under the message: next steps, ways out, certificate details.
    pub lines: Vec<String>,
    pub submit_label: String,
    pub submit_enabled: bool,
    /// OTP: "Gửi lại OTP" and whether it may be pressed now.
    pub resend_label: String,
    pub resend_enabled: bool,
    /// OTP: time left to enter the code, `m:ss`.
    pub countdown: String,
    pub rules: Vec<RuleView>,
    pub reference: String,
    /// Shown big on the SIM signature waiting page.
    pub verification_code: String,
    /// Seconds until the idle timeout ends the session, once the warning shows.
    pub idle_left: Option<u32>,
    pub status: Status,
    /// The language everything above is in, and the screens' own texts.
    pub lang: Lang,
}

/// Where a session is, besides what the flow said last.
#[derive(Debug, Clone)]
enum Page {
    Subject,
    Method,
    Flow(Screen),
}

/// One citizen's visit. Dropping it wipes what they typed.
#[derive(Debug)]
struct Session {
    id: u64,
    subject: Option<SubjectKind>,
    method: Option<Method>,
    registration: Option<AnyRegistration>,
    form: Form,
    otp: Zeroizing<String>,
    pin: Zeroizing<String>,
    password: Zeroizing<String>,
    confirm: Zeroizing<String>,
    errors: Vec<FieldError>,
    focus: Option<Focus>,
    telex: bool,
    /// Where Telex puts the tone in *oa, oe, uy*: as on the citizen's ID
    /// card, chosen with the respell key.
    tone_style: ToneStyle,
    page: Page,
    /// Jobs sent to the runtime and not answered yet.
    in_flight: usize,
}

fn buffer() -> String {
    String::with_capacity(BUFFER)
}

impl Session {
    fn new(id: u64) -> Session {
        Session {
            id,
            subject: None,
            method: None,
            registration: None,
            form: Form {
                full_name: buffer(),
                personal_id: buffer(),
                date_of_birth: buffer(),
                phone: buffer(),
                email: buffer(),
                bhxh_code: buffer(),
            },
            otp: Zeroizing::new(buffer()),
            pin: Zeroizing::new(buffer()),
            password: Zeroizing::new(buffer()),
            confirm: Zeroizing::new(buffer()),
            errors: Vec::new(),
            focus: None,
            telex: true,
            tone_style: ToneStyle::Classic,
            page: Page::Subject,
            in_flight: 0,
        }
    }

    fn buffer(&mut self, focus: Focus) -> &mut String {
        match focus {
            Focus::Field(Field::FullName) => &mut self.form.full_name,
            Focus::Field(Field::PersonalId) => &mut self.form.personal_id,
            Focus::Field(Field::DateOfBirth) => &mut self.form.date_of_birth,
            Focus::Field(Field::Phone) => &mut self.form.phone,
            Focus::Field(Field::Email) => &mut self.form.email,
            Focus::Field(Field::BhxhCode) => &mut self.form.bhxh_code,
            Focus::Field(Field::Otp) => &mut self.otp,
            Focus::Field(Field::Pin) => &mut self.pin,
            Focus::Field(Field::Password) => &mut self.password,
            Focus::Confirm => &mut self.confirm,
        }
    }

    fn value(&self, focus: Focus) -> &str {
        match focus {
            Focus::Field(Field::FullName) => &self.form.full_name,
            Focus::Field(Field::PersonalId) => &self.form.personal_id,
            Focus::Field(Field::DateOfBirth) => &self.form.date_of_birth,
            Focus::Field(Field::Phone) => &self.form.phone,
            Focus::Field(Field::Email) => &self.form.email,
            Focus::Field(Field::BhxhCode) => &self.form.bhxh_code,
            Focus::Field(Field::Otp) => &self.otp,
            Focus::Field(Field::Pin) => &self.pin,
            Focus::Field(Field::Password) => &self.password,
            Focus::Confirm => &self.confirm,
        }
    }

    /// The inputs of the current page, in screen order.
    fn inputs(&self) -> Vec<(Focus, bool)> {
        match &self.page {
            Page::Flow(Screen::Form) => match (self.method, self.subject) {
                (Some(m), Some(s)) => required_fields(m, s)
                    .into_iter()
                    // The signature methods ask for the e-mail on the
                    // confirmation page, after the certificate is known.
                    .filter(|(f, _)| {
                        !(matches!(m, Method::SimSignature | Method::UsbToken)
                            && *f == Field::Email)
                    })
                    .map(|(f, r)| (Focus::Field(f), r))
                    .collect(),
                _ => Vec::new(),
            },
            Page::Flow(Screen::EnterOtp { .. }) => vec![(Focus::Field(Field::Otp), true)],
            Page::Flow(Screen::EnterPin { .. }) => vec![(Focus::Field(Field::Pin), true)],
            Page::Flow(Screen::Password { .. }) => vec![
                (Focus::Field(Field::Password), true),
                (Focus::Confirm, true),
            ],
            Page::Flow(Screen::ConfirmDetails { email_required, .. }) => {
                vec![(Focus::Field(Field::Email), *email_required)]
            }
            _ => Vec::new(),
        }
    }

    fn error_for(&self, focus: Focus) -> Option<&FieldError> {
        let Focus::Field(field) = focus else {
            return None;
        };
        self.errors.iter().find(|e| e.field == field)
    }
}

/// The kiosk's controller. See the module documentation.
pub struct Controller {
    policy: Arc<Policy>,
    runtime: Runtime,
    clock: Box<dyn Fn() -> OffsetDateTime>,
    status: Status,
    session: Option<Session>,
    sessions: u64,
    last_touch: OffsetDateTime,
    /// Chosen by the citizen; every visit starts in Vietnamese.
    lang: Lang,
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
        runtime: Runtime,
        clock: Box<dyn Fn() -> OffsetDateTime>,
    ) -> Controller {
        let now = clock();
        runtime.submit(0, Job::Status);
        Controller {
            policy,
            runtime,
            clock,
            status: Status::default(),
            session: None,
            sessions: 0,
            last_touch: now,
            lang: Lang::Vi,
        }
    }

    /// The controller's clock (the kiosk's time).
    pub fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Whether a session is open (something of a citizen is in memory).
    pub fn has_session(&self) -> bool {
        self.session.is_some()
    }

    /// Whether the runtime is working for the current session.
    pub fn is_busy(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.in_flight > 0)
    }

    fn touch(&mut self) {
        self.last_touch = (self.clock)();
    }

    // --- what the citizen touches ---

    /// "Đăng ký" on the home screen.
    pub fn on_register(&mut self) {
        self.touch();
        self.end_session();
        self.sessions += 1;
        self.session = Some(Session::new(self.sessions));
        self.runtime.submit(0, Job::Status);
    }

    pub fn on_choose_subject(&mut self, id: &str) {
        self.touch();
        let subject = SubjectKind::ALL.into_iter().find(|s| s.as_str() == id);
        if let (Some(session), Some(subject)) = (self.session.as_mut(), subject) {
            session.subject = Some(subject);
            session.page = Page::Method;
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
                self.apply(effects);
            }
            Err(e) => eprintln!("kiosk: {method:?} could not start: {e}"),
        }
    }

    /// A field was touched: it gets the keyboard. Leaving a field checks it.
    pub fn on_focus(&mut self, id: &str) {
        self.touch();
        let Some(focus) = Focus::parse(id) else {
            return;
        };
        self.leave_field();
        if let Some(session) = self.session.as_mut()
            && session.inputs().iter().any(|(f, _)| *f == focus)
        {
            session.focus = Some(focus);
        }
    }

    fn leave_field(&mut self) {
        let now = (self.clock)();
        let policy = Arc::clone(&self.policy);
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let Some(Focus::Field(field)) = session.focus else {
            return;
        };
        if matches!(session.page, Page::Flow(Screen::Form)) {
            session.errors.retain(|e| e.field != field);
            if let Some(error) =
                check_field(field, session.value(Focus::Field(field)), &policy, now)
            {
                session.errors.push(error);
            }
        }
    }

    /// A key of an on-screen keyboard: a character or a piece of text
    /// (`.com`), `⌫` to delete, `⏎` to go to the next field or submit.
    pub fn on_key(&mut self, key: &str) {
        self.touch();
        if key == "⏎" {
            self.next_field_or_submit();
            return;
        }
        let policy = Arc::clone(&self.policy);
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let Some(focus) = session.focus else {
            return;
        };
        let telex = session.telex && focus.keyboard() == Keyboard::Text;
        let max = focus.max_chars(&policy);
        let style = session.tone_style;
        if key == RESPELL {
            if !telex {
                return;
            }
            let text = session.buffer(focus);
            if let Some(respelled) =
                telex::respell_last_word(text, style.other()).map(Zeroizing::new)
                && respelled.chars().count() <= max
                && respelled.len() < BUFFER
            {
                text.clear();
                text.push_str(&respelled);
                session.tone_style = style.other();
            }
            return;
        }
        let text = session.buffer(focus);
        if key == "⌫" {
            text.pop();
            if focus == Focus::Field(Field::DateOfBirth) && text.ends_with('/') {
                text.pop();
            }
        } else {
            let allowed = match focus.keyboard() {
                Keyboard::Digits | Keyboard::Date => key.chars().all(|c| c.is_ascii_digit()),
                Keyboard::Text => key.chars().all(|c| c.is_alphabetic() || " -'.".contains(c)),
                _ => key.chars().all(|c| !c.is_control()),
            };
            if !allowed {
                return;
            }
            // The candidate text, in a buffer of the same fixed size that is
            // wiped when dropped.
            let mut next = Zeroizing::new(String::with_capacity(BUFFER));
            next.push_str(text);
            // Names start each word with a capital, without the shift key.
            let word_start = next.is_empty() || next.ends_with(' ');
            let key = if focus == Focus::Field(Field::FullName) && word_start {
                key.to_uppercase()
            } else {
                key.to_string()
            };
            if telex && key.chars().count() == 1 {
                let c = key.chars().next().unwrap_or(' ');
                telex::type_key(&mut next, c, style);
            } else {
                next.push_str(&key);
            }
            if focus == Focus::Field(Field::DateOfBirth) && matches!(next.len(), 2 | 5) {
                next.push('/');
            }
            if next.chars().count() <= max && next.len() < BUFFER {
                text.clear();
                text.push_str(&next);
            }
        }
        if let Some(Focus::Field(field)) = session.focus {
            session.errors.retain(|e| e.field != field);
        }
    }

    /// The Telex / ABC switch on the letters keyboard.
    pub fn on_toggle_telex(&mut self) {
        self.touch();
        if let Some(session) = self.session.as_mut() {
            session.telex = !session.telex;
        }
    }

    fn next_field_or_submit(&mut self) {
        let Some(session) = self.session.as_ref() else {
            return;
        };
        let inputs = session.inputs();
        let at = inputs.iter().position(|(f, _)| Some(*f) == session.focus);
        match at.and_then(|i| inputs.get(i + 1)) {
            Some((next, _)) => {
                let id = next.id();
                self.on_focus(id);
            }
            None => self.on_submit(),
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
        let event = match &session.page {
            Page::Flow(Screen::Form) => Event::Submit(session.form.clone()),
            Page::Flow(Screen::EnterOtp { .. }) => {
                let typed = Zeroizing::new(session.otp.to_string());
                session.otp.clear();
                Event::OtpEntered(typed)
            }
            Page::Flow(Screen::Password { .. }) => Event::PasswordSubmitted {
                first: Zeroizing::new(session.password.to_string()),
                confirm: Zeroizing::new(session.confirm.to_string()),
            },
            Page::Flow(Screen::EnterPin { .. }) => {
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
            Page::Flow(Screen::ConfirmDetails { .. }) => Event::DetailsConfirmed {
                email: Zeroizing::new(session.form.email.clone()),
            },
            Page::Flow(Screen::OtpNotSent { .. }) => Event::RetryDelivery,
            Page::Flow(Screen::Done { .. } | Screen::Failed(_) | Screen::AccountExists { .. }) => {
                Event::Finish
            }
            _ => return,
        };
        self.feed(event);
    }

    /// "Gửi lại OTP".
    pub fn on_resend(&mut self) {
        self.touch();
        if matches!(
            self.session.as_ref().map(|s| &s.page),
            Some(Page::Flow(Screen::EnterOtp { .. }))
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
        let on_phone = matches!(session.page, Page::Flow(Screen::WaitingForPhone { .. }));
        if session.in_flight > 0 && !on_phone {
            return;
        }
        let restart = match (session.method, session.subject) {
            (Some(m), Some(s)) => Some((m, s)),
            _ => None,
        };
        match &session.page {
            Page::Subject => self.end_session(),
            Page::Method => {
                session.page = Page::Subject;
                session.subject = None;
            }
            Page::Flow(Screen::Form) => {
                session.registration = None;
                session.method = None;
                session.errors.clear();
                session.focus = None;
                session.page = Page::Method;
            }
            Page::Flow(Screen::Done { .. } | Screen::Failed(_) | Screen::AccountExists { .. }) => {
                self.feed(Event::Finish);
            }
            Page::Flow(_) => {
                session.otp.clear();
                session.pin.clear();
                session.password.clear();
                session.confirm.clear();
                // Undo work in flight at the flow (a signature request).
                self.cancel_flow();
                if let Some((method, subject)) = restart {
                    self.start(method, subject);
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
            self.session.as_ref().map(|s| &s.page),
            Some(Page::Flow(Screen::Storing))
        )
    }

    /// Sends Cancel to the flow and runs only what undoes work in flight.
    fn cancel_flow(&mut self) {
        let now = (self.clock)();
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
                    self.runtime.submit(session.id, Job::Effect(effect));
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

    // --- time and the runtime ---

    /// Called every second or so: takes the runtime's answers and ends a
    /// session the citizen walked away from.
    pub fn on_tick(&mut self) {
        self.poll();
        if self.session.is_some() && self.idle_left().is_some_and(|s| s == 0) && !self.is_storing()
        {
            self.cancel_flow();
            self.leave();
        }
        // English chosen at home by someone who then walked away.
        let idle = ((self.clock)() - self.last_touch).whole_seconds();
        if self.session.is_none() && idle >= i64::from(self.policy.session.idle_timeout_seconds) {
            self.lang = Lang::Vi;
        }
    }

    /// Takes every answer the runtime has ready.
    pub fn poll(&mut self) {
        while let Some((session, answer)) = self.runtime.try_answer() {
            self.answer(session, answer);
        }
    }

    /// Waits up to `timeout` until the runtime has answered everything for
    /// this session (for the headless walk and the tests).
    pub fn settle(&mut self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        self.poll();
        while self.is_busy() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Some((session, answer)) = self.runtime.wait_answer(left) {
                self.answer(session, answer);
            }
        }
        true
    }

    /// Asks for fresh status and waits up to `timeout` for it.
    pub fn wait_for_status(&mut self, timeout: Duration) -> bool {
        self.runtime.submit(0, Job::Status);
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.runtime.wait_answer(left) {
                Some((_, Answer::Status(status))) => {
                    let present = status.tokens_present;
                    self.status = status;
                    self.follow_token(present);
                    return true;
                }
                Some((session, answer)) => self.answer(session, answer),
                None => return false,
            }
        }
    }

    /// Asks the runtime for fresh status (queue depth, modem).
    pub fn refresh_status(&mut self) {
        self.runtime.submit(0, Job::Status);
    }

    fn answer(&mut self, session_id: u64, answer: Answer) {
        match answer {
            Answer::Status(status) => {
                let present = status.tokens_present;
                self.status = status;
                self.follow_token(present);
            }
            Answer::Event(event) => {
                let Some(session) = self.session.as_mut() else {
                    return;
                };
                if session.id != session_id {
                    // The citizen this was for has gone.
                    return;
                }
                session.in_flight = session.in_flight.saturating_sub(1);
                let stored = matches!(event, Event::Stored { .. });
                self.feed(event);
                if stored {
                    self.runtime.submit(0, Job::Status);
                }
            }
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
        let event = match (&session.page, present) {
            (Page::Flow(Screen::WaitingForToken), 1..) => Event::TokenInserted,
            (Page::Flow(Screen::EnterPin { .. }), 0) => Event::TokenRemoved,
            _ => return,
        };
        self.feed(event);
    }

    fn feed(&mut self, event: Event) {
        let now = (self.clock)();
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let Some(registration) = session.registration.as_mut() else {
            return;
        };
        match registration.handle(now, event, &mut rand::rng()) {
            Ok(effects) => self.apply(effects),
            Err(e) => eprintln!("kiosk: {e}"),
        }
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            let Some(session) = self.session.as_mut() else {
                return;
            };
            match effect {
                Effect::Show(screen) => {
                    let token_wait = matches!(screen, Screen::WaitingForToken);
                    session.errors.clear();
                    session.page = Page::Flow(screen);
                    session.focus = session.inputs().first().map(|(f, _)| *f);
                    if token_wait {
                        // Is a token in the reader already?
                        self.runtime.submit(0, Job::Status);
                    }
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
                    self.runtime.submit(session.id, Job::Effect(other));
                }
            }
        }
    }

    fn end_session(&mut self) {
        // Dropping the session zeroizes every buffer in it.
        self.session = None;
    }

    /// The citizen is done (finished, cancelled or gone): the session ends
    /// and the next person meets the kiosk in Vietnamese.
    fn leave(&mut self) {
        self.end_session();
        self.lang = Lang::Vi;
    }

    // --- what is shown ---

    /// Why `method` cannot be chosen now (Vietnamese wording), if it cannot.
    fn method_unavailable(&self, method: Method, subject: SubjectKind) -> Option<&'static str> {
        if let Err(why) = self
            .policy
            .check_offered(method, subject, self.status.online)
        {
            return Some(why.message());
        }
        let needs_modem = matches!(method, Method::MobileSubscriber | Method::Bhxh);
        if needs_modem && !self.status.modem_ready {
            return Some(
                "Thiết bị gửi tin nhắn SMS chưa sẵn sàng, chưa gửi được mã OTP. Vui lòng chọn phương thức khác hoặc liên hệ cán bộ hỗ trợ.",
            );
        }
        if method == Method::UsbToken && !self.status.token_reader {
            return Some(
                "Máy này chưa sẵn sàng đọc USB ký số. Vui lòng chọn phương thức khác hoặc liên hệ cán bộ hỗ trợ.",
            );
        }
        None
    }

    /// Seconds left before the idle timeout, once the warning is due.
    pub fn idle_left(&self) -> Option<u32> {
        self.session.as_ref()?;
        let rules = &self.policy.session;
        let idle = ((self.clock)() - self.last_touch).whole_seconds().max(0);
        let left = i64::from(rules.idle_timeout_seconds) - idle;
        (left <= i64::from(rules.idle_warning_seconds)).then(|| left.max(0) as u32)
    }

    /// The screen as it should look now.
    pub fn view(&self) -> View {
        let mut view = View {
            page: "home",
            keyboard: Keyboard::None.as_str(),
            status: self.status.clone(),
            idle_left: self.idle_left(),
            lang: self.lang,
            ..View::default()
        };
        let lang = self.lang;
        let Some(session) = self.session.as_ref() else {
            return view;
        };
        let now = (self.clock)();
        view.telex = session.telex;
        view.subject_title = session
            .subject
            .map(|s| tr(lang, s.label()).to_string())
            .unwrap_or_default();
        view.method_title = session
            .method
            .map(|m| tr(lang, form_title(m)).to_string())
            .unwrap_or_default();
        view.fields = session
            .inputs()
            .into_iter()
            .map(|(focus, required)| {
                let (label, hint) = field_label(focus, session.subject);
                let value = session.value(focus);
                let secret = matches!(
                    focus,
                    Focus::Field(Field::Password | Field::Pin) | Focus::Confirm
                );
                FieldView {
                    id: focus.id().into(),
                    label: tr(lang, label).into(),
                    value: if secret {
                        "●".repeat(value.chars().count())
                    } else {
                        value.to_string()
                    },
                    hint: tr(lang, hint).into(),
                    required,
                    error: session
                        .error_for(focus)
                        .map(|e| e.message.render(lang))
                        .unwrap_or_default(),
                    focused: session.focus == Some(focus),
                }
            })
            .collect();
        if let Some(focus) = session.focus {
            view.keyboard = focus.keyboard().as_str();
            if session.telex && focus.keyboard() == Keyboard::Text {
                view.respell =
                    telex::respell_last_word(session.value(focus), session.tone_style.other())
                        .and_then(|t| t.rsplit(' ').next().map(str::to_string))
                        .unwrap_or_default();
            }
        }
        match &session.page {
            Page::Subject => view.page = "subject",
            Page::Method => {
                view.page = "method";
                let subject = session.subject.unwrap_or(SubjectKind::Citizen);
                view.methods = self
                    .policy
                    .methods_for(subject, self.status.online)
                    .into_iter()
                    .map(|(method, offered)| {
                        let reason = match offered {
                            Err(Unavailable::NotForSubject) => None,
                            _ => self.method_unavailable(method, subject),
                        };
                        MethodView {
                            id: method.as_str().into(),
                            title: tr(lang, method.label()).into(),
                            detail: method_detail(method, offered.ok().map(|l| l.get()), lang),
                            enabled: reason.is_none(),
                            reason: reason.map(|r| tr(lang, r).into()).unwrap_or_default(),
                        }
                    })
                    .collect();
            }
            Page::Flow(screen) => self.describe(screen, session, now, &mut view),
        }
        view
    }

    fn describe(&self, screen: &Screen, session: &Session, now: OffsetDateTime, view: &mut View) {
        let lang = self.lang;
        let t = |vietnamese: &str| tr(lang, vietnamese).to_string();
        match screen {
            Screen::Form => {
                view.page = "form";
                view.submit_label = t("Đăng ký");
                view.submit_enabled = true;
            }
            Screen::Checking => busy(
                view,
                t("Đang kiểm tra thông tin…"),
                t("Vui lòng chờ trong giây lát."),
            ),
            Screen::Storing => busy(
                view,
                t("Đang lưu hồ sơ đăng ký…"),
                t("Vui lòng không rời khỏi máy trong giây lát."),
            ),
            Screen::ProvingToken => busy(
                view,
                t("Đang kiểm tra USB ký số…"),
                t("Không rút USB ra khỏi máy."),
            ),
            Screen::SendingOtp { masked_phone } => busy(
                view,
                t("Đang gửi mã OTP…"),
                Text::with("Mã OTP đang được gửi đến số {}.", [masked_phone]).render(lang),
            ),
            Screen::OtpNotSent { failure } => {
                view.page = "otp-not-sent";
                view.title = t("Chưa gửi được mã OTP");
                view.message = t(failure.message());
                view.submit_label = t("Thử lại");
                view.submit_enabled = *failure != crate::flow::DeliveryFailure::DailyLimit;
            }
            Screen::EnterOtp {
                masked_phone,
                expires_at,
                attempts_left,
                resends_left,
                resend_available_at,
                error,
            } => {
                view.page = "otp";
                view.title = t("Nhập mã OTP");
                view.message = Text::with(
                    "Mã OTP gồm {} chữ số đã được gửi đến số {}.",
                    [self.policy.otp.digits.to_string(), masked_phone.clone()],
                )
                .render(lang);
                let left = (*expires_at - now).whole_seconds().max(0);
                view.countdown = format!("{}:{:02}", left / 60, left % 60);
                view.lines = vec![Text::with("Còn {} lần nhập.", [attempts_left]).render(lang)];
                let shown = match error {
                    _ if left == 0 => Some(crate::flow::OtpError::Expired.message()),
                    Some(error) => Some(error.message()),
                    None => None,
                };
                if let (Some(text), Some(f)) = (shown, view.fields.first_mut()) {
                    f.error = text.render(lang);
                }
                let wait = resend_available_at
                    .map(|at| (at - now).whole_seconds())
                    .unwrap_or(0);
                view.resend_enabled = *resends_left > 0 && wait <= 0;
                view.resend_label = if *resends_left == 0 {
                    t("Đã hết lượt gửi lại")
                } else if wait > 0 {
                    Text::with(
                        "Gửi lại OTP sau {}",
                        [format!("{}:{:02}", wait / 60, wait % 60)],
                    )
                    .render(lang)
                } else {
                    Text::with("Gửi lại OTP (còn {} lần)", [resends_left]).render(lang)
                };
                view.submit_label = t("Xác nhận");
                view.submit_enabled =
                    session.otp.chars().count() == usize::from(self.policy.otp.digits) && left > 0;
            }
            Screen::Password { .. } => {
                view.page = "password";
                view.title = t("Đặt mật khẩu");
                view.message = t("Mật khẩu dùng để đăng nhập Cổng Dịch vụ công.");
                let check = PasswordCheck::evaluate(
                    &session.password,
                    &session.confirm,
                    &self.policy.password,
                );
                view.rules = PasswordRule::ALL
                    .iter()
                    .map(|rule| RuleView {
                        text: rule.label(&self.policy.password).render(lang),
                        ok: check.holds(*rule),
                    })
                    .collect();
                view.submit_label = t("Đăng ký");
                view.submit_enabled = check.is_ok();
            }
            Screen::AccountExists { ways_out } => {
                view.page = "exists";
                view.title = t("Tài khoản đã tồn tại");
                view.message =
                    t("Số định danh này đã có tài khoản trên Cổng Dịch vụ công. Bạn có thể:");
                view.lines = ways_out.iter().map(|w| t(w.label())).collect();
                view.submit_label = t("Hoàn tất");
                view.submit_enabled = true;
                view.keyboard = Keyboard::None.as_str();
            }
            Screen::WaitingForToken => {
                view.page = "token-wait";
                view.title = t("Cắm USB ký số");
                view.message = t("Cắm USB ký số vào cổng USB của máy. Máy sẽ tự nhận USB.");
            }
            Screen::EnterPin {
                count_low,
                final_try,
                wrong,
            } => {
                view.page = "pin";
                view.title = t("Nhập mã PIN của USB ký số");
                view.message = t("Mã PIN chỉ được dùng trên USB, máy không lưu lại.");
                if *wrong {
                    let text = if *final_try {
                        "Mã PIN không đúng. Đây là lần nhập cuối, nhập sai nữa USB sẽ bị khoá."
                    } else if *count_low {
                        "Mã PIN không đúng. Chỉ còn ít lần nhập trước khi USB bị khoá."
                    } else {
                        "Mã PIN không đúng."
                    };
                    if let Some(f) = view.fields.first_mut() {
                        f.error = t(text);
                    }
                }
                view.submit_label = t("Đăng nhập");
                view.submit_enabled = session.pin.chars().count() >= 4;
            }
            Screen::WaitingForPhone { verification_code } => {
                view.page = "phone-wait";
                view.title = t("Xác nhận trên điện thoại");
                view.message = t(
                    "Kiểm tra mã dưới đây trùng với mã trên điện thoại, rồi chọn “Xác nhận” và nhập mã PIN của Sim ký số.",
                );
                view.verification_code = verification_code.clone();
            }
            Screen::ConfirmDetails { details, .. } => {
                view.page = "confirm";
                view.title = t("Kiểm tra thông tin");
                view.message = t("Thông tin lấy từ chứng thư số:");
                view.lines = details
                    .0
                    .iter()
                    .map(|(label, value)| format!("{}: {value}", tr(lang, label)))
                    .collect();
                view.submit_label = t("Đăng ký");
                view.submit_enabled = true;
            }
            Screen::Done {
                reference,
                level,
                pending,
            } => {
                view.page = "done";
                view.title = t("Đã ghi nhận đăng ký");
                view.reference = reference.clone();
                view.keyboard = Keyboard::None.as_str();
                if pending.is_empty() {
                    view.message = Text::with(
                        "Tài khoản mức {} sẽ được kích hoạt khi máy gửi hồ sơ lên Cổng Dịch vụ công.",
                        [level.get()],
                    )
                    .render(lang);
                } else {
                    view.message = Text::with(
                        "Tài khoản mức {} đang chờ Cổng Dịch vụ công xác nhận:",
                        [level.get()],
                    )
                    .render(lang);
                    view.lines = pending
                        .iter()
                        .map(|p| fill(&t("Chờ {}"), &[t(p.label())]))
                        .collect();
                }
                view.lines.push(t(
                    "Bạn sẽ nhận tin nhắn khi tài khoản được kích hoạt. Đăng nhập bằng số định danh và mật khẩu vừa đặt.",
                ));
                view.lines
                    .push(t("Ghi lại mã hồ sơ để tra cứu hoặc hỏi tại quầy."));
                view.submit_label = t("Hoàn tất");
                view.submit_enabled = true;
            }
            Screen::Failed(failure) => {
                view.page = "failed";
                view.title = t("Không đăng ký được tài khoản");
                view.message = failure.message().render(lang);
                view.keyboard = Keyboard::None.as_str();
                view.submit_label = t("Về trang đầu");
                view.submit_enabled = true;
            }
        }
    }
}

fn busy(view: &mut View, title: String, message: String) {
    view.page = "busy";
    view.title = title;
    view.message = message;
    view.keyboard = Keyboard::None.as_str();
}

/// The heading of a method's form.
fn form_title(method: Method) -> &'static str {
    match method {
        Method::MobileSubscriber => "Đăng ký bằng thuê bao di động",
        Method::Bhxh => "Đăng ký bằng mã số BHXH",
        Method::SimSignature => "Đăng ký bằng Sim ký số",
        Method::UsbToken => "Đăng ký bằng USB ký số",
    }
}

fn method_detail(method: Method, level: Option<u8>, lang: Lang) -> String {
    let how = match method {
        Method::MobileSubscriber => "Nhận mã OTP qua tin nhắn đến số điện thoại chính chủ",
        Method::Bhxh => "Đối chiếu với cơ sở dữ liệu Bảo hiểm xã hội",
        Method::SimSignature => "Xác nhận bằng Sim ký số trên điện thoại",
        Method::UsbToken => "Cắm USB ký số và nhập mã PIN",
    };
    let how = tr(lang, how).to_string();
    match level {
        Some(l) => fill(tr(lang, "Mức {} · {}"), &[l.to_string(), how]),
        None => how,
    }
}
