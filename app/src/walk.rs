//! The headless walk: the demo kiosk driven through its real screens, the
//! way a citizen would touch them, with a PNG of every step.
//!
//! Every action goes through the window's own callbacks (the ones the
//! touch areas and keys call), so what is checked and drawn is what a
//! citizen would see. The OTP is read off the simulated phone. Nothing
//! needs a display: Slint's software renderer draws into memory.

use crate::domain::clock::HastenedClock;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use kiosk_ui::i18n::Lang;
use kiosk_ui::{KioskKeys, KioskScreen, KioskStatus, KioskWindow, Page};
use slint::ComponentHandle;

use crate::demo::Demo;
use crate::gui;
use kiosk_portal::PhoneAnswer;

/// A step that did not end where it should.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    #[error("{step}: expected the {expected:?} screen, the kiosk shows {shown:?}")]
    WrongPage {
        step: String,
        expected: Page,
        shown: Page,
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
    clock: HastenedClock,
    out: PathBuf,
    size: (u32, u32),
    /// The language each visit is made in, chosen with the status bar's
    /// switch before Đăng ký.
    lang: Lang,
    shots: Vec<PathBuf>,
    /// Whether each step is drawn to a PNG.
    pictures: bool,
    registered: u32,
    /// Every value typed, as its field held it (names composed by Telex)
    /// and as keyed (codes, PINs, passwords).
    typed: RefCell<Vec<String>>,
}

/// What a walk did.
#[derive(Debug, Default)]
pub struct Walked {
    /// The pictures, one per step (none from [`run_without_pictures`]).
    pub shots: Vec<PathBuf>,
    /// Every value the walk typed: names as the fields composed them,
    /// numbers, e-mails, codes, PINs and passwords as keyed. What no log
    /// line may contain.
    pub typed: Vec<String>,
}

