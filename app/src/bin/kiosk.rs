//! `kiosk`: the touchscreen program.
//!
//! - `kiosk` runs the appliance from `/etc/kiosk/kiosk.toml`.
//! - `kiosk --demo` runs it with simulated devices (the modem simulator on a
//!   pseudo-terminal) and a demo data directory, with the demo phone beside
//!   the screen showing the SMS the kiosk sent.
//! - `kiosk --demo --headless DIR` needs no display: it walks every method
//!   through the real screens and writes a PNG per step into `DIR`, in
//!   portrait (1080×1920) and landscape (1920×1080).
//!
//! The demo and the walk exist only in a build with the `demo` feature (the
//! desktop build); the appliance build refuses `--demo` with a message.
//!
//! Exit codes: 0 done, 2 usage, 3 environment (no display, bad config).

use std::cell::RefCell;
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use kiosk::config::{Config, DEFAULT_CONFIG};
use kiosk::controller::Controller;
use kiosk::domain::clock::SystemClock;
use kiosk::gui;
use kiosk::keys::Keyring;
use kiosk::policy::{ActivePolicy, Policy};
use kiosk::store::{Store, StoreError};
use kiosk::token::TokenService;
use kiosk::uplink::{
    AsyncRuntime, Enrolment, LiveChecks, Uplink, load_portal_policy, portal_policy_path,
};
use kiosk::worker::{Backend, Worker};
use kiosk_hal::modem::{ModemConfig, ModemService};
use kiosk_hal::token::cert::TrustAnchors;
use kiosk_ui::{KioskScreen, KioskWindow};
use slint::ComponentHandle;
use time::OffsetDateTime;

#[derive(Debug, Parser)]
#[command(version, about = "The registration kiosk's touchscreen program")]
struct Args {
    /// The kiosk's configuration file.
    #[arg(long, env = "KIOSK_CONFIG", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Simulated devices and a demo data directory, with the demo phone.
    #[arg(long)]
    demo: bool,
    /// Where the demo keeps its data.
    #[arg(long, default_value = "target/demo/kiosk")]
    demo_dir: PathBuf,
    /// No window: walk every method through the real screens and write a
    /// PNG per step into this directory (with --demo).
    #[arg(long, value_name = "DIR")]
    headless: Option<PathBuf>,
    /// Start the demo kiosk, draw its first frame (1080×1920) into this
    /// PNG, print how long that took and the peak memory, and exit: the
    /// cold-start figure of the benchmark.
    #[arg(long, value_name = "PNG")]
    first_frame: Option<PathBuf>,
    /// Show only the out-of-service screen (what systemd starts when the
    /// kiosk has failed too often to be restarted).
    #[arg(long)]
    maintenance: bool,
    /// The demo kiosk on a post-office counter: it opens on the clerk's
    /// sign-in (staff code BD-DEMO-0001, PIN 246810, or the demo USB
    /// token). Off the demo, the configuration's `[counter]` decides.
    #[arg(long, requires = "demo")]
    counter: bool,
}

fn main() -> ExitCode {
    let started = std::time::Instant::now();
    let args = Args::parse();
    // RUST_LOG first; then kiosk.toml's, or for the walk and the first
    // frame (which print what they made) warnings only.
    let configured = if args.headless.is_some() || args.first_frame.is_some() {
        Some("warn".to_string())
    } else if args.demo {
        None
    } else {
        Config::load(&args.config).ok().and_then(|c| c.log)
    };
    kiosk::logging::init("kiosk", configured.as_deref());
    if args.demo || args.first_frame.is_some() {
        #[cfg(feature = "demo")]
        {
            if let Some(png) = &args.first_frame {
                return demo_mode::first_frame(png, &args.demo_dir, started);
            }
            if let Some(out) = &args.headless {
                return demo_mode::headless(out, &args.demo_dir);
            }
        }
        #[cfg(not(feature = "demo"))]
        {
            let _ = started;
            eprintln!("kiosk: this build has no demo (it was built without the demo feature)");
            return ExitCode::from(2);
        }
    } else if args.headless.is_some() {
        eprintln!("kiosk: --headless walks the demo kiosk; add --demo");
        return ExitCode::from(2);
    }
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    // The appliance build draws on the console through DRM/KMS: no display
    // server to look for.
    if cfg!(not(feature = "linuxkms")) && !has_display {
        eprintln!(
            "kiosk: no display (neither DISPLAY nor WAYLAND_DISPLAY is set), so no window can open.\n\
             To see every screen without a display, run the headless walk:\n  \
             kiosk --demo --headless target/walk\n\
             It completes each registration method through the real screens and writes a PNG per step."
        );
        return ExitCode::from(3);
    }
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        demo = args.demo,
        maintenance = args.maintenance,
        "kiosk starting"
    );
    let shown = if args.maintenance {
        maintenance_window()
    } else {
        window(&args)
    };
    match shown {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the kiosk stopped");
            ExitCode::from(3)
        }
    }
}

