//! What the citizen is shown: the screens the state machines ask for, and
//! the pieces of them that are decided in the flow (how the person will be
//! told, the ways out of an existing account, a certificate's details).

use time::OffsetDateTime;

use super::outcomes::*;
use super::types::{Applicant, TodayRow};
use crate::domain::{Level, PasswordRule};
use crate::flow::lookup::LookupResult;
use crate::flow::recovery::ResetProblem;
use crate::flow::{OtpError, PendingCheck};

/// How the applicant hears of the portal's decision: what the last page
/// may promise, and nothing more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// By SMS to the account's number (masked).
    Sms(String),
    /// By e-mail, when no number was given (masked).
    Email(String),
    /// Nobody can be told: the reference is looked up.
    LookUp,
}

impl Notice {
    /// The phone if there is one, else the e-mail, else the lookup.
    pub fn of(applicant: &Applicant) -> Notice {
        match (&applicant.phone, &applicant.email) {
            (Some(phone), _) => Notice::Sms(phone.masked()),
            (None, Some(email)) => Notice::Email(email.masked()),
            (None, None) => Notice::LookUp,
        }
    }
}

/// The code a counter clerk finds an existing account by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handoff {
    /// Asked of the portal.
    Asking,
    /// `HD-XXXX-XXXX`.
    Code(String),
    /// The portal could not be asked (or has no account): the person
    /// brings their ID card instead.
    Unavailable,
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
        /// The code for the counter, as far as the portal has answered.
        handoff: Handoff,
    },
    /// A registration for this identity waits at this kiosk: not an
    /// account yet, and no need to register again.
    QueuedHere {
        reference: String,
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
    /// What is printed on the CCCD card, to open its chip: the number and
    /// dates, or the CAN.
    CardKey {
        can: bool,
    },
    /// Waiting for the card on the reader; `again` after it was lifted
    /// in the middle of a read.
    PlaceCard {
        again: bool,
    },
    ReadingCard,
    /// The chip could not give an identity to use; the form is still there.
    CardRefused(CardProblem),
    /// At a counter: what the chip says, for the clerk to compare the
    /// person with the card and confirm.
    FaceCheck {
        full_name: String,
        number: String,
        date_of_birth: String,
        expires: String,
    },
    /// At a counter: the new password is queued for the portal under this
    /// reference.
    CounterResetQueued {
        reference: String,
    },
    /// The technician's setup: the device key's fingerprint, and the
    /// portal's address, the enrolment code and the TLS pin to type (or
    /// read from a USB stick).
    Setup,
    /// Enrolling with the portal.
    Enrolling,
    /// Enrolled: the kiosk restarts into the citizen's screens.
    Enrolled {
        kiosk_id: i64,
    },
    /// The technician's PIN, after five taps on the clock.
    TechnicianPin,
    /// What the technician sees of the kiosk, and the setup again.
    Technician,
    /// A clerk's staff code and PIN (or their token) at a locked counter.
    ClerkSignIn,
    /// The counter's registrations made today.
    CounterToday {
        rows: Vec<TodayRow>,
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
        /// How the applicant hears of the portal's decision.
        notice: Notice,
        /// A password was set (else the SIM or token is the login).
        password: bool,
    },
    Failed(Failure),
    /// "Quầy giao dịch" from the home screen: where to be served in person.
    Counters,
    /// "Tra cứu hồ sơ": the reference number to type.
    Lookup,
    /// A complaint: why the account is not the person's.
    ComplaintReason,
    /// A complaint: the number to reach the person at.
    ComplaintContact,
    /// The new password is the account's.
    ResetDone {
        masked_phone: String,
    },
    /// "Quên mật khẩu" cannot be done here now.
    ResetUnavailable(ResetProblem),
    /// The complaint is queued under this reference.
    ComplaintFiled {
        reference: String,
        masked_phone: String,
    },
    LookupAnswer {
        reference: String,
        result: LookupResult,
    },
}
