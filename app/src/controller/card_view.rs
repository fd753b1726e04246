//! The CCCD card's pages as the screen shows them, and the form's button
//! that opens them.

use kiosk_ui::Page;
use kiosk_ui::i18n::{Lang, tr};

use super::Controller;
use super::session::Session;
use super::view::{View, busy};
use crate::flow::Screen;

/// The card's key page, the card on the reader, the read, a refusal.
pub(super) fn describe_card(screen: &Screen, lang: Lang, view: &mut View) {
    let t = |vietnamese: &str| tr(lang, vietnamese).to_string();
    match screen {
        Screen::CardKey { can } => {
            view.page = Page::CardKey;
            view.title = t("Thông tin in trên thẻ CCCD");
            view.message = t(if *can {
                "Nhập 6 số CAN in trên mặt trước của thẻ. Máy dùng số này để mở chip trong thẻ, không lưu lại."
            } else {
                "Nhập đúng như in trên mặt trước của thẻ. Máy dùng các số này để mở chip trong thẻ, không lưu lại."
            });
            view.card_label = t(if *can {
                "Nhập số CCCD, ngày sinh, ngày hết hạn"
            } else {
                "Thẻ có số CAN? Nhập 6 số CAN"
            });
            view.card_enabled = true;
            view.submit_label = t("Tiếp tục");
            view.submit_enabled = true;
        }
        Screen::PlaceCard { again } => {
            view.page = Page::CardPlace;
            view.title = t("Đặt thẻ CCCD lên đầu đọc");
            view.message = t(if *again {
                "Thẻ đã bị nhấc ra khi máy đang đọc. Đặt lại thẻ lên đầu đọc và giữ yên đến khi máy báo xong."
            } else {
                "Đặt thẻ nằm phẳng lên đầu đọc thẻ và giữ yên. Máy sẽ tự đọc khi nhận thấy thẻ."
            });
        }
        Screen::ReadingCard => busy(
            view,
            t("Đang đọc chip thẻ CCCD…"),
            t("Giữ yên thẻ trên đầu đọc, không nhấc thẻ ra."),
        ),
        Screen::CardRefused(problem) => {
            view.page = Page::CardRefused;
            view.title = t(problem.title());
            view.message = t(problem.message());
            view.submit_label = t("Nhập thông tin bằng tay");
            view.submit_enabled = true;
        }
        _ => {}
    }
}

impl Controller {
    /// The form's card button: offered where policy gives the method a
    /// chip level; greyed, with why, when this kiosk has no reader.
    pub(super) fn describe_card_button(&self, session: &Session, view: &mut View) {
        let lang = self.lang;
        let takes_card = session
            .registration
            .as_ref()
            .is_some_and(|r| r.takes_card());
        if !takes_card {
            return;
        }
        if !session.locked.is_empty() {
            view.card_detail = tr(
                lang,
                "Họ tên, số định danh và ngày sinh đã lấy từ chip thẻ CCCD (đã xác thực).",
            )
            .into();
            return;
        }
        view.card_label = tr(lang, "Đọc thẻ CCCD gắn chip").into();
        view.card_enabled = self.status.card_reader;
        view.card_detail = tr(
            lang,
            if self.status.card_reader {
                "Không cần gõ họ tên, số định danh, ngày sinh: máy lấy từ chip của thẻ."
            } else {
                "Máy này chưa sẵn sàng đọc thẻ CCCD. Vui lòng nhập thông tin bằng tay."
            },
        )
        .into();
    }
}
