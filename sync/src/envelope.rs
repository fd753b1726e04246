//! The sealed registration envelope.
//!
//! Layout (JSON on the wire and on disk, binary fields in standard base64):
//!
//! | field | meaning |
//! |---|---|
//! | `v` | format version, 1 |
//! | `registration_id` | the idempotency key of the registration |
//! | `created_at` | completion time, Unix seconds (not personal) |
//! | `kiosk_key` | the kiosk's Ed25519 public key |
//! | `enc` | the HPKE encapsulated key |
//! | `ciphertext` | the HPKE ciphertext of the payload |
//! | `signature` | Ed25519 over [`Envelope::signed_bytes`] |
//!
//! The header (version, id, time, kiosk key) is bound twice: as HPKE
//! associated data, so a ciphertext cannot be moved under another id, and
//! under the signature, so the portal knows which kiosk made it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

type Kem = X25519HkdfSha256;

/// HPKE `info`: separates this use of the portal key from any other.
const HPKE_INFO: &[u8] = b"vn-dvc-kiosk registration envelope v1";
/// Prefix of the bytes the device key signs.
const SIGNING_CONTEXT: &[u8] = b"vn-dvc-kiosk envelope signature v1\0";
const VERSION: u8 = 1;

/// Why an envelope could not be made, read or trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("envelope is not valid JSON of the expected shape: {0}")]
    Malformed(String),
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    #[error("key has the wrong length or encoding")]
    BadKey,
    #[error("envelope signature does not verify")]
    BadSignature,
    #[error("envelope could not be opened with this portal key")]
    OpenFailed,
    #[error("sealing failed")]
    SealFailed,
}

/// The non-secret header of an envelope: what the kiosk may keep readable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeHeader {
    pub registration_id: String,
    pub created_at: i64,
}

impl EnvelopeHeader {
    pub fn new(registration_id: impl Into<String>, created_at: i64) -> Self {
        Self {
            registration_id: registration_id.into(),
            created_at,
        }
    }
}

/// The kiosk's Ed25519 signing key. Zeroized on drop; `Debug` shows only the
/// public half.
pub struct DeviceKey(SigningKey);

impl DeviceKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(secret.as_mut());
        Self(SigningKey::from_bytes(&secret))
    }

    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let secret: &[u8; 32] = bytes.try_into().map_err(|_| EnvelopeError::BadKey)?;
        Ok(Self(SigningKey::from_bytes(secret)))
    }

    /// The secret scalar seed, for writing to the key file.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    pub fn public_key(&self) -> DevicePublicKey {
        DevicePublicKey(self.0.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl std::fmt::Debug for DeviceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DeviceKey")
            .field(&self.public_key().to_base64())
            .finish()
    }
}

/// A kiosk's public key, as the portal knows it after enrolment.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DevicePublicKey(VerifyingKey);

impl DevicePublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let raw: &[u8; 32] = bytes.try_into().map_err(|_| EnvelopeError::BadKey)?;
        VerifyingKey::from_bytes(raw)
            .map(Self)
            .map_err(|_| EnvelopeError::BadKey)
    }

    pub fn from_base64(text: &str) -> Result<Self, EnvelopeError> {
        let bytes = B64.decode(text.trim()).map_err(|_| EnvelopeError::BadKey)?;
        Self::from_bytes(&bytes)
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.0.to_bytes())
    }

    /// Checks an Ed25519 signature strictly (no malleable encodings).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), EnvelopeError> {
        let signature =
            Signature::from_slice(signature).map_err(|_| EnvelopeError::BadSignature)?;
        self.0
            .verify_strict(message, &signature)
            .map_err(|_| EnvelopeError::BadSignature)
    }
}

impl std::fmt::Debug for DevicePublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("DevicePublicKey")
            .field(&self.to_base64())
            .finish()
    }
}

/// The portal's X25519 public key that registrations are sealed to.
#[derive(Clone, PartialEq, Eq)]
pub struct PortalPublicKey(<Kem as hpke::Kem>::PublicKey);

impl PortalPublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(bytes)
            .map(Self)
            .map_err(|_| EnvelopeError::BadKey)
    }

    pub fn from_base64(text: &str) -> Result<Self, EnvelopeError> {
        let bytes = B64.decode(text.trim()).map_err(|_| EnvelopeError::BadKey)?;
        Self::from_bytes(&bytes)
    }

    pub fn to_base64(&self) -> String {
        B64.encode(self.0.to_bytes())
    }
}

