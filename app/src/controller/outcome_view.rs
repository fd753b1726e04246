//! The pages that end a visit or lead out of it: the result, an account
//! or a registration that already exists (with the ways out, the counters
//! and the code for the counter), the counters' list and the lookup.

use kiosk_ui::i18n::{Lang, Text, fill, tr};
use kiosk_ui::{KeyboardKind, Page};
use time::OffsetDateTime;

use super::Controller;
use super::session::Session;
use super::view::{MethodView, View};
use crate::domain::clock::local_date;
use crate::domain::{Method, SubjectKind};
use crate::flow::{Handoff, LookupResult, LookupStatus, Notice, Screen, WayOut};

impl Controller {
    pub(super) fn describe_way_out(&self, screen: &Screen, session: &Session, view: &mut View) {
        let lang = self.lang;
        // A business is known by its tax code, not a personal number.
        let business = session.subject == Some(SubjectKind::Business);
        let t = |vietnamese: &str| tr(lang, vietnamese).to_string();
        match screen {
            Screen::AccountExists { ways_out, handoff } => {
                view.page = Page::Exists;
                view.title = t("Tài khoản đã tồn tại");
                view.message = t(if business {
                    "Mã số thuế này đã có tài khoản trên Cổng Dịch vụ công. Bạn có thể:"
                } else {
                    "Số định danh này đã có tài khoản trên Cổng Dịch vụ công. Bạn có thể:"
                });
                for way in ways_out {
                    // The kiosk resets the password itself when it can
                    // ask the portal: a card, not a line.
                    if *way == WayOut::ForgotPassword
                        && session.method == Some(crate::domain::Method::Counter)
                    {
                        view.methods.push(MethodView {
                            id: "forgot".into(),
                            title: t("Quên mật khẩu"),
                            detail: t(
                                "Chip thẻ CCCD đã chứng minh chủ tài khoản: công dân đặt mật khẩu mới ngay tại quầy, kể cả khi máy mất kết nối",
                            ),
                            enabled: true,
                            reason: String::new(),
                        });
                        continue;
                    }
                    if *way == WayOut::ForgotPassword {
                        let offline = !self.status.online;
                        view.methods.push(MethodView {
                            id: "forgot".into(),
                            title: t("Quên mật khẩu"),
                            detail: t(
                                "Nhận mã qua số điện thoại của tài khoản và đặt mật khẩu mới ngay tại máy này",
                            ),
                            enabled: !offline,
                            reason: if offline {
                                t(
                                    "Cần kết nối Cổng Dịch vụ công, nhưng máy đang mất kết nối. Dùng “Quên mật khẩu” tại màn hình đăng nhập của Cổng khi có mạng, hoặc đến quầy giao dịch.",
                                )
                            } else {
                                String::new()
                            },
                        });
                        continue;
                    }
                    // The kiosk takes a complaint itself: a card, not a line.
                    if *way == WayOut::Complaint {
                        view.methods.push(MethodView {
                            id: "complaint".into(),
                            title: t("Gửi khiếu nại"),
                            detail: t(way.label()),
                            enabled: true,
                            reason: String::new(),
                        });
                        continue;
                    }
                    view.lines.push(t(way.label()));
                    // Where: the province's counters, from its policy.
                    if *way == WayOut::RecoverAtCounter {
                        view.lines.extend(
                            self.policy
                                .counters
                                .iter()
                                .map(crate::policy::Counter::line),
                        );
                        view.lines.push(match handoff {
                            Handoff::Asking => t("Đang lấy mã hỗ trợ tại quầy…"),
                            Handoff::Code(code) => Text::with(
                                "Mã hỗ trợ tại quầy: {}. Đưa mã này cho cán bộ cùng thẻ CCCD; mã dùng được trong 30 ngày.",
                                [code],
                            )
                            .render(lang),
                            Handoff::Unavailable => t(
                                "Khi đến quầy, mang theo thẻ CCCD để cán bộ tìm tài khoản của bạn.",
                            ),
                        });
                    }
                }
                view.lines.push(t(if business {
                    "Nếu bạn nhập nhầm mã số thuế, chọn “Quay lại” để sửa."
                } else {
                    "Nếu bạn nhập nhầm số định danh, chọn “Quay lại” để sửa."
                }));
                view.submit_label = t("Hoàn tất");
                view.submit_enabled = true;
                view.keyboard = KeyboardKind::None;
            }
            Screen::QueuedHere { reference } => {
                view.page = Page::Exists;
                view.title = t("Hồ sơ đang chờ gửi tại máy này");
                view.message = t(if business {
                    "Máy này đã nhận một hồ sơ đăng ký cho mã số thuế này. Hồ sơ đang chờ gửi lên Cổng Dịch vụ công; tài khoản sẽ được kích hoạt khi Cổng xác nhận. Bạn không cần đăng ký lại."
                } else {
                    "Máy này đã nhận một hồ sơ đăng ký cho số định danh này. Hồ sơ đang chờ gửi lên Cổng Dịch vụ công; tài khoản sẽ được kích hoạt khi Cổng xác nhận. Bạn không cần đăng ký lại."
                });
                view.reference = reference.clone();
                view.lines = vec![
                    Text::with("Mã hồ sơ: {}", [reference]).render(lang),
                    t(if business {
                        "Nếu bạn nhập nhầm mã số thuế, chọn “Quay lại” để sửa."
                    } else {
                        "Nếu bạn nhập nhầm số định danh, chọn “Quay lại” để sửa."
                    }),
                ];
                view.submit_label = t("Hoàn tất");
                view.submit_enabled = true;
                view.keyboard = KeyboardKind::None;
            }
            Screen::Done {
                reference,
                level,
                pending,
                notice,
                password,
            } => {
                view.page = Page::Done;
                view.title = t("Đã ghi nhận đăng ký");
                view.reference = reference.clone();
                view.keyboard = KeyboardKind::None;
                if pending.is_empty() {
                    view.message = Text::with(
                        "Tài khoản mức {} sẽ được kích hoạt khi máy gửi hồ sơ lên Cổng Dịch vụ công.",
                        [level.get()],
                    )
                    .render(lang);
                } else {
                    view.message = Text::with(
                        "Tài khoản mức {} đang chờ Cổng Dịch vụ công xác nhận:",
                        [level.get()],
                    )
                    .render(lang);
                    view.lines = pending
                        .iter()
                        .map(|p| fill(&t("Chờ {}"), &[t(p.label())]))
                        .collect();
                }
                // Only what will happen: the portal tells the number or the
                // address the registration carries, or nobody.
                view.lines.push(match notice {
                    Notice::Sms(phone) => Text::with(
                        "Cổng Dịch vụ công sẽ nhắn tin đến số {} khi xử lý xong hồ sơ.",
                        [phone],
                    )
                    .render(lang),
                    Notice::Email(address) => Text::with(
                        "Cổng Dịch vụ công sẽ gửi email đến {} khi xử lý xong hồ sơ.",
                        [address],
                    )
                    .render(lang),
                    Notice::LookUp => t(
                        "Để biết kết quả, chọn “Tra cứu hồ sơ” trên màn hình đầu của máy và nhập mã hồ sơ.",
                    ),
                });
                view.lines.push(t(match (password, session.method) {
                    (false, Some(Method::SimSignature)) => {
                        "Khi tài khoản được kích hoạt, đăng nhập bằng Sim ký số vừa dùng."
                    }
                    (false, _) => "Khi tài khoản được kích hoạt, đăng nhập bằng USB ký số vừa dùng.",
                    (true, _) if business => {
                        "Khi tài khoản được kích hoạt, đăng nhập bằng mã số thuế và mật khẩu vừa đặt."
                    }
                    (true, _) => {
                        "Khi tài khoản được kích hoạt, đăng nhập bằng số định danh và mật khẩu vừa đặt."
                    }
                }));
                view.lines
                    .push(t("Ghi lại mã hồ sơ để tra cứu hoặc hỏi tại quầy."));
                view.submit_label = t("Hoàn tất");
                view.submit_enabled = true;
            }
            Screen::Counters => {
                view.page = Page::Info;
                view.title = t("Quầy giao dịch");
                if self.policy.counters.is_empty() {
                    view.message = t(
                        "Bạn có thể đăng ký, lấy lại mật khẩu hoặc gửi khiếu nại tại Bưu điện hoặc Bộ phận Một cửa gần nhất. Hỏi cán bộ hỗ trợ để biết địa chỉ.",
                    );
                } else {
                    view.message = t(
                        "Bạn có thể đăng ký, lấy lại mật khẩu hoặc gửi khiếu nại tại các quầy sau. Mang theo thẻ CCCD.",
                    );
                    view.lines = self
                        .policy
                        .counters
                        .iter()
                        .map(crate::policy::Counter::line)
                        .collect();
                }
                view.submit_label = t("Về trang đầu");
                view.submit_enabled = true;
            }
            Screen::Lookup => {
                view.page = Page::Lookup;
                view.title = t("Tra cứu hồ sơ");
                view.message = t(
                    "Nhập mã hồ sơ in trên phiếu đăng ký, dạng DK-XXXX-XXXX. Chỉ cần gõ 8 ký tự sau “DK-”. Mã khiếu nại (KN-XXXX-XXXX) và mã đặt lại mật khẩu (MK-XXXX-XXXX) gõ cả hai chữ đầu.",
                );
                view.submit_label = t("Tra cứu");
                view.submit_enabled = !session.form.reference.trim().is_empty();
            }
            Screen::LookupAnswer { reference, result } => {
                describe_lookup(reference, result, lang, view);
            }
            _ => {}
        }
    }
}

