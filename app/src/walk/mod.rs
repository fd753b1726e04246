//! The headless walk: the demo kiosk driven through its real screens, the
//! way a citizen would touch them, with a PNG of every step.
//!
//! Every action goes through the window's own callbacks (the ones the
//! touch areas and keys call), so what is checked and drawn is what a
//! citizen would see. The OTP is read off the simulated phone. Nothing
//! needs a display: Slint's software renderer draws into memory.
//!
//! Here: the walker and the touches it makes; [`script`] walks every
//! method with a picture per step; [`day`] makes a long day of visits
//! for the memory benchmark.

use crate::domain::clock::HastenedClock;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use kiosk_ui::i18n::Lang;
use kiosk_ui::{KioskKeys, KioskScreen, KioskStatus, KioskWindow, Page};
use slint::ComponentHandle;

use crate::demo::Demo;

mod counter;
mod day;
mod script;
use crate::gui;

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

    /// Waits (up to 30 s) until the kiosk's relay has delivered its queue
    /// to the demo portal: an account exists there only then (before, the
    /// same person is told their registration waits here), and what the
    /// portal must answer at once (a password reset) is offered.
    fn wait_until_delivered(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let controller = self.binding.controller();
        let delivered = |c: &std::cell::RefCell<crate::controller::Controller>| {
            let status = c.borrow().view().status;
            status.online && status.queue_depth == 0
        };
        while !delivered(controller) && std::time::Instant::now() < deadline {
            controller
                .borrow_mut()
                .wait_for_status(Duration::from_millis(200));
            std::thread::sleep(Duration::from_millis(100));
        }
        self.binding.refresh(&self.ui);
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
    /// Waits until the kiosk shows `page` on its own, as after a card is
    /// placed: the reader's state reaches the controller with the status.
    fn until_page(&self, page: Page) -> Result<(), WalkError> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mut controller = self.binding.controller().borrow_mut();
            controller.settle(Duration::from_secs(30));
            let shown = controller.view().page;
            if shown == page {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(WalkError::WrongPage {
                    step: "waiting for the card".into(),
                    expected: page,
                    shown,
                });
            }
            controller.wait_for_status(Duration::from_secs(5));
        }
    }

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
        self.own_language();
        self.screen().invoke_register();
    }

    /// The walk's language chosen on the home screen, as a visitor would.
    fn own_language(&self) {
        if self.bar().get_language() != self.lang.code() {
            self.bar().invoke_toggle_language();
        }
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

    /// OTP, password, result and home again: the tail every phone method
    /// shares. Answers the reference the registration was given.
    fn otp_and_password(&mut self, prefix: &str) -> Result<String, WalkError> {
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
        let reference = self.screen().get_reference().to_string();
        self.screen().invoke_submit();
        self.snap(&format!("{prefix}-home-again"), Page::Home)?;
        Ok(reference)
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

/// A day at a post-office counter on the demo kiosk at `width`×`height`
/// in `lang`, writing PNGs into `out`.
pub fn run_counter(
    out: &Path,
    data_dir: &Path,
    width: u32,
    height: u32,
    lang: Lang,
) -> Result<Walked, WalkError> {
    let mut walker = Walker::start(out, data_dir, width, height, lang)?;
    walker.counter_day()?;
    Ok(Walked {
        shots: walker.shots,
        typed: walker.typed.into_inner(),
    })
}

/// The first boot of a kiosk never enrolled, in pictures: the technician's
/// setup as it opens, then with a wrong address typed. No portal is
/// asked: `kiosk-enrol.toml` and the enrolment itself are checked by
/// `app/tests/setup.rs` against the reference portal.
pub fn run_setup(
    out: &Path,
    data_dir: &Path,
    width: u32,
    height: u32,
    lang: Lang,
) -> Result<Vec<PathBuf>, WalkError> {
    use crate::controller::{Controller, Technician, device_fingerprint};
    std::fs::create_dir_all(out)
        .map_err(|e| WalkError::Setup(format!("{}: {e}", out.display())))?;
    let window = kiosk_ui::headless(width, height);
    let keys = crate::keys::Keyring::open_or_create(&data_dir.join("keys"))
        .map_err(|e| WalkError::Setup(e.to_string()))?;
    let fingerprint = device_fingerprint(&keys.device().public_key().to_bytes());
    let mut controller = Controller::new(
        std::sync::Arc::new(crate::policy::Policy::built_in().clone()),
        Box::new(crate::worker::SetupWorker::spawn(keys)),
        Box::new(HastenedClock::default()),
    );
    controller.set_technician(Technician::new(
        fingerprint,
        data_dir.to_path_buf(),
        vec![data_dir.join("usb")],
        None,
        None,
        true,
    ));
    let ui = KioskWindow::new().map_err(|e| WalkError::Setup(e.to_string()))?;
    ui.global::<KioskScreen>().set_wide(width > height);
    let binding = gui::bind(&ui, Rc::new(RefCell::new(controller)));
    if lang != Lang::Vi {
        ui.global::<KioskStatus>().invoke_toggle_language();
    }
    let mut shots = Vec::new();
    let mut shot = |name: &str| -> Result<(), WalkError> {
        binding.refresh(&ui);
        let shown = ui.global::<KioskScreen>().get_page();
        if shown != Page::Form {
            return Err(WalkError::WrongPage {
                step: name.into(),
                expected: Page::Form,
                shown,
            });
        }
        let path = out.join(format!("{name}-{}-{width}x{height}.png", lang.code()));
        let pixels = kiosk_ui::render(&window, &ui);
        kiosk_ui::write_png(&path, width, height, &pixels)
            .map_err(|e| WalkError::Setup(e.to_string()))?;
        shots.push(path);
        Ok(())
    };
    shot("setup")?;
    let screen = ui.global::<KioskScreen>();
    screen.invoke_focus("portal_url".into());
    for key in "http://portal.tinh.gov.vn".chars() {
        ui.global::<KioskKeys>().invoke_key(key.to_string().into());
    }
    screen.invoke_focus("enrol_code".into());
    for key in "K7M2Q9".chars() {
        ui.global::<KioskKeys>().invoke_key(key.to_string().into());
    }
    screen.invoke_submit();
    shot("setup-wrong-address")?;
    screen.invoke_use_card();
    shot("setup-no-usb")?;
    Ok(shots)
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
