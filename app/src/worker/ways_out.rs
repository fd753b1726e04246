//! The worker's side of the ways out: a reference looked up in the kiosk's
//! records and at the portal, and a password reset's code and new password
//! sealed and sent.

use kiosk_sync::api::Rejection;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::Backend;
use crate::domain::Method;
use crate::flow::{
    Found, LookupResult, LookupStatus, ResetCode, ResetCompleted, ResetDraft, ResetStarted,
};
use crate::register::hash_password;

impl Backend {
    /// Hashes the new password, seals it with the code to the portal and
    /// sends both; what the portal answered.
    pub(super) fn complete_reset(&self, draft: &ResetDraft, now: OffsetDateTime) -> ResetCompleted {
        let Some(live) = &self.live else {
            return ResetCompleted::Unreachable;
        };
        let hash = match hash_password(draft.password.expose(), self.cost) {
            Ok(hash) => hash,
            Err(e) => {
                tracing::error!(error = %e, "hashing a new password failed");
                return ResetCompleted::Unreachable;
            }
        };
        let payload = kiosk_sync::ResetPayload {
            schema: kiosk_sync::RESET_SCHEMA.into(),
            reset_id: draft.reset_id.clone(),
            code: draft.code.to_string(),
            password_hash: hash.to_string(),
        };
        let plaintext = Zeroizing::new(
            serde_json::to_vec(&payload).expect("a reset payload always serialises"),
        );
        let sealed = kiosk_sync::seal(
            &plaintext,
            kiosk_sync::EnvelopeHeader::new(draft.reset_id.clone(), now.unix_timestamp()),
            &self.portal,
            self.keys.device(),
        );
        let Ok(envelope) = sealed else {
            return ResetCompleted::Unreachable;
        };
        use kiosk_sync::api::ResetDone;
        match live.complete_reset(envelope) {
            None => ResetCompleted::Unreachable,
            Some(r) => match r.outcome {
                ResetDone::Done => ResetCompleted::Done,
                ResetDone::WrongCode => ResetCompleted::WrongCode {
                    tries_left: r.tries_left,
                },
                ResetDone::Expired => ResetCompleted::Expired,
                ResetDone::Spent => ResetCompleted::Spent,
            },
        }
    }

    /// What the kiosk's records, then the portal, know of a reference: the
    /// kiosk answers for its own until the portal has decided on them.
    pub(super) fn look_up(&self, reference: &str) -> LookupResult {
        let here = match self.store.by_reference(reference) {
            Ok(here) => here,
            Err(e) => {
                tracing::warn!(error = %e, "the lookup could not read the store");
                None
            }
        };
        let local = here.as_ref().and_then(|h| {
            Some(Found {
                status: LookupStatus::parse(
                    &h.status,
                    h.rejected_because.as_deref().map(Rejection::of),
                )?,
                method: Method::parse(&h.method)?,
                level: h.level,
                created_at: h.created_at,
                decided_at: h.decided_at,
                here: true,
            })
        });
        // A queued one is not at the portal yet and a settled one is final:
        // only a delivered one, or one that is not this kiosk's, is asked.
        let ask = local.as_ref().is_none_or(|f| {
            matches!(
                f.status,
                LookupStatus::Delivered | LookupStatus::ComplaintReceived
            )
        });
        let asked = if ask {
            self.live.as_ref().and_then(|l| l.lookup(reference))
        } else {
            None
        };
        let here = local.is_some();
        let from_portal = asked.as_ref().and_then(Option::as_ref).and_then(|r| {
            Some(Found {
                status: LookupStatus::parse(&r.status, r.rejection)?,
                method: Method::parse(&r.method)?,
                level: r.level,
                created_at: r.created_at,
                decided_at: Some(r.decided_at),
                here,
            })
        });
        match (from_portal.or(local), asked) {
            (Some(found), _) => LookupResult::Found(found),
            (None, Some(_)) => LookupResult::NotFound,
            (None, None) => LookupResult::NotHereOffline,
        }
    }
}

/// The portal's answer to a reset or a resend, for the flow.
pub(super) fn reset_started(answer: Option<kiosk_sync::api::ResetAnswer>) -> ResetStarted {
    use kiosk_sync::api::ResetSent;
    let at = |t: i64| OffsetDateTime::from_unix_timestamp(t).ok();
    let Some(a) = answer else {
        return ResetStarted::Unreachable;
    };
    match a.outcome {
        ResetSent::Sent => {
            let (Some(reset_id), Some(masked_phone), Some(expires_at)) =
                (a.reset_id, a.masked_phone, a.expires_at.and_then(at))
            else {
                return ResetStarted::Unreachable;
            };
            ResetStarted::Sent(ResetCode {
                reset_id,
                masked_phone,
                expires_at,
                tries_left: a.tries_left,
                resends_left: a.resends_left,
                resend_after: a.resend_after.and_then(at),
            })
        }
        ResetSent::NoPhone => ResetStarted::NoPhone,
        ResetSent::TooMany => ResetStarted::TooMany,
        ResetSent::NoAccount | ResetSent::Unknown => ResetStarted::Unreachable,
    }
}
