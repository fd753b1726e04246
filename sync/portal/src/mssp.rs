//! The reference portal's stand-in for the carriers' mobile-signature
//! service (MSSP): a CA of its own, one P-256 key and certificate per
//! subscriber of the fixtures (made at their first signature), and the
//! signature the SIM would make once its holder confirms on the phone.
//!
//! The certificates carry what Vietnamese CAs write: for a person the
//! name in CN and `CCCD:…`/`CMND:…` in UID; for an organisation its name
//! in CN and O, `MST:…` in UID and `VATVN-…` in organizationIdentifier
//! (ETSI EN 319 412-1). Signatures are ECDSA P-256 with SHA-256 as raw
//! `r‖s`, as a SIM answers.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

/// X.500 `uid` (0.9.2342.19200300.100.1.1).
const UID: [u64; 7] = [0, 9, 2342, 19200300, 100, 1, 1];
/// X.520 `organizationIdentifier` (2.5.4.97).
const ORGANIZATION_IDENTIFIER: [u64; 4] = [2, 5, 4, 97];
const CA_NAME: &str = "MSSP Thử Nghiệm (Cổng DVC tham chiếu)";

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Cổng dịch vụ công tham chiếu");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// The MSSP's CA: its key, and the certificate kiosks put among their
/// trust anchors.
pub struct Mssp {
    key: KeyPair,
    ca_pem: String,
}

impl std::fmt::Debug for Mssp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mssp").finish_non_exhaustive()
    }
}

impl Mssp {
    /// A new CA.
    pub fn generate() -> Result<Mssp, String> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
        Self::from_key(key)
    }

    /// The CA of an earlier [`Mssp::key_pem`]: the same name and key, so
    /// what it issues chains to the certificate kiosks already trust.
    pub fn from_key_pem(pem: &str) -> Result<Mssp, String> {
        Self::from_key(KeyPair::from_pem(pem).map_err(|e| e.to_string())?)
    }

    fn from_key(key: KeyPair) -> Result<Mssp, String> {
        let ca = ca_params().self_signed(&key).map_err(|e| e.to_string())?;
        Ok(Mssp {
            ca_pem: ca.pem(),
            key,
        })
    }

    pub fn key_pem(&self) -> zeroize::Zeroizing<String> {
        zeroize::Zeroizing::new(self.key.serialize_pem())
    }

    /// The CA certificate, PEM, for the kiosks' trust anchors.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A key and certificate for one subscriber, a person (`cccd:…`,
    /// `cmnd:…`) or an organisation (`mst:…`, whose `full_name` is its
    /// name): PKCS#8 DER of the key, DER of the certificate.
    pub fn issue(&self, full_name: &str, personal_id: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|e| e.to_string())?;
        let key = KeyPair::try_from(pkcs8.as_ref()).map_err(|e| e.to_string())?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, full_name);
        let uid = match personal_id.split_once(':') {
            Some((kind, digits)) => format!("{}:{digits}", kind.to_ascii_uppercase()),
            None => personal_id.to_string(),
        };
        params
            .distinguished_name
            .push(DnType::CustomDnType(UID.to_vec()), uid);
        if let Some(("mst", tax_code)) = personal_id.split_once(':') {
            params
                .distinguished_name
                .push(DnType::OrganizationName, full_name);
            params.distinguished_name.push(
                DnType::CustomDnType(ORGANIZATION_IDENTIFIER.to_vec()),
                format!("VATVN-{tax_code}"),
            );
        }
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        // Valid from this year's start for three years, as a carrier's SIM
        // certificate would be (rcgen's default runs to the year 4096).
        let year = 1970
            + std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() / 31_556_952)
                .unwrap_or(0) as i32;
        params.not_before = rcgen::date_time_ymd(year, 1, 1);
        params.not_after = rcgen::date_time_ymd(year + 3, 1, 1);
        let issuer = Issuer::new(ca_params(), &self.key);
        let cert = params.signed_by(&key, &issuer).map_err(|e| e.to_string())?;
        Ok((pkcs8.as_ref().to_vec(), cert.der().to_vec()))
    }

    /// What the SIM answers when its holder confirms: ECDSA P-256 over
    /// SHA-256 of `message`, raw `r‖s`.
    pub fn sign(pkcs8: &[u8], message: &[u8]) -> Result<Vec<u8>, String> {
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|e| e.to_string())?;
        key.sign(&rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|e| e.to_string())
    }
}
