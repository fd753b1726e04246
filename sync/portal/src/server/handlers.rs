//! One handler per route of the kiosk API.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};
use serde::Deserialize;

use kiosk_sync::api::{
    self, EnrolRequest, EnrolResponse, Health, Heartbeat, HeartbeatResponse, ItemResult,
    StatusItem, StatusResponse, UploadRequest, UploadResponse,
};

use super::auth::{Enrolling, Signed, json_body};
use super::{
    ApiError, MAX_BATCH, MAX_STATUS_PAGE, MAX_WAIT_SECS, OPENAPI, SIGNATURE_TTL_SECS, Shared, now,
};
use crate::{Portal, PortalError, SignatureSession};

async fn enrol(
    State(shared): State<Arc<Shared>>,
    enrolling: Enrolling,
) -> Result<Json<EnrolResponse>, ApiError> {
    let request: EnrolRequest = json_body(&enrolling.body)?;
    let (key, source) = (enrolling.key, enrolling.source);
    let policy_public_key = shared.policy_key.public_key().to_base64();
    let (kiosk_id, portal_public_key, policy) = shared
        .db(move |p| {
            let id = p.enrol(&request.code, &key, source.as_deref(), now())?;
            Ok((id, p.public_key().to_base64(), p.current_policy()?))
        })
        .await?;
    Ok(Json(EnrolResponse {
        kiosk_id,
        portal_public_key,
        policy_public_key,
        policy,
    }))
}

async fn upload(
    State(shared): State<Arc<Shared>>,
    signed: Signed,
) -> Result<Json<UploadResponse>, ApiError> {
    let request: UploadRequest = json_body(&signed.body)?;
    if request.envelopes.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("at most {MAX_BATCH} registrations per upload"),
        ));
    }
    let key = signed.key;
    let outcomes = shared
        .db(move |p| p.receive(&key, &request.envelopes, now()))
        .await?;
    Ok(Json(UploadResponse {
        results: outcomes
            .into_iter()
            .map(|(id, o)| ItemResult::new(id, &o))
            .collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusQuery {
    #[serde(default)]
    after: i64,
    limit: Option<i64>,
}

async fn status(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
    signed: Signed,
) -> Result<Json<StatusResponse>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = query.limit.unwrap_or(500);
    if !(1..=MAX_STATUS_PAGE).contains(&limit) || query.after < 0 {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={MAX_STATUS_PAGE} and after at least 0"
        )));
    }
    let key = signed.key;
    let after = query.after;
    let changes = shared
        .db(move |p| p.status_page(&key, after, limit))
        .await?;
    let next_cursor = changes.last().map_or(after, |c| c.cursor);
    Ok(Json(StatusResponse {
        changes: changes
            .into_iter()
            .map(|c| StatusItem {
                cursor: c.cursor,
                registration_id: c.registration_id,
                terminal: true,
                status: c.status,
            })
            .collect(),
        next_cursor,
    }))
}

async fn heartbeat(
    State(shared): State<Arc<Shared>>,
    signed: Signed,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    let report: Heartbeat = json_body(&signed.body)?;
    let kiosk_id = signed.kiosk_id;
    let policy_version = shared
        .db(move |p| {
            let text = serde_json::to_string(&report).expect("a heartbeat serialises");
            p.record_heartbeat(kiosk_id, &text, now())?;
            Ok(p.current_policy()?.map(|p| p.version))
        })
        .await?;
    Ok(Json(HeartbeatResponse {
        server_time: now(),
        policy_version,
    }))
}

async fn policy(
    State(shared): State<Arc<Shared>>,
    // Only an enrolled kiosk reads the policy.
    _kiosk: Signed,
) -> Result<Json<api::SignedPolicy>, ApiError> {
    shared
        .db(|p| p.current_policy())
        .await?
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_policy",
                "the portal publishes no policy yet".to_string(),
            )
        })
}

/// A question the portal answers from its data for a kiosk: duplicate,
/// BHXH record, subscriber ownership.
trait LiveCheck: serde::de::DeserializeOwned + Send + 'static {
    type Answer: serde::Serialize + Send + 'static;
    /// What is wrong with the question beyond its JSON shape, if anything.
    fn problem(&self) -> Option<&'static str> {
        None
    }
    fn answer(self, portal: &mut Portal) -> Result<Self::Answer, PortalError>;
}

impl LiveCheck for api::DuplicateCheck {
    type Answer = api::DuplicateAnswer;
    fn answer(self, p: &mut Portal) -> Result<Self::Answer, PortalError> {
        Ok(api::DuplicateAnswer {
            account_exists: p.account_exists(&self.identity)?,
        })
    }
}

