//! What the screen shows: the [`View`], built fresh from the session, the
//! policy and the kiosk's status, in the language chosen. Every text the
//! citizen reads is looked up here, so the view can be checked in both
//! languages without a window.

use kiosk_ui::i18n::{Lang, Text, tr};
use kiosk_ui::telex;
use kiosk_ui::{KeyboardKind, Page};
use time::OffsetDateTime;

use super::Controller;
use super::card_view::describe_card;
use super::input::Focus;
use super::method_view::{form_title, method_detail, step_of};
use super::session::{Session, Stage};
use crate::domain::{Method, PasswordCheck, PasswordRule, SubjectKind};
use crate::flow::{Field, Screen};
use crate::policy::Unavailable;
use crate::store::Storage;
use crate::worker::Status;

/// One method on the method screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodView {
    pub id: String,
    pub title: String,
    pub detail: String,
    pub enabled: bool,
    pub reason: String,
}

/// One input on screen. `value` is what is drawn: passwords and PINs as dots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldView {
    pub id: String,
    pub label: String,
    pub value: String,
    pub hint: String,
    pub required: bool,
    pub error: String,
    pub focused: bool,
    /// Filled by the chip of the CCCD card: shown, not typed into.
    pub locked: bool,
}

/// A line of the password checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleView {
    pub text: String,
    pub ok: bool,
}

/// Everything a screen shows. Built fresh after each change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    /// Which screen (`globals.slint`'s `Page`).
    pub page: Page,
    pub subject_title: String,
    pub method_title: String,
    pub methods: Vec<MethodView>,
    pub fields: Vec<FieldView>,
    pub keyboard: KeyboardKind,
    pub telex: bool,
    /// The name's last word with its tone on the other vowel (*Thủy* ⇄
    /// *Thuỷ*), offered as a key; empty when it reads the same either way.
    pub respell: String,
    /// Headline and text of the busy, failed, done, exists and wait pages.
    pub title: String,
    pub message: String,
    /// Lines under the message: next steps, ways out, certificate details.
    pub lines: Vec<String>,
    pub submit_label: String,
    pub submit_enabled: bool,
    /// OTP: "Gửi lại OTP" and whether it may be pressed now.
    pub resend_label: String,
    pub resend_enabled: bool,
    /// OTP: time left to enter the code, `m:ss`.
    pub countdown: String,
    pub rules: Vec<RuleView>,
    pub reference: String,
    /// Shown big on the SIM signature waiting page.
    pub verification_code: String,
    /// The form's "read the CCCD card" button ("" when the method or the
    /// kiosk cannot), and whether it may be pressed now.
    pub card_label: String,
    pub card_enabled: bool,
    /// Under the button: what reading the card does, or why it cannot.
    pub card_detail: String,
    /// "Bước 2/4": where the citizen is in the method's steps ("" off them).
    pub step: String,
    /// Seconds until the idle timeout ends the session, once the warning shows.
    pub idle_left: Option<u32>,
    pub status: Status,
    /// The language everything above is in, and the screens' own texts.
    pub lang: Lang,
}

fn field_label(
    focus: Focus,
    subject: Option<SubjectKind>,
    card_key: bool,
) -> (&'static str, &'static str) {
    match focus {
        // What the CCCD card prints, to open its chip.
        Focus::Field(Field::PersonalId) if card_key => ("Số / No. trên thẻ", "12 chữ số"),
        Focus::Field(Field::CardExpiry) => ("Có giá trị đến", "ngày/tháng/năm"),
        Focus::Field(Field::CardCan) => ("Số CAN", "6 chữ số"),
        Focus::Field(Field::FullName) => ("Họ và tên", "Gõ có dấu: aa→â, dd→đ, s f r x j"),
        Focus::Field(Field::PersonalId) => ("Số CCCD/CMND", "12 số CCCD hoặc 9 số CMND"),
        Focus::Field(Field::DateOfBirth) => ("Ngày sinh", "ngày/tháng/năm"),
        Focus::Field(Field::Phone) => ("Số điện thoại", "Ví dụ 0912345678"),
        Focus::Field(Field::Email) => (
            "Email",
            if subject == Some(SubjectKind::Business) {
                "Email của doanh nghiệp"
            } else {
                "Không bắt buộc"
            },
        ),
        Focus::Field(Field::BhxhCode) => ("Mã số BHXH", "10 chữ số trên thẻ BHYT/sổ BHXH"),
        Focus::Field(Field::Otp) => ("Mã OTP", ""),
        Focus::Field(Field::Pin) => ("Mã PIN", ""),
        Focus::Field(Field::Password) => ("Mật khẩu", ""),
        Focus::Field(Field::Reference) => ("Mã hồ sơ", "DK-XXXX-XXXX"),
        Focus::Field(Field::ClerkId) => ("Mã cán bộ", "Ví dụ BD-KS-0001"),
        Focus::Field(Field::PortalUrl) => ("Địa chỉ Cổng", "Ví dụ https://dichvucong.tinh.gov.vn"),
        Focus::Field(Field::EnrolCode) => {
            ("Mã đăng ký máy", "Mã dùng một lần do quản trị Cổng cấp")
        }
        Focus::Field(Field::TlsPin) => (
            "Mã ghim chứng thư TLS",
            "64 chữ số hex (SHA-256); cần khi dùng https",
        ),
        Focus::Confirm => ("Nhập lại mật khẩu", ""),
    }
}

