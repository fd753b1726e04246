//! The vocabulary of the state machines: what is typed, events, effects,
//! and the registration draft they produce (the screens are in `screen`).

use kiosk_sync::{IdentityKind, IdentityRef};
use kiosk_ui::i18n::Text;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::domain::chip::ChipIdentity;
use crate::domain::{
    BhxhCode, BusinessName, DateOfBirth, Email, Level, Method, Mst, Password, PersonName,
    PersonalId, PhoneNumber, Pin, SubjectKind,
};
use crate::flow::Screen;
use crate::flow::complaint::{ComplaintDraft, ComplaintReason};
use crate::flow::lookup::LookupResult;
use crate::flow::outcomes::*;
use crate::flow::recovery::{ResetCompleted, ResetDraft, ResetStarted};
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
    /// The CCCD card's date of expiry, typed to open its chip.
    pub card_expiry: String,
    /// The six digits of the card's CAN, typed to open its chip instead.
    pub card_can: String,
    /// A reference number to look up (`DK-XXXX-XXXX`).
    pub reference: String,
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
    /// "Có giá trị đến" on the CCCD card: with the number and the date of
    /// birth, the key to its chip.
    CardExpiry,
    /// The card's CAN (six digits on its face): the other key to its chip.
    CardCan,
    Otp,
    Pin,
    Password,
    /// A reference number, on the lookup page.
    Reference,
    /// A clerk's staff code, on the counter's sign-in page.
    ClerkId,
    /// The technician's setup: the portal's address, the one-time
    /// enrolment code, the pin of the portal's TLS certificate.
    PortalUrl,
    EnrolCode,
    TlsPin,
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
    /// The token's proof of possession (USB tokens).
    pub proof: Option<kiosk_sync::PossessionProof>,
    /// The CCCD chip's files, when the chip gave the identity.
    pub chip: Option<kiosk_sync::ChipEvidence>,
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
            .field("chip", &self.chip.is_some())
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
    /// `None` where the policy asks no password (the signature methods,
    /// as the manual has them).
    pub password: Option<Password>,
    /// At a counter: the clerk on duty who checked the person against the
    /// card. Set by the counter's runtime, never by the citizen.
    pub clerk: Option<ClerkStamp>,
}

/// One registration of today at the counter: no personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodayRow {
    pub reference: String,
    pub method: String,
    pub level: u8,
    /// `queued`, `delivered`, `activated`, `duplicate`, `rejected`.
    pub status: String,
    /// Delivery attempts that failed so far (a queued one).
    pub attempts: i64,
    /// Checks the portal still runs before activating.
    pub pending: Vec<String>,
}

