//! Certificates from signing tokens: parsed with `x509-cert`, read with the
//! Vietnamese subject conventions, and checked on the kiosk — validity
//! against the kiosk's clock, key usage, and the chain to the trust anchors
//! kept in a directory. Revocation needs the network; the portal checks it.

use std::path::Path;

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode, Tag, Tagged};
use rsa::sha2::{Digest, Sha256, Sha384, Sha512};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_UID: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1");
const OID_ORG_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.97");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_SHA384_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const OID_SHA512_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");

/// Extensions the kiosk reads or that carry nothing it must enforce; any
/// other marked critical makes the certificate unusable (RFC 5280 §4.2:
/// a critical extension that is not understood fails the check).
const UNDERSTOOD_EXTENSIONS: [&str; 8] = [
    "2.5.29.19",         // basicConstraints
    "2.5.29.15",         // keyUsage
    "2.5.29.37",         // extKeyUsage
    "2.5.29.17",         // subjectAltName
    "2.5.29.14",         // subjectKeyIdentifier
    "2.5.29.35",         // authorityKeyIdentifier
    "2.5.29.31",         // cRLDistributionPoints
    "1.3.6.1.5.5.7.1.1", // authorityInfoAccess
];

/// Purposes a signing certificate's extendedKeyUsage may name for the
/// kiosk to accept it: client authentication, e-mail protection (what
/// Vietnamese CAs put on signing tokens), document signing, Microsoft's
/// document signing, or any purpose.
const SIGNING_PURPOSES: [&str; 5] = [
    "1.3.6.1.5.5.7.3.2",
    "1.3.6.1.5.5.7.3.4",
    "1.3.6.1.5.5.7.3.36",
    "1.3.6.1.4.1.311.10.3.12",
    "2.5.29.37.0",
];

/// Why a certificate cannot be used to register.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CertProblem {
    #[error("the certificate cannot be read")]
    Malformed,
    #[error("the certificate has expired")]
    Expired,
    #[error("the certificate is not valid yet")]
    NotYetValid,
    #[error("the certificate does not chain to a trusted CA")]
    Untrusted,
    #[error("the certificate's key may not be used for signatures")]
    WrongUsage,
    #[error("the certificate's key type is not supported")]
    UnsupportedKey,
}

/// An identifier from the subject, by the prefix Vietnamese CAs write in UID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectId {
    Cccd(String),
    Cmnd(String),
    /// Passport (`HC:`).
    Passport(String),
    /// Tax code (`MST:`), possibly with a branch suffix.
    Mst(String),
    /// Budget-unit code (`MNS:`).
    Mns(String),
    /// A UID with no known prefix.
    Bare(String),
}

impl SubjectId {
    fn parse(uid: &str) -> SubjectId {
        let uid = uid.trim();
        let (prefix, value) = uid
            .split_once(':')
            .map_or(("", uid), |(p, v)| (p.trim(), v.trim()));
        let value = value.to_string();
        match prefix.to_ascii_uppercase().as_str() {
            "CCCD" => SubjectId::Cccd(value),
            "CMND" => SubjectId::Cmnd(value),
            "HC" => SubjectId::Passport(value),
            "MST" => SubjectId::Mst(value),
            "MNS" => SubjectId::Mns(value),
            _ => SubjectId::Bare(uid.to_string()),
        }
    }
}

/// Whom a certificate names: a person or an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Person,
    Organization,
}

/// A public key the kiosk can verify with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Rsa(rsa::PublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// How a token signed: RSA PKCS#1 v1.5 or PSS with SHA-256, or ECDSA with
/// raw `r‖s` over the curve's hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    RsaPkcs1Sha256,
    RsaPssSha256,
    Ecdsa,
}