/// The demo kiosk's walk and first frame (the `demo` feature only).
#[cfg(feature = "demo")]
mod demo_mode {
    use std::process::ExitCode;

    use kiosk_ui::i18n::Lang;

    pub(super) fn headless(out: &std::path::Path, demo_dir: &std::path::Path) -> ExitCode {
        let walks = [(1080, 1920), (1920, 1080)]
            .into_iter()
            .flat_map(|size| Lang::ALL.map(|lang| (size, lang)));
        for ((width, height), lang) in walks {
            // A fresh kiosk per walk, so no walk is a repeat visit.
            let data = demo_dir.join(format!("walk-{}-{width}x{height}", lang.code()));
            let _ = std::fs::remove_dir_all(&data);
            match kiosk::walk::run(out, &data, width, height, lang) {
                Ok(walked) => {
                    for shot in &walked.shots {
                        println!("{}", shot.display());
                    }
                }
                Err(e) => {
                    eprintln!(
                        "kiosk: the walk at {width}x{height} in {} stopped: {e}",
                        lang.code()
                    );
                    return ExitCode::FAILURE;
                }
            }
        }
        // A new kiosk's first boot: the technician's setup, portrait.
        for lang in Lang::ALL {
            let data = demo_dir.join(format!("setup-{}", lang.code()));
            let _ = std::fs::remove_dir_all(&data);
            match kiosk::walk::run_setup(out, &data, 1080, 1920, lang) {
                Ok(shots) => {
                    for shot in &shots {
                        println!("{}", shot.display());
                    }
                }
                Err(e) => {
                    eprintln!("kiosk: the setup walk in {} stopped: {e}", lang.code());
                    return ExitCode::FAILURE;
                }
            }
        }
        // A day at a post-office counter: landscape, both languages.
        for lang in Lang::ALL {
            let data = demo_dir.join(format!("counter-{}", lang.code()));
            let _ = std::fs::remove_dir_all(&data);
            match kiosk::walk::run_counter(out, &data, 1920, 1080, lang) {
                Ok(walked) => {
                    for shot in &walked.shots {
                        println!("{}", shot.display());
                    }
                }
                Err(e) => {
                    eprintln!("kiosk: the counter walk in {} stopped: {e}", lang.code());
                    return ExitCode::FAILURE;
                }
            }
        }
        ExitCode::SUCCESS
    }

    pub(super) fn first_frame(
        png: &std::path::Path,
        demo_dir: &std::path::Path,
        started: std::time::Instant,
    ) -> ExitCode {
        let dir = png.parent().unwrap_or(std::path::Path::new("."));
        let walker = match kiosk::walk::Walker::start(dir, demo_dir, 1080, 1920, Lang::Vi) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("kiosk: {e}");
                return ExitCode::FAILURE;
            }
        };
        let pixels = walker.render_frame();
        let elapsed = started.elapsed();
        if let Err(e) = kiosk_ui::write_png(png, 1080, 1920, &pixels) {
            eprintln!("kiosk: {}: {e}", png.display());
            return ExitCode::FAILURE;
        }
        let peak = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_string()))
            })
            .unwrap_or_default();
        println!("first_frame_ms={} peak_rss={peak}", elapsed.as_millis());
        ExitCode::SUCCESS
    }
}

