//! The reference portal's HTTP face: the kiosk API of `sync/openapi.json`
//! on axum, over the [`Portal`] core.
//!
//! Every kiosk request is authenticated the same way before its handler
//! sees it: the RFC 9421 signature and body digest verify, `created` is
//! within [`ServerConfig::max_skew_secs`] of the portal's clock (otherwise
//! `401 clock_skew`, so the kiosk can correct itself from `Date`), the key
//! belongs to an enrolled, unrevoked kiosk (enrolment excepted), and the
//! nonce was never seen from that kiosk (otherwise `401 replay`).

use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde::Deserialize;

use crate::api::{
    self, EnrolRequest, EnrolResponse, Health, Heartbeat, HeartbeatResponse, ItemResult, Problem,
    StatusItem, StatusResponse, UploadRequest, UploadResponse,
};
use crate::httpsig::{self, RequestParts, SignatureError};
use crate::portal::{Portal, PortalError};
use crate::{DeviceKey, DevicePublicKey};

/// The OpenAPI 3.1 description of this API, served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Largest request body, compressed or not.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Largest batch of registrations in one upload.
pub const MAX_BATCH: usize = 1000;
/// Largest page of the status feed.
pub const MAX_STATUS_PAGE: i64 = 1000;

#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    /// How far a request's `created` may be from the portal's clock.
    pub max_skew_secs: i64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { max_skew_secs: 300 }
    }
}

/// What the handlers share.
#[derive(Debug)]
pub struct Shared {
    portal: Mutex<Portal>,
    policy_key: DeviceKey,
    config: ServerConfig,
}

impl Shared {
    pub fn new(portal: Portal, policy_key: DeviceKey, config: ServerConfig) -> Arc<Shared> {
        Arc::new(Shared {
            portal: Mutex::new(portal),
            policy_key,
            config,
        })
    }

