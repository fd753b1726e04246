//! The worker: carries out what the state machines ask for, off the UI
//! thread, and answers with events.
//!
//! One worker thread owns the store, the keys and the devices. Jobs are done
//! in order, one at a time, so the store has a single writer and a device
//! never sees two requests at once. Each effect is tagged with the
//! [`SessionId`] it belongs to; the controller drops answers for a session
//! that has ended, so a late modem reply can never land in the next
//! citizen's registration.

use std::sync::Arc;

use kiosk_hal::card::reader::Readers;
use kiosk_hal::modem::{Health, ModemService, SmsSender};
use kiosk_sync::PortalPublicKey;
use kiosk_sync::api::{Ownership, Peripherals};
use time::OffsetDateTime;

use crate::config::PasswordHashCost;
use crate::controller::SessionId;
use crate::courier::Courier;
use crate::domain::PersonalId;
use crate::flow::{
    BhxhOutcome, CardOutcome, CardProblem, DeliveryFailure, DuplicateOutcome, Effect, Event,
    IdentityKey, SignatureOutcome, SignatureProblem, StoreProblem, SubscriberOutcome, TokenOutcome,
};
use crate::keys::Keyring;
use crate::policy::Policy;
use crate::register::{CompleteError, Completer, Receipt};
use crate::store::{Known, Storage, Store, StoreError};
use crate::token::TokenService;
use crate::uplink::{BhxhRecord, LiveChecks, UplinkHandle};

mod desk;
mod setup;
mod thread;
mod ways_out;

pub use setup::{SetupWorker, enrol};
pub use thread::Worker;
use ways_out::reset_started;

/// A modem as the worker sees it: something that sends SMS and reports
/// its health for the status bar.
pub trait Modem: SmsSender + Send {
    fn health(&self) -> Health;
}

impl Modem for ModemService {
    fn health(&self) -> Health {
        ModemService::health(self)
    }
}

/// What the kiosk has, for the status bar and for which methods it offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    pub online: bool,
    pub queue_depth: usize,
    /// 0 to 4; 0 also when there is no modem.
    pub signal_bars: u8,
    pub modem_ready: bool,
    /// A PKCS#11 module is configured (a token can be read).
    pub token_reader: bool,
    /// Tokens in the reader now.
    pub tokens_present: usize,
    /// A smartcard reader is seen through pcscd (the chip in CCCD cards).
    pub card_reader: bool,
    /// A card is on that reader now.
    pub card_present: bool,
    /// Moves each time a card arrives or leaves (PC/SC's event count).
    pub card_events: u32,
    /// Whether a new registration can be stored.
    pub storage: Storage,
}

/// Work that leaves the UI thread.
#[derive(Debug)]
pub enum Job {
    /// An effect of the flow of this session.
    Effect(SessionId, Effect),
    /// Refresh [`Status`]; no session's.
    Status,
    /// Note what the counter's clerk did in the audit chain (`clerk.*`,
    /// `counter.*`): the staff code and the outcome, nothing of a citizen.
    Audit { event: &'static str, detail: String },
}

/// What comes back.
#[derive(Debug)]
pub enum Answer {
    /// The answer to an effect, for the session that asked.
    Event(SessionId, Event),
    Status(Status),
}

/// The audit event for a wall clock set while the kiosk runs.
pub const EVENT_CLOCK_CHANGED: &str = "clock.changed";

/// The audit event for a CCCD card read for a registration, with its
/// verdict (`ok` or the step that failed; nothing of the holder).
pub const EVENT_CARD_READ: &str = "card.read";
/// A password reset's code and new password were sent; its detail is the
/// portal's answer.
pub const EVENT_PASSWORD_RESET: &str = "password.reset";

/// Where an answer that comes later goes.
pub type Later = Box<dyn FnOnce(Event) + Send>;

/// Everything the worker owns.
pub struct Backend {
    pub store: Store,
    pub keys: Keyring,
    pub portal: PortalPublicKey,
    pub cost: PasswordHashCost,
    pub policy: Arc<Policy>,
    pub modem: Option<Box<dyn Modem>>,
    pub token_reader: bool,
    pub clock: fn() -> OffsetDateTime,
    /// The relay to the portal, when the kiosk is enrolled.
    pub uplink: Option<UplinkHandle>,
    /// The portal's live checks, when the kiosk is enrolled.
    pub live: Option<LiveChecks>,
    /// The USB token reader, when PKCS#11 modules are configured.
    pub tokens: Option<TokenService>,
    /// The smartcard readers, watched through pcscd, and the CSCA list.
    pub cards: Option<crate::card::CardService>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("modem", &self.modem.is_some())
            .field("token_reader", &self.token_reader)
            .finish_non_exhaustive()
    }
}

