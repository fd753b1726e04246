//! Errors as the API answers them: RFC 9457 problem details, with a
//! machine-readable `code` the kiosk acts on.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use kiosk_sync::api::{self, Problem};
use kiosk_sync::httpsig::SignatureError;

use crate::PortalError;

/// An error answered as RFC 9457 problem details.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: Option<String>,
    /// Seconds for `Retry-After`, when not the status's default.
    retry_after: Option<u64>,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        detail: impl Into<Option<String>>,
    ) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// Tells the client to come back after `wait` (whole seconds, at least one).
    pub(super) fn retry_after(mut self, wait: std::time::Duration) -> Self {
        self.retry_after = Some(wait.as_secs_f64().ceil().max(1.0) as u64);
        self
    }

    pub(super) fn internal(detail: &str) -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            detail.to_string(),
        )
    }

    pub(super) fn bad_request(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", detail.into())
    }
}

impl From<PortalError> for ApiError {
    fn from(e: PortalError) -> Self {
        let (status, code) = match &e {
            PortalError::BadCode => (StatusCode::FORBIDDEN, "bad_enrolment_code"),
            PortalError::CodeExpired => (StatusCode::FORBIDDEN, "enrolment_code_expired"),
            PortalError::TooManyTries => (StatusCode::TOO_MANY_REQUESTS, api::TOO_MANY_TRIES),
            PortalError::UnknownKiosk => (StatusCode::FORBIDDEN, "unknown_kiosk"),
            PortalError::RevokedKiosk => (StatusCode::FORBIDDEN, "revoked_kiosk"),
            PortalError::KeyInUse => (StatusCode::CONFLICT, "key_in_use"),
            PortalError::StalePolicy => (StatusCode::CONFLICT, "stale_policy"),
            PortalError::Export(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            PortalError::Sqlite(_)
            | PortalError::File(_)
            | PortalError::Mssp(_)
            | PortalError::Trust(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
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
        let retry_after = self.retry_after.or(match self.status {
            StatusCode::SERVICE_UNAVAILABLE => Some(5),
            // Failed enrolments are counted over an hour.
            StatusCode::TOO_MANY_REQUESTS => Some(3600),
            _ => None,
        });
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        response
    }
}
