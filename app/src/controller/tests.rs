//! The controller and its view without a pty, a database or a window: the
//! worker is scripted (each test answers the effects the flow asked for)
//! and the clock is set by hand, so timeouts and countdowns are checked in
//! microseconds. The same screens against the real devices are in
//! `app/tests/kiosk_controller.rs`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use kiosk_ui::i18n::Lang;
use kiosk_ui::{KeyboardKind, Page};
use time::OffsetDateTime;
use time::macros::datetime;

use super::*;
use crate::domain::clock::ManualClock;
use crate::flow::{DeliveryFailure, DuplicateOutcome, SubscriberOutcome};

const T0: OffsetDateTime = datetime!(2026-12-04 09:00 +7);

/// Jobs the controller handed over, and answers waiting for it.
#[derive(Default)]
struct Script {
    jobs: RefCell<Vec<Job>>,
    answers: RefCell<VecDeque<Answer>>,
}

struct Scripted(Rc<Script>);

impl Effects for Scripted {
    fn submit(&self, job: Job) {
        self.0.jobs.borrow_mut().push(job);
    }

    fn try_answer(&self) -> Option<Answer> {
        self.0.answers.borrow_mut().pop_front()
    }

    fn wait_answer(&self, _: Duration) -> Option<Answer> {
        self.try_answer()
    }
}

struct Rig {
    c: Controller,
    script: Rc<Script>,
    clock: ManualClock,
}

fn ready() -> Status {
    Status {
        online: false,
        modem_ready: true,
        signal_bars: 3,
        ..Status::default()
    }
}

impl Rig {
    fn new(status: Status) -> Rig {
        Rig::with_policy(status, Policy::built_in().clone())
    }

    fn with_policy(status: Status, policy: Policy) -> Rig {
        let script = Rc::new(Script::default());
        let clock = ManualClock::starting_at(T0);
        let c = Controller::new(
            Arc::new(policy),
            Box::new(Scripted(Rc::clone(&script))),
            Box::new(clock.clone()),
        );
        let mut rig = Rig { c, script, clock };
        rig.status(status);
        rig
    }

    fn status(&mut self, status: Status) {
        self.script
            .answers
            .borrow_mut()
            .push_back(Answer::Status(status));
        self.c.poll();
    }

    fn advance(&mut self, seconds: u64) {
        self.clock.advance(seconds);
        self.c.on_tick();
    }

    /// Someone sets the wall clock; no time passes.
    fn jump_wall(&mut self, seconds: i64) {
        self.clock.jump_wall(seconds);
        self.c.on_tick();
    }

    /// The effects asked for since the last call, with their session.
    fn effects(&self) -> Vec<(SessionId, Effect)> {
        self.script
            .jobs
            .borrow_mut()
            .drain(..)
            .filter_map(|job| match job {
                Job::Effect(session, effect) => Some((session, effect)),
                Job::Status | Job::Audit { .. } => None,
            })
            .collect()
    }

    fn answer(&mut self, session: SessionId, event: Event) {
        self.script
            .answers
            .borrow_mut()
            .push_back(Answer::Event(session, event));
        self.c.poll();
    }

    fn type_in(&mut self, field: &str, text: &str) {
        self.c.on_focus(field);
        for key in text.chars() {
            self.c.on_key(&key.to_string());
        }
    }

    /// Home → citizen → mobile subscriber → a filled form, submitted.
    fn mobile_form_submitted(&mut self) -> SessionId {
        self.c.on_register();
        self.c.on_choose_subject("citizen");
        self.c.on_choose_method("mobile_subscriber");
        self.c.on_toggle_telex();
        self.type_in("full_name", "Nguyen Van An");
        self.c.on_toggle_telex();
        self.type_in("personal_id", "051099012345");
        self.type_in("date_of_birth", "05091999");
        self.type_in("phone", "0912345678");
        self.effects();
        self.c.on_submit();
        let effects = self.effects();
        let [(session, Effect::CheckDuplicate(_))] = &effects[..] else {
            panic!("the form asks for a duplicate check first: {effects:?}");
        };
        *session
    }

    /// ... and the checks answered as offline: the SMS is being sent.
    fn sending_sms(&mut self) -> SessionId {
        let session = self.mobile_form_submitted();
        self.answer(
            session,
            Event::DuplicateChecked(DuplicateOutcome::CheckedLocallyOnly),
        );
        let effects = self.effects();
        if let [(_, Effect::CheckSubscriber { .. })] = &effects[..] {
            self.answer(
                session,
                Event::SubscriberChecked(SubscriberOutcome::Unavailable),
            );
        }
        assert!(
            matches!(self.effects()[..], [(_, Effect::SendOtp { .. })]),
            "the code goes out by SMS"
        );
        session
    }

    /// ... and the code sent: the OTP page.
    fn at_otp(&mut self) -> SessionId {
        let session = self.sending_sms();
        self.answer(session, Event::OtpDelivered);
        assert_eq!(self.c.view().page, Page::Otp);
        session
    }
}

#[test]
fn the_home_screen_shows_nothing_of_anyone() {
    let rig = Rig::new(ready());
    let view = rig.c.view();
    assert_eq!(view.page, Page::Home);
    assert!(view.fields.is_empty() && view.title.is_empty());
    assert_eq!(view.status.signal_bars, 3);
}

