//! The technician's pages. A kiosk that was never enrolled opens on the
//! **setup**: the device key's fingerprint (for the portal's administrator
//! to recognise this device), and the portal's address, the one-time
//! enrolment code and the pin of the portal's TLS certificate, typed or
//! read from `kiosk-enrol.toml` on a USB stick. Once the portal answers,
//! the kiosk restarts into the citizen's screens (the service manager
//! starts it again). Later the same pages are reached only by five taps on
//! the clock and the technician's PIN (`[technician] pin_hash`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use kiosk_ui::i18n::{Text, tr};
use kiosk_ui::{KeyboardKind, Page};
use serde::Deserialize;

use super::session::{Session, Stage};
use super::view::{MethodView, View};
use super::{Controller, Focus};
use crate::domain::EnrolCode;
use crate::flow::{Effect, Event, Field, FieldError, Screen};
use crate::worker::Job;

/// The name of the setup file a technician brings on a USB stick.
pub const SETUP_FILE: &str = "kiosk-enrol.toml";

/// Taps on the clock, within this long, that open the technician's PIN.
const TAPS: usize = 5;
const TAP_WINDOW: Duration = Duration::from_secs(3);
/// Wrong technician PINs before the page waits, and for how long.
const PIN_TRIES: u8 = 5;
const PIN_LOCKOUT: Duration = Duration::from_secs(900);
/// How long "enrolled" shows before the kiosk restarts.
const RESTART_AFTER: Duration = Duration::from_secs(5);

/// The audit event of a re-enrolment from the technician's page.
pub const EVENT_ENROLLED: &str = "kiosk.enrolled";

/// What the technician's pages know of the kiosk.
#[derive(Debug)]
pub struct Technician {
    /// The device key's fingerprint, grouped for reading aloud.
    pub fingerprint: String,
    pub data_dir: PathBuf,
    /// Where USB sticks are mounted (searched two levels deep).
    pub usb_dirs: Vec<PathBuf>,
    /// Argon2id of the technician's PIN; without one the pages are reached
    /// only on a kiosk never enrolled.
    pub pin_hash: Option<String>,
    /// The kiosk's id and the portal's address, once enrolled.
    pub enrolled: Option<(i64, String)>,
    /// Nothing could be sealed yet: never enrolled and no portal key in
    /// the configuration. Only the setup shows.
    pub setup_required: bool,
    taps: Vec<Duration>,
    wrong: u8,
    locked_until: Option<Duration>,
    restart_at: Option<Duration>,
}

impl Technician {
    pub fn new(
        fingerprint: String,
        data_dir: PathBuf,
        usb_dirs: Vec<PathBuf>,
        pin_hash: Option<String>,
        enrolled: Option<(i64, String)>,
        setup_required: bool,
    ) -> Technician {
        Technician {
            fingerprint,
            data_dir,
            usb_dirs,
            pin_hash,
            enrolled,
            setup_required,
            taps: Vec::new(),
            wrong: 0,
            locked_until: None,
            restart_at: None,
        }
    }

    fn first_boot(&self) -> bool {
        self.setup_required
    }
}

/// The device key's fingerprint as the setup page shows it: the first 80
/// bits of the SHA-256 of the Ed25519 public key, in groups of four hex
/// digits (`kioskctl device-key` prints the same).
pub fn device_fingerprint(public_key: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    let hex: String = Sha256::digest(public_key)[..10]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    hex.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).expect("hex is ASCII"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `kiosk-enrol.toml`, as a portal's administrator writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetupFile {
    portal: String,
    code: String,
    tls_pin: Option<String>,
}

