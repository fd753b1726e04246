//! What intake believes of a registration. Not the kiosk's word: the level
//! an account opens at and the checks it passes come from the method, the
//! portal's own policy and the evidence sealed inside — the certificate
//! and the signature that proved its holder was there, the BHXH record,
//! the subscriber register. A check the portal does not know is never
//! taken as passed.
//!
//! The CAs the portal trusts for USB tokens are a directory of
//! certificates, and their revocation lists another, re-read whenever a
//! file in it changes (an operator's job drops fresh lists there). A token
//! certificate whose status is not known from a current list is refused.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kiosk_pki::cert::{CertInfo, Scheme, SubjectId, TrustAnchors};
use kiosk_pki::crl::{Revocations, Status};
use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

use kiosk_sync::{IdentityKind, IdentityRef, RegistrationPayload, TOKEN_PROOF_CONTEXT};

use crate::checks::{bhxh_match_in, subscriber_owner_in};
use crate::{Portal, PortalError};

/// The checks a kiosk may leave pending that this portal runs.
const KNOWN_CHECKS: [&str; 4] = [
    "global_duplicate",
    "subscriber_ownership",
    "bhxh_match",
    "certificate_revocation",
];

/// How a method is offered, from the portal's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MethodRule {
    enabled: bool,
    subjects: Vec<String>,
    level: u8,
    /// The level when the chip of the citizen's CCCD card, verified here,
    /// gave the identity; `None` where the method does not take it.
    chip_level: Option<u8>,
}

/// The methods as the manual describes them, until a published policy
/// says otherwise.
pub(crate) fn built_in_methods() -> HashMap<String, MethodRule> {
    let rule = |subjects: &[&str], level, chip_level| MethodRule {
        enabled: true,
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        level,
        chip_level,
    };
    HashMap::from([
        ("mobile_subscriber".into(), rule(&["citizen"], 1, Some(2))),
        ("bhxh".into(), rule(&["citizen"], 2, Some(2))),
        (
            "sim_signature".into(),
            rule(&["citizen", "business"], 3, None),
        ),
        ("usb_token".into(), rule(&["citizen", "business"], 3, None)),
        // At a post-office counter: the chip is the identity, the clerk
        // checked the face.
        ("counter".into(), rule(&["citizen"], 3, Some(3))),
    ])
}

/// The `[methods.*]` tables of a policy document; `None` when it has none
/// that read.
pub(crate) fn methods_of_policy(document: &str) -> Option<HashMap<String, MethodRule>> {
    let table: toml::Table = document.parse().ok()?;
    let methods = table.get("methods")?.as_table()?;
    let rules: HashMap<String, MethodRule> = methods
        .iter()
        .filter_map(|(name, m)| {
            let m = m.as_table()?;
            Some((
                name.clone(),
                MethodRule {
                    enabled: m.get("enabled")?.as_bool()?,
                    subjects: m
                        .get("subjects")?
                        .as_array()?
                        .iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect(),
                    level: u8::try_from(m.get("level")?.as_integer()?).ok()?,
                    chip_level: m
                        .get("chip_level")
                        .and_then(toml::Value::as_integer)
                        .and_then(|l| u8::try_from(l).ok()),
                },
            ))
        })
        .collect();
    (!rules.is_empty()).then_some(rules)
}

/// The CAs intake trusts, and the revocation lists of the token CAs.
#[derive(Debug, Default)]
pub(crate) struct Trust {
    token_cas: TrustAnchors,
    crl_dir: Option<PathBuf>,
    /// What the directory held when last read: names, times, sizes.
    crl_stamp: Option<Vec<(PathBuf, Option<SystemTime>, u64)>>,
    revocations: Revocations,
    crl_problems: Vec<String>,
    signature_cas: TrustAnchors,
    /// The Country Signing CAs whose Document Signers sign CCCD chips.
    pub(crate) cscas: TrustAnchors,
}

fn stamp(dir: &Path) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((e.path(), meta.modified().ok(), meta.len()))
        })
        .collect();
    files.sort();
    files
}

/// A revocation list as the admin sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlSummary {
    pub issuer: Option<String>,
    pub this_update: i64,
    pub next_update: Option<i64>,
    pub revoked: usize,
}