impl Backend {
    /// A proven token's certificate, asked of the portal as a browser asks
    /// OCSP: revoked ends the registration now, with the reason on screen;
    /// good is recorded; with no answer (offline, no current list) the
    /// portal checks it on delivery.
    fn ask_revocation(&self, outcome: TokenOutcome) -> TokenOutcome {
        use kiosk_sync::api::CertificateStatus;
        let TokenOutcome::Proven(mut identity) = outcome else {
            return outcome;
        };
        let status = self
            .live
            .as_ref()
            .and_then(|l| l.certificate(&identity.certificate));
        match status {
            Some(CertificateStatus::Revoked) => {
                tracing::info!("the portal says the token's certificate is revoked");
                TokenOutcome::Problem(crate::flow::TokenProblem::CertificateRevoked)
            }
            Some(CertificateStatus::Untrusted) => {
                TokenOutcome::Problem(crate::flow::TokenProblem::CertificateUntrusted)
            }
            Some(CertificateStatus::Good) => {
                identity.not_revoked = true;
                TokenOutcome::Proven(identity)
            }
            Some(CertificateStatus::Unknown) | None => TokenOutcome::Proven(identity),
        }
    }

    /// The answer to storing `what`: its reference, the uplink woken to
    /// send it; or why nothing was stored.
    fn stored(&self, stored: Result<Receipt, CompleteError>, what: &str) -> Event {
        match stored {
            Ok(receipt) => {
                if let Some(uplink) = &self.uplink {
                    uplink.wake();
                }
                Event::Stored {
                    reference: receipt.reference,
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "storing {what} failed");
                Event::StoreFailed(match e {
                    CompleteError::Store(StoreError::Full | StoreError::Damaged(_)) => {
                        StoreProblem::OutOfService
                    }
                    _ => StoreProblem::Failed,
                })
            }
        }
    }

    /// Asks the local store, then the portal, about every identifier of
    /// the applicant: any account or registration under one of them counts.
    fn check_duplicate(&self, keys: &[IdentityKey]) -> DuplicateOutcome {
        let mut local_ok = true;
        for key in keys {
            match self.store.identity_here(&self.keys.identity_tag(key)) {
                Ok(Some(Known::Queued { reference })) => {
                    return DuplicateOutcome::QueuedHere(reference);
                }
                Ok(Some(Known::Delivered)) => return DuplicateOutcome::AccountExists,
                Ok(None) => {}
                // The store could not answer: the portal answers when it
                // can, and otherwise checks later.
                Err(_) => local_ok = false,
            }
        }
        let mut portal_ok = true;
        for key in keys {
            match self
                .live
                .as_ref()
                .and_then(|l| l.account_exists(&key.reference()))
            {
                Some(true) => return DuplicateOutcome::AccountExists,
                Some(false) => {}
                None => {
                    // Offline: asking about the others would only wait.
                    portal_ok = false;
                    break;
                }
            }
        }
        if local_ok && portal_ok {
            DuplicateOutcome::NoAccount
        } else {
            DuplicateOutcome::CheckedLocallyOnly
        }
    }