#[test]
fn without_a_modem_the_sms_methods_are_greyed_out_with_the_reason() {
    let mut rig = Rig::new(Status::default());
    rig.c.on_register();
    rig.c.on_choose_subject("citizen");
    let view = rig.c.view();
    assert_eq!(view.page, Page::Method);
    let mobile = view
        .methods
        .iter()
        .find(|m| m.id == "mobile_subscriber")
        .expect("the mobile method is listed");
    assert!(!mobile.enabled);
    assert!(mobile.reason.contains("SMS"), "{}", mobile.reason);
    // Chosen anyway (a stale touch): nothing starts.
    rig.c.on_choose_method("mobile_subscriber");
    assert_eq!(rig.c.view().page, Page::Method);

    rig.status(ready());
    let view = rig.c.view();
    let mobile = view.methods.iter().find(|m| m.id == "mobile_subscriber");
    assert!(mobile.is_some_and(|m| m.enabled && m.reason.is_empty()));
}

#[test]
fn typed_keys_fill_the_focused_field_as_the_keyboard_allows() {
    let mut rig = Rig::new(ready());
    rig.c.on_register();
    rig.c.on_choose_subject("citizen");
    rig.c.on_choose_method("mobile_subscriber");
    rig.type_in("date_of_birth", "05x091999");
    rig.type_in("full_name", "nguyeenx van an");
    let view = rig.c.view();
    let value = |id: &str| {
        view.fields
            .iter()
            .find(|f| f.id == id)
            .map(|f| f.value.clone())
    };
    assert_eq!(value("date_of_birth").as_deref(), Some("05/09/1999"));
    assert_eq!(value("full_name").as_deref(), Some("Nguyễn Van An"));
    assert_eq!(view.keyboard, KeyboardKind::Text);
}

#[test]
fn the_otp_page_counts_down_on_the_clock_it_is_given() {
    let mut rig = Rig::new(ready());
    rig.at_otp();
    let view = rig.c.view();
    assert_eq!(view.countdown, "5:00");
    assert!(!view.resend_enabled);
    assert!(view.resend_label.contains("1:00"), "{}", view.resend_label);

    rig.advance(61);
    let view = rig.c.view();
    assert_eq!(view.countdown, "3:59");
    assert!(view.resend_enabled, "{}", view.resend_label);

    // The citizen keeps touching (no idle timeout) until the code expires.
    for _ in 0..4 {
        rig.c.on_still_here();
        rig.advance(60);
    }
    let view = rig.c.view();
    assert_eq!(view.countdown, "0:00");
    assert!(!view.submit_enabled);
    assert!(
        !view.fields[0].error.is_empty(),
        "expiry is said on the field"
    );
}

#[test]
fn a_wall_clock_set_forwards_or_back_changes_no_wait() {
    let mut rig = Rig::new(ready());
    rig.at_otp();
    // Three hours on: the code has not expired, the resend is still
    // held back and the idle timeout has not fired.
    rig.jump_wall(3 * 3600);
    let view = rig.c.view();
    assert!(rig.c.has_session());
    assert_eq!(view.countdown, "5:00");
    assert!(!view.resend_enabled, "{}", view.resend_label);
    assert_eq!(view.idle_left, None);
    assert_eq!(rig.c.now(), T0 + time::Duration::hours(3), "the wall clock");

    // A day back (an RTC reset): the waits go on as real time passes.
    rig.jump_wall(-27 * 3600);
    rig.advance(61);
    let view = rig.c.view();
    assert_eq!(view.countdown, "3:59");
    assert!(view.resend_enabled, "{}", view.resend_label);
    for _ in 0..4 {
        rig.c.on_still_here();
        rig.jump_wall(-3600);
        rig.advance(60);
    }
    let view = rig.c.view();
    assert_eq!(
        view.countdown, "0:00",
        "a clock set back keeps no code alive"
    );
    assert!(!view.submit_enabled);

    // Walking away with the clock set back still ends the session.
    rig.jump_wall(-3600);
    rig.advance(u64::from(rig.c.policy().session.idle_timeout_seconds));
    assert!(!rig.c.has_session());
}

#[test]
fn an_answer_for_a_citizen_who_has_left_never_reaches_the_next() {
    let mut rig = Rig::new(ready());
    let first = rig.mobile_form_submitted();
    rig.c.on_cancel();
    assert_eq!(rig.c.view().page, Page::Home);
    let second = rig.mobile_form_submitted();
    assert_ne!(first, second);
    // The first visit's late answer: dropped, the second still waits.
    rig.answer(
        first,
        Event::DuplicateChecked(DuplicateOutcome::AccountExists),
    );
    assert_eq!(rig.c.view().page, Page::Busy);
    assert!(rig.c.is_busy());
    rig.answer(
        second,
        Event::DuplicateChecked(DuplicateOutcome::AccountExists),
    );
    assert_eq!(rig.c.view().page, Page::Exists);
}

#[test]
fn walking_away_warns_then_wipes_the_session_in_vietnamese() {
    let mut rig = Rig::new(ready());
    rig.c.on_register();
    rig.c.on_toggle_language();
    rig.c.on_choose_subject("citizen");
    rig.c.on_choose_method("mobile_subscriber");
    rig.type_in("phone", "0912345678");
    rig.advance(69);
    assert_eq!(rig.c.view().idle_left, None);
    rig.advance(1);
    assert_eq!(rig.c.view().idle_left, Some(20));
    rig.advance(19);
    assert_eq!(rig.c.view().idle_left, Some(1));
    assert!(rig.c.has_session());
    rig.advance(1);
    let view = rig.c.view();
    assert!(!rig.c.has_session());
    assert_eq!((view.page, view.lang), (Page::Home, Lang::Vi));
}

