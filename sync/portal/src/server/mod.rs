//! The reference portal's HTTP face: the kiosk API of `sync/openapi.json`
//! on axum, over the [`Portal`] core.
//!
//! Every kiosk request is authenticated the same way before its handler
//! sees it: the RFC 9421 signature and body digest verify, `created` is
//! within [`ServerConfig::max_skew_secs`] of the portal's clock (otherwise
//! `401 clock_skew`, so the kiosk can correct itself from `Date`), the key
//! belongs to an enrolled, unrevoked kiosk (enrolment excepted), and the
//! nonce was never seen from that kiosk (otherwise `401 replay`).
//!
//! Every request is logged once it is answered (`tracing`, target
//! `kiosk_portal::server`): method, path, status, the kiosk's id when it
//! authenticated, and the time taken. Never a body, a query or a header:
//! bodies carry names and numbers.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::DefaultBodyLimit;

use kiosk_sync::DeviceKey;

use crate::{Portal, PortalError};

mod auth;
mod error;
mod handlers;

pub use error::ApiError;
use handlers::not_found;
pub use handlers::routes;

/// The OpenAPI 3.1 description of this API, served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../../../openapi.json");

/// Largest request body, compressed or not.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Largest batch of registrations in one upload.
pub const MAX_BATCH: usize = 1000;
/// Largest page of the status feed.
pub const MAX_STATUS_PAGE: i64 = 1000;
/// How long a mobile-signature request waits on the phone.
pub const SIGNATURE_TTL_SECS: i64 = 120;
/// The longest long-poll.
pub const MAX_WAIT_SECS: u64 = 30;

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
    pub(super) async fn db<T: Send + 'static>(
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

pub fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new();
    for (_, path, method_router) in routes() {
        router = router.route(path, method_router);
    }
    router
        .fallback(not_found)
        .layer(axum::middleware::from_fn(log_request))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Answers (batch results, the status feed) go gzip-compressed to a
        // kiosk that accepts it: on a slow line they are a fifth of the bytes.
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(shared)
}

/// Logs the request when it is answered. The kiosk's id is filled in by
/// the authenticating extractor ([`auth::Signed`]) through the span.
async fn log_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use tracing::Instrument as _;
    let started = std::time::Instant::now();
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = request.uri().path(),
        kiosk = tracing::field::Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    // Tenths of a millisecond: enough to read, no float noise in the log.
    let ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(status, ms, "answered");
        } else {
            tracing::info!(status, ms, "answered");
        }
    });
    response
}

/// Serves the API on `listener` (plain TCP, or [`crate::tls::TlsListener`])
/// until `shutdown` completes.
pub async fn serve<L>(
    listener: L,
    shared: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
    for<'a> Peer: axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    // Handlers see the peer's address (failed enrolments are counted by it).
    let service = router(shared).into_make_service_with_connect_info::<Peer>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The address a connection came from, for either listener the portal
/// serves on (plain TCP, or [`crate::tls::TlsListener`]).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>>
    for Peer
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Peer {
        Peer(*stream.remote_addr())
    }
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
