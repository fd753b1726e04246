//! The kiosk's controller driven as the screens drive it, against the real
//! state machine, a real store on disk and the simulated modem on a pty.
//! Keys are typed one by one, as on the on-screen keyboards.

mod support;

use kiosk_ui::{KeyboardKind, Page};
use std::sync::Arc;
use std::time::Duration;

use kiosk::controller::{Controller, View};
use kiosk::domain::clock::ManualClock;
use kiosk::policy::Policy;
use kiosk::worker::{Backend, Worker};
use kiosk_hal::modem::sim::Simulator;
use support::{Fixture, ModemRig, SmallDisk};
use time::OffsetDateTime;
use time::macros::datetime;

/// A controller with a hand-moved clock, its modem simulator and store.
struct Kiosk {
    controller: Controller,
    clock: ManualClock,
    sim: Simulator,
    data: tempfile::TempDir,
    _tty: tempfile::TempDir,
}

const T0: OffsetDateTime = datetime!(2026-11-28 10:00 +7);
const WAIT: Duration = Duration::from_secs(20);

fn kiosk() -> Kiosk {
    kiosk_in(tempfile::tempdir().unwrap())
}

/// The kiosk with its data directory at `data`.
fn kiosk_in(data: tempfile::TempDir) -> Kiosk {
    kiosk_with(data, None)
}

/// The kiosk with its data directory at `data` and, when given, the
/// smartcard readers watched.
fn kiosk_with(data: tempfile::TempDir, cards: Option<kiosk::card::CardService>) -> Kiosk {
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
    } = Fixture::in_dir(data);
    let policy = Arc::new(Policy::built_in().clone());
    let backend = Backend {
        policy: Arc::clone(&policy),
        modem: Some(Box::new(service)),
        cards,
        ..support::bare_backend(store, keys, portal.public_key())
    };
    let runtime = Box::new(Worker::spawn(backend));
    let clock = ManualClock::starting_at(T0);
    let mut controller = Controller::new(policy, runtime, Box::new(clock.clone()));
    // The first status report says the modem is ready.
    wait_until(&mut controller, |v| v.status.modem_ready);
    Kiosk {
        controller,
        clock,
        sim,
        data: dir,
        _tty: tty,
    }
}

/// Waits for status reports from the runtime thread until the view
/// satisfies `until` (each round blocks on the runtime's answer).
fn wait_until(c: &mut Controller, until: impl Fn(&View) -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !until(&c.view()) {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            c.view().status
        );
        assert!(c.wait_for_status(WAIT), "the runtime does not answer");
    }
}

impl Kiosk {
    fn advance(&self, seconds: u64) {
        self.clock.advance(seconds);
    }

    fn type_into(&mut self, field: &str, keys: &str) {
        self.controller.on_focus(field);
        for key in keys.chars() {
            self.controller.on_key(&key.to_string());
        }
    }

    fn value(&self, field: &str) -> String {
        let view = self.controller.view();
        view.fields
            .iter()
            .find(|f| f.id == field)
            .unwrap_or_else(|| panic!("no field {field} on {:?}", view.page))
            .value
            .clone()
    }

    fn error(&self, field: &str) -> String {
        let view = self.controller.view();
        view.fields
            .iter()
            .find(|f| f.id == field)
            .unwrap()
            .error
            .clone()
    }

    fn page(&self) -> Page {
        self.controller.view().page
    }

    fn settle(&mut self) {
        assert!(self.controller.settle(WAIT), "the runtime did not answer");
    }

    /// Home → Đăng ký → Công dân → Thuê bao di động, form filled by keys.
    fn fill_mobile_form(&mut self, phone: &str) {
        self.fill_mobile_form_as(phone, "051199001199");
    }

    /// The same for another citizen (born in 1999).
    fn fill_mobile_form_as(&mut self, phone: &str, personal_id: &str) {
        self.controller.on_register();
        self.controller.on_choose_subject("citizen");
        self.controller.on_choose_method("mobile_subscriber");
        assert_eq!(self.page(), Page::Form);
        self.type_into("full_name", "Nguyeenx Thij Thury");
        self.type_into("personal_id", personal_id);
        self.type_into("date_of_birth", "01011999");
        self.type_into("phone", phone);
    }

