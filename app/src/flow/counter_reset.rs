//! "Quên mật khẩu" at a post-office counter: the person whose account
//! exists is proven by the chip of their card and the clerk's check of
//! their face, so no code to the account's phone is needed (it may be the
//! very thing they lost). They set a new password with the registration's
//! checklist; it is sealed (its Argon2id hash) with the chip's evidence and
//! the clerk, and queued like a registration under an `MK-…` reference, so
//! it works offline too. The portal verifies the chip itself, sets the
//! password, and texts the account's phone that it changed.

use std::sync::Arc;

use crate::domain::{Password, PasswordRule};
use crate::flow::types::settle;
use crate::flow::{
    ChipRead, ClerkStamp, Effect, Event, Failure, FlowError, IdentityKey, Screen, StoreProblem,
};
use crate::policy::Policy;

/// Everything needed to seal and queue the reset.
pub struct CounterResetDraft {
    /// The account's identity: the chip's number.
    pub identity: IdentityKey,
    pub password: Password,
    /// Set by the counter's runtime: what the chip proved, and the clerk.
    pub chip: Option<Box<ChipRead>>,
    pub clerk: Option<ClerkStamp>,
}

/// The identity masked, the clerk by staff code; never the password.
impl std::fmt::Debug for CounterResetDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterResetDraft")
            .field("identity", &self.identity)
            .field("chip", &self.chip.is_some())
            .field("clerk", &self.clerk.as_ref().map(|c| c.clerk_id.as_str()))
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum Step {
    Password,
    Storing,
    Done,
    Ended,
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Password => "password",
            Step::Storing => "storing",
            Step::Done => "done",
            Step::Ended => "ended",
        }
    }
}

/// The counter reset's machine. See the module documentation.
#[derive(Debug)]
pub struct CounterReset {
    policy: Arc<Policy>,
    identity: IdentityKey,
    step: Step,
}

impl CounterReset {
    /// The new password's page, for the account of `identity`.
    pub fn start(policy: Arc<Policy>, identity: IdentityKey) -> (CounterReset, Vec<Effect>) {
        (
            CounterReset {
                policy,
                identity,
                step: Step::Password,
            },
            vec![Effect::Show(Screen::Password {
                failing: PasswordRule::ALL.to_vec(),
            })],
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
            // Being written: it finishes in a moment, with its reference.
            (Step::Storing, Event::Cancel) => return Err(Step::Storing),
            (_, Event::Cancel | Event::Finish) => (Step::Ended, vec![Effect::EndSession]),
            (Step::Password, Event::PasswordSubmitted { first, confirm }) => {
                match Password::new(&first, &confirm, &self.policy.password) {
                    Ok(password) => {
                        let draft = CounterResetDraft {
                            identity: self.identity.clone(),
                            password,
                            chip: None,
                            clerk: None,
                        };
                        (
                            Step::Storing,
                            vec![
                                Effect::Show(Screen::Storing),
                                Effect::FileCounterReset(Box::new(draft)),
                            ],
                        )
                    }
                    Err(error) => (Step::Password, super::password_refused(&error)),
                }
            }
            (Step::Storing, Event::Stored { reference }) => (
                Step::Done,
                vec![Effect::Show(Screen::CounterResetQueued { reference })],
            ),
            (Step::Storing, Event::StoreFailed(problem)) => (
                Step::Done,
                vec![Effect::Show(Screen::Failed(match problem {
                    StoreProblem::OutOfService => Failure::OutOfService,
                    StoreProblem::Failed => Failure::StorageFailed,
                }))],
            ),
            (step, _) => return Err(step),
        })
    }
}
