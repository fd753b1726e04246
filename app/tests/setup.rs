//! The technician's setup of a kiosk never enrolled, against the reference
//! portal over real HTTP: the device key's fingerprint on screen, what is
//! typed checked, the setup read from `kiosk-enrol.toml` on a "USB stick"
//! (a directory), a wrong code refused with the portal's reason, the right
//! one enrolling the kiosk (its enrolment file written) and the kiosk due to
//! restart; later, the technician's page behind five taps and the PIN.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kiosk::config::PasswordHashCost;
use kiosk::controller::{Controller, SETUP_FILE, Technician, View, device_fingerprint};
use kiosk::domain::clock::ManualClock;
use kiosk::keys::Keyring;
use kiosk::policy::Policy;
use kiosk::uplink::Enrolment;
use kiosk::worker::SetupWorker;
use kiosk_portal::Portal;
use kiosk_portal::server::{self, ServerConfig, Shared};
use kiosk_sync::{DeviceKey, PortalSecretKey};
use kiosk_ui::Page;
use time::macros::datetime;

const TECHNICIAN_PIN: &str = "135790";

struct Rig {
    c: Controller,
    clock: ManualClock,
    data: tempfile::TempDir,
    usb: tempfile::TempDir,
    fingerprint: String,
}

fn rig(enrolled: Option<(i64, String)>, setup_required: bool) -> Rig {
    let data = tempfile::tempdir().unwrap();
    let usb = tempfile::tempdir().unwrap();
    let keys = Keyring::open_or_create(&data.path().join("keys")).unwrap();
    let fingerprint = device_fingerprint(&keys.device().public_key().to_bytes());
    let clock = ManualClock::starting_at(datetime!(2026-12-05 08:00 +7));
    let mut c = Controller::new(
        Arc::new(Policy::built_in().clone()),
        Box::new(SetupWorker::spawn(keys)),
        Box::new(clock.clone()),
    );
    let cheap = PasswordHashCost {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };
    let pin_hash = kiosk::register::hash_password(TECHNICIAN_PIN, cheap).unwrap();
    c.set_technician(Technician::new(
        fingerprint.clone(),
        data.path().to_path_buf(),
        vec![usb.path().to_path_buf()],
        Some(pin_hash.to_string()),
        enrolled,
        setup_required,
    ));
    Rig {
        c,
        clock,
        data,
        usb,
        fingerprint,
    }
}

impl Rig {
    fn type_in(&mut self, field: &str, text: &str) {
        self.c.on_focus(field);
        for _ in 0..130 {
            self.c.on_key("⌫");
        }
        for key in text.chars() {
            self.c.on_key(&key.to_string());
        }
    }

    fn error(&self, field: &str) -> String {
        self.view()
            .fields
            .into_iter()
            .find(|f| f.id == field)
            .map(|f| f.error)
            .unwrap_or_default()
    }

    fn view(&self) -> View {
        self.c.view()
    }
}

/// The reference portal on a loopback port, with its runtime.
fn portal() -> (
    tokio::runtime::Runtime,
    Arc<Shared>,
    server::Loopback,
    tempfile::TempDir,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let portal = Portal::open(
        &dir.path().join("portal.sqlite3"),
        PortalSecretKey::generate(),
    )
    .unwrap();
    let shared = Shared::new(portal, DeviceKey::generate(), ServerConfig::default());
    let server = runtime
        .block_on(server::serve_loopback(Arc::clone(&shared)))
        .unwrap();
    (runtime, shared, server, dir)
}

fn write_setup(usb: &Path, portal: &str, code: &str) {
    let stick = usb.join("usb-sdb1");
    std::fs::create_dir_all(&stick).unwrap();
    std::fs::write(
        stick.join(SETUP_FILE),
        format!("portal = \"{portal}\"\ncode = \"{code}\"\n"),
    )
    .unwrap();
}