#[test]
fn a_failed_sms_says_so_and_offers_another_try() {
    let mut rig = Rig::new(ready());
    let session = rig.sending_sms();
    rig.answer(session, Event::OtpNotDelivered(DeliveryFailure::Rejected));
    let view = rig.c.view();
    assert_eq!(view.page, Page::OtpNotSent);
    assert!(view.submit_enabled);
    rig.c.on_toggle_language();
    let english = rig.c.view();
    assert_eq!(english.submit_label, "Try again");
    assert_ne!(english.message, view.message);
}

#[test]
fn a_business_is_spoken_of_by_its_tax_code_on_the_exists_pages() {
    use crate::domain::{BusinessName, Mst};
    use crate::flow::{CertifiedIdentity, TokenOutcome};
    let mut rig = Rig::new(Status {
        token_reader: true,
        ..ready()
    });
    rig.c.on_register();
    rig.c.on_choose_subject("business");
    rig.c.on_choose_method("usb_token");
    rig.status(Status {
        token_reader: true,
        tokens_present: 1,
        ..ready()
    });
    assert_eq!(rig.c.view().page, Page::Pin);
    rig.type_in("pin", "123456");
    rig.c.on_submit();
    let [(session, Effect::ProveToken(_))] = &rig.effects()[..] else {
        panic!("the PIN goes to the token");
    };
    let session = *session;
    let policy = Policy::built_in();
    let identity = CertifiedIdentity {
        subject: SubjectKind::Business,
        person_name: None,
        business_name: Some(BusinessName::parse("CÔNG TY TNHH AN PHÚ", &policy.person).unwrap()),
        personal_id: None,
        mst: Some(Mst::parse("0100047516").unwrap()),
        issuer: "Test CA".into(),
        valid_until: T0 + time::Duration::days(365),
        certificate: vec![0x30],
        proof: None,
        not_revoked: true,
    };
    rig.answer(
        session,
        Event::TokenAnswered(TokenOutcome::Proven(Box::new(identity))),
    );
    rig.type_in("email", "ketoan@anphu.vn");
    rig.c.on_submit();
    rig.effects();
    rig.answer(
        session,
        Event::DuplicateChecked(DuplicateOutcome::AccountExists),
    );
    let view = rig.c.view();
    assert_eq!(view.page, Page::Exists);
    assert!(
        view.message.starts_with("Mã số thuế này"),
        "{}",
        view.message
    );
    assert!(
        view.lines.iter().any(|l| l.contains("nhầm mã số thuế")),
        "{:?}",
        view.lines
    );
}

#[test]
fn a_reference_is_looked_up_as_typed_and_the_answer_shows_nothing_of_the_person() {
    let mut rig = Rig::new(ready());
    rig.c.on_lookup();
    let view = rig.c.view();
    assert_eq!(view.page, Page::Lookup);
    assert_eq!(view.fields.len(), 1);
    assert!(view.fields[0].focused && !view.submit_enabled);
    assert_eq!(view.keyboard, KeyboardKind::Email);

    // Not a reference: said on the field, nothing asked.
    rig.type_in("reference", "dk12");
    rig.c.on_submit();
    assert!(rig.effects().is_empty());
    let view = rig.c.view();
    assert!(view.fields[0].error.contains("DK-XXXX-XXXX"), "{view:?}");

    // Typed in lower case with a look-alike letter: read as the number.
    for _ in 0..4 {
        rig.c.on_key("⌫");
    }
    rig.type_in("reference", "7k2m9xqo");
    assert_eq!(rig.c.view().fields[0].value, "7K2M9XQO");
    rig.c.on_submit();
    let effects = rig.effects();
    let [(session, Effect::LookUp(reference))] = &effects[..] else {
        panic!("one lookup: {effects:?}");
    };
    assert_eq!(reference, "DK-7K2M-9XQ0");
    assert_eq!(rig.c.view().page, Page::Busy);

    let found = crate::flow::Found {
        status: crate::flow::LookupStatus::Rejected(kiosk_sync::api::Rejection::Bhxh),
        method: crate::domain::Method::Bhxh,
        level: 2,
        created_at: datetime!(2026-11-30 23:30 UTC).unix_timestamp(),
        decided_at: Some(datetime!(2026-12-02 10:00 UTC).unix_timestamp()),
        here: true,
    };
    rig.answer(
        *session,
        Event::LookedUp {
            reference: reference.clone(),
            result: crate::flow::LookupResult::Found(found),
        },
    );
    let view = rig.c.view();
    assert_eq!(view.page, Page::LookupAnswer);
    assert_eq!(view.reference, "DK-7K2M-9XQ0");
    assert_eq!(view.title, "Hồ sơ không được chấp nhận");
    assert!(view.message.contains("Bảo hiểm xã hội"), "{}", view.message);
    // Dates in Vietnam's time: made on 1 December there.
    assert!(
        view.lines.contains(&"Ngày đăng ký: 01/12/2026".to_string()),
        "{:?}",
        view.lines
    );
    assert!(view.lines.iter().any(|l| l.contains("Mức tài khoản: 2")));

    // Back: another number, the last one still there to correct.
    rig.c.on_back();
    let view = rig.c.view();
    assert_eq!(view.page, Page::Lookup);
    assert_eq!(view.fields[0].value, "7K2M9XQO");
    rig.c.on_submit();
    let effects = rig.effects();
    let [(session, Effect::LookUp(_))] = &effects[..] else {
        panic!("asked again: {effects:?}");
    };
    rig.answer(
        *session,
        Event::LookedUp {
            reference: "DK-7K2M-9XQ0".into(),
            result: crate::flow::LookupResult::NotHereOffline,
        },
    );
    rig.c.on_toggle_language();
    let view = rig.c.view();
    assert_eq!(view.title, "The registration cannot be looked up now");
    // Done: home, nothing kept.
    rig.c.on_submit();
    assert_eq!(rig.c.view().page, Page::Home);
    assert!(!rig.c.has_session());
}

