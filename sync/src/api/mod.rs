//! The kiosk API's messages: what the kiosk and the portal exchange as JSON,
//! exactly as `sync/openapi.json` describes them.
//!
//! Nothing here carries personal data in the clear: registrations travel
//! only as sealed [`Envelope`]s, and the status feed names registration ids.

use serde::{Deserialize, Serialize};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::relay::ItemOutcome;
use crate::{DeviceKey, DevicePublicKey, Envelope, EnvelopeError, IdentityRef};

mod ways_out;
pub use ways_out::*;

/// Every route's prefix: the API's major version.
pub const PREFIX: &str = "/v1";

/// `POST /v1/enrolment`, signed with the key being enrolled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolRequest {
    /// The one-time code the technician was given (`XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`, Crockford base32; dashes, spaces and case do not matter).
    pub code: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolResponse {
    pub kiosk_id: i64,
    /// X25519 public key, base64: what the kiosk seals registrations to.
    pub portal_public_key: String,
    /// Ed25519 public key, base64: what signs the policy.
    pub policy_public_key: String,
    /// The current policy, when the portal publishes one.
    pub policy: Option<SignedPolicy>,
}

/// `POST /v1/registrations`: a batch of sealed registrations. The body may
/// be sent with `Content-Encoding: gzip`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    pub envelopes: Vec<Envelope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Accepted,
    Duplicate,
    Rejected,
    RetryLater,
    Held,
}

/// The portal's answer for one registration of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemResult {
    pub registration_id: String,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ItemResult {
    pub fn new(registration_id: String, outcome: &ItemOutcome) -> Self {
        let (outcome, reason) = match outcome {
            ItemOutcome::Accepted => (Outcome::Accepted, None),
            ItemOutcome::Duplicate => (Outcome::Duplicate, None),
            ItemOutcome::Rejected(r) => (Outcome::Rejected, Some(r.clone())),
            ItemOutcome::RetryLater => (Outcome::RetryLater, None),
            ItemOutcome::Held(r) => (Outcome::Held, Some(r.clone())),
        };
        ItemResult {
            registration_id,
            outcome,
            reason,
        }
    }

    pub fn outcome(&self) -> ItemOutcome {
        match self.outcome {
            Outcome::Accepted => ItemOutcome::Accepted,
            Outcome::Duplicate => ItemOutcome::Duplicate,
            Outcome::Rejected => {
                ItemOutcome::Rejected(recordable_reason(self.reason.as_deref().unwrap_or("")))
            }
            Outcome::RetryLater => ItemOutcome::RetryLater,
            Outcome::Held => {
                ItemOutcome::Held(recordable_reason(self.reason.as_deref().unwrap_or("")))
            }
        }
    }
}

/// A portal's reason as the kiosk keeps it (in its audit log and status):
/// at most 160 characters, anything quoted replaced by `"…"` (a parser's
/// error may echo the value it choked on) and every run of four or more
/// digits starred, so that no name or number reaches the kiosk's records
/// whatever the portal sends.
pub fn recordable_reason(reason: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut digits = String::new();
    let flush = |out: &mut String, digits: &mut String| {
        if digits.chars().count() >= 4 {
            out.push_str("****");
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in reason.chars() {
        if c == '"' {
            flush(&mut out, &mut digits);
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if quoted {
            continue;
        } else if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut out, &mut digits);
            out.push(if c.is_control() { ' ' } else { c });
        }
    }
    flush(&mut out, &mut digits);
    out.chars().take(160).collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadResponse {
    pub results: Vec<ItemResult>,
}

/// One change in `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusItem {
    pub cursor: i64,
    pub registration_id: String,
    /// accepted, duplicate, rejected, activated, …
    pub status: String,
    /// The status is final: the kiosk may delete the sealed payload.
    pub terminal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusResponse {
    pub changes: Vec<StatusItem>,
    /// Ask again after this cursor.
    pub next_cursor: i64,
}

/// The state of the kiosk's devices, for the heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Peripherals {
    /// ready, no_sim, no_signal, absent, …
    pub modem: String,
    pub token_reader: bool,
    pub card_reader: bool,
}

/// `POST /v1/heartbeat`: health without personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Heartbeat {
    pub software_version: String,
    pub queue_depth: u64,
    /// Seconds the oldest waiting registration has waited.
    pub oldest_pending_secs: Option<i64>,
    pub policy_version: Option<u64>,
    pub peripherals: Peripherals,
    /// The kiosk's own estimate of its clock's error (portal − kiosk).
    pub clock_skew_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatResponse {
    /// The portal's time, Unix seconds.
    pub server_time: i64,
    /// The version of the policy the portal publishes now.
    pub policy_version: Option<u64>,
}

/// The policy as the portal publishes it: the document's exact bytes and an
/// Ed25519 signature over `"vn-dvc-kiosk/policy/1\0" || version (8 bytes,
/// big-endian) || document`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedPolicy {
    pub version: u64,
    /// TOML, as the kiosk's policy file.
    pub document: String,
    /// base64
    pub signature: String,
}

