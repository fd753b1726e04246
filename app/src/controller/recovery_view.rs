//! The pages of "Quên mật khẩu": the code's and the password's pages in
//! its own words, and how it ended.

use kiosk_ui::i18n::{Text, tr};
use kiosk_ui::{KeyboardKind, Page};

use super::Controller;
use super::session::Session;
use super::view::View;
use crate::flow::{ResetProblem, Screen};

impl Controller {
    pub(super) fn describe_reset(&self, screen: &Screen, session: &Session, view: &mut View) {
        let lang = self.lang;
        let t = |vietnamese: &str| tr(lang, vietnamese).to_string();
        match screen {
            Screen::EnterOtp { masked_phone, .. } => {
                view.title = t("Nhập mã đặt lại mật khẩu");
                view.message = Text::with(
                    "Cổng Dịch vụ công đã gửi mã gồm 6 chữ số đến số {} của tài khoản.",
                    [masked_phone],
                )
                .render(lang);
                view.submit_label = t("Tiếp tục");
                // The portal's codes have six digits.
                view.submit_enabled = session.otp.chars().count() == 6;
            }
            Screen::Password { .. } => {
                view.title = t("Đặt mật khẩu mới");
                view.message = t("Mật khẩu mới thay cho mật khẩu cũ khi bạn chọn “Đổi mật khẩu”.");
                view.submit_label = t("Đổi mật khẩu");
            }
            Screen::ResetDone { masked_phone } => {
                view.page = Page::Info;
                view.title = t("Đã đặt lại mật khẩu");
                view.message =
                    t("Bạn có thể đăng nhập Cổng Dịch vụ công bằng mật khẩu mới ngay bây giờ.");
                view.lines = vec![
                    Text::with(
                        "Cổng Dịch vụ công đã nhắn tin báo việc đổi mật khẩu đến số {}.",
                        [masked_phone],
                    )
                    .render(lang),
                ];
                view.keyboard = KeyboardKind::None;
                view.submit_label = t("Hoàn tất");
                view.submit_enabled = true;
            }
            Screen::ResetUnavailable(problem) => {
                view.page = Page::Info;
                let (title, message) = match problem {
                    ResetProblem::NoPhone => (
                        "Tài khoản không có số điện thoại để nhận mã",
                        "Đến quầy giao dịch để được hỗ trợ lấy lại mật khẩu; mang theo thẻ CCCD.",
                    ),
                    ResetProblem::TooMany => (
                        "Đã có quá nhiều yêu cầu đặt lại mật khẩu hôm nay",
                        "Vui lòng thử lại vào ngày mai, hoặc đến quầy giao dịch.",
                    ),
                    ResetProblem::Unreachable => (
                        "Chưa kết nối được Cổng Dịch vụ công",
                        "Không đặt lại được mật khẩu lúc này; mật khẩu cũ vẫn giữ nguyên. Vui lòng thử lại sau, hoặc đến quầy giao dịch.",
                    ),
                };
                view.title = t(title);
                view.message = t(message);
                view.keyboard = KeyboardKind::None;
                view.submit_label = t("Về trang đầu");
                view.submit_enabled = true;
            }
            Screen::Failed(_) => view.title = t("Chưa đặt lại được mật khẩu"),
            _ => {}
        }
    }
}

/// Where a reset's page stands in its two steps: the code, the password.
pub(super) fn step_of(screen: &Screen) -> Option<(u8, u8)> {
    match screen {
        Screen::EnterOtp { .. } => Some((1, 2)),
        Screen::Password { .. } => Some((2, 2)),
        _ => None,
    }
}
