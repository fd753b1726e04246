//! Tokens through their PKCS#11 modules (the CA's vendor driver, OpenSC,
//! SoftHSM in tests): find tokens, log in with the PIN, and prove possession
//! of the key behind a certificate by signing a fresh challenge.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use secrecy::SecretString;

use super::cert::{CertInfo, PublicKey, Scheme};

/// One loaded module per path per process: a second `C_Initialize` fails
/// with `CKR_CRYPTOKI_ALREADY_INITIALIZED`, so every user shares it.
fn module(path: &Path) -> Result<Arc<Pkcs11>, TokenError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Pkcs11>>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(m) = modules.get(path) {
        return Ok(Arc::clone(m));
    }
    let pkcs11 =
        Pkcs11::new(path).map_err(|e| TokenError::Module(format!("{}: {e}", path.display())))?;
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(TokenError::Module(format!("{}: {e}", path.display()))),
    }
    let pkcs11 = Arc::new(pkcs11);
    modules.insert(path.to_path_buf(), Arc::clone(&pkcs11));
    Ok(pkcs11)
}

/// One lock per token: module and slot.
type TokenLocks = Mutex<HashMap<(PathBuf, u64), Arc<Mutex<()>>>>;

fn token_lock(token: &TokenRef) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<TokenLocks> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    Arc::clone(
        locks
            .entry((token.module.clone(), token.slot.id()))
            .or_default(),
    )
}

/// What a token's PIN flags say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PinState {
    /// CKF_USER_PIN_COUNT_LOW: a wrong PIN was entered recently.
    pub count_low: bool,
    /// CKF_USER_PIN_FINAL_TRY: one more wrong PIN locks the token.
    pub final_try: bool,
    /// CKF_USER_PIN_LOCKED.
    pub locked: bool,
}

/// A token in a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRef {
    pub module: PathBuf,
    pub slot: Slot,
    pub label: String,
    pub serial: String,
    pub manufacturer: String,
    pub model: String,
    pub pin: PinState,
}

impl TokenRef {
    /// Identifies this token across polls: module, slot and serial number.
    pub fn key(&self) -> (PathBuf, u64, String) {
        (self.module.clone(), self.slot.id(), self.serial.clone())
    }
}

/// Why a token operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("cannot load the PKCS#11 module: {0}")]
    Module(String),
    #[error("wrong PIN")]
    WrongPin(PinState),
    /// CKR_PIN_LOCKED: its own state, never "try again".
    #[error("the PIN is locked")]
    PinLocked,
    #[error("the token was removed")]
    Removed,
    #[error("the token holds no certificate")]
    NoCertificate,
    #[error("no private key on the token matches the certificate")]
    NoMatchingKey,
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
}

/// The boundary where a PKCS#11 return code becomes a kiosk outcome.
/// `pin` is the token's flags read after the failure (SoftHSM never sets
/// them; vendor tokens do).
pub fn classify(error: &Error, pin: PinState) -> TokenError {
    match error {
        Error::Pkcs11(rv, _) => match rv {
            RvError::PinLocked => TokenError::PinLocked,
            RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange if pin.locked => {
                TokenError::PinLocked
            }
            RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange => {
                TokenError::WrongPin(pin)
            }
            RvError::DeviceRemoved
            | RvError::TokenNotPresent
            | RvError::SessionHandleInvalid
            | RvError::SessionClosed
            | RvError::SlotIdInvalid
            | RvError::DeviceError => TokenError::Removed,
            other => TokenError::Pkcs11(other.to_string()),
        },
        other => TokenError::Pkcs11(other.to_string()),
    }
}

fn pin_state(pkcs11: &Pkcs11, slot: Slot) -> PinState {
    pkcs11
        .get_token_info(slot)
        .map(|t| PinState {
            count_low: t.user_pin_count_low(),
            final_try: t.user_pin_final_try(),
            locked: t.user_pin_locked(),
        })
        .unwrap_or_default()
}

