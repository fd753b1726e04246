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
//! Hostile traffic meets limits before it meets the database: a client has
//! [`ServerConfig::header_timeout`] to send its request's headers and
//! [`ServerConfig::body_timeout`] to send its body; an unsigned request, or
//! one claiming no enrolled kiosk's key, is refused before its body is
//! read; an address whose requests keep failing authentication is turned
//! away for a while (`429`), and so is a kiosk sending faster than
//! [`ServerConfig::kiosk_rate`] allows.
//!
//! Every request is logged once it is answered (`tracing`, target
//! `kiosk_portal::server`): method, path, status, the kiosk's id when it
//! authenticated, and the time taken. Never a body, a query or a header:
//! bodies carry names and numbers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::http::StatusCode;

use kiosk_sync::DeviceKey;

use crate::{Portal, PortalError};

mod auth;
mod error;
mod handlers;
mod limits;

pub use error::ApiError;
use handlers::not_found;
pub use handlers::routes;
use limits::Limiter;
pub use limits::Rate;

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
    /// How long a client has to send a request's headers, from the
    /// connection's start or the previous answer.
    pub header_timeout: Duration,
    /// How long a client has to send a request's body once its headers
    /// are in.
    pub body_timeout: Duration,
    /// Authenticated requests per enrolled kiosk.
    pub kiosk_rate: Rate,
    /// Requests refused as unauthenticated per source address.
    pub source_failure_rate: Rate,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_skew_secs: 300,
            header_timeout: Duration::from_secs(10),
            // A full batch (512 KiB before gzip) at 64 kbit/s takes about
            // a minute on a field kit's worst line.
            body_timeout: Duration::from_secs(120),
            // A relay round is a few requests; a citizen's live checks a
            // few more. A hundred at once covers a kiosk back from weeks
            // offline; five a second sustained is several busy kiosks' worth.
            kiosk_rate: Rate {
                per_sec: 5.0,
                burst: 100.0,
            },
            // A misconfigured kiosk retries with backoff; thirty refusals
            // in a row, then one a second, is someone probing.
            source_failure_rate: Rate {
                per_sec: 1.0,
                burst: 30.0,
            },
        }
    }
}

/// What the handlers share.
#[derive(Debug)]
pub struct Shared {
    portal: Mutex<Portal>,
    policy_key: DeviceKey,
    config: ServerConfig,
    per_kiosk: Limiter,
    per_source: Limiter,
}

impl Shared {
    pub fn new(portal: Portal, policy_key: DeviceKey, config: ServerConfig) -> Arc<Shared> {
        Arc::new(Shared {
            portal: Mutex::new(portal),
            policy_key,
            per_kiosk: Limiter::new(config.kiosk_rate),
            per_source: Limiter::new(config.source_failure_rate),
            config,
        })
    }

    /// Spends one of `kiosk`'s requests; `429` when it has none left.
    pub(super) fn charge_kiosk(&self, kiosk: i64) -> Result<(), ApiError> {
        self.per_kiosk
            .take(&kiosk.to_string(), Instant::now())
            .map_err(|wait| {
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "this kiosk is sending requests faster than the portal takes them".to_string(),
                )
                .retry_after(wait)
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
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&shared),
            limit_failing_sources,
        ))
        .layer(axum::middleware::from_fn(log_request))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Answers (batch results, the status feed) go gzip-compressed to a
        // kiosk that accepts it: on a slow line they are a fifth of the bytes.
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(shared)
}

/// Turns away an address whose requests keep failing authentication, and
/// charges it for each new failure.
async fn limit_failing_sources(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let source = request
        .extensions()
        .get::<ConnectInfo<Peer>>()
        .map(|c| c.0.0.ip().to_string());
    let Some(source) = source else {
        return next.run(request).await;
    };
    if let Some(wait) = shared.per_source.wait(&source, Instant::now()) {
        return ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many unauthenticated requests from this address".to_string(),
        )
        .retry_after(wait)
        .into_response();
    }
    let response = next.run(request).await;
    if matches!(
        response.status(),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) {
        // Spent whether or not a token was left: the next request waits.
        let _ = shared.per_source.take(&source, Instant::now());
    }
    response
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
/// until `shutdown` completes, then lets the requests in progress finish.
/// Each connection is served by hyper with [`ServerConfig::header_timeout`]
/// (axum's own `serve` sets no timer, so a client could hold a connection
/// by never finishing its headers).
pub async fn serve<L>(
    mut listener: L,
    shared: Arc<Shared>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let header_timeout = shared.config.header_timeout;
    let app = router(shared);
    let (closing, closing_seen) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, address) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        // Handlers see the peer's address (failed enrolments and failed
        // authentications are counted by it).
        let service = TowerToHyperService::new(
            app.clone()
                .layer(axum::Extension(ConnectInfo(Peer(address)))),
        );
        let mut closing_seen = closing_seen.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let connection = builder.serve_connection(TokioIo::new(io), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = closing_seen.changed() => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    drop(closing_seen);
    closing.send_replace(());
    closing.closed().await;
    Ok(())
}

/// The address a connection came from.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::SocketAddr);

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