/// What the portal can say of a certificate now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateVerdict {
    Good,
    Revoked {
        at: i64,
    },
    /// Its revocation status is not known (no current list).
    Unknown(String),
    /// It does not chain to a CA the portal trusts, or cannot be read.
    Untrusted(String),
}

impl Portal {
    /// Trusts the token CAs in `ca_dir` and their revocation lists in
    /// `crl_dir` (read now and again whenever a file there changes).
    /// Answers the list files that could not be used, and why.
    pub fn trust_token_cas(
        &mut self,
        ca_dir: &Path,
        crl_dir: &Path,
    ) -> Result<Vec<String>, PortalError> {
        self.trust.token_cas = TrustAnchors::load(ca_dir).map_err(PortalError::Trust)?;
        self.trust.crl_dir = Some(crl_dir.to_path_buf());
        self.trust.crl_stamp = None;
        Ok(self.refresh_revocations())
    }

    /// Trusts the Country Signing CAs in `dir` (the CSCA list) to prove the
    /// chips of CCCD cards; answers how many there are.
    pub fn trust_cscas(&mut self, dir: &Path) -> Result<usize, PortalError> {
        self.trust.cscas = TrustAnchors::load(dir).map_err(PortalError::Trust)?;
        Ok(self.trust.cscas.len())
    }

    /// Trusts the mobile-signature CA with this certificate (DER or PEM).
    pub fn trust_signature_ca(&mut self, certificate: &[u8]) -> Result<(), PortalError> {
        let ca = CertInfo::parse_pem_or_der(certificate)
            .map_err(|e| PortalError::Trust(format!("the signature CA: {e}")))?;
        self.trust.signature_cas = TrustAnchors::from_certificates(vec![ca]);
        Ok(())
    }

    /// Re-reads the revocation lists if their directory changed; answers
    /// the files that could not be used.
    pub fn refresh_revocations(&mut self) -> Vec<String> {
        let Some(dir) = self.trust.crl_dir.clone() else {
            return Vec::new();
        };
        let now = stamp(&dir);
        if self.trust.crl_stamp.as_ref() != Some(&now) {
            let (lists, problems) = Revocations::load(&dir, self.trust.token_cas.anchors());
            for p in &problems {
                tracing::warn!(problem = %p, "revocation list not used");
            }
            self.trust.revocations = lists;
            self.trust.crl_problems = problems;
            self.trust.crl_stamp = Some(now);
        }
        self.trust.crl_problems.clone()
    }

    /// The revocation lists in use, for the admin.
    pub fn revocation_lists(&mut self) -> Vec<CrlSummary> {
        self.refresh_revocations();
        self.trust
            .revocations
            .lists()
            .iter()
            .map(|l| CrlSummary {
                issuer: l.issuer_name.clone(),
                this_update: l.this_update,
                next_update: l.next_update,
                revoked: l.len(),
            })
            .collect()
    }

    /// A USB token certificate (DER) as the portal judges it at `now`:
    /// chained to a trusted token CA, then looked up in that CA's current
    /// revocation list.
    pub fn certificate_status(&mut self, der: &[u8], now: i64) -> CertificateVerdict {
        self.refresh_revocations();
        match good_token_certificate(&self.trust, der, now) {
            Ok(_) => CertificateVerdict::Good,
            Err(NotGood::Revoked { at }) => CertificateVerdict::Revoked { at },
            Err(NotGood::Unknown(why)) => CertificateVerdict::Unknown(why),
            Err(NotGood::Untrusted(why)) => CertificateVerdict::Untrusted(why),
        }
    }
}

/// Why a token certificate is not good.
enum NotGood {
    Revoked { at: i64 },
    Unknown(String),
    Untrusted(String),
}

/// A token certificate that chains to a trusted CA and is not revoked by
/// that CA's current list; otherwise what is wrong with it.
fn good_token_certificate(trust: &Trust, der: &[u8], now: i64) -> Result<CertInfo, NotGood> {
    let cert = CertInfo::parse(der)
        .map_err(|_| NotGood::Untrusted("the certificate cannot be read".into()))?;
    trust
        .token_cas
        .verify(&cert, &[], now)
        .map_err(|e| NotGood::Untrusted(e.to_string()))?;
    match trust.revocations.status(&cert, now) {
        Status::Good => Ok(cert),
        Status::Revoked { at } => Err(NotGood::Revoked { at }),
        Status::Unknown(why) => Err(NotGood::Unknown(why.to_string())),
    }
}