/// Every token present in the slots of `modules`. A module that cannot be
/// loaded is an error; empty slots are skipped.
pub fn list_tokens(modules: &[PathBuf]) -> Result<Vec<TokenRef>, TokenError> {
    let mut tokens = Vec::new();
    for path in modules {
        let pkcs11 = module(path)?;
        let slots = pkcs11
            .get_slots_with_token()
            .map_err(|e| TokenError::Pkcs11(e.to_string()))?;
        for slot in slots {
            let Ok(info) = pkcs11.get_token_info(slot) else {
                continue; // removed between the two calls
            };
            // SoftHSM always offers one empty, uninitialised token for setup.
            if !info.token_initialized() {
                continue;
            }
            tokens.push(TokenRef {
                module: path.clone(),
                slot,
                label: info.label().trim().to_string(),
                serial: info.serial_number().trim().to_string(),
                manufacturer: info.manufacturer_id().trim().to_string(),
                model: info.model().trim().to_string(),
                pin: PinState {
                    count_low: info.user_pin_count_low(),
                    final_try: info.user_pin_final_try(),
                    locked: info.user_pin_locked(),
                },
            });
        }
    }
    Ok(tokens)
}

/// What changed between two polls of the slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenEvent {
    Inserted(TokenRef),
    Removed(TokenRef),
}

/// Insertions and removals between two listings (deterministic; the
/// caller polls).
pub fn diff(before: &[TokenRef], after: &[TokenRef]) -> Vec<TokenEvent> {
    let mut events: Vec<TokenEvent> = before
        .iter()
        .filter(|b| !after.iter().any(|a| a.key() == b.key()))
        .map(|t| TokenEvent::Removed(t.clone()))
        .collect();
    events.extend(
        after
            .iter()
            .filter(|a| !before.iter().any(|b| b.key() == a.key()))
            .map(|t| TokenEvent::Inserted(t.clone())),
    );
    events
}

/// The certificates a token shows without a PIN (certificates are public
/// objects), with their CKA_ID in hex.
pub fn list_certificates(token: &TokenRef) -> Result<Vec<(String, CertInfo)>, TokenError> {
    let pkcs11 = module(&token.module)?;
    let fail = |e: Error| classify(&e, PinState::default());
    let session = pkcs11.open_ro_session(token.slot).map_err(fail)?;
    let certs = read_certificates(&session).map_err(fail)?;
    Ok(certs
        .into_iter()
        .map(|(id, cert)| (id.iter().map(|b| format!("{b:02x}")).collect(), cert))
        .collect())
}

/// Every X.509 certificate on the token that parses, with its CKA_ID.
fn read_certificates(session: &Session) -> Result<Vec<(Vec<u8>, CertInfo)>, Error> {
    let handles = session.find_objects(&[
        Attribute::Class(ObjectClass::CERTIFICATE),
        Attribute::CertificateType(CertificateType::X_509),
    ])?;
    let mut out = Vec::new();
    for handle in handles {
        let (mut id, mut value) = (Vec::new(), Vec::new());
        for a in session.get_attributes(handle, &[AttributeType::Id, AttributeType::Value])? {
            match a {
                Attribute::Id(v) => id = v,
                Attribute::Value(v) => value = v,
                _ => {}
            }
        }
        if let Ok(cert) = CertInfo::parse(&value) {
            out.push((id, cert));
        }
    }
    Ok(out)
}

/// A verified proof of possession.
#[derive(Debug, Clone)]
pub struct Proof {
    pub certificate: CertInfo,
    /// Other certificates on the token (usually its CA chain).
    pub others: Vec<CertInfo>,
    pub scheme: Scheme,
    /// The token's signature of the challenge, which the portal checks again.
    pub signature: Vec<u8>,
}

/// Logs in with `pin`, signs `challenge` with the private key that shares
/// the certificate's CKA_ID, and verifies the signature with the
/// certificate's public key. The PIN reaches only `C_Login`.
pub fn prove_possession(
    token: &TokenRef,
    pin: &SecretString,
    challenge: &[u8],
    rsa: Scheme,
) -> Result<Proof, TokenError> {
    let pkcs11 = module(&token.module)?;
    // Login state belongs to the whole process, not to a session: one
    // operation per token at a time, or a second login would meet the
    // first one's state.
    let lock = token_lock(token);
    let _serialised = lock.lock().unwrap_or_else(|e| e.into_inner());
    let fail = |e: Error| classify(&e, pin_state(&pkcs11, token.slot));
    let session = pkcs11.open_ro_session(token.slot).map_err(fail)?;
    match session.login(UserType::User, Some(pin)) {
        // Left logged in by someone else in this process: log out, so that
        // this PIN is the one checked.
        Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {
            let _ = session.logout();
            session.login(UserType::User, Some(pin)).map_err(fail)?;
        }
        other => other.map_err(fail)?,
    }
    let result = sign_with_certificate(&session, challenge, rsa).map_err(|e| match e {
        Signed::Pkcs11(e) => fail(e),
        Signed::Kiosk(e) => e,
    });
    // Best effort: the session closes on drop anyway.
    let _ = session.logout();
    result
}

