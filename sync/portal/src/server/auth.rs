//! Authentication as axum extractors: a handler that takes [`Signed`] or
//! [`Enrolling`] sees only requests whose signature, time and nonce passed.

use std::io::Read as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};

use kiosk_sync::DevicePublicKey;
use kiosk_sync::api;
use kiosk_sync::httpsig::{self, RequestParts};

use super::{ApiError, MAX_BODY, Shared, now};
use crate::{Portal, PortalError};

/// A request signed by an enrolled kiosk: its key, its id and the body
/// (decompressed). Taking it as a handler's argument authenticates the
/// request first.
pub(super) struct Signed {
    pub(super) key: DevicePublicKey,
    pub(super) kiosk_id: i64,
    pub(super) body: Vec<u8>,
}

/// A request signed by a kiosk that is enrolling: its key is not known yet.
pub(super) struct Enrolling {
    pub(super) key: DevicePublicKey,
    pub(super) body: Vec<u8>,
    /// The address it came from, which failed enrolments are counted by.
    pub(super) source: Option<String>,
}

impl FromRequest<Arc<Shared>> for Signed {
    type Rejection = ApiError;

    async fn from_request(request: Request, shared: &Arc<Shared>) -> Result<Self, ApiError> {
        // Unsigned, or signed by no enrolled kiosk: refused on its headers,
        // before a byte of its body is read.
        let claimed = claimed_key(request.headers())?;
        shared.db(move |p| p.kiosk(&claimed)).await?;
        let (kiosk_id, key, body) = authenticate(request, shared, |p, key| p.kiosk(key)).await?;
        tracing::Span::current().record("kiosk", kiosk_id);
        shared.charge_kiosk(kiosk_id)?;
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
        claimed_key(request.headers())?;
        let source = request
            .extensions()
            .get::<axum::extract::ConnectInfo<super::Peer>>()
            .map(|c| c.0.0.ip().to_string());
        let ((), key, body) = authenticate(request, shared, |_, _| Ok(())).await?;
        Ok(Enrolling { key, body, source })
    }
}

/// The key the request claims in its signature headers.
fn claimed_key(headers: &HeaderMap) -> Result<DevicePublicKey, ApiError> {
    Ok(httpsig::claimed_key(
        header_str(headers, "signature-input"),
        header_str(headers, "signature"),
    )?)
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
    let read = Bytes::from_request(request, shared);
    let body = tokio::time::timeout(shared.config.body_timeout, read)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the request's body did not arrive in time".to_string(),
            )
        })?
        .map_err(|e| {
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

pub(super) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("JSON body: {e}")))
}
