//! Renders the kiosk's screens to PNG with the software renderer, at the
//! portrait kiosk size and at landscape: `render-screens [OUT_DIR]`.

use slint::{ComponentHandle, ModelRc, VecModel};

use kiosk_ui::{FieldItem, Kiosk, KioskWindow, MethodItem};

fn main() {
    let out = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/screens".into()),
    );
    std::fs::create_dir_all(&out).expect("creating the output directory");
    for (width, height) in [(1080, 1920), (1920, 1080)] {
        let window = kiosk_ui::headless(width, height);
        for screen in ["home", "subject", "method", "form"] {
            let ui = KioskWindow::new().expect("the window builds");
            sample(&ui, screen);
            let pixels = kiosk_ui::render(&window, &ui);
            let path = out.join(format!("{screen}-{width}x{height}.png"));
            kiosk_ui::write_png(&path, width, height, &pixels).expect("writing the PNG");
            println!("{}", path.display());
            ui.hide().expect("hiding");
        }
    }
}

/// Sample content of the kind `app` provides.
fn sample(ui: &KioskWindow, screen: &str) {
    let k = ui.global::<Kiosk>();
    k.set_screen(screen.into());
    k.set_online(false);
    k.set_queue_depth(3);
    k.set_signal_bars(3);
    k.set_clock("09:41".into());
    k.set_subject_title("Công dân".into());
    k.set_method_title("Đăng ký bằng thuê bao di động".into());
    let method = |id: &str, title: &str, detail: &str, enabled: bool, reason: &str| MethodItem {
        id: id.into(),
        title: title.into(),
        detail: detail.into(),
        enabled,
        reason: reason.into(),
    };
    k.set_methods(ModelRc::new(VecModel::from(vec![
        method(
            "mobile_subscriber",
            "Thuê bao di động",
            "Mức 1 · Nhận mã OTP qua tin nhắn",
            true,
            "",
        ),
        method(
            "bhxh",
            "Bảo hiểm xã hội",
            "Mức 2 · Đối chiếu với CSDL BHXH",
            true,
            "",
        ),
        method(
            "sim_signature",
            "Sim ký số",
            "Mức 3",
            false,
            "Cần kết nối mạng; hiện không kết nối được Cổng dịch vụ công.",
        ),
        method(
            "usb_token",
            "USB ký số",
            "Mức 3 · Cắm USB ký số vào đầu đọc",
            true,
            "",
        ),
    ])));
    let field = |label: &str, value: &str, hint: &str, required: bool, error: &str| FieldItem {
        label: label.into(),
        value: value.into(),
        hint: hint.into(),
        required,
        error: error.into(),
    };
    k.set_fields(ModelRc::new(VecModel::from(vec![
        field("Họ và tên", "Nguyễn Văn An", "", true, ""),
        field(
            "Số CCCD/CMND",
            "05109901234",
            "",
            true,
            "Cần nhập đủ 12 (CCCD) hoặc 9 (CMND) chữ số.",
        ),
        field("Ngày sinh", "", "ngày/tháng/năm", true, ""),
        field("Số điện thoại", "0912 345 678", "", true, ""),
        field("Email", "", "không bắt buộc", false, ""),
    ])));
}