/// What intake does with a registration.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Open an account (unless one exists under this identity or one of
    /// the others it is proven to have had) at this level.
    Open {
        identity: IdentityRef,
        level: u8,
        also: Vec<IdentityRef>,
    },
    /// Refused for good, with a reason that quotes nothing from the payload.
    Reject(String),
    /// Nothing recorded; the kiosk keeps it until the portal can decide.
    Hold(String),
}

/// The identity an account is unique by, from what the kiosk sealed.
fn claimed_identity(p: &RegistrationPayload) -> Option<IdentityRef> {
    let (kind, value) = if let (Some(kind), Some(id)) = (&p.personal_id_kind, &p.personal_id) {
        (
            IdentityKind::parse(kind).filter(|k| k.is_personal_id())?,
            id,
        )
    } else if let Some(mst) = &p.tax_code {
        (IdentityKind::Mst, mst)
    } else {
        (IdentityKind::Bhxh, p.bhxh_code.as_ref()?)
    };
    IdentityRef::new(kind, value).ok()
}

/// Whether `cert` names the applicant the payload is for: a citizen by
/// CCCD/CMND (or a bare UID, as some CAs write it), a business by tax code.
fn certificate_names(cert: &CertInfo, identity: &IdentityRef) -> bool {
    cert.identifiers.iter().any(|i| {
        let (kind, value) = match i {
            SubjectId::Cccd(v) => (IdentityKind::Cccd, v),
            SubjectId::Cmnd(v) => (IdentityKind::Cmnd, v),
            SubjectId::Bare(v) if identity.kind().is_personal_id() => (identity.kind(), v),
            SubjectId::Mst(v) => (IdentityKind::Mst, v),
            _ => return false,
        };
        IdentityRef::new(kind, value).is_ok_and(|named| named == *identity)
    })
}

/// The proof a signature method carries, decoded and checked against
/// `cert`: `None` when it verifies, else the reason.
fn proof_problem(p: &RegistrationPayload, cert: &CertInfo, token: bool) -> Option<&'static str> {
    let Some(proof) = &p.proof else {
        return Some("no signature proves the certificate's holder was there");
    };
    let (Ok(challenge), Ok(signature), Some(scheme)) = (
        B64.decode(&proof.challenge),
        B64.decode(&proof.signature),
        Scheme::parse(&proof.scheme),
    ) else {
        return Some("the signature proof cannot be read");
    };
    if token
        && !(challenge.starts_with(TOKEN_PROOF_CONTEXT)
            && challenge.len() >= TOKEN_PROOF_CONTEXT.len() + 32)
    {
        return Some("the token signed something other than a kiosk's challenge");
    }
    if !cert.public_key.verify(scheme, &challenge, &signature) {
        return Some("the signature proof does not verify with the certificate");
    }
    None
}

/// Records a proof's signature as used; false if it was used before (a
/// proof copied into a second registration).
fn spend_proof(conn: &Connection, p: &RegistrationPayload, now: i64) -> Result<bool, PortalError> {
    let signature = p.proof.as_ref().map(|x| x.signature.as_str()).unwrap_or("");
    let hash = Sha256::digest(signature.as_bytes()).to_vec();
    Ok(conn.execute(
        "INSERT INTO spent_proofs (signature_hash, registration_id, at) VALUES (?1, ?2, ?3)
         ON CONFLICT (signature_hash) DO NOTHING",
        params![hash, p.registration_id, now],
    )? == 1)
}

