//! Registering with the chip of the CCCD card, driven as the screens drive
//! the controller: the virtual card on the "Virtual PCD" reader of the
//! `pcscd` that tests/run starts, the real worker reading it through
//! PC/SC, the simulated modem on a pty, and the store on disk. The chip's
//! data fills the form only once passive authentication has passed.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use kiosk::card::CardService;
use kiosk::controller::{Controller, View};
use kiosk::domain::clock::ManualClock;
use kiosk::policy::Policy;
use kiosk::worker::{Backend, Worker};
use kiosk_hal::card::chip::{ChipFiles, verify};
use kiosk_hal::card::lds::File;
use kiosk_hal::card::sim::chip::{Faults, VirtualChip};
use kiosk_hal::card::sim::issue::{Citizen, Document, Pki};
use kiosk_hal::card::sim::vpcd::Placed;
use kiosk_hal::modem::sim::Simulator;
use kiosk_sync::{Envelope, RegistrationPayload};
use kiosk_ui::Page;
use support::{Fixture, ModemRig, all_bytes, contains};
use time::OffsetDateTime;
use time::macros::datetime;

const WAIT: Duration = Duration::from_secs(20);
const T0: OffsetDateTime = datetime!(2026-11-28 10:00 +7);

/// One virtual reader: one test at a time puts a card on it.
fn reader() -> MutexGuard<'static, ()> {
    static READER: Mutex<()> = Mutex::new(());
    READER.lock().unwrap_or_else(|e| e.into_inner())
}

fn vpcd_port() -> u16 {
    std::env::var("KIOSK_VPCD_PORT")
        .expect("run through tests/run, which starts pcscd with vsmartcard-vpcd")
        .parse()
        .unwrap()
}

/// A test CSCA and Document Signer, made once for this test binary.
fn pki() -> &'static (tempfile::TempDir, Pki) {
    static PKI: std::sync::OnceLock<(tempfile::TempDir, Pki)> = std::sync::OnceLock::new();
    PKI.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::create(&dir.path().join("vn"), "Test VN", 365).unwrap();
        (dir, pki)
    })
}

struct Kiosk {
    controller: Controller,
    sim: Simulator,
    data: tempfile::TempDir,
    portal: kiosk_sync::PortalSecretKey,
    _tty: tempfile::TempDir,
}

fn kiosk() -> Kiosk {
    let ModemRig {
        dir: tty,
        sim,
        service,
    } = ModemRig::start();
    let Fixture {
        dir,
        keys,
        portal,
        store,
    } = Fixture::new();
    let policy = Arc::new(Policy::built_in().clone());
    let backend = Backend {
        policy: Arc::clone(&policy),
        modem: Some(Box::new(service)),
        cards: Some(CardService::start(pki().1.csca_dir())),
        ..support::bare_backend(store, keys, portal.public_key())
    };
    let clock = ManualClock::starting_at(T0);
    let mut controller = Controller::new(policy, Box::new(Worker::spawn(backend)), Box::new(clock));
    wait_until(&mut controller, |v| {
        v.status.modem_ready && v.status.card_reader
    });
    Kiosk {
        controller,
        sim,
        data: dir,
        portal,
        _tty: tty,
    }
}

/// Asks for status until the view satisfies `until`: the card reaches the
/// controller with the status, as the window's timer asks for it.
fn wait_until(c: &mut Controller, until: impl Fn(&View) -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        assert!(c.settle(WAIT), "the worker does not answer");
        if until(&c.view()) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "waited in vain; the kiosk shows {:?} ({}) {:?}",
            c.view().page,
            c.view().title,
            c.view().status
        );
        assert!(c.wait_for_status(WAIT), "the worker does not answer");
    }
}

fn card(citizen: &Citizen, change: impl FnOnce(&mut Document), faults: Faults) -> Placed {
    let mut doc = Document::issue(citizen, &pki().1).unwrap();
    change(&mut doc);
    Placed::on_reader(vpcd_port(), VirtualChip::new(doc, faults), WAIT)
        .unwrap()
        .seen(WAIT)
        .unwrap()
}

