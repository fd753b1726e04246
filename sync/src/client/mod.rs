//! The kiosk's side of the kiosk API: signed requests over reqwest, the
//! portal's TLS certificate pinned, answers turned into what the relay
//! decides on.
//!
//! The client corrects for a wrong kiosk clock instead of failing: when the
//! portal refuses a request as `clock_skew`, the client takes the portal's
//! time from `Date`, remembers the offset, signs again once, and reports
//! the offset ([`PortalClient::clock_skew`]) for the status bar and the
//! heartbeat.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt as _;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, DATE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::api::{
    self, EnrolRequest, EnrolResponse, Heartbeat, HeartbeatResponse, Problem, SignedPolicy,
    StatusResponse, UploadRequest, UploadResponse,
};
use crate::httpsig::{self, RequestParts};
use crate::relay::UploadResult;

mod checks;
use crate::{DeviceKey, Envelope};

/// Bodies at least this large are sent gzip-compressed.
const GZIP_FROM: usize = 1024;
/// What the portal did not say, it is asked again after this long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    #[error("invalid portal address: {0}")]
    Address(String),
    #[error("cannot reach the portal: {0}")]
    Transport(String),
    #[error("the portal refused the request: {status} {code}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        status: u16,
        code: String,
        detail: Option<String>,
    },
    #[error("the portal is busy; retry after {} s", .0.as_secs())]
    Busy(Duration),
    #[error("unexpected answer from the portal: {0}")]
    Protocol(String),
}

/// How to reach the portal.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://…` in production; `http://` only for loopback tests.
    pub base_url: String,
    /// SHA-256 of the portal's TLS certificate (DER). Required for https.
    pub tls_pin: Option<[u8; 32]>,
    /// For the whole exchange, connection included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl ClientConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            tls_pin: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Accepts exactly one certificate, by the SHA-256 of its DER; handshake