enum Signed {
    Pkcs11(Error),
    Kiosk(TokenError),
}

impl From<Error> for Signed {
    fn from(e: Error) -> Self {
        Signed::Pkcs11(e)
    }
}

fn sign_with_certificate(
    session: &Session,
    challenge: &[u8],
    rsa: Scheme,
) -> Result<Proof, Signed> {
    let mut parsed = read_certificates(session)?;
    if parsed.is_empty() {
        return Err(Signed::Kiosk(TokenError::NoCertificate));
    }
    let mut found: Option<(usize, ObjectHandle)> = None;
    for (i, (id, _)) in parsed.iter().enumerate() {
        let keys = session.find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(id.clone()),
        ])?;
        if let Some(key) = keys.first() {
            found = Some((i, *key));
            break;
        }
    }
    let Some((index, key)) = found else {
        return Err(Signed::Kiosk(TokenError::NoMatchingKey));
    };
    let certificate = parsed.remove(index).1;
    let (scheme, mechanism, data) = match &certificate.public_key {
        PublicKey::Rsa(_) if rsa == Scheme::RsaPssSha256 => (
            Scheme::RsaPssSha256,
            Mechanism::Sha256RsaPkcsPss(PkcsPssParams {
                hash_alg: MechanismType::SHA256,
                mgf: PkcsMgfType::MGF1_SHA256,
                s_len: 32.into(),
            }),
            challenge.to_vec(),
        ),
        PublicKey::Rsa(_) => (
            Scheme::RsaPkcs1Sha256,
            Mechanism::Sha256RsaPkcs,
            challenge.to_vec(),
        ),
        key @ (PublicKey::P256(_) | PublicKey::P384(_)) => {
            (Scheme::Ecdsa, Mechanism::Ecdsa, key.ecdsa_digest(challenge))
        }
    };
    let signature = session.sign(&mechanism, key, &data)?;
    if !certificate.public_key.verify(scheme, challenge, &signature) {
        return Err(Signed::Kiosk(TokenError::NoMatchingKey));
    }
    Ok(Proof {
        certificate,
        others: parsed.into_iter().map(|(_, c)| c).collect(),
        scheme,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;

    fn rv(rv: RvError) -> Error {
        Error::Pkcs11(rv, Function::Login)
    }

    #[test]
    fn return_codes_become_outcomes() {
        let low = PinState {
            count_low: true,
            final_try: false,
            locked: false,
        };
        assert_eq!(
            classify(&rv(RvError::PinIncorrect), low),
            TokenError::WrongPin(low)
        );
        let last = PinState {
            count_low: true,
            final_try: true,
            locked: false,
        };
        assert_eq!(
            classify(&rv(RvError::PinIncorrect), last),
            TokenError::WrongPin(last)
        );
        assert_eq!(
            classify(&rv(RvError::PinLocked), PinState::default()),
            TokenError::PinLocked
        );
        // Some tokens answer the fatal wrong PIN with CKR_PIN_INCORRECT and set the flag.
        let locked = PinState {
            locked: true,
            ..PinState::default()
        };
        assert_eq!(
            classify(&rv(RvError::PinIncorrect), locked),
            TokenError::PinLocked
        );
        for gone in [
            RvError::DeviceRemoved,
            RvError::TokenNotPresent,
            RvError::SessionHandleInvalid,
            RvError::DeviceError,
        ] {
            assert_eq!(
                classify(&rv(gone), PinState::default()),
                TokenError::Removed
            );
        }
        assert!(matches!(
            classify(&rv(RvError::GeneralError), PinState::default()),
            TokenError::Pkcs11(_)
        ));
    }
}
