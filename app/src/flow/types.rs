//! The vocabulary of the state machines: events, effects, screens, and the
//! registration draft they produce.

use kiosk_sync::{IdentityKind, IdentityRef};
use kiosk_ui::i18n::Text;
use time::OffsetDateTime;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::domain::{
    BhxhCode, BusinessName, DateOfBirth, Email, Level, Method, Mst, Password, PasswordRule,
    PersonName, PersonalId, PhoneNumber, Pin, SubjectKind,
};
use crate::flow::OtpError;
use crate::policy::Unavailable;

/// What the citizen typed into a method's form, as typed. Wiped on drop.
#[derive(Default, Clone, Zeroize, ZeroizeOnDrop)]
pub struct Form {
    pub full_name: String,
    pub personal_id: String,
    pub date_of_birth: String,
    pub phone: String,
    pub email: String,
    pub bhxh_code: String,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Form { .. }")
    }
}

/// A field of a form; one name for the same thing in Rust, `.slint` and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    FullName,
    PersonalId,
    DateOfBirth,
    Phone,
    Email,
    BhxhCode,
    Otp,
    Pin,
    Password,
}

/// A message to show next to a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Field,
    /// On screen, in the citizen's language.
    pub message: Text,
    /// In logs and the CLI.
    pub message_en: String,
}

impl FieldError {
    pub fn new(field: Field, message: Text, en: impl std::fmt::Display) -> Self {
        FieldError {
            field,
            message,
            message_en: en.to_string(),
        }
    }
}

/// What an account is identified by for the duplicate check: CCCD/CMND for a
/// citizen, MST for a business, and the BHXH code while the BHXH database
/// has not yet said which CCCD it belongs to.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum IdentityKey {
    Person(PersonalId),
    Business(Mst),
    BhxhCode(BhxhCode),
}

impl IdentityKey {
    /// `cccd:079303012345`, `mst:0100047516`, …: what the portal's
    /// duplicate check asks about.
    pub fn reference(&self) -> IdentityRef {
        let made = match self {
            IdentityKey::Person(id) => return id.reference(),
            IdentityKey::Business(mst) => IdentityRef::new(IdentityKind::Mst, mst.as_str()),
            IdentityKey::BhxhCode(code) => IdentityRef::new(IdentityKind::Bhxh, code.as_str()),
        };
        made.expect("a parsed tax or BHXH code is digits")
    }

    /// The reference as text: the input of the keyed hash the store keeps.
    pub fn canonical(&self) -> Zeroizing<String> {
        self.reference().wire()
    }
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityKey::Person(id) => write!(f, "Person({})", id.masked()),
            IdentityKey::Business(m) => write!(f, "Business({})", m.masked()),
            IdentityKey::BhxhCode(c) => write!(f, "BhxhCode({})", c.masked()),
        }
    }
}

/// What is known about the applicant. Which parts are present depends on
/// the method and the subject.
#[derive(Clone, Default)]
pub struct Applicant {
    pub full_name: Option<PersonName>,
    pub business_name: Option<BusinessName>,
    pub personal_id: Option<PersonalId>,
    pub mst: Option<Mst>,
    pub bhxh_code: Option<BhxhCode>,
    pub date_of_birth: Option<DateOfBirth>,
    pub phone: Option<PhoneNumber>,
    pub email: Option<Email>,
    /// DER of the signing certificate (signature methods).
    pub certificate: Option<Vec<u8>>,
}

/// Redacted: the value types print masked; the certificate only its size
/// (its DER holds the name and identifiers).
impl std::fmt::Debug for Applicant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applicant")
            .field("full_name", &self.full_name)
            .field("business_name", &self.business_name)
            .field("personal_id", &self.personal_id)
            .field("mst", &self.mst)
            .field("bhxh_code", &self.bhxh_code)
            .field("date_of_birth", &self.date_of_birth)
            .field("phone", &self.phone)
            .field("email", &self.email)
            .field(
                "certificate_bytes",
                &self.certificate.as_ref().map(Vec::len),
            )
            .finish()
    }
}

/// A check that could not run on the kiosk and waits for the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PendingCheck {
    /// No other kiosk or channel has an account for this identity.
    GlobalDuplicate,
    /// The phone number is registered to this person (thuê bao chính chủ).
    SubscriberOwnership,
    /// The typed data matches the social-insurance database.
    BhxhMatch,
    /// The certificate is not revoked (OCSP/CRL at the CA).
    CertificateRevocation,
}

