//! "Quên mật khẩu" at the kiosk, for a person whose account exists. Online
//! only: the portal sends a code to the phone it has on file for the
//! account and tells the kiosk the number masked; the person types the
//! code and a new password (the registration's checklist); the kiosk sends
//! both sealed, the password as its Argon2id hash. The portal counts the
//! tries and the resends; the kiosk shows what it answers.

use std::sync::Arc;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::domain::{Password, PasswordRule};
use crate::flow::types::settle;
use crate::flow::{Effect, Event, Failure, FlowError, IdentityKey, OtpError, Screen};
use crate::policy::Policy;

/// A code the portal sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetCode {
    pub reset_id: String,
    pub masked_phone: String,
    pub expires_at: OffsetDateTime,
    pub tries_left: u8,
    pub resends_left: u8,
    pub resend_after: Option<OffsetDateTime>,
}

/// The portal's answer to a reset or a resend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetStarted {
    Sent(ResetCode),
    /// The account has no phone on file.
    NoPhone,
    /// Too many resets today (or no resend left).
    TooMany,
    /// The portal could not be asked, or has no such account.
    Unreachable,
}

/// The portal's answer to the code and the new password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetCompleted {
    Done,
    WrongCode { tries_left: u8 },
    Expired,
    Spent,
    Unreachable,
}

/// Why the kiosk cannot reset the password now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetProblem {
    NoPhone,
    TooMany,
    Unreachable,
}

/// What the worker sends, sealed: the code typed and the new password.
/// `Debug` shows only the reset's id.
pub struct ResetDraft {
    pub reset_id: String,
    pub code: Zeroizing<String>,
    pub password: Password,
}

impl std::fmt::Debug for ResetDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetDraft")
            .field("reset_id", &self.reset_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum Step {
    Starting,
    Code(ResetCode),
    Resending(ResetCode),
    Password(ResetCode, Zeroizing<String>),
    Completing(ResetCode),
    Done,
    Ended,
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Starting => "starting",
            Step::Code(_) => "code",
            Step::Resending(_) => "resending",
            Step::Password(..) => "password",
            Step::Completing(_) => "completing",
            Step::Done => "done",
            Step::Ended => "ended",
        }
    }
}

/// The reset's machine. See the module documentation.
#[derive(Debug)]
pub struct Recovery {
    policy: Arc<Policy>,
    step: Step,
}

impl Recovery {
    /// Asks the portal for a code for the account of `identity`.
    pub fn start(policy: Arc<Policy>, identity: IdentityKey) -> (Recovery, Vec<Effect>) {
        (
            Recovery {
                policy,
                step: Step::Starting,
            },
            vec![Effect::Show(Screen::Checking), Effect::StartReset(identity)],
        )
    }

