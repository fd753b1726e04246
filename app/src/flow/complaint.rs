//! "Khiếu nại": a person whose identity already has an account they did
//! not make says so. A machine of its own, started from the page that
//! found the account: a reason chosen from a list, a contact number proven
//! by a code the kiosk's own modem sends (so it works offline), then the
//! complaint sealed and queued like a registration under a `KN-…`
//! reference. The portal's staff settle it and the status comes back.

use std::sync::Arc;

use rand::CryptoRng;
use time::OffsetDateTime;

use crate::domain::{Method, PhoneNumber, SubjectKind};
use crate::flow::otp::OtpChallenge;
use crate::flow::types::settle;
use crate::flow::{
    Effect, Event, Failure, Field, FieldError, FlowError, IdentityKey, Screen, SmsText,
    StoreProblem,
};
use crate::policy::Policy;

/// Why the person complains: the list they choose from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComplaintReason {
    /// "I never registered an account."
    NeverRegistered,
    /// "Someone used my papers to register."
    IdentityMisused,
    /// "The account's phone number is not mine."
    ContactNotMine,
    Other,
}

impl ComplaintReason {
    pub const ALL: [ComplaintReason; 4] = [
        ComplaintReason::NeverRegistered,
        ComplaintReason::IdentityMisused,
        ComplaintReason::ContactNotMine,
        ComplaintReason::Other,
    ];

    /// On the wire and in the portal's queue: one of
    /// [`kiosk_sync::COMPLAINT_REASONS`].
    pub fn code(self) -> &'static str {
        match self {
            ComplaintReason::NeverRegistered => "never_registered",
            ComplaintReason::IdentityMisused => "identity_misused",
            ComplaintReason::ContactNotMine => "contact_not_mine",
            ComplaintReason::Other => "other",
        }
    }

    pub fn parse(code: &str) -> Option<ComplaintReason> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The Vietnamese wording; the catalogue has the others.
    pub fn label(self) -> &'static str {
        match self {
            ComplaintReason::NeverRegistered => "Tôi chưa từng đăng ký tài khoản này",
            ComplaintReason::IdentityMisused => {
                "Người khác đã dùng giấy tờ của tôi để đăng ký tài khoản"
            }
            ComplaintReason::ContactNotMine => {
                "Số điện thoại hoặc email của tài khoản không phải của tôi"
            }
            ComplaintReason::Other => "Lý do khác (cán bộ sẽ liên hệ để hỏi thêm)",
        }
    }
}

/// Everything needed to seal and queue a complaint.
#[derive(Debug, Clone)]
pub struct ComplaintDraft {
    pub identity: IdentityKey,
    /// The method the person was registering with.
    pub method: Method,
    pub subject: SubjectKind,
    /// Proven by the code sent to it.
    pub contact: PhoneNumber,
    pub reason: ComplaintReason,
    /// At a counter: the chip that proved the person is the identity's
    /// holder (prints masked), and the clerk. Set by the counter's runtime.
    pub chip: Option<Box<crate::flow::ChipRead>>,
    pub clerk: Option<crate::flow::ClerkStamp>,
}

#[derive(Debug)]
enum Step {
    Reason,
    Contact(ComplaintReason),
    Sending(Box<ComplaintDraft>, OtpChallenge),
    NotSent(Box<ComplaintDraft>, OtpChallenge),
    EnterOtp(Box<ComplaintDraft>, OtpChallenge),
    Storing(String),
    Filed,
    Failed,
    Ended,
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Reason => "reason",
            Step::Contact(_) => "contact",
            Step::Sending(..) => "sending_otp",
            Step::NotSent(..) => "otp_not_sent",
            Step::EnterOtp(..) => "enter_otp",
            Step::Storing(_) => "storing",
            Step::Filed => "filed",
            Step::Failed => "failed",
            Step::Ended => "ended",
        }
    }
}

