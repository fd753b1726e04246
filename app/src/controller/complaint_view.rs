//! The pages of a complaint: the reasons, the contact number, the result;
//! the code's pages are the registration's, in the complaint's words.

use kiosk_ui::i18n::{Text, tr};
use kiosk_ui::{KeyboardKind, Page};

use super::Controller;
use super::session::Session;
use super::view::{MethodView, View};
use crate::flow::{ComplaintReason, Screen};

impl Controller {
    pub(super) fn describe_complaint(&self, screen: &Screen, session: &Session, view: &mut View) {
        let lang = self.lang;
        let t = |vietnamese: &str| tr(lang, vietnamese).to_string();
        match screen {
            Screen::ComplaintReason => {
                view.page = Page::Choice;
                view.title = t("Gửi khiếu nại");
                view.message = t(
                    "Chọn lý do bạn cho rằng tài khoản này không phải của bạn. Cán bộ Cổng Dịch vụ công sẽ xem xét và liên hệ với bạn.",
                );
                view.keyboard = KeyboardKind::None;
                view.methods = ComplaintReason::ALL
                    .into_iter()
                    .map(|r| MethodView {
                        id: r.code().into(),
                        title: t(r.label()),
                        detail: String::new(),
                        enabled: true,
                        reason: String::new(),
                    })
                    .collect();
            }
            Screen::ComplaintContact => {
                view.page = Page::Lookup;
                view.title = t("Số điện thoại liên hệ");
                view.message = t(
                    "Nhập số điện thoại của bạn. Máy sẽ gửi mã xác nhận đến số này; kết quả xử lý khiếu nại cũng được nhắn đến số này.",
                );
                view.submit_label = t("Gửi mã xác nhận");
                view.submit_enabled = !session.form.phone.trim().is_empty();
            }
            Screen::EnterOtp { .. } => {
                view.title = t("Nhập mã xác nhận");
                view.submit_label = t("Gửi khiếu nại");
            }
            Screen::Storing => view.title = t("Đang lưu khiếu nại…"),
            Screen::ComplaintFiled {
                reference,
                masked_phone,
            } => {
                view.page = Page::Done;
                view.title = t("Đã ghi nhận khiếu nại");
                view.reference = reference.clone();
                view.keyboard = KeyboardKind::None;
                view.message = t(
                    "Khiếu nại đã được lưu an toàn tại máy này và sẽ được gửi lên Cổng Dịch vụ công, kể cả khi máy đang mất kết nối.",
                );
                view.lines = vec![
                    Text::with(
                        "Cổng Dịch vụ công sẽ nhắn tin đến số {} khi nhận được và khi xử lý xong khiếu nại.",
                        [masked_phone],
                    )
                    .render(lang),
                    t("Ghi lại mã khiếu nại để tra cứu hoặc hỏi tại quầy giao dịch."),
                ];
                view.submit_label = t("Hoàn tất");
                view.submit_enabled = true;
            }
            Screen::Failed(_) => view.title = t("Chưa gửi được khiếu nại"),
            _ => {}
        }
    }
}

/// Where a complaint's page stands in its three steps: the reason, the
/// number, the code.
pub(super) fn step_of(screen: &Screen) -> Option<(u8, u8)> {
    let at = match screen {
        Screen::ComplaintReason => 1,
        Screen::ComplaintContact => 2,
        Screen::SendingOtp { .. } | Screen::OtpNotSent { .. } | Screen::EnterOtp { .. } => 3,
        _ => return None,
    };
    Some((at, 3))
}
