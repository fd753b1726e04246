//! Typing: which input has the keyboard, which keyboard it needs, and what
//! a key does to the text (Telex for names, digits for numbers, the slashes
//! of a date). Every buffer is allocated once and wiped; a key that would
//! overflow it is refused rather than reallocating.

use std::sync::Arc;

use kiosk_ui::KeyboardKind;
use kiosk_ui::telex;
use zeroize::Zeroizing;

use super::Controller;
use super::session::Stage;
use crate::flow::{Field, Screen, check_field};
use crate::policy::Policy;

/// The room every typed buffer gets up front; input stops before it, so a
/// buffer never reallocates (and never leaves a copy behind in freed memory).
pub(super) const BUFFER: usize = 128;

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

    /// The on-screen keyboard this input needs (`globals.slint`).
    pub(super) fn keyboard(self) -> KeyboardKind {
        match self {
            Focus::Field(Field::FullName) => KeyboardKind::Text,
            Focus::Field(
                Field::Email
                | Field::Reference
                | Field::ClerkId
                | Field::PortalUrl
                | Field::EnrolCode
                | Field::TlsPin,
            ) => KeyboardKind::Email,
            Focus::Field(Field::Password) | Focus::Confirm => KeyboardKind::Password,
            Focus::Field(Field::DateOfBirth | Field::CardExpiry) => KeyboardKind::Date,
            Focus::Field(_) => KeyboardKind::Digits,
        }
    }

    fn max_chars(self, policy: &Policy) -> usize {
        match self {
            Focus::Field(Field::FullName) => policy.person.name_max_chars.min(100),
            Focus::Field(Field::PersonalId) => 12,
            Focus::Field(Field::DateOfBirth | Field::CardExpiry) => 10,
            Focus::Field(Field::CardCan) => 6,
            Focus::Field(Field::Phone) => 12,
            Focus::Field(Field::BhxhCode) => 15,
            Focus::Field(Field::Email) => 100,
            Focus::Field(Field::Otp) => usize::from(policy.otp.digits),
            Focus::Field(Field::Pin) => 16,
            Focus::Field(Field::Password) | Focus::Confirm => 64,
            // DK-XXXX-XXXX, with room for spaces typed between groups.
            Focus::Field(Field::Reference) => 16,
            Focus::Field(Field::ClerkId | Field::EnrolCode) => 32,
            Focus::Field(Field::PortalUrl) => 120,
            // 64 hex digits, or 95 with openssl's colons.
            Focus::Field(Field::TlsPin) => 95,
        }
    }
}

const FIELDS: [Field; 16] = [
    Field::FullName,
    Field::PersonalId,
    Field::DateOfBirth,
    Field::Phone,
    Field::Email,
    Field::BhxhCode,
    Field::CardExpiry,
    Field::CardCan,
    Field::Otp,
    Field::Pin,
    Field::Password,
    Field::Reference,
    Field::ClerkId,
    Field::PortalUrl,
    Field::EnrolCode,
    Field::TlsPin,
];

pub fn field_id(field: Field) -> &'static str {
    match field {
        Field::FullName => "full_name",
        Field::PersonalId => "personal_id",
        Field::DateOfBirth => "date_of_birth",
        Field::Phone => "phone",
        Field::Email => "email",
        Field::BhxhCode => "bhxh_code",
        Field::CardExpiry => "card_expiry",
        Field::CardCan => "card_can",
        Field::Otp => "otp",
        Field::Pin => "pin",
        Field::Password => "password",
        Field::Reference => "reference",
        Field::ClerkId => "clerk_id",
        Field::PortalUrl => "portal_url",
        Field::EnrolCode => "enrol_code",
        Field::TlsPin => "tls_pin",
    }
}

/// The key that respells the name's last word (`.slint` sends the same).
const RESPELL: &str = "⇄";

/// Tab on a physical keyboard: the next field, never the page's button.
const TAB: &str = "⇥";

impl Controller {
    /// A field was touched: it gets the keyboard. Leaving a field checks it.
    pub fn on_focus(&mut self, id: &str) {
        self.touch();
        let Some(focus) = Focus::parse(id) else {
            return;
        };
        self.leave_field();
        if let Some(session) = self.session.as_mut()
            && session.inputs().iter().any(|(f, _)| *f == focus)
            && !session.is_locked(focus)
        {
            session.focus = Some(focus);
        }
    }

    pub(super) fn leave_field(&mut self) {
        let now = self.session_time();
        let policy = Arc::clone(&self.policy);
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let Some(Focus::Field(field)) = session.focus else {
            return;
        };
        if matches!(session.stage, Stage::Flow(Screen::Form)) {
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
        if key == TAB {
            self.next_field();
            return;
        }
        // A physical keyboard's arrows, function keys and the like arrive
        // as private-use characters: none is text.
        if key
            .chars()
            .any(|c| ('\u{e000}'..='\u{f8ff}').contains(&c) || c.is_control())
        {
            return;
        }
        let policy = Arc::clone(&self.policy);
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let Some(focus) = session.focus.filter(|f| !session.is_locked(*f)) else {
            return;
        };
        let telex = session.telex && focus.keyboard() == KeyboardKind::Text;
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
            if focus.keyboard() == KeyboardKind::Date && text.ends_with('/') {
                text.pop();
            }
        } else {
            let allowed = match focus.keyboard() {
                KeyboardKind::Digits | KeyboardKind::Date => {
                    key.chars().all(|c| c.is_ascii_digit())
                }
                KeyboardKind::Text => key.chars().all(|c| c.is_alphabetic() || " -'.".contains(c)),
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
            let key = if (focus == Focus::Field(Field::FullName) && word_start)
                || focus == Focus::Field(Field::Reference)
            {
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
            if focus.keyboard() == KeyboardKind::Date && matches!(next.len(), 2 | 5) {
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

    pub(super) fn next_field_or_submit(&mut self) {
        if !self.next_field() {
            self.on_submit();
        }
    }

    /// Moves the keyboard to the page's next open field; `false` when the
    /// focused one is the last.
    fn next_field(&mut self) -> bool {
        let Some(session) = self.session.as_ref() else {
            return false;
        };
        let inputs = session.inputs();
        let at = inputs.iter().position(|(f, _)| Some(*f) == session.focus);
        let next = at.and_then(|i| inputs[i + 1..].iter().find(|(f, _)| !session.is_locked(*f)));
        match next {
            Some((next, _)) => {
                let id = next.id();
                self.on_focus(id);
                true
            }
            None => false,
        }
    }
}