#[test]
fn a_new_kiosk_is_enrolled_from_its_setup_page_and_then_restarts() {
    let (_runtime, shared, server, _portal_dir) = portal();
    let mut r = rig(None, true);
    assert!(r.c.first_boot());
    let view = r.view();
    assert_eq!(view.page, Page::Form);
    let ids: Vec<&str> = view.fields.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["portal_url", "enrol_code", "tls_pin"]);
    assert!(
        view.card_detail.contains(&r.fingerprint),
        "{}",
        view.card_detail
    );
    // It waits for its technician, and no tap leads anywhere else.
    r.clock.advance(3600);
    r.c.on_tick();
    for _ in 0..5 {
        r.c.on_technician_tap();
    }
    assert_eq!(r.view().page, Page::Form);
    assert_eq!(r.view().idle_left, None);

    // Typed wrong: a plain-http portal elsewhere, an https one with no pin.
    r.type_in("portal_url", "http://portal.tinh.gov.vn");
    r.type_in("enrol_code", "ABC");
    r.c.on_submit();
    assert!(
        r.error("portal_url").contains("https"),
        "{}",
        r.error("portal_url")
    );
    r.type_in("portal_url", "dichvucong.tinh.gov.vn");
    r.c.on_submit();
    assert!(
        r.error("tls_pin").contains("mã ghim"),
        "{}",
        r.error("tls_pin")
    );

    // The USB stick: nothing on it yet, then the administrator's file with
    // a code the portal never issued.
    r.c.on_use_card();
    assert!(r.error("portal_url").contains("kiosk-enrol.toml"));
    write_setup(r.usb.path(), &server.url(), "WRONG-CODE");
    r.c.on_use_card();
    assert_eq!(r.view().fields[0].value, server.url());
    r.c.on_submit();
    assert!(r.c.settle(Duration::from_secs(20)));
    let view = r.view();
    assert_eq!(view.page, Page::Form, "back to the setup");
    assert!(
        r.error("enrol_code").contains("Không đăng ký được"),
        "{}",
        r.error("enrol_code")
    );
    assert!(Enrolment::load(r.data.path()).unwrap().is_none());

    // The right code.
    let code = shared
        .portal()
        .issue_enrolment_code(server::now(), 600)
        .unwrap();
    r.type_in("enrol_code", &code);
    r.c.on_submit();
    assert!(r.c.settle(Duration::from_secs(20)));
    let view = r.view();
    assert_eq!(view.page, Page::Info, "{view:?}");
    let enrolment = Enrolment::load(r.data.path()).unwrap().expect("enrolled");
    assert_eq!(enrolment.portal_url, server.url().trim_end_matches('/'));
    assert!(view.message.contains(&enrolment.kiosk_id.to_string()));
    let kiosks = shared.portal().kiosks().unwrap();
    assert_eq!(kiosks.len(), 1);
    // Shown a moment, then the service manager starts it again.
    assert!(!r.c.restart_due());
    r.clock.advance(5);
    assert!(r.c.restart_due());
}

#[test]
fn later_the_technicians_page_is_behind_five_taps_and_the_pin() {
    // A kiosk given the portal's key in its configuration, never enrolled:
    // it takes registrations; no setup stands in its way.
    let r = rig(None, false);
    assert!(!r.c.first_boot());
    assert_eq!(r.view().page, Page::Home);
    let mut r = rig(Some((7, "https://dichvucong.tinh.gov.vn".into())), false);
    assert!(!r.c.first_boot());
    assert_eq!(r.view().page, Page::Home);
    // Four taps, a pause, four more: nothing.
    for _ in 0..4 {
        r.c.on_technician_tap();
    }
    r.clock.advance(4);
    for _ in 0..4 {
        r.c.on_technician_tap();
    }
    assert_eq!(r.view().page, Page::Home);
    r.c.on_technician_tap();
    assert_eq!(r.view().page, Page::Pin);
    r.type_in("pin", "000000");
    r.c.on_submit();
    assert_eq!(r.view().page, Page::Pin);
    assert!(r.error("pin").contains("không đúng"), "{}", r.error("pin"));
    r.type_in("pin", TECHNICIAN_PIN);
    r.c.on_submit();
    let view = r.view();
    assert_eq!(view.page, Page::Choice);
    assert!(view.message.contains(&r.fingerprint), "{}", view.message);
    assert!(view.message.contains("máy số 7"), "{}", view.message);
    r.c.on_choose("setup");
    assert_eq!(r.view().page, Page::Form);
    r.c.on_cancel();
    assert_eq!(r.view().page, Page::Home);
    // A citizen's visit: the taps are not the technician's.
    r.c.on_register();
    for _ in 0..5 {
        r.c.on_technician_tap();
    }
    assert_eq!(r.view().page, Page::Subject);
}