/// The complaint's machine. See the module documentation.
#[derive(Debug)]
pub struct Complaint {
    policy: Arc<Policy>,
    identity: IdentityKey,
    method: Method,
    subject: SubjectKind,
    step: Step,
}

impl Complaint {
    /// Starts a complaint about the account of `identity`, found while
    /// registering by `method`.
    pub fn start(
        policy: Arc<Policy>,
        identity: IdentityKey,
        method: Method,
        subject: SubjectKind,
    ) -> (Complaint, Vec<Effect>) {
        let complaint = Complaint {
            policy,
            identity,
            method,
            subject,
            step: Step::Reason,
        };
        (complaint, vec![Effect::Show(Screen::ComplaintReason)])
    }

    pub fn step(&self) -> &'static str {
        self.step.name()
    }

    /// Whether the complaint is being written (Hủy waits for it).
    pub fn is_storing(&self) -> bool {
        matches!(self.step, Step::Storing(_))
    }

    pub fn handle<R: CryptoRng + ?Sized>(
        &mut self,
        now: OffsetDateTime,
        event: Event,
        rng: &mut R,
    ) -> Result<Vec<Effect>, FlowError> {
        let step = std::mem::replace(&mut self.step, Step::Ended);
        let (name, event_name) = (step.name(), event.name());
        let moved = self.transition(step, now, event, rng);
        settle(&mut self.step, name, event_name, moved)
    }

    #[allow(clippy::result_large_err)]
    fn transition<R: CryptoRng + ?Sized>(
        &self,
        step: Step,
        now: OffsetDateTime,
        event: Event,
        rng: &mut R,
    ) -> Result<(Step, Vec<Effect>), Step> {
        Ok(match (step, event) {
            (Step::Storing(phone), Event::Cancel) => return Err(Step::Storing(phone)),
            (Step::Ended, _) => return Err(Step::Ended),
            (_, Event::Cancel | Event::Finish) => (Step::Ended, vec![Effect::EndSession]),
            (Step::Reason, Event::ReasonChosen(reason)) => (
                Step::Contact(reason),
                vec![Effect::Show(Screen::ComplaintContact)],
            ),
            (Step::Contact(reason), Event::Submit(form)) => {
                match PhoneNumber::parse(&form.phone, &self.policy.identifiers) {
                    Ok(contact) => {
                        let draft = Box::new(ComplaintDraft {
                            identity: self.identity.clone(),
                            method: self.method,
                            subject: self.subject,
                            contact,
                            reason,
                            chip: None,
                            clerk: None,
                        });
                        let (challenge, code) = OtpChallenge::issue(&self.policy.otp, now, rng);
                        self.deliver(draft, challenge, &code)
                    }
                    Err(e) => (
                        Step::Contact(reason),
                        vec![Effect::FieldErrors(vec![FieldError::new(
                            Field::Phone,
                            e.message(),
                            &e,
                        )])],
                    ),
                }
            }
            (Step::Sending(draft, challenge), Event::OtpDelivered) => {
                let screen = enter_otp(&draft, &challenge, None);
                (Step::EnterOtp(draft, challenge), vec![Effect::Show(screen)])
            }
            (Step::Sending(draft, challenge), Event::OtpNotDelivered(failure)) => (
                Step::NotSent(draft, challenge),
                vec![Effect::Show(Screen::OtpNotSent { failure })],
            ),
            (Step::NotSent(draft, mut challenge), Event::RetryDelivery) => {
                let code = challenge.redraw_after_failed_delivery(now, rng);
                self.deliver(draft, challenge, &code)
            }
            (Step::EnterOtp(draft, mut challenge), Event::OtpEntered(typed)) => {
                match challenge.verify(&typed, now) {
                    Ok(()) => (
                        Step::Storing(draft.contact.masked()),
                        vec![Effect::Show(Screen::Storing), Effect::FileComplaint(draft)],
                    ),
                    Err(_) if challenge.is_spent() => failed(Failure::OtpExhausted),
                    Err(error) => {
                        let screen = enter_otp(&draft, &challenge, Some(error));
                        (Step::EnterOtp(draft, challenge), vec![Effect::Show(screen)])
                    }
                }
            }
            (Step::EnterOtp(draft, mut challenge), Event::ResendOtp) => {
                match challenge.resend(now, rng) {
                    Ok(code) => self.deliver(draft, challenge, &code),
                    Err(error) => {
                        let screen = enter_otp(&draft, &challenge, Some(error));
                        (Step::EnterOtp(draft, challenge), vec![Effect::Show(screen)])
                    }
                }
            }
            (Step::Storing(masked_phone), Event::Stored { reference }) => (
                Step::Filed,
                vec![Effect::Show(Screen::ComplaintFiled {
                    reference,
                    masked_phone,
                })],
            ),
            (Step::Storing(_), Event::StoreFailed(StoreProblem::Failed)) => {
                failed(Failure::StorageFailed)
            }
            (Step::Storing(_), Event::StoreFailed(StoreProblem::OutOfService)) => {
                failed(Failure::OutOfService)
            }
            (step, _) => return Err(step),
        })
    }

    fn deliver(
        &self,
        draft: Box<ComplaintDraft>,
        challenge: OtpChallenge,
        code: &crate::domain::OtpCode,
    ) -> (Step, Vec<Effect>) {
        let effects = vec![
            Effect::Show(Screen::SendingOtp {
                masked_phone: draft.contact.masked(),
            }),
            Effect::SendOtp {
                to: draft.contact.clone(),
                text: SmsText::new(self.policy.otp.complaint_sms_text(code.expose())),
            },
        ];
        (Step::Sending(draft, challenge), effects)
    }
}

