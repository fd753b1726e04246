//! The runtime's answer to [`Effect::ProveToken`]: a fresh challenge
//! signed on the token, the certificate checked against the trust anchors at
//! the kiosk's time, and its subject read into the domain's types.
//!
//! [`Effect::ProveToken`]: crate::flow::Effect::ProveToken

use kiosk_hal::token::cert::{CertInfo, CertProblem, Holder, Scheme, SubjectId, TrustAnchors};
use kiosk_hal::token::pkcs11::{TokenError, TokenRef, prove_possession};
use rand::Rng as _;
use secrecy::SecretString;
use time::OffsetDateTime;

use crate::domain::{BusinessName, Mst, PersonName, PersonalId, Pin, SubjectKind};
use crate::flow::{CertifiedIdentity, TokenOutcome, TokenProblem};
use crate::policy::Policy;

fn problem(p: CertProblem) -> TokenProblem {
    match p {
        CertProblem::Expired => TokenProblem::CertificateExpired,
        CertProblem::NotYetValid => TokenProblem::CertificateNotYetValid,
        CertProblem::WrongUsage => TokenProblem::CertificateWrongUsage,
        CertProblem::Untrusted | CertProblem::Malformed | CertProblem::UnsupportedKey => {
            TokenProblem::CertificateUntrusted
        }
    }
}

/// Reads who a certificate names, in the domain's validated types.
/// Identifiers that do not validate are left out, so the flow refuses a
/// certificate that names no usable CCCD/CMND or tax code.
pub fn identity(cert: &CertInfo, policy: &Policy, now: OffsetDateTime) -> CertifiedIdentity {
    let year = now.year();
    let subject = match cert.holder {
        Holder::Organization => SubjectKind::Business,
        Holder::Person => SubjectKind::Citizen,
    };
    let personal_id = cert.identifiers.iter().find_map(|i| match i {
        SubjectId::Cccd(v) | SubjectId::Cmnd(v) | SubjectId::Bare(v) => {
            PersonalId::parse(v, &policy.identifiers, year).ok()
        }
        _ => None,
    });
    let mst = cert.identifiers.iter().find_map(|i| match i {
        SubjectId::Mst(v) => Mst::parse(v).ok(),
        _ => None,
    });
    let business_name = match subject {
        SubjectKind::Business => cert
            .organization
            .as_deref()
            .or(cert.common_name.as_deref())
            .and_then(|n| BusinessName::parse(n, &policy.person).ok()),
        SubjectKind::Citizen => None,
    };
    CertifiedIdentity {
        subject,
        // An organisation's certificate names it in CN too; a person's
        // name there is its representative's.
        person_name: cert
            .common_name
            .as_deref()
            .filter(|cn| {
                subject == SubjectKind::Citizen || cert.organization.as_deref() != Some(*cn)
            })
            .and_then(|n| PersonName::parse(n, &policy.person).ok()),
        business_name,
        personal_id,
        mst,
        issuer: cert.issuer_common_name.clone().unwrap_or_default(),
        valid_until: OffsetDateTime::from_unix_timestamp(cert.not_after).unwrap_or(now),
        certificate: cert.der.clone(),
        proof: None,
        not_revoked: false,
    }
}

/// Logs in with `pin`, proves possession of the key behind the
/// certificate, and checks the certificate; the PIN reaches only the token.
pub fn prove(
    token: &TokenRef,
    pin: &Pin,
    anchors: &TrustAnchors,
    policy: &Policy,
    now: OffsetDateTime,
) -> TokenOutcome {
    let mut challenge = kiosk_sync::TOKEN_PROOF_CONTEXT.to_vec();
    let mut fresh = [0u8; 32];
    rand::rng().fill_bytes(&mut fresh);
    challenge.extend_from_slice(&fresh);
    let secret = SecretString::from(pin.expose().to_string());
    let proof = match prove_possession(token, &secret, &challenge, Scheme::RsaPkcs1Sha256) {
        Ok(p) => p,
        Err(TokenError::WrongPin(state)) => {
            return TokenOutcome::WrongPin {
                count_low: state.count_low,
                final_try: state.final_try,
            };
        }
        Err(TokenError::PinLocked) => return TokenOutcome::Problem(TokenProblem::PinLocked),
        Err(TokenError::NoCertificate | TokenError::NoMatchingKey) => {
            return TokenOutcome::Problem(TokenProblem::NoMatchingKey);
        }
        // Removed, an unresponsive token or module: the citizen reinserts it.
        Err(TokenError::Removed | TokenError::Pkcs11(_) | TokenError::Module(_)) => {
            return TokenOutcome::Removed;
        }
    };
    if let Err(p) = anchors.verify(&proof.certificate, &proof.others, now.unix_timestamp()) {
        return TokenOutcome::Problem(problem(p));
    }
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut identity = identity(&proof.certificate, policy, now);
    identity.proof = Some(kiosk_sync::PossessionProof {
        challenge: b64(&challenge),
        signature: b64(&proof.signature),
        scheme: proof.scheme.name().into(),
    });
    TokenOutcome::Proven(Box::new(identity))
}

