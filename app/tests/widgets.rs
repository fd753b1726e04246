//! The demo kiosk driven by touches on its widgets, found by their
//! accessible labels through Slint's testing backend: a citizen's taps on
//! buttons, fields and on-screen keys, not calls into the callbacks. What
//! the headless walk cannot see (a button not wired to its callback, a key
//! missing from a keyboard, a label a screen reader would not announce)
//! fails here. Against the real domain, store, modem simulator, SoftHSM
//! token and reference portal.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use i_slint_backend_testing::{AccessibleRole, ElementHandle, ElementRoot as _};
use kiosk::demo::Demo;
use kiosk::domain::clock::HastenedClock;
use kiosk::gui;
use kiosk_ui::{KioskKeys, KioskScreen, KioskWindow, Page};
use slint::platform::{Key, PointerEventButton, WindowEvent};
use slint::{ComponentHandle, Model as _};

struct Touch {
    ui: KioskWindow,
    binding: Rc<gui::Binding>,
    demo: Demo,
    /// Seconds added to the kiosk's clock: the citizen waiting.
    clock: HastenedClock,
    /// The reference the last registration was given.
    reference: RefCell<String>,
}

impl Touch {
    /// Lets the runtime answer, then redraws the window's properties.
    fn settle(&self) {
        let mut c = self.binding.controller().borrow_mut();
        c.settle(Duration::from_secs(30));
        c.wait_for_status(Duration::from_secs(10));
        drop(c);
        self.binding.refresh(&self.ui);
    }

    fn page(&self) -> Page {
        self.ui.global::<KioskScreen>().get_page()
    }

    fn find(&self, label: &str) -> Option<ElementHandle> {
        // Something to touch: a button or a field, not the text that
        // labels it (a Text announces its own words).
        ElementHandle::find_by_accessible_label(&self.ui, label).find(|e| {
            e.accessible_enabled() != Some(false)
                && matches!(
                    e.accessible_role(),
                    Some(AccessibleRole::Button | AccessibleRole::TextInput)
                )
        })
    }

    /// Taps the enabled element announced as `label`.
    fn tap(&self, label: &str) {
        let element = self
            .find(label)
            .unwrap_or_else(|| panic!("nothing announced as {label:?} on {:?}", self.page()));
        element.mock_single_click(PointerEventButton::Left);
        self.settle();
    }

    /// Types on the on-screen keyboard, key by key. Letter keys show
    /// capitals at the start of a word.
    fn type_text(&self, text: &str) {
        for c in text.chars() {
            let label = match c {
                ' ' => "Dấu cách".to_string(),
                other => other.to_string(),
            };
            // A capital on the password keyboard: shift first.
            if c.is_uppercase() && self.find(&label).is_none() {
                self.tap_key("Chữ hoa");
            }
            let key = self
                .find(&label)
                .or_else(|| self.find(&label.to_uppercase()))
                .or_else(|| self.find(&label.to_lowercase()))
                .unwrap_or_else(|| {
                    let k = self.ui.global::<KioskScreen>();
                    panic!(
                        "no key {label:?} on {:?} (keyboard {:?}, focus {:?})",
                        self.page(),
                        self.ui.global::<KioskKeys>().get_keyboard(),
                        k.get_fields()
                            .iter()
                            .find(|f| f.focused)
                            .map(|f| f.id.to_string())
                    )
                });
            key.mock_single_click(PointerEventButton::Left);
        }
        self.settle();
    }

    /// Types on a physical keyboard (or a barcode scanner, which is one):
    /// a key pressed and released for each character.
    fn keyboard(&self, keys: &str) {
        for c in keys.chars() {
            let text = slint::SharedString::from(c.to_string());
            let window = self.ui.window();
            window.dispatch_event(WindowEvent::KeyPressed { text: text.clone() });
            window.dispatch_event(WindowEvent::KeyReleased { text });
        }
        self.settle();
    }

    fn tap_key(&self, label: &str) {
        self.find(label)
            .unwrap_or_else(|| panic!("no key {label:?} on {:?}", self.page()))
            .mock_single_click(PointerEventButton::Left);
        self.binding.refresh(&self.ui);
    }

    /// The first touchable element whose announcement starts with `prefix`
    /// (labels that carry a countdown).
    fn find_starting(&self, prefix: &str) -> Option<ElementHandle> {
        let prefix = prefix.to_string();
        self.ui
            .root_element()
            .query_descendants()
            .match_predicate(move |e| {
                e.accessible_role() == Some(AccessibleRole::Button)
                    && e.accessible_label().is_some_and(|l| l.starts_with(&prefix))
            })
            .find_first()
    }