impl Scheme {
    /// The name a sealed registration carries.
    pub fn name(self) -> &'static str {
        match self {
            Scheme::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
            Scheme::RsaPssSha256 => "rsa-pss-sha256",
            Scheme::Ecdsa => "ecdsa",
        }
    }

    pub fn parse(name: &str) -> Option<Scheme> {
        [Scheme::RsaPkcs1Sha256, Scheme::RsaPssSha256, Scheme::Ecdsa]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

impl PublicKey {
    fn from_spki(
        spki: &x509_cert::spki::SubjectPublicKeyInfoOwned,
    ) -> Result<PublicKey, CertProblem> {
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or(CertProblem::Malformed)?;
        if spki.algorithm.oid == OID_RSA {
            use rsa::pkcs1::DecodeRsaPublicKey;
            return rsa::PublicKey::from_pkcs1_der(bits)
                .map(PublicKey::Rsa)
                .map_err(|_| CertProblem::Malformed);
        }
        if spki.algorithm.oid == OID_EC {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
                .ok_or(CertProblem::Malformed)?;
            return match curve {
                OID_P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(PublicKey::P256)
                    .map_err(|_| CertProblem::Malformed),
                OID_P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(PublicKey::P384)
                    .map_err(|_| CertProblem::Malformed),
                _ => Err(CertProblem::UnsupportedKey),
            };
        }
        Err(CertProblem::UnsupportedKey)
    }

    /// The digest an ECDSA token is asked to sign for `message` (CKM_ECDSA
    /// signs a hash computed by the caller).
    pub fn ecdsa_digest(&self, message: &[u8]) -> Vec<u8> {
        match self {
            PublicKey::P384(_) => Sha384::digest(message).to_vec(),
            _ => Sha256::digest(message).to_vec(),
        }
    }

    /// Checks a token's signature over `message`.
    pub fn verify(&self, scheme: Scheme, message: &[u8], signature: &[u8]) -> bool {
        use ecdsa::signature::hazmat::PrehashVerifier;
        match (self, scheme) {
            (PublicKey::Rsa(key), Scheme::RsaPkcs1Sha256) => key
                .verify(
                    rsa::Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(message),
                    signature,
                )
                .is_ok(),
            (PublicKey::Rsa(key), Scheme::RsaPssSha256) => key
                .verify(
                    rsa::Pss::<Sha256>::new(),
                    &Sha256::digest(message),
                    signature,
                )
                .is_ok(),
            (PublicKey::P256(key), Scheme::Ecdsa) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| key.verify_prehash(&Sha256::digest(message), &s).is_ok()),
            (PublicKey::P384(key), Scheme::Ecdsa) => p384::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| key.verify_prehash(&Sha384::digest(message), &s).is_ok()),
            _ => false,
        }
    }

    /// Checks a signature made by this key with the signature algorithm
    /// `algorithm` over `tbs`: a certificate's or a revocation list's by
    /// its issuer, or a document signer's over the chip's security object.
    pub fn verify_certificate(
        &self,
        algorithm: &ObjectIdentifier,
        tbs: &[u8],
        signature: &[u8],
    ) -> bool {
        use ecdsa::signature::hazmat::PrehashVerifier;
        match (self, *algorithm) {
            (PublicKey::Rsa(k), OID_SHA256_RSA) => k
                .verify(
                    rsa::Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(tbs),
                    signature,
                )
                .is_ok(),
            (PublicKey::Rsa(k), OID_SHA384_RSA) => k
                .verify(
                    rsa::Pkcs1v15Sign::new::<Sha384>(),
                    &Sha384::digest(tbs),
                    signature,
                )
                .is_ok(),
            (PublicKey::Rsa(k), OID_SHA512_RSA) => k
                .verify(
                    rsa::Pkcs1v15Sign::new::<Sha512>(),
                    &Sha512::digest(tbs),
                    signature,
                )
                .is_ok(),
            (PublicKey::P256(k), alg @ (OID_ECDSA_SHA256 | OID_ECDSA_SHA384)) => {
                let digest = if alg == OID_ECDSA_SHA256 {
                    Sha256::digest(tbs).to_vec()
                } else {
                    Sha384::digest(tbs).to_vec()
                };
                p256::ecdsa::Signature::from_der(signature)
                    .is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok())
            }
            (PublicKey::P384(k), alg @ (OID_ECDSA_SHA256 | OID_ECDSA_SHA384)) => {
                let digest = if alg == OID_ECDSA_SHA256 {
                    Sha256::digest(tbs).to_vec()
                } else {
                    Sha384::digest(tbs).to_vec()
                };
                p384::ecdsa::Signature::from_der(signature)
                    .is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok())
            }
            _ => false,
        }
    }
}