/// signatures are still verified with it.
#[derive(Debug)]
struct PinnedCertificate {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if Sha256::digest(end_entity.as_ref()).as_slice() == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The SHA-256 of a certificate, as `tls_pin` wants it.
pub fn certificate_pin(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A kiosk's connection to the portal.
pub struct PortalClient {
    http: reqwest::Client,
    base: reqwest::Url,
    key: DeviceKey,
    clock: Clock,
    skew: AtomicI64,
}

impl std::fmt::Debug for PortalClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalClient")
            .field("base", &self.base.as_str())
            .field("skew", &self.skew)
            .finish_non_exhaustive()
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn problem(&self) -> ClientError {
        let problem = serde_json::from_slice::<Problem>(&self.body).ok();
        // Busy is for waiting and trying again by itself; a portal that
        // turned this address away after failed enrolments needs a person.
        let for_a_person = problem
            .as_ref()
            .is_some_and(|p| p.code == api::TOO_MANY_TRIES);
        if matches!(
            self.status,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS
        ) && !for_a_person
        {
            return ClientError::Busy(retry_after(&self.headers).unwrap_or(DEFAULT_RETRY_AFTER));
        }
        match problem {
            Some(p) => ClientError::Refused {
                status: self.status.as_u16(),
                code: p.code,
                detail: p.detail,
            },
            None => ClientError::Refused {
                status: self.status.as_u16(),
                code: "unknown".into(),
                detail: None,
            },
        }
    }

    fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ClientError> {
        if !self.status.is_success() {
            return Err(self.problem());
        }
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Protocol(e.to_string()))
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

impl PortalClient {
    pub fn new(config: &ClientConfig, key: DeviceKey) -> Result<PortalClient, ClientError> {
        let base = reqwest::Url::parse(&config.base_url)
            .map_err(|e| ClientError::Address(e.to_string()))?;
        match (base.scheme(), config.tls_pin) {
            ("http", _) if is_loopback(&base) => {}
            ("http", _) => {
                return Err(ClientError::Address(
                    "plain http is only for a portal on this machine (loopback); use https with the portal's certificate pin".into(),
                ));
            }
            ("https", Some(_)) => {}
            ("https", None) => {
                return Err(ClientError::Address(
                    "https needs the portal's certificate pin (tls_pin)".into(),
                ));
            }
            (other, _) => return Err(ClientError::Address(format!("unsupported scheme {other}"))),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Without a pin the client speaks plain HTTP only: a certificate
        // that matches nothing refuses every TLS connection.
        let verifier = PinnedCertificate {
            pin: config.tls_pin.unwrap_or([0; 32]),
            provider: Arc::clone(&provider),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Address(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .no_proxy()
            // A portal never redirects; an answer that tries goes nowhere
            // (it could send the next request, with a citizen's data, to
            // another host or to plain http).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vn-dvc-kiosk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Address(e.to_string()))?;
        Ok(PortalClient {
            http,
            base,
            key,
            clock: Arc::new(system_clock),
            skew: AtomicI64::new(0),
        })
    }

    /// Uses `clock` (Unix seconds) instead of the system's: for tests of a
    /// kiosk whose clock is wrong.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Portal time minus kiosk time, as last measured (0 until the portal
    /// has complained).
    pub fn clock_skew(&self) -> i64 {
        self.skew.load(Ordering::Relaxed)
    }

    /// The kiosk's clock corrected by the known skew.
    pub fn portal_now(&self) -> i64 {
        (self.clock)() + self.clock_skew()
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Answer, ClientError> {
        let mut url = self
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ClientError::Address(e.to_string()))?;
        url.set_query(query);
        let authority = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => return Err(ClientError::Address("no host".into())),
        };
        let compressed = body.len() >= GZIP_FROM;
        let body = if compressed {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
            gz.write_all(body)
                .and_then(|()| gz.finish())
                .map_err(|e| ClientError::Protocol(e.to_string()))?
        } else {
            body.to_vec()
        };
        for attempt in 0..2 {
            let nonce = URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 16]>());
            let signed = httpsig::sign(
                RequestParts {
                    method: method.as_str(),
                    authority: &authority,
                    path: url.path(),
                    query: url.query(),
                    content_digest: None,
                },
                &body,
                &self.key,
                self.portal_now(),
                &nonce,
            );
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header("content-digest", signed.content_digest)
                .header("signature-input", signed.signature_input)
                .header("signature", signed.signature);
            if !body.is_empty() {
                request = request.header(CONTENT_TYPE, "application/json");
            }
            if compressed {
                request = request.header(CONTENT_ENCODING, "gzip");
            }
            let response = request
                .body(body.clone())
                .send()
                .await
                .map_err(|e| ClientError::Transport(transport_message(&e)))?;
            let status = response.status();
            let headers = response.headers().clone();
            let answer = Answer {
                status,
                headers,
                body: read_bounded(response).await?,
            };
            if attempt == 0
                && status == StatusCode::UNAUTHORIZED
                && let ClientError::Refused { code, .. } = answer.problem()
                && code == api::CLOCK_SKEW
                && let Some(portal) = answer
                    .headers
                    .get(DATE)
                    .and_then(|d| d.to_str().ok())
                    .and_then(|d| httpdate::parse_http_date(d).ok())
            {
                let portal = portal
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                self.skew.store(portal - (self.clock)(), Ordering::Relaxed);
                continue;
            }
            return Ok(answer);
        }
        unreachable!("the second attempt always returns")
    }

    /// Enrols this kiosk's key with a one-time code.
    pub async fn enrol(&self, code: &str) -> Result<EnrolResponse, ClientError> {
        let request = EnrolRequest { code: code.into() };
        self.post_json("/v1/enrolment", &request).await
    }

    /// Delivers a batch. Never an error: whatever happens becomes what the
    /// relay decides on.
    pub async fn upload(&self, envelopes: Vec<Envelope>) -> UploadResult {
        let body = serde_json::to_vec(&UploadRequest { envelopes }).expect("a batch serialises");
        let answer = match self
            .send(Method::POST, "/v1/registrations", None, &body)
            .await
        {
            Ok(a) => a,
            Err(e) => return UploadResult::Failed(e.to_string()),
        };
        match answer.json::<UploadResponse>() {
            Ok(r) => UploadResult::Answered(
                r.results
                    .into_iter()
                    .map(|i| {
                        let outcome = i.outcome();
                        (i.registration_id, outcome)
                    })
                    .collect(),
            ),
            Err(ClientError::Busy(wait)) => UploadResult::RetryAfter(wait),
            Err(e) => UploadResult::Failed(e.to_string()),
        }
    }

    /// Status changes after `cursor`.
    pub async fn status_since(
        &self,
        cursor: i64,
        limit: u32,
    ) -> Result<StatusResponse, ClientError> {
        let query = format!("after={cursor}&limit={limit}");
        self.send(Method::GET, "/v1/status", Some(&query), &[])
            .await?
            .json()
    }

    pub async fn heartbeat(&self, report: &Heartbeat) -> Result<HeartbeatResponse, ClientError> {
        self.post_json("/v1/heartbeat", report).await
    }

    /// POSTs `question` as JSON to `path` and reads the JSON answer.
    async fn post_json<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        question: &Q,
    ) -> Result<A, ClientError> {
        let body = serde_json::to_vec(question).expect("a request serialises");
        self.send(Method::POST, path, None, &body).await?.json()
    }

    /// The current signed policy, `None` when the portal publishes none.
    /// The caller verifies it.
    pub async fn policy(&self) -> Result<Option<SignedPolicy>, ClientError> {
        let answer = self.send(Method::GET, "/v1/policy", None, &[]).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        answer.json().map(Some)
    }
}

/// The most an answer may hold once decompressed: a full status page or a
/// batch's results are far below it.
pub const MAX_RESPONSE: usize = 8 * 1024 * 1024;

/// Reads an answer's body (decompressed, as reqwest hands it over) and
/// stops at [`MAX_RESPONSE`]: a small gzip body that inflates without
/// bound is refused, not held in memory.
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, ClientError> {
    let too_large = || ClientError::Protocol(format!("the answer is over {MAX_RESPONSE} bytes"));
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ClientError::Transport(transport_message(&e)))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether the portal's address is this machine itself.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// reqwest's error with its causes, which say what actually happened
/// (refused, reset, timed out, certificate).
fn transport_message(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}