fn failed(failure: Failure) -> (Step, Vec<Effect>) {
    (Step::Failed, vec![Effect::Show(Screen::Failed(failure))])
}

fn enter_otp(
    draft: &ComplaintDraft,
    c: &OtpChallenge,
    error: Option<crate::flow::OtpError>,
) -> Screen {
    Screen::EnterOtp {
        masked_phone: draft.contact.masked(),
        expires_at: c.expires_at(),
        attempts_left: c.attempts_left(),
        resends_left: c.resends_left(),
        resend_available_at: c.resend_available_at(),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PersonalId;
    use crate::flow::{Form, OtpError};

    fn policy() -> Arc<Policy> {
        Arc::new(Policy::built_in().clone())
    }

    fn start() -> Complaint {
        start_with(policy())
    }

    fn start_with(policy: Arc<Policy>) -> Complaint {
        let id = PersonalId::parse("079303012345", &policy.identifiers, 2026).unwrap();
        let (complaint, shown) = Complaint::start(
            policy,
            IdentityKey::Person(id),
            Method::MobileSubscriber,
            SubjectKind::Citizen,
        );
        assert!(matches!(shown[..], [Effect::Show(Screen::ComplaintReason)]));
        complaint
    }

    fn phone(text: &str) -> Event {
        let mut form = Form::default();
        form.phone = text.into();
        Event::Submit(form)
    }

    fn code_of(effects: &[Effect]) -> String {
        effects
            .iter()
            .find_map(|e| match e {
                Effect::SendOtp { text, .. } => Some(
                    text.chars()
                        .skip_while(|c| !c.is_ascii_digit())
                        .take_while(char::is_ascii_digit)
                        .collect(),
                ),
                _ => None,
            })
            .expect("a code was sent")
    }

    #[test]
    fn a_complaint_is_filed_with_a_proven_contact_number() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let mut rng = rand::rng();
        let mut c = start();
        // Typing before the reason is chosen does not fit.
        assert!(c.handle(now, phone("0912345678"), &mut rng).is_err());
        let shown = c
            .handle(
                now,
                Event::ReasonChosen(ComplaintReason::IdentityMisused),
                &mut rng,
            )
            .unwrap();
        assert!(matches!(
            shown[..],
            [Effect::Show(Screen::ComplaintContact)]
        ));
        // A number that is not one stays on the page.
        let effects = c.handle(now, phone("12345"), &mut rng).unwrap();
        assert!(matches!(&effects[..], [Effect::FieldErrors(e)] if e[0].field == Field::Phone));
        let effects = c.handle(now, phone("0912 345 678"), &mut rng).unwrap();
        let code = code_of(&effects);
        // The SMS says what the code is for, not a registration.
        assert!(effects.iter().any(
            |e| matches!(e, Effect::SendOtp { text, to } if text.contains("khieu nai") && to.e164() == "+84912345678")
        ));
        c.handle(now, Event::OtpDelivered, &mut rng).unwrap();
        // A wrong code: told, with the tries left.
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let effects = c
            .handle(now, Event::OtpEntered(wrong.to_string().into()), &mut rng)
            .unwrap();
        assert!(matches!(
            &effects[..],
            [Effect::Show(Screen::EnterOtp {
                error: Some(OtpError::Wrong { .. }),
                ..
            })]
        ));
        let effects = c
            .handle(now, Event::OtpEntered(code.into()), &mut rng)
            .unwrap();
        let Some(Effect::FileComplaint(draft)) = effects.last() else {
            panic!("the complaint is filed: {effects:?}");
        };
        assert_eq!(draft.reason, ComplaintReason::IdentityMisused);
        assert_eq!(draft.contact.e164(), "+84912345678");
        assert_eq!(draft.method, Method::MobileSubscriber);
        // Hủy while it is written waits for it.
        assert!(c.handle(now, Event::Cancel, &mut rng).is_err());
        assert!(c.is_storing());
        let effects = c
            .handle(
                now,
                Event::Stored {
                    reference: "KN-ABCD-EFGH".into(),
                },
                &mut rng,
            )
            .unwrap();
        assert!(matches!(
            &effects[..],
            [Effect::Show(Screen::ComplaintFiled { reference, masked_phone })]
                if reference == "KN-ABCD-EFGH" && masked_phone.ends_with("678")
        ));
        assert!(matches!(
            c.handle(now, Event::Finish, &mut rng).unwrap()[..],
            [Effect::EndSession]
        ));
    }

    #[test]
    fn a_modem_that_fails_is_tried_again_and_spent_codes_end_it() {
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let mut rng = rand::rng();
        // No resends: the codes are spent with the last wrong try.
        let mut strict = Policy::built_in().clone();
        strict.otp.max_resends = 0;
        let mut c = start_with(Arc::new(strict));
        c.handle(now, Event::ReasonChosen(ComplaintReason::Other), &mut rng)
            .unwrap();
        c.handle(now, phone("0912345678"), &mut rng).unwrap();
        let effects = c
            .handle(
                now,
                Event::OtpNotDelivered(crate::flow::DeliveryFailure::NoSignal),
                &mut rng,
            )
            .unwrap();
        assert!(matches!(
            effects[..],
            [Effect::Show(Screen::OtpNotSent { .. })]
        ));
        let effects = c.handle(now, Event::RetryDelivery, &mut rng).unwrap();
        let code = code_of(&effects);
        c.handle(now, Event::OtpDelivered, &mut rng).unwrap();
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let mut last = Vec::new();
        for _ in 0..policy().otp.max_attempts {
            last = c
                .handle(now, Event::OtpEntered(wrong.to_string().into()), &mut rng)
                .unwrap();
        }
        assert!(matches!(
            last[..],
            [Effect::Show(Screen::Failed(Failure::OtpExhausted))]
        ));
        assert_eq!(c.step(), "failed");
    }

    #[test]
    fn every_reason_has_a_code_the_portal_knows() {
        for reason in ComplaintReason::ALL {
            assert!(kiosk_sync::COMPLAINT_REASONS.contains(&reason.code()));
            assert_eq!(ComplaintReason::parse(reason.code()), Some(reason));
        }
        assert_eq!(
            ComplaintReason::ALL.len(),
            kiosk_sync::COMPLAINT_REASONS.len()
        );
    }
}