impl PendingCheck {
    pub fn as_str(&self) -> &'static str {
        match self {
            PendingCheck::GlobalDuplicate => "global_duplicate",
            PendingCheck::SubscriberOwnership => "subscriber_ownership",
            PendingCheck::BhxhMatch => "bhxh_match",
            PendingCheck::CertificateRevocation => "certificate_revocation",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            PendingCheck::GlobalDuplicate,
            PendingCheck::SubscriberOwnership,
            PendingCheck::BhxhMatch,
            PendingCheck::CertificateRevocation,
        ]
        .into_iter()
        .find(|c| c.as_str() == text)
    }

    /// The Vietnamese wording; the catalogue has the others.
    pub fn label(&self) -> &'static str {
        match self {
            PendingCheck::GlobalDuplicate => "kiểm tra trùng tài khoản trên toàn hệ thống",
            PendingCheck::SubscriberOwnership => "xác minh thuê bao chính chủ với nhà mạng",
            PendingCheck::BhxhMatch => "đối chiếu thông tin với CSDL Bảo hiểm xã hội",
            PendingCheck::CertificateRevocation => {
                "kiểm tra hiệu lực chứng thư số với nhà cung cấp"
            }
        }
    }
}

/// Everything needed to seal and store a completed registration. Produced
/// once, by [`Effect::Store`], after every kiosk-side check has passed.
#[derive(Debug, Clone)]
pub struct Draft {
    pub method: Method,
    pub subject: SubjectKind,
    /// The level the account gets once nothing is pending.
    pub level: Level,
    pub pending: Vec<PendingCheck>,
    pub identity: IdentityKey,
    pub applicant: Applicant,
    pub password: Password,
}

/// The ways out the manual gives when an account already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WayOut {
    /// "Quên mật khẩu" on the portal's login screen.
    ForgotPassword,
    /// Recover the password at a service counter.
    RecoverAtCounter,
    /// Complain when the account is not theirs.
    Complaint,
}

impl WayOut {
    pub const ALL: [WayOut; 3] = [
        WayOut::ForgotPassword,
        WayOut::RecoverAtCounter,
        WayOut::Complaint,
    ];

    /// The Vietnamese wording; the catalogue has the others.
    pub fn label(&self) -> &'static str {
        match self {
            WayOut::ForgotPassword => {
                "Lấy lại mật khẩu bằng chức năng “Quên mật khẩu” tại màn hình đăng nhập"
            }
            WayOut::RecoverAtCounter => "Đến quầy giao dịch để được hỗ trợ lấy lại mật khẩu",
            WayOut::Complaint => "Gửi khiếu nại nếu bạn không sở hữu tài khoản này",
        }
    }
}

/// Why a registration cannot go on. Each ends the session with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The BHXH database has no record matching what was typed.
    BhxhNotMatched,
    /// The carrier says the number is not registered to this person.
    NotSubscriberOwner,
    /// Every OTP attempt and resend is spent.
    OtpExhausted,
    /// A phone method reached the OTP step with no number to send it to.
    NoPhoneToVerify,
    /// The signing certificate belongs to the other kind of applicant.
    CertificateSubjectMismatch,
    /// The token refused: certificate or key problem, described in Vietnamese.
    Token(TokenProblem),
    /// The mobile-signature request ended without a signature.
    MobileSignature(SignatureProblem),
    /// The registration could not be written; nothing was stored.
    StorageFailed,
}

impl Failure {
    pub fn message(&self) -> Text {
        match self {
            Failure::BhxhNotMatched => Text::new(
                "Thông tin nhập không khớp với cơ sở dữ liệu Bảo hiểm xã hội, không đăng ký được tài khoản.",
            ),
            Failure::NotSubscriberOwner => {
                Text::new("Số điện thoại không phải thuê bao đăng ký chính chủ của người đăng ký.")
            }
            Failure::NoPhoneToVerify => {
                Text::new("Không có số điện thoại để gửi mã OTP. Vui lòng thực hiện lại từ đầu.")
            }
            Failure::OtpExhausted => Text::new(
                "Đã hết số lần nhập và gửi lại mã OTP. Vui lòng thực hiện lại sau hoặc liên hệ cán bộ hỗ trợ.",
            ),
            Failure::CertificateSubjectMismatch => {
                Text::new("Chứng thư số không thuộc đối tượng đã chọn (công dân/doanh nghiệp).")
            }
            Failure::Token(p) => Text::new(p.message()),
            Failure::MobileSignature(p) => Text::new(p.message()),
            Failure::StorageFailed => Text::new(
                "Không lưu được hồ sơ đăng ký; chưa có thông tin nào được ghi nhận. Vui lòng thử lại hoặc liên hệ cán bộ hỗ trợ.",
            ),
        }
    }
}