#[test]
fn looking_up_is_offered_while_the_kiosk_takes_no_registration() {
    let mut rig = Rig::new(Status {
        storage: crate::store::Storage::Full,
        ..ready()
    });
    rig.c.on_register();
    assert_eq!(rig.c.view().page, Page::Home);
    rig.c.on_lookup();
    assert_eq!(rig.c.view().page, Page::Lookup);
    // Back on the first page goes home.
    rig.c.on_back();
    assert_eq!(rig.c.view().page, Page::Home);
    assert!(!rig.c.has_session());
}

#[test]
fn each_page_of_a_method_says_which_step_of_how_many_it_is() {
    let mut rig = Rig::new(ready());
    rig.c.on_register();
    rig.c.on_choose_subject("citizen");
    assert_eq!(rig.c.view().step, "", "choosing is before the steps");
    rig.c.on_choose_method("mobile_subscriber");
    assert_eq!(rig.c.view().step, "Bước 1/4");
    rig.c.on_cancel();
    rig.at_otp();
    assert_eq!(rig.c.view().step, "Bước 2/4");
    rig.c.on_toggle_language();
    assert_eq!(rig.c.view().step, "Step 2 of 4");
    rig.c.on_cancel();
    // A mobile signature needs the portal.
    rig.status(Status {
        online: true,
        ..ready()
    });
    rig.c.on_register();
    rig.c.on_choose_subject("citizen");
    rig.c.on_choose_method("sim_signature");
    // The number, the phone, the details, done: the SIM is the login, so
    // no password step (policy).
    assert_eq!(rig.c.view().step, "Bước 1/4");
}

#[test]
fn the_exists_page_says_where_the_provinces_counters_are() {
    let mut policy = Policy::built_in().clone();
    policy.counters = vec![crate::policy::Counter {
        name: "Bưu điện huyện Kế Sách".into(),
        address: "Ấp An Thạnh, thị trấn Kế Sách".into(),
        hours: "Thứ Hai – Thứ Bảy, 7:00–17:00".into(),
    }];
    let mut rig = Rig::with_policy(ready(), policy);
    let session = rig.mobile_form_submitted();
    rig.answer(
        session,
        Event::DuplicateChecked(DuplicateOutcome::AccountExists),
    );
    let view = rig.c.view();
    assert_eq!(view.page, Page::Exists);
    let counter = view
        .lines
        .iter()
        .position(|l| l.contains("Bưu điện huyện Kế Sách") && l.contains("7:00–17:00"))
        .expect("the counter is listed");
    assert!(
        view.lines[counter - 1].contains("quầy giao dịch"),
        "under the way out it belongs to: {:?}",
        view.lines
    );
    // The portal's code for the counter follows, once it comes.
    assert!(view.lines[counter + 1].contains("Đang lấy mã"));
    let asked = rig.effects();
    assert!(
        asked
            .iter()
            .any(|(_, e)| matches!(e, Effect::RequestHandoff(_))),
        "{asked:?}"
    );
    rig.answer(session, Event::HandoffIssued(Some("HD-7K2M-9XQ4".into())));
    let view = rig.c.view();
    assert!(
        view.lines[counter + 1].contains("HD-7K2M-9XQ4"),
        "{:?}",
        view.lines
    );
    // Without counters in the policy or the portal, the way out still
    // says what to bring.
    let mut rig = Rig::new(ready());
    let session = rig.mobile_form_submitted();
    rig.answer(
        session,
        Event::DuplicateChecked(DuplicateOutcome::AccountExists),
    );
    rig.answer(session, Event::HandoffIssued(None));
    let view = rig.c.view();
    let lines = view.lines;
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[1].contains("thẻ CCCD"), "{lines:?}");
    // The password reset and the complaint are cards the kiosk runs
    // itself, not lines.
    let ids: Vec<&str> = view.methods.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["forgot", "complaint"]);
    // Offline the reset cannot ask the portal, and says what to do instead.
    assert!(!view.methods[0].enabled);
    assert!(view.methods[0].reason.contains("mất kết nối"));
    assert!(view.methods[1].enabled);
    rig.c.on_choose("forgot");
    assert_eq!(rig.c.view().page, Page::Exists);
}