/// The first `kiosk-enrol.toml` in `dirs` or up to two levels below them
/// (a stick is mounted at `/media/usb-sdb1` or `/media/<user>/<label>`).
fn find_setup_file(dirs: &[PathBuf]) -> Option<PathBuf> {
    fn walk(dir: &Path, depth: u8) -> Option<PathBuf> {
        let direct = dir.join(SETUP_FILE);
        if direct.is_file() {
            return Some(direct);
        }
        if depth == 0 {
            return None;
        }
        let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        subdirs.sort();
        subdirs.into_iter().find_map(|d| walk(&d, depth - 1))
    }
    dirs.iter().find_map(|d| walk(d, 2))
}

impl Controller {
    /// Gives the kiosk its technician's pages; a kiosk never enrolled opens
    /// on the setup.
    pub fn set_technician(&mut self, technician: Technician) {
        self.technician = Some(technician);
        self.end_session();
        self.ensure_setup();
    }

    /// Whether the kiosk was never enrolled (it shows only the setup).
    pub fn first_boot(&self) -> bool {
        self.technician.as_ref().is_some_and(Technician::first_boot)
    }

    /// Enrolled and shown so: time for the service manager to start the
    /// kiosk again, into the citizen's screens.
    pub fn restart_due(&self) -> bool {
        let now = self.clock.monotonic();
        self.technician
            .as_ref()
            .and_then(|t| t.restart_at)
            .is_some_and(|at| now >= at)
    }

    /// A kiosk never enrolled always shows the setup.
    pub(super) fn ensure_setup(&mut self) {
        if !self.first_boot() || self.session.is_some() {
            return;
        }
        self.technician_session(Screen::Setup);
    }

    fn technician_session(&mut self, screen: Screen) {
        self.end_session();
        let mut session = self.begin_visit("technician");
        session.technician = true;
        session.stage = Stage::Flow(screen);
        session.focus = session.first_open_input();
        self.session = Some(session);
    }

    /// A tap on the clock: the fifth within three seconds, away from a
    /// citizen's visit, opens the technician's PIN.
    pub fn on_technician_tap(&mut self) {
        let now = self.clock.monotonic();
        let citizen_here = self
            .session
            .as_ref()
            .is_some_and(|s| !s.signin && !s.technician);
        let Some(t) = self.technician.as_mut() else {
            return;
        };
        if citizen_here || t.pin_hash.is_none() || t.first_boot() {
            return;
        }
        t.taps.retain(|at| now.saturating_sub(*at) < TAP_WINDOW);
        t.taps.push(now);
        if t.taps.len() >= TAPS {
            t.taps.clear();
            self.technician_session(Screen::TechnicianPin);
        }
    }

    /// The page's main button on the technician's pages.
    pub(super) fn technician_submit(&mut self) {
        let Some(stage) = self.session.as_ref().map(|s| s.stage.clone()) else {
            return;
        };
        match stage {
            Stage::Flow(Screen::Setup) => self.setup_submit(),
            Stage::Flow(Screen::TechnicianPin) => self.technician_pin(),
            Stage::Flow(Screen::Technician) => self.leave(),
            _ => {}
        }
    }

    fn technician_pin(&mut self) {
        let now = self.clock.monotonic();
        let (Some(session), Some(t)) = (self.session.as_mut(), self.technician.as_mut()) else {
            return;
        };
        let pin = zeroize::Zeroizing::new(session.pin.to_string());
        session.pin.clear();
        let error = if t.locked_until.is_some_and(|until| now < until) {
            Some(Text::new(
                "Nhập sai mã PIN quá số lần cho phép. Vui lòng thử lại sau 15 phút.",
            ))
        } else if crate::counter::verify_pin(&pin, t.pin_hash.as_deref()) {
            t.wrong = 0;
            None
        } else {
            t.wrong += 1;
            if t.wrong >= PIN_TRIES {
                t.wrong = 0;
                t.locked_until = Some(now + PIN_LOCKOUT);
            }
            Some(Text::new("Mã PIN không đúng."))
        };
        match error {
            Some(message) => {
                tracing::info!("technician PIN refused");
                session.errors = vec![FieldError::new(Field::Pin, message, "wrong technician PIN")];
                session.focus = Some(Focus::Field(Field::Pin));
            }
            None => {
                tracing::info!("technician signed in");
                self.effects.submit(Job::Audit {
                    event: "technician.signed_in",
                    detail: String::new(),
                });
                self.technician_session(Screen::Technician);
            }
        }
    }