/// What went wrong with a token or its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    CertificateExpired,
    CertificateNotYetValid,
    CertificateUntrusted,
    CertificateWrongUsage,
    NoMatchingKey,
    PinLocked,
}

impl TokenProblem {
    /// The Vietnamese wording; the catalogue has the others.
    pub fn message(&self) -> &'static str {
        match self {
            TokenProblem::CertificateExpired => "Chứng thư số trong USB đã hết hạn.",
            TokenProblem::CertificateNotYetValid => {
                "Chứng thư số trong USB chưa đến ngày có hiệu lực."
            }
            TokenProblem::CertificateUntrusted => {
                "Chứng thư số không do tổ chức cung cấp dịch vụ chứng thực được công nhận cấp."
            }
            TokenProblem::CertificateWrongUsage => "Chứng thư số không dùng được để ký số.",
            TokenProblem::NoMatchingKey => "USB không có khoá ký tương ứng với chứng thư số.",
            TokenProblem::PinLocked => {
                "Mã PIN của USB ký số đã bị khoá. Vui lòng liên hệ nhà cung cấp để mở khoá."
            }
        }
    }
}

/// How a mobile-signature request ended without a signature (ETSI TS 102 204
/// status codes in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureProblem {
    /// 401.
    UserCancelled,
    /// 402.
    PinBlocked,
    /// 208.
    Expired,
    /// The number has no active signing SIM.
    NoSignatureSim,
    /// The portal or the carrier's service could not be reached.
    ServiceUnavailable,
    /// A signature came back that does not verify, or with a certificate
    /// the kiosk does not trust.
    InvalidSignature,
}

impl SignatureProblem {
    /// The Vietnamese wording; the catalogue has the others.
    pub fn message(&self) -> &'static str {
        match self {
            SignatureProblem::UserCancelled => "Yêu cầu đã bị từ chối trên điện thoại.",
            SignatureProblem::PinBlocked => {
                "Mã PIN của Sim ký số đã bị khoá. Vui lòng liên hệ nhà mạng."
            }
            SignatureProblem::Expired => "Hết thời gian chờ xác nhận trên điện thoại.",
            SignatureProblem::NoSignatureSim => {
                "Số điện thoại chưa đăng ký dịch vụ Sim ký số hoặc Sim ký số chưa kích hoạt."
            }
            SignatureProblem::ServiceUnavailable => {
                "Không kết nối được dịch vụ ký số của nhà mạng. Vui lòng thử lại sau."
            }
            SignatureProblem::InvalidSignature => {
                "Chữ ký số nhận được không hợp lệ. Vui lòng thử lại hoặc chọn cách đăng ký khác."
            }
        }
    }
}

/// Why the modem could not send an SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryFailure {
    /// This number already received the policy's daily number of codes.
    DailyLimit,
    NoModem,
    NoSim,
    NoSignal,
    Rejected,
    Timeout,
}

impl DeliveryFailure {
    /// The Vietnamese wording; the catalogue has the others.
    pub fn message(&self) -> &'static str {
        match self {
            DeliveryFailure::DailyLimit => {
                "Số điện thoại này đã nhận đủ số mã OTP cho phép trong ngày. Vui lòng thử lại vào ngày mai hoặc liên hệ cán bộ hỗ trợ."
            }
            DeliveryFailure::NoModem => "Không gửi được tin nhắn: thiết bị gửi SMS chưa sẵn sàng.",
            DeliveryFailure::NoSim => "Không gửi được tin nhắn: thiết bị gửi SMS không có SIM.",
            DeliveryFailure::NoSignal => "Không gửi được tin nhắn: không có sóng di động.",
            DeliveryFailure::Rejected => "Không gửi được tin nhắn: nhà mạng từ chối.",
            DeliveryFailure::Timeout => "Không gửi được tin nhắn: quá thời gian chờ.",
        }
    }
}