#[test]
fn a_forgotten_password_is_reset_with_the_portals_code_and_every_answer_is_shown() {
    use crate::flow::{ResetCode, ResetCompleted, ResetStarted};
    let online = Status {
        online: true,
        ..ready()
    };
    let mut rig = Rig::new(online.clone());
    let session = rig.mobile_form_submitted();
    rig.answer(
        session,
        Event::DuplicateChecked(DuplicateOutcome::AccountExists),
    );
    rig.answer(session, Event::HandoffIssued(None));
    rig.effects();
    rig.c.on_choose("forgot");
    let effects = rig.effects();
    assert!(
        matches!(&effects[..], [(_, Effect::StartReset(_))]),
        "{effects:?}"
    );
    let code = ResetCode {
        reset_id: "r-1".into(),
        masked_phone: "091****678".into(),
        expires_at: rig.c.now() + time::Duration::minutes(5),
        tries_left: 5,
        resends_left: 2,
        resend_after: Some(rig.c.now() + time::Duration::minutes(1)),
    };
    rig.answer(
        session,
        Event::ResetAnswered(ResetStarted::Sent(code.clone())),
    );
    let view = rig.c.view();
    assert_eq!((view.page, view.step.as_str()), (Page::Otp, "Bước 1/2"));
    assert!(view.message.contains("091****678"), "{}", view.message);
    rig.type_in("otp", "123456");
    rig.c.on_submit();
    let view = rig.c.view();
    assert_eq!(
        (view.page, view.step.as_str()),
        (Page::Password, "Bước 2/2")
    );
    rig.type_in("password", "Matkhau@2026");
    rig.c.on_focus("confirm");
    for key in "Matkhau@2026".chars() {
        rig.c.on_key(&key.to_string());
    }
    rig.c.on_submit();
    let effects = rig.effects();
    let [(_, Effect::CompleteReset(draft))] = &effects[..] else {
        panic!("{effects:?}");
    };
    assert_eq!(
        (draft.reset_id.as_str(), draft.code.as_str()),
        ("r-1", "123456")
    );
    // A wrong code: back to the code, with the portal's count.
    rig.answer(
        session,
        Event::ResetCompleted(ResetCompleted::WrongCode { tries_left: 4 }),
    );
    let view = rig.c.view();
    assert_eq!(view.page, Page::Otp);
    assert!(view.fields[0].error.contains('4'), "{:?}", view.fields);
    rig.type_in("otp", "654321");
    rig.c.on_submit();
    rig.type_in("password", "Matkhau@2026");
    rig.c.on_focus("confirm");
    for key in "Matkhau@2026".chars() {
        rig.c.on_key(&key.to_string());
    }
    rig.c.on_submit();
    rig.effects();
    rig.answer(session, Event::ResetCompleted(ResetCompleted::Done));
    let view = rig.c.view();
    assert_eq!(view.title, "Đã đặt lại mật khẩu");
    assert!(view.lines[0].contains("091****678"));
    rig.c.on_submit();
    assert!(!rig.c.has_session());

    // An account without a phone: the counter; Quay lại from the code's
    // page returns to the exists page.
    let mut rig = Rig::new(online);
    let session = rig.mobile_form_submitted();
    rig.answer(
        session,
        Event::DuplicateChecked(DuplicateOutcome::AccountExists),
    );
    rig.answer(session, Event::HandoffIssued(None));
    rig.c.on_choose("forgot");
    rig.answer(session, Event::ResetAnswered(ResetStarted::Sent(code)));
    rig.c.on_back();
    assert_eq!(rig.c.view().page, Page::Exists);
    rig.c.on_choose("forgot");
    rig.answer(session, Event::ResetAnswered(ResetStarted::NoPhone));
    let view = rig.c.view();
    assert_eq!(view.page, Page::Info);
    assert!(view.message.contains("quầy giao dịch"), "{}", view.message);
}

#[test]
fn tab_moves_on_without_submitting_and_a_keyboards_other_keys_type_nothing() {
    let mut rig = Rig::new(ready());
    rig.c.on_register();
    rig.c.on_choose_subject("citizen");
    rig.c.on_choose_method("mobile_subscriber");
    rig.effects();
    let focused = |rig: &Rig| {
        rig.c
            .view()
            .fields
            .into_iter()
            .find(|f| f.focused)
            .map(|f| f.id)
    };
    assert_eq!(focused(&rig).as_deref(), Some("full_name"));
    // An arrow key (a private-use character) and Escape type nothing.
    rig.c.on_key("\u{F702}");
    rig.c.on_key("\u{1b}");
    rig.c.on_focus("email");
    rig.c.on_key("\u{F703}");
    assert_eq!(
        rig.c
            .view()
            .fields
            .iter()
            .find(|f| f.id == "email")
            .unwrap()
            .value,
        ""
    );
    // Tab on the last field stays there: only Enter submits.
    rig.c.on_key("⇥");
    assert_eq!(focused(&rig).as_deref(), Some("email"));
    assert!(rig.effects().is_empty(), "nothing was submitted");
    rig.c.on_focus("full_name");
    rig.c.on_key("⇥");
    assert_eq!(focused(&rig).as_deref(), Some("personal_id"));
}

#[test]
fn the_home_screen_says_where_the_counters_are() {
    let mut policy = Policy::built_in().clone();
    policy.counters = vec![crate::policy::Counter {
        name: "Bưu điện huyện Kế Sách".into(),
        address: "Ấp An Thạnh, thị trấn Kế Sách".into(),
        hours: "Thứ Hai – Thứ Bảy, 7:00–17:00".into(),
    }];
    let mut rig = Rig::with_policy(
        Status {
            storage: crate::store::Storage::Full,
            ..ready()
        },
        policy,
    );
    rig.c.on_counters();
    let view = rig.c.view();
    assert_eq!(view.page, Page::Info);
    assert_eq!(
        view.lines,
        ["Bưu điện huyện Kế Sách: Ấp An Thạnh, thị trấn Kế Sách (Thứ Hai – Thứ Bảy, 7:00–17:00)"]
    );
    rig.c.on_submit();
    assert_eq!(rig.c.view().page, Page::Home);
    assert!(!rig.c.has_session());
    // Without a list, where to ask.
    let mut rig = Rig::new(ready());
    rig.c.on_counters();
    let view = rig.c.view();
    assert!(view.lines.is_empty() && view.message.contains("Bưu điện"));
    rig.c.on_back();
    assert_eq!(rig.c.view().page, Page::Home);
}

