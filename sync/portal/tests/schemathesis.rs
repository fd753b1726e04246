//! Schemathesis (from PyPI; `tests/run` installs it under target/venv)
//! against the reference portal with the OpenAPI document: no 5xx, no
//! response outside the document, no schema violation.
//!
//! Twice: straight at the portal, where every kiosk request is unsigned
//! and must be refused as documented; and through a signing proxy that
//! signs each generated request with an enrolled kiosk's key, so the
//! generated bodies reach the handlers themselves.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use kiosk_portal::Portal;
use kiosk_portal::server::{self, ServerConfig, Shared};
use kiosk_sync::httpsig::{self, RequestParts};
use kiosk_sync::{DeviceKey, PortalSecretKey};

fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("SCHEMATHESIS") {
        return path.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv/bin/schemathesis");
    assert!(
        venv.exists(),
        "schemathesis is not installed: run tests/run, which installs it under target/venv"
    );
    venv
}

struct Signer {
    portal: String,
    authority: String,
    key: DeviceKey,
    http: reqwest::Client,
}

/// Forwards a request to the portal with a fresh signature over exactly
/// the bytes it carries.
async fn sign_and_forward(
    axum::extract::State(signer): axum::extract::State<Arc<Signer>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let nonce = format!("{:032x}", rand::random::<u128>());
    let signed = httpsig::sign(
        RequestParts {
            method: method.as_str(),
            authority: &signer.authority,
            path: uri.path(),
            query: uri.query(),
            content_digest: None,
        },
        &body,
        &signer.key,
        server::now(),
        &nonce,
    );
    let target = format!(
        "{}{}",
        signer.portal,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = signer
        .http
        .request(method, target)
        .header("content-digest", signed.content_digest)
        .header("signature-input", signed.signature_input)
        .header("signature", signed.signature)
        .body(body);
    for name in ["content-type", "content-encoding"] {
        if let Some(v) = headers.get(name) {
            request = request.header(name, v);
        }
    }
    let answer = request.send().await.expect("the portal answers");
    let status = answer.status();
    let mut out = HeaderMap::new();
    for (name, value) in answer.headers() {
        if name != "transfer-encoding" && name != "content-length" {
            out.insert(name.clone(), value.clone());
        }
    }
    let bytes = answer.bytes().await.expect("a whole answer");
    (status, out, bytes).into_response()
}

fn run(base: &str) {
    // Schemathesis keeps a cache where it runs: not in the source tree.
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new(schemathesis())
        .current_dir(scratch.path())
        .args([
            "run",
            &format!("{base}v1/openapi.json"),
            "--url",
            base,
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance",
            "--max-examples",
            "40",
            "--seed",
            "1",
        ])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .expect("schemathesis runs");
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("passed"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_keeps_to_its_openapi_document_under_generated_requests() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut portal = Portal::open(
        &dir.path().join("portal.sqlite3"),
        PortalSecretKey::generate(),
    )
    .unwrap();
    let key = DeviceKey::generate();
    let code = portal.issue_enrolment_code(server::now(), 600).unwrap();
    portal
        .enrol(&code, &key.public_key(), None, server::now())
        .unwrap();
    // The rate limits have their own tests (api.rs); here they would turn
    // most generated requests into 429s and hide the handlers behind them.
    let unlimited = server::Rate {
        per_sec: 1e6,
        burst: 1e6,
    };
    let shared = Shared::new(
        portal,
        DeviceKey::generate(),
        ServerConfig {
            kiosk_rate: unlimited,
            source_failure_rate: unlimited,
            ..ServerConfig::default()
        },
    );
    let portal_server = server::serve_loopback(Arc::clone(&shared)).await.unwrap();
    let authority = portal_server.address().to_string();

    let signer = Arc::new(Signer {
        portal: format!("http://{authority}"),
        authority: authority.clone(),
        key,
        http: reqwest::Client::new(),
    });
    let proxy = axum::Router::new()
        .fallback(sign_and_forward)
        .with_state(signer);
    let proxy_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}/", proxy_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(proxy_listener, proxy).await });

    let direct = format!("http://{authority}/");
    tokio::task::spawn_blocking(move || {
        run(&direct);
        run(&proxy_url);
    })
    .await
    .unwrap();
    // The signed run reached the handlers: generated batches were judged.
    let kiosks = shared.portal().kiosks().unwrap();
    assert!(
        kiosks[0].last_heartbeat.is_some(),
        "no generated heartbeat got through"
    );
}