fn digits(date: &str) -> String {
    date.replace('/', "")
}

impl Kiosk {
    fn type_into(&mut self, field: &str, keys: &str) {
        self.controller.on_focus(field);
        self.type_keys(keys);
    }

    fn type_keys(&mut self, keys: &str) {
        for key in keys.chars() {
            self.controller.on_key(&key.to_string());
        }
    }

    fn field(&self, id: &str) -> kiosk::controller::FieldView {
        let view = self.controller.view();
        view.fields
            .into_iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("no field {id} on {:?}", view.page))
    }

    fn page(&self) -> Page {
        self.controller.view().page
    }

    /// Home → Đăng ký → Công dân → `method`, then "Đọc thẻ CCCD gắn chip".
    fn open_card_pages(&mut self, method: &str) {
        self.controller.on_register();
        self.controller.on_choose_subject("citizen");
        self.controller.on_choose_method(method);
        let view = self.controller.view();
        assert_eq!(view.page, Page::Form);
        assert_eq!(view.card_label, "Đọc thẻ CCCD gắn chip");
        assert!(view.card_enabled, "{view:?}");
        self.controller.on_use_card();
        assert_eq!(self.page(), Page::CardKey);
        let ids: Vec<String> = self
            .controller
            .view()
            .fields
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(ids, ["personal_id", "date_of_birth", "card_expiry"]);
    }

    /// Types what is printed on `c`'s card (with `expiry` as its date of
    /// expiry) and goes on.
    fn type_card_key(&mut self, c: &Citizen, expiry: &str) {
        self.type_into("personal_id", &c.cccd);
        self.type_into("date_of_birth", &digits(&c.birth));
        self.type_into("card_expiry", &digits(expiry));
        self.controller.on_submit();
    }

    fn audit_verdicts(&self) -> Vec<String> {
        let db = rusqlite::Connection::open(self.data.path().join("kiosk.sqlite3")).unwrap();
        let mut q = db
            .prepare("SELECT detail FROM audit WHERE event = 'card.read' ORDER BY seq")
            .unwrap();
        q.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn last_code(&self) -> String {
        let sent = self.sim.sent();
        let text = &sent.last().expect("an SMS was sent").decoded.text;
        text.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap()
            .to_string()
    }

    fn only_payload(&self) -> RegistrationPayload {
        let store = kiosk::store::Store::open(&self.data.path().join("kiosk.sqlite3")).unwrap();
        let queue = store.queue().unwrap();
        assert_eq!(queue.len(), 1);
        let envelope =
            Envelope::from_bytes(&store.envelope(&queue[0].id).unwrap().unwrap()).unwrap();
        serde_json::from_slice(&envelope.open(&self.portal).unwrap()).unwrap()
    }
}

