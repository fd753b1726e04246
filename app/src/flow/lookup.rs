//! "Tra cứu hồ sơ": anyone holding a reference number asks what became of
//! that registration. A small machine of its own: the number typed, the
//! kiosk's records and the portal asked, the answer shown.
//!
//! The answer holds no personal data: the method, the level, the dates and
//! the outcome. A number nobody knows is told so in the same words whether
//! or not it exists elsewhere.

use kiosk_sync::api::Rejection;
use kiosk_ui::i18n::Text;

use crate::domain::Method;
use crate::flow::{Effect, Event, Field, FieldError, FlowError, Screen};

/// Where a registration is, as its reference finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupStatus {
    /// Waiting at this kiosk to be sent to the portal.
    Queued,
    /// The portal has it and is checking it.
    Delivered,
    Activated,
    /// Not opened: the identity already had an account.
    Duplicate,
    Rejected(Rejection),
    /// A complaint (`KN-…`) the portal's staff have in their queue.
    ComplaintReceived,
    /// A complaint the portal's staff have settled.
    ComplaintResolved,
}

impl LookupStatus {
    /// From a status as the kiosk's store or the portal writes it.
    pub fn parse(status: &str, rejection: Option<Rejection>) -> Option<LookupStatus> {
        Some(match status {
            "queued" => LookupStatus::Queued,
            "delivered" | "accepted" => LookupStatus::Delivered,
            "activated" => LookupStatus::Activated,
            "duplicate" => LookupStatus::Duplicate,
            "rejected" => LookupStatus::Rejected(rejection.unwrap_or(Rejection::Other)),
            "received" => LookupStatus::ComplaintReceived,
            "resolved" => LookupStatus::ComplaintResolved,
            _ => return None,
        })
    }

    /// The headline, in Vietnamese; the catalogue has the others.
    pub fn title(&self) -> &'static str {
        match self {
            LookupStatus::Queued => "Hồ sơ đang chờ gửi lên Cổng",
            LookupStatus::Delivered => "Cổng đã nhận hồ sơ, đang kiểm tra",
            LookupStatus::Activated => "Tài khoản đã được kích hoạt",
            LookupStatus::Duplicate => "Không tạo tài khoản mới: đã có tài khoản",
            LookupStatus::Rejected(_) => "Hồ sơ không được chấp nhận",
            LookupStatus::ComplaintReceived => "Cổng đã nhận khiếu nại, đang xem xét",
            LookupStatus::ComplaintResolved => "Khiếu nại đã được xử lý",
        }
    }

    /// What it means and what to do next.
    pub fn explanation(&self) -> &'static str {
        match self {
            LookupStatus::Queued => {
                "Hồ sơ đã được lưu an toàn tại máy này và sẽ được gửi khi máy kết nối được Cổng Dịch vụ công. Bạn không cần đăng ký lại."
            }
            LookupStatus::Delivered => {
                "Cổng Dịch vụ công đang kiểm tra hồ sơ. Bạn sẽ được báo khi có kết quả."
            }
            LookupStatus::Activated => {
                "Bạn có thể đăng nhập Cổng Dịch vụ công bằng mật khẩu đã đặt khi đăng ký."
            }
            LookupStatus::Duplicate => {
                "Thông tin này đã có tài khoản trên Cổng Dịch vụ công. Dùng chức năng “Quên mật khẩu” hoặc đến quầy giao dịch để lấy lại mật khẩu."
            }
            LookupStatus::ComplaintReceived => {
                "Cán bộ Cổng Dịch vụ công đang xem xét khiếu nại và sẽ nhắn tin đến số điện thoại liên hệ đã xác nhận."
            }
            LookupStatus::ComplaintResolved => {
                "Kết quả đã được nhắn đến số điện thoại liên hệ. Nếu cần hỏi thêm, đến quầy giao dịch với mã khiếu nại và thẻ CCCD."
            }
            LookupStatus::Rejected(why) => match why {
                Rejection::Subscriber => {
                    "Số điện thoại không phải thuê bao đăng ký chính chủ của người đăng ký."
                }
                Rejection::Bhxh => "Thông tin không khớp với cơ sở dữ liệu Bảo hiểm xã hội.",
                Rejection::Certificate => {
                    "Chứng thư số không hợp lệ (đã bị thu hồi, không được công nhận hoặc không đúng người đăng ký)."
                }
                Rejection::Signature => "Chữ ký số xác nhận người đăng ký không hợp lệ.",
                Rejection::Chip => {
                    "Dữ liệu chip trên thẻ CCCD không xác thực được hoặc không đúng người đăng ký."
                }
                Rejection::Other => {
                    "Hồ sơ thiếu thông tin hoặc không đúng quy định. Vui lòng hỏi tại quầy giao dịch với mã hồ sơ này."
                }
            },
        }
    }
}

/// A registration found by its reference: nothing of the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub status: LookupStatus,
    pub method: Method,
    pub level: u8,
    /// Unix seconds.
    pub created_at: i64,
    pub decided_at: Option<i64>,
    /// Made at this kiosk (its own records answered), or elsewhere.
    pub here: bool,
}

