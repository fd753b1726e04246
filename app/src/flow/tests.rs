//! Every path of every method, driven event by event with a fixed clock and
//! a seeded CSPRNG: nothing sleeps, nothing touches a device.

use std::sync::Arc;

use kiosk_ui::i18n::Lang;
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use zeroize::Zeroizing;

use super::*;
use crate::domain::{BusinessName, Level, Method, Mst, PersonName, PersonalId, Pin, SubjectKind};
use crate::policy::{Policy, Unavailable};

const T0: OffsetDateTime = datetime!(2026-11-28 09:00 +7);

struct Run {
    reg: AnyRegistration,
    rng: StdRng,
    now: OffsetDateTime,
    last: Vec<Effect>,
}

impl Run {
    fn start(method: Method, subject: SubjectKind, online: bool) -> Run {
        Self::with_policy(Policy::built_in().clone(), method, subject, online)
    }

    fn with_policy(policy: Policy, method: Method, subject: SubjectKind, online: bool) -> Run {
        let (reg, last) = start(method, subject, Arc::new(policy), online).unwrap();
        Run {
            reg,
            rng: StdRng::seed_from_u64(42),
            now: T0,
            last,
        }
    }

    /// A USB-token registration whose token answered `outcome` to the PIN.
    fn token(subject: SubjectKind, outcome: TokenOutcome) -> Run {
        let mut run = Run::start(Method::UsbToken, subject, true);
        run.send(Event::TokenInserted);
        run.send(Event::PinEntered(Pin::new("1234").unwrap()));
        run.send(Event::TokenAnswered(outcome));
        run
    }

    fn send(&mut self, event: Event) -> &Vec<Effect> {
        self.last = self
            .reg
            .handle(self.now, event, &mut self.rng)
            .unwrap_or_else(|e| panic!("{e}"));
        &self.last
    }

    fn refuse(&mut self, event: Event) -> FlowError {
        let before = self.reg.step();
        let err = self.reg.handle(self.now, event, &mut self.rng).unwrap_err();
        assert_eq!(self.reg.step(), before, "a refused event changed the step");
        err
    }

    fn screen(&self) -> &Screen {
        self.last
            .iter()
            .rev()
            .find_map(|e| match e {
                Effect::Show(s) => Some(s),
                _ => None,
            })
            .expect("a screen was shown")
    }

