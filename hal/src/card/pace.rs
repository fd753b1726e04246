//! PACE (ICAO 9303-11 §4.4), both ends: the password (the MRZ's key
//! fields, or the six-digit CAN printed on the card's face) encrypts a
//! nonce; the nonce is mapped to a fresh generator (generic mapping, an
//! ECDH on the domain parameters); an ECDH on that generator gives the
//! session keys, and each side proves it holds them with a CMAC token over
//! the other's public key. Secure messaging then runs on AES-128 and CMAC.
//!
//! Supported: `id-PACE-ECDH-GM-AES-CBC-CMAC-128` on NIST P-256 (parameter
//! id 12) and brainpoolP256r1 (13). Checked against ICAO 9303-11's worked
//! example (Appendix G, ECDH generic mapping).

use elliptic_curve::sec1::{FromSec1Point, ModulusSize, Sec1Point, ToSec1Point};
use elliptic_curve::{
    AffinePoint, CurveArithmetic, Field as _, FieldBytes, FieldBytesSize, Group as _, PrimeField,
    ProjectivePoint, Scalar, group::Curve as _, point::AffineCoordinates as _,
};
use sha1::{Digest, Sha1};
use zeroize::{Zeroize, Zeroizing};

use super::bac::MrzKey;
use super::sm::{self, Key16};
use super::tlv;

/// `id-PACE-ECDH-GM-AES-CBC-CMAC-128`: 0.4.0.127.0.7.2.2.4.2.2.
pub const ECDH_GM_AES_128: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x04, 0x02, 0x02];

/// The standardized domain parameters PACE may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256 (secp256r1), parameter id 12.
    P256,
    /// brainpoolP256r1, parameter id 13.
    BrainpoolP256r1,
}

impl Curve {
    pub fn from_id(id: u8) -> Option<Curve> {
        match id {
            12 => Some(Curve::P256),
            13 => Some(Curve::BrainpoolP256r1),
            _ => None,
        }
    }

    pub fn id(self) -> u8 {
        match self {
            Curve::P256 => 12,
            Curve::BrainpoolP256r1 => 13,
        }
    }
}

/// What the chip offers in EF.CardAccess that this reader speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaceInfo {
    pub curve: Curve,
}

/// The PACEInfo of EF.CardAccess (a SET of SecurityInfos) that this
/// reader supports, if any.
pub fn supported(card_access: &[u8]) -> Option<PaceInfo> {
    let (set, _) = tlv::parse(card_access)?;
    if set.tag != 0x31 {
        return None;
    }
    tlv::parse_all(set.value)?.into_iter().find_map(|info| {
        let fields = tlv::parse_all(info.value)?;
        match fields.as_slice() {
            [oid, version, param, ..]
                if info.tag == 0x30
                    && oid.tag == 0x06
                    && oid.value == ECDH_GM_AES_128
                    && version.tag == 0x02
                    && version.value == [2]
                    && param.tag == 0x02 =>
            {
                let [id] = param.value else { return None };
                Curve::from_id(*id).map(|curve| PaceInfo { curve })
            }
            _ => None,
        }
    })
}

/// EF.CardAccess offering PACE with `curve` (the virtual card's).
pub fn card_access(curve: Curve) -> Vec<u8> {
    let mut info = tlv::encode(0x06, &ECDH_GM_AES_128);
    info.extend(tlv::encode(0x02, &[2]));
    info.extend(tlv::encode(0x02, &[curve.id()]));
    tlv::encode(0x31, &tlv::encode(0x30, &info))
}

/// The password: the MRZ's key fields, or the CAN.
#[derive(Debug, Clone, Copy)]
pub enum Password<'a> {
    Mrz(&'a MrzKey),
    Can(&'a str),
}

impl Password<'_> {
    /// The reference MSE:Set AT names it by: 1 MRZ, 2 CAN.
    pub fn reference(&self) -> u8 {
        match self {
            Password::Mrz(_) => 1,
            Password::Can(_) => 2,
        }
    }

    /// π: SHA-1 of the MRZ information, or the CAN's digits.
    fn secret(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match self {
            Password::Mrz(key) => Sha1::digest(key.information().as_bytes()).to_vec(),
            Password::Can(can) => can.as_bytes().to_vec(),
        })
    }

    /// K_π, the key that encrypts the nonce.
    pub fn key(&self) -> Key16 {
        kdf(&self.secret(), 3)
    }
}

