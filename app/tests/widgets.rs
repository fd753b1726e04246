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

use i_slint_backend_testing::{AccessibleRole, ElementHandle};
use kiosk::demo::Demo;
use kiosk::gui;
use kiosk_ui::{Kiosk, KioskWindow};
use slint::platform::PointerEventButton;
use slint::{ComponentHandle, Model as _};
use time::OffsetDateTime;

struct Touch {
    ui: KioskWindow,
    binding: Rc<gui::Binding>,
    demo: Demo,
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

    fn page(&self) -> String {
        self.ui.global::<Kiosk>().get_page().to_string()
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
            .unwrap_or_else(|| panic!("nothing announced as {label:?} on {}", self.page()));
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
                    let k = self.ui.global::<Kiosk>();
                    panic!(
                        "no key {label:?} on {} (keyboard {:?}, focus {:?})",
                        self.page(),
                        k.get_keyboard(),
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

    fn tap_key(&self, label: &str) {
        self.find(label)
            .unwrap_or_else(|| panic!("no key {label:?} on {}", self.page()))
            .mock_single_click(PointerEventButton::Left);
        self.binding.refresh(&self.ui);
    }

    /// The password twice, the result, and home again.
    fn password_and_done(&self) {
        self.expect("password");
        self.type_text("Matkhau@2026");
        self.tap("Nhập lại mật khẩu");
        self.type_text("Matkhau@2026");
        self.tap("Đăng ký");
        self.expect("done");
        self.tap("Hoàn tất");
        self.expect("home");
    }

    fn expect(&self, page: &str) {
        assert_eq!(
            self.page(),
            page,
            "{}",
            self.ui.global::<Kiosk>().get_message()
        );
    }
}

#[test]
fn a_citizen_registers_by_touch_with_each_method() {
    i_slint_backend_testing::init_integration_test_with_mock_time();
    let dir = tempfile::tempdir().unwrap();
    let (demo, controller) = Demo::start(dir.path(), Box::new(OffsetDateTime::now_utc)).unwrap();
    let ui = KioskWindow::new().unwrap();
    ui.window().set_size(slint::PhysicalSize::new(1080, 1920));
    ui.show().unwrap();
    let controller = Rc::new(RefCell::new(controller));
    controller
        .borrow_mut()
        .wait_for_status(Duration::from_secs(10));
    let binding = gui::bind(&ui, controller);
    let t = Touch { ui, binding, demo };
    t.settle();

    // Thuê bao di động: the demo's Nguyễn Văn An, typed with Telex.
    t.expect("home");
    t.tap("Đăng ký");
    t.expect("subject");
    t.tap("Công dân");
    t.expect("method");
    t.tap("Thuê bao di động");
    t.expect("form");
    t.tap("Họ và tên");
    t.type_text("nguyeenx vawn an");
    t.tap("Số CCCD/CMND");
    t.type_text("051085001234");
    t.tap("Ngày sinh");
    t.type_text("14031985");
    t.tap("Số điện thoại");
    t.type_text("0912345678");
    let name = t
        .find("Họ và tên")
        .and_then(|e| e.accessible_value())
        .unwrap_or_default();
    assert_eq!(name, "Nguyễn Văn An");
    t.tap("Đăng ký");
    t.expect("otp");
    let digits = usize::from(t.binding.controller().borrow().policy().otp.digits);
    let code = t.demo.last_code(digits).expect("the phone got the code");
    t.type_text(&code);
    t.tap("Xác nhận");
    t.password_and_done();
    t.expect("home");

    // Sim ký số: the demo phone's own "Xác nhận ký" button answers.
    t.tap("Đăng ký");
    t.tap("Công dân");
    t.tap("Sim ký số");
    t.expect("form");
    t.tap("Số điện thoại");
    t.type_text("0987654321");
    t.tap("Đăng ký");
    t.expect("phone-wait");
    let shown = t.ui.global::<Kiosk>().get_verification_code().to_string();
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
        .answer_signature(&id, kiosk_sync::portal::PhoneAnswer::Confirm)
        .unwrap();
    t.settle();
    t.expect("confirm");
    // The certificate's holder, as the phone's SIM certificate names her.
    let lines = t.ui.global::<Kiosk>().get_lines();
    assert!(
        lines.iter().any(|l| l.contains("Trần Thị Thủy")),
        "{:?}",
        lines.iter().collect::<Vec<_>>()
    );
    t.tap("Đăng ký");
    t.password_and_done();

    // USB ký số, when the demo token is in the reader: wrong PIN, then right.
    if t.demo.has_token() {
        t.tap("Đăng ký");
        t.tap("Công dân");
        t.tap("USB ký số");
        t.expect("pin");
        t.type_text("111111");
        t.tap("Đăng nhập");
        t.expect("pin");
        t.type_text(kiosk::demo::DEMO_TOKEN_PIN);
        t.tap("Đăng nhập");
        t.expect("confirm");
        t.tap("Đăng ký");
        t.password_and_done();
    }

    // Hủy from the middle of a form: home, nothing of it left on screen.
    t.tap("Đăng ký");
    t.tap("Công dân");
    t.tap("Thuê bao di động");
    t.tap("Họ và tên");
    t.type_text("le thij hoaf");
    t.tap("Hủy");
    t.expect("home");
    let fields = t.ui.global::<Kiosk>().get_fields();
    assert!(fields.iter().all(|f| f.value.is_empty()));
}
