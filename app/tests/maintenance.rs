//! The out-of-service screen (`kiosk --maintenance`), drawn by the same
//! software renderer as the walk: the page, its words in both languages,
//! no status bar claiming a queue or a network it does not know.

use kiosk_ui::{KioskScreen, KioskWindow, Page};
use slint::{ComponentHandle, Model as _};

#[test]
fn the_maintenance_screen_says_where_to_go_in_both_languages() {
    let window = kiosk_ui::headless(1080, 1920);
    let ui = KioskWindow::new().unwrap();
    kiosk::gui::show_maintenance(&ui);
    let screen = ui.global::<KioskScreen>();
    assert_eq!(screen.get_page(), Page::Maintenance);
    assert!(screen.get_title().contains("bảo trì"));
    assert!(screen.get_message().contains("quầy giao dịch"));
    let lines: Vec<String> = screen.get_lines().iter().map(|l| l.to_string()).collect();
    assert!(
        lines.iter().any(|l| l.contains("Out of service")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("kioskctl status")),
        "{lines:?}"
    );
    let pixels = kiosk_ui::render(&window, &ui);
    // The status bar (dark) is not drawn: the top rows are the page's paper.
    let top = &pixels[..1080 * 60];
    assert!(
        top.iter()
            .all(|p| u32::from(p.r) + u32::from(p.g) + u32::from(p.b) > 600),
        "no status bar"
    );
    let dark = pixels
        .iter()
        .filter(|p| u32::from(p.r) + u32::from(p.g) + u32::from(p.b) < 200)
        .count();
    assert!(dark > 5_000, "the words are drawn ({dark} dark pixels)");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("maintenance-1080x1920.png");
    kiosk_ui::write_png(&out, 1080, 1920, &pixels).unwrap();
}