/// The appliance's controller from its configuration, and, once the kiosk
/// is enrolled, the relay to the portal running in the background.
fn from_config(config: &Config) -> Result<(Controller, Option<AsyncRuntime>), Box<dyn Error>> {
    let enrolment = Enrolment::load(&config.data_dir).map_err(|e| e.to_string())?;
    let keys = Keyring::open_or_create(&config.keys_dir()).map_err(|e| e.to_string())?;
    let technician = kiosk::controller::Technician::new(
        kiosk::controller::device_fingerprint(&keys.device().public_key().to_bytes()),
        config.data_dir.clone(),
        config.technician.usb_dirs.clone(),
        config.technician.pin_hash.clone(),
        enrolment
            .as_ref()
            .map(|e| (e.kiosk_id, e.portal_url.clone())),
        // Never enrolled and no key configured: nothing could be sealed.
        enrolment.is_none() && config.portal_public_key.is_none(),
    );
    // The kiosk opens on the technician's setup instead of the citizen's
    // home.
    if technician.setup_required {
        tracing::warn!("not enrolled: showing the technician's setup");
        let mut controller = Controller::new(
            Arc::new(Policy::built_in().clone()),
            Box::new(kiosk::worker::SetupWorker::spawn(keys)),
            Box::new(SystemClock::new()),
        );
        controller.set_technician(technician);
        return Ok((controller, None));
    }
    // Enrolment gives the portal's key; until then, the configured one.
    let portal = enrolment
        .as_ref()
        .map(|e| e.portal_public_key.as_str())
        .or(config.portal_public_key.as_deref())
        .ok_or("the kiosk is not enrolled and portal_public_key is not configured; registrations could not be sealed")?;
    let portal = kiosk_sync::PortalPublicKey::from_base64(portal).map_err(|e| e.to_string())?;
    // A damaged database is left as it is for `kioskctl store salvage`:
    // the kiosk starts, says on screen that it takes no registrations, and
    // runs no relay that would write into the file.
    let (mut store, damaged) = match Store::open(&config.database_path()) {
        Ok(store) => (store, false),
        Err(StoreError::Damaged(why)) => {
            tracing::error!(problem = %why, "the database file is damaged; no registrations are taken until a technician runs `kioskctl store salvage`");
            (Store::out_of_service(why).map_err(|e| e.to_string())?, true)
        }
        Err(e) => return Err(e.to_string().into()),
    };
    let mut active = ActivePolicy::default();
    if let Some(file) = &config.policy_file
        && let Err(e) = active.load_file(file)
    {
        tracing::warn!(file = %file.display(), error = %e, "the policy file is not used; keeping the built-in policy");
    }
    if let Some(e) = &enrolment
        && let Err(problem) = load_portal_policy(&config.data_dir, e, &mut active, &mut store)
    {
        tracing::warn!(error = %problem, "the portal's policy is not used; keeping the one in force");
    }
    let policy = active.current();
    let modem = match &config.modem {
        Some(m) => Some(
            Box::new(ModemService::spawn(ModemConfig::new(m.locator()?)))
                as Box<dyn kiosk::worker::Modem>,
        ),
        None => None,
    };
    let anchors = || {
        TrustAnchors::load(&config.token.trust_anchors).map_err(|e| {
            format!(
                "trust anchors {}: {e}",
                config.token.trust_anchors.display()
            )
        })
    };
    // Without its trust anchors the token method cannot check a
    // certificate: the kiosk starts, with the method greyed out.
    let tokens = if config.token.modules.is_empty() {
        None
    } else {
        match anchors() {
            Ok(anchors) => Some(TokenService::start(
                config.token.modules.clone(),
                anchors,
                None,
            )),
            Err(e) => {
                tracing::warn!(error = %e, "USB tokens are not offered");
                None
            }
        }
    };
    let (background, uplink, live) = match enrolment.as_ref().filter(|_| !damaged) {
        None => (None, None, None),
        Some(e) => {
            let uplink = Uplink::new(
                &config.database_path(),
                &keys,
                &e.client_config().map_err(|e| e.to_string())?,
                Arc::clone(&policy),
            )?
            .with_policy_updates(e, portal_policy_path(&config.data_dir))?;
            let mut background = AsyncRuntime::new().map_err(|e| e.to_string())?;
            let handle = background.start_uplink(uplink);
            let mut live = LiveChecks::new(
                &keys,
                e,
                background.runtime().handle().clone(),
                handle.clone(),
            )?;
            // Without anchors no mobile-signature certificate is trusted:
            // the method then ends with its message, never with a guess.
            match anchors() {
                Ok(anchors) => live = live.with_anchors(anchors),
                Err(e) => tracing::warn!(error = %e, "mobile signatures cannot be verified"),
            }
            (Some(background), Some(handle), Some(live))
        }
    };
    let backend = Backend {
        store,
        keys,
        portal,
        cost: config.password_hash,
        policy: Arc::clone(&policy),
        modem,
        token_reader: tokens.is_some(),
        clock: OffsetDateTime::now_utc,
        uplink,
        live,
        tokens,
        // Always watched: a kiosk without pcscd or a reader says so on the
        // status bar and keeps working without the chip.
        cards: Some(kiosk::card::CardService::start(config.card.csca.clone())),
    };
    let rules = policy.counter.clone();
    let mut controller = Controller::new(
        policy,
        Box::new(Worker::spawn(backend)),
        Box::new(SystemClock::new()),
    );
    controller.set_technician(technician);
    // On a post-office counter: the clerks sign in before anything else.
    if let Some(counter) = &config.counter {
        let roster = counter.roster()?;
        tracing::info!("counter mode: the clerks sign in");
        controller.set_desk(kiosk::counter::Desk::new(roster, rules));
    }
    Ok((controller, background))
}