    fn last_code(&self) -> String {
        let sent = self.sim.sent();
        let text = &sent.last().expect("an SMS was sent").decoded.text;
        text.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap()
            .to_string()
    }

    /// From the OTP screen: the code off the phone, a password, the
    /// result, then Hoàn tất.
    fn finish_from_otp(&mut self) {
        assert_eq!(self.page(), Page::Otp);
        let code = self.last_code();
        self.type_keys(&code);
        self.controller.on_submit();
        self.type_keys("Matkhau@2026⏎Matkhau@2026");
        self.controller.on_submit();
        self.settle();
        assert_eq!(self.page(), Page::Done);
        self.controller.on_submit();
    }

    fn type_keys(&mut self, keys: &str) {
        for key in keys.chars() {
            self.controller.on_key(&key.to_string());
        }
    }
}

#[test]
fn a_citizen_registers_by_mobile_from_home_to_reference() {
    let mut k = kiosk();
    assert_eq!(k.page(), Page::Home);
    k.fill_mobile_form("0912345678");
    assert_eq!(
        k.value("full_name"),
        "Nguyễn Thị Thủy",
        "Telex composed the name"
    );
    assert_eq!(
        k.value("date_of_birth"),
        "01/01/1999",
        "slashes come by themselves"
    );
    assert_eq!(k.controller.view().keyboard, KeyboardKind::Digits);

    k.controller.on_submit();
    k.settle();
    assert_eq!(k.page(), Page::Otp);
    let view = k.controller.view();
    assert_eq!(view.countdown, "5:00");
    assert!(
        view.message.contains("091***678") || view.message.contains("***"),
        "{}",
        view.message
    );
    assert!(!view.submit_enabled, "nothing typed yet");
    let code = k.last_code();
    k.type_keys(&code);
    assert!(k.controller.view().submit_enabled);
    k.controller.on_submit();
    assert_eq!(k.page(), Page::Password);
    assert_eq!(k.controller.view().keyboard, KeyboardKind::Password);

    k.type_keys("Matkhau@2026");
    let view = k.controller.view();
    assert_eq!(
        view.fields[0].value, "●●●●●●●●●●●●",
        "the password is never drawn"
    );
    assert!(
        !view.rules.last().unwrap().ok,
        "the second entry is still empty"
    );
    assert!(!view.submit_enabled);
    k.type_keys("⏎");
    k.type_keys("Matkhau@2026");
    let view = k.controller.view();
    assert!(view.rules.iter().all(|r| r.ok), "{:?}", view.rules);
    k.controller.on_submit();
    k.settle();
    let view = k.controller.view();
    assert_eq!(view.page, Page::Done, "{view:?}");
    assert!(view.reference.starts_with("DK-"), "{}", view.reference);
    assert!(view.message.contains("mức 1"), "{}", view.message);
    assert!(
        view.lines.iter().any(|l| l.contains("thuê bao chính chủ")),
        "offline, the subscriber check waits: {:?}",
        view.lines
    );

    // On disk: one sealed registration waiting for the portal.
    k.controller.refresh_status();
    wait_until(&mut k.controller, |v| v.status.queue_depth == 1);
    let store = kiosk::store::Store::open(&k.data.path().join("kiosk.sqlite3")).unwrap();
    let queue = store.queue().unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].reference, view.reference);

    k.controller.on_submit();
    assert_eq!(k.page(), Page::Home);
    assert!(!k.controller.has_session());
}

#[test]
fn field_errors_show_next_to_the_field_as_they_occur() {
    let mut k = kiosk();
    k.controller.on_register();
    k.controller.on_choose_subject("citizen");
    k.controller.on_choose_method("mobile_subscriber");
    k.type_into("phone", "0101234567");
    assert_eq!(k.error("phone"), "", "no error while typing");
    k.controller.on_focus("full_name");
    assert!(!k.error("phone").is_empty(), "leaving the field checks it");
    // Typing in it again clears the message until it is left again.
    k.type_into("phone", "⌫");
    assert_eq!(k.error("phone"), "");

    // Submitting lists every problem at once, including blank fields.
    k.controller.on_submit();
    k.settle();
    assert_eq!(k.page(), Page::Form);
    let view = k.controller.view();
    let with_errors: Vec<&str> = view
        .fields
        .iter()
        .filter(|f| !f.error.is_empty())
        .map(|f| f.id.as_str())
        .collect();
    assert_eq!(
        with_errors,
        ["full_name", "personal_id", "date_of_birth", "phone"]
    );
    assert!(
        view.fields
            .iter()
            .find(|f| f.id == "full_name")
            .unwrap()
            .focused
    );
    assert!(k.sim.sent().is_empty());
}