const POLICY_CONTEXT: &[u8] = b"vn-dvc-kiosk/policy/1\0";

fn policy_message(version: u64, document: &str) -> Vec<u8> {
    let mut m = POLICY_CONTEXT.to_vec();
    m.extend_from_slice(&version.to_be_bytes());
    m.extend_from_slice(document.as_bytes());
    m
}

impl SignedPolicy {
    /// Signs `document` as `version` with the portal's policy key.
    pub fn sign(version: u64, document: String, key: &DeviceKey) -> SignedPolicy {
        let signature = B64.encode(key.sign(&policy_message(version, &document)));
        SignedPolicy {
            version,
            document,
            signature,
        }
    }

    /// Checks the signature with the policy key the kiosk trusts. A changed
    /// version or document, or another key, fails.
    pub fn verify(&self, key: &DevicePublicKey) -> Result<(), EnvelopeError> {
        let signature = B64
            .decode(&self.signature)
            .map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        key.verify(&policy_message(self.version, &self.document), &signature)
    }
}

/// `POST /v1/checks/duplicate`: does an account exist for this identity?
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateCheck {
    /// `cccd:…`, `cmnd:…`, `mst:…` or `bhxh:…`
    pub identity: IdentityRef,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateAnswer {
    pub account_exists: bool,
}

/// `POST /v1/checks/bhxh`: does the social-insurance record match?
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BhxhCheck {
    pub bhxh_code: String,
    pub full_name: String,
    /// YYYY-MM-DD
    pub date_of_birth: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BhxhAnswer {
    pub matched: bool,
    /// The record's personal ID (`cccd:…`), when matched.
    pub personal_id: Option<IdentityRef>,
}

/// `POST /v1/checks/subscriber`: is this number registered to this person?
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberCheck {
    /// E.164
    pub phone: String,
    /// `cccd:…` or `cmnd:…`
    pub personal_id: IdentityRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ownership {
    Confirmed,
    NotOwner,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberAnswer {
    pub owner: Ownership,
}

/// `POST /v1/checks/certificate`: is this USB token certificate revoked?
/// Asked as a browser asks OCSP, before the citizen confirms.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateCheck {
    /// The certificate, DER in standard base64.
    pub certificate: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    /// A current list from its CA does not name it.
    Good,
    /// Its CA revoked it.
    Revoked,
    /// No current list from its CA: the portal cannot say yet.
    Unknown,
    /// It does not chain to a CA the portal trusts.
    Untrusted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateAnswer {
    pub status: CertificateStatus,
    /// When it was revoked, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

/// `POST /v1/mobile-signature/sessions`: ask the holder of a signing SIM
/// to sign `display_text` on their phone.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartSignature {
    /// E.164
    pub phone: String,
    /// Shown on the phone; carries the verification code the kiosk shows.
    pub display_text: String,
}

/// Where a mobile-signature session stands. Only `pending` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureState {
    /// Waiting on the holder's phone.
    Pending,
    /// The holder confirmed and entered the SIM's PIN: the signature is there.
    Signed,
    /// The holder refused on the phone.
    Refused,
    /// Nobody answered in time (or the phone was off).
    Expired,
    /// The kiosk withdrew the request.
    Cancelled,
    /// The number has no signing SIM.
    NoSignatureSim,
    /// The SIM's PIN is blocked (ETSI TS 102 204 status 402).
    PinBlocked,
}

impl SignatureState {
    /// The wire name, as stored by the reference portal.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureState::Pending => "pending",
            SignatureState::Signed => "signed",
            SignatureState::Refused => "refused",
            SignatureState::Expired => "expired",
            SignatureState::Cancelled => "cancelled",
            SignatureState::NoSignatureSim => "no_signature_sim",
            SignatureState::PinBlocked => "pin_blocked",
        }
    }

    pub const ALL: [SignatureState; 7] = [
        SignatureState::Pending,
        SignatureState::Signed,
        SignatureState::Refused,
        SignatureState::Expired,
        SignatureState::Cancelled,
        SignatureState::NoSignatureSim,
        SignatureState::PinBlocked,
    ];

    /// The state named `text`.
    pub fn parse(text: &str) -> Option<SignatureState> {
        SignatureState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A mobile-signature session.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureSession {
    pub id: String,
    pub state: SignatureState,
    pub expires_at: i64,
    /// When signed: `ecdsa-p256-sha256` (raw r‖s) or `rsa-pkcs1-sha256`.
    pub scheme: Option<String>,
    /// When signed: the holder's certificate, DER, base64.
    pub certificate: Option<String>,
    /// When signed: the signature over `display_text`, base64.
    pub signature: Option<String>,
}

/// `GET /v1/health`: unauthenticated liveness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    pub status: String,
    pub server_time: i64,
}

/// An error, as RFC 9457 problem details, with a stable `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The `code` of a request refused because the kiosk's clock is too far
/// from the portal's; the response's `Date` header has the portal's time.
pub const CLOCK_SKEW: &str = "clock_skew";

/// The `code` of a 429 for an address that failed too many enrolments:
/// someone must wait, or find the right code; retrying by itself is no use.
pub const TOO_MANY_TRIES: &str = "too_many_tries";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_verifies_only_as_signed() {
        let key = DeviceKey::generate();
        let signed = SignedPolicy::sign(7, "[otp]\nttl_seconds = 300\n".into(), &key);
        assert!(signed.verify(&key.public_key()).is_ok());
        let mut newer = signed.clone();
        newer.version = 8;
        assert!(newer.verify(&key.public_key()).is_err());
        let mut edited = signed.clone();
        edited.document = edited.document.replace("300", "30000");
        assert!(edited.verify(&key.public_key()).is_err());
        assert!(signed.verify(&DeviceKey::generate().public_key()).is_err());
    }

    #[test]
    fn the_portals_reasons_have_the_kinds_a_citizen_is_told() {
        let cases = [
            (
                "the mobile number is registered to someone else",
                Rejection::Subscriber,
            ),
            ("no mobile number", Rejection::Subscriber),
            ("BHXH data did not match", Rejection::Bhxh),
            ("the personal ID is not the BHXH record's", Rejection::Bhxh),
            ("the certificate has been revoked", Rejection::Certificate),
            (
                "certificate: the issuer's signature does not verify",
                Rejection::Certificate,
            ),
            (
                "the certificate names someone other than the applicant",
                Rejection::Certificate,
            ),
            (
                "the signature proof was already used by another registration",
                Rejection::Signature,
            ),
            (
                "the token signed something other than a kiosk's challenge",
                Rejection::Signature,
            ),
            (
                "the ID card's chip does not verify (step: hashes)",
                Rejection::Chip,
            ),
            ("unknown registration method", Rejection::Other),
            ("", Rejection::Other),
        ];
        for (reason, kind) in cases {
            assert_eq!(Rejection::of(reason), kind, "{reason}");
            // The kiosk classifies what it recorded, not the raw reason.
            assert_eq!(Rejection::of(&recordable_reason(reason)), kind, "{reason}");
        }
    }

    #[test]
    fn a_portals_reason_keeps_no_value_it_quotes_nor_any_long_number() {
        let echoed = ItemResult {
            registration_id: "r".into(),
            outcome: Outcome::Rejected,
            reason: Some(
                "invalid type: string \"Nguyễn Văn An\", expected u8 at line 1 column 88; id 079303012345".into(),
            ),
        };
        let ItemOutcome::Rejected(kept) = echoed.outcome() else {
            panic!("rejected stays rejected");
        };
        assert!(
            !kept.contains("Nguyễn") && !kept.contains("079303012345"),
            "{kept}"
        );
        assert_eq!(
            kept,
            "invalid type: string \"…\", expected u8 at line 1 column 88; id ****"
        );
        assert_eq!(
            recordable_reason("BHXH data did not match"),
            "BHXH data did not match"
        );
        assert_eq!(recordable_reason(&"x".repeat(500)).len(), 160);
    }

    #[test]
    fn checks_print_nothing_of_the_person() {
        let check = BhxhCheck {
            bhxh_code: "7901234568".into(),
            full_name: "Trần Thị Thủy".into(),
            date_of_birth: "1992-11-02".into(),
        };
        assert_eq!(format!("{check:?}"), "BhxhCheck(..)");
        let sub = SubscriberCheck {
            phone: "+84987654321".into(),
            personal_id: "cccd:079192004567".parse().unwrap(),
        };
        assert_eq!(format!("{sub:?}"), "SubscriberCheck(..)");
    }

    #[test]
    fn outcomes_round_trip_through_the_wire_form() {
        for o in [
            ItemOutcome::Accepted,
            ItemOutcome::Duplicate,
            ItemOutcome::Rejected("BHXH data did not match".into()),
            ItemOutcome::RetryLater,
        ] {
            let wire = ItemResult::new("r".into(), &o);
            let json = serde_json::to_string(&wire).unwrap();
            let back: ItemResult = serde_json::from_str(&json).unwrap();
            assert_eq!(back.outcome(), o);
        }
    }
}

opaque_debug!(
    DuplicateCheck,
    BhxhCheck,
    BhxhAnswer,
    SubscriberCheck,
    CertificateCheck,
    StartSignature,
    SignatureSession
);
