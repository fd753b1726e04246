//! Every screen renders with the software renderer, portrait and landscape,
//! with a font that covers Vietnamese (Slint panics when none is found).

use slint::{ComponentHandle, ModelRc, Rgb8Pixel, VecModel};

use kiosk_ui::{
    DemoPanel, FieldItem, KeyboardKind, KioskKeys, KioskScreen, KioskWindow, MethodItem, Page,
};

fn at(pixels: &[Rgb8Pixel], width: u32, x: u32, y: u32) -> (u8, u8, u8) {
    let p = pixels[(y * width + x) as usize];
    (p.r, p.g, p.b)
}

#[test]
fn every_screen_renders_at_kiosk_sizes() {
    for (width, height) in [(1080u32, 1920u32), (1920, 1080)] {
        let window = kiosk_ui::headless(width, height);
        for (screen, keyboard) in [
            (Page::Home, KeyboardKind::None),
            (Page::Subject, KeyboardKind::None),
            (Page::Method, KeyboardKind::None),
            (Page::Form, KeyboardKind::Text),
            (Page::Otp, KeyboardKind::Digits),
            (Page::Password, KeyboardKind::Password),
            (Page::Done, KeyboardKind::None),
        ] {
            let ui = KioskWindow::new().unwrap();
            let k = ui.global::<KioskScreen>();
            k.set_page(screen);
            k.set_wide(width > height);
            // What the controller says of a kiosk that can store: Đăng ký
            // may be pressed.
            k.set_submit_enabled(true);
            k.set_methods(ModelRc::new(VecModel::from(vec![MethodItem {
                id: "bhxh".into(),
                title: "Bảo hiểm xã hội".into(),
                detail: "Mức 2".into(),
                enabled: false,
                reason: "Không khả dụng".into(),
            }])));
            k.set_fields(ModelRc::new(VecModel::from(vec![FieldItem {
                id: "full_name".into(),
                label: "Họ và tên".into(),
                value: "Đặng Quốc Ưng".into(),
                hint: String::new().into(),
                required: true,
                error: String::new().into(),
                focused: true,
                locked: false,
            }])));
            ui.global::<KioskKeys>().set_keyboard(keyboard);
            let pixels = kiosk_ui::render(&window, &ui);
            // The status bar is dark ink across the top.
            assert_eq!(
                at(&pixels, width, width / 2, 4),
                (0x1b, 0x24, 0x30),
                "{screen:?} {width}x{height}"
            );
            // Text was drawn: antialiased glyphs give many distinct colours.
            let mut colours: Vec<(u8, u8, u8)> = pixels.iter().map(|p| (p.r, p.g, p.b)).collect();
            colours.sort_unstable();
            colours.dedup();
            assert!(
                colours.len() > 50,
                "{screen:?} {width}x{height}: only {} colours",
                colours.len()
            );
            if screen == Page::Home {
                // The big "Đăng ký" button sits in the middle in brand red.
                let red = pixels
                    .iter()
                    .filter(|p| (p.r, p.g, p.b) == (0xb3, 0x26, 0x1e))
                    .count();
                assert!(
                    red > (width as usize * 100),
                    "{width}x{height}: no Đăng ký button ({red} red pixels)"
                );
                // Out of service: the button greys out and the notice shows
                // in its amber frame.
                k.set_submit_enabled(false);
                k.set_title("Máy tạm ngừng nhận hồ sơ".into());
                k.set_message("Bộ nhớ của máy đã đầy.".into());
                let pixels = kiosk_ui::render(&window, &ui);
                let count =
                    |rgb: (u8, u8, u8)| pixels.iter().filter(|p| (p.r, p.g, p.b) == rgb).count();
                assert_eq!(count((0xb3, 0x26, 0x1e)), 0, "{width}x{height}");
                assert!(
                    count((0x9a, 0x67, 0x00)) > width as usize * 4,
                    "{width}x{height}: no notice frame"
                );
            }
            ui.hide().unwrap();
        }
    }
}

#[test]
fn the_demo_phone_shows_a_signature_request_with_its_two_answers() {
    let (width, height) = (1520u32, 1920u32);
    let window = kiosk_ui::headless(width, height);
    let ui = KioskWindow::new().unwrap();
    let k = ui.global::<KioskScreen>();
    k.set_page(Page::PhoneWait);
    k.set_verification_code("4821".into());
    let phone = ui.global::<DemoPanel>();
    phone.set_shown(true);
    phone.set_signature_to("+84987654321".into());
    phone.set_signature("Dang ky tai khoan Cong dich vu cong. Ma xac nhan: 4821".into());
    let pixels = kiosk_ui::render(&window, &ui);
    let png = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("demo-phone-sim.png");
    kiosk_ui::write_png(&png, width, height, &pixels).unwrap();
    // The request card (pale yellow) and the accent "Xác nhận" button sit
    // in the phone panel on the right.
    let in_panel = |colour: (u8, u8, u8)| {
        (0..height)
            .flat_map(|y| (1080..width).map(move |x| (x, y)))
            .filter(|&(x, y)| at(&pixels, width, x, y) == colour)
            .count()
    };
    assert!(in_panel((0xff, 0xf7, 0xe0)) > 20_000, "no request card");
    assert!(in_panel((0x0b, 0x5c, 0xab)) > 5_000, "no confirm button");
    phone.set_signature("".into());
    let pixels = kiosk_ui::render(&window, &ui);
    let none = (0..height)
        .flat_map(|y| (1080..width).map(move |x| (x, y)))
        .filter(|&(x, y)| at(&pixels, width, x, y) == (0xff, 0xf7, 0xe0))
        .count();
    assert_eq!(none, 0, "the card stays after the request ended");
}

#[test]
fn the_bundled_english_changes_the_screens_and_goes_back() {
    use kiosk_ui::i18n::{Lang, select};
    let (width, height) = (1080u32, 1920u32);
    let window = kiosk_ui::headless(width, height);
    let ui = KioskWindow::new().unwrap();
    ui.global::<KioskScreen>().set_page(Page::Home);
    let vietnamese = kiosk_ui::render(&window, &ui);
    select(Lang::En).expect("English is bundled");
    let english = kiosk_ui::render(&window, &ui);
    let differ = vietnamese
        .iter()
        .zip(&english)
        .filter(|(a, b)| (a.r, a.g, a.b) != (b.r, b.g, b.b))
        .count();
    assert!(differ > 10_000, "only {differ} pixels changed");
    select(Lang::Vi).unwrap();
    let again = kiosk_ui::render(&window, &ui);
    assert!(
        vietnamese
            .iter()
            .zip(&again)
            .all(|(a, b)| (a.r, a.g, a.b) == (b.r, b.g, b.b)),
        "Vietnamese did not come back"
    );
}