impl Walker {
    fn screen(&self) -> KioskScreen<'_> {
        self.ui.global::<KioskScreen>()
    }

    fn bar(&self) -> KioskStatus<'_> {
        self.ui.global::<KioskStatus>()
    }

    fn keys(&self) -> KioskKeys<'_> {
        self.ui.global::<KioskKeys>()
    }

    /// Lets the runtime finish, redraws, checks the page, writes the PNG.
    fn snap(&mut self, name: &str, expected: Page) -> Result<(), WalkError> {
        self.binding
            .controller()
            .borrow_mut()
            .settle(Duration::from_secs(30));
        self.picture(name, expected)
    }

    /// Draws the screen as it is, while the kiosk waits on someone (the
    /// citizen's phone): nothing to settle.
    fn picture(&mut self, name: &str, expected: Page) -> Result<(), WalkError> {
        self.binding.controller().borrow_mut().poll();
        // The status bar's queue depth after a registration was stored.
        self.binding
            .controller()
            .borrow_mut()
            .wait_for_status(Duration::from_secs(10));
        self.binding.refresh(&self.ui);
        let shown = self.screen().get_page();
        if shown != expected {
            return Err(WalkError::WrongPage {
                step: name.into(),
                expected,
                shown,
            });
        }
        // A visit keeps its language to the end; home after one is
        // Vietnamese again (the first home shows the switch already made).
        let language = if expected == Page::Home && name != "home" {
            Lang::Vi
        } else {
            self.lang
        };
        let shown = self.bar().get_language().to_string();
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
            self.keys().invoke_key(key.to_string().into());
        }
        let mut typed = self.typed.borrow_mut();
        typed.extend(
            keys.split('⏎')
                .filter(|k| !k.is_empty())
                .map(str::to_string),
        );
    }

    fn fill(&self, field: &str, keys: &str) {
        self.screen().invoke_focus(field.into());
        self.type_keys(keys);
        let held = self
            .binding
            .controller()
            .borrow()
            .view()
            .fields
            .into_iter()
            .find(|f| f.id == field)
            .map(|f| f.value);
        if let Some(held) = held {
            self.typed.borrow_mut().push(held);
        }
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
                let view = self.binding.controller().borrow().view();
                return Err(WalkError::Setup(format!(
                    "the mobile-signature request never reached the demo phone; the kiosk shows {:?}: {}",
                    view.page, view.message
                )));
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
        if self.bar().get_language() != self.lang.code() {
            self.bar().invoke_toggle_language();
        }
        self.screen().invoke_register();
    }

    /// Đăng ký → Công dân → `method`.
    fn citizen_chooses(&self, method: &str) {
        self.register_visit();
        self.screen().invoke_choose_subject("citizen".into());
        self.screen().invoke_choose_method(method.into());
    }

    /// The SIM form sent with `phone`: the request's id once it reaches
    /// the demo phone.
    fn sign_with_phone(&self, phone: &str) -> Result<String, WalkError> {
        self.fill("phone", phone);
        self.screen().invoke_submit();
        self.wait_for_phone()
    }

    fn advance(&self, seconds: u64) {
        self.clock.hasten(seconds);
    }

    /// OTP, password, result: the tail every phone method shares.
    fn otp_and_password(&mut self, prefix: &str) -> Result<(), WalkError> {
        self.screen().invoke_submit();
        self.snap(&format!("{prefix}-otp"), Page::Otp)?;
        let code = self.read_code();
        self.type_keys(&code);
        self.snap(&format!("{prefix}-otp-typed"), Page::Otp)?;
        self.screen().invoke_submit();
        self.snap(&format!("{prefix}-password"), Page::Password)?;
        self.type_keys("Matkhau@2026⏎Matkhau");
        self.snap(&format!("{prefix}-password-checklist"), Page::Password)?;
        self.type_keys("@2026");
        self.screen().invoke_submit();
        self.snap(&format!("{prefix}-done"), Page::Done)?;
        self.screen().invoke_submit();
        self.snap(&format!("{prefix}-home-again"), Page::Home)
    }

    fn walk(&mut self) -> Result<(), WalkError> {
        if self.lang != Lang::Vi {
            self.bar().invoke_toggle_language();
        }
        self.snap("home", Page::Home)?;
        self.register_visit();
        self.snap("subject", Page::Subject)?;
        self.screen().invoke_choose_subject("citizen".into());
        self.snap("method", Page::Method)?;

        // Thuê bao di động, with a mistake the citizen then fixes. The
        // demo portal's carrier register knows this number and this person
        // (sync/portal/fixtures/demo.json), so the subscriber check passes live.
        self.screen()
            .invoke_choose_method("mobile_subscriber".into());
        self.snap("mobile-form", Page::Form)?;
        self.fill("full_name", "nguyeenx vawn an");
        self.snap("mobile-telex", Page::Form)?;
        self.fill("personal_id", "051085001234");
        self.fill("date_of_birth", "14031985");
        self.fill("phone", "0101234567");
        self.screen().invoke_focus("email".into());
        self.snap("mobile-field-error", Page::Form)?;
        self.fill("phone", &"⌫".repeat(10));
        self.type_keys("0912345678");
        self.fill("email", "thuy.nguyen@gmail.com");
        self.snap("mobile-email", Page::Form)?;
        self.otp_and_password("mobile")?;

        // The same citizen again: the manual's three ways out.
        self.citizen_chooses("mobile_subscriber");
        self.fill("full_name", "nguyeenx vawn an");
        self.fill("personal_id", "051085001234");
        self.fill("date_of_birth", "14031985");
        self.fill("phone", "0912345678");
        self.screen().invoke_submit();
        self.snap("mobile-account-exists", Page::Exists)?;
        self.screen().invoke_submit();

        // Mã số BHXH, matched live against the demo portal's records.
        self.citizen_chooses("bhxh");
        self.fill("bhxh_code", "0101234569");
        self.fill("full_name", "ddawngj quoocs uwng");
        self.fill("date_of_birth", "30071978");
        self.fill("phone", "0901234567");
        self.snap("bhxh-form", Page::Form)?;
        // The network refuses the first SMS: the kiosk says so and offers
        // to try again, which works once the network takes it.
        self.demo.refuse_sms(Some(500));
        self.screen().invoke_submit();
        self.snap("bhxh-otp-not-sent", Page::OtpNotSent)?;
        self.demo.refuse_sms(None);
        self.otp_and_password("bhxh")?;

        // Sim ký số: the request goes to the phone through the portal; the
        // demo phone confirms it, and the certificate's details come back.
        self.citizen_chooses("sim_signature");
        let first = self.sign_with_phone("0987654321")?;
        self.picture("sim-waiting", Page::PhoneWait)?;
        // Back: the request is withdrawn from the phone, the number stays.
        self.screen().invoke_back();
        self.snap("sim-back", Page::Form)?;
        self.wait_until_withdrawn(&first)?;
        self.screen().invoke_submit();
        let request = self.wait_for_phone()?;
        self.demo
            .answer_signature(&request, PhoneAnswer::Confirm)
            .map_err(WalkError::Setup)?;
        self.snap("sim-confirm", Page::Confirm)?;
        self.fill("email", "thuy.tran@gmail.com");
        self.screen().invoke_submit();
        self.snap("sim-password", Page::Password)?;
        self.type_keys("Matkhau@2026⏎Matkhau@2026");
        self.screen().invoke_submit();
        self.snap("sim-done", Page::Done)?;
        self.screen().invoke_submit();

        // Another citizen refuses the request on the phone.
        self.citizen_chooses("sim_signature");
        let request = self.sign_with_phone("0987654321")?;
        self.demo
            .answer_signature(&request, PhoneAnswer::Refuse)
            .map_err(WalkError::Setup)?;
        self.snap("sim-refused", Page::Failed)?;
        self.screen().invoke_submit();

        // USB ký số, with the demo token in the reader: a wrong PIN first.
        if self.demo.has_token() {
            self.citizen_chooses("usb_token");
            self.snap("token-pin", Page::Pin)?;
            self.type_keys("111111");
            self.screen().invoke_submit();
            self.snap("token-wrong-pin", Page::Pin)?;
            self.type_keys(crate::demo::DEMO_TOKEN_PIN);
            self.screen().invoke_submit();
            self.snap("token-confirm", Page::Confirm)?;
            self.screen().invoke_submit();
            self.snap("token-password", Page::Password)?;
            self.type_keys("Matkhau@2026⏎Matkhau@2026");
            self.screen().invoke_submit();
            self.snap("token-done", Page::Done)?;
            self.screen().invoke_submit();
        }

        // A business sees only what is offered to businesses.
        self.register_visit();
        self.screen().invoke_choose_subject("business".into());
        self.snap("business-methods", Page::Method)?;
        self.screen().invoke_cancel();

        // Walking away: the warning, then a wiped kiosk.
        self.citizen_chooses("mobile_subscriber");
        self.fill("full_name", "lee thij hoaf");
        // Hòa or Hoà, as on the citizen's card: the key offers the other.
        self.snap("name-respell", Page::Form)?;
        let rules = self.binding.controller().borrow().policy().session.clone();
        self.advance(u64::from(rules.idle_timeout_seconds - rules.idle_warning_seconds) + 5);
        self.binding.controller().borrow_mut().on_tick();
        self.snap("idle-warning", Page::Form)?;
        self.advance(u64::from(rules.idle_warning_seconds));
        self.binding.controller().borrow_mut().on_tick();
        self.snap("idle-timeout-home", Page::Home)
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
        let clock = HastenedClock::default();
        let (demo, controller) =
            Demo::start(data_dir, Box::new(clock.clone())).map_err(WalkError::Setup)?;
        let controller = Rc::new(RefCell::new(controller));
        controller
            .borrow_mut()
            .wait_for_status(Duration::from_secs(10));
        let ui = KioskWindow::new().map_err(|e| WalkError::Setup(e.to_string()))?;
        ui.global::<KioskScreen>().set_wide(width > height);
        let binding = gui::bind(&ui, controller);
        Ok(Walker {
            ui,
            window,
            binding,
            demo,
            clock,
            out: out.to_path_buf(),
            size: (width, height),
            lang,
            shots: Vec::new(),
            pictures: true,
            registered: 0,
            typed: RefCell::new(Vec::new()),
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
        self.snap("form", Page::Form)
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

    /// Visit number `i` of a long day at the kiosk, with no pictures: in
    /// every twenty, fifteen complete mobile registrations (each its own
    /// citizen), one BHXH, one mobile-signature and one USB-token visit
    /// (the first of each completes; the demo has one such citizen, so the
    /// rest end on the account-exists page), one citizen who presses Hủy
    /// half-way and one who walks away until the idle timeout. Each visit
    /// ends back home; answers the last page before it.
    pub fn visit(&mut self, i: u32) -> Result<Page, WalkError> {
        let pictures = std::mem::replace(&mut self.pictures, false);
        let end = self.visit_by_kind(i);
        self.pictures = pictures;
        // The demo phone's inbox and the walk's own record of what it
        // typed are the test's, not the kiosk's: emptied after each visit.
        self.demo.clear_sms();
        self.typed.borrow_mut().clear();
        end
    }

    fn visit_by_kind(&mut self, i: u32) -> Result<Page, WalkError> {
        match i % 20 {
            4 => {
                self.citizen_chooses("bhxh");
                self.fill("bhxh_code", "0101234569");
                self.fill("full_name", "ddawngj quoocs uwng");
                self.fill("date_of_birth", "30071978");
                self.fill("phone", "0901234567");
                self.screen().invoke_submit();
                self.finish_visit()
            }
            9 => {
                self.citizen_chooses("sim_signature");
                self.snap("sim-form", Page::Form)?;
                let request = self.sign_with_phone("0987654321")?;
                self.demo
                    .answer_signature(&request, PhoneAnswer::Confirm)
                    .map_err(WalkError::Setup)?;
                self.finish_visit()
            }
            14 if self.demo.has_token() => {
                self.citizen_chooses("usb_token");
                self.finish_visit()
            }
            7 => {
                self.citizen_chooses("mobile_subscriber");
                self.fill("full_name", "hoang thij mai");
                self.fill("personal_id", "079190");
                self.screen().invoke_cancel();
                self.snap("cancelled", Page::Home)?;
                Ok(Page::Form)
            }
            17 => {
                self.citizen_chooses("mobile_subscriber");
                self.fill("phone", "0912");
                let rules = self.binding.controller().borrow().policy().session.clone();
                self.advance(u64::from(rules.idle_timeout_seconds));
                self.binding.controller().borrow_mut().on_tick();
                self.snap("walked-away", Page::Home)?;
                Ok(Page::Form)
            }
            _ => {
                self.register(1)?;
                Ok(Page::Done)
            }
        }
    }

    /// Answers whatever the method asks next until its last page, then
    /// goes home from it; answers that last page.
    fn finish_visit(&mut self) -> Result<Page, WalkError> {
        for _ in 0..12 {
            {
                let mut controller = self.binding.controller().borrow_mut();
                controller.settle(Duration::from_secs(30));
                // A token in the reader is seen with the status.
                controller.wait_for_status(Duration::from_secs(10));
                controller.settle(Duration::from_secs(30));
            }
            self.binding.refresh(&self.ui);
            let page = self.screen().get_page();
            match page {
                Page::Otp => self.type_keys(&self.read_code()),
                Page::Password => self.type_keys("Matkhau@2026⏎Matkhau@2026"),
                Page::Pin => self.type_keys(crate::demo::DEMO_TOKEN_PIN),
                Page::Confirm | Page::TokenWait | Page::Busy | Page::PhoneWait => {}
                Page::Done | Page::Exists | Page::Failed => {
                    self.screen().invoke_submit();
                    self.snap("home-again", Page::Home)?;
                    return Ok(page);
                }
                _ => {
                    return Err(WalkError::WrongPage {
                        step: "finish the visit".into(),
                        expected: Page::Done,
                        shown: page,
                    });
                }
            }
            if !matches!(page, Page::TokenWait | Page::Busy | Page::PhoneWait) {
                self.screen().invoke_submit();
            }
        }
        Err(WalkError::Setup(
            "a visit did not reach its last page in twelve steps".into(),
        ))
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
/// `lang`, writing PNGs into `out`.
pub fn run(
    out: &Path,
    data_dir: &Path,
    width: u32,
    height: u32,
    lang: Lang,
) -> Result<Walked, WalkError> {
    let mut walker = Walker::start(out, data_dir, width, height, lang)?;
    walker.walk()?;
    Ok(Walked {
        shots: walker.shots,
        typed: walker.typed.into_inner(),
    })
}

/// The same walk, every step checked, no picture drawn.
pub fn run_without_pictures(
    data_dir: &Path,
    width: u32,
    height: u32,
    lang: Lang,
) -> Result<Walked, WalkError> {
    let mut walker = Walker::start(&data_dir.join("walk"), data_dir, width, height, lang)?;
    walker.pictures = false;
    walker.walk()?;
    Ok(Walked {
        shots: walker.shots,
        typed: walker.typed.into_inner(),
    })
}
