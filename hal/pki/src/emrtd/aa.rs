//! Active authentication (ICAO 9303-11 §6.1): the chip signs the reader's
//! fresh challenge with the private key whose public half DG15 holds (and
//! EF.SOD signs), so a chip whose files were copied onto another cannot
//! answer. ECDSA on P-256 with SHA-256 (`ecdsa-plain-SHA256`, named in
//! DG14's ActiveAuthenticationInfo, as BSI TR-03111 defines it); RSA keys
//! (ISO 9796-2) are not supported and say so.

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};

use super::tlv;

/// `id-ecPublicKey` 1.2.840.10045.2.1.
const EC_PUBLIC_KEY: [u8; 7] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
/// `prime256v1` 1.2.840.10045.3.1.7.
const P256: [u8; 8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// `id-icao-mrtd-security-aaProtocolObject` 2.23.136.1.1.5.
pub const AA_PROTOCOL: [u8; 6] = [0x67, 0x81, 0x08, 0x01, 0x01, 0x05];
/// `ecdsa-plain-SHA256` 0.4.0.127.0.7.1.1.4.1.3.
pub const ECDSA_PLAIN_SHA256: [u8; 10] =
    [0x04, 0x00, 0x7F, 0x00, 0x07, 0x01, 0x01, 0x04, 0x01, 0x03];

/// Why active authentication cannot run or did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AaError {
    #[error(
        "DG15's public key is not an EC key on P-256 (RSA active authentication is not supported)"
    )]
    Unsupported,
    #[error("DG14 names no ECDSA-SHA256 active authentication for DG15's EC key")]
    NoAlgorithm,
    #[error("DG15 is malformed")]
    Malformed,
    #[error(
        "the chip's signature of the challenge does not verify: the chip does not hold DG15's key"
    )]
    Signature,
}

/// DG15's public key: the uncompressed P-256 point of its
/// SubjectPublicKeyInfo.
pub fn dg15_point(dg15: &[u8]) -> Result<Vec<u8>, AaError> {
    let (file, _) = tlv::parse(dg15).ok_or(AaError::Malformed)?;
    let (spki, _) = tlv::parse(file.value).ok_or(AaError::Malformed)?;
    let parts = tlv::parse_all(spki.value).ok_or(AaError::Malformed)?;
    let [algorithm, key] = parts.as_slice() else {
        return Err(AaError::Malformed);
    };
    let ids = tlv::parse_all(algorithm.value).ok_or(AaError::Malformed)?;
    match ids.as_slice() {
        [kind, curve] if kind.value == EC_PUBLIC_KEY && curve.value == P256 => {}
        _ => return Err(AaError::Unsupported),
    }
    match key.value.split_first() {
        Some((0, point)) if key.tag == 0x03 => Ok(point.to_vec()),
        _ => Err(AaError::Malformed),
    }
}

/// DG15 with `point` (an uncompressed P-256 point) as its key.
pub fn dg15(point: &[u8]) -> Vec<u8> {
    let algorithm = [tlv::encode(0x06, &EC_PUBLIC_KEY), tlv::encode(0x06, &P256)].concat();
    let key = [&[0u8][..], point].concat();
    let spki = tlv::encode(
        0x30,
        &[tlv::encode(0x30, &algorithm), tlv::encode(0x03, &key)].concat(),
    );
    tlv::encode(0x6F, &spki)
}

/// DG14 naming ECDSA-SHA256 active authentication.
pub fn dg14() -> Vec<u8> {
    let info = [
        tlv::encode(0x06, &AA_PROTOCOL),
        tlv::encode(0x02, &[1]),
        tlv::encode(0x06, &ECDSA_PLAIN_SHA256),
    ]
    .concat();
    tlv::encode(0x6E, &tlv::encode(0x31, &tlv::encode(0x30, &info)))
}

/// Whether DG14 names ECDSA-SHA256 for active authentication.
fn names_ecdsa_sha256(dg14: &[u8]) -> bool {
    let Some((file, _)) = tlv::parse(dg14) else {
        return false;
    };
    let Some((set, _)) = tlv::parse(file.value) else {
        return false;
    };
    tlv::parse_all(set.value).is_some_and(|infos| {
        infos.iter().any(|info| {
            tlv::parse_all(info.value).is_some_and(|f| {
                matches!(f.as_slice(), [oid, _, alg, ..]
                    if oid.value == AA_PROTOCOL && alg.value == ECDSA_PLAIN_SHA256)
            })
        })
    })
}

/// Checks the chip's `signature` (plain r‖s) of `challenge` with DG15's
/// key, under the algorithm DG14 names. Both files must have passed
/// passive authentication first.
pub fn verify(
    dg14: Option<&[u8]>,
    dg15: &[u8],
    challenge: &[u8],
    signature: &[u8],
) -> Result<(), AaError> {
    let point = dg15_point(dg15)?;
    if !dg14.is_some_and(names_ecdsa_sha256) {
        return Err(AaError::NoAlgorithm);
    }
    let key = VerifyingKey::from_sec1_bytes(&point).map_err(|_| AaError::Malformed)?;
    let signature = Signature::from_slice(signature).map_err(|_| AaError::Signature)?;
    key.verify(challenge, &signature)
        .map_err(|_| AaError::Signature)
}