#[test]
fn a_complaint_leads_from_the_exists_page_to_its_reference_and_back_returns_there() {
    let mut rig = Rig::new(ready());
    let session = rig.mobile_form_submitted();
    rig.answer(
        session,
        Event::DuplicateChecked(DuplicateOutcome::AccountExists),
    );
    rig.answer(session, Event::HandoffIssued(None));
    rig.effects();
    rig.c.on_choose("complaint");
    let view = rig.c.view();
    assert_eq!(view.page, Page::Choice);
    assert_eq!(view.step, "Bước 1/3");
    assert_eq!(view.methods.len(), 4);
    // Quay lại on the reasons: the exists page again, as it was.
    rig.c.on_back();
    assert_eq!(rig.c.view().page, Page::Exists);
    rig.c.on_choose("complaint");
    rig.c.on_choose("identity_misused");
    let view = rig.c.view();
    assert_eq!((view.page, view.step.as_str()), (Page::Lookup, "Bước 2/3"));
    assert_eq!(view.fields[0].id, "phone");
    // The number typed on the form is offered; the person may change it.
    assert_eq!(view.fields[0].value, "0912345678");
    rig.c.on_focus("phone");
    for _ in 0..12 {
        rig.c.on_key("⌫");
    }
    rig.type_in("phone", "0987654321");
    rig.c.on_submit();
    let effects = rig.effects();
    let [(_, Effect::SendOtp { to, text })] = &effects[..] else {
        panic!("{effects:?}");
    };
    assert_eq!(to.e164(), "+84987654321");
    let code: String = text
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    rig.answer(session, Event::OtpDelivered);
    let view = rig.c.view();
    assert_eq!((view.page, view.step.as_str()), (Page::Otp, "Bước 3/3"));
    assert_eq!(view.submit_label, "Gửi khiếu nại");
    rig.type_in("otp", &code);
    rig.c.on_submit();
    let effects = rig.effects();
    let [(_, Effect::FileComplaint(draft))] = &effects[..] else {
        panic!("{effects:?}");
    };
    assert_eq!(draft.reason, crate::flow::ComplaintReason::IdentityMisused);
    // Hủy while it is written waits.
    rig.c.on_cancel();
    assert!(rig.c.has_session());
    rig.answer(
        session,
        Event::Stored {
            reference: "KN-7K2M-9XQ4".into(),
        },
    );
    let view = rig.c.view();
    assert_eq!(view.page, Page::Done);
    assert_eq!(view.reference, "KN-7K2M-9XQ4");
    assert!(view.lines[0].contains("098****321"), "{:?}", view.lines);
    rig.c.on_submit();
    assert!(!rig.c.has_session());
}

#[test]
fn the_kiosk_is_healthy_only_while_the_worker_answers_its_status() {
    let mut rig = Rig::new(ready());
    assert!(rig.c.health().worker_answering, "answered at start");
    assert!(rig.c.health().store_ready);
    // Asked every second; silent for the stale limit, it counts as stuck.
    rig.advance(crate::service::WORKER_STALE_AFTER.as_secs() + 1);
    assert!(!rig.c.health().worker_answering);
    rig.status(Status {
        storage: Storage::Full,
        ..ready()
    });
    assert!(rig.c.health().worker_answering);
    assert!(!rig.c.health().store_ready);
}

// --- the post-office counter ---

const CLERK: &str = "BD-KS-0001";
const CLERK_PIN: &str = "246810";

/// A kiosk on a counter with one clerk, PIN 246810; the card reader and
/// the modem ready.
fn counter_rig() -> Rig {
    use crate::counter::{Clerk, Desk, Roster};
    let mut rig = Rig::new(Status {
        card_reader: true,
        ..ready()
    });
    let cheap = crate::config::PasswordHashCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let roster = Roster::new(vec![Clerk {
        id: CLERK.into(),
        name: "Nguyễn Thị Lan".into(),
        pin_hash: Some(
            crate::register::hash_password(CLERK_PIN, cheap)
                .unwrap()
                .to_string(),
        ),
        token_sha256: None,
    }])
    .unwrap();
    rig.c
        .set_desk(Desk::new(roster, Policy::built_in().counter.clone()));
    rig
}

impl Rig {
    /// The clerk's audit notes handed to the worker since the last call.
    fn audited(&self) -> Vec<(&'static str, String)> {
        let mut jobs = self.script.jobs.borrow_mut();
        let mut notes = Vec::new();
        jobs.retain(|job| match job {
            Job::Audit { event, detail } => {
                notes.push((*event, detail.clone()));
                false
            }
            _ => true,
        });
        notes
    }

    fn sign_in(&mut self, pin: &str) {
        self.type_in("clerk_id", &CLERK.to_lowercase());
        self.type_in("pin", pin);
        self.c.on_submit();
    }
}

#[test]
fn a_counter_opens_on_the_clerks_sign_in_which_never_times_out() {
    let mut rig = counter_rig();
    let view = rig.c.view();
    assert_eq!(view.page, Page::Form);
    let ids: Vec<&str> = view.fields.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["clerk_id", "pin"]);
    assert!(!view.submit_enabled, "nothing typed yet");
    rig.type_in("clerk_id", "bd-ks");
    rig.advance(3600);
    let view = rig.c.view();
    assert_eq!(view.page, Page::Form);
    assert_eq!(view.idle_left, None);
    assert_eq!(view.fields[0].value, "bd-ks", "what was typed waits");
    // The citizen's pages are not there to be reached.
    rig.c.on_choose("counter-register");
    assert_eq!(rig.c.view().page, Page::Form);
    assert!(rig.c.clerk_on_duty().is_none());
}

