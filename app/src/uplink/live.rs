//! Live checks on the portal's data, asked while the citizen waits, and the
//! mobile-signature session followed in the background.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kiosk_sync::client::PortalClient;
use kiosk_sync::{DeviceKey, IdentityRef};

use super::{Enrolment, UplinkError, UplinkHandle};
use crate::keys::Keyring;

/// The BHXH database's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BhxhRecord {
    /// The record matches the name and date of birth; it belongs to this
    /// person (`cccd:…` or `cmnd:…`).
    Matched(IdentityRef),
    /// No record with this code, or one that does not match.
    NotMatched,
}

/// Live checks on the portal's data (duplicate, BHXH, subscriber), asked
/// from the worker thread. Each answers `None` when the portal
/// cannot answer in time or is known to be unreachable: the flow then
/// continues offline and leaves the check pending for the portal.
pub struct LiveChecks {
    client: Arc<PortalClient>,
    runtime: tokio::runtime::Handle,
    uplink: UplinkHandle,
    timeout: Duration,
    /// The mobile-signature session being waited on, and its task.
    signature: Arc<Mutex<Option<String>>>,
    signature_task: Mutex<Option<tokio::task::AbortHandle>>,
    anchors: Option<Arc<kiosk_hal::token::cert::TrustAnchors>>,
}

/// How long the kiosk follows a mobile-signature session: the portal's
/// two minutes on the phone, and some margin for a slow line.
const SIGNATURE_FOLLOW: Duration = Duration::from_secs(150);