/// Decides a registration from its method, the policy and its evidence.
pub(crate) fn decide(
    conn: &Connection,
    trust: &Trust,
    methods: &HashMap<String, MethodRule>,
    p: &RegistrationPayload,
    now: i64,
) -> Result<Decision, PortalError> {
    use Decision::{Hold, Reject};
    if let Some(unknown) = p
        .pending
        .iter()
        .find(|c| !KNOWN_CHECKS.contains(&c.as_str()))
    {
        // Fail closed: a check nobody here runs has not passed. The name
        // is the kiosk's own vocabulary, not personal data.
        let name: String = unknown
            .chars()
            .filter(|c| c.is_ascii_lowercase() || *c == '_')
            .take(40)
            .collect();
        return Ok(Hold(format!(
            "the kiosk asks for a check this portal does not run ({name})"
        )));
    }
    let Some(rule) = methods.get(&p.method) else {
        return Ok(Reject("unknown registration method".into()));
    };
    if !rule.enabled || !rule.subjects.contains(&p.subject) {
        return Ok(Reject(
            "the method is not offered to this kind of applicant".into(),
        ));
    }
    // The signature methods' SIM or token is their login; every other
    // account is entered with the password set at the kiosk.
    if p.password_hash.is_none() && !matches!(p.method.as_str(), "sim_signature" | "usb_token") {
        return Ok(Reject(
            "no password for an account with no other way in".into(),
        ));
    }
    let Some(claimed) = claimed_identity(p) else {
        return Ok(Reject("no identity to open an account for".into()));
    };
    let applicant = claimed.clone();
    let identity = match p.method.as_str() {
        "mobile_subscriber" => {
            let Some(phone) = &p.phone else {
                return Ok(Reject("no mobile number".into()));
            };
            if !claimed.kind().is_personal_id() {
                return Ok(Reject("no personal ID".into()));
            }
            if subscriber_owner_in(conn, phone, &claimed)? == Some(false) {
                return Ok(Reject(
                    "the mobile number is registered to someone else".into(),
                ));
            }
            claimed
        }
        "bhxh" => {
            let (Some(code), Some(name), Some(dob)) =
                (&p.bhxh_code, &p.full_name, &p.date_of_birth)
            else {
                return Ok(Reject("BHXH data missing".into()));
            };
            let Some(record) = bhxh_match_in(conn, code, name, dob)? else {
                return Ok(Reject("BHXH data did not match".into()));
            };
            // With the chip, the record may be under the old CMND the chip
            // proves: checked with the chip below.
            if claimed.kind().is_personal_id() && claimed != record && p.chip.is_none() {
                return Ok(Reject("the personal ID is not the BHXH record's".into()));
            }
            // The account is the person's, whatever the kiosk knew.
            record
        }
        method @ ("sim_signature" | "usb_token") => {
            let token = method == "usb_token";
            let Some(der) = p.certificate.as_deref().and_then(|c| B64.decode(c).ok()) else {
                return Ok(Reject("no certificate".into()));
            };
            let cert = if token {
                match good_token_certificate(trust, &der, now) {
                    Ok(cert) => cert,
                    Err(NotGood::Revoked { .. }) => {
                        return Ok(Reject("the certificate has been revoked".into()));
                    }
                    Err(NotGood::Unknown(why)) => {
                        return Ok(Reject(format!(
                            "the certificate's revocation status is unknown: {why}"
                        )));
                    }
                    Err(NotGood::Untrusted(why)) => {
                        return Ok(Reject(format!("certificate: {why}")));
                    }
                }
            } else {
                let Ok(cert) = CertInfo::parse(&der) else {
                    return Ok(Reject("the certificate cannot be read".into()));
                };
                // The portal's own signing service checked the SIM's
                // certificate when it signed; its CA is the anchor.
                if let Err(e) = trust.signature_cas.verify(&cert, &[], now) {
                    return Ok(Reject(format!("certificate: {e}")));
                }
                cert
            };
            if !certificate_names(&cert, &claimed) {
                return Ok(Reject(
                    "the certificate names someone other than the applicant".into(),
                ));
            }
            if let Some(problem) = proof_problem(p, &cert, token) {
                return Ok(Reject(problem.into()));
            }
            if !spend_proof(conn, p, now)? {
                return Ok(Reject(
                    "the signature proof was already used by another registration".into(),
                ));
            }
            claimed
        }
        "counter" => {
            // The chip is checked below like any chip; the counter's own
            // proof is the clerk who compared the person with the card.
            if p.chip.is_none() {
                return Ok(Reject(
                    "a counter registration without the ID card's chip".into(),
                ));
            }
            match &p.counter {
                Some(c) if valid_clerk_id(&c.clerk_id) && c.face_confirmed => {}
                Some(c) if !c.face_confirmed => {
                    return Ok(Reject("the clerk did not confirm the face".into()));
                }
                _ => return Ok(Reject("a counter registration names no clerk".into())),
            }
            if p.phone.is_none() {
                return Ok(Reject("no mobile number".into()));
            }
            claimed
        }
        _ => return Ok(Reject("unknown registration method".into())),
    };
    if p.method != "counter" && p.counter.is_some() {
        return Ok(Reject(
            "a clerk is named by a registration not made at a counter".into(),
        ));
    }
    let (identity, level, also) = match &p.chip {
        None => (identity, rule.level, Vec::new()),
        Some(evidence) => {
            let Some(chip_level) = rule.chip_level else {
                return Ok(Reject("the method does not take the ID card's chip".into()));
            };
            if trust.cscas.is_empty() {
                return Ok(Hold(HELD_NO_CSCA.into()));
            }
            match chip_identities(evidence, &trust.cscas, now) {
                Err(step) => {
                    return Ok(Reject(format!(
                        "the ID card's chip does not verify (step: {step})"
                    )));
                }
                Ok(ids) if !ids.contains(&identity) || ids.first() != Some(&applicant) => {
                    return Ok(Reject(
                        "the ID card's chip names someone other than the applicant".into(),
                    ));
                }
                // The account is the card's number; the old CMND finds one
                // opened with it.
                Ok(mut ids) => {
                    let card = ids.remove(0);
                    (card, chip_level.max(rule.level), ids)
                }
            }
        }
    };
    Ok(Decision::Open {
        identity,
        level,
        also,
    })
}

