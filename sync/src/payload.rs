//! What is inside an envelope: the registration as the portal receives it.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The `schema` value of this version of the payload. Version 2 added
/// [`RegistrationPayload::proof`], version 3 [`RegistrationPayload::chip`],
/// version 4 let [`RegistrationPayload::password_hash`] be absent (a
/// signature method whose SIM or token is the login), version 5
/// [`RegistrationPayload::counter`]; a portal reads all five.
pub const PAYLOAD_SCHEMA: &str = "vn-dvc-kiosk/registration/5";
/// Every version a portal reads, oldest first.
pub const PAYLOAD_SCHEMAS: [&str; 5] = [
    "vn-dvc-kiosk/registration/1",
    "vn-dvc-kiosk/registration/2",
    "vn-dvc-kiosk/registration/3",
    "vn-dvc-kiosk/registration/4",
    PAYLOAD_SCHEMA,
];

/// Crockford's base32, the alphabet of reference numbers: no I, L, O, U,
/// so a reference read aloud or typed at a counter is unambiguous.
pub const REFERENCE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A reference number as typed (`dk 7k2m 9xq4`, `7K2M-9XQ4`, an O for a
/// zero) in its one spelling, `DK-7K2M-9XQ4`; `None` when it cannot be one.
/// A complaint's (`KN-…`) and a counter password reset's (`MK-…`) are
/// read with their prefix; eight characters alone are a registration's.
pub fn normalise_reference(typed: &str) -> Option<String> {
    let plain: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '.')
        .collect();
    // By bytes only where they are ASCII: a typed "ạ" is three of them.
    let prefixed = [COMPLAINT_PREFIX, COUNTER_RESET_PREFIX]
        .into_iter()
        .find(|prefix| {
            plain.len() == 10
                && plain
                    .get(..2)
                    .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        });
    normalise_code(typed, prefixed.unwrap_or("DK"))
}

/// What a password reset made at a post-office counter's reference number
/// starts with: *mật khẩu*.
pub const COUNTER_RESET_PREFIX: &str = "MK";

/// The `schema` value of a counter password reset's sealed payload.
pub const COUNTER_RESET_SCHEMA: &str = "vn-dvc-kiosk/counter-reset/1";

/// A password reset made at a post-office counter: the chip of the
/// person's card proves them, the clerk checked their face, and the new
/// password (its Argon2id hash) replaces the account's. Sealed and queued
/// like a registration, under an `MK-…` reference, so it works offline.
/// Wiped on drop; `Debug` shows no personal field.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct CounterResetPayload {
    pub schema: String,
    /// Idempotency key; equals the envelope's `registration_id`.
    pub registration_id: String,
    /// `MK-XXXX-XXXX`, as the person was given it.
    pub reference: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The account's identity on the wire (`cccd:…`): the chip's number.
    pub identity: String,
    pub chip: ChipEvidence,
    pub counter: CounterAttestation,
    /// Argon2id in PHC string format.
    pub password_hash: String,
}

impl std::fmt::Debug for CounterResetPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterResetPayload")
            .field("registration_id", &self.registration_id)
            .field("clerk", &self.counter.clerk_id)
            .finish_non_exhaustive()
    }
}

/// What a complaint's reference number starts with: *khiếu nại*.
pub const COMPLAINT_PREFIX: &str = "KN";

/// The `schema` value of a complaint's payload. Version 2 added the chip
/// and the clerk of a complaint made at a post-office counter.
pub const COMPLAINT_SCHEMA: &str = "vn-dvc-kiosk/complaint/2";
/// Every version of a complaint a portal reads, oldest first.
pub const COMPLAINT_SCHEMAS: [&str; 2] = ["vn-dvc-kiosk/complaint/1", COMPLAINT_SCHEMA];

