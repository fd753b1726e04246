//! # kiosk-ui: what the citizen sees and touches
//!
//! The Slint screens of the kiosk (`ui/kiosk.slint`, with the on-screen
//! keyboards in `ui/keyboards.slint`), the [`telex`] composer, and a
//! renderer that draws the screens with Slint's software renderer into PNG
//! files, with no display: deterministic pictures for review and for tests.
//!
//! It is a view: screens read and write the globals of `ui/globals.slint`
//! ([`KioskStatus`], [`KioskScreen`], [`KioskKeys`]; the demo phone's
//! [`DemoPanel`]), and every
//! rule — which fields are required, what an error says, which methods are
//! offered and why one is not — comes from `app`. This crate knows nothing
//! of the domain.
//!
//! The desktop build (feature `desktop`, the default) opens a winit window;
//! the appliance build (feature `linuxkms`) draws straight to the display
//! through DRM/KMS with the software renderer. The screens are written in
//! Vietnamese; [`i18n`] holds the English catalogue they and `app` share.
//!
//! ```no_run
//! use slint::ComponentHandle;
//! let window = kiosk_ui::headless(1080, 1920);
//! let ui = kiosk_ui::KioskWindow::new().unwrap();
//! ui.global::<kiosk_ui::KioskScreen>().set_page(kiosk_ui::Page::Home);
//! let pixels = kiosk_ui::render(&window, &ui);
//! kiosk_ui::write_png(std::path::Path::new("home.png"), 1080, 1920, &pixels).unwrap();
//! ```

pub mod i18n;
pub mod telex;

use std::path::Path;
use std::rc::Rc;

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter};
use slint::{ComponentHandle, PhysicalSize, Rgb8Pixel};

/// The code Slint generates from `ui/kiosk.slint`.
#[allow(
    missing_debug_implementations,
    clippy::all,
    clippy::todo,
    clippy::unimplemented
)]
mod generated {
    slint::include_modules!();
}
pub use generated::*;

struct Headless(Rc<MinimalSoftwareWindow>);

impl Platform for Headless {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, slint::PlatformError> {
        Ok(self.0.clone())
    }
}

thread_local! {
    static WINDOW: std::cell::OnceCell<Rc<MinimalSoftwareWindow>> = const { std::cell::OnceCell::new() };
}

/// Installs the headless platform (once per thread that renders) and sizes
/// its window; create components after this.
pub fn headless(width: u32, height: u32) -> Rc<MinimalSoftwareWindow> {
    let window = WINDOW.with(|w| {
        w.get_or_init(|| {
            let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
            slint::platform::set_platform(Box::new(Headless(window.clone())))
                .expect("no other Slint platform in this process");
            window
        })
        .clone()
    });
    window.set_size(PhysicalSize::new(width, height));
    window
}

/// Draws `component` in `window` and answers its RGB pixels, row by row.
pub fn render(window: &MinimalSoftwareWindow, component: &impl ComponentHandle) -> Vec<Rgb8Pixel> {
    let size = window.size();
    component.show().expect("showing on the headless window");
    // Showing a new component may resize the window to its preferred size;
    // the kiosk's screen is the size it is.
    window.set_size(size);
    let mut pixels = vec![Rgb8Pixel::new(0, 0, 0); (size.width * size.height) as usize];
    window.request_redraw();
    window.draw_if_needed(|renderer| {
        renderer.render(&mut pixels, size.width as usize);
    });
    pixels
}

/// Writes RGB pixels as a PNG file.
pub fn write_png(
    path: &Path,
    width: u32,
    height: u32,
    pixels: &[Rgb8Pixel],
) -> std::io::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
    let bytes: Vec<u8> = pixels.iter().flat_map(|p| [p.r, p.g, p.b]).collect();
    writer
        .write_image_data(&bytes)
        .map_err(std::io::Error::other)
}
