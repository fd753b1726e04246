//! The headless walk: the demo kiosk driven through its real screens, the
//! way a citizen would touch them, with a PNG of every step.
//!
//! Every action goes through the window's own callbacks (the ones the
//! touch areas and keys call), so what is checked and drawn is what a
//! citizen would see. The OTP is read off the simulated phone. Nothing
//! needs a display: Slint's software renderer draws into memory.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use kiosk_ui::i18n::Lang;
use kiosk_ui::{Kiosk, KioskWindow};
use slint::ComponentHandle;
use time::OffsetDateTime;

use crate::demo::Demo;
use crate::gui;
use kiosk_portal::PhoneAnswer;

/// A step that did not end where it should.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("{step}: expected the {expected} screen, the kiosk shows {shown}")]
    WrongPage {
        step: String,
        expected: &'static str,
        shown: String,
    },
    #[error("{step}: the screens are in {shown}, not {expected}")]
    WrongLanguage {
        step: String,
        expected: &'static str,
        shown: String,
    },
    #[error("{0}")]
    Setup(String),
}

/// Drives one window; see the module documentation.
pub struct Walker {
    ui: KioskWindow,
    window: Rc<slint::platform::software_renderer::MinimalSoftwareWindow>,
    binding: Rc<gui::Binding>,
    demo: Demo,
    skew: Arc<AtomicI64>,
    out: PathBuf,
    size: (u32, u32),
    /// The language each visit is made in, chosen with the status bar's
    /// switch before Đăng ký.
    lang: Lang,
    shots: Vec<PathBuf>,
    /// Whether each step is drawn to a PNG.
    pictures: bool,
    registered: u32,
}