impl LiveCheck for api::BhxhCheck {
    type Answer = api::BhxhAnswer;
    fn answer(self, p: &mut Portal) -> Result<Self::Answer, PortalError> {
        let personal_id = p.bhxh_match(&self.bhxh_code, &self.full_name, &self.date_of_birth)?;
        Ok(api::BhxhAnswer {
            matched: personal_id.is_some(),
            personal_id,
        })
    }
}

impl LiveCheck for api::SubscriberCheck {
    type Answer = api::SubscriberAnswer;
    fn problem(&self) -> Option<&'static str> {
        (!self.personal_id.kind().is_personal_id())
            .then_some("personal_id is a person's cccd:… or cmnd:…")
    }
    fn answer(self, p: &mut Portal) -> Result<Self::Answer, PortalError> {
        let owner = match p.subscriber_owner(&self.phone, &self.personal_id)? {
            Some(true) => api::Ownership::Confirmed,
            Some(false) => api::Ownership::NotOwner,
            None => api::Ownership::Unknown,
        };
        Ok(api::SubscriberAnswer { owner })
    }
}

impl LiveCheck for api::CertificateCheck {
    type Answer = api::CertificateAnswer;
    fn problem(&self) -> Option<&'static str> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(&self.certificate)
            .is_err()
            .then_some("certificate is DER in standard base64")
    }
    fn answer(self, p: &mut Portal) -> Result<Self::Answer, PortalError> {
        use crate::CertificateVerdict as V;
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD
            .decode(&self.certificate)
            .unwrap_or_default();
        let (status, revoked_at) = match p.certificate_status(&der, super::now()) {
            V::Good => (api::CertificateStatus::Good, None),
            V::Revoked { at } => (api::CertificateStatus::Revoked, Some(at)),
            V::Unknown(_) => (api::CertificateStatus::Unknown, None),
            V::Untrusted(_) => (api::CertificateStatus::Untrusted, None),
        };
        Ok(api::CertificateAnswer { status, revoked_at })
    }
}

impl LiveCheck for api::HandoffRequest {
    type Answer = api::HandoffAnswer;
    fn answer(self, p: &mut Portal) -> Result<Self::Answer, PortalError> {
        let issued = p.issue_handoff(&self.identity, super::now())?;
        Ok(api::HandoffAnswer {
            expires_at: issued.as_ref().map(|(_, at)| *at),
            code: issued.map(|(code, _)| code),
        })
    }
}

impl LiveCheck for api::LookupQuestion {
    type Answer = api::LookupAnswer;
    fn problem(&self) -> Option<&'static str> {
        kiosk_sync::normalise_reference(&self.reference)
            .is_none()
            .then_some("reference is a reference number, DK-XXXX-XXXX")
    }
    fn answer(self, p: &mut Portal) -> Result<Self::Answer, PortalError> {
        Ok(api::LookupAnswer {
            registration: p.lookup(&self.reference)?,
        })
    }
}

/// A live check: authenticated like every kiosk request, then answered.
/// The body holds personal data: it is never logged, and nothing of it is
/// stored.
async fn live_check<Q: LiveCheck>(
    State(shared): State<Arc<Shared>>,
    signed: Signed,
) -> Result<Json<Q::Answer>, ApiError> {
    let question: Q = json_body(&signed.body)?;
    if let Some(problem) = question.problem() {
        return Err(ApiError::bad_request(problem));
    }
    Ok(Json(shared.db(move |p| question.answer(p)).await?))
}

fn session_view(s: SignatureSession) -> api::SignatureSession {
    use base64::Engine as _;
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    api::SignatureSession {
        id: s.id,
        state: s.state,
        expires_at: s.expires_at,
        scheme: s
            .signature
            .as_ref()
            .map(|_| "ecdsa-p256-sha256".to_string()),
        certificate: s.certificate.map(b64),
        signature: s.signature.map(b64),
    }
}

fn no_session() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_session",
        "no such mobile-signature session for this kiosk".to_string(),
    )
}

/// `POST /v1/resets`: a code to the account's phone.
async fn start_reset(
    State(shared): State<Arc<Shared>>,
    signed: Signed,
) -> Result<Json<api::ResetAnswer>, ApiError> {
    let request: api::ResetRequest = json_body(&signed.body)?;
    let key = signed.key;
    Ok(Json(
        shared
            .db(move |p| p.start_reset(&key, &request.identity, now()))
            .await?,
    ))
}

/// `POST /v1/resets/resend`: a fresh code for a reset under way.
async fn resend_reset(
    State(shared): State<Arc<Shared>>,
    signed: Signed,
) -> Result<Json<api::ResetAnswer>, ApiError> {
    let request: api::ResetResend = json_body(&signed.body)?;
    let key = signed.key;
    Ok(Json(
        shared
            .db(move |p| p.resend_reset(&key, &request.reset_id, now()))
            .await?,
    ))
}

