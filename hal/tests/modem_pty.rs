//! The modem driver against the simulator on a real pseudo-terminal, opened
//! through `serialport` as a kiosk opens its USB modem: every fault end to end.

use std::path::PathBuf;
use std::time::Duration;

use kiosk_hal::modem::at::Cause;
use kiosk_hal::modem::sim::{SimCard, Simulator};
use kiosk_hal::modem::{
    Locator, ModemConfig, ModemError, ModemService, Registration, SimStatus, SmsSender, Timeouts,
    connect,
};

const OTP: &str = "Ma OTP dang ky tai khoan Cong DVC cua ban la 482913. Ma co hieu luc 5 phut.";
const VALIDITY: Duration = Duration::from_secs(300);

/// Short timeouts, so a silent modem costs a test a fraction of a second.
const FAST: Timeouts = Timeouts {
    quick: Duration::from_millis(400),
    slow: Duration::from_millis(400),
    sms: Duration::from_millis(800),
};

struct Bench {
    _dir: tempfile::TempDir,
    sim: Simulator,
    link: PathBuf,
}

fn bench() -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyModem");
    let sim = Simulator::start(&link).unwrap();
    Bench {
        _dir: dir,
        sim,
        link,
    }
}

fn connect_to(b: &Bench) -> kiosk_hal::modem::AtModem<serialport::TTYPort> {
    connect(
        &Locator::Path(b.link.clone()),
        std::path::Path::new("/sys"),
        FAST,
    )
    .unwrap()
}

#[test]
fn bring_up_health_and_one_otp_in_one_round_trip() {
    let b = bench();
    let mut modem = connect_to(&b);
    let health = modem.health().unwrap();
    assert_eq!(health.sim, Some(SimStatus::Ready));
    assert_eq!(health.registration, Some(Registration::Home));
    assert_eq!(health.signal.map(|s| (s.dbm, s.bars)), Some((-71, 4)));
    assert_eq!(health.operator.as_deref(), Some("Viettel"));
    assert!(health.can_send() && health.problem.is_none());

    let before = modem.round_trips();
    let refs = modem.send_sms("+84912345678", OTP, VALIDITY).unwrap();
    assert_eq!(
        modem.round_trips() - before,
        1,
        "one AT+CMGS after bring-up"
    );
    assert_eq!(refs, vec![1]);
    let sent = b.sim.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].decoded.destination, "+84912345678");
    assert_eq!(sent[0].decoded.text, OTP);
}

#[test]
fn a_long_vietnamese_text_goes_as_parts_each_confirmed() {
    let b = bench();
    let mut modem = connect_to(&b);
    let text = "Cổng dịch vụ công tỉnh Quảng Ngãi: mã xác nhận của bạn là 482913. ".repeat(2);
    let refs = modem.send_sms("+84987654321", &text, VALIDITY).unwrap();
    assert_eq!(refs, vec![1, 2]);
    let joined: String = b
        .sim
        .sent()
        .iter()
        .map(|s| s.decoded.text.clone())
        .collect();
    assert_eq!(joined, text);
}

#[test]
fn unsolicited_lines_at_awkward_moments_change_nothing() {
    let b = bench();
    b.sim.set_faults(|f| f.noisy = true);
    let mut modem = connect_to(&b);
    let health = modem.health().unwrap();
    assert!(health.can_send(), "{health:?}");
    assert_eq!(
        modem.send_sms("+84912345678", OTP, VALIDITY).unwrap(),
        vec![1]
    );
    let urcs = modem.take_urcs();
    assert!(
        urcs.iter().any(|u| u == "RING") && urcs.iter().any(|u| u.starts_with("^RSSI")),
        "{urcs:?}"
    );
}

#[test]
fn a_missing_sim_is_reported_and_refuses_to_send() {
    let b = bench();
    b.sim.set_faults(|f| f.sim = SimCard::Missing);
    let mut modem = connect_to(&b);
    let health = modem.health().unwrap();
    assert_eq!(health.sim, Some(SimStatus::Missing));
    assert!(!health.can_send());
    let err = modem.send_sms("+84912345678", OTP, VALIDITY).unwrap_err();
    assert_eq!(err.cause(), Some(Cause::SimMissing), "{err}");
    assert!(b.sim.sent().is_empty());
}