/// A staff code as the kiosks' configuration allows it: 2 to 32 of A-Z,
/// 0-9 and `-`.
pub(crate) fn valid_clerk_id(id: &str) -> bool {
    (2..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

/// What the chip sealed with a counter's complaint or password reset says
/// of `identity`.
pub(crate) enum ChipProof {
    /// Genuine, and it names `identity`: every number it proves.
    Proves(Vec<IdentityRef>),
    /// The portal cannot verify any chip yet: the kiosk keeps it.
    NoCscaList,
    /// Why it proves nothing, in fixed words (they reach the kiosk).
    Refused(String),
}

/// Verifies `evidence` against the portal's CSCA list and checks that it
/// names `identity` (`whose` words the refusal: "the account's holder").
pub(crate) fn chip_proof(
    evidence: &kiosk_sync::ChipEvidence,
    identity: &IdentityRef,
    whose: &str,
    trust: &Trust,
    now: i64,
) -> ChipProof {
    if trust.cscas.is_empty() {
        return ChipProof::NoCscaList;
    }
    match chip_identities(evidence, &trust.cscas, now) {
        Err(step) => {
            ChipProof::Refused(format!("the ID card's chip does not verify (step: {step})"))
        }
        Ok(ids) if !ids.contains(identity) => ChipProof::Refused(format!(
            "the ID card's chip names someone other than {whose}"
        )),
        Ok(ids) => ChipProof::Proves(ids),
    }
}

/// The hold when the portal has no CSCA list yet.
pub(crate) const HELD_NO_CSCA: &str = "the portal has no CSCA list to verify the ID card's chip";

/// Passive authentication of the chip's files as the kiosk read them,
/// against the portal's own CSCA list: the card's number first, then the
/// old CMND its DG13 names. `Err` names the step that failed.
fn chip_identities(
    evidence: &kiosk_sync::ChipEvidence,
    cscas: &TrustAnchors,
    now: i64,
) -> Result<Vec<IdentityRef>, &'static str> {
    let sod = B64.decode(&evidence.sod).map_err(|_| "sod")?;
    let mut dgs = std::collections::BTreeMap::new();
    for g in &evidence.data_groups {
        dgs.insert(g.number, B64.decode(&g.content).map_err(|_| "data")?);
    }
    let verified = kiosk_pki::emrtd::verify(&sod, &dgs, cscas, now).map_err(|f| f.step())?;
    let dg13 = verified.dg13.ok_or("data")?;
    let number = dg13.id_number().ok_or("data")?;
    let mut ids = vec![IdentityRef::new(IdentityKind::Cccd, number).map_err(|_| "data")?];
    if let Some(old) = dg13.old_id() {
        ids.push(IdentityRef::new(IdentityKind::Cmnd, old).map_err(|_| "data")?);
    }
    Ok(ids)
}