/// The portal's and the local store's answer to a duplicate check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateOutcome {
    /// Checked everywhere: no account.
    NoAccount,
    /// An account exists (or a registration is already queued here).
    AccountExists,
    /// Only the local store could be asked; the portal will check.
    CheckedLocallyOnly,
}

/// The BHXH database's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BhxhOutcome {
    /// Matched; the database says which personal ID the record belongs to.
    Matched(PersonalId),
    NotMatched,
    /// Offline: the portal will match later.
    Unavailable,
}

/// The carrier's answer to "is this number registered to this person?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriberOutcome {
    Confirmed,
    NotOwner,
    Unavailable,
}

/// Who a certificate names, as read by `hal::token` or the portal's MSSP.
#[derive(Clone)]
pub struct CertifiedIdentity {
    pub subject: SubjectKind,
    pub person_name: Option<PersonName>,
    pub business_name: Option<BusinessName>,
    pub personal_id: Option<PersonalId>,
    pub mst: Option<Mst>,
    pub issuer: String,
    pub valid_until: OffsetDateTime,
    pub certificate: Vec<u8>,
}

impl std::fmt::Debug for CertifiedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedIdentity")
            .field("subject", &self.subject)
            .field("person_name", &self.person_name)
            .field("business_name", &self.business_name)
            .field("personal_id", &self.personal_id)
            .field("mst", &self.mst)
            .field("issuer", &self.issuer)
            .field("valid_until", &self.valid_until)
            .field("certificate_bytes", &self.certificate.len())
            .finish()
    }
}

/// How the token answered a PIN and proof-of-possession request.
#[derive(Debug, Clone)]
pub enum TokenOutcome {
    /// The token signed the kiosk's challenge and the certificate checks out.
    Proven(Box<CertifiedIdentity>),
    /// Wrong PIN; the token's warning flags.
    WrongPin {
        count_low: bool,
        final_try: bool,
    },
    Removed,
    Problem(TokenProblem),
}

/// How a mobile-signature session ended.
#[derive(Debug, Clone)]
pub enum SignatureOutcome {
    Signed(Box<CertifiedIdentity>),
    Failed(SignatureProblem),
}

/// Something that happened: the citizen acted, or a runtime answered.
pub enum Event {
    Submit(Form),
    DuplicateChecked(DuplicateOutcome),
    BhxhChecked(BhxhOutcome),
    SubscriberChecked(SubscriberOutcome),
    OtpDelivered,
    OtpNotDelivered(DeliveryFailure),
    /// Try again after the modem failed.
    RetryDelivery,
    OtpEntered(Zeroizing<String>),
    /// "Gửi lại OTP".
    ResendOtp,
    PasswordSubmitted {
        first: Zeroizing<String>,
        confirm: Zeroizing<String>,
    },
    TokenInserted,
    TokenRemoved,
    PinEntered(Pin),
    TokenAnswered(TokenOutcome),
    SignatureAnswered(SignatureOutcome),
    /// The citizen confirmed the certificate details, with the e-mail typed
    /// (wiped on drop, like every other typed value).
    DetailsConfirmed {
        email: Zeroizing<String>,
    },
    /// The registration is durably stored under this reference.
    Stored {
        reference: String,
    },
    StoreFailed,
    /// "Hủy": wipe everything and go home.
    Cancel,
    /// The citizen read the last screen and is done.
    Finish,
}

/// Only the name: events carry what the citizen typed (passwords, codes).
impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Event::{}", self.name())
    }
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Submit(_) => "submit",
            Event::DuplicateChecked(_) => "duplicate_checked",
            Event::BhxhChecked(_) => "bhxh_checked",
            Event::SubscriberChecked(_) => "subscriber_checked",
            Event::OtpDelivered => "otp_delivered",
            Event::OtpNotDelivered(_) => "otp_not_delivered",
            Event::RetryDelivery => "retry_delivery",
            Event::OtpEntered(_) => "otp_entered",
            Event::ResendOtp => "resend_otp",
            Event::PasswordSubmitted { .. } => "password_submitted",
            Event::TokenInserted => "token_inserted",
            Event::TokenRemoved => "token_removed",
            Event::PinEntered(_) => "pin_entered",
            Event::TokenAnswered(_) => "token_answered",
            Event::SignatureAnswered(_) => "signature_answered",
            Event::DetailsConfirmed { .. } => "details_confirmed",
            Event::Stored { .. } => "stored",
            Event::StoreFailed => "store_failed",
            Event::Cancel => "cancel",
            Event::Finish => "finish",
        }
    }
}