/// A complaint in clear: a person says the account the portal holds for
/// their identity is not theirs. Sealed and queued like a registration,
/// under a `KN-…` reference. Wiped from memory on drop; `Debug` shows no
/// personal field.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct ComplaintPayload {
    pub schema: String,
    /// Idempotency key; equals the envelope's `registration_id`.
    pub registration_id: String,
    /// `KN-XXXX-XXXX`, as the person was given it.
    pub reference: String,
    /// Unix seconds.
    pub created_at: i64,
    /// The identity whose account is disputed, on the wire (`cccd:…`,
    /// `mst:…`).
    pub identity: String,
    /// The method the person was registering with when they found it.
    pub method: String,
    /// `citizen` or `business`.
    pub subject: String,
    /// E.164: the contact number, proven by an OTP the kiosk sent.
    pub contact_phone: String,
    /// One of [`COMPLAINT_REASONS`].
    pub reason: String,
    /// At a counter: the chip of the person's CCCD card, which proves the
    /// identity complained about is theirs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip: Option<ChipEvidence>,
    /// At a counter: the clerk who read the card and checked the face.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<CounterAttestation>,
}

/// The `schema` value of a password reset's sealed payload.
pub const RESET_SCHEMA: &str = "vn-dvc-kiosk/password-reset/1";

/// A password reset's secret part, sealed to the portal: the code the
/// account's phone received and the new password's Argon2id hash. Wiped
/// on drop; `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct ResetPayload {
    pub schema: String,
    pub reset_id: String,
    pub code: String,
    /// Argon2id in PHC string format.
    pub password_hash: String,
}

impl std::fmt::Debug for ResetPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetPayload { .. }")
    }
}

/// The reasons a complaint may give, as codes; the kiosk words them.
pub const COMPLAINT_REASONS: [&str; 4] = [
    "never_registered",
    "identity_misused",
    "contact_not_mine",
    "other",
];

impl std::fmt::Debug for ComplaintPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComplaintPayload")
            .field("registration_id", &self.registration_id)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

/// A code of two letters and eight Crockford characters (`DK-…` for a
/// reference, `HD-…` for a counter hand-off), as typed, in its one
/// spelling `PP-XXXX-XXXX`; the prefix may be left out.
pub fn normalise_code(typed: &str, prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '.')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let head: Vec<char> = prefix.chars().collect();
    if chars.len() == 8 + head.len() && chars.starts_with(&head) {
        chars.drain(..head.len());
    }
    if chars.len() != 8 {
        return None;
    }
    let mut out = format!("{prefix}-");
    for (i, c) in chars.into_iter().enumerate() {
        // Crockford's decoding: the letters read as the digits they look like.
        let c = match c {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !c.is_ascii() || !REFERENCE_ALPHABET.contains(&(c as u8)) {
            return None;
        }
        if i == 4 {
            out.push('-');
        }
        out.push(c);
    }
    Some(out)
}

/// What a USB token signs to prove it holds the certificate's key: this
/// context, then 32 random bytes. The context keeps the signature from
/// being anything else (a document, a login) that the token's owner signed.
pub const TOKEN_PROOF_CONTEXT: &[u8] = b"vn-dvc-kiosk token proof v1\0";

/// The signature that proved the certificate's holder was there: a USB
/// token's of the kiosk's challenge, or a signing SIM's of the text its
/// phone showed. Carried sealed so that the portal checks it itself
/// instead of taking the kiosk's word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize)]
#[serde(deny_unknown_fields)]
pub struct PossessionProof {
    /// The bytes signed, standard base64: for a token [`TOKEN_PROOF_CONTEXT`]
    /// and 32 random bytes, for a SIM the text its phone showed.
    pub challenge: String,
    /// The token's signature, standard base64.
    pub signature: String,
    /// `rsa-pkcs1-sha256`, `rsa-pss-sha256` or `ecdsa` (raw `r‖s` over
    /// the curve's hash).
    pub scheme: String,
}

/// One file of the chip, as read: its number and bytes in standard base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize)]
#[serde(deny_unknown_fields)]
pub struct ChipDataGroup {
    /// The data group's number (1 for the MRZ, 13 for Vietnam's fields).
    pub number: u8,
    pub content: String,
}

/// What the chip in the citizen's CCCD card proved, as it was read: EF.SOD
/// (the Document Signer's CMS SignedData over the data groups' hashes) and
/// the data groups the registration used, so that the portal verifies the
/// passive authentication itself against its own CSCA list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize)]
#[serde(deny_unknown_fields)]
pub struct ChipEvidence {
    /// EF.SOD in standard base64.
    pub sod: String,
    pub data_groups: Vec<ChipDataGroup>,
}

