//! X.509 revocation lists (RFC 5280 §5): read, their signature checked
//! against the CA that issued them, kept only while fresh, and asked about
//! one certificate.
//!
//! The answer is three-valued. A certificate is `Good` only when a current
//! list from its own issuer does not name it; a list that is missing, out
//! of date (past its `nextUpdate`) or carries a critical extension this
//! code does not understand (delta lists, indirect lists, partitioned
//! lists) gives `Unknown`, never `Good`: whoever asks must fail closed.

use std::collections::HashMap;
use std::path::Path;

use der::{Decode, Encode};
use x509_cert::crl::CertificateList;

use crate::cert::CertInfo;

/// What a revocation list may carry, critical or not, and still be used:
/// authorityKeyIdentifier and cRLNumber on the list, reasonCode and
/// invalidityDate on its entries.
const UNDERSTOOD_LIST_EXTENSIONS: [&str; 2] = ["2.5.29.35", "2.5.29.20"];
const UNDERSTOOD_ENTRY_EXTENSIONS: [&str; 2] = ["2.5.29.21", "2.5.29.24"];

/// Why a revocation list file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlProblem {
    #[error("not a revocation list")]
    Malformed,
    #[error("signed by no trusted CA")]
    Untrusted,
    #[error("carries a critical extension this portal does not understand")]
    UnknownCritical,
}

/// A revocation list whose signature verified against a trusted CA.
#[derive(Debug, Clone)]
pub struct RevocationList {
    /// The issuing CA.
    issuer: CertInfo,
    /// The issuing CA's common name, for the admin.
    pub issuer_name: Option<String>,
    /// Unix seconds.
    pub this_update: i64,
    pub next_update: Option<i64>,
    /// Serial number → revocation time.
    revoked: HashMap<Vec<u8>, i64>,
}

impl RevocationList {
    /// Reads a list (DER, or PEM `X509 CRL`) and checks its signature
    /// against one of `issuers` that may sign lists.
    pub fn parse(bytes: &[u8], issuers: &[CertInfo]) -> Result<RevocationList, CrlProblem> {
        let list: CertificateList = if bytes.starts_with(b"-----BEGIN") {
            use der::DecodePem as _;
            CertificateList::from_pem(bytes).map_err(|_| CrlProblem::Malformed)?
        } else {
            CertificateList::from_der(bytes).map_err(|_| CrlProblem::Malformed)?
        };
        let tbs = &list.tbs_cert_list;
        let critical_unknown = |extensions: &Option<x509_cert::ext::Extensions>, known: &[&str]| {
            extensions.as_ref().is_some_and(|e| {
                e.iter()
                    .any(|x| x.critical && !known.contains(&x.extn_id.to_string().as_str()))
            })
        };
        if critical_unknown(&tbs.crl_extensions, &UNDERSTOOD_LIST_EXTENSIONS)
            || tbs
                .revoked_certificates
                .iter()
                .flatten()
                .any(|r| critical_unknown(&r.crl_entry_extensions, &UNDERSTOOD_ENTRY_EXTENSIONS))
        {
            return Err(CrlProblem::UnknownCritical);
        }
        let tbs_der = tbs.to_der().map_err(|_| CrlProblem::Malformed)?;
        let signature = list.signature.as_bytes().ok_or(CrlProblem::Malformed)?;
        let issuer = issuers
            .iter()
            .find(|ca| {
                *ca.subject_name() == tbs.issuer
                    && ca.crl_sign_usage
                    && ca.ca != Some(false)
                    && ca.public_key.verify_certificate(
                        &list.signature_algorithm.oid,
                        &tbs_der,
                        signature,
                    )
            })
            .ok_or(CrlProblem::Untrusted)?;
        let secs = |t: &x509_cert::time::Time| t.to_unix_duration().as_secs() as i64;
        Ok(RevocationList {
            issuer: issuer.clone(),
            issuer_name: issuer.common_name.clone(),
            this_update: secs(&tbs.this_update),
            next_update: tbs.next_update.as_ref().map(secs),
            revoked: tbs
                .revoked_certificates
                .iter()
                .flatten()
                .map(|r| {
                    (
                        r.serial_number.as_bytes().to_vec(),
                        secs(&r.revocation_date),
                    )
                })
                .collect(),
        })
    }

    /// How many certificates it names.
    pub fn len(&self) -> usize {
        self.revoked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.revoked.is_empty()
    }

    /// Whether it may still be relied on at `now`. A list without
    /// `nextUpdate` is never trusted as current.
    pub fn is_current(&self, now: i64) -> bool {
        self.this_update <= now && self.next_update.is_some_and(|n| now <= n)
    }
}

/// A certificate's revocation status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A current list from its issuer does not name it.
    Good,
    /// Named by its issuer's list, revoked at this time (Unix seconds).
    Revoked { at: i64 },
    /// Nothing current to go by.
    Unknown(Unknown),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unknown {
    #[error("no revocation list from the certificate's issuer")]
    NoList,
    #[error("the issuer's revocation list is out of date")]
    Stale,
}

/// The revocation lists a portal holds, by issuing CA.
#[derive(Debug, Clone, Default)]
pub struct Revocations {
    lists: Vec<RevocationList>,
}

impl Revocations {
    /// Reads every file in `dir` as a revocation list signed by one of
    /// `issuers`; answers the lists that verified and, by file name, why
    /// the others did not.
    pub fn load(dir: &Path, issuers: &[CertInfo]) -> (Revocations, Vec<String>) {
        let mut lists = Vec::new();
        let mut problems = Vec::new();
        let mut paths: Vec<_> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return (
                    Revocations::default(),
                    vec![format!("{}: {e}", dir.display())],
                );
            }
        };
        paths.sort();
        for path in paths {
            match std::fs::read(&path) {
                Ok(bytes) => match RevocationList::parse(&bytes, issuers) {
                    Ok(list) => lists.push(list),
                    Err(e) => problems.push(format!("{}: {e}", path.display())),
                },
                Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
        }
        (Revocations { lists }, problems)
    }

    pub fn lists(&self) -> &[RevocationList] {
        &self.lists
    }

    /// The status of `cert` at `now`, from the newest list of the CA that
    /// signed it (name and signature both, so a CA with the same name
    /// cannot speak for another).
    pub fn status(&self, cert: &CertInfo, now: i64) -> Status {
        let newest = self
            .lists
            .iter()
            .filter(|l| {
                *cert.issuer_name() == *l.issuer.subject_name() && cert.issued_by(&l.issuer)
            })
            .max_by_key(|l| l.this_update);
        let Some(list) = newest else {
            return Status::Unknown(Unknown::NoList);
        };
        if !list.is_current(now) {
            return Status::Unknown(Unknown::Stale);
        }
        match list.revoked.get(cert.serial()) {
            Some(&at) => Status::Revoked { at },
            None => Status::Good,
        }
    }
}
