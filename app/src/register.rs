//! Completing a registration: hash the password, seal the payload to the
//! portal, sign it, and commit it with its outbox row and audit entry in one
//! transaction. This is the only place a [`Draft`] becomes durable; the
//! citizen sees a reference number only after it returns `Ok`.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use kiosk_sync::{
    COMPLAINT_SCHEMA, COUNTER_RESET_SCHEMA, ComplaintPayload, CounterResetPayload, EnvelopeHeader,
    PAYLOAD_SCHEMA, PortalPublicKey, RegistrationPayload, seal,
};
use rand::{Rng as _, RngExt as _};
use time::OffsetDateTime;
use zeroize::{Zeroize, Zeroizing};

use crate::config::PasswordHashCost;
use crate::flow::{ComplaintDraft, CounterResetDraft, Draft, PendingCheck};
use crate::keys::Keyring;
use crate::store::{NewRegistration, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CompleteError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("sealing failed: {0}")]
    Seal(#[from] kiosk_sync::EnvelopeError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("incomplete: {0}")]
    Incomplete(&'static str),
}

/// What the citizen is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub registration_id: String,
    pub reference: String,
}

/// Everything completion needs besides the draft.
#[derive(Debug)]
pub struct Completer<'a> {
    pub keys: &'a Keyring,
    pub portal: &'a PortalPublicKey,
    pub cost: PasswordHashCost,
}

/// `DK-7K2M-9XQ4`: 40 random bits in [`kiosk_sync::REFERENCE_ALPHABET`].
pub fn new_reference() -> String {
    new_reference_with("DK")
}

/// `PP-XXXX-XXXX` for a prefix: a registration's `DK`, a complaint's `KN`.
fn new_reference_with(prefix: &str) -> String {
    let mut rng = rand::rng();
    let chars: String = (0..8)
        .map(|_| char::from(kiosk_sync::REFERENCE_ALPHABET[rng.random_range(0..32usize)]))
        .collect();
    format!("{prefix}-{}-{}", &chars[..4], &chars[4..])
}

thread_local! {
    /// Argon2's working memory (19 MiB at the default cost), allocated once
    /// per thread and reused. A fresh allocation per hash made glibc keep
    /// each freed one resident (its mmap threshold rises after the first
    /// free): ten registrations grew the kiosk by 190 MiB.
    static HASH_MEMORY: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Argon2id of the password, in PHC string format.
pub fn hash_password(
    password: &str,
    cost: PasswordHashCost,
) -> Result<Zeroizing<String>, CompleteError> {
    let failed = |e: &dyn std::fmt::Display| CompleteError::Hash(e.to_string());
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| failed(&e))?;
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = Zeroizing::new([0u8; Params::DEFAULT_OUTPUT_LEN]);
    HASH_MEMORY
        .with_borrow_mut(|memory| {
            memory.resize(params.block_count(), Block::default());
            let hashed = argon2.hash_password_into_with_memory(
                password.as_bytes(),
                &salt,
                &mut out[..],
                &mut memory[..],
            );
            // The blocks hold values derived from the password.
            memory.iter_mut().for_each(Zeroize::zeroize);
            hashed
        })
        .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out[..]).map_err(|e| failed(&e))?),
    };
    Ok(Zeroizing::new(phc.to_string()))
}

fn payload(
    draft: &Draft,
    id: &str,
    reference: &str,
    created_at: i64,
    password_hash: Option<&str>,
) -> RegistrationPayload {
    let a = &draft.applicant;
    RegistrationPayload {
        schema: PAYLOAD_SCHEMA.into(),
        registration_id: id.into(),
        reference: reference.into(),
        created_at,
        method: draft.method.as_str().into(),
        subject: draft.subject.as_str().into(),
        level: draft.level.get(),
        pending: draft
            .pending
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        full_name: a.full_name.as_ref().map(|n| n.as_str().into()),
        business_name: a.business_name.as_ref().map(|n| n.as_str().into()),
        personal_id_kind: a.personal_id.as_ref().map(|p| p.kind().into()),
        personal_id: a.personal_id.as_ref().map(|p| p.as_str().into()),
        tax_code: a.mst.as_ref().map(|m| m.as_str().into()),
        bhxh_code: a.bhxh_code.as_ref().map(|c| c.as_str().into()),
        date_of_birth: a.date_of_birth.as_ref().map(|d| d.date().to_string()),
        phone: a.phone.as_ref().map(|p| p.e164().into()),
        email: a.email.as_ref().map(|e| e.as_str().into()),
        certificate: a
            .certificate
            .as_ref()
            .map(|der| base64::engine::general_purpose::STANDARD.encode(der)),
        proof: a.proof.clone(),
        chip: a.chip.clone(),
        counter: draft.clerk.as_ref().map(attestation),
        password_hash: password_hash.map(str::to_string),
    }
}