#[test]
fn a_sim_asking_for_a_pin_is_reported_never_guessed() {
    let b = bench();
    b.sim.set_faults(|f| f.sim = SimCard::PinRequired);
    let mut modem = connect_to(&b);
    let health = modem.health().unwrap();
    assert_eq!(health.sim, Some(SimStatus::PinRequired));
    assert!(health.problem.unwrap().contains("PIN"));
    let err = modem.send_sms("+84912345678", OTP, VALIDITY).unwrap_err();
    assert_eq!(err.cause(), Some(Cause::SimPinRequired));
}

#[test]
fn no_network_means_searching_no_signal_and_no_sms() {
    let b = bench();
    b.sim.set_faults(|f| f.registered = false);
    let mut modem = connect_to(&b);
    let health = modem.health().unwrap();
    assert_eq!(
        (health.registration, health.signal),
        (Some(Registration::Searching), None)
    );
    let err = modem.send_sms("+84912345678", OTP, VALIDITY).unwrap_err();
    assert_eq!(err.cause(), Some(Cause::NoNetwork));
}

#[test]
fn a_network_refusal_carries_its_cms_cause() {
    let b = bench();
    b.sim.set_faults(|f| f.cms_error = Some(42));
    let mut modem = connect_to(&b);
    let err = modem.send_sms("+84912345678", OTP, VALIDITY).unwrap_err();
    assert_eq!(err.cause(), Some(Cause::NetworkBusy));
    b.sim.set_faults(|f| f.cms_error = Some(28));
    let err = modem.send_sms("+84912345678", OTP, VALIDITY).unwrap_err();
    assert_eq!(err.cause(), Some(Cause::NetworkRejected));
}

#[test]
fn an_ok_without_message_reference_is_not_a_sent_sms() {
    let b = bench();
    b.sim.set_faults(|f| f.omit_message_reference = true);
    let mut modem = connect_to(&b);
    assert!(matches!(
        modem.send_sms("+84912345678", OTP, VALIDITY),
        Err(ModemError::NotConfirmed)
    ));
}

#[test]
fn slow_answers_within_the_timeout_succeed() {
    let b = bench();
    let mut modem = connect_to(&b);
    b.sim.set_faults(|f| f.delay = Duration::from_millis(150));
    assert_eq!(
        modem.send_sms("+84912345678", OTP, VALIDITY).unwrap(),
        vec![1]
    );
}

#[test]
fn a_hung_modem_times_out_and_recovers_when_it_answers_again() {
    let b = bench();
    let mut modem = connect_to(&b);
    b.sim.set_faults(|f| f.mute = true);
    let err = modem.send_sms("+84912345678", OTP, VALIDITY).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    b.sim.set_faults(|f| f.mute = false);
    // The abandoned PDU was cancelled with ESC; the modem takes commands again.
    assert!(modem.health().unwrap().can_send());
}

#[test]
fn unplug_and_replug_is_survived_without_restarting() {
    let b = bench();
    let service = ModemService::spawn(ModemConfig {
        poll_interval: Duration::from_millis(50),
        timeouts: FAST,
        ..ModemConfig::new(Locator::Path(b.link.clone()))
    });
    let wait = Duration::from_secs(10);
    assert!(
        service.wait_for_health(wait, |h| h.can_send()).is_some(),
        "{:?}",
        service.health()
    );
    assert_eq!(
        service.send_sms("+84912345678", OTP, VALIDITY).unwrap(),
        vec![1]
    );

    let old_target = std::fs::read_link(&b.link).unwrap();
    b.sim.unplug();
    assert!(!b.link.exists());
    let gone = service
        .wait_for_health(wait, |h| !h.present)
        .expect("the loss is published");
    assert!(gone.problem.is_some());
    let err = service.send_sms("+84912345678", OTP, VALIDITY).unwrap_err();
    assert!(err.is_connection_lost(), "{err}");

    b.sim.replug();
    assert_ne!(
        std::fs::read_link(&b.link).unwrap(),
        old_target,
        "replugged under another name"
    );
    assert!(
        service.wait_for_health(wait, |h| h.can_send()).is_some(),
        "{:?}",
        service.health()
    );
    assert_eq!(
        service.send_sms("+84912345678", OTP, VALIDITY).unwrap(),
        vec![1]
    );
    assert_eq!(b.sim.sent().len(), 2);
}

#[test]
fn a_second_process_cannot_open_the_modem_while_the_kiosk_holds_it() {
    let b = bench();
    let _modem = connect_to(&b);
    let second = serialport::new(b.link.to_string_lossy(), 115_200).open_native();
    assert!(second.is_err(), "the exclusive lock let a second opener in");
}