impl std::fmt::Debug for LiveChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveChecks")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl LiveChecks {
    /// A citizen waits for these: a few seconds, not the upload's minute.
    pub const TIMEOUT: Duration = Duration::from_secs(8);

    pub fn new(
        keys: &Keyring,
        enrolment: &Enrolment,
        runtime: tokio::runtime::Handle,
        uplink: UplinkHandle,
    ) -> Result<LiveChecks, UplinkError> {
        let mut config = enrolment.client_config()?;
        config.connect_timeout = Duration::from_secs(3);
        let key = DeviceKey::from_secret_bytes(&*keys.device().secret_bytes())
            .map_err(UplinkError::DeviceKey)?;
        // Long-polls wait up to 25 s on the portal: their own timeout.
        config.timeout = Duration::from_secs(40);
        Ok(LiveChecks {
            client: Arc::new(PortalClient::new(&config, key)?),
            runtime,
            uplink,
            timeout: Self::TIMEOUT,
            signature: Arc::new(Mutex::new(None)),
            signature_task: Mutex::new(None),
            anchors: None,
        })
    }

    /// The CAs a mobile-signature certificate must chain to (the token
    /// section's trust anchors: the carriers' CAs are licensed CAs).
    pub fn with_anchors(mut self, anchors: kiosk_hal::token::cert::TrustAnchors) -> Self {
        self.anchors = Some(Arc::new(anchors));
        self
    }

    pub fn anchors(&self) -> Option<Arc<kiosk_hal::token::cert::TrustAnchors>> {
        self.anchors.clone()
    }

    fn portal_known_down(&self) -> bool {
        let relay = self.uplink.status().relay;
        !relay.online && relay.last_error.is_some()
    }

    /// Asks the holder of `phone` to sign `display_text` and follows the
    /// session in the background until the phone answers, it expires, or
    /// [`LiveChecks::cancel_signature`]; `done` gets the final session, or
    /// `None` when the portal could not be reached. Any earlier session is
    /// cancelled first.
    pub fn start_signature(
        &self,
        phone: String,
        display_text: String,
        done: impl FnOnce(Option<kiosk_sync::api::SignatureSession>) + Send + 'static,
    ) {
        self.cancel_signature();
        if self.portal_known_down() {
            done(None);
            return;
        }
        let client = Arc::clone(&self.client);
        let current = Arc::clone(&self.signature);
        let start = self.timeout;
        let task = self.runtime.spawn(async move {
            // A portal that asks the kiosk to wait a moment is waited for,
            // within the time the request may take.
            let started = tokio::time::timeout(start, async {
                loop {
                    match client.start_signature(&phone, &display_text).await {
                        Err(kiosk_sync::client::ClientError::Busy(wait)) if wait < start => {
                            tokio::time::sleep(wait).await;
                        }
                        other => return other,
                    }
                }
            })
            .await;
            let mut session = match started {
                Ok(Ok(session)) => session,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "a mobile-signature request could not start");
                    done(None);
                    return;
                }
                Err(_) => {
                    tracing::warn!("a mobile-signature request got no answer in time");
                    done(None);
                    return;
                }
            };
            *current
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(session.id.clone());
            let deadline = tokio::time::Instant::now() + SIGNATURE_FOLLOW;
            while session.state == kiosk_sync::api::SignatureState::Pending {
                if tokio::time::Instant::now() >= deadline {
                    done(None);
                    return;
                }
                match client.signature_session(&session.id, 25).await {
                    Ok(next) => session = next,
                    // A dropped connection while waiting: ask again shortly.
                    Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
            current
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            done(Some(session));
        });
        *self
            .signature_task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(task.abort_handle());
    }

    /// Stops following the session and cancels it on the portal, so the
    /// phone stops asking.
    pub fn cancel_signature(&self) {
        if let Some(task) = self
            .signature_task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
        let id = self
            .signature
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(id) = id {
            let client = Arc::clone(&self.client);
            self.runtime.spawn(async move {
                let _ = client.cancel_signature(&id).await;
            });
        }
    }

    fn ask<T>(
        &self,
        question: impl std::future::Future<Output = Result<T, kiosk_sync::client::ClientError>>,
    ) -> Option<T> {
        if self.portal_known_down() {
            return None;
        }
        self.runtime
            .block_on(async { tokio::time::timeout(self.timeout, question).await })
            .ok()?
            .ok()
    }

    /// `Some(true)` when an account exists for `identity` (`cccd:…`).
    pub fn account_exists(&self, identity: &IdentityRef) -> Option<bool> {
        self.ask(self.client.account_exists(identity))
    }

    /// A hand-off code for the counter for the account of `identity`:
    /// `Some(None)` when the portal has no account, `None` when it cannot
    /// be asked.
    pub fn handoff(&self, identity: &IdentityRef) -> Option<Option<String>> {
        self.ask(self.client.handoff(identity))
    }

    /// What the portal has under a reference number: `Some(None)` when it
    /// has nothing, `None` when it cannot be asked.
    pub fn lookup(&self, reference: &str) -> Option<Option<kiosk_sync::api::LookedUp>> {
        self.ask(self.client.lookup(reference))
    }

    /// "Quên mật khẩu": a code to the phone of the account of `identity`;
    /// `None` when the portal cannot be asked.
    pub fn start_reset(&self, identity: &IdentityRef) -> Option<kiosk_sync::api::ResetAnswer> {
        self.ask(self.client.start_reset(identity))
    }

    /// A fresh code for a reset under way.
    pub fn resend_reset(&self, reset_id: &str) -> Option<kiosk_sync::api::ResetAnswer> {
        self.ask(self.client.resend_reset(reset_id))
    }

    /// The sealed code and password; `None` when the portal cannot be
    /// asked (nothing changed, or the person tries again).
    pub fn complete_reset(
        &self,
        envelope: kiosk_sync::Envelope,
    ) -> Option<kiosk_sync::api::ResetResult> {
        self.ask(self.client.complete_reset(envelope))
    }

    /// What the BHXH database says of this code, name and date of birth.
    pub fn bhxh(&self, code: &str, full_name: &str, date_of_birth: &str) -> Option<BhxhRecord> {
        let check = kiosk_sync::api::BhxhCheck {
            bhxh_code: code.into(),
            full_name: full_name.into(),
            date_of_birth: date_of_birth.into(),
        };
        self.ask(self.client.check_bhxh(&check))
            .map(|a| match a.personal_id {
                Some(id) if a.matched => BhxhRecord::Matched(id),
                _ => BhxhRecord::NotMatched,
            })
    }

    /// What the portal says of a USB token certificate's revocation.
    pub fn certificate(&self, der: &[u8]) -> Option<kiosk_sync::api::CertificateStatus> {
        use base64::Engine as _;
        let check = kiosk_sync::api::CertificateCheck {
            certificate: base64::engine::general_purpose::STANDARD.encode(der),
        };
        self.ask(self.client.check_certificate(&check))
            .map(|a| a.status)
    }

    pub fn subscriber(
        &self,
        phone: &str,
        personal_id: &IdentityRef,
    ) -> Option<kiosk_sync::api::Ownership> {
        let check = kiosk_sync::api::SubscriberCheck {
            phone: phone.into(),
            personal_id: personal_id.clone(),
        };
        self.ask(self.client.check_subscriber(&check))
    }
}