/// The clerk as the sealed payload names them. A counter's draft (a
/// registration, a complaint) reaches the store only past the face check.
fn attestation(c: &crate::flow::ClerkStamp) -> kiosk_sync::CounterAttestation {
    kiosk_sync::CounterAttestation {
        clerk_id: c.clerk_id.clone(),
        signed_in_by: c.signed_in_by.into(),
        clerk_certificate_sha256: c.certificate_sha256.clone(),
        face_confirmed: true,
    }
}

impl Completer<'_> {
    /// Seals `draft` and commits it. On `Ok` the registration is on disk
    /// exactly once; on `Err` nothing of it is.
    pub fn complete(
        &self,
        store: &mut Store,
        draft: &Draft,
        now: OffsetDateTime,
    ) -> Result<Receipt, CompleteError> {
        let id = uuid::Uuid::new_v4().to_string();
        let reference = free_reference(store, "DK")?;
        let created_at = now.unix_timestamp();
        let password_hash = draft
            .password
            .as_ref()
            .map(|p| hash_password(p.expose(), self.cost))
            .transpose()?;
        let plaintext = plaintext(&payload(
            draft,
            &id,
            &reference,
            created_at,
            password_hash.as_deref().map(|h| h.as_str()),
        ));
        let pending: Vec<PendingCheck> = draft.pending.clone();
        self.seal_and_store(
            store,
            &plaintext,
            NewRegistration {
                id: &id,
                reference: &reference,
                method: draft.method,
                subject: draft.subject,
                level: draft.level.get(),
                pending: &pending,
                identity_tag: self.keys.identity_tag(&draft.identity),
                created_at,
                envelope: &[],
                clerk: draft.clerk.as_ref().map(|c| c.clerk_id.as_str()),
            },
        )?;
        tracing::info!(
            %reference,
            method = draft.method.as_str(),
            level = draft.level.get(),
            pending = pending.len(),
            "registration stored"
        );
        Ok(Receipt {
            registration_id: id,
            reference,
        })
    }

    /// Seals a complaint and queues it like a registration, under a
    /// `KN-…` reference. On `Ok` it is on disk exactly once.
    pub fn file_complaint(
        &self,
        store: &mut Store,
        draft: &ComplaintDraft,
        now: OffsetDateTime,
    ) -> Result<Receipt, CompleteError> {
        let id = uuid::Uuid::new_v4().to_string();
        let reference = free_reference(store, kiosk_sync::COMPLAINT_PREFIX)?;
        let created_at = now.unix_timestamp();
        let plaintext = plaintext(&ComplaintPayload {
            schema: COMPLAINT_SCHEMA.into(),
            registration_id: id.clone(),
            reference: reference.clone(),
            created_at,
            identity: draft.identity.canonical().to_string(),
            method: draft.method.as_str().into(),
            subject: draft.subject.as_str().into(),
            contact_phone: draft.contact.e164().into(),
            reason: draft.reason.code().into(),
            chip: draft.chip.as_ref().map(|c| c.evidence.clone()),
            counter: draft.clerk.as_ref().map(attestation),
        });
        self.seal_and_store(
            store,
            &plaintext,
            NewRegistration {
                id: &id,
                reference: &reference,
                method: draft.method,
                subject: draft.subject,
                level: 0,
                pending: &[],
                identity_tag: self.keys.identity_tag(&draft.identity),
                created_at,
                envelope: &[],
                clerk: draft.clerk.as_ref().map(|c| c.clerk_id.as_str()),
            },
        )?;
        tracing::info!(%reference, reason = draft.reason.code(), "complaint stored");
        Ok(Receipt {
            registration_id: id,
            reference,
        })
    }

    /// Seals a password reset made at a counter and queues it like a
    /// registration, under an `MK-…` reference: the new password's hash,
    /// the chip's evidence and the clerk. Refused without the chip or the
    /// clerk (only a counter makes one). On `Ok` it is on disk exactly once.
    pub fn file_counter_reset(
        &self,
        store: &mut Store,
        draft: &CounterResetDraft,
        now: OffsetDateTime,
    ) -> Result<Receipt, CompleteError> {
        let (Some(chip), Some(clerk)) = (&draft.chip, &draft.clerk) else {
            return Err(CompleteError::Incomplete(
                "a counter reset needs the chip and the clerk",
            ));
        };
        let id = uuid::Uuid::new_v4().to_string();
        let reference = free_reference(store, kiosk_sync::COUNTER_RESET_PREFIX)?;
        let created_at = now.unix_timestamp();
        let password_hash = hash_password(draft.password.expose(), self.cost)?;
        let plaintext = plaintext(&CounterResetPayload {
            schema: COUNTER_RESET_SCHEMA.into(),
            registration_id: id.clone(),
            reference: reference.clone(),
            created_at,
            identity: draft.identity.canonical().to_string(),
            chip: chip.evidence.clone(),
            counter: attestation(clerk),
            password_hash: password_hash.to_string(),
        });
        self.seal_and_store(
            store,
            &plaintext,
            NewRegistration {
                id: &id,
                reference: &reference,
                method: crate::domain::Method::Counter,
                subject: crate::domain::SubjectKind::Citizen,
                level: 0,
                pending: &[],
                identity_tag: self.keys.identity_tag(&draft.identity),
                created_at,
                envelope: &[],
                clerk: Some(&clerk.clerk_id),
            },
        )?;
        tracing::info!(%reference, clerk = %clerk.clerk_id, "counter password reset stored");
        Ok(Receipt {
            registration_id: id,
            reference,
        })
    }

    /// Seals `plaintext` to the portal, signs it, and commits it with `row`
    /// (whose envelope is the sealed one), its outbox row and audit entry.
    fn seal_and_store(
        &self,
        store: &mut Store,
        plaintext: &[u8],
        row: NewRegistration<'_>,
    ) -> Result<(), CompleteError> {
        let envelope = seal(
            plaintext,
            EnvelopeHeader::new(row.id.to_string(), row.created_at),
            self.portal,
            self.keys.device(),
        )?;
        let envelope_bytes = envelope.to_bytes();
        store.complete(
            &NewRegistration {
                envelope: &envelope_bytes,
                ..row
            },
            &self.keys.audit_key(),
        )?;
        Ok(())
    }
}