/// A certificate's details as the confirmation screen lists them: a
/// Vietnamese label and a value each, identifiers masked. `Debug` prints
/// only how many there are.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CertificateDetails(pub Vec<(&'static str, String)>);

impl std::fmt::Debug for CertificateDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertificateDetails({} lines)", self.0.len())
    }
}

impl CertificateDetails {
    pub fn of(identity: &CertifiedIdentity) -> CertificateDetails {
        let mut lines = Vec::new();
        if let Some(name) = &identity.person_name {
            lines.push(("Họ và tên", name.as_str().to_string()));
        }
        if let Some(name) = &identity.business_name {
            lines.push(("Tên tổ chức", name.as_str().to_string()));
        }
        if let Some(id) = &identity.personal_id {
            lines.push(("Số định danh", id.masked()));
        }
        if let Some(mst) = &identity.mst {
            lines.push(("Mã số thuế", mst.as_str().to_string()));
        }
        if !identity.issuer.is_empty() {
            lines.push(("Cấp bởi", identity.issuer.clone()));
        }
        let d = identity.valid_until.date();
        lines.push((
            "Hiệu lực đến",
            format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year()),
        ));
        CertificateDetails(lines)
    }
}

/// A screen to show, with what it needs. The UI renders; it decides nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    /// The method's form; fields from [`required_fields`](crate::flow::required_fields).
    Form,
    /// Waiting for the portal, the database or the store.
    Checking,
    /// Asking the modem to send the code.
    SendingOtp {
        masked_phone: String,
    },
    OtpNotSent {
        failure: DeliveryFailure,
    },
    EnterOtp {
        masked_phone: String,
        expires_at: OffsetDateTime,
        attempts_left: u8,
        resends_left: u8,
        resend_available_at: Option<OffsetDateTime>,
        error: Option<OtpError>,
    },
    Password {
        failing: Vec<PasswordRule>,
    },
    AccountExists {
        ways_out: Vec<WayOut>,
    },
    WaitingForToken,
    EnterPin {
        count_low: bool,
        final_try: bool,
        wrong: bool,
    },
    ProvingToken,
    WaitingForPhone {
        verification_code: String,
    },
    ConfirmDetails {
        email_required: bool,
        /// What the certificate says, for the citizen to check.
        details: CertificateDetails,
    },
    Storing,
    Done {
        reference: String,
        level: Level,
        pending: Vec<PendingCheck>,
    },
    Failed(Failure),
}

/// The text of an OTP SMS: it holds the code, so it is wiped on drop and
/// prints as `***`. Reads as a `str` for the modem.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsText(Zeroizing<String>);

impl SmsText {
    pub fn new(text: String) -> Self {
        SmsText(Zeroizing::new(text))
    }
}

impl std::ops::Deref for SmsText {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SmsText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SmsText(***)")
    }
}

/// What the runtime must do.
#[derive(Debug)]
pub enum Effect {
    Show(Screen),
    FieldErrors(Vec<FieldError>),
    /// Ask the local store, and the portal when online.
    CheckDuplicate(IdentityKey),
    CheckBhxh {
        code: BhxhCode,
        full_name: PersonName,
        date_of_birth: DateOfBirth,
    },
    CheckSubscriber {
        phone: PhoneNumber,
        id: PersonalId,
    },
    SendOtp {
        to: PhoneNumber,
        /// The SMS, from the policy's template, with the code in it.
        text: SmsText,
    },
    /// Log in with the PIN, sign a fresh challenge, verify the certificate.
    ProveToken(Pin),
    StartMobileSignature {
        phone: PhoneNumber,
        display_text: String,
        verification_code: String,
    },
    CancelMobileSignature,
    /// Seal and store in one transaction, then answer [`Event::Stored`].
    Store(Box<Draft>),
    /// Wipe the session from memory and screen; back to the home screen.
    EndSession,
}

/// An event that does not fit, or a method that may not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("event {event} is not valid in step {step}")]
    InvalidTransition {
        step: &'static str,
        event: &'static str,
    },
    #[error("method unavailable: {0}")]
    Unavailable(#[from] Unavailable),
}