#[test]
fn a_wrong_pin_is_said_and_noted_without_it_and_the_right_one_opens_the_counter() {
    let mut rig = counter_rig();
    rig.sign_in("111111");
    let view = rig.c.view();
    assert_eq!(view.page, Page::Form);
    let pin = view.fields.iter().find(|f| f.id == "pin").unwrap();
    assert!(pin.error.contains("Còn 4 lần"), "{}", pin.error);
    assert_eq!(pin.value, "", "the wrong PIN is wiped");
    let notes = rig.audited();
    assert_eq!(
        notes,
        [(EVENT_CLERK_REFUSED, "by=pin reason=wrong".to_string())]
    );
    rig.type_in("pin", CLERK_PIN);
    rig.c.on_submit();
    let view = rig.c.view();
    assert_eq!(view.page, Page::CounterHome);
    assert!(view.message.contains("Nguyễn Thị Lan (BD-KS-0001)"));
    let cards: Vec<&str> = view.methods.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        cards,
        [
            "counter-register",
            "counter-lookup",
            "counter-today",
            "counter-lock"
        ]
    );
    assert_eq!(
        rig.audited(),
        [(EVENT_CLERK_SIGNED_IN, format!("clerk={CLERK} by=pin"))]
    );
    for (_, detail) in rig.audited() {
        assert!(!detail.contains(CLERK_PIN));
    }
}

#[test]
fn the_counter_locks_on_request_and_after_the_clerks_idle_time() {
    let mut rig = counter_rig();
    rig.sign_in(CLERK_PIN);
    rig.audited();
    rig.c.on_choose("counter-lock");
    assert_eq!(rig.c.view().page, Page::Form);
    assert!(rig.c.clerk_on_duty().is_none());
    assert_eq!(
        rig.audited(),
        [(EVENT_CLERK_LOCKED, format!("clerk={CLERK} reason=clerk"))]
    );
    rig.sign_in(CLERK_PIN);
    let idle = Policy::built_in().counter.clerk_idle_lock_seconds;
    rig.advance(u64::from(idle) - 1);
    assert_eq!(rig.c.view().page, Page::CounterHome, "not yet");
    rig.advance(1);
    assert_eq!(rig.c.view().page, Page::Form);
    assert!(
        rig.audited()
            .contains(&(EVENT_CLERK_LOCKED, format!("clerk={CLERK} reason=idle")))
    );
}

/// The demo citizen's chip, proven genuine.
fn chip_read() -> Box<crate::flow::ChipRead> {
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
    Box::new(crate::flow::ChipRead {
        identity,
        evidence: kiosk_sync::ChipEvidence {
            sod: "U09E".into(),
            data_groups: vec![],
        },
    })
}

impl Rig {
    /// Signed in, a counter registration started, the card read, the
    /// phone typed: the clerk's face check.
    fn counter_face_check(&mut self) -> SessionId {
        self.sign_in(CLERK_PIN);
        self.c.on_choose("counter-register");
        assert_eq!(self.c.view().page, Page::CardKey, "straight to the card");
        self.type_in("personal_id", "001203004567");
        self.type_in("date_of_birth", "15032003");
        self.type_in("card_expiry", "15032028");
        self.effects();
        self.c.on_submit();
        self.status(Status {
            card_reader: true,
            card_present: true,
            ..ready()
        });
        let effects = self.effects();
        let Some((session, _)) = effects
            .iter()
            .find(|(_, e)| matches!(e, Effect::ReadCard(_)))
        else {
            panic!("the chip is read: {effects:?}");
        };
        let session = *session;
        self.answer(
            session,
            Event::CardRead(crate::flow::CardOutcome::Read(chip_read())),
        );
        assert_eq!(self.c.view().page, Page::Form);
        self.type_in("phone", "0966123456");
        self.c.on_submit();
        assert_eq!(self.c.view().page, Page::Choice);
        session
    }
}

#[test]
fn a_counter_registration_is_the_citizens_to_type_and_carries_the_clerk() {
    let mut rig = counter_rig();
    let session = rig.counter_face_check();
    let view = rig.c.view();
    assert_eq!(view.step, "Bước 2/5");
    assert!(view.methods[0].detail.contains("001203004567"));
    rig.audited();
    rig.effects();
    rig.c.on_choose("face-ok");
    assert_eq!(
        rig.audited(),
        [(
            EVENT_FACE_CHECKED,
            format!("clerk={CLERK} outcome=confirmed")
        )]
    );
    assert!(matches!(
        rig.effects()[..],
        [(_, Effect::CheckDuplicate(_))]
    ));
    rig.answer(
        session,
        Event::DuplicateChecked(DuplicateOutcome::CheckedLocallyOnly),
    );
    let code = match &rig.effects()[..] {
        [(_, Effect::SendOtp { text, .. })] => text
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap()
            .to_string(),
        other => panic!("{other:?}"),
    };
    rig.answer(session, Event::OtpDelivered);
    rig.type_in("otp", &code);
    let view = rig.c.view();
    assert_eq!(view.page, Page::Otp);
    assert!(
        view.message.contains("Mời công dân tự nhập"),
        "{}",
        view.message
    );
    assert_eq!(view.fields[0].value, "●●●●●●", "the clerk sees dots");
    rig.c.on_submit();
    assert_eq!(rig.c.view().page, Page::Password);
    rig.type_in("password", "Matkhau@2026");
    rig.type_in("confirm", "Matkhau@2026");
    rig.c.on_submit();
    let draft = match rig.effects().pop() {
        Some((_, Effect::Store(draft))) => draft,
        other => panic!("{other:?}"),
    };
    assert_eq!(draft.method, Method::Counter);
    assert_eq!(draft.level.get(), 3);
    let clerk = draft.clerk.as_ref().expect("the clerk on duty");
    assert_eq!(
        (clerk.clerk_id.as_str(), clerk.signed_in_by),
        (CLERK, "pin")
    );
    assert!(draft.applicant.chip.is_some());
}