    /// The portal itself, for administration beside the server (tests,
    /// the demo). Blocks while a request holds it.
    pub fn portal(&self) -> std::sync::MutexGuard<'_, Portal> {
        self.portal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` on the portal's database, off the async threads.
    async fn db<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Portal) -> Result<T, PortalError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let shared = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut portal = shared
                .portal
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut portal)
        })
        .await
        .map_err(|_| ApiError::internal("database task failed"))?
        .map_err(ApiError::from)
    }
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// An error answered as RFC 9457 problem details.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, detail: impl Into<Option<String>>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
        }
    }

    fn internal(detail: &str) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            detail.to_string(),
        )
    }

    fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", detail.into())
    }
}

impl From<PortalError> for ApiError {
    fn from(e: PortalError) -> Self {
        let (status, code) = match &e {
            PortalError::BadCode => (StatusCode::FORBIDDEN, "bad_enrolment_code"),
            PortalError::CodeExpired => (StatusCode::FORBIDDEN, "enrolment_code_expired"),
            PortalError::UnknownKiosk => (StatusCode::FORBIDDEN, "unknown_kiosk"),
            PortalError::RevokedKiosk => (StatusCode::FORBIDDEN, "revoked_kiosk"),
            PortalError::StalePolicy => (StatusCode::CONFLICT, "stale_policy"),
            PortalError::Export(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            PortalError::Sqlite(_) | PortalError::Mssp(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
        };
        ApiError::new(status, code, e.to_string())
    }
}

impl From<SignatureError> for ApiError {
    fn from(e: SignatureError) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "bad_signature", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("urn:vn-dvc-kiosk:problem:{}", self.code),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            code: self.code.to_string(),
            detail: self.detail,
        };
        let mut response = (self.status, Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        response
    }
}

/// A request signed by an enrolled kiosk: its key, its id and the body
/// (decompressed). Taking it as a handler's argument authenticates the
/// request first.
struct Signed {
    key: DevicePublicKey,
    kiosk_id: i64,
    body: Vec<u8>,
}

/// A request signed by a kiosk that is enrolling: its key is not known yet.
struct Enrolling {
    key: DevicePublicKey,
    body: Vec<u8>,
}

impl FromRequest<Arc<Shared>> for Signed {
    type Rejection = ApiError;

    async fn from_request(request: Request, shared: &Arc<Shared>) -> Result<Self, ApiError> {
        let (kiosk_id, key, body) = authenticate(request, shared, |p, key| p.kiosk(key)).await?;
        Ok(Signed {
            key,
            kiosk_id,
            body,
        })
    }
}

impl FromRequest<Arc<Shared>> for Enrolling {
    type Rejection = ApiError;

    async fn from_request(request: Request, shared: &Arc<Shared>) -> Result<Self, ApiError> {
        let ((), key, body) = authenticate(request, shared, |_, _| Ok(())).await?;
        Ok(Enrolling { key, body })
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn gunzip(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::bad_request(format!("gzip body: {e}")))?;
    if out.len() > MAX_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the body is too large once decompressed".to_string(),
        ));
    }
    Ok(out)
}

/// Checks the request's signature, its time and its nonce, runs `lookup`
/// for the signing key in the same database call, and answers what it
/// found, the key and the body (decompressed).
async fn authenticate<T: Send + 'static>(
    request: Request,
    shared: &Arc<Shared>,
    lookup: impl FnOnce(&mut Portal, &DevicePublicKey) -> Result<T, PortalError> + Send + 'static,
) -> Result<(T, DevicePublicKey, Vec<u8>), ApiError> {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let headers = request.headers().clone();
    let body = Bytes::from_request(request, shared).await.map_err(|e| {
        let code = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_request"
        };
        ApiError::new(e.status(), code, e.body_text())
    })?;
    let headers = &headers;
    let authority = header_str(headers, "host")
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .ok_or_else(|| ApiError::bad_request("no Host header"))?;
    let parts = RequestParts {
        method: method.as_str(),
        authority: &authority,
        path: uri.path(),
        query: uri.query(),
        content_digest: header_str(headers, "content-digest"),
    };
    let verified = httpsig::verify(
        parts,
        &body,
        header_str(headers, "signature-input"),
        header_str(headers, "signature"),
        |keyid| DevicePublicKey::from_base64(keyid).ok(),
    )?;
    let now = now();
    let window = shared.config.max_skew_secs;
    if (verified.created - now).abs() > window {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            api::CLOCK_SKEW,
            format!(
                "the request was signed at {} and the portal's clock reads {now}",
                verified.created
            ),
        ));
    }
    let key = verified.key;
    let nonce = verified.nonce.clone();
    let created = verified.created;
    let (found, fresh) = shared
        .db(move |p| {
            let found = lookup(p, &key)?;
            Ok((
                found,
                p.remember_nonce(&key, &nonce, created, now - 2 * window)?,
            ))
        })
        .await?;
    if !fresh {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "replay",
            "this request was seen before".to_string(),
        ));
    }
    let body = match header_str(headers, "content-encoding") {
        None | Some("identity") => body.to_vec(),
        Some("gzip") => gunzip(&body)?,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!("content encoding {other:?}"),
            ));
        }
    };
    Ok((found, verified.key, body))
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("JSON body: {e}")))
}

async fn enrol(
    State(shared): State<Arc<Shared>>,
    enrolling: Enrolling,
) -> Result<Json<EnrolResponse>, ApiError> {
    let request: EnrolRequest = json_body(&enrolling.body)?;
    let key = enrolling.key;
    let policy_public_key = shared.policy_key.public_key().to_base64();
    let (kiosk_id, portal_public_key, policy) = shared
        .db(move |p| {
            let id = p.enrol(&request.code, &key, now())?;
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
    fn answer(self, p: &mut Portal) -> Result<Self::Answer, PortalError> {
        let owner = match p.subscriber_owner(&self.phone, &self.personal_id)? {
            Some(true) => api::Ownership::Confirmed,
            Some(false) => api::Ownership::NotOwner,
            None => api::Ownership::Unknown,
        };
        Ok(api::SubscriberAnswer { owner })
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
    Ok(Json(shared.db(move |p| question.answer(p)).await?))
}

/// How long a mobile-signature request waits on the phone.
pub const SIGNATURE_TTL_SECS: i64 = 120;
/// The longest long-poll.
pub const MAX_WAIT_SECS: u64 = 30;

fn session_view(s: crate::portal::SignatureSession) -> api::SignatureSession {
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
        if session.state != "pending" || tokio::time::Instant::now() >= deadline {
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

async fn not_found() -> ApiError {
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
        (Method::GET, "/v1/health", get(health)),
        (Method::GET, "/v1/openapi.json", get(openapi)),
    ]
}

pub fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new();
    for (_, path, method_router) in routes() {
        router = router.route(path, method_router);
    }
    router
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Answers (batch results, the status feed) go gzip-compressed to a
        // kiosk that accepts it: on a slow line they are a fifth of the bytes.
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(shared)
}

/// Serves the API on `listener` (plain TCP, or [`crate::tls::TlsListener`])
/// until `shutdown` completes.
pub async fn serve<L>(
    listener: L,
    shared: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    axum::serve(listener, router(shared))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The API served on a free loopback port until this is dropped: for the
/// demo, the tests and the benchmarks.
#[derive(Debug)]
pub struct Loopback {
    address: std::net::SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Loopback {
    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }
}

/// Serves the API on a free loopback port, on the current tokio runtime.
pub async fn serve_loopback(shared: Arc<Shared>) -> std::io::Result<Loopback> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, shared, async {
        stopped.await.ok();
    }));
    Ok(Loopback {
        address,
        _stop: stop,
    })
}