    pub fn step(&self) -> &'static str {
        self.step.name()
    }

    pub fn handle(&mut self, event: Event) -> Result<Vec<Effect>, FlowError> {
        let step = std::mem::replace(&mut self.step, Step::Ended);
        let (name, event_name) = (step.name(), event.name());
        let moved = self.transition(step, event);
        settle(&mut self.step, name, event_name, moved)
    }

    #[allow(clippy::result_large_err)]
    fn transition(&self, step: Step, event: Event) -> Result<(Step, Vec<Effect>), Step> {
        Ok(match (step, event) {
            (Step::Ended, _) => return Err(Step::Ended),
            // The portal decides once it has the code: nothing to undo.
            (_, Event::Cancel | Event::Finish) => (Step::Ended, vec![Effect::EndSession]),
            (Step::Starting, Event::ResetAnswered(answer)) => match answer {
                ResetStarted::Sent(code) => code_page(code, None),
                ResetStarted::NoPhone => unavailable(ResetProblem::NoPhone),
                ResetStarted::TooMany => unavailable(ResetProblem::TooMany),
                ResetStarted::Unreachable => unavailable(ResetProblem::Unreachable),
            },
            (Step::Code(code), Event::OtpEntered(typed)) => {
                let typed = Zeroizing::new(typed.trim().to_string());
                // The portal's codes have six digits, whatever the kiosk's
                // own OTP policy says.
                if typed.len() != 6 || !typed.bytes().all(|b| b.is_ascii_digit()) {
                    code_page(code, Some(OtpError::Malformed(6)))
                } else {
                    (
                        Step::Password(code, typed),
                        vec![Effect::Show(Screen::Password {
                            failing: PasswordRule::ALL.to_vec(),
                        })],
                    )
                }
            }
            (Step::Code(code), Event::ResendOtp) => {
                let reset_id = code.reset_id.clone();
                (
                    Step::Resending(code),
                    vec![
                        Effect::Show(Screen::Checking),
                        Effect::ResendReset(reset_id),
                    ],
                )
            }
            (Step::Resending(old), Event::ResetAnswered(answer)) => match answer {
                ResetStarted::Sent(code) => code_page(code, None),
                ResetStarted::TooMany | ResetStarted::NoPhone => {
                    let error = if old.resends_left == 0 {
                        OtpError::NoResendsLeft
                    } else {
                        OtpError::ResendTooSoon {
                            available_at: old.resend_after.unwrap_or(old.expires_at),
                        }
                    };
                    code_page(old, Some(error))
                }
                ResetStarted::Unreachable => unavailable(ResetProblem::Unreachable),
            },
            (Step::Password(code, typed), Event::PasswordSubmitted { first, confirm }) => {
                match Password::new(&first, &confirm, &self.policy.password) {
                    Ok(password) => {
                        let draft = ResetDraft {
                            reset_id: code.reset_id.clone(),
                            code: typed,
                            password,
                        };
                        (
                            Step::Completing(code),
                            vec![
                                Effect::Show(Screen::Checking),
                                Effect::CompleteReset(Box::new(draft)),
                            ],
                        )
                    }
                    Err(error) => (Step::Password(code, typed), super::password_refused(&error)),
                }
            }
            (Step::Completing(code), Event::ResetCompleted(answer)) => match answer {
                ResetCompleted::Done => (
                    Step::Done,
                    vec![Effect::Show(Screen::ResetDone {
                        masked_phone: code.masked_phone,
                    })],
                ),
                ResetCompleted::WrongCode { tries_left } => {
                    let error = OtpError::Wrong {
                        attempts_left: tries_left,
                    };
                    code_page(ResetCode { tries_left, ..code }, Some(error))
                }
                ResetCompleted::Expired => code_page(code, Some(OtpError::Expired)),
                ResetCompleted::Spent => (
                    Step::Done,
                    vec![Effect::Show(Screen::Failed(Failure::OtpExhausted))],
                ),
                ResetCompleted::Unreachable => unavailable(ResetProblem::Unreachable),
            },
            (step, _) => return Err(step),
        })
    }
}

fn code_page(code: ResetCode, error: Option<OtpError>) -> (Step, Vec<Effect>) {
    let screen = Screen::EnterOtp {
        masked_phone: code.masked_phone.clone(),
        expires_at: code.expires_at,
        attempts_left: code.tries_left,
        resends_left: code.resends_left,
        resend_available_at: code.resend_after,
        error,
    };
    (Step::Code(code), vec![Effect::Show(screen)])
}

fn unavailable(problem: ResetProblem) -> (Step, Vec<Effect>) {
    (
        Step::Done,
        vec![Effect::Show(Screen::ResetUnavailable(problem))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_draft_never_prints_its_code() {
        let rules = Policy::built_in().password.clone();
        let draft = ResetDraft {
            reset_id: "r-1".into(),
            code: Zeroizing::new("482913".into()),
            password: Password::new("Matkhau@2026", "Matkhau@2026", &rules).unwrap(),
        };
        let shown = format!("{:?}", Effect::CompleteReset(Box::new(draft)));
        assert!(shown.contains("r-1"), "{shown}");
        assert!(
            !shown.contains("482913") && !shown.contains("Matkhau"),
            "{shown}"
        );
    }
}