/// What a mobile-signature session ended with, for the flow: a signature
/// over `display_text` that verifies with a certificate chaining to the
/// kiosk's anchors, read into the domain's types; or why not.
pub fn mobile_signature_outcome(
    session: &kiosk_sync::api::SignatureSession,
    display_text: &str,
    anchors: Option<&TrustAnchors>,
    policy: &Policy,
    now: OffsetDateTime,
) -> crate::flow::SignatureOutcome {
    use crate::flow::{SignatureOutcome, SignatureProblem};
    use base64::Engine as _;
    use kiosk_sync::api::SignatureState;
    let failed = SignatureOutcome::Failed;
    match session.state {
        SignatureState::Signed => {}
        SignatureState::Refused => return failed(SignatureProblem::UserCancelled),
        SignatureState::Expired => return failed(SignatureProblem::Expired),
        SignatureState::NoSignatureSim => return failed(SignatureProblem::NoSignatureSim),
        SignatureState::PinBlocked => return failed(SignatureProblem::PinBlocked),
        SignatureState::Pending | SignatureState::Cancelled => {
            return failed(SignatureProblem::ServiceUnavailable);
        }
    }
    let b64 = |s: &Option<String>| {
        s.as_deref()
            .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
    };
    let (Some(der), Some(signature), Some(anchors)) =
        (b64(&session.certificate), b64(&session.signature), anchors)
    else {
        return failed(SignatureProblem::InvalidSignature);
    };
    let scheme = match session.scheme.as_deref() {
        Some("ecdsa-p256-sha256") => Scheme::Ecdsa,
        Some("rsa-pkcs1-sha256") => Scheme::RsaPkcs1Sha256,
        _ => return failed(SignatureProblem::InvalidSignature),
    };
    let Ok(cert) = CertInfo::parse(&der) else {
        return failed(SignatureProblem::InvalidSignature);
    };
    if anchors.verify(&cert, &[], now.unix_timestamp()).is_err()
        || !cert
            .public_key
            .verify(scheme, display_text.as_bytes(), &signature)
    {
        return failed(SignatureProblem::InvalidSignature);
    }
    let mut identity = identity(&cert, policy, now);
    // The portal checks the same signature again; it trusts no kiosk's word.
    identity.proof = Some(kiosk_sync::PossessionProof {
        challenge: base64::engine::general_purpose::STANDARD.encode(display_text),
        signature: base64::engine::general_purpose::STANDARD.encode(&signature),
        scheme: scheme.name().into(),
    });
    SignatureOutcome::Signed(Box::new(identity))
}

/// The kiosk's USB token reader as the runtime uses it: the PKCS#11
/// modules watched on their own thread, and the CAs certificates must
/// chain to.
#[derive(Debug)]
pub struct TokenService {
    watcher: kiosk_hal::token::watch::TokenWatcher,
    anchors: TrustAnchors,
    /// Only tokens with this label count (the demo's, among test tokens).
    label: Option<String>,
}

impl TokenService {
    /// Watches `modules` (twice a second) and trusts the CAs in `anchors`.
    pub fn start(
        modules: Vec<std::path::PathBuf>,
        anchors: TrustAnchors,
        label: Option<String>,
    ) -> TokenService {
        TokenService {
            watcher: kiosk_hal::token::watch::TokenWatcher::spawn(
                modules,
                std::time::Duration::from_millis(500),
            ),
            anchors,
            label,
        }
    }

    /// The tokens in the reader now.
    pub fn present(&self) -> Vec<TokenRef> {
        self.watcher
            .tokens()
            .into_iter()
            .filter(|t| self.label.as_ref().is_none_or(|l| &t.label == l))
            .collect()
    }

    /// Proves possession with the first token present; `Removed` when
    /// there is none.
    pub fn prove(&self, pin: &Pin, policy: &Policy, now: OffsetDateTime) -> TokenOutcome {
        match self.present().first() {
            Some(token) => prove(token, pin, &self.anchors, policy, now),
            None => TokenOutcome::Removed,
        }
    }
}