/// A string attribute value in any of the directory string encodings.
fn text(value: &der::Any) -> Option<String> {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => {
            std::str::from_utf8(bytes).ok().map(String::from)
        }
        // T.61 in practice carries Latin-1 from older CAs.
        Tag::TeletexString => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => char::decode_utf16(
            bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])),
        )
        .collect::<Result<String, _>>()
        .ok(),
        _ => None,
    }
}

fn attributes(name: &x509_cert::name::Name, oid: ObjectIdentifier) -> Vec<String> {
    name.iter()
        .filter(|a| a.oid == oid)
        .filter_map(|a| text(&a.value))
        .collect()
}

/// A parsed certificate and what the kiosk needs from it.
#[derive(Clone)]
pub struct CertInfo {
    pub der: Vec<u8>,
    pub common_name: Option<String>,
    pub organization: Option<String>,
    /// Every identifier in UID attributes and organizationIdentifier.
    pub identifiers: Vec<SubjectId>,
    pub holder: Holder,
    pub issuer_common_name: Option<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// Key usage allows digitalSignature or nonRepudiation (or is absent).
    pub signing_usage: bool,
    /// `basicConstraints` cA, or `None` when the extension is absent
    /// (old v1 roots).
    pub ca: Option<bool>,
    /// Key usage allows keyCertSign (or is absent).
    pub cert_sign_usage: bool,
    /// Key usage allows cRLSign (or is absent).
    pub crl_sign_usage: bool,
    /// `basicConstraints` pathLenConstraint: how many CAs may stand
    /// between this CA and a leaf.
    pub path_len: Option<u8>,
    /// A critical extension the kiosk does not understand.
    pub unknown_critical: bool,
    /// extendedKeyUsage allows signing (or is absent).
    pub signing_purpose: bool,
    pub public_key: PublicKey,
    cert: Certificate,
}

/// Nothing that names the holder: no common name, organisation,
/// identifiers or DER.
impl std::fmt::Debug for CertInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertInfo")
            .field("holder", &self.holder)
            .field("identifiers", &self.identifiers.len())
            .field("issuer_common_name", &self.issuer_common_name)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("signing_usage", &self.signing_usage)
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

impl CertInfo {
    pub fn parse(der: &[u8]) -> Result<CertInfo, CertProblem> {
        let cert = Certificate::from_der(der).map_err(|_| CertProblem::Malformed)?;
        let tbs = cert.tbs_certificate();
        let subject = tbs.subject();
        let mut identifiers: Vec<SubjectId> = attributes(subject, OID_UID)
            .iter()
            .map(|u| SubjectId::parse(u))
            .collect();
        for org_id in attributes(subject, OID_ORG_ID) {
            // ETSI EN 319 412-1: VATVN-<tax code> for a Vietnamese business.
            let value = org_id.strip_prefix("VATVN-").unwrap_or(&org_id).to_string();
            identifiers.push(SubjectId::Mst(value));
        }
        let holder = if identifiers
            .iter()
            .any(|i| matches!(i, SubjectId::Mst(_) | SubjectId::Mns(_)))
        {
            Holder::Organization
        } else {
            Holder::Person
        };
        let (signing_usage, cert_sign_usage, crl_sign_usage) = match tbs.get_extension::<KeyUsage>()
        {
            Ok(Some((_, ku))) => (
                ku.digital_signature() || ku.non_repudiation(),
                ku.key_cert_sign(),
                ku.crl_sign(),
            ),
            Ok(None) => (true, true, true),
            Err(_) => return Err(CertProblem::Malformed),
        };
        let (ca, path_len) = match tbs.get_extension::<BasicConstraints>() {
            Ok(Some((_, bc))) => (Some(bc.ca), bc.path_len_constraint),
            Ok(None) => (None, None),
            Err(_) => return Err(CertProblem::Malformed),
        };
        let signing_purpose = match tbs.get_extension::<ExtendedKeyUsage>() {
            Ok(Some((_, eku))) => eku
                .0
                .iter()
                .any(|oid| SIGNING_PURPOSES.contains(&oid.to_string().as_str())),
            Ok(None) => true,
            Err(_) => return Err(CertProblem::Malformed),
        };
        let unknown_critical = tbs.extensions().is_some_and(|extensions| {
            extensions.iter().any(|e| {
                e.critical && !UNDERSTOOD_EXTENSIONS.contains(&e.extn_id.to_string().as_str())
            })
        });
        let validity = tbs.validity();
        Ok(CertInfo {
            der: der.to_vec(),
            common_name: attributes(subject, OID_CN).into_iter().next(),
            organization: attributes(subject, OID_O).into_iter().next(),
            identifiers,
            holder,
            issuer_common_name: attributes(tbs.issuer(), OID_CN).into_iter().next(),
            not_before: validity.not_before.to_unix_duration().as_secs() as i64,
            not_after: validity.not_after.to_unix_duration().as_secs() as i64,
            signing_usage,
            ca,
            cert_sign_usage,
            crl_sign_usage,
            path_len,
            unknown_critical,
            signing_purpose,
            public_key: PublicKey::from_spki(tbs.subject_public_key_info())?,
            cert,
        })
    }