impl Walker {
    fn k(&self) -> Kiosk<'_> {
        self.ui.global::<Kiosk>()
    }

    /// Lets the runtime finish, redraws, checks the page, writes the PNG.
    fn snap(&mut self, name: &str, expected: &'static str) -> Result<(), WalkError> {
        self.binding
            .controller()
            .borrow_mut()
            .settle(Duration::from_secs(30));
        self.picture(name, expected)
    }

    /// Draws the screen as it is, while the kiosk waits on someone (the
    /// citizen's phone): nothing to settle.
    fn picture(&mut self, name: &str, expected: &'static str) -> Result<(), WalkError> {
        self.binding.controller().borrow_mut().poll();
        // The status bar's queue depth after a registration was stored.
        self.binding
            .controller()
            .borrow_mut()
            .wait_for_status(Duration::from_secs(10));
        self.binding.refresh(&self.ui);
        let shown = self.k().get_page().to_string();
        if shown != expected {
            return Err(WalkError::WrongPage {
                step: name.into(),
                expected,
                shown,
            });
        }
        // A visit keeps its language to the end; home after one is
        // Vietnamese again (the first home shows the switch already made).
        let language = if expected == "home" && name != "home" {
            Lang::Vi
        } else {
            self.lang
        };
        let shown = self.k().get_language().to_string();
        if shown != language.code() {
            return Err(WalkError::WrongLanguage {
                step: name.into(),
                expected: language.code(),
                shown,
            });
        }
        if !self.pictures {
            return Ok(());
        }
        let (w, h) = self.size;
        let pixels = kiosk_ui::render(&self.window, &self.ui);
        let path = self.out.join(format!(
            "{:02}-{name}-{}-{w}x{h}.png",
            self.shots.len() + 1,
            self.lang.code()
        ));
        kiosk_ui::write_png(&path, w, h, &pixels).map_err(|e| WalkError::Setup(e.to_string()))?;
        self.shots.push(path);
        Ok(())
    }

    fn type_keys(&self, keys: &str) {
        for key in keys.chars() {
            self.k().invoke_key(key.to_string().into());
        }
    }

    fn fill(&self, field: &str, keys: &str) {
        self.k().invoke_focus(field.into());
        self.type_keys(keys);
    }

    fn read_code(&self) -> String {
        let digits = usize::from(self.binding.controller().borrow().policy().otp.digits);
        self.demo.last_code(digits).unwrap_or_default()
    }

    /// The id of the mobile-signature request once it reaches the demo
    /// phone (the portal has it), waiting on the runtime's answers
    /// meanwhile.
    fn wait_for_phone(&self) -> Result<String, WalkError> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some((id, _, _)) = self.demo.pending_signature() {
                return Ok(id);
            }
            if std::time::Instant::now() > deadline {
                return Err(WalkError::Setup(
                    "the mobile-signature request never reached the demo phone".into(),
                ));
            }
            self.binding.controller().borrow_mut().poll();
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the demo phone no longer shows request `id`.
    fn wait_until_withdrawn(&self, id: &str) -> Result<(), WalkError> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self
            .demo
            .pending_signature()
            .is_some_and(|(pending, _, _)| pending == id)
        {
            if std::time::Instant::now() > deadline {
                return Err(WalkError::Setup(
                    "the withdrawn request stayed on the demo phone".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Đăng ký, in the walk's language: the switch first when the kiosk
    /// shows another.
    fn register_visit(&self) {
        if self.k().get_language() != self.lang.code() {
            self.k().invoke_toggle_language();
        }
        self.k().invoke_register();
    }

    /// Đăng ký → Công dân → `method`.
    fn citizen_chooses(&self, method: &str) {
        self.register_visit();
        self.k().invoke_choose_subject("citizen".into());
        self.k().invoke_choose_method(method.into());
    }

    /// The SIM form sent with `phone`: the request's id once it reaches
    /// the demo phone.
    fn sign_with_phone(&self, phone: &str) -> Result<String, WalkError> {
        self.fill("phone", phone);
        self.k().invoke_submit();
        self.wait_for_phone()
    }

    fn advance(&self, seconds: i64) {
        self.skew.fetch_add(seconds, Ordering::SeqCst);
    }

    /// OTP, password, result: the tail every phone method shares.
    fn otp_and_password(&mut self, prefix: &str) -> Result<(), WalkError> {
        self.k().invoke_submit();
        self.snap(&format!("{prefix}-otp"), "otp")?;
        let code = self.read_code();
        self.type_keys(&code);
        self.snap(&format!("{prefix}-otp-typed"), "otp")?;
        self.k().invoke_submit();
        self.snap(&format!("{prefix}-password"), "password")?;
        self.type_keys("Matkhau@2026⏎Matkhau");
        self.snap(&format!("{prefix}-password-checklist"), "password")?;
        self.type_keys("@2026");
        self.k().invoke_submit();
        self.snap(&format!("{prefix}-done"), "done")?;
        self.k().invoke_submit();
        self.snap(&format!("{prefix}-home-again"), "home")
    }

    fn walk(&mut self) -> Result<(), WalkError> {
        if self.lang != Lang::Vi {
            self.k().invoke_toggle_language();
        }
        self.snap("home", "home")?;
        self.register_visit();
        self.snap("subject", "subject")?;
        self.k().invoke_choose_subject("citizen".into());
        self.snap("method", "method")?;

        // Thuê bao di động, with a mistake the citizen then fixes. The
        // demo portal's carrier register knows this number and this person
        // (sync/fixtures/demo.json), so the subscriber check passes live.
        self.k().invoke_choose_method("mobile_subscriber".into());
        self.snap("mobile-form", "form")?;
        self.fill("full_name", "nguyeenx vawn an");
        self.snap("mobile-telex", "form")?;
        self.fill("personal_id", "051085001234");
        self.fill("date_of_birth", "14031985");
        self.fill("phone", "0101234567");
        self.k().invoke_focus("email".into());
        self.snap("mobile-field-error", "form")?;
        self.fill("phone", &"⌫".repeat(10));
        self.type_keys("0912345678");
        self.fill("email", "thuy.nguyen@gmail.com");
        self.snap("mobile-email", "form")?;
        self.otp_and_password("mobile")?;

        // The same citizen again: the manual's three ways out.
        self.citizen_chooses("mobile_subscriber");
        self.fill("full_name", "nguyeenx vawn an");
        self.fill("personal_id", "051085001234");
        self.fill("date_of_birth", "14031985");
        self.fill("phone", "0912345678");
        self.k().invoke_submit();
        self.snap("mobile-account-exists", "exists")?;
        self.k().invoke_submit();

        // Mã số BHXH, matched live against the demo portal's records.
        self.citizen_chooses("bhxh");
        self.fill("bhxh_code", "0101234569");
        self.fill("full_name", "ddawngj quoocs uwng");
        self.fill("date_of_birth", "30071978");
        self.fill("phone", "0901234567");
        self.snap("bhxh-form", "form")?;
        // The network refuses the first SMS: the kiosk says so and offers
        // to try again, which works once the network takes it.
        self.demo.refuse_sms(Some(500));
        self.k().invoke_submit();
        self.snap("bhxh-otp-not-sent", "otp-not-sent")?;
        self.demo.refuse_sms(None);
        self.otp_and_password("bhxh")?;

        // Sim ký số: the request goes to the phone through the portal; the
        // demo phone confirms it, and the certificate's details come back.
        self.citizen_chooses("sim_signature");
        let first = self.sign_with_phone("0987654321")?;
        self.picture("sim-waiting", "phone-wait")?;
        // Back: the request is withdrawn from the phone, the number stays.
        self.k().invoke_back();
        self.snap("sim-back", "form")?;
        self.wait_until_withdrawn(&first)?;
        self.k().invoke_submit();
        let request = self.wait_for_phone()?;
        self.demo
            .answer_signature(&request, PhoneAnswer::Confirm)
            .map_err(WalkError::Setup)?;
        self.snap("sim-confirm", "confirm")?;
        self.fill("email", "thuy.tran@gmail.com");
        self.k().invoke_submit();
        self.snap("sim-password", "password")?;
        self.type_keys("Matkhau@2026⏎Matkhau@2026");
        self.k().invoke_submit();
        self.snap("sim-done", "done")?;
        self.k().invoke_submit();

        // Another citizen refuses the request on the phone.
        self.citizen_chooses("sim_signature");
        let request = self.sign_with_phone("0987654321")?;
        self.demo
            .answer_signature(&request, PhoneAnswer::Refuse)
            .map_err(WalkError::Setup)?;
        self.snap("sim-refused", "failed")?;
        self.k().invoke_submit();

        // USB ký số, with the demo token in the reader: a wrong PIN first.
        if self.demo.has_token() {
            self.citizen_chooses("usb_token");
            self.snap("token-pin", "pin")?;
            self.type_keys("111111");
            self.k().invoke_submit();
            self.snap("token-wrong-pin", "pin")?;
            self.type_keys(crate::demo::DEMO_TOKEN_PIN);
            self.k().invoke_submit();
            self.snap("token-confirm", "confirm")?;
            self.k().invoke_submit();
            self.snap("token-password", "password")?;
            self.type_keys("Matkhau@2026⏎Matkhau@2026");
            self.k().invoke_submit();
            self.snap("token-done", "done")?;
            self.k().invoke_submit();
        }

        // A business sees only what is offered to businesses.
        self.register_visit();
        self.k().invoke_choose_subject("business".into());
        self.snap("business-methods", "method")?;
        self.k().invoke_cancel();

        // Walking away: the warning, then a wiped kiosk.
        self.citizen_chooses("mobile_subscriber");
        self.fill("full_name", "lee thij hoaf");
        // Hòa or Hoà, as on the citizen's card: the key offers the other.
        self.snap("name-respell", "form")?;
        let rules = self.binding.controller().borrow().policy().session.clone();
        self.advance(i64::from(rules.idle_timeout_seconds - rules.idle_warning_seconds) + 5);
        self.binding.controller().borrow_mut().on_tick();
        self.snap("idle-warning", "form")?;
        self.advance(i64::from(rules.idle_warning_seconds));
        self.binding.controller().borrow_mut().on_tick();
        self.snap("idle-timeout-home", "home")
    }
}

impl std::fmt::Debug for Walker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Walker")
            .field("size", &self.size)
            .field("shots", &self.shots.len())
            .finish_non_exhaustive()
    }
}

impl Walker {
    /// The demo kiosk on a headless `width`×`height` screen, showing home;
    /// PNGs go to `out`.
    pub fn start(
        out: &Path,
        data_dir: &Path,
        width: u32,
        height: u32,
        lang: Lang,
    ) -> Result<Walker, WalkError> {
        std::fs::create_dir_all(out)
            .map_err(|e| WalkError::Setup(format!("{}: {e}", out.display())))?;
        let window = kiosk_ui::headless(width, height);
        let skew = Arc::new(AtomicI64::new(0));
        let read = Arc::clone(&skew);
        let clock = move || {
            OffsetDateTime::now_utc() + time::Duration::seconds(read.load(Ordering::SeqCst))
        };
        let (demo, controller) =
            Demo::start(data_dir, Box::new(clock)).map_err(WalkError::Setup)?;
        let controller = Rc::new(RefCell::new(controller));
        controller
            .borrow_mut()
            .wait_for_status(Duration::from_secs(10));
        let ui = KioskWindow::new().map_err(|e| WalkError::Setup(e.to_string()))?;
        ui.global::<Kiosk>().set_wide(width > height);
        let binding = gui::bind(&ui, controller);
        Ok(Walker {
            ui,
            window,
            binding,
            demo,
            skew,
            out: out.to_path_buf(),
            size: (width, height),
            lang,
            shots: Vec::new(),
            pictures: true,
            registered: 0,
        })
    }

    /// Draws the current screen in full (every pixel, as after a wake-up).
    pub fn render_frame(&self) -> Vec<slint::Rgb8Pixel> {
        kiosk_ui::render(&self.window, &self.ui)
    }

    /// Home → mobile-subscriber form, with the name typed and the letter
    /// keyboard up: the busiest screen there is.
    pub fn open_form(&mut self) -> Result<(), WalkError> {
        self.citizen_chooses("mobile_subscriber");
        self.fill("full_name", "nguyeenx thij thury");
        self.snap("form", "form")
    }

    /// `n` complete mobile registrations through the screens, each with its
    /// own citizen (never one registered before), back home after each.
    /// No pictures: this is the kiosk at work, not the walk.
    pub fn register(&mut self, n: u32) -> Result<(), WalkError> {
        let pictures = std::mem::replace(&mut self.pictures, false);
        let done = self.register_each(n);
        self.pictures = pictures;
        done
    }

    fn register_each(&mut self, n: u32) -> Result<(), WalkError> {
        for _ in 0..n {
            let i = self.registered;
            self.registered += 1;
            self.citizen_chooses("mobile_subscriber");
            self.fill("full_name", "tran vawn an");
            self.fill("personal_id", &format!("0790900{i:05}"));
            self.fill("date_of_birth", "01011990");
            self.fill("phone", &format!("09123{i:05}"));
            self.otp_and_password(&format!("registration-{i}"))?;
        }
        Ok(())
    }
}

/// Walks every method the demo kiosk offers at `width`×`height` in
/// `lang`, writing PNGs into `out`; answers their paths.
pub fn run(
    out: &Path,
    data_dir: &Path,
    width: u32,
    height: u32,
    lang: Lang,
) -> Result<Vec<PathBuf>, WalkError> {
    let mut walker = Walker::start(out, data_dir, width, height, lang)?;
    walker.walk()?;
    Ok(walker.shots)
}