#[test]
fn otp_resend_is_held_back_until_allowed_and_a_new_code_replaces_the_old() {
    let mut k = kiosk();
    k.fill_mobile_form("0912345678");
    k.controller.on_submit();
    k.settle();
    let first = k.last_code();
    let view = k.controller.view();
    assert!(!view.resend_enabled);
    assert_eq!(view.resend_label, "Gửi lại OTP sau 1:00");
    k.controller.on_resend();
    k.settle();
    assert_eq!(k.sim.sent().len(), 1, "a press too early sends nothing");

    k.advance(59);
    assert!(!k.controller.view().resend_enabled);
    k.advance(1);
    let view = k.controller.view();
    assert!(view.resend_enabled, "{}", view.resend_label);
    assert_eq!(view.countdown, "4:00");
    k.controller.on_resend();
    k.settle();
    assert_eq!(k.sim.sent().len(), 2);
    let second = k.last_code();
    if first != second {
        k.type_keys(&first);
        k.controller.on_submit();
        assert_eq!(k.page(), Page::Otp);
        assert!(!k.error("otp").is_empty(), "the old code is dead");
    }
    k.type_keys(&second);
    k.controller.on_submit();
    assert_eq!(k.page(), Page::Password);
}

#[test]
fn a_wrong_code_says_how_many_tries_are_left() {
    let mut k = kiosk();
    k.fill_mobile_form("0912345678");
    k.controller.on_submit();
    k.settle();
    let code = k.last_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    k.type_keys(wrong);
    k.controller.on_submit();
    assert_eq!(k.error("otp"), "Mã OTP không đúng. Còn 4 lần nhập.");
    assert_eq!(k.value("otp"), "", "the wrong code is cleared");
}

#[test]
fn walking_away_wipes_the_session_after_a_visible_countdown() {
    let mut k = kiosk();
    k.fill_mobile_form("0912345678");
    assert_eq!(k.controller.view().idle_left, None);
    k.advance(70);
    k.controller.on_tick();
    assert_eq!(k.controller.view().idle_left, Some(20));
    // A touch keeps the session.
    k.controller.on_still_here();
    assert_eq!(k.controller.view().idle_left, None);
    k.advance(89);
    k.controller.on_tick();
    assert!(k.controller.has_session());
    k.advance(1);
    k.controller.on_tick();
    assert!(!k.controller.has_session());
    let view = k.controller.view();
    assert_eq!(view.page, Page::Home);
    let shown = format!("{view:?}");
    for trace in ["Nguyễn", "Thủy", "051199001199", "0912345678", "1999"] {
        assert!(!shown.contains(trace), "{trace} is still on screen");
    }
    // The next citizen starts from nothing.
    k.controller.on_register();
    k.controller.on_choose_subject("citizen");
    k.controller.on_choose_method("mobile_subscriber");
    assert!(
        k.controller
            .view()
            .fields
            .iter()
            .all(|f| f.value.is_empty())
    );
}

#[test]
fn an_answer_for_a_citizen_who_left_never_reaches_the_next() {
    let mut k = kiosk();
    // Citizen A registers; a second attempt with A's number would be told
    // "account exists".
    k.fill_mobile_form("0912345678");
    k.controller.on_submit();
    k.settle();
    k.finish_from_otp();

    // A again: the duplicate check ("exists") is in flight when A leaves.
    k.fill_mobile_form("0912345678");
    k.controller.on_submit();
    k.controller.on_cancel();
    // Citizen B submits at once; the runtime answers in order, so A's
    // answer comes first and must be dropped, not given to B.
    k.controller.on_register();
    k.controller.on_choose_subject("citizen");
    k.controller.on_choose_method("mobile_subscriber");
    k.type_into("full_name", "Traafn Vawn Bif");
    k.type_into("personal_id", "079203004321");
    k.type_into("date_of_birth", "02022003");
    k.type_into("phone", "0987654321");
    k.controller.on_submit();
    k.settle();
    assert_eq!(k.page(), Page::Otp, "B was not told A's answer");
    assert_eq!(k.sim.sent().len(), 2);
    assert_eq!(k.sim.sent()[1].decoded.destination, "+84987654321");
}

