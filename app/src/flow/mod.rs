//! Registration state machines, one per method, in the style of
//! `quinn-proto`: events in (with `now` and a CSPRNG), effects out, no I/O
//! and no clock inside.
//!
//! Each method ([`MobileSubscriber`], [`Bhxh`], [`SimSignature`],
//! [`UsbToken`]) is a [`MethodFlow`]: its own states up to the point where
//! the applicant's identity is established. From there every method shares
//! the manual's tail, run by [`Registration`]: duplicate check (with the three
//! ways out when an account exists), the subscriber-ownership check and SMS
//! OTP for the phone methods, the password, and the one transaction that
//! stores the sealed registration. Nothing before [`Event::Stored`] counts as
//! done.
//!
//! A runtime executes the [`Effect`]s — ask the portal or the local store,
//! send an SMS, ask the token to sign — and feeds the answers back as
//! [`Event`]s. Every event that does not fit the current step is an
//! [`FlowError::InvalidTransition`], never a panic.

mod card;
mod complaint;
mod counter;
mod counter_reset;
mod engine;
mod form;
mod lookup;
mod methods;
mod otp;
mod outcomes;
mod recovery;
mod screen;
mod types;

pub use card::fill_form;
pub use complaint::{Complaint, ComplaintDraft, ComplaintReason};
pub use counter::Counter;
pub use counter_reset::{CounterReset, CounterResetDraft};
pub use engine::{AnyRegistration, Registration, start};
pub use form::{check_field, required_fields};
pub use lookup::{Found, Lookup, LookupResult, LookupStatus};
pub use methods::{Bhxh, MethodFlow, MobileSubscriber, SimSignature, UsbToken};
pub use otp::{OtpChallenge, OtpError};
pub use outcomes::*;
pub use recovery::{Recovery, ResetCode, ResetCompleted, ResetDraft, ResetProblem, ResetStarted};
pub use screen::*;
pub use types::*;

/// The password page again, with why the new password was refused and
/// which of the checklist's rules fail: every machine that sets one.
fn password_refused(error: &crate::domain::PasswordError) -> Vec<Effect> {
    let failing = match error {
        crate::domain::PasswordError::Rules(check) => check.failing.clone(),
        _ => Vec::new(),
    };
    vec![
        Effect::FieldErrors(vec![FieldError::new(
            Field::Password,
            error.message(),
            error,
        )]),
        Effect::Show(Screen::Password { failing }),
    ]
}

#[cfg(test)]
mod tests;