    /// One certificate, PEM (the first in the file) or DER.
    pub fn parse_pem_or_der(bytes: &[u8]) -> Result<CertInfo, CertProblem> {
        if bytes.starts_with(b"-----BEGIN") {
            let certs = Certificate::load_pem_chain(bytes).map_err(|_| CertProblem::Malformed)?;
            let der = certs
                .first()
                .and_then(|c| c.to_der().ok())
                .ok_or(CertProblem::Malformed)?;
            CertInfo::parse(&der)
        } else {
            CertInfo::parse(bytes)
        }
    }

    /// The first identifier of a kind, for instance `|i| matches!(i, SubjectId::Cccd(_))`.
    pub fn identifier(&self, wanted: impl Fn(&SubjectId) -> bool) -> Option<&SubjectId> {
        self.identifiers.iter().find(|i| wanted(i))
    }

    /// The serial number's bytes, as a revocation list names it.
    pub fn serial(&self) -> &[u8] {
        self.cert.tbs_certificate().serial_number().as_bytes()
    }

    /// The issuer's distinguished name, DER.
    pub(crate) fn issuer_name(&self) -> &x509_cert::name::Name {
        self.cert.tbs_certificate().issuer()
    }

    /// The subject's distinguished name, DER.
    pub(crate) fn subject_name(&self) -> &x509_cert::name::Name {
        self.cert.tbs_certificate().subject()
    }

    pub fn check_dates(&self, now: i64) -> Result<(), CertProblem> {
        if now < self.not_before {
            Err(CertProblem::NotYetValid)
        } else if now > self.not_after {
            Err(CertProblem::Expired)
        } else {
            Ok(())
        }
    }

    /// May sign certificates: a CA by basicConstraints with keyCertSign.
    /// A configured anchor without basicConstraints (a v1 root) counts as a
    /// CA; any other certificate without it does not.
    fn may_issue(&self, is_anchor: bool) -> bool {
        self.cert_sign_usage && self.ca.unwrap_or(is_anchor)
    }

    pub fn issued_by(&self, issuer: &CertInfo) -> bool {
        let tbs = self.cert.tbs_certificate();
        if tbs.issuer() != issuer.cert.tbs_certificate().subject() {
            return false;
        }
        let (Ok(tbs_der), Some(sig)) = (tbs.to_der(), self.cert.signature().as_bytes()) else {
            return false;
        };
        issuer
            .public_key
            .verify_certificate(&self.cert.signature_algorithm().oid, &tbs_der, sig)
    }
}

/// The CAs the kiosk trusts: in production the National Root CA and the
/// licensed CAs, in tests a test CA. Every certificate in the directory is
/// an anchor.
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    anchors: Vec<CertInfo>,
}

impl TrustAnchors {
    /// Anchors given as certificates (a CA the caller holds itself).
    pub fn from_certificates(anchors: Vec<CertInfo>) -> TrustAnchors {
        TrustAnchors { anchors }
    }

