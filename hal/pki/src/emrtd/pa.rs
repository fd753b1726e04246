//! Passive authentication (ICAO 9303-11 §5.1): EF.SOD is a CMS SignedData
//! over the hashes of the data groups. The Document Signer's signature is
//! verified, the Document Signer chained to a Country Signing CA the kiosk
//! trusts, and every data group read compared with its hash.

use std::collections::BTreeMap;

use crate::cert::{CertInfo, TrustAnchors};
use cms::content_info::ContentInfo;
use cms::der::asn1::{ObjectIdentifier, OctetString};
use cms::der::{Decode, Encode};
use cms::signed_data::{SignedData, SignerIdentifier};
use sha2::Digest;

use super::lds::File;
use super::tlv;

const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const OID_LDS_SECURITY_OBJECT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.136.1.1.1");
const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// The hash algorithms a security object may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgorithm {
    fn from_oid(oid: &ObjectIdentifier) -> Option<HashAlgorithm> {
        Some(match oid.to_string().as_str() {
            "1.3.14.3.2.26" => HashAlgorithm::Sha1,
            "2.16.840.1.101.3.4.2.4" => HashAlgorithm::Sha224,
            "2.16.840.1.101.3.4.2.1" => HashAlgorithm::Sha256,
            "2.16.840.1.101.3.4.2.2" => HashAlgorithm::Sha384,
            "2.16.840.1.101.3.4.2.3" => HashAlgorithm::Sha512,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            HashAlgorithm::Sha1 => "SHA-1",
            HashAlgorithm::Sha224 => "SHA-224",
            HashAlgorithm::Sha256 => "SHA-256",
            HashAlgorithm::Sha384 => "SHA-384",
            HashAlgorithm::Sha512 => "SHA-512",
        }
    }

    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            HashAlgorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
            HashAlgorithm::Sha224 => sha2::Sha224::digest(data).to_vec(),
            HashAlgorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
            HashAlgorithm::Sha384 => sha2::Sha384::digest(data).to_vec(),
            HashAlgorithm::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    /// The `sha…WithRSAEncryption` OID for a signer that names only
    /// `rsaEncryption` and leaves the hash to the digest algorithm.
    fn with_rsa(self) -> Option<ObjectIdentifier> {
        Some(ObjectIdentifier::new_unwrap(match self {
            HashAlgorithm::Sha256 => "1.2.840.113549.1.1.11",
            HashAlgorithm::Sha384 => "1.2.840.113549.1.1.12",
            HashAlgorithm::Sha512 => "1.2.840.113549.1.1.13",
            _ => return None,
        }))
    }
}

/// The step of passive authentication that failed: the technician sees it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("EF.SOD is not a readable CMS SignedData security object: {0}")]
    Sod(String),
    #[error("the Document Signer's signature algorithm is not supported: {0}")]
    Algorithm(String),
    #[error("the Document Signer's signature over EF.SOD does not verify")]
    Signature,
    #[error("the Document Signer is not issued by a trusted Country Signing CA")]
    UnknownCsca,
    #[error("the Document Signer or its CSCA is outside its validity at this date")]
    CertificateDates,
    #[error("{0}'s hash differs from the one EF.SOD signs")]
    HashMismatch(String),
    #[error("{0} was read but EF.SOD has no hash for it")]
    NotSigned(String),
    #[error("the signed data cannot be read: {0}")]
    Data(String),
    #[error("the card expired on {0} (YYMMDD)")]
    Expired(String),
    #[error("active authentication failed: {0}")]
    ActiveAuth(String),
}

impl Failure {
    /// The step's short name, for logs and `kioskctl card read`.
    pub fn step(&self) -> &'static str {
        match self {
            Failure::Sod(_) => "sod",
            Failure::Algorithm(_) | Failure::Signature => "signature",
            Failure::UnknownCsca | Failure::CertificateDates => "chain",
            Failure::HashMismatch(_) | Failure::NotSigned(_) => "hashes",
            Failure::Data(_) => "data",
            Failure::Expired(_) => "expiry",
            Failure::ActiveAuth(_) => "active-auth",
        }
    }
}