/// The clerk a counter registration is made by, as the portal records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClerkStamp {
    /// The clerk's staff code from the office's list (`BD-HN-0001`): not
    /// personal data of the citizen.
    pub clerk_id: String,
    /// How the clerk signed in: `pin` or `token`.
    pub signed_in_by: &'static str,
    /// The SHA-256 of the clerk's token certificate, when signed in by it.
    pub certificate_sha256: Option<String>,
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
    /// "Đọc thẻ CCCD gắn chip" on the form.
    UseCard,
    /// What is printed on the card, typed to open its chip (the number,
    /// the date of birth and the date of expiry of the form, or its CAN).
    CardKeyEntered(Form),
    /// The key page asks for the CAN (`true`) or for the number and dates.
    CardKeyByCan(bool),
    /// A card is on the reader.
    CardPlaced,
    CardRead(CardOutcome),
    /// Back from the card's pages to the form, as it was.
    CardBack,
    /// The citizen confirmed the certificate details, with the e-mail typed
    /// (wiped on drop, like every other typed value).
    DetailsConfirmed {
        email: Zeroizing<String>,
    },
    /// The registration is durably stored under this reference.
    Stored {
        reference: String,
    },
    StoreFailed(StoreProblem),
    /// The portal's hand-off code for the account found, if it gave one.
    HandoffIssued(Option<String>),
    /// What the kiosk's records and the portal know of a reference.
    LookedUp {
        reference: String,
        result: LookupResult,
    },
    /// "Tra cứu mã khác" after an answer.
    LookAgain,
    /// The reason a complaint gives, chosen from the list.
    ReasonChosen(ComplaintReason),
    /// The portal's answer to "Quên mật khẩu" or a resend of its code.
    ResetAnswered(ResetStarted),
    /// The portal's answer to the code and the new password.
    ResetCompleted(ResetCompleted),
    /// At a counter: the clerk compared the person with the card and
    /// confirms they are its holder.
    FaceConfirmed,
    /// At a counter: the person is not the card's holder.
    FaceMismatch,
    /// The counter's registrations today, newest first.
    TodayListed(Vec<TodayRow>),
    /// The portal's answer to the enrolment: the kiosk's id, or why not
    /// (the technician's words, English).
    Enrolled(Result<i64, String>),
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
            Event::UseCard => "use_card",
            Event::CardKeyEntered(_) => "card_key_entered",
            Event::CardKeyByCan(_) => "card_key_by_can",
            Event::CardPlaced => "card_placed",
            Event::CardRead(_) => "card_read",
            Event::CardBack => "card_back",
            Event::DetailsConfirmed { .. } => "details_confirmed",
            Event::Stored { .. } => "stored",
            Event::StoreFailed(_) => "store_failed",
            Event::HandoffIssued(_) => "handoff_issued",
            Event::LookedUp { .. } => "looked_up",
            Event::LookAgain => "look_again",
            Event::ReasonChosen(_) => "reason_chosen",
            Event::ResetAnswered(_) => "reset_answered",
            Event::ResetCompleted(_) => "reset_completed",
            Event::FaceConfirmed => "face_confirmed",
            Event::FaceMismatch => "face_mismatch",
            Event::TodayListed(_) => "today_listed",
            Event::Enrolled(_) => "enrolled",
            Event::Cancel => "cancel",
            Event::Finish => "finish",
        }
    }
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
    /// Ask the local store, and the portal when online, about every
    /// identifier the applicant is known by (the first is the one the
    /// registration is filed under).
    CheckDuplicate(Vec<IdentityKey>),
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
    /// Open the chip of the card on the reader with this key, read it and
    /// prove it genuine; answers [`Event::CardRead`].
    ReadCard(kiosk_hal::card::chip::AccessKey),
    /// Put what the chip proved into the form, where the citizen cannot
    /// change it.
    FillFromChip(Box<ChipIdentity>),
    /// Seal and store in one transaction, then answer [`Event::Stored`].
    Store(Box<Draft>),
    /// Seal and queue a complaint in one transaction, then answer
    /// [`Event::Stored`] with its `KN-…` reference.
    FileComplaint(Box<ComplaintDraft>),
    /// At a counter: seal and queue a password reset the chip proved, then
    /// answer [`Event::Stored`] with its `MK-…` reference.
    FileCounterReset(Box<super::CounterResetDraft>),
    /// "Quên mật khẩu": ask the portal to send a code to the account's
    /// phone; answers [`Event::ResetAnswered`].
    StartReset(IdentityKey),
    /// A fresh code for the reset; answers [`Event::ResetAnswered`].
    ResendReset(String),
    /// Hash the password, seal it with the code, send both; answers
    /// [`Event::ResetCompleted`].
    CompleteReset(Box<ResetDraft>),
    /// Ask the portal for a hand-off code for the account of this identity;
    /// answers [`Event::HandoffIssued`].
    RequestHandoff(IdentityKey),
    /// Look a reference up in the kiosk's records, and at the portal when
    /// online; answers [`Event::LookedUp`].
    LookUp(String),
    /// Enrol the kiosk with the portal (the technician's setup), keeping the
    /// enrolment in `data_dir`; answers [`Event::Enrolled`].
    Enrol {
        data_dir: std::path::PathBuf,
        portal: String,
        code: crate::domain::EnrolCode,
        pin: Option<String>,
    },
    /// The counter's registrations made since this Unix time (today),
    /// metadata only; answers [`Event::TodayListed`].
    ListToday(i64),
    /// Wipe the session from memory and screen; back to the home screen.
    EndSession,
}

/// Puts a machine's next step in `slot`, or, when the event did not fit
/// (`Err` hands the untouched step back), the old one, answering the error
/// that names the step and the event. Every machine's `handle` ends here.
#[allow(clippy::result_large_err)]
pub(crate) fn settle<S>(
    slot: &mut S,
    step: &'static str,
    event: &'static str,
    moved: Result<(S, Vec<Effect>), S>,
) -> Result<Vec<Effect>, FlowError> {
    match moved {
        Ok((next, effects)) => {
            *slot = next;
            Ok(effects)
        }
        Err(unchanged) => {
            *slot = unchanged;
            Err(FlowError::InvalidTransition { step, event })
        }
    }
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