    /// The kiosk's clock moves on; the window's timer would then tick.
    fn wait(&self, seconds: u64) {
        self.clock.hasten(seconds);
        self.binding.controller().borrow_mut().on_tick();
        self.settle();
    }

    /// The password twice, the result, and home again; answers what the
    /// result said.
    fn password_and_done(&self) -> String {
        self.expect(Page::Password);
        self.type_text("Matkhau@2026");
        self.tap("Nhập lại mật khẩu");
        self.type_text("Matkhau@2026");
        self.tap("Đăng ký");
        self.done()
    }

    /// The result, and home again; answers what the result said.
    fn done(&self) -> String {
        self.expect(Page::Done);
        let result = self.ui.global::<KioskScreen>().get_message().to_string();
        *self.reference.borrow_mut() = self.ui.global::<KioskScreen>().get_reference().into();
        self.tap("Hoàn tất");
        self.expect(Page::Home);
        result
    }

    fn expect(&self, page: Page) {
        assert_eq!(
            self.page(),
            page,
            "{}",
            self.ui.global::<KioskScreen>().get_message()
        );
        self.assert_touch_targets();
    }

    /// Everything that can be touched on this page is announced by name and
    /// is at least 64 px each way.
    fn assert_touch_targets(&self) {
        let targets = self
            .ui
            .root_element()
            .query_descendants()
            .match_predicate(|e| {
                matches!(
                    e.accessible_role(),
                    Some(AccessibleRole::Button | AccessibleRole::TextInput)
                )
            })
            .find_all();
        assert!(!targets.is_empty(), "nothing to touch on {:?}", self.page());
        for e in targets {
            let label = e.accessible_label().unwrap_or_default();
            assert!(
                !label.is_empty(),
                "a target with no label on {:?}",
                self.page()
            );
            let size = e.size();
            assert!(
                size.width >= 64.0 && size.height >= 64.0,
                "{label:?} on {:?} is {}×{}",
                self.page(),
                size.width,
                size.height
            );
        }
    }
}

