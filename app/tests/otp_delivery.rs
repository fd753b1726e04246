//! OTP delivery end to end: the flow's SendOtp effect goes through the
//! courier to the modem service, over a pty, to the simulated modem; the
//! citizen types the code from the SMS the modem sent.

mod support;

use std::sync::Arc;

use kiosk::courier::Courier;
use kiosk::domain::{Method, SubjectKind};
use kiosk::flow::{
    self, DeliveryFailure, DuplicateOutcome, Effect, Event, Form, Screen, SubscriberOutcome,
};
use kiosk::policy::Policy;
use kiosk_hal::modem::sim::SimCard;
use rand::SeedableRng;
use support::{Fixture, ModemRig};
use time::macros::datetime;
use zeroize::Zeroizing;

fn sms_effect(effects: &[Effect]) -> (kiosk::domain::PhoneNumber, String) {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::SendOtp { to, text } => Some((to.clone(), text.to_string())),
            _ => None,
        })
        .expect("a SendOtp effect")
}

fn code_in(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .to_string()
}

/// A mobile-subscriber registration walked to its first SendOtp effect.
fn to_first_sms(
    policy: &Arc<Policy>,
    online: bool,
    rng: &mut rand::rngs::StdRng,
) -> (flow::AnyRegistration, Vec<Effect>) {
    let now = datetime!(2026-11-28 10:00 +7);
    let (mut reg, _) = flow::start(
        Method::MobileSubscriber,
        SubjectKind::Citizen,
        Arc::clone(policy),
        online,
    )
    .unwrap();
    let mut form = Form::default();
    form.full_name = "Võ Thị Sáu".into();
    form.personal_id = "051199001199".into();
    form.date_of_birth = "01/01/1999".into();
    form.phone = "0912 345 678".into();
    reg.handle(now, Event::Submit(form), rng).unwrap();
    let (dup, sub) = if online {
        (DuplicateOutcome::NoAccount, SubscriberOutcome::Confirmed)
    } else {
        (
            DuplicateOutcome::CheckedLocallyOnly,
            SubscriberOutcome::Unavailable,
        )
    };
    reg.handle(now, Event::DuplicateChecked(dup), rng).unwrap();
    let effects = reg.handle(now, Event::SubscriberChecked(sub), rng).unwrap();
    (reg, effects)
}

#[test]
fn the_code_reaches_the_phone_through_the_modem_and_completes_the_flow() {
    let rig = ModemRig::start();
    let mut kiosk = Fixture::new();
    let policy = Arc::new(Policy::built_in().clone());
    let courier = Courier {
        modem: &rig.service,
        keys: &kiosk.keys,
        policy: &policy,
    };
    let now = datetime!(2026-11-28 10:00 +7);
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let (mut reg, effects) = to_first_sms(&policy, true, &mut rng);
    let (to, text) = sms_effect(&effects);

    let event = courier.deliver(&mut kiosk.store, &to, &text, now).unwrap();
    assert!(matches!(event, Event::OtpDelivered));
    // The phone received exactly what the flow asked for; the citizen reads the code off it.
    let sent = rig.sim.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (
            sent[0].decoded.destination.as_str(),
            sent[0].decoded.text.as_str()
        ),
        ("+84912345678", text.as_str())
    );
    let code = code_in(&sent[0].decoded.text);

    reg.handle(now, event, &mut rng).unwrap();
    reg.handle(now, Event::OtpEntered(Zeroizing::new(code)), &mut rng)
        .unwrap();
    assert_eq!(reg.step(), "password");
    assert_eq!(
        kiosk
            .store
            .otp_sent_since(&kiosk.keys.phone_tag("+84912345678"), 0)
            .unwrap(),
        1
    );
}

#[test]
fn modem_faults_reach_the_citizen_as_causes_and_a_retry_works() {
    let rig = ModemRig::start();
    let mut kiosk = Fixture::new();
    let policy = Policy::built_in().clone();
    let courier = Courier {
        modem: &rig.service,
        keys: &kiosk.keys,
        policy: &policy,
    };
    let now = datetime!(2026-11-28 10:00 +7);
    let to = kiosk::domain::PhoneNumber::parse("0368123456", &policy.identifiers).unwrap();
    type Fault<'a> = &'a dyn Fn(&mut kiosk_hal::modem::sim::Faults);
    let cases: [(Fault, DeliveryFailure); 4] = [
        (&|f| f.registered = false, DeliveryFailure::NoSignal),
        (&|f| f.sim = SimCard::Missing, DeliveryFailure::NoSim),
        (&|f| f.cms_error = Some(28), DeliveryFailure::Rejected),
        (
            &|f| f.omit_message_reference = true,
            DeliveryFailure::Timeout,
        ),
    ];
    for (fault, expected) in cases {
        rig.sim.set_faults(|f| *f = Default::default());
        rig.sim.set_faults(fault);
        let event = courier
            .deliver(&mut kiosk.store, &to, "Ma OTP 123456", now)
            .unwrap();
        assert!(
            matches!(event, Event::OtpNotDelivered(f) if f == expected),
            "{event:?} for {expected:?}"
        );
    }
    // Nothing that was not confirmed counts against the daily limit.
    assert_eq!(
        kiosk
            .store
            .otp_sent_since(&kiosk.keys.phone_tag(to.e164()), 0)
            .unwrap(),
        0
    );
    rig.sim.set_faults(|f| *f = Default::default());
    assert!(matches!(
        courier
            .deliver(&mut kiosk.store, &to, "Ma OTP 123456", now)
            .unwrap(),
        Event::OtpDelivered
    ));
}

