//! What the world answers the state machines: the outcomes of the checks,
//! the token and the mobile signature, and why a registration ends.

use kiosk_ui::i18n::Text;

use time::OffsetDateTime;

use crate::domain::chip::ChipIdentity;
use crate::domain::{BusinessName, Mst, PersonName, PersonalId, SubjectKind};

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
    /// The kiosk has stopped taking registrations (its disk is full or its
    /// database damaged); nothing was stored.
    OutOfService,
    /// The BHXH record names someone other than the card's holder.
    ChipMismatch,
    /// At a counter: the clerk found the person is not the card's holder.
    FaceMismatch,
}

/// Why a registration was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreProblem {
    /// The kiosk cannot store any registration now: its data partition is
    /// full or its database damaged. Trying again here will not help.
    OutOfService,
    /// Anything else; trying again may work.
    Failed,
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
            Failure::ChipMismatch => Text::new(
                "Mã số BHXH không thuộc người có thẻ CCCD vừa đọc, không đăng ký được tài khoản.",
            ),
            Failure::FaceMismatch => Text::new(
                "Cán bộ xác nhận người đăng ký không phải người có thẻ CCCD vừa đọc; không đăng ký được tài khoản. Chưa có thông tin nào được ghi nhận.",
            ),
            Failure::OutOfService => Text::new(
                "Máy tạm ngừng nhận hồ sơ nên chưa lưu được hồ sơ của bạn; chưa có thông tin nào được ghi nhận. Các hồ sơ đã nhận trước đó vẫn được giữ an toàn. Vui lòng đăng ký ở máy khác hoặc quay lại sau.",
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
    /// The portal, asked just now, says the certificate's CA revoked it.
    CertificateRevoked,
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
            TokenProblem::CertificateRevoked => {
                "Chứng thư số trong USB đã bị thu hồi. Vui lòng liên hệ tổ chức cung cấp dịch vụ chứng thực."
            }
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DuplicateOutcome {
    /// Checked everywhere: no account.
    NoAccount,
    /// An account exists (the portal says so, or it took a registration
    /// from this kiosk).
    AccountExists,
    /// Not an account yet: a registration for this identity waits at this
    /// kiosk to be delivered, under this reference.
    QueuedHere(String),
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
    /// The signature that proved it (a USB token's of the kiosk's
    /// challenge, a signing SIM's of the text the phone showed), for the
    /// portal to check again.
    pub proof: Option<kiosk_sync::PossessionProof>,
    /// The portal said just now that no current revocation list names the
    /// certificate; otherwise the portal checks it on delivery.
    pub not_revoked: bool,
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
            .field("proof", &self.proof.is_some())
            .field("not_revoked", &self.not_revoked)
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

/// What a genuine chip gave: the identity, checked by the domain's rules,
/// and the files that prove it, for the sealed registration.
#[derive(Clone)]
pub struct ChipRead {
    pub identity: ChipIdentity,
    pub evidence: kiosk_sync::ChipEvidence,
}

/// Masked, as the identity prints; the evidence only by its size.
impl std::fmt::Debug for ChipRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChipRead")
            .field("identity", &self.identity)
            .field("data_groups", &self.evidence.data_groups.len())
            .finish()
    }
}

/// How reading the card on the reader ended.
#[derive(Debug, Clone)]
pub enum CardOutcome {
    /// Opened, read and proven genuine.
    Read(Box<ChipRead>),
    /// No card on the reader, or lifted before the read was done.
    Removed,
    /// The chip refused the key: what was typed is not what the card holds.
    WrongKey,
    /// A CAN was typed, but the chip offers no PACE to open it with.
    NoCan,
    Refused(CardProblem),
}

/// Why a chip that was read gives no identity to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardProblem {
    /// Passive authentication failed (signature, chain or a data group's
    /// hash): the data is never used. Which step is in the log and the
    /// audit chain, for the technician.
    NotGenuine,
    /// The card's date of expiry has passed.
    Expired,
    /// Genuine, but its records disagree or break the identifier rules.
    Unusable,
    /// Not a CCCD chip, the reader failed, or the kiosk has no CSCA list.
    Unreadable,
}

impl CardProblem {
    /// The heading, in Vietnamese; the catalogue has the others.
    pub fn title(&self) -> &'static str {
        match self {
            CardProblem::NotGenuine => "Thẻ không xác thực được",
            CardProblem::Expired => "Thẻ CCCD đã hết hạn",
            CardProblem::Unusable => "Không dùng được thông tin trong chip",
            CardProblem::Unreadable => "Chưa đọc được chip của thẻ",
        }
    }

    /// What happened and what to do, in Vietnamese.
    pub fn message(&self) -> &'static str {
        match self {
            CardProblem::NotGenuine => {
                "Dữ liệu trong chip không qua được bước xác thực nên máy không dùng. Bạn vẫn có thể nhập thông tin bằng tay, hoặc liên hệ cán bộ hỗ trợ."
            }
            CardProblem::Expired => {
                "Thẻ đã quá ngày “Có giá trị đến”. Bạn vẫn có thể nhập thông tin bằng tay; nên làm lại thẻ tại cơ quan công an."
            }
            CardProblem::Unusable => {
                "Thông tin trong chip không đầy đủ hoặc không khớp nhau. Bạn vẫn có thể nhập thông tin bằng tay, hoặc liên hệ cán bộ hỗ trợ."
            }
            CardProblem::Unreadable => {
                "Máy chưa đọc được chip của thẻ này. Bạn vẫn có thể nhập thông tin bằng tay, hoặc liên hệ cán bộ hỗ trợ."
            }
        }
    }
}