/// The key derivation for AES-128: SHA-1 of the secret and a 32-bit
/// counter (1 encryption, 2 MAC, 3 password), its first 16 bytes.
pub fn kdf(secret: &[u8], counter: u32) -> Key16 {
    let mut h = Sha1::new();
    h.update(secret);
    h.update(counter.to_be_bytes());
    let digest = h.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// The authentication token: the CMAC of the other side's public key in
/// a public key data object (`7F49 { 06 oid, 86 point }`).
pub fn token(k_mac: &Key16, public_key: &[u8]) -> [u8; 8] {
    let mut inner = tlv::encode(0x06, &ECDH_GM_AES_128);
    inner.extend(tlv::encode(0x86, public_key));
    sm::cmac8(k_mac, &tlv::encode(0x7F49, &inner))
}

/// The nonce, encrypted (the chip) or decrypted (the reader) with K_π
/// (AES-CBC, zero IV).
pub fn encrypt_nonce(k_pi: &Key16, s: &[u8; 16]) -> [u8; 16] {
    let z = sm::aes_encrypt(k_pi, &[0; 16], s);
    z.try_into().expect("one block")
}

pub fn decrypt_nonce(k_pi: &Key16, z: &[u8]) -> Option<Zeroizing<[u8; 16]>> {
    let s = Zeroizing::new(sm::aes_decrypt(k_pi, &[0; 16], z)?);
    Some(Zeroizing::new(s.as_slice().try_into().ok()?))
}

/// Why PACE failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PaceError {
    #[error("a public key is not a point of the curve")]
    BadPoint,
    #[error("the chip's answer is malformed")]
    Malformed,
    #[error("the chip's authentication token does not verify")]
    BadToken,
    #[error("the chip sent back the reader's own public key")]
    Reflected,
}

/// Elliptic-curve operations on SEC1 uncompressed points and big-endian
/// scalars, for either curve.
mod ec {
    use super::*;

    fn scalar<C>(bytes: &[u8]) -> Option<Scalar<C>>
    where
        C: CurveArithmetic,
    {
        let mut repr = FieldBytes::<C>::default();
        let n = repr.len();
        if bytes.len() > n {
            return None;
        }
        repr[n - bytes.len()..].copy_from_slice(bytes);
        let s = Option::from(Scalar::<C>::from_repr(repr));
        repr.zeroize();
        s
    }

    fn point<C>(sec1: &[u8]) -> Option<ProjectivePoint<C>>
    where
        C: CurveArithmetic,
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
        FieldBytesSize<C>: ModulusSize,
    {
        let encoded = Sec1Point::<C>::from_bytes(sec1).ok()?;
        let affine: Option<AffinePoint<C>> =
            Option::from(AffinePoint::<C>::from_sec1_point(&encoded));
        let p = ProjectivePoint::<C>::from(affine?);
        (!bool::from(p.is_identity())).then_some(p)
    }

    fn encode<C>(p: &ProjectivePoint<C>) -> Vec<u8>
    where
        C: CurveArithmetic,
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
        FieldBytesSize<C>: ModulusSize,
    {
        p.to_affine().to_sec1_point(false).as_bytes().to_vec()
    }

    /// `k`·`base`, or `k`·G without a base.
    pub fn mul<C>(base: Option<&[u8]>, k: &[u8]) -> Option<Vec<u8>>
    where
        C: CurveArithmetic,
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
        FieldBytesSize<C>: ModulusSize,
    {
        let base = match base {
            Some(b) => point::<C>(b)?,
            None => ProjectivePoint::<C>::generator(),
        };
        let p = base * scalar::<C>(k)?;
        (!bool::from(p.is_identity())).then(|| encode::<C>(&p))
    }

    /// The generic mapping: `s`·G + H.
    pub fn map<C>(s: &[u8], h: &[u8]) -> Option<Vec<u8>>
    where
        C: CurveArithmetic,
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
        FieldBytesSize<C>: ModulusSize,
    {
        let g = ProjectivePoint::<C>::generator() * scalar::<C>(s)? + point::<C>(h)?;
        (!bool::from(g.is_identity())).then(|| encode::<C>(&g))
    }