#[test]
fn a_citizen_registers_by_touch_with_each_method() {
    i_slint_backend_testing::init_integration_test_with_mock_time();
    let dir = tempfile::tempdir().unwrap();
    let clock = HastenedClock::default();
    let (demo, controller) = Demo::start(dir.path(), Box::new(clock.clone())).unwrap();
    let ui = KioskWindow::new().unwrap();
    ui.window().set_size(slint::PhysicalSize::new(1080, 1920));
    ui.show().unwrap();
    let controller = Rc::new(RefCell::new(controller));
    controller
        .borrow_mut()
        .wait_for_status(Duration::from_secs(10));
    let binding = gui::bind(&ui, controller);
    let t = Touch {
        ui,
        binding,
        demo,
        clock,
        reference: RefCell::default(),
    };
    t.settle();

    // Thuê bao di động: the demo's Nguyễn Văn An, typed with Telex.
    t.expect(Page::Home);
    t.tap("Đăng ký");
    t.expect(Page::Subject);
    t.tap("Công dân");
    t.expect(Page::Method);
    t.tap("Thuê bao di động");
    t.expect(Page::Form);
    t.tap("Họ và tên");
    t.type_text("nguyeenx vawn an");
    t.tap("Số CCCD/CMND");
    t.type_text("051085001234");
    t.tap("Ngày sinh");
    t.type_text("14031985");
    // A number no carrier has: the error is shown by the field, and
    // announced with it, as soon as the citizen moves on.
    t.tap("Số điện thoại");
    t.type_text("0101234567");
    t.tap("Email");
    let error = t
        .find("Số điện thoại")
        .and_then(|e| e.accessible_description())
        .unwrap_or_default();
    assert!(!error.is_empty(), "no error for a number of no carrier");
    t.tap("Số điện thoại");
    for _ in 0..10 {
        t.tap_key("Xoá");
    }
    t.type_text("0912345678");
    assert_eq!(
        t.find("Số điện thoại")
            .and_then(|e| e.accessible_description())
            .unwrap_or_default(),
        ""
    );
    let name = t
        .find("Họ và tên")
        .and_then(|e| e.accessible_value())
        .unwrap_or_default();
    assert_eq!(name, "Nguyễn Văn An");
    t.tap("Đăng ký");
    t.expect(Page::Otp);
    // "Gửi lại OTP" waits its interval, then allows the policy's resends,
    // then no more.
    let rules = t.binding.controller().borrow().policy().otp.clone();
    assert!(t.find_starting("Gửi lại OTP sau").is_some());
    for sent in 1..=rules.max_resends {
        t.wait(u64::from(rules.resend_interval_seconds));
        let before = t.demo.sms().len();
        t.find_starting("Gửi lại OTP (còn")
            .expect("resend allowed after the interval")
            .mock_single_click(PointerEventButton::Left);
        t.settle();
        assert_eq!(t.demo.sms().len(), before + 1, "resend {sent}");
    }
    t.wait(u64::from(rules.resend_interval_seconds));
    assert!(t.find_starting("Gửi lại OTP (còn").is_none());
    assert!(t.find_starting("Đã hết lượt gửi lại").is_some());
    let digits = usize::from(rules.digits);
    let code = t.demo.last_code(digits).expect("the phone got the code");
    t.type_text(&code);
    t.tap("Xác nhận");
    t.password_and_done();
    t.expect(Page::Home);

    // Tra cứu hồ sơ: the reference typed as it reads on the slip, without
    // its "DK-", in the letters the keyboard has.
    let reference = t.reference.borrow().clone();
    t.tap("Tra cứu hồ sơ");
    t.expect(Page::Lookup);
    t.type_text(&reference[3..].replace('-', "").to_lowercase());
    t.tap("Tra cứu");
    t.expect(Page::LookupAnswer);
    let screen = t.ui.global::<KioskScreen>();
    assert_eq!(screen.get_reference(), reference.as_str());
    let lines: Vec<String> = screen.get_lines().iter().map(|l| l.to_string()).collect();
    assert!(
        lines.iter().any(|l| l == "Phương thức: Thuê bao di động")
            && lines.iter().any(|l| l == "Hồ sơ được đăng ký tại máy này."),
        "{lines:?}"
    );
    t.tap("Về trang đầu");
    t.expect(Page::Home);
    // Once the demo portal has decided, its gateway tells the phone.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !t
        .demo
        .sms()
        .iter()
        .any(|m| m.text.contains(&reference) && m.text.contains("kích hoạt"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the portal never told the phone"
        );
        t.binding
            .controller()
            .borrow_mut()
            .wait_for_status(Duration::from_millis(200));
    }

    // Mã số BHXH: the demo's Đặng Quốc Ưng, matched live by the portal.
    t.tap("Đăng ký");
    t.tap("Công dân");
    t.tap("Bảo hiểm xã hội");
    t.expect(Page::Form);
    t.tap("Mã số BHXH");
    t.type_text("0101234569");
    t.tap("Họ và tên");
    t.type_text("ddawngj quoocs uwng");
    t.tap("Ngày sinh");
    t.type_text("30071978");
    t.tap("Số điện thoại");
    t.type_text("0901234567");
    t.tap("Đăng ký");
    t.expect(Page::Otp);
    let code = t.demo.last_code(digits).expect("the phone got the code");
    t.type_text(&code);
    t.tap("Xác nhận");
    let result = t.password_and_done();
    assert!(result.contains("mức 2"), "{result}");

    // Sim ký số: the demo phone's own "Xác nhận ký" button answers.
    t.tap("Đăng ký");
    t.tap("Công dân");
    t.tap("Sim ký số");
    t.expect(Page::Form);
    t.tap("Số điện thoại");
    t.type_text("0987654321");
    t.tap("Đăng ký");
    t.expect(Page::PhoneWait);
    let shown =
        t.ui.global::<KioskScreen>()
            .get_verification_code()
            .to_string();
    assert!(
        ElementHandle::find_by_accessible_label(&t.ui, &format!("Mã xác thực {shown}"))
            .next()
            .is_some()
    );
    let (id, _, text) = t
        .demo
        .pending_signature()
        .expect("the request reached the phone");
    assert!(
        text.ends_with(&shown),
        "the phone shows {text:?}, the kiosk {shown}"
    );
    t.demo
        .answer_signature(&id, kiosk_portal::PhoneAnswer::Confirm)
        .unwrap();
    t.settle();
    t.expect(Page::Confirm);
    // The certificate's holder, as the phone's SIM certificate names her.
    let lines = t.ui.global::<KioskScreen>().get_lines();
    assert!(
        lines.iter().any(|l| l.contains("Trần Thị Thủy")),
        "{:?}",
        lines.iter().collect::<Vec<_>>()
    );
    // As the manual has it, "Đăng ký" ends it: the SIM is the login.
    t.tap("Đăng ký");
    t.done();

    // USB ký số, with the demo token in the reader: wrong PIN, then right.
    assert!(
        t.demo.has_token(),
        "no demo token: run through tests/run, which sets SOFTHSM2_CONF"
    );
    t.tap("Đăng ký");
    t.tap("Công dân");
    t.tap("USB ký số");
    t.expect(Page::Pin);
    t.type_text("111111");
    t.tap("Đăng nhập");
    t.expect(Page::Pin);
    t.type_text(kiosk::demo::DEMO_TOKEN_PIN);
    t.tap("Đăng nhập");
    t.expect(Page::Confirm);
    t.tap("Đăng ký");
    t.done();

    // Walking away in the middle of a form: after the idle timeout the
    // kiosk is home, and nothing typed is left on screen.
    let session = t.binding.controller().borrow().policy().session.clone();
    t.tap("Đăng ký");
    t.tap("Công dân");
    t.tap("Thuê bao di động");
    t.tap("Họ và tên");
    t.type_text("le thij hoaf");
    t.wait(u64::from(session.idle_timeout_seconds) + 1);
    t.expect(Page::Home);
    let fields = t.ui.global::<KioskScreen>().get_fields();
    assert!(fields.iter().all(|f| f.value.is_empty()));

    // Hủy from the middle of a form: home, nothing of it left on screen.
    t.tap("Đăng ký");
    t.tap("Công dân");
    t.tap("Thuê bao di động");
    t.tap("Họ và tên");
    t.type_text("le thij hoaf");
    // The tone where the citizen's card has it: Hòa, or Hoà.
    t.tap_key("Viết là Hoà");
    assert_eq!(
        t.find("Họ và tên")
            .and_then(|e| e.accessible_value())
            .unwrap_or_default(),
        "Le Thị Hoà"
    );
    t.tap("Hủy");
    t.expect(Page::Home);
    let fields = t.ui.global::<KioskScreen>().get_fields();
    assert!(fields.iter().all(|f| f.value.is_empty()));

    // English from the status bar's switch: the screens' own texts (the
    // bundled translation) and the kiosk's (labels, errors) both change,
    // back and forth, and what was typed stays.
    t.tap("English");
    t.tap("Register");
    t.expect(Page::Subject);
    t.tap("Citizen");
    t.tap("Mobile subscriber");
    t.expect(Page::Form);
    t.tap("Phone number");
    t.type_text("0101234567");
    t.tap("Email");
    let error = |label: &str| {
        t.find(label)
            .and_then(|e| e.accessible_description())
            .unwrap_or_default()
    };
    assert_eq!(
        error("Phone number"),
        "This prefix belongs to no mobile network in Vietnam."
    );
    assert!(t.find("Back").is_some() && t.find("Quay lại").is_none());
    t.tap("Tiếng Việt");
    assert_eq!(
        error("Số điện thoại"),
        "Đầu số không thuộc nhà mạng di động nào tại Việt Nam."
    );
    assert!(t.find("Quay lại").is_some() && t.find("Back").is_none());
    assert_eq!(
        t.find("Số điện thoại")
            .and_then(|e| e.accessible_value())
            .unwrap_or_default(),
        "0101234567"
    );
    t.tap("English");
    // The same targets hold on a landscape counter screen, keyboard beside.
    t.ui.window().set_size(slint::PhysicalSize::new(1920, 1080));
    t.ui.global::<KioskScreen>().set_wide(true);
    t.tap("Full name");
    t.expect(Page::Form);
    // Cancel: the next person meets the kiosk in Vietnamese.
    t.tap("Cancel");
    t.expect(Page::Home);
    assert!(t.find("Đăng ký").is_some() && t.find("English").is_some());

    // At a counter, a whole registration typed on a physical keyboard:
    // Telex for the name, Tab and Enter to move on, Backspace to correct.
    let (tab, enter, backspace) = (
        char::from(Key::Tab),
        char::from(Key::Return),
        char::from(Key::Backspace),
    );
    t.tap("Đăng ký");
    t.tap("Công dân");
    t.tap("Thuê bao di động");
    t.expect(Page::Form);
    t.keyboard(&format!(
        "nguyeenx thij lan{tab}051190000123{tab}15081991{backspace}0{tab}0968000123"
    ));
    let value = |label: &str| {
        t.find(label)
            .and_then(|e| e.accessible_value())
            .unwrap_or_default()
    };
    assert_eq!(value("Họ và tên"), "Nguyễn Thị Lan");
    assert_eq!(value("Ngày sinh"), "15/08/1990");
    // Enter: on to the e-mail, then (the last field) Đăng ký.
    t.keyboard(&format!("{enter}{enter}"));
    t.expect(Page::Otp);
    let code = t.demo.last_code(digits).expect("the phone got the code");
    t.keyboard(&format!("{code}{enter}"));
    t.expect(Page::Password);
    t.keyboard(&format!("Matkhau@2026{tab}Matkhau@2026{enter}"));
    let result = t.done();
    assert!(result.contains("mức 1"), "{result}");
}