    /// Reads every PEM or DER certificate in `dir`; unreadable files are
    /// reported by name.
    pub fn load(dir: &Path) -> Result<TrustAnchors, String> {
        let mut anchors = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let ders: Vec<Vec<u8>> = if bytes.starts_with(b"-----BEGIN") {
                Certificate::load_pem_chain(&bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))?
                    .iter()
                    .map(|c| c.to_der().expect("a parsed certificate encodes"))
                    .collect()
            } else {
                vec![bytes]
            };
            for der in ders {
                anchors
                    .push(CertInfo::parse(&der).map_err(|e| format!("{}: {e}", path.display()))?);
            }
        }
        Ok(TrustAnchors { anchors })
    }

    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// The anchors themselves: the CAs whose revocation lists are trusted.
    pub fn anchors(&self) -> &[CertInfo] {
        &self.anchors
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// Checks `leaf` at `now` (Unix seconds): dates, key usage and
    /// extended key usage, and a chain through `intermediates` (for instance
    /// CA certificates found on the token) to an anchor, every link's
    /// signature verified, names chained, each CA's pathLenConstraint kept,
    /// and no critical extension the kiosk does not understand. Answers the
    /// common names of the chain, leaf first.
    pub fn verify(
        &self,
        leaf: &CertInfo,
        intermediates: &[CertInfo],
        now: i64,
    ) -> Result<Vec<String>, CertProblem> {
        leaf.check_dates(now)?;
        if leaf.unknown_critical {
            return Err(CertProblem::Untrusted);
        }
        if !leaf.signing_usage || !leaf.signing_purpose {
            return Err(CertProblem::WrongUsage);
        }
        let name = |c: &CertInfo| c.common_name.clone().unwrap_or_else(|| "(no CN)".into());
        // May `ca` issue with `below` CAs already between it and the leaf?
        let within_path =
            |ca: &CertInfo, below: usize| ca.path_len.is_none_or(|n| below <= usize::from(n));
        let mut chain = vec![name(leaf)];
        let mut current = leaf;
        // `below`: the intermediate CAs passed so far, between the leaf and
        // `current`.
        for below in 0..8 {
            if self.anchors.iter().any(|a| a.der == current.der) {
                return Ok(chain);
            }
            if let Some(anchor) = self
                .anchors
                .iter()
                .find(|a| a.may_issue(true) && within_path(a, below) && current.issued_by(a))
            {
                anchor
                    .check_dates(now)
                    .map_err(|_| CertProblem::Untrusted)?;
                chain.push(name(anchor));
                return Ok(chain);
            }
            let Some(next) = intermediates.iter().find(|i| {
                i.der != current.der
                    && i.may_issue(false)
                    && !i.unknown_critical
                    && within_path(i, below)
                    && current.issued_by(i)
            }) else {
                return Err(CertProblem::Untrusted);
            };
            next.check_dates(now).map_err(|_| CertProblem::Untrusted)?;
            chain.push(name(next));
            current = next;
        }
        Err(CertProblem::Untrusted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_prefixes_are_read() {
        assert_eq!(
            SubjectId::parse("CCCD:051303000111"),
            SubjectId::Cccd("051303000111".into())
        );
        assert_eq!(
            SubjectId::parse("cmnd: 212345678"),
            SubjectId::Cmnd("212345678".into())
        );
        assert_eq!(
            SubjectId::parse("MST:0100686209-199"),
            SubjectId::Mst("0100686209-199".into())
        );
        assert_eq!(
            SubjectId::parse("HC:B1234567"),
            SubjectId::Passport("B1234567".into())
        );
        assert_eq!(
            SubjectId::parse("MNS:1234567"),
            SubjectId::Mns("1234567".into())
        );
        assert_eq!(
            SubjectId::parse("051303000111"),
            SubjectId::Bare("051303000111".into())
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        assert_eq!(
            CertInfo::parse(b"not a certificate").unwrap_err(),
            CertProblem::Malformed
        );
        assert_eq!(
            CertInfo::parse(&[0x30, 0x03, 0x02, 0x01, 0x01]).unwrap_err(),
            CertProblem::Malformed
        );
    }
}