    /// A card of the technician's page.
    pub(super) fn technician_choose(&mut self, id: &str) -> bool {
        let on_page = self
            .session
            .as_ref()
            .is_some_and(|s| matches!(s.stage, Stage::Flow(Screen::Technician)));
        if !on_page {
            return false;
        }
        match id {
            "setup" => self.technician_session(Screen::Setup),
            "close" => self.leave(),
            _ => return false,
        }
        true
    }

    /// "Đọc tệp cài đặt từ USB": the fields from `kiosk-enrol.toml`.
    pub(super) fn setup_from_usb(&mut self) {
        let Some(t) = self.technician.as_ref() else {
            return;
        };
        let found = find_setup_file(&t.usb_dirs);
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let read = found
            .ok_or_else(|| {
                Text::new(
                    "Không thấy tệp kiosk-enrol.toml trên USB. Cắm USB có tệp này rồi chạm lại.",
                )
            })
            .and_then(|path| {
                let text = std::fs::read_to_string(&path).map_err(|_| {
                    Text::new("Không đọc được tệp kiosk-enrol.toml trên USB.")
                })?;
                toml::from_str::<SetupFile>(&text).map_err(|_| {
                    Text::new(
                        "Tệp kiosk-enrol.toml không đúng mẫu: cần portal, code và (với https) tls_pin.",
                    )
                })
            });
        match read {
            Ok(file) => {
                for (buffer, value) in session.setup.iter_mut().zip([
                    file.portal.as_str(),
                    file.code.as_str(),
                    file.tls_pin.as_deref().unwrap_or(""),
                ]) {
                    buffer.clear();
                    buffer.push_str(value.trim());
                }
                session.errors.clear();
                tracing::info!("setup read from the USB stick");
            }
            Err(message) => {
                session.errors = vec![FieldError::new(
                    Field::PortalUrl,
                    message,
                    "no usable kiosk-enrol.toml on a USB stick",
                )];
            }
        }
    }

    /// "Đăng ký máy": the three fields checked, then the portal asked.
    fn setup_submit(&mut self) {
        let Some(t) = self.technician.as_ref() else {
            return;
        };
        let data_dir = t.data_dir.clone();
        let Some(session) = self.session.as_mut() else {
            return;
        };
        let mut errors = Vec::new();
        let portal = match portal_address(&session.setup[0]) {
            Ok(portal) => Some(portal),
            Err(message) => {
                errors.push(FieldError::new(
                    Field::PortalUrl,
                    message,
                    "bad portal address",
                ));
                None
            }
        };
        let code = EnrolCode::new(&session.setup[1]);
        if code.is_none() {
            errors.push(FieldError::new(
                Field::EnrolCode,
                Text::new("Nhập mã đăng ký máy do quản trị Cổng cấp."),
                "no enrolment code",
            ));
        }
        let typed_pin = session.setup[2].trim().to_string();
        let pin = (!typed_pin.is_empty()).then_some(typed_pin);
        if let Some(pin) = &pin
            && crate::uplink::parse_pin(pin).is_err()
        {
            errors.push(FieldError::new(
                Field::TlsPin,
                Text::new("Mã ghim gồm 64 chữ số hex (SHA-256 của chứng thư TLS của Cổng)."),
                "the pin is not 64 hex digits",
            ));
        }
        if pin.is_none() && portal.as_deref().is_some_and(|p| p.starts_with("https://")) {
            errors.push(FieldError::new(
                Field::TlsPin,
                Text::new("Cổng dùng https: cần mã ghim chứng thư TLS của Cổng."),
                "https needs the pin",
            ));
        }
        let (Some(portal), Some(code), true) = (portal, code, errors.is_empty()) else {
            session.focus = errors.first().map(|e| Focus::Field(e.field));
            session.errors = errors;
            return;
        };
        self.apply(vec![
            Effect::Show(Screen::Enrolling),
            Effect::Enrol {
                data_dir,
                portal,
                code,
                pin,
            },
        ]);
    }

