//! One citizen's visit: what they typed, where they are, and the
//! registration in progress. Dropping a session wipes all of it.

use kiosk_ui::telex::ToneStyle;
use zeroize::Zeroizing;

use super::input::{BUFFER, Focus};
use crate::domain::{Method, SubjectKind};
use crate::flow::{
    AnyRegistration, Complaint, CounterReset, Field, FieldError, Form, Lookup, Recovery, Screen,
    required_fields,
};

/// Which visit an effect and its answer belong to: each session gets the
/// next, so an answer for a citizen who has left is recognised and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u64);

impl SessionId {
    /// The first session of a kiosk's run.
    pub const FIRST: SessionId = SessionId(1);

    pub fn next(self) -> SessionId {
        SessionId(self.0 + 1)
    }
}

/// Where a session is, besides what the flow said last.
#[derive(Debug, Clone)]
pub(super) enum Stage {
    Subject,
    Method,
    Flow(Screen),
}

/// One citizen's visit. Dropping it wipes what they typed.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) id: SessionId,
    pub(super) subject: Option<SubjectKind>,
    pub(super) method: Option<Method>,
    pub(super) registration: Option<AnyRegistration>,
    /// "Tra cứu hồ sơ": a visit that looks a reference up instead.
    pub(super) lookup: Option<Lookup>,
    /// A complaint about the account the registration found, with the
    /// page it started from (Quay lại on its first page returns there).
    pub(super) complaint: Option<(Complaint, Screen)>,
    /// "Quên mật khẩu" for that account, with the page it started from.
    pub(super) reset: Option<(Recovery, Screen)>,
    /// The same at a counter, proven by the chip: with that page too.
    pub(super) counter_reset: Option<(CounterReset, Screen)>,
    pub(super) form: Form,
    pub(super) otp: Zeroizing<String>,
    pub(super) pin: Zeroizing<String>,
    pub(super) password: Zeroizing<String>,
    pub(super) confirm: Zeroizing<String>,
    /// A clerk's staff code, on the counter's sign-in page.
    pub(super) clerk_id: Zeroizing<String>,
    /// The counter's sign-in: this session is a clerk's, not a citizen's.
    pub(super) signin: bool,
    /// The technician's setup: the portal's address, the enrolment code,
    /// the TLS pin.
    pub(super) setup: [Zeroizing<String>; 3],
    /// This session is the technician's (setup, PIN, their page).
    pub(super) technician: bool,
    pub(super) errors: Vec<FieldError>,
    /// Fields the chip filled: shown, not typed into.
    pub(super) locked: Vec<Field>,
    /// A card was lifted mid-read: the reader's event count then. A card
    /// is read again only once the count has moved (it was put back).
    pub(super) card_lifted: Option<u32>,
    pub(super) focus: Option<Focus>,
    pub(super) telex: bool,
    /// Where Telex puts the tone in *oa, oe, uy*: as on the citizen's ID
    /// card, chosen with the respell key.
    pub(super) tone_style: ToneStyle,
    pub(super) stage: Stage,
    /// Jobs sent to the worker and not answered yet.
    pub(super) in_flight: usize,
}

fn buffer() -> String {
    String::with_capacity(BUFFER)
}

impl Session {
    pub(super) fn new(id: SessionId) -> Session {
        Session {
            id,
            subject: None,
            method: None,
            registration: None,
            lookup: None,
            complaint: None,
            reset: None,
            counter_reset: None,
            form: Form {
                full_name: buffer(),
                personal_id: buffer(),
                date_of_birth: buffer(),
                phone: buffer(),
                email: buffer(),
                bhxh_code: buffer(),
                card_expiry: buffer(),
                card_can: buffer(),
                reference: buffer(),
            },
            otp: Zeroizing::new(buffer()),
            pin: Zeroizing::new(buffer()),
            password: Zeroizing::new(buffer()),
            confirm: Zeroizing::new(buffer()),
            clerk_id: Zeroizing::new(buffer()),
            signin: false,
            setup: [(); 3].map(|()| Zeroizing::new(buffer())),
            technician: false,
            errors: Vec::new(),
            locked: Vec::new(),
            card_lifted: None,
            focus: None,
            telex: true,
            tone_style: ToneStyle::Classic,
            stage: Stage::Subject,
            in_flight: 0,
        }
    }

