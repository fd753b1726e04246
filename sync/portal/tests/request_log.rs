//! The portal's request log, captured: each request is one line with its
//! method, path, status, kiosk and time, and nothing of its body.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use kiosk_portal::server::{self, ServerConfig, Shared};
use kiosk_portal::{Portal, demo_fixtures};
use kiosk_sync::api::BhxhCheck;
use kiosk_sync::client::{ClientConfig, PortalClient};
use kiosk_sync::{DeviceKey, PortalSecretKey};

/// Everything logged in this test binary.
fn captured() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        tracing_subscriber::fmt()
            .with_env_filter("kiosk_portal=trace")
            .with_ansi(false)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .init();
        log
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_logged_with_its_kiosk_and_status_and_never_its_body() {
    let log = captured();
    let dir = tempfile::tempdir().unwrap();
    let mut portal = Portal::open(
        &dir.path().join("portal.sqlite3"),
        PortalSecretKey::generate(),
    )
    .unwrap();
    portal.load_fixtures(&demo_fixtures()).unwrap();
    let code = portal.issue_enrolment_code(server::now(), 600).unwrap();
    let shared = Shared::new(portal, DeviceKey::generate(), ServerConfig::default());
    let loopback = server::serve_loopback(Arc::clone(&shared)).await.unwrap();
    let client =
        PortalClient::new(&ClientConfig::new(loopback.url()), DeviceKey::generate()).unwrap();
    let kiosk_id = client.enrol(&code).await.unwrap().kiosk_id;

    let record = &demo_fixtures().bhxh[0];
    let answer = client
        .check_bhxh(&BhxhCheck {
            bhxh_code: record.code.clone(),
            full_name: record.full_name.clone(),
            date_of_birth: record.date_of_birth.clone(),
        })
        .await
        .unwrap();
    assert!(answer.matched);
    // A request nobody signed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let unsigned = reqwest::Client::new()
        .post(format!("{}v1/checks/duplicate", loopback.url()))
        .body(r#"{"identity":"cccd:079192004567"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    drop(loopback);

    let text = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    let line = |path: &str| {
        text.lines()
            .find(|l| {
                l.contains(&format!("path=\"{path}\"")) || l.contains(&format!("path={path}"))
            })
            .unwrap_or_else(|| panic!("no log line for {path}:\n{text}"))
            .to_string()
    };
    let checked = line("/v1/checks/bhxh");
    for part in ["POST", "status=200", &format!("kiosk={kiosk_id}"), "ms="] {
        assert!(checked.contains(part), "{part} missing from {checked}");
    }
    let refused = line("/v1/checks/duplicate");
    assert!(refused.contains("status=401"), "{refused}");
    assert!(
        !refused.contains("kiosk="),
        "no kiosk authenticated: {refused}"
    );
    assert!(line("/v1/enrolment").contains("status=200"));
    for private in [
        record.code.as_str(),
        record.full_name.as_str(),
        record.date_of_birth.as_str(),
        "079192004567",
    ] {
        assert!(!text.contains(private), "{private} was logged:\n{text}");
    }
}