#[test]
fn a_lock_before_the_registration_is_stored_drops_it_and_a_mismatch_stores_nothing() {
    let mut rig = counter_rig();
    rig.counter_face_check();
    rig.c.on_choose("face-no");
    let view = rig.c.view();
    assert_eq!(view.page, Page::Failed);
    assert!(
        view.message.contains("không phải người có thẻ"),
        "{}",
        view.message
    );
    rig.c.on_submit();
    assert_eq!(rig.c.view().page, Page::CounterHome);
    // Half-way through the next one, the counter locks: the citizen's
    // data goes with it; nothing was acknowledged, nothing is stored.
    rig.c.on_choose("counter-register");
    rig.type_in("card_can", "123456");
    rig.c.on_counter_lock();
    assert_eq!(rig.c.view().page, Page::Form);
    assert!(
        !rig.effects()
            .iter()
            .any(|(_, e)| matches!(e, Effect::Store(_)))
    );
    let ids: Vec<String> = rig.c.view().fields.into_iter().map(|f| f.value).collect();
    assert_eq!(ids, ["", ""]);
}

impl Rig {
    /// A counter registration whose person already has an account: the
    /// exists page, at the counter.
    fn counter_account_exists(&mut self) -> SessionId {
        let session = self.counter_face_check();
        self.c.on_choose("face-ok");
        self.effects();
        self.answer(
            session,
            Event::DuplicateChecked(DuplicateOutcome::AccountExists),
        );
        self.answer(session, Event::HandoffIssued(None));
        assert_eq!(self.c.view().page, Page::Exists);
        self.effects();
        session
    }
}

#[test]
fn a_complaint_at_the_counter_carries_the_chip_and_the_clerk() {
    let mut rig = counter_rig();
    let session = rig.counter_account_exists();
    rig.c.on_choose("complaint");
    rig.c.on_choose("identity_misused");
    assert_eq!(rig.c.view().fields[0].value, "0966123456");
    rig.c.on_submit();
    let code: String = match &rig.effects()[..] {
        [(_, Effect::SendOtp { text, .. })] => text
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect(),
        other => panic!("{other:?}"),
    };
    rig.answer(session, Event::OtpDelivered);
    rig.type_in("otp", &code);
    rig.c.on_submit();
    let effects = rig.effects();
    let [(_, Effect::FileComplaint(draft))] = &effects[..] else {
        panic!("{effects:?}");
    };
    assert_eq!(draft.method, Method::Counter);
    assert_eq!(draft.clerk.as_ref().unwrap().clerk_id, CLERK);
    let chip = draft.chip.as_ref().expect("the chip's proof goes with it");
    assert_eq!(chip.identity.cccd.as_str(), "001203004567");
    // Printed, the draft shows neither the chip's data nor the number.
    let shown = format!("{draft:?}");
    assert!(
        !shown.contains("001203004567") && !shown.contains("U09E"),
        "{shown}"
    );
}

#[test]
fn a_password_reset_at_the_counter_is_queued_offline_with_the_chip_and_the_clerk() {
    let mut rig = counter_rig();
    let session = rig.counter_account_exists();
    let view = rig.c.view();
    let forgot = view.methods.iter().find(|m| m.id == "forgot").unwrap();
    assert!(forgot.enabled, "offline too, at a counter");
    rig.c.on_choose("forgot");
    let view = rig.c.view();
    assert_eq!(view.page, Page::Password);
    assert!(
        view.message.contains("Mời công dân tự nhập"),
        "{}",
        view.message
    );
    assert_eq!(view.step, "");
    // Back: the exists page again.
    rig.c.on_back();
    assert_eq!(rig.c.view().page, Page::Exists);
    rig.c.on_choose("forgot");
    rig.type_in("password", "MoiMoi@2026x");
    rig.type_in("confirm", "MoiMoi@2026x");
    rig.c.on_submit();
    let draft = match rig.effects().pop() {
        Some((_, Effect::FileCounterReset(draft))) => draft,
        other => panic!("{other:?}"),
    };
    assert_eq!(draft.clerk.as_ref().unwrap().clerk_id, CLERK);
    assert_eq!(
        draft.chip.as_ref().unwrap().identity.cccd.as_str(),
        "001203004567"
    );
    assert_eq!(draft.password.expose(), "MoiMoi@2026x");
    rig.answer(
        session,
        Event::Stored {
            reference: "MK-7K2M-9XQ4".into(),
        },
    );
    let view = rig.c.view();
    assert_eq!(view.page, Page::Done);
    assert_eq!(view.reference, "MK-7K2M-9XQ4");
    assert!(
        view.lines.iter().any(|l| l.contains("mất kết nối")),
        "{:?}",
        view.lines
    );
    rig.c.on_submit();
    assert_eq!(rig.c.view().page, Page::CounterHome);
}