    /// The x coordinate of `k`·`base`: the shared secret.
    pub fn agree<C>(base: &[u8], k: &[u8]) -> Option<Zeroizing<Vec<u8>>>
    where
        C: CurveArithmetic,
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
        FieldBytesSize<C>: ModulusSize,
    {
        let p = point::<C>(base)? * scalar::<C>(k)?;
        if bool::from(p.is_identity()) {
            return None;
        }
        Some(Zeroizing::new(p.to_affine().x().to_vec()))
    }

    /// A private key: 32 random bytes that are a scalar below the order.
    pub fn private<C>() -> Zeroizing<Vec<u8>>
    where
        C: CurveArithmetic,
    {
        loop {
            let mut k = Zeroizing::new(vec![0u8; 32]);
            getrandom::fill(&mut k).expect("the system's random numbers");
            if let Some(s) = scalar::<C>(&k)
                && !bool::from(s.is_zero())
            {
                return k;
            }
        }
    }
}

impl Curve {
    /// `k`·`base` (`k`·G when `base` is `None`), SEC1 uncompressed.
    pub fn mul(self, base: Option<&[u8]>, k: &[u8]) -> Option<Vec<u8>> {
        match self {
            Curve::P256 => ec::mul::<p256::NistP256>(base, k),
            Curve::BrainpoolP256r1 => ec::mul::<bp256::BrainpoolP256r1>(base, k),
        }
    }

    /// `s`·G + `h`: the generator the generic mapping gives.
    pub fn map(self, s: &[u8], h: &[u8]) -> Option<Vec<u8>> {
        match self {
            Curve::P256 => ec::map::<p256::NistP256>(s, h),
            Curve::BrainpoolP256r1 => ec::map::<bp256::BrainpoolP256r1>(s, h),
        }
    }

    /// The x coordinate of `k`·`base`.
    pub fn agree(self, base: &[u8], k: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        match self {
            Curve::P256 => ec::agree::<p256::NistP256>(base, k),
            Curve::BrainpoolP256r1 => ec::agree::<bp256::BrainpoolP256r1>(base, k),
        }
    }

    /// A fresh private key.
    pub fn private(self) -> Zeroizing<Vec<u8>> {
        match self {
            Curve::P256 => ec::private::<p256::NistP256>(),
            Curve::BrainpoolP256r1 => ec::private::<bp256::BrainpoolP256r1>(),
        }
    }
}

/// The session keys from the shared secret: K_enc, K_mac.
pub fn session_keys(shared: &[u8]) -> (Key16, Key16) {
    (kdf(shared, 1), kdf(shared, 2))
}

/// One side's key pair, with the public key as sent.
pub struct KeyPair {
    pub private: Zeroizing<Vec<u8>>,
    pub public: Vec<u8>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyPair(private hidden)")
    }
}

impl KeyPair {
    /// A fresh key pair on `base` (G when `None`).
    pub fn generate(curve: Curve, base: Option<&[u8]>) -> Result<KeyPair, PaceError> {
        let private = curve.private();
        KeyPair::from_private(curve, base, private)
    }

    pub fn from_private(
        curve: Curve,
        base: Option<&[u8]>,
        private: Zeroizing<Vec<u8>>,
    ) -> Result<KeyPair, PaceError> {
        let public = curve.mul(base, &private).ok_or(PaceError::BadPoint)?;
        Ok(KeyPair { private, public })
    }
}

/// The value of `7C { tag value }`, the dynamic authentication data of
/// GENERAL AUTHENTICATE, if that is what `data` is.
pub fn auth_data(data: &[u8], tag: u32) -> Option<&[u8]> {
    let (outer, _) = tlv::parse(data)?;
    if outer.tag != 0x7C {
        return None;
    }
    let (inner, _) = tlv::parse(outer.value)?;
    (inner.tag == tag).then_some(inner.value)
}

/// `7C { tag value }`.
pub fn wrap(tag: u32, value: &[u8]) -> Vec<u8> {
    tlv::encode(0x7C, &tlv::encode(tag, value))
}