#[test]
fn a_second_registration_is_told_the_first_waits_here_then_once_delivered_the_ways_out() {
    let mut k = kiosk();
    k.fill_mobile_form("0912345678");
    k.controller.on_submit();
    k.settle();
    let code = k.last_code();
    k.type_keys(&code);
    k.controller.on_submit();
    k.type_keys("Matkhau@2026⏎Matkhau@2026");
    k.controller.on_submit();
    k.settle();
    let first = k.controller.view().reference;
    k.controller.on_submit();

    // Still in this kiosk's queue: not an account, and said so.
    k.fill_mobile_form("0912345678");
    k.controller.on_submit();
    k.settle();
    let view = k.controller.view();
    assert_eq!(view.page, Page::Exists);
    assert_eq!(view.title, "Hồ sơ đang chờ gửi tại máy này");
    assert_eq!(view.reference, first);
    assert!(view.lines[0].contains(&first), "{:?}", view.lines);
    assert_eq!(
        k.sim.sent().len(),
        1,
        "no OTP for a registration already made"
    );
    // "Quay lại": the form as typed, for a mistyped number.
    k.controller.on_back();
    assert_eq!(k.page(), Page::Form);
    assert_eq!(k.value("full_name"), "Nguyễn Thị Thủy");
    assert_eq!(k.value("personal_id"), "051199001199");

    // Delivered, as the portal's answer records it: an account, with the
    // manual's three ways out.
    let db = rusqlite::Connection::open(k.data.path().join("kiosk.sqlite3")).unwrap();
    db.busy_timeout(WAIT).unwrap();
    db.execute("UPDATE registrations SET status = 'delivered'", [])
        .unwrap();
    k.controller.on_submit();
    k.settle();
    let view = k.controller.view();
    assert_eq!(view.page, Page::Exists);
    assert_eq!(view.title, "Tài khoản đã tồn tại");
    // The two the kiosk runs itself are cards (the reset greyed out
    // offline); going to a counter is a line with the counters.
    let cards: Vec<&str> = view.methods.iter().map(|m| m.title.as_str()).collect();
    assert_eq!(cards, ["Quên mật khẩu", "Gửi khiếu nại"]);
    assert!(view.lines[0].contains("quầy giao dịch"), "{:?}", view.lines);
    assert_eq!(k.sim.sent().len(), 1, "no OTP for an existing account");
}

#[test]
fn back_after_the_form_edits_it_again_and_keeps_what_was_typed() {
    let mut k = kiosk();
    k.fill_mobile_form("0912345678");
    k.controller.on_submit();
    k.settle();
    assert_eq!(k.page(), Page::Otp);
    k.controller.on_back();
    assert_eq!(k.page(), Page::Form);
    assert_eq!(k.value("full_name"), "Nguyễn Thị Thủy");
    k.controller.on_back();
    assert_eq!(k.page(), Page::Method);
    k.controller.on_back();
    assert_eq!(k.page(), Page::Subject);
    k.controller.on_back();
    assert_eq!(k.page(), Page::Home);
    assert!(!k.controller.has_session());
}

#[test]
fn methods_the_kiosk_cannot_serve_are_shown_disabled_with_the_reason() {
    let mut k = kiosk();
    k.controller.on_register();
    k.controller.on_choose_subject("citizen");
    let view = k.controller.view();
    let by_id = |id: &str| view.methods.iter().find(|m| m.id == id).unwrap().clone();
    assert!(by_id("mobile_subscriber").enabled);
    let sim = by_id("sim_signature");
    assert!(!sim.enabled);
    assert!(sim.reason.contains("kết nối mạng"), "{}", sim.reason);
    let usb = by_id("usb_token");
    assert!(!usb.enabled);
    assert!(usb.reason.contains("USB ký số"), "{}", usb.reason);
    k.controller.on_choose_method("usb_token");
    assert_eq!(k.page(), Page::Method, "a disabled method does not start");

    // Pull the modem: the phone methods go grey with the reason.
    k.sim.unplug();
    wait_until(&mut k.controller, |v| !v.status.modem_ready);
    let view = k.controller.view();
    let mobile = view
        .methods
        .iter()
        .find(|m| m.id == "mobile_subscriber")
        .unwrap();
    assert!(!mobile.enabled);
    assert!(mobile.reason.contains("SMS"), "{}", mobile.reason);
}

