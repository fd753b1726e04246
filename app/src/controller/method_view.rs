//! The methods as the screens speak of them: whether one can be chosen
//! now and why not, each one's heading and line on the method page, and
//! where a screen stands in its steps ("Bước 2/4").

use kiosk_ui::i18n::{Lang, fill, tr};

use super::Controller;
use crate::domain::{Method, SubjectKind};
use crate::flow::Screen;

impl Controller {
    /// Why `method` cannot be chosen now (Vietnamese wording), if it cannot.
    pub(super) fn method_unavailable(
        &self,
        method: Method,
        subject: SubjectKind,
    ) -> Option<&'static str> {
        if let Err(why) = self
            .policy
            .check_offered(method, subject, self.status.online)
        {
            return Some(why.message());
        }
        let needs_modem = matches!(method, Method::MobileSubscriber | Method::Bhxh);
        if needs_modem && !self.status.modem_ready {
            return Some(
                "Thiết bị gửi tin nhắn SMS chưa sẵn sàng, chưa gửi được mã OTP. Vui lòng chọn phương thức khác hoặc liên hệ cán bộ hỗ trợ.",
            );
        }
        if method == Method::UsbToken && !self.status.token_reader {
            return Some(
                "Máy này chưa sẵn sàng đọc USB ký số. Vui lòng chọn phương thức khác hoặc liên hệ cán bộ hỗ trợ.",
            );
        }
        None
    }
}

/// Where `screen` stands in `method`'s steps, and how many there are: the
/// pages the citizen acts on, from the first to the result, the password's
/// only when the policy asks one. A wait between them, and the pages that
/// end the visit early, are no step.
pub(super) fn step_of(method: Method, screen: &Screen, password: bool) -> Option<(u8, u8)> {
    use Screen as S;
    // The method's own pages, up to the password.
    let mut steps: Vec<fn(&Screen) -> bool> = match method {
        // Fill in (the card's pages are part of it), the code from the SMS.
        Method::MobileSubscriber | Method::Bhxh => vec![
            |s| {
                matches!(
                    s,
                    S::Form
                        | S::CardKey { .. }
                        | S::PlaceCard { .. }
                        | S::ReadingCard
                        | S::CardRefused(_)
                )
            },
            |s| {
                matches!(
                    s,
                    S::SendingOtp { .. } | S::OtpNotSent { .. } | S::EnterOtp { .. }
                )
            },
        ],
        // The number, the phone's confirmation, the certificate's details.
        Method::SimSignature => vec![
            |s| matches!(s, S::Form),
            |s| matches!(s, S::WaitingForPhone { .. }),
            |s| matches!(s, S::ConfirmDetails { .. }),
        ],
        // The card, the clerk's check of the face, the citizen's code.
        Method::Counter => vec![
            |s| {
                matches!(
                    s,
                    S::Form
                        | S::CardKey { .. }
                        | S::PlaceCard { .. }
                        | S::ReadingCard
                        | S::CardRefused(_)
                )
            },
            |s| matches!(s, S::FaceCheck { .. }),
            |s| {
                matches!(
                    s,
                    S::SendingOtp { .. } | S::OtpNotSent { .. } | S::EnterOtp { .. }
                )
            },
        ],
        // The token and its PIN, the certificate's details.
        Method::UsbToken => vec![
            |s| matches!(s, S::WaitingForToken | S::EnterPin { .. } | S::ProvingToken),
            |s| matches!(s, S::ConfirmDetails { .. }),
        ],
    };
    if password {
        steps.push(|s| matches!(s, S::Password { .. }));
    }
    steps.push(|s| matches!(s, S::Storing | S::Done { .. }));
    let at = steps.iter().position(|is| is(screen))?;
    Some((at as u8 + 1, steps.len() as u8))
}

/// The heading of a method's form.
pub(super) fn form_title(method: Method) -> &'static str {
    match method {
        Method::MobileSubscriber => "Đăng ký bằng thuê bao di động",
        Method::Bhxh => "Đăng ký bằng mã số BHXH",
        Method::SimSignature => "Đăng ký bằng Sim ký số",
        Method::UsbToken => "Đăng ký bằng USB ký số",
        Method::Counter => "Đăng ký tại quầy bằng thẻ CCCD gắn chip",
    }
}

pub(super) fn method_detail(method: Method, level: Option<u8>, lang: Lang) -> String {
    let how = match method {
        Method::MobileSubscriber => "Nhận mã OTP qua tin nhắn đến số điện thoại chính chủ",
        Method::Bhxh => "Đối chiếu với cơ sở dữ liệu Bảo hiểm xã hội",
        Method::SimSignature => "Xác nhận bằng Sim ký số trên điện thoại",
        Method::UsbToken => "Cắm USB ký số và nhập mã PIN",
        Method::Counter => "Cán bộ đọc chip thẻ CCCD và đối chiếu khuôn mặt",
    };
    let how = tr(lang, how).to_string();
    match level {
        Some(l) => fill(tr(lang, "Mức {} · {}"), &[l.to_string(), how]),
        None => how,
    }
}
