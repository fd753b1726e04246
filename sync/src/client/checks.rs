//! What a kiosk asks the portal while a citizen waits: the live checks
//! (duplicate, BHXH, subscriber, certificate), the mobile-signature
//! session, a reference's lookup and a code for the counter.

use reqwest::Method;

use super::{ClientError, PortalClient};
use crate::IdentityRef;
use crate::api;

impl PortalClient {
    /// Live check: does an account exist for `identity` (`cccd:…`)?
    pub async fn account_exists(&self, identity: &IdentityRef) -> Result<bool, ClientError> {
        let question = api::DuplicateCheck {
            identity: identity.clone(),
        };
        let answer: api::DuplicateAnswer =
            self.post_json("/v1/checks/duplicate", &question).await?;
        Ok(answer.account_exists)
    }

    /// A hand-off code for the counter, for the account of `identity`;
    /// `None` when the portal has no account for it.
    pub async fn handoff(&self, identity: &IdentityRef) -> Result<Option<String>, ClientError> {
        let question = api::HandoffRequest {
            identity: identity.clone(),
        };
        let answer: api::HandoffAnswer = self.post_json("/v1/handoffs", &question).await?;
        Ok(answer.code)
    }

    /// "Quên mật khẩu": asks the portal to send a code to the phone of
    /// the account of `identity`.
    pub async fn start_reset(
        &self,
        identity: &IdentityRef,
    ) -> Result<api::ResetAnswer, ClientError> {
        let question = api::ResetRequest {
            identity: identity.clone(),
        };
        self.post_json("/v1/resets", &question).await
    }

    /// A fresh code for the reset `reset_id`.
    pub async fn resend_reset(&self, reset_id: &str) -> Result<api::ResetAnswer, ClientError> {
        let question = api::ResetResend {
            reset_id: reset_id.into(),
        };
        self.post_json("/v1/resets/resend", &question).await
    }

    /// The code and the new password's hash, sealed in `envelope`.
    pub async fn complete_reset(
        &self,
        envelope: crate::Envelope,
    ) -> Result<api::ResetResult, ClientError> {
        self.post_json("/v1/resets/complete", &api::ResetCompletion { envelope })
            .await
    }

    /// What became of the registration filed under `reference`, at any
    /// kiosk; `None` when the portal has none under it.
    pub async fn lookup(&self, reference: &str) -> Result<Option<api::LookedUp>, ClientError> {
        let question = api::LookupQuestion {
            reference: reference.into(),
        };
        let answer: api::LookupAnswer = self.post_json("/v1/lookup", &question).await?;
        Ok(answer.registration)
    }

    /// Live check against the BHXH database.
    pub async fn check_bhxh(&self, check: &api::BhxhCheck) -> Result<api::BhxhAnswer, ClientError> {
        self.post_json("/v1/checks/bhxh", check).await
    }

    /// Live check of a USB token certificate's revocation status.
    pub async fn check_certificate(
        &self,
        check: &api::CertificateCheck,
    ) -> Result<api::CertificateAnswer, ClientError> {
        self.post_json("/v1/checks/certificate", check).await
    }

    /// Live check against the carriers' subscriber registers.
    pub async fn check_subscriber(
        &self,
        check: &api::SubscriberCheck,
    ) -> Result<api::Ownership, ClientError> {
        let answer: api::SubscriberAnswer = self.post_json("/v1/checks/subscriber", check).await?;
        Ok(answer.owner)
    }

    /// Asks the holder of `phone` to sign `display_text` on their phone.
    pub async fn start_signature(
        &self,
        phone: &str,
        display_text: &str,
    ) -> Result<api::SignatureSession, ClientError> {
        let request = api::StartSignature {
            phone: phone.into(),
            display_text: display_text.into(),
        };
        self.post_json("/v1/mobile-signature/sessions", &request)
            .await
    }

    /// The session, waiting up to `wait_secs` (at most 30) for it to leave
    /// `pending`.
    pub async fn signature_session(
        &self,
        id: &str,
        wait_secs: u64,
    ) -> Result<api::SignatureSession, ClientError> {
        let path = format!("/v1/mobile-signature/sessions/{id}");
        let query = format!("wait={wait_secs}");
        self.send(Method::GET, &path, Some(&query), &[])
            .await?
            .json()
    }

    pub async fn cancel_signature(&self, id: &str) -> Result<api::SignatureSession, ClientError> {
        let path = format!("/v1/mobile-signature/sessions/{id}");
        self.send(Method::DELETE, &path, None, &[]).await?.json()
    }
}