/// The out-of-service screen, alone: no store, no devices, no network.
/// systemd still watches it: its UI thread pings the watchdog.
fn maintenance_window() -> Result<(), Box<dyn Error>> {
    let ui = KioskWindow::new().map_err(|e| e.to_string())?;
    gui::show_maintenance(&ui);
    let mut watch = kiosk::service::ServiceWatch::from_env();
    let timer = slint::Timer::default();
    timer.start(
        slint::TimerMode::Repeated,
        Duration::from_millis(500),
        move || {
            let alive = kiosk::service::Health {
                worker_answering: true,
                store_ready: false,
            };
            kiosk::service::send(&watch.tick(std::time::Instant::now(), alive));
        },
    );
    Ok(ui.run()?)
}

/// Whatever else runs at each tick of the window's timer.
type Tick = Box<dyn FnMut(&KioskWindow, u32)>;

fn window(args: &Args) -> Result<(), Box<dyn Error>> {
    let ui = KioskWindow::new().map_err(|e| e.to_string())?;
    // The demo phone, in the demo; nothing in the appliance.
    let mut extra: Tick = Box::new(|_, _| {});
    let (controller, _background) = if args.demo {
        #[cfg(feature = "demo")]
        {
            let (demo, mut controller) =
                kiosk::demo::Demo::start(&args.demo_dir, Box::new(SystemClock::new()))?;
            if args.counter {
                controller.set_desk(kiosk::demo::demo_desk(controller.policy())?);
            }
            extra = Box::new(kiosk::demo::attach_phone(&ui, demo));
            (controller, None)
        }
        #[cfg(not(feature = "demo"))]
        unreachable!("main refuses --demo in a build without the demo")
    } else {
        let config = Config::load(&args.config).map_err(|e| e.to_string())?;
        from_config(&config)?
    };
    let binding = gui::bind(&ui, Rc::new(RefCell::new(controller)));

    // The runtime's answers, the idle timeout and the clock: a few times a
    // second; the status bar every few seconds.
    let timer = slint::Timer::default();
    let weak = ui.as_weak();
    let mut ticks = 0u32;
    // systemd hears from this timer: a UI thread that hangs stops the pings.
    let mut watch = kiosk::service::ServiceWatch::from_env();
    timer.start(
        slint::TimerMode::Repeated,
        Duration::from_millis(200),
        move || {
            let Some(ui) = weak.upgrade() else {
                return;
            };
            ticks = ticks.wrapping_add(1);
            {
                let mut c = binding.controller().borrow_mut();
                // Once a second: the status bar, and a token arriving in
                // or leaving the reader.
                if ticks.is_multiple_of(5) {
                    c.refresh_status();
                }
                c.on_tick();
                kiosk::service::send(&watch.tick(std::time::Instant::now(), c.health()));
                // Enrolled by the technician: out, and the service manager
                // starts the kiosk again into the citizen's screens.
                if c.restart_due() {
                    tracing::info!("enrolled: restarting into the citizen's screens");
                    let _ = slint::quit_event_loop();
                }
            }
            let size = ui.window().size();
            ui.global::<KioskScreen>()
                .set_wide(size.width > size.height);
            extra(&ui, ticks);
            binding.refresh(&ui);
        },
    );
    Ok(ui.run()?)
}
