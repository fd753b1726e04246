//! The messages of the ways out of an existing account and of the
//! registration afterwards: the counter's hand-off code, "Quên mật khẩu",
//! and a reference's lookup with the kinds of rejection it tells.

use serde::{Deserialize, Serialize};

use crate::{Envelope, IdentityRef};

/// `POST /v1/handoffs`: a code a counter clerk looks an existing account
/// up by, for its holder who cannot get in. The code points at the
/// account; the clerk still proves the person (the ID card's chip).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffRequest {
    /// `cccd:…`, `cmnd:…` or `mst:…`
    pub identity: IdentityRef,
}

/// The code (`HD-XXXX-XXXX`) and until when it works; none when the
/// portal has no account for the identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffAnswer {
    pub code: Option<String>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
}

/// `POST /v1/resets`: "Quên mật khẩu" at a kiosk. The portal sends a
/// one-time code to the phone it has on file for the account of
/// `identity` and tells the kiosk only the number masked.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// `cccd:…`, `cmnd:…` or `mst:…`
    pub identity: IdentityRef,
}

/// `POST /v1/resets/resend`: a fresh code for a reset under way; the old
/// one stops working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetResend {
    pub reset_id: String,
}

/// Whether a code went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetSent {
    /// The code is on its way to the account's phone.
    Sent,
    /// The portal has no account for the identity.
    NoAccount,
    /// The account has no phone on file: only a counter can help.
    NoPhone,
    /// Too many resets for this account today, or no resend left, or a
    /// resend asked too soon (`resend_after` says when).
    TooMany,
    /// The reset is unknown, finished, or not this kiosk's.
    Unknown,
}

/// The portal's answer to a reset or a resend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetAnswer {
    pub outcome: ResetSent,
    /// The handle the kiosk completes the reset with.
    pub reset_id: Option<String>,
    /// `091****678`.
    pub masked_phone: Option<String>,
    /// Unix seconds: the code works until then.
    pub expires_at: Option<i64>,
    pub tries_left: u8,
    pub resends_left: u8,
    /// Unix seconds: no resend before then.
    pub resend_after: Option<i64>,
}

/// `POST /v1/resets/complete`: the code and the new password's Argon2id
/// hash, sealed like a registration ([`RESET_SCHEMA`](crate::RESET_SCHEMA)
/// inside, the envelope's id the reset's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetCompletion {
    pub envelope: Envelope,
}

/// What became of a completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResetDone {
    /// The new password is the account's; its holder is told by SMS.
    Done,
    WrongCode,
    Expired,
    /// No try is left, or the reset is unknown or finished.
    Spent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetResult {
    pub outcome: ResetDone,
    pub tries_left: u8,
}

/// `POST /v1/lookup`: what became of a registration, by the reference
/// number (`DK-XXXX-XXXX`) its citizen was given at any kiosk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupQuestion {
    pub reference: String,
}

/// The portal's answer: nothing when it has no registration under that
/// reference (it may still wait in a kiosk's queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupAnswer {
    pub registration: Option<LookedUp>,
}

/// A registration as anyone holding its reference may see it: the method,
/// the level, the dates and the outcome; nothing of the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookedUp {
    /// `activated`, `duplicate` or `rejected`.
    pub status: String,
    /// `mobile_subscriber`, `bhxh`, `sim_signature`, `usb_token`.
    pub method: String,
    pub level: u8,
    /// When the registration was made at its kiosk, Unix seconds.
    pub created_at: i64,
    /// When the portal decided on it, Unix seconds.
    pub decided_at: i64,
    /// Why it was rejected, as a [`Rejection`] kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Rejection>,
}

/// Why the portal rejected a registration, in kinds a citizen can be told
/// about (the portal's own reasons are technical English).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// The mobile number is not the applicant's (or is missing).
    Subscriber,
    /// The social-insurance record does not match.
    Bhxh,
    /// The signing certificate is revoked, untrusted or names someone else.
    Certificate,
    /// The signature that proved the certificate's holder does not hold.
    Signature,
    /// The CCCD card's chip did not verify or names someone else.
    Chip,
    /// Anything else: data missing or malformed, a method not offered.
    Other,
}

impl Rejection {
    /// The kind of a portal's rejection reason (as the portal wrote it, or
    /// as the kiosk recorded it with [`recordable_reason`]).
    pub fn of(reason: &str) -> Rejection {
        let reason = reason.to_ascii_lowercase();
        if reason.contains("chip") {
            Rejection::Chip
        } else if reason.contains("bhxh") {
            Rejection::Bhxh
        } else if reason.contains("mobile number") {
            Rejection::Subscriber
        } else if reason.starts_with("certificate") || reason.contains("revo") {
            Rejection::Certificate
        } else if ["proof", "signature", "signed"]
            .iter()
            .any(|w| reason.contains(w))
        {
            Rejection::Signature
        } else if reason.contains("certificate") {
            Rejection::Certificate
        } else {
            Rejection::Other
        }
    }
}

opaque_debug!(HandoffRequest, ResetRequest);