impl std::fmt::Debug for PortalPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PortalPublicKey")
            .field(&self.to_base64())
            .finish()
    }
}

/// The portal's private key. Never present on a kiosk; used by the portal and
/// by tests that prove an envelope opens.
pub struct PortalSecretKey {
    secret: <Kem as hpke::Kem>::PrivateKey,
    public: <Kem as hpke::Kem>::PublicKey,
}

impl PortalSecretKey {
    pub fn generate() -> Self {
        let (secret, public) = Kem::gen_keypair();
        Self { secret, public }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        let secret =
            <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes).map_err(|_| EnvelopeError::BadKey)?;
        let public = <Kem as hpke::Kem>::sk_to_pk(&secret);
        Ok(Self { secret, public })
    }

    pub fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.secret.to_bytes().to_vec())
    }

    pub fn public_key(&self) -> PortalPublicKey {
        PortalPublicKey(self.public.clone())
    }
}

impl std::fmt::Debug for PortalSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalSecretKey")
            .field("public", &self.public_key().to_base64())
            .finish_non_exhaustive()
    }
}

mod b64 {
    use super::B64;
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        B64.decode(text).map_err(serde::de::Error::custom)
    }
}

/// A sealed, signed registration. It can be stored, listed and sent by the
/// kiosk, and opened only by the portal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub v: u8,
    pub registration_id: String,
    pub created_at: i64,
    #[serde(with = "b64")]
    pub kiosk_key: Vec<u8>,
    #[serde(with = "b64")]
    pub enc: Vec<u8>,
    #[serde(with = "b64")]
    pub ciphertext: Vec<u8>,
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
}

fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u64).to_be_bytes());
    out.extend_from_slice(field);
}

fn header_bytes(v: u8, registration_id: &str, created_at: i64, kiosk_key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.push(v);
    push_field(&mut out, registration_id.as_bytes());
    out.extend_from_slice(&created_at.to_be_bytes());
    push_field(&mut out, kiosk_key);
    out
}

/// Seals `payload` to the portal and signs the result with the device key.
pub fn seal(
    payload: &[u8],
    header: EnvelopeHeader,
    portal: &PortalPublicKey,
    device: &DeviceKey,
) -> Result<Envelope, EnvelopeError> {
    let kiosk_key = device.public_key().to_bytes().to_vec();
    let aad = header_bytes(
        VERSION,
        &header.registration_id,
        header.created_at,
        &kiosk_key,
    );
    let (enc, ciphertext) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem>(
        &OpModeS::Base,
        &portal.0,
        HPKE_INFO,
        payload,
        &aad,
    )
    .map_err(|_| EnvelopeError::SealFailed)?;
    let mut envelope = Envelope {
        v: VERSION,
        registration_id: header.registration_id,
        created_at: header.created_at,
        kiosk_key,
        enc: enc.to_bytes().to_vec(),
        ciphertext,
        signature: Vec::new(),
    };
    envelope.signature = device.sign(&envelope.signed_bytes()).to_vec();
    Ok(envelope)
}