    fn status(&self) -> Status {
        let health = self.modem.as_ref().map(|m| m.health());
        let readers = self.cards.as_ref().map(|w| w.readers());
        let card_reader = readers
            .as_ref()
            .is_some_and(|r| r.error.is_none() && !r.readers.is_empty());
        if let Some(uplink) = &self.uplink {
            uplink.set_peripherals(Peripherals {
                modem: match &health {
                    None => "absent".into(),
                    Some(h) if h.can_send() => "ready".into(),
                    Some(_) => "not_ready".into(),
                },
                token_reader: self.token_reader,
                card_reader,
            });
        }
        Status {
            online: self
                .uplink
                .as_ref()
                .is_some_and(|u| u.status().relay.online),
            queue_depth: self.store.outbox_len().unwrap_or(0),
            signal_bars: health
                .as_ref()
                .and_then(|h| h.signal.map(|s| s.bars))
                .unwrap_or(0),
            modem_ready: health.as_ref().is_some_and(Health::can_send),
            token_reader: self.token_reader,
            tokens_present: self.tokens.as_ref().map_or(0, |t| t.present().len()),
            card_reader,
            card_present: readers.as_ref().is_some_and(|r| r.with_card().is_some()),
            card_events: readers.as_ref().map_or(0, Readers::events),
            storage: self.store.storage(),
        }
    }

    /// The wall clock was set by `by` seconds: the audit log says so, so
    /// the wall times in the records around it can be read right.
    pub fn note_clock_change(&mut self, by: i64) {
        tracing::warn!(
            by_seconds = by,
            "the wall clock was set; records carry the new time"
        );
        let now = (self.clock)();
        self.audit(now, EVENT_CLOCK_CHANGED, &format!("by={by:+}s"));
    }

    /// Notes `event` in the audit chain; a failure to is logged, not fatal.
    fn audit(&mut self, now: OffsetDateTime, event: &str, detail: &str) {
        if let Err(e) =
            self.store
                .append_audit(&self.keys.audit_key(), now.unix_timestamp(), event, detail)
        {
            tracing::warn!(error = %e, event, "an event could not be noted in the audit log");
        }
    }

    /// Carries out one effect; `None` for effects with no answer (or whose
    /// answer comes later: use [`Backend::run_with`] to receive it).
    pub fn run(&mut self, effect: Effect) -> Option<Event> {
        self.run_with(effect, Box::new(|_| {}))
    }