/// Whether `text` has a letter only Vietnamese writes.
fn has_vietnamese(text: &str) -> bool {
    text.chars().any(|c| {
        "àáạảãầấậẩẫằắặẳẵèéẹẻẽềếệểễìíịỉĩòóọỏõồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđă"
            .contains(c.to_lowercase().next().unwrap_or(c))
    })
}

/// Every text of the view that is the kiosk's wording, not what was typed.
fn wording(view: &View) -> Vec<String> {
    let mut texts = vec![
        view.subject_title.clone(),
        view.method_title.clone(),
        view.title.clone(),
        view.message.clone(),
        view.submit_label.clone(),
        view.resend_label.clone(),
    ];
    texts.extend(view.lines.iter().cloned());
    for m in &view.methods {
        texts.extend([m.title.clone(), m.detail.clone(), m.reason.clone()]);
    }
    for f in &view.fields {
        texts.extend([f.label.clone(), f.error.clone()]);
        // The Telex hint shows Vietnamese letters on purpose.
        if !f.hint.contains('→') {
            texts.push(f.hint.clone());
        }
    }
    texts.extend(view.rules.iter().map(|r| r.text.clone()));
    texts
}

fn assert_english(view: &View) {
    assert_eq!(view.lang, kiosk_ui::i18n::Lang::En);
    for text in wording(view) {
        assert!(!has_vietnamese(&text), "on {:?}: {text:?}", view.page);
    }
}

#[test]
fn a_citizen_can_register_in_english_and_the_next_one_meets_vietnamese() {
    use kiosk_ui::i18n::Lang;
    let mut k = kiosk();
    // The switch works from home, and the choice holds into the visit.
    k.controller.on_toggle_language();
    assert_eq!(k.controller.view().lang, Lang::En);
    k.controller.on_register();
    assert_eq!(k.page(), Page::Subject);
    assert_english(&k.controller.view());
    k.controller.on_choose_subject("citizen");
    let view = k.controller.view();
    assert_english(&view);
    assert!(
        view.methods.iter().any(|m| m.title == "Mobile subscriber"),
        "{:?}",
        view.methods
    );
    k.controller.on_choose_method("mobile_subscriber");
    assert_english(&k.controller.view());
    assert_eq!(
        k.controller.view().method_title,
        "Register with your mobile number"
    );

    // A field error, in English; switching shows the same error in
    // Vietnamese, and what was typed stays.
    k.type_into("personal_id", "12345");
    k.controller.on_focus("phone");
    assert_eq!(
        k.error("personal_id"),
        "Enter all 12 (citizen ID) or 9 (old ID card) digits."
    );
    k.controller.on_toggle_language();
    assert_eq!(
        k.error("personal_id"),
        "Cần nhập đủ 12 (CCCD) hoặc 9 (CMND) chữ số."
    );
    assert_eq!(k.value("personal_id"), "12345");
    k.controller.on_toggle_language();
    assert_english(&k.controller.view());

    k.type_into("personal_id", &"⌫".repeat(5));
    k.type_keys("051199001199");
    k.type_into("full_name", "Nguyeenx Thij Thury");
    k.type_into("date_of_birth", "01011999");
    k.type_into("phone", "0912345678");
    k.controller.on_submit();
    k.settle();
    assert_eq!(k.page(), Page::Otp);
    assert_english(&k.controller.view());
    k.type_keys("000000");
    k.controller.on_submit();
    let view = k.controller.view();
    assert_english(&view);
    assert!(
        view.fields[0]
            .error
            .starts_with("Wrong code. Attempts left:"),
        "{view:?}"
    );
    let code = k.last_code();
    k.type_keys(&code);
    k.controller.on_submit();
    assert_eq!(k.page(), Page::Password);
    assert_english(&k.controller.view());
    k.type_keys("Matkhau@2026⏎Matkhau@2026");
    k.controller.on_submit();
    k.settle();
    let view = k.controller.view();
    assert_eq!(view.page, Page::Done);
    assert_english(&view);
    assert!(view.message.contains("level 1"), "{}", view.message);

    // Hoàn tất: the next person meets the kiosk in Vietnamese.
    k.controller.on_submit();
    assert_eq!(k.page(), Page::Home);
    assert_eq!(k.controller.view().lang, Lang::Vi);
}