/// What the home screen says when the kiosk takes no registration.
fn out_of_service(storage: Storage) -> Option<&'static str> {
    match storage {
        Storage::Ready => None,
        Storage::Full => Some(
            "Bộ nhớ của máy đã đầy nên máy chưa nhận được hồ sơ mới. Các hồ sơ đã nhận vẫn được giữ an toàn và sẽ được gửi về Cổng. Vui lòng đăng ký ở máy khác, quay lại sau hoặc liên hệ cán bộ hỗ trợ.",
        ),
        Storage::Damaged => Some(
            "Máy cần được kỹ thuật viên kiểm tra trước khi nhận hồ sơ mới. Các hồ sơ đã nhận được giữ nguyên. Vui lòng đăng ký ở máy khác hoặc liên hệ cán bộ hỗ trợ.",
        ),
    }
}

impl Controller {
    /// The screen as it should look now.
    pub fn view(&self) -> View {
        let mut view = View {
            page: Page::Home,
            keyboard: KeyboardKind::None,
            status: self.status.clone(),
            idle_left: self.idle_left(),
            lang: self.lang,
            ..View::default()
        };
        let lang = self.lang;
        let Some(session) = self.session.as_ref() else {
            if self.clerk_on_duty().is_some() {
                self.describe_counter_home(&mut view);
                return view;
            }
            view.submit_enabled = self.status.storage == Storage::Ready;
            if let Some(why) = out_of_service(self.status.storage) {
                view.title = tr(lang, "Máy tạm ngừng nhận hồ sơ").into();
                view.message = tr(lang, why).into();
            }
            return view;
        };
        let now = self.session_time();
        view.telex = session.telex;
        view.subject_title = session
            .subject
            .map(|s| tr(lang, s.label()).to_string())
            .unwrap_or_default();
        view.method_title = session
            .method
            .map(|m| tr(lang, form_title(m)).to_string())
            .unwrap_or_default();
        view.fields = session
            .inputs()
            .into_iter()
            .map(|(focus, required)| {
                let card_key = matches!(session.stage, Stage::Flow(Screen::CardKey { .. }));
                let (label, hint) = field_label(focus, session.subject, card_key);
                let locked = session.is_locked(focus);
                let hint = if locked { "Từ chip thẻ CCCD" } else { hint };
                let value = session.value(focus);
                // At the counter the citizen's code is theirs alone too.
                let counter = session.method == Some(Method::Counter);
                let secret = matches!(
                    focus,
                    Focus::Field(Field::Password | Field::Pin) | Focus::Confirm
                ) || (counter && focus == Focus::Field(Field::Otp));
                FieldView {
                    id: focus.id().into(),
                    label: tr(lang, label).into(),
                    value: if secret {
                        "●".repeat(value.chars().count())
                    } else {
                        value.to_string()
                    },
                    hint: tr(lang, hint).into(),
                    required,
                    error: session
                        .error_for(focus)
                        .map(|e| e.message.render(lang))
                        .unwrap_or_default(),
                    focused: session.focus == Some(focus),
                    locked,
                }
            })
            .collect();
        if let Some(focus) = session.focus {
            view.keyboard = focus.keyboard();
            if session.telex && focus.keyboard() == KeyboardKind::Text {
                view.respell =
                    telex::respell_last_word(session.value(focus), session.tone_style.other())
                        .and_then(|t| t.rsplit(' ').next().map(str::to_string))
                        .unwrap_or_default();
            }
        }
        match &session.stage {
            Stage::Subject => view.page = Page::Subject,
            Stage::Method => {
                view.page = Page::Method;
                let subject = session.subject.unwrap_or(SubjectKind::Citizen);
                view.methods = self
                    .policy
                    .methods_for(subject, self.status.online)
                    .into_iter()
                    .map(|(method, offered)| {
                        let reason = match offered {
                            Err(Unavailable::NotForSubject) => None,
                            _ => self.method_unavailable(method, subject),
                        };
                        MethodView {
                            id: method.as_str().into(),
                            title: tr(lang, method.label()).into(),
                            detail: method_detail(method, offered.ok().map(|l| l.get()), lang),
                            enabled: reason.is_none(),
                            reason: reason.map(|r| tr(lang, r).into()).unwrap_or_default(),
                        }
                    })
                    .collect();
            }
            Stage::Flow(screen) => {
                self.describe(screen, session, now, &mut view);
                if session.method == Some(Method::Counter)
                    && matches!(screen, Screen::EnterOtp { .. } | Screen::Password { .. })
                {
                    self.describe_citizen_turn(&mut view);
                }
                let step = match (&session.complaint, &session.reset) {
                    _ if session.counter_reset.is_some() => None,
                    (Some(_), _) => super::complaint_view::step_of(screen),
                    (_, Some(_)) => super::recovery_view::step_of(screen),
                    _ => session
                        .method
                        .and_then(|m| step_of(m, screen, self.policy.asks_password(m))),
                };
                if let Some((at, of)) = step {
                    view.step = Text::with("Bước {}/{}", [at, of]).render(lang);
                }
            }
        }
        view
    }