/// `POST /v1/resets/complete`: the sealed code and password hash.
async fn complete_reset(
    State(shared): State<Arc<Shared>>,
    signed: Signed,
) -> Result<Json<api::ResetResult>, ApiError> {
    let request: api::ResetCompletion = json_body(&signed.body)?;
    let key = signed.key;
    Ok(Json(
        shared
            .db(move |p| p.complete_reset(&key, &request.envelope, now()))
            .await?,
    ))
}

async fn start_signature(
    State(shared): State<Arc<Shared>>,
    signed: Signed,
) -> Result<Json<api::SignatureSession>, ApiError> {
    let request: api::StartSignature = json_body(&signed.body)?;
    if request.display_text.chars().count() > 160 || request.display_text.is_empty() {
        return Err(ApiError::bad_request(
            "display_text must be 1 to 160 characters (what a phone shows)",
        ));
    }
    let kiosk = signed.kiosk_id;
    let session = shared
        .db(move |p| {
            p.start_signature(
                kiosk,
                &request.phone,
                &request.display_text,
                now(),
                SIGNATURE_TTL_SECS,
            )
        })
        .await?;
    Ok(Json(session_view(session)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitQuery {
    #[serde(default)]
    wait: u64,
}

async fn signature_session(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    query: Result<Query<WaitQuery>, axum::extract::rejection::QueryRejection>,
    signed: Signed,
) -> Result<Json<api::SignatureSession>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if query.wait > MAX_WAIT_SECS {
        return Err(ApiError::bad_request(format!(
            "wait is at most {MAX_WAIT_SECS} seconds"
        )));
    }
    let kiosk = signed.kiosk_id;
    // Long-poll: the phone's answer is written by another process (the
    // admin CLI) or thread (the demo's phone), so the database is read
    // again until it changes or the wait is over.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(query.wait);
    loop {
        let id = id.clone();
        let session = shared
            .db(move |p| p.signature_session(Some(kiosk), &id, now()))
            .await?
            .ok_or_else(no_session)?;
        if session.state != api::SignatureState::Pending || tokio::time::Instant::now() >= deadline
        {
            return Ok(Json(session_view(session)));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn cancel_signature(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    signed: Signed,
) -> Result<Json<api::SignatureSession>, ApiError> {
    let kiosk = signed.kiosk_id;
    let session = shared
        .db(move |p| p.cancel_signature(kiosk, &id, now()))
        .await?
        .ok_or_else(no_session)?;
    Ok(Json(session_view(session)))
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        server_time: now(),
    })
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

pub(super) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", None)
}

/// Every route the portal serves: the router is built from this list
/// alone, and a test holds it equal to the OpenAPI document's.
pub fn routes() -> Vec<(Method, &'static str, MethodRouter<Arc<Shared>>)> {
    vec![
        (Method::POST, "/v1/enrolment", post(enrol)),
        (Method::POST, "/v1/registrations", post(upload)),
        (Method::GET, "/v1/status", get(status)),
        (Method::POST, "/v1/heartbeat", post(heartbeat)),
        (Method::GET, "/v1/policy", get(policy)),
        (
            Method::POST,
            "/v1/checks/duplicate",
            post(live_check::<api::DuplicateCheck>),
        ),
        (
            Method::POST,
            "/v1/checks/bhxh",
            post(live_check::<api::BhxhCheck>),
        ),
        (
            Method::POST,
            "/v1/checks/subscriber",
            post(live_check::<api::SubscriberCheck>),
        ),
        (
            Method::POST,
            "/v1/checks/certificate",
            post(live_check::<api::CertificateCheck>),
        ),
        (
            Method::POST,
            "/v1/mobile-signature/sessions",
            post(start_signature),
        ),
        (
            Method::GET,
            "/v1/mobile-signature/sessions/{id}",
            get(signature_session),
        ),
        (
            Method::DELETE,
            "/v1/mobile-signature/sessions/{id}",
            axum::routing::delete(cancel_signature),
        ),
        (
            Method::POST,
            "/v1/lookup",
            post(live_check::<api::LookupQuestion>),
        ),
        (
            Method::POST,
            "/v1/handoffs",
            post(live_check::<api::HandoffRequest>),
        ),
        (Method::POST, "/v1/resets", post(start_reset)),
        (Method::POST, "/v1/resets/resend", post(resend_reset)),
        (Method::POST, "/v1/resets/complete", post(complete_reset)),
        (Method::GET, "/v1/health", get(health)),
        (Method::GET, "/v1/openapi.json", get(openapi)),
    ]
}