impl Envelope {
    /// What the device key signs: context, header, encapsulated key and
    /// ciphertext, each length-prefixed.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = SIGNING_CONTEXT.to_vec();
        out.extend_from_slice(&self.aad());
        push_field(&mut out, &self.enc);
        push_field(&mut out, &self.ciphertext);
        out
    }

    fn aad(&self) -> Vec<u8> {
        header_bytes(
            self.v,
            &self.registration_id,
            self.created_at,
            &self.kiosk_key,
        )
    }

    pub fn kiosk_key(&self) -> Result<DevicePublicKey, EnvelopeError> {
        DevicePublicKey::from_bytes(&self.kiosk_key)
    }

    /// Checks the version and the signature against the embedded kiosk key.
    /// The portal must also check that this key belongs to an enrolled kiosk.
    pub fn verify(&self) -> Result<DevicePublicKey, EnvelopeError> {
        if self.v != VERSION {
            return Err(EnvelopeError::UnsupportedVersion(self.v));
        }
        let key = self.kiosk_key()?;
        key.verify(&self.signed_bytes(), &self.signature)?;
        Ok(key)
    }

    /// Verifies, then decrypts. The plaintext is zeroized when dropped.
    pub fn open(&self, portal: &PortalSecretKey) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
        self.verify()?;
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&self.enc)
            .map_err(|_| EnvelopeError::OpenFailed)?;
        hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(
            &OpModeR::Base,
            &portal.secret,
            &enc,
            HPKE_INFO,
            &self.ciphertext,
            &self.aad(),
        )
        .map(Zeroizing::new)
        .map_err(|_| EnvelopeError::OpenFailed)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope always serialises")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        serde_json::from_slice(bytes).map_err(|e| EnvelopeError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sealed(payload: &[u8]) -> (Envelope, PortalSecretKey, DeviceKey) {
        let portal = PortalSecretKey::generate();
        let device = DeviceKey::generate();
        let envelope = seal(
            payload,
            EnvelopeHeader::new("reg-1", 1_700_000_000),
            &portal.public_key(),
            &device,
        )
        .unwrap();
        (envelope, portal, device)
    }

    #[test]
    fn portal_opens_what_the_kiosk_sealed() {
        let (envelope, portal, device) = sealed(b"Nguy\xe1\xbb\x85n");
        assert_eq!(envelope.verify().unwrap(), device.public_key());
        assert_eq!(&envelope.open(&portal).unwrap()[..], b"Nguy\xe1\xbb\x85n");
    }

    #[test]
    fn another_portal_key_cannot_open() {
        let (envelope, _, _) = sealed(b"payload");
        let stranger = PortalSecretKey::generate();
        assert_eq!(envelope.open(&stranger), Err(EnvelopeError::OpenFailed));
    }

    #[test]
    fn moving_a_ciphertext_under_another_id_breaks_the_signature() {
        let (mut envelope, portal, _) = sealed(b"payload");
        envelope.registration_id = "reg-2".into();
        assert_eq!(envelope.verify(), Err(EnvelopeError::BadSignature));
        assert_eq!(envelope.open(&portal), Err(EnvelopeError::BadSignature));
    }

    #[test]
    fn re_signing_a_moved_ciphertext_still_fails_to_open() {
        // An attacker with a kiosk key may re-sign, but the AAD binds the id.
        let (mut envelope, portal, device) = sealed(b"payload");
        envelope.registration_id = "reg-2".into();
        envelope.signature = device.sign(&envelope.signed_bytes()).to_vec();
        assert_eq!(envelope.open(&portal), Err(EnvelopeError::OpenFailed));
    }

    #[test]
    fn keys_round_trip_through_their_encodings() {
        let portal = PortalSecretKey::generate();
        let again = PortalSecretKey::from_bytes(&portal.secret_bytes()).unwrap();
        assert_eq!(again.public_key(), portal.public_key());
        let public = PortalPublicKey::from_base64(&portal.public_key().to_base64()).unwrap();
        assert_eq!(public, portal.public_key());
        let device = DeviceKey::generate();
        let again = DeviceKey::from_secret_bytes(device.secret_bytes().as_ref()).unwrap();
        assert_eq!(again.public_key(), device.public_key());
        assert_eq!(
            PortalPublicKey::from_base64("AAAA"),
            Err(EnvelopeError::BadKey)
        );
    }

    #[test]
    fn debug_never_shows_secret_keys() {
        let device = DeviceKey::generate();
        let secret_b64 = B64.encode(device.secret_bytes().as_ref());
        assert!(!format!("{device:?}").contains(&secret_b64));
        let portal = PortalSecretKey::generate();
        let secret_b64 = B64.encode(&portal.secret_bytes()[..]);
        assert!(!format!("{portal:?}").contains(&secret_b64));
    }

    #[test]
    fn unknown_version_is_refused() {
        let (mut envelope, _, _) = sealed(b"x");
        envelope.v = 2;
        assert_eq!(envelope.verify(), Err(EnvelopeError::UnsupportedVersion(2)));
    }

    proptest! {
        #[test]
        fn any_payload_round_trips_through_bytes(payload in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let (envelope, portal, _) = sealed(&payload);
            let parsed = Envelope::from_bytes(&envelope.to_bytes()).unwrap();
            prop_assert_eq!(&parsed, &envelope);
            prop_assert_eq!(&parsed.open(&portal).unwrap()[..], &payload[..]);
        }

        #[test]
        fn any_flipped_ciphertext_bit_is_detected(bit in 0usize..(8 * 48)) {
            let (mut envelope, portal, _) = sealed(&[7u8; 32]);
            let byte = bit / 8 % envelope.ciphertext.len();
            envelope.ciphertext[byte] ^= 1 << (bit % 8);
            prop_assert!(envelope.open(&portal).is_err());
        }
    }
}
