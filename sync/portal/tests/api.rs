//! The kiosk API over real HTTP on loopback: the reference portal's axum
//! server and the kiosk's reqwest client, with signatures, replay and clock
//! checks, idempotent upload, the status feed, heartbeat and policy.

use std::collections::BTreeSet;
use std::sync::Arc;

use kiosk_portal::Portal;
use kiosk_portal::server::{self, ServerConfig, Shared};
use kiosk_sync::api::{SignatureState, SignedPolicy};
use kiosk_sync::client::{ClientConfig, ClientError, PortalClient};
use kiosk_sync::httpsig::{self, RequestParts};
use kiosk_sync::relay::{ItemOutcome, UploadResult};
use kiosk_sync::{
    DeviceKey, Envelope, EnvelopeHeader, PAYLOAD_SCHEMA, PortalPublicKey, PortalSecretKey,
    RegistrationPayload, seal,
};

struct Rig {
    _dir: tempfile::TempDir,
    shared: Arc<Shared>,
    url: String,
    sealing: PortalPublicKey,
    policy_key: DeviceKey,
    _server: server::Loopback,
}

impl Rig {
    async fn start() -> Rig {
        Rig::start_with(ServerConfig::default()).await
    }

    async fn start_with(config: ServerConfig) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let secret = PortalSecretKey::generate();
        let sealing = secret.public_key();
        let portal = Portal::open(&dir.path().join("portal.sqlite3"), secret).unwrap();
        let policy_key = DeviceKey::generate();
        let shared = Shared::new(
            portal,
            DeviceKey::from_secret_bytes(&*policy_key.secret_bytes()).unwrap(),
            config,
        );
        let server = server::serve_loopback(Arc::clone(&shared)).await.unwrap();
        Rig {
            _dir: dir,
            shared,
            url: server.url(),
            sealing,
            policy_key,
            _server: server,
        }
    }

    fn code(&self) -> String {
        self.shared
            .portal()
            .issue_enrolment_code(server::now(), 3600)
            .unwrap()
    }

    fn client(&self, key: &DeviceKey) -> PortalClient {
        PortalClient::new(
            &ClientConfig::new(&self.url),
            DeviceKey::from_secret_bytes(&*key.secret_bytes()).unwrap(),
        )
        .unwrap()
    }

    async fn enrolled(&self) -> (DeviceKey, PortalClient) {
        let key = DeviceKey::generate();
        let client = self.client(&key);
        client.enrol(&self.code()).await.unwrap();
        (key, client)
    }

    fn envelope(&self, key: &DeviceKey, id: &str, person: &str) -> Envelope {
        let payload = RegistrationPayload {
            schema: PAYLOAD_SCHEMA.into(),
            registration_id: id.into(),
            reference: format!("DK-{id}"),
            created_at: 1,
            method: "mobile_subscriber".into(),
            subject: "citizen".into(),
            level: 1,
            pending: vec!["global_duplicate".into()],
            full_name: Some("Lê Thị Hồng".into()),
            business_name: None,
            personal_id_kind: Some("cccd".into()),
            personal_id: Some(person.into()),
            tax_code: None,
            bhxh_code: None,
            date_of_birth: Some("1990-01-02".into()),
            phone: Some("+84912000111".into()),
            email: None,
            certificate: None,
            proof: None,
            chip: None,
            counter: None,
            password_hash: Some("$argon2id$v=19$…".into()),
        };
        seal(
            &serde_json::to_vec(&payload).unwrap(),
            EnvelopeHeader::new(id, 1),
            &self.sealing,
            key,
        )
        .unwrap()
    }
}