/// The answer to a lookup: what became of the registration, never whose.
fn describe_lookup(reference: &str, result: &LookupResult, lang: Lang, view: &mut View) {
    let t = |vietnamese: &str| tr(lang, vietnamese).to_string();
    view.page = Page::LookupAnswer;
    view.reference = reference.to_string();
    view.keyboard = KeyboardKind::None;
    view.submit_label = t("Về trang đầu");
    view.submit_enabled = true;
    match result {
        LookupResult::Found(found) => {
            let complaint = reference.starts_with(kiosk_sync::COMPLAINT_PREFIX);
            // A password reset made at a counter: queued, then in effect.
            if reference.starts_with(kiosk_sync::COUNTER_RESET_PREFIX) {
                let (title, message) = match found.status {
                    LookupStatus::Queued => (
                        "Yêu cầu đặt lại mật khẩu đang chờ gửi lên Cổng",
                        "Yêu cầu đã được lưu an toàn tại máy và sẽ được gửi khi máy kết nối được Cổng Dịch vụ công. Mật khẩu cũ vẫn dùng được đến lúc đó.",
                    ),
                    LookupStatus::Rejected(_) => (
                        "Cổng không đặt lại được mật khẩu",
                        "Vui lòng quay lại quầy giao dịch cùng thẻ CCCD.",
                    ),
                    _ => (
                        "Mật khẩu mới đã có hiệu lực",
                        "Đăng nhập Cổng Dịch vụ công bằng mật khẩu mới.",
                    ),
                };
                view.title = t(title);
                view.message = t(message);
                return;
            }
            view.title = t(match found.status {
                LookupStatus::Queued if complaint => "Khiếu nại đang chờ gửi lên Cổng",
                LookupStatus::Delivered if complaint => "Cổng đã nhận khiếu nại, đang xem xét",
                status => status.title(),
            });
            view.message = t(match found.status {
                LookupStatus::Queued if complaint => {
                    "Khiếu nại đã được lưu an toàn tại máy này và sẽ được gửi khi máy kết nối được Cổng Dịch vụ công."
                }
                LookupStatus::Delivered if complaint => {
                    LookupStatus::ComplaintReceived.explanation()
                }
                status => status.explanation(),
            });
            let date = |at: i64| {
                OffsetDateTime::from_unix_timestamp(at)
                    .map(|t| {
                        let d = local_date(t);
                        format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year())
                    })
                    .unwrap_or_default()
            };
            view.lines = if complaint {
                vec![
                    Text::with(
                        "Khiếu nại về tài khoản, gửi khi đăng ký bằng: {}",
                        [t(found.method.label())],
                    )
                    .render(lang),
                    Text::with("Ngày gửi: {}", [date(found.created_at)]).render(lang),
                ]
            } else {
                vec![
                    Text::with("Phương thức: {}", [t(found.method.label())]).render(lang),
                    Text::with("Mức tài khoản: {}", [found.level]).render(lang),
                    Text::with("Ngày đăng ký: {}", [date(found.created_at)]).render(lang),
                ]
            };
            if let Some(at) = found.decided_at
                && found.status != LookupStatus::Queued
            {
                view.lines
                    .push(Text::with("Cổng xử lý ngày: {}", [date(at)]).render(lang));
            }
            if found.here {
                view.lines.push(t("Hồ sơ được đăng ký tại máy này."));
            }
        }
        LookupResult::NotFound => {
            view.title = t("Không tìm thấy hồ sơ");
            view.message = t(
                "Không có hồ sơ nào với mã này. Kiểm tra lại mã trên phiếu đăng ký rồi chọn “Quay lại” để nhập lại.",
            );
        }
        LookupResult::NotHereOffline => {
            view.title = t("Chưa tra cứu được hồ sơ");
            view.message = t(
                "Mã này không phải của hồ sơ đăng ký tại máy này, và máy đang không kết nối được Cổng Dịch vụ công để tra cứu hồ sơ nộp ở nơi khác. Vui lòng thử lại sau hoặc hỏi tại quầy giao dịch.",
            );
        }
    }
}