    fn field_errors(&self) -> Vec<Field> {
        self.last
            .iter()
            .filter_map(|e| match e {
                Effect::FieldErrors(errs) => Some(errs.iter().map(|e| e.field)),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// The code inside the SMS the last effects asked the modem to send.
    fn sms_code(&self) -> String {
        let text = self
            .last
            .iter()
            .find_map(|e| match e {
                Effect::SendOtp { text, .. } => Some(text.to_string()),
                _ => None,
            })
            .expect("an SMS was sent");
        text.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("a 6-digit code")
            .to_string()
    }

    fn draft(&mut self) -> Draft {
        let i = self
            .last
            .iter()
            .position(|e| matches!(e, Effect::Store(_)))
            .expect("a Store effect");
        match self.last.remove(i) {
            Effect::Store(d) => *d,
            _ => unreachable!(),
        }
    }

    fn otp(&mut self, code: &str) -> &Vec<Effect> {
        self.send(Event::OtpEntered(Zeroizing::new(code.to_string())))
    }

    fn password(&mut self, first: &str, confirm: &str) -> &Vec<Effect> {
        self.send(Event::PasswordSubmitted {
            first: Zeroizing::new(first.into()),
            confirm: Zeroizing::new(confirm.into()),
        })
    }
}

/// A form with some fields set (Form wipes itself on drop, so no `..` update syntax).
fn form(fields: &[(&str, &str)]) -> Form {
    let mut f = Form::default();
    for (name, value) in fields {
        let slot = match *name {
            "full_name" => &mut f.full_name,
            "personal_id" => &mut f.personal_id,
            "date_of_birth" => &mut f.date_of_birth,
            "phone" => &mut f.phone,
            "email" => &mut f.email,
            "bhxh_code" => &mut f.bhxh_code,
            "card_expiry" => &mut f.card_expiry,
            "card_can" => &mut f.card_can,
            other => panic!("no field {other}"),
        };
        *slot = value.to_string();
    }
    f
}

fn citizen_form() -> Form {
    form(&[
        ("full_name", "Nguyễn Văn An"),
        ("personal_id", "051099012345"),
        ("date_of_birth", "05/09/1999"),
        ("phone", "0912 345 678"),
    ])
}

fn policy_id(text: &str) -> PersonalId {
    PersonalId::parse(text, &Policy::built_in().identifiers, 2026).unwrap()
}

fn citizen_certificate() -> Box<CertifiedIdentity> {
    Box::new(CertifiedIdentity {
        subject: SubjectKind::Citizen,
        person_name: Some(PersonName::parse("Trần Thị Thuỷ", &Policy::built_in().person).unwrap()),
        business_name: None,
        personal_id: Some(policy_id("051303000111")),
        mst: None,
        issuer: "Test CA".into(),
        valid_until: T0 + Duration::days(365),
        certificate: vec![0x30, 0x82],
        proof: None,
        not_revoked: false,
    })
}

fn business_certificate() -> Box<CertifiedIdentity> {
    Box::new(CertifiedIdentity {
        subject: SubjectKind::Business,
        person_name: None,
        business_name: Some(
            BusinessName::parse("CÔNG TY TNHH AN PHÚ", &Policy::built_in().person).unwrap(),
        ),
        personal_id: None,
        mst: Some(Mst::parse("0100047516").unwrap()),
        issuer: "Test CA".into(),
        valid_until: T0 + Duration::days(365),
        certificate: vec![0x30, 0x82],
        proof: None,
        not_revoked: false,
    })
}

#[test]
fn the_otp_screen_shows_tries_resends_and_the_deadline() {
    let (run, _) = at_otp();
    let Screen::EnterOtp {
        masked_phone,
        attempts_left,
        resends_left,
        expires_at,
        resend_available_at,
        error,
    } = run.screen().clone()
    else {
        panic!("{:?}", run.screen())
    };
    assert_eq!(masked_phone, "091****678");
    assert_eq!(
        (attempts_left, resends_left, expires_at),
        (5, 3, T0 + Duration::minutes(5))
    );
    assert_eq!(
        (resend_available_at, error),
        (Some(T0 + Duration::seconds(60)), None)
    );
}

#[test]
fn mobile_subscriber_happy_path_stores_a_sealed_draft() {
    let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
    run.send(Event::Submit(citizen_form()));
    run.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
    run.send(Event::SubscriberChecked(SubscriberOutcome::Confirmed));
    let code = run.sms_code();
    run.send(Event::OtpDelivered);
    run.now += Duration::seconds(40);
    run.otp(&code);
    assert_eq!(
        run.screen(),
        &Screen::Password {
            failing: crate::domain::PasswordRule::ALL.to_vec()
        }
    );
    run.password("Matkhau@2026", "Matkhau@2026");
    assert_eq!(run.screen(), &Screen::Storing);
    let draft = run.draft();
    assert_eq!(
        (draft.method, draft.subject, draft.level),
        (Method::MobileSubscriber, SubjectKind::Citizen, Level::ONE)
    );
    assert!(draft.pending.is_empty());
    assert_eq!(
        draft.applicant.phone.as_ref().unwrap().e164(),
        "+84912345678"
    );
    assert_eq!(draft.password.as_ref().unwrap().expose(), "Matkhau@2026");
    run.refuse(Event::Cancel);
    run.send(Event::Stored {
        reference: "QN-7K2M-9XQ4".into(),
    });
    assert_eq!(
        run.screen(),
        &Screen::Done {
            reference: "QN-7K2M-9XQ4".into(),
            level: Level::ONE,
            pending: vec![],
            notice: Notice::Sms("091****678".into()),
            password: true,
        }
    );
    assert!(matches!(run.send(Event::Finish)[..], [Effect::EndSession]));
    assert!(matches!(
        run.refuse(Event::Finish),
        FlowError::InvalidTransition { step: "ended", .. }
    ));
}

#[test]
fn offline_mobile_registration_completes_pending_what_the_portal_must_check() {
    let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, false);
    run.send(Event::Submit(citizen_form()));
    run.send(Event::DuplicateChecked(
        DuplicateOutcome::CheckedLocallyOnly,
    ));
    run.send(Event::SubscriberChecked(SubscriberOutcome::Unavailable));
    let code = run.sms_code();
    run.send(Event::OtpDelivered);
    run.otp(&code);
    run.password("Matkhau@2026", "Matkhau@2026");
    let draft = run.draft();
    assert_eq!(
        draft.pending,
        vec![
            PendingCheck::GlobalDuplicate,
            PendingCheck::SubscriberOwnership
        ]
    );
    run.send(Event::Stored {
        reference: "R".into(),
    });
    let Screen::Done { pending, level, .. } = run.screen() else {
        panic!()
    };
    assert_eq!((pending.len(), *level), (2, Level::ONE));
}

#[test]
fn every_invalid_field_is_reported_at_once_and_the_form_stays() {
    let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
    run.send(Event::Submit(form(&[
        ("full_name", "A"),
        ("personal_id", "12345"),
        ("date_of_birth", "31/02/1999"),
        ("phone", "0101234567"),
        ("email", "an@gmail"),
    ])));
    assert_eq!(
        run.field_errors(),
        vec![
            Field::FullName,
            Field::PersonalId,
            Field::DateOfBirth,
            Field::Phone,
            Field::Email
        ]
    );
    assert_eq!(run.reg.step(), "form");
    // Corrected, it goes on.
    run.send(Event::Submit(citizen_form()));
    assert_eq!(run.reg.step(), "await_duplicate");
}

#[test]
fn a_cccd_that_disagrees_with_the_birth_date_is_flagged_on_the_id_field() {
    let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
    let mut wrong_year = citizen_form();
    wrong_year.date_of_birth = "05/09/1998".into();
    run.send(Event::Submit(wrong_year));
    assert_eq!(run.field_errors(), vec![Field::PersonalId]);
    let Effect::FieldErrors(errors) = &run.last[0] else {
        panic!()
    };
    assert!(errors[0].message.render(Lang::Vi).contains("không khớp"));
}

#[test]
fn an_existing_account_offers_the_three_ways_out() {
    let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
    run.send(Event::Submit(citizen_form()));
    run.send(Event::DuplicateChecked(DuplicateOutcome::AccountExists));
    assert_eq!(
        run.screen(),
        &Screen::AccountExists {
            ways_out: WayOut::ALL.to_vec(),
            handoff: Handoff::Asking,
        }
    );
    // The portal is asked for a code for the counter, for this identity.
    assert!(run.last.iter().any(|e| matches!(
        e,
        Effect::RequestHandoff(IdentityKey::Person(id)) if id.as_str() == "051099012345"
    )));
    // No OTP is sent for an account that exists.
    assert!(!run.last.iter().any(|e| matches!(e, Effect::SendOtp { .. })));
    run.refuse(Event::OtpEntered(Zeroizing::new("123456".into())));
    run.send(Event::HandoffIssued(Some("HD-7K2M-9XQ4".into())));
    assert_eq!(
        run.screen(),
        &Screen::AccountExists {
            ways_out: WayOut::ALL.to_vec(),
            handoff: Handoff::Code("HD-7K2M-9XQ4".into()),
        }
    );
    run.send(Event::HandoffIssued(None));
    assert!(matches!(
        run.screen(),
        Screen::AccountExists {
            handoff: Handoff::Unavailable,
            ..
        }
    ));
    assert!(matches!(run.send(Event::Finish)[..], [Effect::EndSession]));
}

#[test]
fn a_number_not_owned_by_the_person_ends_the_registration() {
    let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
    run.send(Event::Submit(citizen_form()));
    run.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
    run.send(Event::SubscriberChecked(SubscriberOutcome::NotOwner));
    assert_eq!(run.screen(), &Screen::Failed(Failure::NotSubscriberOwner));
}

fn at_otp() -> (Run, String) {
    let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
    run.send(Event::Submit(citizen_form()));
    run.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
    run.send(Event::SubscriberChecked(SubscriberOutcome::Confirmed));
    let code = run.sms_code();
    run.send(Event::OtpDelivered);
    (run, code)
}

fn other(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

fn otp_error(run: &Run) -> Option<OtpError> {
    match run.screen() {
        Screen::EnterOtp { error, .. } => *error,
        s => panic!("{s:?}"),
    }
}

#[test]
fn an_expired_code_asks_for_a_resend() {
    let (mut run, code) = at_otp();
    run.now += Duration::minutes(5);
    run.otp(&code);
    assert_eq!(otp_error(&run), Some(OtpError::Expired));
    run.send(Event::ResendOtp);
    let fresh = run.sms_code();
    run.send(Event::OtpDelivered);
    run.otp(&fresh);
    assert_eq!(run.reg.step(), "password");
}

#[test]
fn resend_is_refused_before_sixty_seconds_and_after_three() {
    let (mut run, _) = at_otp();
    run.now += Duration::seconds(30);
    run.send(Event::ResendOtp);
    assert_eq!(
        otp_error(&run),
        Some(OtpError::ResendTooSoon {
            available_at: T0 + Duration::seconds(60)
        })
    );
    for _ in 0..3 {
        run.now += Duration::seconds(60);
        run.send(Event::ResendOtp);
        assert_eq!(run.reg.step(), "await_otp_delivery");
        run.send(Event::OtpDelivered);
    }
    let Screen::EnterOtp {
        resends_left,
        resend_available_at,
        ..
    } = run.screen()
    else {
        panic!()
    };
    assert_eq!((*resends_left, *resend_available_at), (0, None));
    run.now += Duration::seconds(60);
    run.send(Event::ResendOtp);
    assert_eq!(otp_error(&run), Some(OtpError::NoResendsLeft));
}

#[test]
fn the_old_code_dies_when_a_new_one_is_sent() {
    let (mut run, old) = at_otp();
    run.now += Duration::seconds(60);
    run.send(Event::ResendOtp);
    let new = run.sms_code();
    run.send(Event::OtpDelivered);
    if old != new {
        run.otp(&old);
        assert!(matches!(
            otp_error(&run),
            Some(OtpError::Wrong { attempts_left: 4 })
        ));
    }
    run.otp(&new);
    assert_eq!(run.reg.step(), "password");
}

#[test]
fn five_wrong_codes_then_every_resend_spent_fails_the_registration() {
    let (mut run, mut code) = at_otp();
    for round in 0..4 {
        for _ in 0..5 {
            run.otp(&other(&code));
        }
        if round < 3 {
            assert_eq!(otp_error(&run), Some(OtpError::TooManyAttempts));
            run.now += Duration::seconds(60);
            run.send(Event::ResendOtp);
            code = run.sms_code();
            run.send(Event::OtpDelivered);
        }
    }
    assert_eq!(run.screen(), &Screen::Failed(Failure::OtpExhausted));
    assert!(matches!(run.send(Event::Cancel)[..], [Effect::EndSession]));
}

#[test]
fn a_modem_failure_is_shown_and_retried_without_spending_a_resend() {
    let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
    run.send(Event::Submit(citizen_form()));
    run.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
    run.send(Event::SubscriberChecked(SubscriberOutcome::Confirmed));
    run.send(Event::OtpNotDelivered(DeliveryFailure::NoSignal));
    assert_eq!(
        run.screen(),
        &Screen::OtpNotSent {
            failure: DeliveryFailure::NoSignal
        }
    );
    run.refuse(Event::OtpEntered(Zeroizing::new("000000".into())));
    run.send(Event::RetryDelivery);
    let code = run.sms_code();
    run.send(Event::OtpDelivered);
    let Screen::EnterOtp { resends_left, .. } = run.screen() else {
        panic!()
    };
    assert_eq!(*resends_left, 3);
    run.otp(&code);
    assert_eq!(run.reg.step(), "password");
}

#[test]
fn the_password_step_reports_failing_rules_and_keeps_waiting() {
    let (mut run, code) = at_otp();
    run.otp(&code);
    run.password("matkhau2026", "matkhau2026");
    assert_eq!(run.field_errors(), vec![Field::Password]);
    let Screen::Password { failing } = run.screen() else {
        panic!()
    };
    assert_eq!(
        failing,
        &vec![
            crate::domain::PasswordRule::Uppercase,
            crate::domain::PasswordRule::Special
        ]
    );
    run.password("Matkhau@2026", "Matkhau@2025");
    let Screen::Password { failing } = run.screen() else {
        panic!()
    };
    assert_eq!(failing, &vec![crate::domain::PasswordRule::Matches]);
    run.password("Matkhau@2026", "Matkhau@2026");
    assert_eq!(run.reg.step(), "storing");
}

#[test]
fn a_failed_store_acknowledges_nothing() {
    let (mut run, code) = at_otp();
    run.otp(&code);
    run.password("Matkhau@2026", "Matkhau@2026");
    run.send(Event::StoreFailed(StoreProblem::Failed));
    assert_eq!(run.screen(), &Screen::Failed(Failure::StorageFailed));
    assert!(
        !run.last
            .iter()
            .any(|e| matches!(e, Effect::Show(Screen::Done { .. })))
    );
}

#[test]
fn cancel_ends_the_session_from_every_step_but_storing() {
    type Walk = Box<dyn Fn(&mut Run)>;
    let steps: Vec<Walk> = vec![
        Box::new(|_| {}),
        Box::new(|r| {
            r.send(Event::Submit(citizen_form()));
        }),
        Box::new(|r| {
            r.send(Event::Submit(citizen_form()));
            r.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
        }),
        Box::new(|r| {
            r.send(Event::Submit(citizen_form()));
            r.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
            r.send(Event::SubscriberChecked(SubscriberOutcome::Confirmed));
        }),
        Box::new(|r| {
            r.send(Event::Submit(citizen_form()));
            r.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
            r.send(Event::SubscriberChecked(SubscriberOutcome::Confirmed));
            r.send(Event::OtpDelivered);
        }),
    ];
    for (i, walk) in steps.iter().enumerate() {
        let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
        walk(&mut run);
        assert!(
            matches!(run.send(Event::Cancel)[..], [Effect::EndSession]),
            "step {i}"
        );
        assert!(
            run.reg
                .handle(run.now, Event::Submit(citizen_form()), &mut run.rng)
                .is_err()
        );
    }
}

#[test]
fn events_out_of_order_are_errors_not_panics() {
    let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
    let err = run.refuse(Event::OtpDelivered);
    assert_eq!(
        err,
        FlowError::InvalidTransition {
            step: "form",
            event: "otp_delivered"
        }
    );
    run.refuse(Event::Stored {
        reference: "X".into(),
    });
    run.refuse(Event::TokenInserted);
    run.refuse(Event::ResendOtp);
    run.send(Event::Submit(citizen_form()));
    run.refuse(Event::Submit(citizen_form()));
    run.refuse(Event::SubscriberChecked(SubscriberOutcome::Confirmed));
}

#[test]
fn policy_decides_which_methods_start() {
    assert_eq!(
        start(
            Method::MobileSubscriber,
            SubjectKind::Business,
            Arc::new(Policy::built_in().clone()),
            true
        )
        .unwrap_err(),
        FlowError::Unavailable(Unavailable::NotForSubject)
    );
    assert_eq!(
        start(
            Method::SimSignature,
            SubjectKind::Citizen,
            Arc::new(Policy::built_in().clone()),
            false
        )
        .unwrap_err(),
        FlowError::Unavailable(Unavailable::NeedsNetwork)
    );
    let mut policy = Policy::built_in().clone();
    policy.methods.get_mut("usb_token").unwrap().enabled = false;
    assert_eq!(
        start(
            Method::UsbToken,
            SubjectKind::Citizen,
            Arc::new(policy.clone()),
            true
        )
        .unwrap_err(),
        FlowError::Unavailable(Unavailable::DisabledByPolicy)
    );
    // A province that grants level 2 to phone registrations: the draft follows.
    policy.methods.get_mut("mobile_subscriber").unwrap().level = Level::TWO;
    let mut run = Run::with_policy(policy, Method::MobileSubscriber, SubjectKind::Citizen, true);
    run.send(Event::Submit(citizen_form()));
    run.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
    run.send(Event::SubscriberChecked(SubscriberOutcome::Confirmed));
    let code = run.sms_code();
    run.send(Event::OtpDelivered);
    run.otp(&code);
    run.password("Matkhau@2026", "Matkhau@2026");
    assert_eq!(run.draft().level, Level::TWO);
}

#[test]
fn otp_parameters_come_from_policy() {
    let mut policy = Policy::built_in().clone();
    policy.otp.max_attempts = 2;
    policy.otp.ttl_seconds = 120;
    let mut run = Run::with_policy(policy, Method::MobileSubscriber, SubjectKind::Citizen, true);
    run.send(Event::Submit(citizen_form()));
    run.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
    run.send(Event::SubscriberChecked(SubscriberOutcome::Confirmed));
    run.send(Event::OtpDelivered);
    let Screen::EnterOtp {
        attempts_left,
        expires_at,
        ..
    } = run.screen()
    else {
        panic!()
    };
    assert_eq!(
        (*attempts_left, *expires_at),
        (2, T0 + Duration::minutes(2))
    );
}

fn bhxh_form() -> Form {
    form(&[
        ("bhxh_code", "GD4795101234567"),
        ("full_name", "Lê Thị Hoa"),
        ("date_of_birth", "01/02/1985"),
        ("phone", "0368123456"),
    ])
}

#[test]
fn bhxh_matched_online_takes_the_cccd_from_the_database() {
    let mut run = Run::start(Method::Bhxh, SubjectKind::Citizen, true);
    run.send(Event::Submit(bhxh_form()));
    assert!(
        matches!(&run.last[1], Effect::CheckBhxh { code, .. } if code.as_str() == "5101234567")
    );
    run.send(Event::BhxhChecked(BhxhOutcome::Matched(policy_id(
        "051185001234",
    ))));
    let Effect::CheckDuplicate(key) = &run.last[1] else {
        panic!("{:?}", run.last)
    };
    assert_eq!(key.len(), 1);
    assert_eq!(&key[0].canonical()[..], "cccd:051185001234");
    run.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
    // BHXH proves the phone by OTP, with no carrier check.
    let code = run.sms_code();
    run.send(Event::OtpDelivered);
    run.otp(&code);
    run.password("Matkhau@2026", "Matkhau@2026");
    let draft = run.draft();
    assert_eq!((draft.level, draft.pending.clone()), (Level::TWO, vec![]));
}

#[test]
fn bhxh_not_matched_cannot_register() {
    let mut run = Run::start(Method::Bhxh, SubjectKind::Citizen, true);
    run.send(Event::Submit(bhxh_form()));
    run.send(Event::BhxhChecked(BhxhOutcome::NotMatched));
    assert_eq!(run.screen(), &Screen::Failed(Failure::BhxhNotMatched));
}

#[test]
fn bhxh_offline_is_keyed_by_the_bhxh_code_and_pends_the_match() {
    let mut run = Run::start(Method::Bhxh, SubjectKind::Citizen, false);
    run.send(Event::Submit(bhxh_form()));
    run.send(Event::BhxhChecked(BhxhOutcome::Unavailable));
    let Effect::CheckDuplicate(key) = &run.last[1] else {
        panic!()
    };
    assert_eq!(key.len(), 1);
    assert_eq!(&key[0].canonical()[..], "bhxh:5101234567");
    run.send(Event::DuplicateChecked(
        DuplicateOutcome::CheckedLocallyOnly,
    ));
    let code = run.sms_code();
    run.send(Event::OtpDelivered);
    run.otp(&code);
    run.password("Matkhau@2026", "Matkhau@2026");
    let draft = run.draft();
    assert_eq!(
        draft.pending,
        vec![PendingCheck::GlobalDuplicate, PendingCheck::BhxhMatch]
    );
    assert_eq!(draft.level, Level::TWO);
}

#[test]
fn bhxh_form_requires_its_own_fields() {
    let mut run = Run::start(Method::Bhxh, SubjectKind::Citizen, true);
    run.send(Event::Submit(Form::default()));
    assert_eq!(
        run.field_errors(),
        vec![
            Field::BhxhCode,
            Field::FullName,
            Field::DateOfBirth,
            Field::Phone
        ]
    );
    assert_eq!(
        required_fields(Method::Bhxh, SubjectKind::Citizen)
            .iter()
            .filter(|(_, r)| *r)
            .count(),
        4
    );
}

#[test]
fn usb_token_wrong_pin_then_right_pin_completes_at_level_3_pending_revocation() {
    let mut run = Run::start(Method::UsbToken, SubjectKind::Citizen, false);
    assert_eq!(run.screen(), &Screen::WaitingForToken);
    run.send(Event::TokenInserted);
    run.send(Event::PinEntered(Pin::new("1111").unwrap()));
    assert!(matches!(run.last[1], Effect::ProveToken(_)));
    run.send(Event::TokenAnswered(TokenOutcome::WrongPin {
        count_low: true,
        final_try: false,
    }));
    assert_eq!(
        run.screen(),
        &Screen::EnterPin {
            count_low: true,
            final_try: false,
            wrong: true
        }
    );
    run.send(Event::PinEntered(Pin::new("1234").unwrap()));
    run.send(Event::TokenAnswered(TokenOutcome::Proven(
        citizen_certificate(),
    )));
    let Screen::ConfirmDetails {
        email_required: false,
        details,
    } = run.screen()
    else {
        panic!("{:?}", run.screen())
    };
    // What the citizen checks: the name in full, the ID masked.
    assert!(details.0.iter().any(|(l, _)| *l == "Họ và tên"));
    assert!(
        details
            .0
            .iter()
            .any(|(l, v)| *l == "Số định danh" && v.contains('*'))
    );
    assert_eq!(
        format!("{details:?}"),
        format!("CertificateDetails({} lines)", details.0.len())
    );
    // Taking the token out after the proof changes nothing.
    assert!(run.send(Event::TokenRemoved).is_empty());
    run.send(Event::DetailsConfirmed {
        email: Zeroizing::new(String::new()),
    });
    run.send(Event::DuplicateChecked(
        DuplicateOutcome::CheckedLocallyOnly,
    ));
    // No OTP for signature methods, and, as the manual has it, no
    // password: the token is the login. Straight to storing.
    assert_eq!(run.reg.step(), "storing");
    let draft = run.draft();
    assert!(draft.password.is_none());
    assert_eq!(draft.level, Level::THREE);
    assert_eq!(
        draft.pending,
        vec![
            PendingCheck::GlobalDuplicate,
            PendingCheck::CertificateRevocation
        ]
    );
    assert_eq!(
        draft.applicant.certificate.as_deref(),
        Some(&[0x30, 0x82][..])
    );
}

#[test]
fn a_certificate_the_portal_just_found_unrevoked_leaves_no_revocation_check_pending() {
    let mut identity = citizen_certificate();
    identity.not_revoked = true;
    let mut run = Run::token(SubjectKind::Citizen, TokenOutcome::Proven(identity));
    run.send(Event::DetailsConfirmed {
        email: Zeroizing::new(String::new()),
    });
    run.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
    let draft = run.draft();
    assert_eq!(draft.level, Level::THREE);
    assert!(
        !draft.pending.contains(&PendingCheck::CertificateRevocation),
        "{:?}",
        draft.pending
    );
}

#[test]
fn a_locked_pin_is_its_own_ending_not_a_retry() {
    let mut run = Run::start(Method::UsbToken, SubjectKind::Citizen, true);
    run.send(Event::TokenInserted);
    run.send(Event::PinEntered(Pin::new("0000").unwrap()));
    run.send(Event::TokenAnswered(TokenOutcome::Problem(
        TokenProblem::PinLocked,
    )));
    assert_eq!(
        run.screen(),
        &Screen::Failed(Failure::Token(TokenProblem::PinLocked))
    );
    run.refuse(Event::PinEntered(Pin::new("1234").unwrap()));
}

#[test]
fn a_removed_token_goes_back_to_waiting() {
    let mut run = Run::token(SubjectKind::Citizen, TokenOutcome::Removed);
    assert_eq!(run.screen(), &Screen::WaitingForToken);
    run.send(Event::TokenInserted);
    run.send(Event::TokenRemoved);
    assert_eq!(run.screen(), &Screen::WaitingForToken);
}

#[test]
fn certificate_problems_end_with_their_own_message() {
    for problem in [
        TokenProblem::CertificateExpired,
        TokenProblem::CertificateNotYetValid,
        TokenProblem::CertificateUntrusted,
        TokenProblem::CertificateWrongUsage,
        TokenProblem::CertificateRevoked,
        TokenProblem::NoMatchingKey,
    ] {
        let run = Run::token(SubjectKind::Business, TokenOutcome::Problem(problem));
        let Screen::Failed(failure) = run.screen() else {
            panic!()
        };
        assert_eq!(failure.message().template(), problem.message());
    }
}

#[test]
fn a_business_must_give_an_email_and_is_keyed_by_its_tax_code() {
    let mut run = Run::token(
        SubjectKind::Business,
        TokenOutcome::Proven(business_certificate()),
    );
    assert!(matches!(
        run.screen(),
        Screen::ConfirmDetails {
            email_required: true,
            details
        } if details.0.iter().any(|(l, _)| *l == "Mã số thuế")
    ));
    run.send(Event::DetailsConfirmed {
        email: Zeroizing::new("  ".to_string()),
    });
    assert_eq!(run.field_errors(), vec![Field::Email]);
    run.send(Event::DetailsConfirmed {
        email: Zeroizing::new("ketoan@anphu.com.vn".to_string()),
    });
    let Effect::CheckDuplicate(key) = &run.last[1] else {
        panic!()
    };
    assert_eq!(key.len(), 1);
    assert_eq!(&key[0].canonical()[..], "mst:0100047516");
}

#[test]
fn a_citizen_cannot_register_with_a_business_certificate() {
    let run = Run::token(
        SubjectKind::Citizen,
        TokenOutcome::Proven(business_certificate()),
    );
    assert_eq!(
        run.screen(),
        &Screen::Failed(Failure::CertificateSubjectMismatch)
    );
}

#[test]
fn sim_signature_shows_the_verification_code_and_completes_at_level_3() {
    let mut run = Run::start(Method::SimSignature, SubjectKind::Citizen, true);
    run.send(Event::Submit(form(&[("phone", "0983 111 222")])));
    let Screen::WaitingForPhone { verification_code } = run.screen().clone() else {
        panic!()
    };
    let Effect::StartMobileSignature {
        display_text,
        verification_code: sent,
        ..
    } = &run.last[1]
    else {
        panic!()
    };
    assert_eq!(sent, &verification_code);
    assert!(display_text.contains(&verification_code) && display_text.len() <= 239);
    run.send(Event::SignatureAnswered(SignatureOutcome::Signed(
        citizen_certificate(),
    )));
    run.send(Event::DetailsConfirmed {
        email: Zeroizing::new("thuy@gmail.com".to_string()),
    });
    run.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
    let draft = run.draft();
    assert!(draft.password.is_none(), "the SIM is the login");
    assert_eq!((draft.level, draft.pending.len()), (Level::THREE, 0));
    assert_eq!(draft.applicant.phone.unwrap().e164(), "+84983111222");
}

#[test]
fn sim_signature_refusals_end_with_the_phones_reason() {
    for problem in [
        SignatureProblem::UserCancelled,
        SignatureProblem::PinBlocked,
        SignatureProblem::Expired,
    ] {
        let mut run = Run::start(Method::SimSignature, SubjectKind::Business, true);
        run.send(Event::Submit(form(&[("phone", "0983111222")])));
        run.send(Event::SignatureAnswered(SignatureOutcome::Failed(problem)));
        assert_eq!(
            run.screen(),
            &Screen::Failed(Failure::MobileSignature(problem))
        );
    }
}

#[test]
fn cancelling_while_the_phone_is_asked_cancels_the_request() {
    let mut run = Run::start(Method::SimSignature, SubjectKind::Citizen, true);
    run.send(Event::Submit(form(&[("phone", "0983111222")])));
    let effects = run.send(Event::Cancel);
    assert!(matches!(
        effects[..],
        [Effect::CancelMobileSignature, Effect::EndSession]
    ));
}

#[test]
fn nothing_personal_shows_in_debug_output_of_a_draft() {
    let (mut run, code) = at_otp();
    run.otp(&code);
    run.password("Matkhau@2026", "Matkhau@2026");
    let shown = format!("{:?}", run.draft());
    for secret in [
        "Nguyễn",
        "051099012345",
        "0912345678",
        "+84912345678",
        "Matkhau@2026",
        "1999",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
}

#[test]
fn events_and_effects_never_print_what_was_typed() {
    let secret_pw = Event::PasswordSubmitted {
        first: Zeroizing::new("Matkhau@2026".into()),
        confirm: Zeroizing::new("Matkhau@2026".into()),
    };
    assert_eq!(format!("{secret_pw:?}"), "Event::password_submitted");
    let typed = Event::OtpEntered(Zeroizing::new("482913".into()));
    assert!(!format!("{typed:?}").contains("482913"));

    let mut again = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
    again.send(Event::Submit(citizen_form()));
    again.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
    again.send(Event::SubscriberChecked(SubscriberOutcome::Confirmed));
    let shown = format!("{:?}", again.last);
    let sent = again.sms_code();
    assert!(
        shown.contains("SendOtp") && shown.contains("SmsText(***)"),
        "{shown}"
    );
    assert!(!shown.contains(&sent), "{shown}");

    // A token registration's draft shows the certificate's size, not its bytes.
    let mut token = Run::token(
        SubjectKind::Citizen,
        TokenOutcome::Proven(citizen_certificate()),
    );
    token.send(Event::DetailsConfirmed {
        email: Zeroizing::new(String::new()),
    });
    token.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
    let shown = format!("{:?}", token.draft());
    assert!(shown.contains("certificate_bytes: Some(2)"), "{shown}");
    assert!(
        !shown.contains("Thuỷ") && !shown.contains("051303000111"),
        "{shown}"
    );
}

/// What the demo card's chip gives, once proven genuine.
fn chip_read() -> Box<ChipRead> {
    use kiosk_hal::card::chip::Verified;
    use kiosk_hal::card::lds::{Dg13, Mrz};
    use kiosk_hal::card::sim::issue::{Citizen, dg1, dg13};
    let c = Citizen::demo();
    let verified = Verified {
        mrz: Mrz::parse_dg1(&dg1(&c)).unwrap(),
        dg13: Some(Dg13::parse(&dg13(&c)).unwrap()),
        signer: "Document Signer".into(),
        hash: kiosk_hal::card::pa::HashAlgorithm::Sha256,
        checked: vec![1, 13],
        active_auth: kiosk_hal::card::chip::ActiveAuth::NotOffered,
    };
    let identity =
        crate::domain::chip::ChipIdentity::from_verified(&verified, Policy::built_in(), T0.date())
            .unwrap();
    Box::new(ChipRead {
        identity,
        evidence: kiosk_sync::ChipEvidence {
            sod: "U09E".into(),
            data_groups: vec![],
        },
    })
}

/// The card's pages up to the read: the key typed, the card placed.
fn read_card(run: &mut Run) {
    if !matches!(run.screen(), Screen::CardKey { can: false }) {
        run.send(Event::UseCard);
    }
    assert_eq!(run.screen(), &Screen::CardKey { can: false });
    run.send(Event::CardKeyEntered(form(&[
        ("personal_id", "001203004567"),
        ("date_of_birth", "15/03/2003"),
        ("card_expiry", "15/03/2028"),
    ])));
    assert_eq!(run.screen(), &Screen::PlaceCard { again: false });
    run.send(Event::CardPlaced);
    assert_eq!(run.screen(), &Screen::ReadingCard);
    assert!(run.last.iter().any(|e| matches!(e, Effect::ReadCard(_))));
}

#[test]
fn the_chip_fills_the_form_raises_the_level_and_files_under_every_number() {
    let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
    read_card(&mut run);
    run.send(Event::CardRead(CardOutcome::Read(chip_read())));
    assert_eq!(run.screen(), &Screen::Form);
    assert!(
        run.last
            .iter()
            .any(|e| matches!(e, Effect::FillFromChip(id) if id.cccd.as_str() == "001203004567"))
    );
    // Whatever the form says, the chip's identity stands.
    run.send(Event::Submit(form(&[
        ("full_name", "Someone Else"),
        ("personal_id", "051099012345"),
        ("date_of_birth", "05/09/1999"),
        ("phone", "0966123456"),
    ])));
    let Effect::CheckDuplicate(keys) = &run.last[1] else {
        panic!("{:?}", run.last)
    };
    let keys: Vec<String> = keys.iter().map(|k| k.canonical().to_string()).collect();
    assert_eq!(keys, ["cccd:001203004567", "cmnd:013456789"]);
    run.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
    run.send(Event::SubscriberChecked(SubscriberOutcome::Confirmed));
    let code = run.sms_code();
    run.send(Event::OtpDelivered);
    run.otp(&code);
    run.password("Matkhau@2026", "Matkhau@2026");
    let draft = run.draft();
    assert_eq!(draft.level, Level::TWO, "the policy's chip level");
    let a = &draft.applicant;
    assert_eq!(a.full_name.as_ref().unwrap().as_str(), "Nguyễn Thị Thu Hà");
    assert_eq!(a.personal_id.as_ref().unwrap().as_str(), "001203004567");
    assert_eq!(a.date_of_birth.unwrap().date().to_string(), "2003-03-15");
    assert!(a.chip.is_some(), "the evidence goes in the sealed payload");
    assert_eq!(&draft.identity.canonical()[..], "cccd:001203004567");
}

#[test]
fn the_card_pages_go_back_to_the_form_and_refusals_say_why() {
    let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
    read_card(&mut run);
    run.send(Event::CardRead(CardOutcome::WrongKey));
    assert_eq!(run.screen(), &Screen::CardKey { can: false });
    assert_eq!(run.field_errors(), [Field::PersonalId]);
    // A bad key is caught before any read.
    run.send(Event::CardKeyEntered(form(&[
        ("personal_id", "001203004567"),
        ("date_of_birth", "15/03/2003"),
        ("card_expiry", "31/02/2028"),
    ])));
    assert_eq!(run.field_errors(), [Field::CardExpiry]);
    run.send(Event::CardBack);
    assert_eq!(run.screen(), &Screen::Form);
    read_card(&mut run);
    run.send(Event::CardRead(CardOutcome::Removed));
    assert_eq!(run.screen(), &Screen::PlaceCard { again: true });
    run.send(Event::CardPlaced);
    run.send(Event::CardRead(CardOutcome::Refused(
        CardProblem::NotGenuine,
    )));
    assert_eq!(run.screen(), &Screen::CardRefused(CardProblem::NotGenuine));
    run.refuse(Event::CardPlaced);
    run.send(Event::CardBack);
    assert_eq!(run.screen(), &Screen::Form);
    // Typed by hand, as before the card: level 1, the typed number.
    run.send(Event::Submit(citizen_form()));
    let Effect::CheckDuplicate(keys) = &run.last[1] else {
        panic!("{:?}", run.last)
    };
    assert_eq!(&keys[0].canonical()[..], "cccd:051099012345");
}

#[test]
fn the_card_is_offered_only_where_policy_gives_a_chip_level() {
    let mut run = Run::start(Method::UsbToken, SubjectKind::Citizen, true);
    assert!(!run.reg.takes_card());
    run.refuse(Event::UseCard);
    let text = Policy::built_in_text().replace("chip_level = 2\n", "");
    let text = text.replace(
        "chip_level = 2                # khi chip thẻ CCCD (đã xác thực) cho danh tính\n",
        "",
    );
    let mut run = Run::with_policy(
        Policy::from_toml(&text).unwrap(),
        Method::MobileSubscriber,
        SubjectKind::Citizen,
        true,
    );
    assert!(!run.reg.takes_card());
    run.refuse(Event::UseCard);
    let mut run = Run::start(Method::Bhxh, SubjectKind::Citizen, true);
    assert!(run.reg.takes_card());
    run.send(Event::UseCard);
    run.send(Event::Cancel);
    assert!(run.reg.step() == "ended");
}

#[test]
fn a_bhxh_record_of_someone_else_than_the_card_holder_ends_it() {
    let mut run = Run::start(Method::Bhxh, SubjectKind::Citizen, true);
    read_card(&mut run);
    run.send(Event::CardRead(CardOutcome::Read(chip_read())));
    run.send(Event::Submit(bhxh_form()));
    run.send(Event::BhxhChecked(BhxhOutcome::Matched(policy_id(
        "051185001234",
    ))));
    assert_eq!(run.screen(), &Screen::Failed(Failure::ChipMismatch));
    // The holder's own record, found by the old CMND: accepted, filed
    // under the card's number.
    let mut run = Run::start(Method::Bhxh, SubjectKind::Citizen, true);
    read_card(&mut run);
    run.send(Event::CardRead(CardOutcome::Read(chip_read())));
    run.send(Event::Submit(bhxh_form()));
    run.send(Event::BhxhChecked(BhxhOutcome::Matched(policy_id(
        "013456789",
    ))));
    let Effect::CheckDuplicate(keys) = &run.last[1] else {
        panic!("{:?}", run.last)
    };
    assert_eq!(&keys[0].canonical()[..], "cccd:001203004567");
}

#[test]
fn the_can_opens_the_chip_instead_and_a_chip_without_pace_asks_for_the_dates() {
    use kiosk_hal::card::chip::AccessKey;
    let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
    run.send(Event::UseCard);
    run.send(Event::CardKeyByCan(true));
    assert_eq!(run.screen(), &Screen::CardKey { can: true });
    run.send(Event::CardKeyEntered(form(&[("card_can", "12345")])));
    assert_eq!(run.field_errors(), [Field::CardCan]);
    run.send(Event::CardKeyEntered(form(&[("card_can", "123456")])));
    assert_eq!(run.screen(), &Screen::PlaceCard { again: false });
    run.send(Event::CardPlaced);
    assert!(
        run.last
            .iter()
            .any(|e| matches!(e, Effect::ReadCard(AccessKey::Can(c)) if c.as_str() == "123456"))
    );
    run.send(Event::CardRead(CardOutcome::WrongKey));
    assert_eq!(run.screen(), &Screen::CardKey { can: true });
    assert_eq!(run.field_errors(), [Field::CardCan]);
    run.send(Event::CardKeyEntered(form(&[("card_can", "123456")])));
    run.send(Event::CardPlaced);
    run.send(Event::CardRead(CardOutcome::NoCan));
    assert_eq!(run.screen(), &Screen::CardKey { can: false });
    assert_eq!(run.field_errors(), [Field::PersonalId]);
    read_card(&mut run);
}

#[test]
fn a_registration_waiting_at_this_kiosk_is_not_an_account() {
    let mut run = Run::start(Method::MobileSubscriber, SubjectKind::Citizen, true);
    run.send(Event::Submit(citizen_form()));
    run.send(Event::DuplicateChecked(DuplicateOutcome::QueuedHere(
        "DK-7K2M-9XQ4".into(),
    )));
    assert_eq!(
        run.screen(),
        &Screen::QueuedHere {
            reference: "DK-7K2M-9XQ4".into()
        }
    );
    assert!(
        !run.last.iter().any(|e| matches!(e, Effect::SendOtp { .. })),
        "no code for a registration already made"
    );
    assert!(matches!(run.send(Event::Finish)[..], [Effect::EndSession]));
}

#[test]
fn whether_a_signature_method_asks_a_password_is_policy() {
    let mut policy = Policy::built_in().clone();
    assert!(!policy.asks_password(Method::SimSignature));
    assert!(policy.asks_password(Method::MobileSubscriber));
    policy.methods.get_mut("usb_token").unwrap().password = Some(true);
    let mut run = Run::with_policy(policy, Method::UsbToken, SubjectKind::Citizen, true);
    run.send(Event::TokenInserted);
    run.send(Event::PinEntered(Pin::new("1234").unwrap()));
    run.send(Event::TokenAnswered(TokenOutcome::Proven(
        citizen_certificate(),
    )));
    run.send(Event::DetailsConfirmed {
        email: Zeroizing::new(String::new()),
    });
    run.send(Event::DuplicateChecked(DuplicateOutcome::NoAccount));
    assert_eq!(run.reg.step(), "password");
    run.password("Matkhau@2026", "Matkhau@2026");
    run.send(Event::Stored {
        reference: "DK-0000-0001".into(),
    });
    assert!(matches!(run.screen(), Screen::Done { password: true, .. }));
    // A method with no other way in cannot be told to skip it.
    let text = Policy::built_in_text().replacen(
        "[methods.bhxh]                # Mã số BHXH — mức 2 khi khớp CSDL BHXH",
        "[methods.bhxh]\npassword = false",
        1,
    );
    assert!(Policy::from_toml(&text).is_err());
}

#[test]
fn at_the_counter_nothing_goes_on_without_the_chip() {
    let mut run = Run::start(Method::Counter, SubjectKind::Citizen, false);
    assert_eq!(run.screen(), &Screen::Form);
    assert!(run.reg.takes_card(), "the counter's form takes the card");
    // A form typed in full is still refused: the person is the chip's.
    run.send(Event::Submit(citizen_form()));
    assert_eq!(run.field_errors(), [Field::PersonalId]);
    assert_eq!(run.reg.step(), "form");
    // The clerk's confirmation means nothing before the card is read.
    run.refuse(Event::FaceConfirmed);
}

/// A counter registration with the demo card read and the phone typed:
/// the clerk's face check shows.
fn at_face_check() -> Run {
    let mut run = Run::start(Method::Counter, SubjectKind::Citizen, false);
    read_card(&mut run);
    run.send(Event::CardRead(CardOutcome::Read(chip_read())));
    run.send(Event::Submit(form(&[("phone", "0966123456")])));
    run
}

#[test]
fn the_clerk_sees_the_chips_identity_and_must_confirm_the_face() {
    let mut run = at_face_check();
    match run.screen() {
        Screen::FaceCheck {
            full_name,
            number,
            date_of_birth,
            ..
        } => {
            assert_eq!(full_name, "Nguyễn Thị Thu Hà");
            assert_eq!(number, "001203004567");
            assert_eq!(date_of_birth, "15/03/2003");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(run.reg.step(), "face_check");
    // No duplicate check, no SMS before the clerk's deliberate touch.
    assert!(
        !run.last
            .iter()
            .any(|e| matches!(e, Effect::CheckDuplicate(_) | Effect::SendOtp { .. }))
    );
    run.refuse(Event::OtpDelivered);
    run.send(Event::FaceConfirmed);
    let Effect::CheckDuplicate(keys) = &run.last[1] else {
        panic!("{:?}", run.last)
    };
    assert_eq!(keys[0].canonical().to_string(), "cccd:001203004567");
}

#[test]
fn a_face_that_is_not_the_cards_ends_the_registration_with_nothing_kept() {
    let mut run = at_face_check();
    run.send(Event::FaceMismatch);
    assert_eq!(run.screen(), &Screen::Failed(Failure::FaceMismatch));
    assert!(!run.last.iter().any(|e| matches!(e, Effect::Store(_))));
    run.send(Event::Finish);
    assert_eq!(run.reg.step(), "ended");
}

#[test]
fn a_counter_registration_offline_is_level_three_with_the_chip_and_the_citizens_password() {
    let mut run = at_face_check();
    run.send(Event::FaceConfirmed);
    run.send(Event::DuplicateChecked(
        DuplicateOutcome::CheckedLocallyOnly,
    ));
    // No carrier check: the chip proved the person, the OTP the phone.
    let code = run.sms_code();
    run.send(Event::OtpDelivered);
    run.otp(&code);
    assert!(matches!(run.screen(), Screen::Password { .. }));
    run.password("Matkhau@2026", "Matkhau@2026");
    let draft = run.draft();
    assert_eq!(draft.method, Method::Counter);
    assert_eq!(draft.level, Level::THREE, "the policy's counter level");
    assert_eq!(draft.pending, [PendingCheck::GlobalDuplicate]);
    assert!(draft.applicant.chip.is_some());
    assert!(draft.password.is_some());
    // The clerk is stamped by the counter's runtime, not by the flow.
    assert_eq!(draft.clerk, None);
    assert_eq!(
        draft.applicant.phone.as_ref().unwrap().e164(),
        "+84966123456"
    );
}

#[test]
fn a_policy_without_the_counter_offers_none_and_a_counter_needs_the_chip() {
    let text = Policy::built_in_text();
    let start = text.find("[methods.counter]").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    let without = format!("{}{}", &text[..start], &text[end + 2..]);
    let policy = Policy::from_toml(&without).unwrap();
    assert_eq!(
        policy.check_offered(Method::Counter, SubjectKind::Citizen, true),
        Err(Unavailable::DisabledByPolicy)
    );
    let no_chip = text.replacen(
        "level = 3\nneeds_network = false\nchip_level = 3",
        "level = 3\nneeds_network = false",
        1,
    );
    assert_ne!(no_chip, text);
    let e = Policy::from_toml(&no_chip).unwrap_err().to_string();
    assert!(
        e.contains("methods.counter: the counter registers with the chip"),
        "{e}"
    );
}

#[test]
fn a_counter_reset_takes_a_password_that_passes_the_checklist_then_waits_for_its_store() {
    let identity = IdentityKey::Person(policy_id("001203004567"));
    let (mut reset, effects) = CounterReset::start(Arc::new(Policy::built_in().clone()), identity);
    assert!(matches!(
        effects[..],
        [Effect::Show(Screen::Password { .. })]
    ));
    let submit = |first: &str, confirm: &str| Event::PasswordSubmitted {
        first: Zeroizing::new(first.into()),
        confirm: Zeroizing::new(confirm.into()),
    };
    let effects = reset.handle(submit("short", "short")).unwrap();
    assert!(matches!(&effects[0], Effect::FieldErrors(e) if e[0].field == Field::Password));
    assert_eq!(reset.step(), "password");
    let effects = reset
        .handle(submit("MoiMoi@2026x", "MoiMoi@2026x"))
        .unwrap();
    let Some(Effect::FileCounterReset(draft)) = effects.last() else {
        panic!("{effects:?}");
    };
    assert!(
        draft.chip.is_none() && draft.clerk.is_none(),
        "the counter adds them"
    );
    assert!(!format!("{draft:?}").contains("MoiMoi"));
    // Being written: Hủy waits for the reference.
    assert!(reset.handle(Event::Cancel).is_err());
    let effects = reset
        .handle(Event::Stored {
            reference: "MK-7K2M-9XQ4".into(),
        })
        .unwrap();
    assert!(matches!(
        &effects[..],
        [Effect::Show(Screen::CounterResetQueued { reference })] if reference == "MK-7K2M-9XQ4"
    ));
    let effects = reset.handle(Event::Finish).unwrap();
    assert!(matches!(effects[..], [Effect::EndSession]));
}