    pub(super) fn buffer(&mut self, focus: Focus) -> &mut String {
        match focus {
            Focus::Field(Field::FullName) => &mut self.form.full_name,
            Focus::Field(Field::PersonalId) => &mut self.form.personal_id,
            Focus::Field(Field::DateOfBirth) => &mut self.form.date_of_birth,
            Focus::Field(Field::Phone) => &mut self.form.phone,
            Focus::Field(Field::Email) => &mut self.form.email,
            Focus::Field(Field::BhxhCode) => &mut self.form.bhxh_code,
            Focus::Field(Field::CardExpiry) => &mut self.form.card_expiry,
            Focus::Field(Field::CardCan) => &mut self.form.card_can,
            Focus::Field(Field::Reference) => &mut self.form.reference,
            Focus::Field(Field::ClerkId) => &mut self.clerk_id,
            Focus::Field(Field::PortalUrl) => &mut self.setup[0],
            Focus::Field(Field::EnrolCode) => &mut self.setup[1],
            Focus::Field(Field::TlsPin) => &mut self.setup[2],
            Focus::Field(Field::Otp) => &mut self.otp,
            Focus::Field(Field::Pin) => &mut self.pin,
            Focus::Field(Field::Password) => &mut self.password,
            Focus::Confirm => &mut self.confirm,
        }
    }

    pub(super) fn value(&self, focus: Focus) -> &str {
        match focus {
            Focus::Field(Field::FullName) => &self.form.full_name,
            Focus::Field(Field::PersonalId) => &self.form.personal_id,
            Focus::Field(Field::DateOfBirth) => &self.form.date_of_birth,
            Focus::Field(Field::Phone) => &self.form.phone,
            Focus::Field(Field::Email) => &self.form.email,
            Focus::Field(Field::BhxhCode) => &self.form.bhxh_code,
            Focus::Field(Field::CardExpiry) => &self.form.card_expiry,
            Focus::Field(Field::CardCan) => &self.form.card_can,
            Focus::Field(Field::Reference) => &self.form.reference,
            Focus::Field(Field::ClerkId) => &self.clerk_id,
            Focus::Field(Field::PortalUrl) => &self.setup[0],
            Focus::Field(Field::EnrolCode) => &self.setup[1],
            Focus::Field(Field::TlsPin) => &self.setup[2],
            Focus::Field(Field::Otp) => &self.otp,
            Focus::Field(Field::Pin) => &self.pin,
            Focus::Field(Field::Password) => &self.password,
            Focus::Confirm => &self.confirm,
        }
    }

    /// The inputs of the current page, in screen order.
    pub(super) fn inputs(&self) -> Vec<(Focus, bool)> {
        match &self.stage {
            Stage::Flow(Screen::Form) => match (self.method, self.subject) {
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
            Stage::Flow(Screen::CardKey { can: true }) => {
                vec![(Focus::Field(Field::CardCan), true)]
            }
            Stage::Flow(Screen::CardKey { can: false }) => vec![
                (Focus::Field(Field::PersonalId), true),
                (Focus::Field(Field::DateOfBirth), true),
                (Focus::Field(Field::CardExpiry), true),
            ],
            Stage::Flow(Screen::EnterOtp { .. }) => vec![(Focus::Field(Field::Otp), true)],
            Stage::Flow(Screen::Lookup) => vec![(Focus::Field(Field::Reference), true)],
            Stage::Flow(Screen::ComplaintContact) => vec![(Focus::Field(Field::Phone), true)],
            Stage::Flow(Screen::EnterPin { .. }) => vec![(Focus::Field(Field::Pin), true)],
            Stage::Flow(Screen::Setup) => vec![
                (Focus::Field(Field::PortalUrl), true),
                (Focus::Field(Field::EnrolCode), true),
                (Focus::Field(Field::TlsPin), false),
            ],
            Stage::Flow(Screen::TechnicianPin) => vec![(Focus::Field(Field::Pin), true)],
            Stage::Flow(Screen::ClerkSignIn) => vec![
                (Focus::Field(Field::ClerkId), true),
                (Focus::Field(Field::Pin), true),
            ],
            Stage::Flow(Screen::Password { .. }) => vec![
                (Focus::Field(Field::Password), true),
                (Focus::Confirm, true),
            ],
            Stage::Flow(Screen::ConfirmDetails { email_required, .. }) => {
                vec![(Focus::Field(Field::Email), *email_required)]
            }
            _ => Vec::new(),
        }
    }

    /// Back on `page` (the one a way out started from), with the codes
    /// and passwords typed since wiped.
    pub(super) fn return_to(&mut self, page: Screen) {
        self.otp.clear();
        self.password.clear();
        self.confirm.clear();
        self.errors.clear();
        self.focus = None;
        self.stage = Stage::Flow(page);
    }

    /// The first input of the page that takes typing.
    pub(super) fn first_open_input(&self) -> Option<Focus> {
        self.inputs()
            .into_iter()
            .map(|(f, _)| f)
            .find(|f| !self.is_locked(*f))
    }

    /// Whether the chip filled this input (and so it takes no typing).
    pub(super) fn is_locked(&self, focus: Focus) -> bool {
        matches!(self.stage, Stage::Flow(Screen::Form))
            && matches!(focus, Focus::Field(f) if self.locked.contains(&f))
    }

    pub(super) fn error_for(&self, focus: Focus) -> Option<&FieldError> {
        let Focus::Field(field) = focus else {
            return None;
        };
        self.errors.iter().find(|e| e.field == field)
    }
}
