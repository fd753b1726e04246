//! The domain: who registers, by which method, at which level, and the
//! validated values they type.
//!
//! Every value type here can only be made by its parser, takes its rules from
//! the [`Policy`](crate::policy::Policy), and never shows personal data in
//! `Debug` or in an error message.

pub mod chip;
pub mod clock;
mod contact;
mod ids;
mod person;
mod secret;

pub use contact::{ContactError, Email, PhoneNumber};
pub use ids::{BhxhCode, Cccd, Cmnd, IdError, Mst, PersonalId, Sex, mask_middle, mst_check_digit};
pub use person::{BusinessName, DateOfBirth, PersonError, PersonName, age_on};
pub use secret::{EnrolCode, OtpCode, Password, PasswordCheck, PasswordError, PasswordRule, Pin};

use serde::{Deserialize, Serialize};

/// Who the account is for (đối tượng đăng ký).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// Công dân.
    Citizen,
    /// Doanh nghiệp.
    Business,
}

impl SubjectKind {
    pub const ALL: [SubjectKind; 2] = [SubjectKind::Citizen, SubjectKind::Business];

    pub fn as_str(&self) -> &'static str {
        match self {
            SubjectKind::Citizen => "citizen",
            SubjectKind::Business => "business",
        }
    }

    /// The Vietnamese wording; the catalogue has the others.
    pub fn label(&self) -> &'static str {
        match self {
            SubjectKind::Citizen => "Công dân",
            SubjectKind::Business => "Doanh nghiệp",
        }
    }
}

/// How identity is proven (phương thức đăng ký).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Thuê bao di động: a phone registered to the person, proven by SMS OTP.
    MobileSubscriber,
    /// Mã số BHXH: data matched against the social-insurance database.
    Bhxh,
    /// Sim ký số: the SIM in the citizen's phone signs.
    SimSignature,
    /// USB ký số: a certificate on a PKCS#11 token signs.
    UsbToken,
    /// Tại quầy giao dịch: a clerk on duty reads the chip of the citizen's
    /// CCCD card and checks their face against it; never in the citizen's
    /// own list of methods.
    Counter,
}

impl Method {
    /// The methods a citizen chooses from themselves, in the manual's order.
    pub const ALL: [Method; 4] = [
        Method::MobileSubscriber,
        Method::Bhxh,
        Method::SimSignature,
        Method::UsbToken,
    ];
    /// Every method, the counter's included.
    pub const EVERY: [Method; 5] = [
        Method::MobileSubscriber,
        Method::Bhxh,
        Method::SimSignature,
        Method::UsbToken,
        Method::Counter,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Method::MobileSubscriber => "mobile_subscriber",
            Method::Bhxh => "bhxh",
            Method::SimSignature => "sim_signature",
            Method::UsbToken => "usb_token",
            Method::Counter => "counter",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Method::EVERY.into_iter().find(|m| m.as_str() == text)
    }

    /// Whether the applicant proves themselves with a signing certificate
    /// (a SIM or a USB token), which is also how they log in.
    pub fn signs(&self) -> bool {
        matches!(self, Method::SimSignature | Method::UsbToken)
    }

    /// The Vietnamese wording; the catalogue has the others.
    pub fn label(&self) -> &'static str {
        match self {
            Method::MobileSubscriber => "Thuê bao di động",
            Method::Bhxh => "Bảo hiểm xã hội",
            Method::SimSignature => "Sim ký số",
            Method::UsbToken => "USB ký số",
            Method::Counter => "Tại quầy giao dịch",
        }
    }
}

/// Verification level of the account (mức xác minh), 1 to 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Level(u8);

impl Level {
    pub const ONE: Level = Level(1);
    pub const TWO: Level = Level(2);
    pub const THREE: Level = Level(3);

    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Level {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        if (1..=3).contains(&v) {
            Ok(Level(v))
        } else {
            Err(format!("verification level must be 1, 2 or 3, not {v}"))
        }
    }
}

impl From<Level> for u8 {
    fn from(l: Level) -> u8 {
        l.0
    }
}