/// The security object, parsed but not yet trusted.
#[derive(Clone)]
pub struct SecurityObject {
    pub algorithm: HashAlgorithm,
    /// Data group number → hash.
    pub hashes: BTreeMap<u8, Vec<u8>>,
    signed: SignedData,
    econtent: Vec<u8>,
}

impl std::fmt::Debug for SecurityObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityObject")
            .field("algorithm", &self.algorithm)
            .field("data_groups", &self.hashes.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn sod_error(e: impl std::fmt::Display) -> Failure {
    Failure::Sod(e.to_string())
}

impl SecurityObject {
    /// EF.SOD's content (tag 0x77 around a ContentInfo).
    pub fn parse(sod: &[u8]) -> Result<SecurityObject, Failure> {
        let (outer, rest) = tlv::parse(sod).ok_or_else(|| sod_error("not one TLV object"))?;
        if outer.tag != u32::from(File::Sod.tag()) || !rest.is_empty() {
            return Err(sod_error("not tagged 0x77"));
        }
        let info = ContentInfo::from_der(outer.value).map_err(sod_error)?;
        if info.content_type != OID_SIGNED_DATA {
            return Err(sod_error("not SignedData"));
        }
        let signed: SignedData = info.content.decode_as().map_err(sod_error)?;
        let encap = &signed.encap_content_info;
        if encap.econtent_type != OID_LDS_SECURITY_OBJECT {
            return Err(sod_error("content is not an LDS security object"));
        }
        let econtent = encap
            .econtent
            .as_ref()
            .ok_or_else(|| sod_error("no encapsulated content"))?
            .decode_as::<OctetString>()
            .map_err(sod_error)?
            .as_bytes()
            .to_vec();
        let (algorithm, hashes) = lds_security_object(&econtent)?;
        Ok(SecurityObject {
            algorithm,
            hashes,
            signed,
            econtent,
        })
    }

    /// Verifies the Document Signer's signature and its chain to `cscas` at
    /// `now` (Unix seconds). Answers the Document Signer's certificate.
    pub fn verify_signer(&self, cscas: &TrustAnchors, now: i64) -> Result<CertInfo, Failure> {
        let [signer] = self.signed.signer_infos.0.as_slice() else {
            return Err(sod_error("not exactly one signer"));
        };
        let certs: Vec<CertInfo> = self
            .signed
            .certificates
            .iter()
            .flat_map(|set| set.0.iter())
            .filter_map(|c| match c {
                cms::cert::CertificateChoices::Certificate(c) => c.to_der().ok(),
                _ => None,
            })
            .filter_map(|der| CertInfo::parse(&der).ok())
            .collect();
        let ds = certs
            .into_iter()
            .find(|c| names_signer(c, &signer.sid))
            .ok_or_else(|| sod_error("the Document Signer's certificate is not in EF.SOD"))?;

        let digest = HashAlgorithm::from_oid(&signer.digest_alg.oid)
            .ok_or_else(|| Failure::Algorithm(signer.digest_alg.oid.to_string()))?;
        let attrs = signer
            .signed_attrs
            .as_ref()
            .ok_or_else(|| sod_error("no signed attributes"))?;
        let attribute = |oid| {
            attrs
                .iter()
                .find(|a| a.oid == oid)
                .and_then(|a| a.values.get(0))
        };
        let content_type = attribute(OID_CONTENT_TYPE)
            .and_then(|v| v.decode_as::<ObjectIdentifier>().ok())
            .ok_or_else(|| sod_error("no content-type attribute"))?;
        let message_digest = attribute(OID_MESSAGE_DIGEST)
            .and_then(|v| v.decode_as::<OctetString>().ok())
            .ok_or_else(|| sod_error("no message-digest attribute"))?;
        if content_type != OID_LDS_SECURITY_OBJECT {
            return Err(sod_error(
                "the signed content type is not the security object",
            ));
        }
        if message_digest.as_bytes() != digest.hash(&self.econtent) {
            return Err(Failure::Signature);
        }
        let signed_attrs = attrs.to_der().map_err(sod_error)?;
        let algorithm = if signer.signature_algorithm.oid == OID_RSA {
            digest
                .with_rsa()
                .ok_or_else(|| Failure::Algorithm(digest.name().into()))?
        } else {
            signer.signature_algorithm.oid
        };
        if !ds
            .public_key
            .verify_certificate(&algorithm, &signed_attrs, signer.signature.as_bytes())
        {
            return Err(Failure::Signature);
        }

        let csca = cscas
            .anchors()
            .iter()
            .find(|csca| ds.issued_by(csca))
            .ok_or(Failure::UnknownCsca)?;
        ds.check_dates(now).map_err(|_| Failure::CertificateDates)?;
        csca.check_dates(now)
            .map_err(|_| Failure::CertificateDates)?;
        Ok(ds)
    }

    /// Compares every file read with the hash the security object signs.
    pub fn check_hashes<'a>(
        &self,
        files: impl IntoIterator<Item = (u8, &'a [u8])>,
    ) -> Result<(), Failure> {
        for (n, bytes) in files {
            let name = File::Dg(n).name();
            let expected = self
                .hashes
                .get(&n)
                .ok_or_else(|| Failure::NotSigned(name.clone()))?;
            if self.algorithm.hash(bytes) != *expected {
                return Err(Failure::HashMismatch(name));
            }
        }
        Ok(())
    }
}

fn names_signer(cert: &CertInfo, sid: &SignerIdentifier) -> bool {
    let Ok(parsed) = x509_cert_of(cert) else {
        return false;
    };
    let tbs = parsed.tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(i) => {
            tbs.issuer() == &i.issuer && tbs.serial_number() == &i.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => tbs
            .get_extension::<cms::cert::x509::ext::pkix::SubjectKeyIdentifier>()
            .ok()
            .flatten()
            .is_some_and(|(_, own)| own.0 == ski.0),
    }
}

fn x509_cert_of(cert: &CertInfo) -> Result<cms::cert::x509::Certificate, cms::der::Error> {
    cms::cert::x509::Certificate::from_der(&cert.der)
}

/// LDSSecurityObject ::= SEQUENCE { version, hashAlgorithm,
/// dataGroupHashValues SEQUENCE OF { dataGroupNumber, dataGroupHashValue },
/// ldsVersionInfo OPTIONAL }.
fn lds_security_object(der: &[u8]) -> Result<(HashAlgorithm, BTreeMap<u8, Vec<u8>>), Failure> {
    let bad = || sod_error("the LDS security object is malformed");
    let (seq, rest) = tlv::parse(der).ok_or_else(bad)?;
    if seq.tag != 0x30 || !rest.is_empty() {
        return Err(bad());
    }
    let items = tlv::parse_all(seq.value).ok_or_else(bad)?;
    let [version, algorithm, values, ..] = items.as_slice() else {
        return Err(bad());
    };
    if version.tag != 0x02 || algorithm.tag != 0x30 || values.tag != 0x30 {
        return Err(bad());
    }
    let oid = tlv::find(algorithm.value, 0x06).ok_or_else(bad)?;
    let oid = ObjectIdentifier::from_bytes(oid.value).map_err(|_| bad())?;
    let hash = HashAlgorithm::from_oid(&oid).ok_or_else(|| Failure::Algorithm(oid.to_string()))?;
    let mut hashes = BTreeMap::new();
    for entry in tlv::parse_all(values.value).ok_or_else(bad)? {
        let parts = tlv::parse_all(entry.value).ok_or_else(bad)?;
        let [number, value] = parts.as_slice() else {
            return Err(bad());
        };
        let [n] = number.value else {
            return Err(bad());
        };
        if number.tag != 0x02 || value.tag != 0x04 || !(1..=16).contains(n) {
            return Err(bad());
        }
        if hashes.insert(*n, value.value.to_vec()).is_some() {
            return Err(bad());
        }
    }
    Ok((hash, hashes))
}