    /// The portal's answer to the enrolment.
    pub(super) fn technician_event(&mut self, event: Event) {
        let Event::Enrolled(answer) = event else {
            return;
        };
        let now = self.clock.monotonic();
        match answer {
            Ok(kiosk_id) => {
                if let Some(t) = self.technician.as_mut() {
                    t.restart_at = Some(now + RESTART_AFTER);
                }
                self.effects.submit(Job::Audit {
                    event: EVENT_ENROLLED,
                    detail: format!("kiosk_id={kiosk_id}"),
                });
                self.apply(vec![Effect::Show(Screen::Enrolled { kiosk_id })]);
            }
            Err(why) => {
                self.apply(vec![
                    Effect::Show(Screen::Setup),
                    Effect::FieldErrors(vec![FieldError::new(
                        Field::EnrolCode,
                        Text::with(
                            "Không đăng ký được máy với Cổng. Kiểm tra địa chỉ, mã đăng ký, mã ghim và kết nối mạng. Chi tiết: {}",
                            [why.as_str()],
                        ),
                        &why,
                    )]),
                ]);
            }
        }
    }

    /// The technician's pages, as shown.
    pub(super) fn describe_technician(&self, screen: &Screen, session: &Session, view: &mut View) {
        let Some(t) = self.technician.as_ref() else {
            return;
        };
        let lang = self.lang;
        let s = |vietnamese: &str| tr(lang, vietnamese).to_string();
        match screen {
            Screen::Setup => {
                view.page = Page::Form;
                view.method_title = s("Cài đặt máy: kết nối Cổng Dịch vụ công");
                view.card_label = s("Đọc tệp cài đặt từ USB");
                view.card_enabled = true;
                view.card_detail = Text::with(
                    "Mã thiết bị: {}. Đọc mã này cho quản trị Cổng; cắm USB có tệp kiosk-enrol.toml rồi chạm vào đây.",
                    [t.fingerprint.as_str()],
                )
                .render(lang);
                view.submit_label = s("Đăng ký máy");
                view.submit_enabled = session.setup.iter().take(2).all(|f| !f.trim().is_empty());
            }
            Screen::Enrolling => {
                view.page = Page::Busy;
                view.keyboard = KeyboardKind::None;
                view.title = s("Đang đăng ký máy với Cổng…");
                view.message = s("Vui lòng chờ trong giây lát.");
            }
            Screen::Enrolled { kiosk_id } => {
                view.page = Page::Info;
                view.keyboard = KeyboardKind::None;
                view.title = s("Đã đăng ký máy với Cổng");
                view.message = Text::with(
                    "Máy số {} đã được Cổng nhận. Máy tự khởi động lại để bắt đầu nhận hồ sơ.",
                    [kiosk_id],
                )
                .render(lang);
                view.submit_enabled = false;
            }
            Screen::TechnicianPin => {
                view.page = Page::Pin;
                view.title = s("Kỹ thuật viên");
                view.message = s("Nhập mã PIN kỹ thuật viên.");
                view.submit_label = s("Tiếp tục");
                view.submit_enabled = crate::domain::Pin::new(&session.pin).is_some();
            }
            Screen::Technician => {
                view.page = Page::Choice;
                view.keyboard = KeyboardKind::None;
                view.title = s("Kỹ thuật viên");
                let mut lines = vec![
                    Text::with("Mã thiết bị: {}", [t.fingerprint.as_str()]).render(lang),
                    Text::with("Phiên bản phần mềm: {}", [env!("CARGO_PKG_VERSION")]).render(lang),
                    Text::with("Hồ sơ chờ gửi: {}", [self.status.queue_depth]).render(lang),
                ];
                if let Some((id, portal)) = &t.enrolled {
                    lines.insert(
                        1,
                        Text::with(
                            "Đã đăng ký với {} (máy số {})",
                            [portal.clone(), id.to_string()],
                        )
                        .render(lang),
                    );
                }
                view.message = lines.join("\n");
                view.methods = vec![
                    MethodView {
                        id: "setup".into(),
                        title: s("Cài đặt lại kết nối Cổng"),
                        detail: s(
                            "Đăng ký lại máy với mã mới do quản trị Cổng cấp; hồ sơ đã nhận vẫn được giữ và gửi đi.",
                        ),
                        enabled: true,
                        reason: String::new(),
                    },
                    MethodView {
                        id: "close".into(),
                        title: s("Đóng"),
                        detail: s("Về màn hình của công dân."),
                        enabled: true,
                        reason: String::new(),
                    },
                ];
            }
            _ => {}
        }
    }
}