/// A reference with `prefix` that this kiosk has not given yet.
fn free_reference(store: &Store, prefix: &str) -> Result<String, StoreError> {
    loop {
        let reference = new_reference_with(prefix);
        if !store.reference_exists(&reference)? {
            return Ok(reference);
        }
    }
}

/// A payload as JSON, in one allocation large enough for any payload, so
/// growth leaves no stray copies of the plaintext in freed memory.
fn plaintext(payload: &impl serde::Serialize) -> Zeroizing<Vec<u8>> {
    let mut buf = Zeroizing::new(Vec::with_capacity(64 * 1024));
    serde_json::to_writer(&mut *buf, payload).expect("a payload always serialises");
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::{PasswordHash, PasswordVerifier as _};

    #[test]
    fn references_are_unambiguous_and_distinct() {
        let refs: std::collections::HashSet<String> = (0..1000).map(|_| new_reference()).collect();
        assert_eq!(refs.len(), 1000);
        for r in &refs {
            assert_eq!(r.len(), 12);
            assert!(r.starts_with("DK-"));
            assert!(!r[3..].contains(['I', 'L', 'O', 'U']));
        }
    }

    #[test]
    fn the_password_hash_is_argon2id_and_verifies() {
        let cost = PasswordHashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let hash = hash_password("Matkhau@2026", cost).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"Matkhau@2026", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"Matkhau@2027", &parsed)
                .is_err()
        );
    }
}