/// Who made a registration at a post-office counter: the clerk on duty,
/// who read the citizen's chip and confirmed the face against the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize)]
#[serde(deny_unknown_fields)]
pub struct CounterAttestation {
    /// The clerk's staff code from the office's list.
    pub clerk_id: String,
    /// `pin` or `token`.
    pub signed_in_by: String,
    /// SHA-256 (hex) of the clerk's token certificate, when signed in by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clerk_certificate_sha256: Option<String>,
    /// The clerk compared the person with the card and confirmed.
    pub face_confirmed: bool,
}

/// A registration in clear: made on the kiosk only to be sealed at once,
/// read on the portal after opening. Wiped from memory on drop; `Debug`
/// shows no personal field.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(deny_unknown_fields)]
pub struct RegistrationPayload {
    pub schema: String,
    /// Idempotency key; equals the envelope's `registration_id`.
    pub registration_id: String,
    /// The number the citizen was given.
    pub reference: String,
    /// Unix seconds.
    pub created_at: i64,
    /// `mobile_subscriber`, `bhxh`, `sim_signature`, `usb_token`, `counter`.
    pub method: String,
    /// `citizen` or `business`.
    pub subject: String,
    /// The level once nothing is pending.
    pub level: u8,
    /// Checks the portal must run before activating the account.
    pub pending: Vec<String>,
    pub full_name: Option<String>,
    pub business_name: Option<String>,
    /// `cccd` or `cmnd`.
    pub personal_id_kind: Option<String>,
    pub personal_id: Option<String>,
    /// MST, `NNNNNNNNNN` or `NNNNNNNNNN-NNN`.
    pub tax_code: Option<String>,
    pub bhxh_code: Option<String>,
    /// ISO 8601 date.
    pub date_of_birth: Option<String>,
    /// E.164, `+84…`.
    pub phone: Option<String>,
    pub email: Option<String>,
    /// The signing certificate, DER in standard base64.
    pub certificate: Option<String>,
    /// Signature methods: the signature that proved the holder was there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<PossessionProof>,
    /// The chip of the citizen's CCCD card, when it gave the identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip: Option<ChipEvidence>,
    /// A counter registration's clerk (method `counter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<CounterAttestation>,
    /// Argon2id in PHC string format; absent when the method's SIM or
    /// token is the account's login and no password was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for RegistrationPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationPayload")
            .field("registration_id", &self.registration_id)
            .field("method", &self.method)
            .field("subject", &self.subject)
            .field("level", &self.level)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_reference;

    #[test]
    fn a_reference_is_read_however_it_was_typed() {
        for typed in [
            "DK-7K2M-9XQ4",
            "dk-7k2m-9xq4",
            "DK 7K2M 9XQ4",
            "7K2M9XQ4",
            "7k2m-9xq4",
        ] {
            assert_eq!(
                normalise_reference(typed).as_deref(),
                Some("DK-7K2M-9XQ4"),
                "{typed}"
            );
        }
        assert_eq!(
            super::normalise_code("hd 7k2m 9xq4", "HD").as_deref(),
            Some("HD-7K2M-9XQ4")
        );
        assert_eq!(super::normalise_code("DK-7K2M-9XQ4", "HD"), None);
        // A complaint's keeps its prefix; without one, it is a registration's.
        assert_eq!(
            normalise_reference("kn 7k2m-9xq4").as_deref(),
            Some("KN-7K2M-9XQ4")
        );
        assert_eq!(
            normalise_reference("KN7K2M9X").as_deref(),
            Some("DK-KN7K-2M9X")
        );
        // A counter reset's too.
        assert_eq!(
            normalise_reference("mk 7k2m 9xq4").as_deref(),
            Some("MK-7K2M-9XQ4")
        );
        // Ten bytes that begin inside a letter are no panic (found by the
        // `identifiers` fuzz target).
        assert_eq!(normalise_reference("ạBCDEFGH"), None);
        // Letters that look like digits are those digits.
        assert_eq!(
            normalise_reference("DK-OIL0-0000").as_deref(),
            Some("DK-0110-0000")
        );
        for wrong in [
            "",
            "DK-7K2M-9XQ",
            "DK-7K2M-9XQ45",
            "DK-7K2U-9XQ4",
            "XX-7K2M-9XQ4",
            "DK-7K2M-9XQ!",
            "ĐK-7K2M-9XQ4",
        ] {
            assert_eq!(normalise_reference(wrong), None, "{wrong}");
        }
    }
}