#[test]
fn the_chip_fills_the_form_locked_and_its_proof_is_sealed_in() {
    let _reader = reader();
    let c = Citizen::demo();
    let mut k = kiosk();
    k.open_card_pages("mobile_subscriber");
    let placed = card(&c, |_| {}, Faults::default());
    k.type_card_key(&c, &c.expires);
    wait_until(&mut k.controller, |v| v.page == Page::Form);

    for (id, value) in [
        ("full_name", c.full_name.as_str()),
        ("personal_id", c.cccd.as_str()),
        ("date_of_birth", c.birth.as_str()),
    ] {
        let f = k.field(id);
        assert_eq!(f.value, value);
        assert!(f.locked, "{id} is the chip's");
    }
    // What the chip proved cannot be typed over: its fields take no
    // focus, and the keys go to the field that has it.
    assert!(k.field("phone").focused, "the first field left to type");
    k.controller.on_focus("full_name");
    k.controller.on_focus("personal_id");
    assert!(k.field("phone").focused);
    k.type_keys("⌫⌫1");
    assert_eq!(k.field("full_name").value, c.full_name);
    assert_eq!(k.field("personal_id").value, c.cccd);
    assert_eq!(k.field("phone").value, "1");
    k.type_keys("⌫");
    let view = k.controller.view();
    assert!(view.card_label.is_empty(), "read once: {view:?}");
    assert!(view.card_detail.contains("chip"), "{}", view.card_detail);
    placed.removed(WAIT).unwrap();

    k.type_into("phone", "0966123456");
    k.controller.on_submit();
    assert!(k.controller.settle(WAIT));
    assert_eq!(k.page(), Page::Otp);
    let code = k.last_code();
    k.type_keys(&code);
    k.controller.on_submit();
    k.type_keys("Matkhau@2026⏎Matkhau@2026");
    k.controller.on_submit();
    assert!(k.controller.settle(WAIT));
    let view = k.controller.view();
    assert_eq!(view.page, Page::Done, "{view:?}");
    assert!(
        view.message.contains("mức 2"),
        "the chip's level: {}",
        view.message
    );

    let p = k.only_payload();
    assert_eq!(p.level, 2);
    assert_eq!(p.full_name.as_deref(), Some(c.full_name.as_str()));
    assert_eq!(p.personal_id.as_deref(), Some(c.cccd.as_str()));
    assert_eq!(p.date_of_birth.as_deref(), Some("2003-03-15"));
    // The chip's files, as read: the portal proves them again.
    let chip = p.chip.as_ref().expect("the chip's evidence is sealed in");
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap();
    let files = ChipFiles {
        sod: b64(&chip.sod),
        dgs: chip
            .data_groups
            .iter()
            .map(|g| (g.number, b64(&g.content)))
            .collect(),
        ..ChipFiles::default()
    };
    assert_eq!(files.dgs.keys().copied().collect::<Vec<_>>(), [1, 13]);
    let cscas = pki().1.cscas().unwrap();
    let v = verify(&files, &cscas, OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    assert_eq!(v.dg13.unwrap().id_number(), Some(c.cccd.as_str()));
    assert_eq!(k.audit_verdicts(), ["verdict=ok aa=passed"]);

    // Nothing of the citizen lies on disk in clear.
    for (path, bytes) in all_bytes(k.data.path()) {
        for secret in [&c.cccd, &c.full_name, "013456789"] {
            assert!(!contains(&bytes, secret.as_bytes()), "{secret} in {path}");
        }
    }
}

#[test]
fn the_old_cmnd_in_the_chip_finds_an_account_opened_with_it() {
    let _reader = reader();
    let c = Citizen::demo();
    let mut k = kiosk();
    // Years ago, with the old 9-digit card, typed.
    k.controller.on_register();
    k.controller.on_choose_subject("citizen");
    k.controller.on_choose_method("mobile_subscriber");
    k.type_into("full_name", "Nguyeenx Thij Thu Haf");
    k.type_into("personal_id", c.old_id.as_deref().unwrap());
    k.type_into("date_of_birth", &digits(&c.birth));
    k.type_into("phone", "0966123456");
    k.controller.on_submit();
    assert!(k.controller.settle(WAIT));
    let code = k.last_code();
    k.type_keys(&code);
    k.controller.on_submit();
    k.type_keys("Matkhau@2026⏎Matkhau@2026");
    k.controller.on_submit();
    assert!(k.controller.settle(WAIT));
    assert_eq!(k.page(), Page::Done);
    k.controller.on_submit();

    // Now with the chip card: its DG13 names the old number.
    k.open_card_pages("mobile_subscriber");
    let placed = card(&c, |_| {}, Faults::default());
    k.type_card_key(&c, &c.expires);
    wait_until(&mut k.controller, |v| v.page == Page::Form);
    placed.removed(WAIT).unwrap();
    k.type_into("phone", "0966123456");
    k.controller.on_submit();
    assert!(k.controller.settle(WAIT));
    assert_eq!(k.page(), Page::Exists);
}

#[test]
fn a_chip_that_fails_passive_authentication_fills_nothing() {
    let _reader = reader();
    let c = Citizen::demo();
    let clone = Faults {
        cloned: true,
        ..Faults::default()
    };
    for (change, faults, verdict) in [
        (
            Document::forge_signature as fn(&mut Document),
            Faults::default(),
            "signature",
        ),
        (
            |d: &mut Document| d.tamper(File::Dg(13)),
            Faults::default(),
            "hashes",
        ),
        // Genuine files copied onto another chip.
        (|_: &mut Document| {}, clone, "active-auth"),
    ] {
        let mut k = kiosk();
        k.open_card_pages("bhxh");
        let placed = card(&c, change, faults);
        k.type_card_key(&c, &c.expires);
        wait_until(&mut k.controller, |v| v.page == Page::CardRefused);
        let view = k.controller.view();
        assert_eq!(view.title, "Thẻ không xác thực được");
        assert_eq!(view.submit_label, "Nhập thông tin bằng tay");
        assert_eq!(k.audit_verdicts(), [format!("verdict={verdict}")]);
        placed.removed(WAIT).unwrap();
        // Back to the form: nothing of the chip, nothing locked; the date
        // of birth typed on the card's page is there, not to type twice.
        k.controller.on_submit();
        assert_eq!(k.page(), Page::Form);
        let view = k.controller.view();
        assert!(view.fields.iter().all(|f| !f.locked), "{view:?}");
        assert_eq!(k.field("full_name").value, "");
        assert_eq!(k.field("date_of_birth").value, c.birth);
        assert_eq!(view.card_label, "Đọc thẻ CCCD gắn chip", "may try again");
    }
}

#[test]
fn a_wrong_date_reopens_the_key_page_and_a_lifted_card_is_asked_for_again() {
    let _reader = reader();
    let c = Citizen::demo();
    let mut k = kiosk();
    k.open_card_pages("mobile_subscriber");
    // Not on the reader yet: the kiosk waits for it.
    k.type_card_key(&c, "15/03/2029");
    assert_eq!(k.page(), Page::CardPlace);
    let placed = card(&c, |_| {}, Faults::default());
    wait_until(&mut k.controller, |v| v.page == Page::CardKey);
    let error = k.field("personal_id").error;
    assert!(error.contains("không mở được"), "{error}");
    assert_eq!(k.audit_verdicts(), ["verdict=access"]);
    placed.removed(WAIT).unwrap();

    // The right date, and a card lifted halfway through the read.
    k.type_into(
        "card_expiry",
        &format!("{}{}", "⌫".repeat(10), digits(&c.expires)),
    );
    let lifted = card(
        &c,
        |_| {},
        Faults {
            pulled_after: Some(8),
            ..Faults::default()
        },
    );
    k.controller.on_submit();
    wait_until(&mut k.controller, |v| {
        v.page == Page::CardPlace && v.message.contains("nhấc ra")
    });
    lifted.removed(WAIT).unwrap();
    let placed = card(&c, |_| {}, Faults::default());
    wait_until(&mut k.controller, |v| v.page == Page::Form);
    assert!(k.field("full_name").locked);
    assert_eq!(
        k.audit_verdicts(),
        ["verdict=access", "verdict=removed", "verdict=ok aa=passed"]
    );
    placed.removed(WAIT).unwrap();
}

#[test]
fn what_is_typed_to_open_the_chip_is_checked_first() {
    let _reader = reader();
    let mut k = kiosk();
    k.open_card_pages("mobile_subscriber");
    k.type_into("personal_id", "013456789");
    k.type_into("date_of_birth", "15032003");
    k.type_into("card_expiry", "15032020");
    k.controller.on_submit();
    assert_eq!(k.page(), Page::CardKey);
    assert!(
        k.field("personal_id")
            .error
            .contains("CMND 9 số không có chip")
    );
    assert!(k.field("card_expiry").error.contains("quá ngày"));
    assert!(k.audit_verdicts().is_empty(), "no read was tried");
    // Back: the form, untouched by the card's pages.
    k.controller.on_back();
    assert_eq!(k.page(), Page::Form);
    assert!(!k.field("personal_id").locked);
}

/// The key page's own files exist only in memory: nothing typed there is
/// written anywhere.
#[test]
fn nothing_typed_on_the_card_pages_reaches_the_disk() {
    let _reader = reader();
    let c = Citizen::demo();
    let mut k = kiosk();
    k.open_card_pages("mobile_subscriber");
    k.type_card_key(&c, "15/03/2029");
    k.controller.on_cancel();
    assert_eq!(k.page(), Page::Home);
    for (path, bytes) in all_bytes(Path::new(k.data.path())) {
        assert!(!contains(&bytes, c.cccd.as_bytes()), "{path}");
        assert!(!contains(&bytes, b"150329"), "{path}");
    }
}

#[test]
fn the_can_alone_opens_a_chip_with_pace_and_an_older_chip_asks_for_the_dates() {
    let _reader = reader();
    let c = Citizen::demo();
    let mut k = kiosk();
    k.open_card_pages("mobile_subscriber");
    k.controller.on_card_key_other();
    let ids: Vec<String> = k
        .controller
        .view()
        .fields
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(ids, ["card_can"]);
    k.type_into("card_can", &c.can);
    let placed = card(&c, |_| {}, Faults::default());
    k.controller.on_submit();
    wait_until(&mut k.controller, |v| v.page == Page::Form);
    assert_eq!(k.field("personal_id").value, c.cccd);
    assert!(k.field("personal_id").locked);
    placed.removed(WAIT).unwrap();

    // A chip without PACE: the CAN cannot open it; the number and dates do.
    let mut k = kiosk();
    k.open_card_pages("mobile_subscriber");
    k.controller.on_card_key_other();
    k.type_into("card_can", &c.can);
    let older = Faults {
        bac_only: true,
        ..Faults::default()
    };
    let placed = card(&c, |_| {}, older.clone());
    k.controller.on_submit();
    wait_until(&mut k.controller, |v| {
        v.page == Page::CardKey && v.fields.len() == 3
    });
    assert!(
        k.field("personal_id")
            .error
            .contains("không mở bằng số CAN"),
        "{}",
        k.field("personal_id").error
    );
    k.type_card_key(&c, &c.expires);
    wait_until(&mut k.controller, |v| v.page == Page::Form);
    assert!(k.field("full_name").locked);
    assert_eq!(
        k.audit_verdicts(),
        ["verdict=no-pace", "verdict=ok aa=passed"]
    );
    placed.removed(WAIT).unwrap();
}

#[test]
fn a_card_from_an_unknown_issuer_or_past_its_expiry_fills_nothing_and_says_which() {
    let _reader = reader();
    let c = Citizen::demo();
    // Signed under a Country Signing CA the kiosk's list does not hold.
    let elsewhere_dir = tempfile::tempdir().unwrap();
    let elsewhere = Pki::create(elsewhere_dir.path(), "Elsewhere", 365).unwrap();
    let mut k = kiosk();
    k.open_card_pages("mobile_subscriber");
    let doc = Document::issue(&c, &elsewhere).unwrap();
    let placed = Placed::on_reader(vpcd_port(), VirtualChip::new(doc, Faults::default()), WAIT)
        .unwrap()
        .seen(WAIT)
        .unwrap();
    k.type_card_key(&c, &c.expires);
    wait_until(&mut k.controller, |v| v.page == Page::CardRefused);
    assert_eq!(k.controller.view().title, "Thẻ không xác thực được");
    assert_eq!(k.audit_verdicts(), ["verdict=chain"]);
    placed.removed(WAIT).unwrap();

    // Expired: its date is refused on the key page; opened by its CAN,
    // the chip itself says so.
    let mut old = c.clone();
    old.expires = "15/03/2024".into();
    let mut k = kiosk();
    k.open_card_pages("mobile_subscriber");
    k.type_card_key(&old, &old.expires);
    assert_eq!(k.page(), Page::CardKey);
    assert!(k.field("card_expiry").error.contains("quá ngày"));
    k.controller.on_card_key_other();
    k.type_into("card_can", &old.can);
    let placed = card(&old, |_| {}, Faults::default());
    k.controller.on_submit();
    wait_until(&mut k.controller, |v| v.page == Page::CardRefused);
    assert_eq!(k.controller.view().title, "Thẻ CCCD đã hết hạn");
    assert_eq!(k.audit_verdicts(), ["verdict=expiry"]);
    placed.removed(WAIT).unwrap();
}