#[test]
fn english_chosen_by_someone_who_walked_away_goes_back_to_vietnamese() {
    use kiosk_ui::i18n::Lang;
    let mut k = kiosk();
    let timeout = u64::from(k.controller.policy().session.idle_timeout_seconds);
    // Cancelled mid-visit.
    k.controller.on_toggle_language();
    k.controller.on_register();
    k.controller.on_cancel();
    assert_eq!(k.controller.view().lang, Lang::Vi);
    // Timed out mid-visit.
    k.controller.on_toggle_language();
    k.controller.on_register();
    k.advance(timeout);
    k.controller.on_tick();
    assert_eq!(k.page(), Page::Home);
    assert_eq!(k.controller.view().lang, Lang::Vi);
    // Chosen at home, then nobody came.
    k.controller.on_toggle_language();
    k.advance(timeout - 1);
    k.controller.on_tick();
    assert_eq!(
        k.controller.view().lang,
        Lang::En,
        "not idle long enough yet"
    );
    k.advance(1);
    k.controller.on_tick();
    assert_eq!(k.controller.view().lang, Lang::Vi);
}

#[test]
fn a_name_can_take_the_tone_where_the_id_card_has_it() {
    let mut k = kiosk();
    k.controller.on_register();
    k.controller.on_choose_subject("citizen");
    k.controller.on_choose_method("mobile_subscriber");
    k.type_into("full_name", "nguyeenx thij thury");
    assert_eq!(k.value("full_name"), "Nguyễn Thị Thủy");
    assert_eq!(k.controller.view().respell, "Thuỷ");
    k.type_keys("⇄");
    assert_eq!(k.value("full_name"), "Nguyễn Thị Thuỷ");
    assert_eq!(k.controller.view().respell, "Thủy", "and back again");
    // The choice holds for the words that follow.
    k.type_keys(" hoaf");
    assert_eq!(k.value("full_name"), "Nguyễn Thị Thuỷ Hoà");
    // A word with one spelling offers nothing; plain letters never do.
    k.type_keys(" an");
    assert_eq!(k.controller.view().respell, "");
    k.type_keys("⌫⌫⌫");
    assert_eq!(k.controller.view().respell, "Hòa");
    k.controller.on_toggle_telex();
    assert_eq!(k.controller.view().respell, "");
    k.type_keys("⇄");
    assert_eq!(k.value("full_name"), "Nguyễn Thị Thuỷ Hoà");
}