#[test]
fn a_missing_modem_is_no_modem() {
    let rig = ModemRig::start();
    let mut kiosk = Fixture::new();
    let policy = Policy::built_in().clone();
    let courier = Courier {
        modem: &rig.service,
        keys: &kiosk.keys,
        policy: &policy,
    };
    rig.sim.unplug();
    let to = kiosk::domain::PhoneNumber::parse("0368123456", &policy.identifiers).unwrap();
    let event = courier
        .deliver(
            &mut kiosk.store,
            &to,
            "Ma OTP 123456",
            datetime!(2026-11-28 10:00 +7),
        )
        .unwrap();
    assert!(
        matches!(event, Event::OtpNotDelivered(DeliveryFailure::NoModem)),
        "{event:?}"
    );
}

#[test]
fn the_daily_cap_holds_across_sessions_without_touching_the_modem() {
    let rig = ModemRig::start();
    let mut kiosk = Fixture::new();
    let mut policy = Policy::built_in().clone();
    policy.otp.max_sms_per_number_per_day = 4;
    let courier = Courier {
        modem: &rig.service,
        keys: &kiosk.keys,
        policy: &policy,
    };
    let to = kiosk::domain::PhoneNumber::parse("0912345678", &policy.identifiers).unwrap();
    let morning = datetime!(2026-11-28 08:00 +7);
    for i in 0..4 {
        let at = morning + time::Duration::minutes(i * 10);
        assert!(matches!(
            courier
                .deliver(&mut kiosk.store, &to, "Ma OTP 111111", at)
                .unwrap(),
            Event::OtpDelivered
        ));
    }
    let event = courier
        .deliver(
            &mut kiosk.store,
            &to,
            "Ma OTP 111111",
            morning + time::Duration::hours(2),
        )
        .unwrap();
    assert!(matches!(
        event,
        Event::OtpNotDelivered(DeliveryFailure::DailyLimit)
    ));
    assert_eq!(rig.sim.sent().len(), 4, "the fifth never reached the modem");
    // Another number is not affected; the next day the first number may receive again.
    let other = kiosk::domain::PhoneNumber::parse("0912345679", &policy.identifiers).unwrap();
    assert!(matches!(
        courier
            .deliver(&mut kiosk.store, &other, "x", morning)
            .unwrap(),
        Event::OtpDelivered
    ));
    let tomorrow = morning + time::Duration::hours(25);
    assert!(matches!(
        courier
            .deliver(&mut kiosk.store, &to, "x", tomorrow)
            .unwrap(),
        Event::OtpDelivered
    ));
}

#[test]
fn the_flow_shows_the_cause_and_retries_after_a_failed_delivery() {
    let rig = ModemRig::start();
    let mut kiosk = Fixture::new();
    let policy = Arc::new(Policy::built_in().clone());
    let courier = Courier {
        modem: &rig.service,
        keys: &kiosk.keys,
        policy: &policy,
    };
    let now = datetime!(2026-11-28 10:00 +7);
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let (mut reg, effects) = to_first_sms(&policy, false, &mut rng);
    rig.sim.set_faults(|f| f.registered = false);
    let (to, text) = sms_effect(&effects);
    let event = courier.deliver(&mut kiosk.store, &to, &text, now).unwrap();
    let effects = reg.handle(now, event, &mut rng).unwrap();
    assert!(matches!(
        effects[..],
        [Effect::Show(Screen::OtpNotSent {
            failure: DeliveryFailure::NoSignal
        })]
    ));

    rig.sim.set_faults(|f| f.registered = true);
    let effects = reg.handle(now, Event::RetryDelivery, &mut rng).unwrap();
    let (to, text) = sms_effect(&effects);
    let event = courier.deliver(&mut kiosk.store, &to, &text, now).unwrap();
    reg.handle(now, event, &mut rng).unwrap();
    let code = code_in(&rig.sim.sent()[0].decoded.text);
    reg.handle(now, Event::OtpEntered(Zeroizing::new(code)), &mut rng)
        .unwrap();
    assert_eq!(reg.step(), "password");
}