/// The portal's address as typed: `https://` when no scheme is given;
/// plain http only to this machine (the demo, a test portal).
fn portal_address(typed: &str) -> Result<String, Text> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err(Text::new(
            "Nhập địa chỉ Cổng, ví dụ https://dichvucong.tinh.gov.vn",
        ));
    }
    let address = if typed.contains("://") {
        typed.to_string()
    } else {
        format!("https://{typed}")
    };
    let (scheme, rest) = address.split_once("://").unwrap_or(("", ""));
    let rest = rest.trim_end_matches('/');
    let host = rest.split(['/', ':']).next().unwrap_or("");
    let loopback = matches!(host, "127.0.0.1" | "localhost");
    let ok_host = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    match scheme {
        "https" if ok_host => Ok(format!("https://{rest}")),
        "http" if ok_host && loopback => Ok(format!("http://{rest}")),
        "http" if ok_host => Err(Text::new(
            "Cổng phải dùng https (http chỉ dùng khi thử trên chính máy này).",
        )),
        _ => Err(Text::new(
            "Địa chỉ Cổng không hợp lệ. Ví dụ: https://dichvucong.tinh.gov.vn",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_portal_address_is_https_unless_it_is_this_machine() {
        assert_eq!(
            portal_address(" dichvucong.tinh.gov.vn/ ").unwrap(),
            "https://dichvucong.tinh.gov.vn"
        );
        assert_eq!(
            portal_address("http://127.0.0.1:8443").unwrap(),
            "http://127.0.0.1:8443"
        );
        for bad in [
            "",
            "http://portal.gov.vn",
            "ftp://x",
            "https://a b",
            "https://",
        ] {
            assert!(portal_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_fingerprint_is_twenty_hex_digits_in_fives_of_four() {
        let f = device_fingerprint(&[7; 32]);
        assert_eq!(f.len(), 24);
        assert_eq!(f.split(' ').count(), 5);
        assert_ne!(f, device_fingerprint(&[8; 32]));
    }

    #[test]
    fn the_setup_file_is_found_two_levels_down() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_setup_file(&[dir.path().to_path_buf()]), None);
        let stick = dir.path().join("usb-sdb1").join("KIOSK");
        std::fs::create_dir_all(&stick).unwrap();
        std::fs::write(stick.join(SETUP_FILE), "portal = \"x\"\ncode = \"y\"\n").unwrap();
        // Three levels down is too deep for a stick's mount point.
        let deep = tempfile::tempdir().unwrap();
        let far = deep.path().join("a").join("b").join("c");
        std::fs::create_dir_all(&far).unwrap();
        std::fs::write(far.join(SETUP_FILE), "").unwrap();
        assert_eq!(find_setup_file(&[deep.path().to_path_buf()]), None);
        assert_eq!(
            find_setup_file(&[dir.path().to_path_buf()]),
            Some(stick.join(SETUP_FILE))
        );
    }
}