/// The data partition fills up: the kiosk keeps what it has, says so on
/// the home screen instead of starting what it cannot store, tells the
/// citizen caught mid-way that nothing was recorded, and takes
/// registrations again by itself once space returns. A real 24 MiB tmpfs.
#[test]
fn a_full_data_partition_stops_new_registrations_and_recovers_by_itself() {
    use kiosk::store::{RESERVE_BYTES, Storage, Store};
    let disk = SmallDisk::mount(24);
    let mut k = kiosk_in(tempfile::tempdir_in(disk.path()).unwrap());
    let db = k.data.path().join("kiosk.sqlite3");
    let free = || Store::open(&db).unwrap().free_bytes().unwrap();
    k.fill_mobile_form("0912345678");
    k.controller.on_submit();
    k.settle();
    k.finish_from_otp();
    k.controller.refresh_status();
    wait_until(&mut k.controller, |v| v.status.queue_depth == 1);

    // Less room than the reserve: nothing new starts.
    let almost = disk.take("almost", free() - RESERVE_BYTES / 2);
    wait_until(&mut k.controller, |v| v.status.storage == Storage::Full);
    let home = k.controller.view();
    assert_eq!(home.page, Page::Home);
    assert_eq!(home.title, "Máy tạm ngừng nhận hồ sơ");
    assert!(
        home.message.contains("Bộ nhớ của máy đã đầy"),
        "{}",
        home.message
    );
    assert!(home.message.contains("vẫn được giữ an toàn"));
    assert!(!home.submit_enabled, "Đăng ký is greyed out");
    k.controller.on_register();
    assert!(!k.controller.has_session(), "no registration starts");
    assert_eq!(k.page(), Page::Home);

    // Room returns: the kiosk sees it by itself.
    std::fs::remove_file(&almost).unwrap();
    wait_until(&mut k.controller, |v| v.status.storage == Storage::Ready);
    assert!(k.controller.view().submit_enabled);
    assert_eq!(k.controller.view().title, "");

    // A citizen half-way through when the disk fills to the last byte.
    k.fill_mobile_form_as("0987654321", "051199002288");
    k.controller.on_submit();
    k.settle();
    assert_eq!(k.page(), Page::Otp);
    let code = k.last_code();
    k.type_keys(&code);
    k.controller.on_submit();
    k.type_keys("Matkhau@2026⏎Matkhau@2026");
    let filler = disk.fill("filler");
    assert_eq!(free(), 0, "the partition is full");
    k.controller.on_submit();
    k.settle();
    let view = k.controller.view();
    assert_eq!(view.page, Page::Failed, "{view:?}");
    assert!(
        view.message
            .starts_with("Máy tạm ngừng nhận hồ sơ nên chưa lưu được hồ sơ của bạn"),
        "{}",
        view.message
    );
    k.controller.on_submit();
    assert_eq!(k.page(), Page::Home);
    wait_until(&mut k.controller, |v| v.status.storage == Storage::Full);
    assert!(!k.controller.view().submit_enabled);

    // What was queued is all there, and the audit chain holds.
    let keys = kiosk::keys::Keyring::open_or_create(&k.data.path().join("keys")).unwrap();
    let store = Store::open(&db).unwrap();
    assert_eq!(store.queue().unwrap().len(), 1);
    store.verify_audit(&keys.audit_key()).unwrap();
    drop(store);

    std::fs::remove_file(&filler).unwrap();
    wait_until(&mut k.controller, |v| v.status.storage == Storage::Ready);
    k.fill_mobile_form_as("0987654321", "051199003377");
    k.controller.on_submit();
    k.settle();
    k.finish_from_otp();
    k.controller.refresh_status();
    wait_until(&mut k.controller, |v| v.status.queue_depth == 2);
    let store = Store::open(&db).unwrap();
    assert_eq!(store.queue().unwrap().len(), 2);
    store.verify_audit(&keys.audit_key()).unwrap();
}

/// The reader of the pcscd that tests/run starts ("Virtual PCD"), and the
/// virtual CCCD card placed on it and taken off: the status bar follows.
#[test]
fn the_status_bar_shows_the_card_reader_and_follows_a_card() {
    use kiosk_hal::card::sim::chip::{Faults, VirtualChip};
    use kiosk_hal::card::sim::issue::{Citizen, Document, Pki};
    use kiosk_hal::card::sim::vpcd::Placed;
    let port: u16 = std::env::var("KIOSK_VPCD_PORT")
        .expect("run through tests/run, which starts pcscd with vsmartcard-vpcd")
        .parse()
        .unwrap();
    let csca = tempfile::tempdir().unwrap();
    let watcher = kiosk::card::CardService::start(csca.path().to_path_buf());
    let mut k = kiosk_with(tempfile::tempdir().unwrap(), Some(watcher));
    wait_until(&mut k.controller, |v| {
        v.status.card_reader && !v.status.card_present
    });

    let pki_dir = tempfile::tempdir().unwrap();
    let pki = Pki::create(pki_dir.path(), "Test VN", 365).unwrap();
    let doc = Document::issue(&Citizen::demo(), &pki).unwrap();
    let placed = Placed::on_reader(port, VirtualChip::new(doc, Faults::default()), WAIT).unwrap();
    wait_until(&mut k.controller, |v| v.status.card_present);
    placed.removed(WAIT).unwrap();
    wait_until(&mut k.controller, |v| {
        v.status.card_reader && !v.status.card_present
    });
}