    fn describe(&self, screen: &Screen, session: &Session, now: OffsetDateTime, view: &mut View) {
        let lang = self.lang;
        let t = |vietnamese: &str| tr(lang, vietnamese).to_string();
        match screen {
            Screen::Form => {
                view.page = Page::Form;
                view.submit_label = t("Đăng ký");
                view.submit_enabled = true;
                self.describe_card_button(session, view);
            }
            Screen::CardKey { .. }
            | Screen::PlaceCard { .. }
            | Screen::ReadingCard
            | Screen::CardRefused(_) => describe_card(screen, lang, view),
            Screen::Checking => {
                busy(
                    view,
                    t("Đang kiểm tra thông tin…"),
                    t("Vui lòng chờ trong giây lát."),
                );
                view.lines = vec![t(
                    "Thường mất vài giây, không quá 10 giây. Khi máy không kết nối được Cổng, việc kiểm tra được làm sau và bạn vẫn đăng ký tiếp được.",
                )];
            }
            Screen::Storing => busy(
                view,
                t("Đang lưu hồ sơ đăng ký…"),
                t("Vui lòng không rời khỏi máy trong giây lát."),
            ),
            Screen::ProvingToken => busy(
                view,
                t("Đang kiểm tra USB ký số…"),
                t("Không rút USB ra khỏi máy."),
            ),
            Screen::SendingOtp { masked_phone } => {
                busy(
                    view,
                    t("Đang gửi mã OTP…"),
                    Text::with("Mã OTP đang được gửi đến số {}.", [masked_phone]).render(lang),
                );
                view.lines = vec![t(
                    "Máy gửi tin nhắn trong khoảng một phút. Nếu không gửi được, máy sẽ báo và cho gửi lại.",
                )];
            }
            Screen::OtpNotSent { failure } => {
                view.page = Page::OtpNotSent;
                view.title = t("Chưa gửi được mã OTP");
                view.message = t(failure.message());
                view.submit_label = t("Thử lại");
                view.submit_enabled = *failure != crate::flow::DeliveryFailure::DailyLimit;
            }
            Screen::EnterOtp {
                masked_phone,
                expires_at,
                attempts_left,
                resends_left,
                resend_available_at,
                error,
            } => {
                view.page = Page::Otp;
                view.title = t("Nhập mã OTP");
                view.message = Text::with(
                    "Mã OTP gồm {} chữ số đã được gửi đến số {}.",
                    [self.policy.otp.digits.to_string(), masked_phone.clone()],
                )
                .render(lang);
                let left = (*expires_at - now).whole_seconds().max(0);
                view.countdown = format!("{}:{:02}", left / 60, left % 60);
                view.lines = vec![
                    Text::with("Còn {} lần nhập.", [attempts_left]).render(lang),
                    t(
                        "Tin nhắn thường đến trong vòng một phút. Nếu chưa nhận được, chờ đến khi nút “Gửi lại OTP” sáng lên rồi chạm vào đó.",
                    ),
                ];
                let shown = match error {
                    _ if left == 0 => Some(crate::flow::OtpError::Expired.message()),
                    Some(error) => Some(error.message()),
                    None => None,
                };
                if let (Some(text), Some(f)) = (shown, view.fields.first_mut()) {
                    f.error = text.render(lang);
                }
                let wait = resend_available_at
                    .map(|at| (at - now).whole_seconds())
                    .unwrap_or(0);
                view.resend_enabled = *resends_left > 0 && wait <= 0;
                view.resend_label = if *resends_left == 0 {
                    t("Đã hết lượt gửi lại")
                } else if wait > 0 {
                    Text::with(
                        "Gửi lại OTP sau {}",
                        [format!("{}:{:02}", wait / 60, wait % 60)],
                    )
                    .render(lang)
                } else {
                    Text::with("Gửi lại OTP (còn {} lần)", [resends_left]).render(lang)
                };
                view.submit_label = t("Xác nhận");
                view.submit_enabled =
                    session.otp.chars().count() == usize::from(self.policy.otp.digits) && left > 0;
            }
            Screen::Password { .. } => {
                view.page = Page::Password;
                view.title = t("Đặt mật khẩu");
                view.message = t("Mật khẩu dùng để đăng nhập Cổng Dịch vụ công.");
                let check = PasswordCheck::evaluate(
                    &session.password,
                    &session.confirm,
                    &self.policy.password,
                );
                view.rules = PasswordRule::ALL
                    .iter()
                    .map(|rule| RuleView {
                        text: rule.label(&self.policy.password).render(lang),
                        ok: check.holds(*rule),
                    })
                    .collect();
                view.submit_label = t("Đăng ký");
                view.submit_enabled = check.is_ok();
            }
            Screen::WaitingForToken => {
                view.page = Page::TokenWait;
                view.title = t("Cắm USB ký số");
                view.message = t("Cắm USB ký số vào cổng USB của máy. Máy sẽ tự nhận USB.");
            }
            Screen::EnterPin {
                count_low,
                final_try,
                wrong,
            } => {
                view.page = Page::Pin;
                view.title = t("Nhập mã PIN của USB ký số");
                view.message = t("Mã PIN chỉ được dùng trên USB, máy không lưu lại.");
                if *wrong {
                    let text = if *final_try {
                        "Mã PIN không đúng. Đây là lần nhập cuối, nhập sai nữa USB sẽ bị khoá."
                    } else if *count_low {
                        "Mã PIN không đúng. Chỉ còn ít lần nhập trước khi USB bị khoá."
                    } else {
                        "Mã PIN không đúng."
                    };
                    if let Some(f) = view.fields.first_mut() {
                        f.error = t(text);
                    }
                }
                view.submit_label = t("Đăng nhập");
                view.submit_enabled = session.pin.chars().count() >= 4;
            }
            Screen::WaitingForPhone { verification_code } => {
                view.page = Page::PhoneWait;
                view.title = t("Xác nhận trên điện thoại");
                view.message = t(
                    "Kiểm tra mã dưới đây trùng với mã trên điện thoại, rồi chọn “Xác nhận” và nhập mã PIN của Sim ký số.",
                );
                view.verification_code = verification_code.clone();
                view.lines = vec![t(
                    "Yêu cầu hết hạn sau 2 phút. Nếu điện thoại không hiện yêu cầu, chọn “Quay lại” rồi gửi lại, hoặc chọn cách đăng ký khác.",
                )];
            }
            Screen::ConfirmDetails { details, .. } => {
                view.page = Page::Confirm;
                view.title = t("Kiểm tra thông tin");
                view.message = t("Thông tin lấy từ chứng thư số:");
                view.lines = details
                    .0
                    .iter()
                    .map(|(label, value)| format!("{}: {value}", tr(lang, label)))
                    .collect();
                view.submit_label = t("Đăng ký");
                view.submit_enabled = true;
            }
            Screen::Failed(failure) => {
                view.page = Page::Failed;
                view.title = t("Không đăng ký được tài khoản");
                view.message = failure.message().render(lang);
                view.keyboard = KeyboardKind::None;
                view.submit_label = t("Về trang đầu");
                view.submit_enabled = true;
            }
            Screen::AccountExists { .. }
            | Screen::QueuedHere { .. }
            | Screen::Done { .. }
            | Screen::Counters
            | Screen::Lookup
            | Screen::LookupAnswer { .. } => self.describe_way_out(screen, session, view),
            Screen::ComplaintReason
            | Screen::ComplaintContact
            | Screen::ComplaintFiled { .. }
            | Screen::ResetDone { .. }
            | Screen::ResetUnavailable(_) => {}
            Screen::Setup
            | Screen::Enrolling
            | Screen::Enrolled { .. }
            | Screen::TechnicianPin
            | Screen::Technician => self.describe_technician(screen, session, view),
            Screen::FaceCheck { .. }
            | Screen::ClerkSignIn
            | Screen::CounterToday { .. }
            | Screen::CounterResetQueued { .. } => {
                self.describe_counter(screen, session, view);
            }
        }
        if session.complaint.is_some() {
            self.describe_complaint(screen, session, view);
        }
        if session.reset.is_some() {
            self.describe_reset(screen, session, view);
        }
        if session.counter_reset.is_some() && matches!(screen, Screen::Password { .. }) {
            self.describe_counter_reset(view);
        }
    }
}

pub(super) fn busy(view: &mut View, title: String, message: String) {
    view.page = Page::Busy;
    view.title = title;
    view.message = message;
    view.keyboard = KeyboardKind::None;
}