/// What the kiosk's records and the portal answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupResult {
    Found(Found),
    /// Neither this kiosk nor the portal knows the number.
    NotFound,
    /// Not one of this kiosk's, and the portal cannot be asked now.
    NotHereOffline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Entering,
    Asking,
    Answered,
}

/// The lookup's machine. See the module documentation.
#[derive(Debug)]
pub struct Lookup {
    step: Step,
}

impl Lookup {
    pub fn start() -> (Lookup, Vec<Effect>) {
        (
            Lookup {
                step: Step::Entering,
            },
            vec![Effect::Show(Screen::Lookup)],
        )
    }

    pub fn step(&self) -> &'static str {
        match self.step {
            Step::Entering => "entering",
            Step::Asking => "asking",
            Step::Answered => "answered",
        }
    }

    pub fn handle(&mut self, event: Event) -> Result<Vec<Effect>, FlowError> {
        Ok(match (self.step, event) {
            (Step::Entering, Event::Submit(form)) => {
                match kiosk_sync::normalise_reference(&form.reference) {
                    Some(reference) => {
                        self.step = Step::Asking;
                        vec![Effect::Show(Screen::Checking), Effect::LookUp(reference)]
                    }
                    None => vec![Effect::FieldErrors(vec![FieldError::new(
                        Field::Reference,
                        Text::new(
                            "Mã hồ sơ có dạng DK-XXXX-XXXX (mã khiếu nại KN-XXXX-XXXX), in trên phiếu.",
                        ),
                        "a reference number is DK-XXXX-XXXX or KN-XXXX-XXXX",
                    )])],
                }
            }
            (Step::Asking, Event::LookedUp { reference, result }) => {
                self.step = Step::Answered;
                vec![Effect::Show(Screen::LookupAnswer { reference, result })]
            }
            (Step::Answered, Event::LookAgain) => {
                self.step = Step::Entering;
                vec![Effect::Show(Screen::Lookup)]
            }
            // Waiting on the answer, Hủy still goes home; the answer is
            // dropped with the session.
            (_, Event::Cancel | Event::Finish) => vec![Effect::EndSession],
            (step, event) => {
                return Err(FlowError::InvalidTransition {
                    step: Lookup { step }.step(),
                    event: event.name(),
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::Form;

    fn typed(reference: &str) -> Event {
        let mut form = Form::default();
        form.reference = reference.into();
        Event::Submit(form)
    }

    #[test]
    fn every_path_of_a_lookup() {
        let (mut lookup, shown) = Lookup::start();
        assert!(matches!(shown[..], [Effect::Show(Screen::Lookup)]));
        // An answer nobody asked for does not fit.
        let stray = Event::LookedUp {
            reference: "DK-0000-0000".into(),
            result: LookupResult::NotFound,
        };
        assert!(matches!(
            lookup.handle(stray),
            Err(FlowError::InvalidTransition {
                step: "entering",
                event: "looked_up"
            })
        ));
        // A wrong number stays on the page with the field's message.
        let effects = lookup.handle(typed("DK-1234")).unwrap();
        assert!(matches!(&effects[..], [Effect::FieldErrors(e)] if e[0].field == Field::Reference));
        assert_eq!(lookup.step(), "entering");
        let effects = lookup.handle(typed(" dk-abcd-efgh ")).unwrap();
        assert!(
            matches!(&effects[..], [Effect::Show(Screen::Checking), Effect::LookUp(r)] if r == "DK-ABCD-EFGH")
        );
        // Typing again while it asks does not fit; the answer does.
        assert!(lookup.handle(typed("DK-ABCD-EFGH")).is_err());
        let effects = lookup
            .handle(Event::LookedUp {
                reference: "DK-ABCD-EFGH".into(),
                result: LookupResult::NotFound,
            })
            .unwrap();
        assert!(matches!(
            &effects[..],
            [Effect::Show(Screen::LookupAnswer {
                result: LookupResult::NotFound,
                ..
            })]
        ));
        let effects = lookup.handle(Event::LookAgain).unwrap();
        assert!(matches!(effects[..], [Effect::Show(Screen::Lookup)]));
        lookup.handle(typed("ABCDEFGH")).unwrap();
        // Hủy while it asks goes home.
        assert!(matches!(
            lookup.handle(Event::Cancel).unwrap()[..],
            [Effect::EndSession]
        ));
    }

    #[test]
    fn statuses_read_as_the_store_and_the_portal_write_them() {
        assert_eq!(
            LookupStatus::parse("queued", None),
            Some(LookupStatus::Queued)
        );
        assert_eq!(
            LookupStatus::parse("accepted", None),
            Some(LookupStatus::Delivered)
        );
        assert_eq!(
            LookupStatus::parse("rejected", None),
            Some(LookupStatus::Rejected(Rejection::Other))
        );
        assert_eq!(LookupStatus::parse("lost", None), None);
        // Each rejection has its own explanation.
        let kinds = [
            Rejection::Subscriber,
            Rejection::Bhxh,
            Rejection::Certificate,
            Rejection::Signature,
            Rejection::Chip,
            Rejection::Other,
        ];
        let texts: std::collections::HashSet<_> = kinds
            .iter()
            .map(|k| LookupStatus::Rejected(*k).explanation())
            .collect();
        assert_eq!(texts.len(), kinds.len());
    }
}