    /// Carries out one effect. An effect that waits on someone else (the
    /// citizen's phone, for a mobile signature) answers through `later`,
    /// from another thread, and the worker goes on with the next job.
    pub fn run_with(&mut self, effect: Effect, later: Later) -> Option<Event> {
        let now = (self.clock)();
        Some(match effect {
            Effect::CheckDuplicate(keys) => Event::DuplicateChecked(self.check_duplicate(&keys)),
            Effect::RequestHandoff(key) => Event::HandoffIssued(
                self.live
                    .as_ref()
                    .and_then(|l| l.handoff(&key.reference()))
                    .flatten(),
            ),
            Effect::LookUp(reference) => Event::LookedUp {
                result: self.look_up(&reference),
                reference,
            },
            Effect::ListToday(since) => Event::TodayListed(self.today(since)),
            Effect::Enrol {
                data_dir,
                portal,
                code,
                pin,
            } => Event::Enrolled(enrol(&self.keys, &data_dir, &portal, &code, pin.as_deref())),
            Effect::CheckBhxh {
                code,
                full_name,
                date_of_birth,
            } => {
                let answer = self.live.as_ref().and_then(|l| {
                    l.bhxh(
                        code.as_str(),
                        full_name.as_str(),
                        &date_of_birth.date().to_string(),
                    )
                });
                let year = now.year();
                Event::BhxhChecked(match answer {
                    None => BhxhOutcome::Unavailable,
                    Some(BhxhRecord::NotMatched) => BhxhOutcome::NotMatched,
                    Some(BhxhRecord::Matched(id)) => match id
                        .kind()
                        .is_personal_id()
                        .then(|| PersonalId::parse(id.value(), &self.policy.identifiers, year).ok())
                        .flatten()
                    {
                        Some(id) => BhxhOutcome::Matched(id),
                        // The portal's record is unreadable here: it matches later.
                        None => BhxhOutcome::Unavailable,
                    },
                })
            }
            Effect::CheckSubscriber { phone, id } => {
                let identity = id.reference();
                Event::SubscriberChecked(
                    match self
                        .live
                        .as_ref()
                        .and_then(|l| l.subscriber(phone.e164(), &identity))
                    {
                        Some(Ownership::Confirmed) => SubscriberOutcome::Confirmed,
                        Some(Ownership::NotOwner) => SubscriberOutcome::NotOwner,
                        Some(Ownership::Unknown) | None => SubscriberOutcome::Unavailable,
                    },
                )
            }
            Effect::SendOtp { to, text } => match &self.modem {
                None => Event::OtpNotDelivered(DeliveryFailure::NoModem),
                Some(modem) => {
                    let courier = Courier {
                        modem: modem.as_ref(),
                        keys: &self.keys,
                        policy: &self.policy,
                    };
                    match courier.deliver(&mut self.store, &to, &text, now) {
                        Ok(event) => event,
                        Err(e) => {
                            tracing::error!(error = %e, "OTP bookkeeping failed; the code is not sent");
                            Event::OtpNotDelivered(DeliveryFailure::NoModem)
                        }
                    }
                }
            },
            Effect::StartMobileSignature {
                phone,
                display_text,
                ..
            } => match &self.live {
                None => Event::SignatureAnswered(SignatureOutcome::Failed(
                    SignatureProblem::ServiceUnavailable,
                )),
                Some(live) => {
                    let policy = Arc::clone(&self.policy);
                    let anchors = live.anchors();
                    let clock = self.clock;
                    let text = display_text.clone();
                    live.start_signature(phone.e164().to_string(), display_text, move |session| {
                        let outcome = match session {
                            None => SignatureOutcome::Failed(SignatureProblem::ServiceUnavailable),
                            Some(s) => crate::token::mobile_signature_outcome(
                                &s,
                                &text,
                                anchors.as_deref(),
                                &policy,
                                clock(),
                            ),
                        };
                        later(Event::SignatureAnswered(outcome));
                    });
                    return None;
                }
            },
            Effect::CancelMobileSignature => {
                if let Some(live) = &self.live {
                    live.cancel_signature();
                }
                return None;
            }
            Effect::ProveToken(pin) => Event::TokenAnswered(match &self.tokens {
                Some(tokens) => self.ask_revocation(tokens.prove(&pin, &self.policy, now)),
                None => TokenOutcome::Removed,
            }),
            Effect::Store(draft) => {
                let completer = Completer {
                    keys: &self.keys,
                    portal: &self.portal,
                    cost: self.cost,
                };
                let stored = completer.complete(&mut self.store, &draft, now);
                self.stored(stored, "a registration")
            }
            Effect::StartReset(key) => Event::ResetAnswered(reset_started(
                self.live
                    .as_ref()
                    .and_then(|l| l.start_reset(&key.reference())),
            )),
            Effect::ResendReset(reset_id) => Event::ResetAnswered(reset_started(
                self.live.as_ref().and_then(|l| l.resend_reset(&reset_id)),
            )),
            Effect::CompleteReset(draft) => {
                let answer = self.complete_reset(&draft, now);
                self.audit(now, EVENT_PASSWORD_RESET, &format!("outcome={answer:?}"));
                Event::ResetCompleted(answer)
            }
            Effect::FileCounterReset(draft) => {
                let completer = Completer {
                    keys: &self.keys,
                    portal: &self.portal,
                    cost: self.cost,
                };
                let stored = completer.file_counter_reset(&mut self.store, &draft, now);
                self.stored(stored, "a counter password reset")
            }
            Effect::FileComplaint(draft) => {
                let completer = Completer {
                    keys: &self.keys,
                    portal: &self.portal,
                    cost: self.cost,
                };
                let stored = completer.file_complaint(&mut self.store, &draft, now);
                self.stored(stored, "a complaint")
            }
            Effect::ReadCard(key) => Event::CardRead(match &self.cards {
                Some(cards) => {
                    let (outcome, verdict) = cards.read(&key, &self.policy, now);
                    self.audit(now, EVENT_CARD_READ, &format!("verdict={}", verdict.0));
                    outcome
                }
                None => CardOutcome::Refused(CardProblem::Unreadable),
            }),
            Effect::Show(_)
            | Effect::FieldErrors(_)
            | Effect::FillFromChip(_)
            | Effect::EndSession => {
                return None;
            }
        })
    }
}