/// A plain HTTP client for hand-made requests (rustls needs its provider
/// named: the workspace builds reqwest without a default one).
fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn answered(result: UploadResult) -> Vec<(String, ItemOutcome)> {
    match result {
        UploadResult::Answered(a) => a,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolment_gives_the_kiosk_its_id_and_the_portal_keys() {
    let rig = Rig::start().await;
    let key = DeviceKey::generate();
    let client = rig.client(&key);
    let code = rig.code();
    let answer = client.enrol(&code).await.unwrap();
    assert_eq!(answer.portal_public_key, rig.sealing.to_base64());
    assert_eq!(
        answer.policy_public_key,
        rig.policy_key.public_key().to_base64()
    );
    assert_eq!(
        rig.shared.portal().kiosk(&key.public_key()).unwrap(),
        answer.kiosk_id
    );
    // The code is spent.
    let again = rig.client(&DeviceKey::generate()).enrol(&code).await;
    assert!(
        matches!(&again, Err(ClientError::Refused { status: 403, code, .. }) if code == "bad_enrolment_code"),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_resent_after_a_lost_answer_creates_nothing_twice() {
    let rig = Rig::start().await;
    let (key, client) = rig.enrolled().await;
    // Enough envelopes that the body is compressed on the way.
    let batch: Vec<Envelope> = (0..40)
        .map(|i| rig.envelope(&key, &format!("r{i}"), &format!("0510990{i:05}")))
        .collect();
    let first = answered(client.upload(batch.clone()).await);
    assert_eq!(first.len(), 40);
    assert!(first.iter().all(|(_, o)| *o == ItemOutcome::Accepted));
    let again = answered(client.upload(batch).await);
    assert_eq!(again, first);
    assert_eq!(rig.shared.portal().account_count().unwrap(), 40);

    let page = client.status_since(0, 25).await.unwrap();
    assert_eq!(page.changes.len(), 25);
    let rest = client.status_since(page.next_cursor, 25).await.unwrap();
    assert_eq!(rest.changes.len(), 15);
    let ids: BTreeSet<String> = page
        .changes
        .iter()
        .chain(&rest.changes)
        .map(|c| c.registration_id.clone())
        .collect();
    assert_eq!(ids.len(), 40);
    assert!(
        client
            .status_since(rest.next_cursor, 25)
            .await
            .unwrap()
            .changes
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_citizen_from_two_kiosks_is_one_account() {
    let rig = Rig::start().await;
    let (a_key, a) = rig.enrolled().await;
    let (b_key, b) = rig.enrolled().await;
    let from_a = answered(
        a.upload(vec![rig.envelope(&a_key, "a1", "051099000777")])
            .await,
    );
    let from_b = answered(
        b.upload(vec![rig.envelope(&b_key, "b1", "051099000777")])
            .await,
    );
    assert_eq!(from_a[0].1, ItemOutcome::Accepted);
    assert_eq!(from_b[0].1, ItemOutcome::Duplicate);
    let feed = b.status_since(0, 10).await.unwrap();
    assert_eq!(
        (
            feed.changes[0].registration_id.as_str(),
            feed.changes[0].status.as_str()
        ),
        ("b1", "duplicate")
    );
    assert_eq!(rig.shared.portal().account_count().unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_revoked_kiosks_are_refused() {
    let rig = Rig::start().await;
    let stranger = DeviceKey::generate();
    let result = rig
        .client(&stranger)
        .upload(vec![rig.envelope(&stranger, "s1", "051099000001")])
        .await;
    assert!(
        matches!(&result, UploadResult::Failed(e) if e.contains("unknown_kiosk")),
        "{result:?}"
    );
    let (key, client) = rig.enrolled().await;
    let id = rig.shared.portal().kiosk(&key.public_key()).unwrap();
    rig.shared.portal().revoke(id, server::now()).unwrap();
    let result = client.status_since(0, 10).await;
    assert!(
        matches!(&result, Err(ClientError::Refused { status: 403, code, .. }) if code == "revoked_kiosk"),
        "{result:?}"
    );
    assert_eq!(rig.shared.portal().account_count().unwrap(), 0);
}

/// Sends one request signed by `signer` (claiming `keyid_of`'s key when
/// given), exactly as built, and answers status and problem code.
async fn raw(
    url: &str,
    signer: &DeviceKey,
    created: i64,
    nonce: &str,
    body: &[u8],
    tamper: impl FnOnce(&mut httpsig::SignatureHeaders, &mut Vec<u8>),
) -> (u16, String) {
    let base = reqwest::Url::parse(url).unwrap();
    let authority = format!("{}:{}", base.host_str().unwrap(), base.port().unwrap());
    let mut headers = httpsig::sign(
        RequestParts {
            method: "POST",
            authority: &authority,
            path: "/v1/heartbeat",
            query: None,
            content_digest: None,
        },
        body,
        signer,
        created,
        nonce,
    );
    let mut body = body.to_vec();
    tamper(&mut headers, &mut body);
    let response = http()
        .post(base.join("v1/heartbeat").unwrap())
        .header("content-type", "application/json")
        .header("content-digest", headers.content_digest)
        .header("signature-input", headers.signature_input)
        .header("signature", headers.signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let code = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(String::from))
        .unwrap_or_default();
    (status, code)
}

fn heartbeat_body() -> Vec<u8> {
    serde_json::to_vec(&kiosk_sync::api::Heartbeat {
        software_version: "0.1.0".into(),
        queue_depth: 3,
        oldest_pending_secs: Some(120),
        policy_version: None,
        peripherals: kiosk_sync::api::Peripherals {
            modem: "ready".into(),
            token_reader: false,
            card_reader: true,
        },
        clock_skew_secs: 0,
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_forged_stale_and_tampered_requests_are_refused() {
    let rig = Rig::start().await;
    let (key, _) = rig.enrolled().await;
    let body = heartbeat_body();
    let now = server::now();
    let keep = |_: &mut httpsig::SignatureHeaders, _: &mut Vec<u8>| {};
    assert_eq!(raw(&rig.url, &key, now, "n-1", &body, keep).await.0, 200);
    // The same request again, byte for byte.
    assert_eq!(
        raw(&rig.url, &key, now, "n-1", &body, keep).await,
        (401, "replay".into())
    );
    // Signed by another key, claiming the enrolled one.
    let forger = DeviceKey::generate();
    let claimed = key.public_key().to_base64();
    let forged_keyid = |h: &mut httpsig::SignatureHeaders, _: &mut Vec<u8>| {
        let own = forger.public_key().to_base64();
        h.signature_input = h.signature_input.replace(&own, &claimed);
    };
    assert_eq!(
        raw(&rig.url, &forger, now, "n-2", &body, forged_keyid).await,
        (401, "bad_signature".into())
    );
    // A body changed on the way, with or without its digest.
    let edit = |_: &mut httpsig::SignatureHeaders, b: &mut Vec<u8>| {
        *b = String::from_utf8(b.clone())
            .unwrap()
            .replace("\"queue_depth\":3", "\"queue_depth\":0")
            .into_bytes();
    };
    assert_eq!(
        raw(&rig.url, &key, now, "n-3", &body, edit).await,
        (401, "bad_signature".into())
    );
    let edit_and_digest = |h: &mut httpsig::SignatureHeaders, b: &mut Vec<u8>| {
        *b = String::from_utf8(b.clone())
            .unwrap()
            .replace("\"queue_depth\":3", "\"queue_depth\":0")
            .into_bytes();
        h.content_digest = httpsig::content_digest(b);
    };
    assert_eq!(
        raw(&rig.url, &key, now, "n-4", &body, edit_and_digest).await,
        (401, "bad_signature".into())
    );
    // Signed an hour ago: too old, whatever its nonce.
    assert_eq!(
        raw(&rig.url, &key, now - 3600, "n-5", &body, keep).await,
        (401, "clock_skew".into())
    );
    // No signature at all.
    let unsigned = |h: &mut httpsig::SignatureHeaders, _: &mut Vec<u8>| {
        h.signature = "kiosk=:AAAA:".into();
    };
    assert_eq!(
        raw(&rig.url, &key, now, "n-6", &body, unsigned).await,
        (401, "bad_signature".into())
    );
    let kiosks = rig.shared.portal().kiosks().unwrap();
    let report: serde_json::Value =
        serde_json::from_str(kiosks[0].last_heartbeat.as_deref().unwrap()).unwrap();
    assert_eq!(
        report["queue_depth"], 3,
        "only the genuine heartbeat counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_with_a_wrong_clock_corrects_itself_and_says_by_how_much() {
    let rig = Rig::start().await;
    let key = DeviceKey::generate();
    let client = rig.client(&key).with_clock(|| server::now() - 7200);
    client.enrol(&rig.code()).await.unwrap();
    let skew = client.clock_skew();
    assert!((7199..=7201).contains(&skew), "{skew}");
    let answer = client
        .heartbeat(&serde_json::from_slice(&heartbeat_body()).unwrap())
        .await
        .unwrap();
    assert!((answer.server_time - client.portal_now()).abs() <= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_published_policy_reaches_the_kiosk_signed() {
    let rig = Rig::start().await;
    let (_, client) = rig.enrolled().await;
    assert_eq!(client.policy().await.unwrap(), None);
    let signed = SignedPolicy::sign(3, "[session]\nidle_seconds = 120\n".into(), &rig.policy_key);
    rig.shared
        .portal()
        .publish_policy(&signed, server::now())
        .unwrap();
    let fetched = client.policy().await.unwrap().unwrap();
    assert!(fetched.verify(&rig.policy_key.public_key()).is_ok());
    assert_eq!(fetched.version, 3);
    // Older or equal versions are never published over it.
    let older = SignedPolicy::sign(2, "old".into(), &rig.policy_key);
    assert!(
        rig.shared
            .portal()
            .publish_policy(&older, server::now())
            .is_err()
    );
    let enrolled = rig
        .client(&DeviceKey::generate())
        .enrol(&rig.code())
        .await
        .unwrap();
    assert_eq!(enrolled.policy.map(|p| p.version), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_served_is_documented_and_every_documented_route_is_served() {
    let doc: serde_json::Value = serde_json::from_str(server::OPENAPI).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = server::routes()
        .into_iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(served, documented);

    // And over HTTP, each answers as itself: not 404 or 405.
    let rig = Rig::start().await;
    let http = http();
    for (method, path) in &documented {
        let response = http
            .request(
                method.parse().unwrap(),
                format!(
                    "{}{}",
                    rig.url,
                    path.trim_start_matches('/').replace("{id}", "x")
                ),
            )
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            status != 404 && status != 405,
            "{method} {path} answered {status}"
        );
    }
    let missing = http
        .get(format!("{}v1/nothing", rig.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_only_the_pinned_certificate_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let portal = Portal::open(
        &dir.path().join("portal.sqlite3"),
        PortalSecretKey::generate(),
    )
    .unwrap();
    let shared = Shared::new(portal, DeviceKey::generate(), ServerConfig::default());
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let (cert, key, pin) = kiosk_portal::tls::self_signed(&names).unwrap();
    assert_eq!(kiosk_portal::tls::pin_of_pem(&cert).unwrap(), pin);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/", listener.local_addr().unwrap());
    let tls = kiosk_portal::tls::TlsListener::new(
        listener,
        kiosk_portal::tls::server_config(&cert, &key).unwrap(),
    );
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(tls, Arc::clone(&shared), async {
        stopped.await.ok();
    }));
    let code = shared
        .portal()
        .issue_enrolment_code(server::now(), 600)
        .unwrap();
    let client = |pin: Option<[u8; 32]>| {
        let mut config = ClientConfig::new(&url);
        config.tls_pin = pin;
        PortalClient::new(&config, DeviceKey::generate())
    };
    // https without a pin is a configuration error, not a silent trust.
    assert!(matches!(client(None), Err(ClientError::Address(_))));
    // Another certificate's pin: the handshake fails, nothing is sent.
    let (_, _, other) = kiosk_portal::tls::self_signed(&names).unwrap();
    let refused = client(Some(other)).unwrap().enrol(&code).await;
    assert!(
        matches!(&refused, Err(ClientError::Transport(e)) if e.contains("certificate")),
        "{refused:?}"
    );
    assert!(shared.portal().kiosks().unwrap().is_empty());
    // The pinned certificate: enrolment goes through.
    let answer = client(Some(pin)).unwrap().enrol(&code).await.unwrap();
    assert_eq!(shared.portal().kiosks().unwrap()[0].id, answer.kiosk_id);
}

/// Sends only a request's headers, announcing a 16 MiB body that never
/// comes, and answers the status line the portal sends back.
async fn headers_only(url: &str, extra: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /v1/registrations HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n",
        16 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 256];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("the portal waited for the body before answering")
        .unwrap();
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_enrolment_codes_over_http_is_cut_off_per_address() {
    let rig = Rig::start().await;
    let code = rig.code();
    let guesser = rig.client(&DeviceKey::generate());
    for n in 0..kiosk_portal::MAX_FAILURES_PER_SOURCE {
        let guess = format!("{n:0>24}");
        assert!(matches!(
            guesser.enrol(&guess).await,
            Err(ClientError::Refused { status: 403, .. })
        ));
    }
    // The next try, even with the right code, is turned away for an hour.
    let refused = guesser.enrol(&code).await;
    // A refusal for a person to read, not a busy portal to wait for.
    assert!(
        matches!(&refused, Err(ClientError::Refused { status: 429, code, .. }) if code == "too_many_tries"),
        "{refused:?}"
    );
    let failures = rig.shared.portal().enrolment_failures(100).unwrap();
    assert_eq!(failures.len(), 10);
    assert!(
        failures
            .iter()
            .all(|f| f.source.as_deref() == Some("127.0.0.1"))
    );
    assert!(rig.shared.portal().kiosks().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_and_unknown_requests_are_refused_before_their_body_is_read() {
    let rig = Rig::start().await;
    assert!(headers_only(&rig.url, "").await.contains(" 401 "));
    // Signed (claimed) by a key no kiosk enrolled.
    let stranger = DeviceKey::generate().public_key().to_base64();
    let claimed = format!(
        "signature-input: kiosk=(\"@method\");created=1;nonce=\"n\";keyid=\"{stranger}\";tag=\"vn-dvc-kiosk\"\r\nsignature: kiosk=:AAAA:\r\n"
    );
    assert!(headers_only(&rig.url, &claimed).await.contains(" 403 "));
}

/// Reads from `stream` until the portal closes it or `within` passes;
/// answers what it read, or `None` if the connection was still open.
async fn until_closed(
    stream: &mut tokio::net::TcpStream,
    within: std::time::Duration,
) -> Option<String> {
    use tokio::io::AsyncReadExt as _;
    let mut read = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut read))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&read).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::AsyncWriteExt as _;
    let rig = Rig::start_with(ServerConfig {
        header_timeout: std::time::Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let address = rig.url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // Half a request line and one header, then nothing.
    stream
        .write_all(format!("POST /v1/registrations HTTP/1.1\r\nhost: {address}\r\n").as_bytes())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let closed = until_closed(&mut stream, std::time::Duration::from_secs(15)).await;
    assert!(closed.is_some(), "the connection was still open after 15 s");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_in_too_slowly_is_answered_408() {
    use tokio::io::AsyncWriteExt as _;
    let rig = Rig::start_with(ServerConfig {
        body_timeout: std::time::Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    let (key, _) = rig.enrolled().await;
    let address = rig.url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    // An enrolled kiosk's key is claimed, so the body is waited for; ten
    // bytes of the announced thousand arrive.
    let keyid = key.public_key().to_base64();
    let head = format!(
        "POST /v1/registrations HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\nsignature-input: kiosk=(\"@method\");created=1;nonce=\"n\";keyid=\"{keyid}\";tag=\"vn-dvc-kiosk\"\r\nsignature: kiosk=:AAAA:\r\n\r\n{{\"envelopes"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = until_closed(&mut stream, std::time::Duration::from_secs(15))
        .await
        .expect("the portal was still waiting for the body after 15 s");
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_sending_too_fast_is_slowed_and_others_are_not() {
    let rig = Rig::start_with(ServerConfig {
        kiosk_rate: server::Rate {
            per_sec: 0.01,
            burst: 5.0,
        },
        ..ServerConfig::default()
    })
    .await;
    let (fast, client) = rig.enrolled().await;
    let heartbeat: kiosk_sync::api::Heartbeat = serde_json::from_slice(&heartbeat_body()).unwrap();
    for _ in 0..5 {
        client.heartbeat(&heartbeat).await.unwrap();
    }
    let slowed = client.heartbeat(&heartbeat).await;
    assert!(
        matches!(&slowed, Err(ClientError::Busy(wait)) if wait.as_secs() >= 60),
        "{slowed:?}"
    );
    // The answer says when to come back, and another kiosk is not slowed.
    let (status, code) = raw(
        &rig.url,
        &fast,
        server::now(),
        "n-x",
        &heartbeat_body(),
        |_, _| {},
    )
    .await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    let (_, other) = rig.enrolled().await;
    other.heartbeat(&heartbeat).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_whose_requests_keep_failing_authentication_is_turned_away() {
    let rig = Rig::start_with(ServerConfig {
        source_failure_rate: server::Rate {
            per_sec: 0.01,
            burst: 3.0,
        },
        ..ServerConfig::default()
    })
    .await;
    let (key, client) = rig.enrolled().await;
    let stranger = DeviceKey::generate();
    let body = heartbeat_body();
    for n in 0..3 {
        let nonce = format!("s-{n}");
        let (status, _) = raw(&rig.url, &stranger, server::now(), &nonce, &body, |_, _| {}).await;
        assert_eq!(status, 403);
    }
    let (status, code) = raw(&rig.url, &stranger, server::now(), "s-9", &body, |_, _| {}).await;
    assert_eq!((status, code.as_str()), (429, "rate_limited"));
    // Until the address's allowance comes back, nothing from it is served:
    // the portal cannot tell the prober from a kiosk beside it.
    let heartbeat: kiosk_sync::api::Heartbeat = serde_json::from_slice(&body).unwrap();
    assert!(matches!(
        client.heartbeat(&heartbeat).await,
        Err(ClientError::Busy(_))
    ));
    // Successful requests never spent it: a fresh portal, many good
    // requests, then still room for failures.
    let rig = Rig::start_with(ServerConfig {
        source_failure_rate: server::Rate {
            per_sec: 0.01,
            burst: 1.0,
        },
        ..ServerConfig::default()
    })
    .await;
    let (_, client) = rig.enrolled().await;
    for _ in 0..10 {
        client.heartbeat(&heartbeat).await.unwrap();
    }
    let (status, _) = raw(&rig.url, &key, server::now(), "k-1", &body, |_, _| {}).await;
    assert_eq!(
        status, 403,
        "the first failure is answered, not turned away"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_silent_connections_do_not_stall_a_signed_request() {
    let dir = tempfile::tempdir().unwrap();
    let portal = Portal::open(
        &dir.path().join("portal.sqlite3"),
        PortalSecretKey::generate(),
    )
    .unwrap();
    let shared = Shared::new(portal, DeviceKey::generate(), ServerConfig::default());
    let names = vec!["127.0.0.1".to_string()];
    let (cert, key, pin) = kiosk_portal::tls::self_signed(&names).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let tls = kiosk_portal::tls::TlsListener::new(
        listener,
        kiosk_portal::tls::server_config(&cert, &key).unwrap(),
    );
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(tls, Arc::clone(&shared), async {
        stopped.await.ok();
    }));
    // Connections that never send a ClientHello, held open.
    let mut silent = Vec::new();
    for _ in 0..100 {
        silent.push(tokio::net::TcpStream::connect(address).await.unwrap());
    }
    let code = shared
        .portal()
        .issue_enrolment_code(server::now(), 600)
        .unwrap();
    let mut config = ClientConfig::new(format!("https://{address}/"));
    config.tls_pin = Some(pin);
    let client = PortalClient::new(&config, DeviceKey::generate()).unwrap();
    // One handshake at a time would have this wait 100 × 10 s.
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), client.enrol(&code))
        .await
        .expect("the signed request was stalled by the silent connections")
        .unwrap();
    assert_eq!(shared.portal().kiosks().unwrap()[0].id, answer.kiosk_id);
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_checks_answer_from_the_portals_data() {
    use kiosk_sync::api::{BhxhCheck, Ownership, SubscriberCheck};
    let rig = Rig::start().await;
    let fixtures: kiosk_portal::Fixtures =
        serde_json::from_str(include_str!("../fixtures/demo.json")).unwrap();
    assert_eq!(
        rig.shared.portal().load_fixtures(&fixtures).unwrap(),
        (3, 4)
    );
    let (key, client) = rig.enrolled().await;

    let bhxh = |name: &str, dob: &str| BhxhCheck {
        bhxh_code: "7901234568".into(),
        full_name: name.into(),
        date_of_birth: dob.into(),
    };
    // Case and spacing do not matter; the date and the letters do.
    let matched = client
        .check_bhxh(&bhxh("trần  THỊ thủy", "1992-11-02"))
        .await
        .unwrap();
    assert_eq!(
        (
            matched.matched,
            matched.personal_id.map(|id| id.wire().to_string())
        ),
        (true, Some("cccd:079192004567".to_string()))
    );
    for (name, dob) in [
        ("Trần Thị Thùy", "1992-11-02"),
        ("Trần Thị Thủy", "1992-11-03"),
    ] {
        let answer = client.check_bhxh(&bhxh(name, dob)).await.unwrap();
        assert_eq!((answer.matched, answer.personal_id), (false, None));
    }

    let subscriber = |phone: &str, id: &str| SubscriberCheck {
        phone: phone.into(),
        personal_id: id.parse().unwrap(),
    };
    let client = &client;
    let ask = |c| async move { client.check_subscriber(&c).await.unwrap() };
    assert_eq!(
        ask(subscriber("+84912345678", "cccd:051085001234")).await,
        Ownership::Confirmed
    );
    assert_eq!(
        ask(subscriber("+84912345678", "cccd:079192004567")).await,
        Ownership::NotOwner
    );
    assert_eq!(
        ask(subscriber("+84911111111", "cccd:051085001234")).await,
        Ownership::Unknown
    );

    // Duplicate: none, until a registration for that person arrives.
    assert!(
        !client
            .account_exists(&"cccd:051099000123".parse().unwrap())
            .await
            .unwrap()
    );
    answered(
        client
            .upload(vec![rig.envelope(&key, "d1", "051099000123")])
            .await,
    );
    assert!(
        client
            .account_exists(&"cccd:051099000123".parse().unwrap())
            .await
            .unwrap()
    );
    assert!(
        !client
            .account_exists(&"cmnd:051099000123".parse().unwrap())
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mobile_signature_session_follows_the_phone() {
    use kiosk_portal::PhoneAnswer;
    use kiosk_portal::mssp::Mssp;
    let rig = Rig::start().await;
    rig.shared
        .portal()
        .load_fixtures(&kiosk_portal::demo_fixtures())
        .unwrap();
    let mssp = Mssp::generate().unwrap();
    let (_, client) = rig.enrolled().await;
    let (_, other) = rig.enrolled().await;
    let text = "Dang ky tai khoan Cong dich vu cong. Ma xac nhan: 4821";

    // No signing SIM on that number: the answer is immediate.
    let none = client.start_signature("+84912345678", text).await.unwrap();
    assert_eq!(none.state, SignatureState::NoSignatureSim);

    // The phone confirms while the kiosk is waiting on it.
    let session = client.start_signature("+84987654321", text).await.unwrap();
    assert_eq!(session.state, SignatureState::Pending);
    assert!(session.certificate.is_none() && session.signature.is_none());
    let still = client.signature_session(&session.id, 0).await.unwrap();
    assert_eq!(still.state, SignatureState::Pending);
    let waiting = client.signature_session(&session.id, 20);
    let phone = async {
        // The phone answers once the kiosk is waiting: the session is
        // pending on the phone's side.
        loop {
            let pending = rig
                .shared
                .portal()
                .pending_signatures(server::now())
                .unwrap();
            if pending
                .iter()
                .any(|p| p.id == session.id && p.display_text == text)
            {
                break;
            }
            tokio::task::yield_now().await;
        }
        rig.shared
            .portal()
            .answer_signature(&session.id, PhoneAnswer::Confirm, &mssp, server::now())
            .unwrap()
            .unwrap()
    };
    let (signed, on_phone) = tokio::join!(waiting, phone);
    let signed = signed.unwrap();
    assert_eq!(
        (signed.state.as_str(), on_phone.state.as_str()),
        ("signed", "signed")
    );
    assert_eq!(signed.scheme.as_deref(), Some("ecdsa-p256-sha256"));
    assert!(signed.certificate.is_some() && signed.signature.is_some());
    // Another kiosk cannot read or cancel it.
    assert!(matches!(
        other.signature_session(&session.id, 0).await,
        Err(ClientError::Refused { status: 404, .. })
    ));
    assert!(matches!(
        other.cancel_signature(&session.id).await,
        Err(ClientError::Refused { status: 404, .. })
    ));

    // Refused on the phone, timed out, cancelled at the kiosk.
    for (answer, state) in [
        (Some(PhoneAnswer::Refuse), SignatureState::Refused),
        (Some(PhoneAnswer::Expire), SignatureState::Expired),
        (None, SignatureState::Cancelled),
    ] {
        let s = client.start_signature("+84901234567", text).await.unwrap();
        match answer {
            Some(a) => {
                rig.shared
                    .portal()
                    .answer_signature(&s.id, a, &mssp, server::now())
                    .unwrap();
            }
            None => {
                client.cancel_signature(&s.id).await.unwrap();
            }
        }
        assert_eq!(
            client.signature_session(&s.id, 5).await.unwrap().state,
            state
        );
        // An ended session stays as it ended, whatever the phone does next.
        rig.shared
            .portal()
            .answer_signature(&s.id, PhoneAnswer::Confirm, &mssp, server::now())
            .unwrap();
        assert_eq!(
            client.signature_session(&s.id, 0).await.unwrap().state,
            state
        );
    }
}
