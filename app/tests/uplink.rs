//! The outbox relay against the reference portal over real HTTP, through
//! the fault-injecting proxy: offline then online, every kind of network
//! fault, and a `kioskctl sync now` killed in the middle of an upload.
//! Nothing is lost and nothing is created twice.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kiosk::policy::Policy;
use kiosk::uplink::{Enrolment, Uplink};
use kiosk_portal::Portal;
use kiosk_portal::server::{self, ServerConfig, Shared};
use kiosk_sync::client::{ClientConfig, PortalClient};
use kiosk_sync::{DeviceKey, PortalSecretKey};
use kiosk_tooling::faultproxy::{Fault, FaultProxy};
use support::{Fixture, Person};
use time::OffsetDateTime;
use time::macros::datetime;

struct PortalRig {
    _dir: tempfile::TempDir,
    shared: Arc<Shared>,
    proxy: FaultProxy,
    secret: Vec<u8>,
    policy_key: DeviceKey,
    _server: server::Loopback,
}

impl PortalRig {
    async fn start() -> PortalRig {
        let dir = tempfile::tempdir().unwrap();
        let secret = PortalSecretKey::generate();
        let bytes = secret.secret_bytes().to_vec();
        let portal = Portal::open(&dir.path().join("portal.sqlite3"), secret).unwrap();
        let policy_key = DeviceKey::generate();
        let shared = Shared::new(
            portal,
            DeviceKey::from_secret_bytes(&*policy_key.secret_bytes()).unwrap(),
            ServerConfig::default(),
        );
        let server = server::serve_loopback(Arc::clone(&shared)).await.unwrap();
        PortalRig {
            _dir: dir,
            shared,
            proxy: FaultProxy::start(server.address()).await.unwrap(),
            secret: bytes,
            policy_key,
            _server: server,
        }
    }

    /// A kiosk with `n` registrations sealed to this portal, enrolled over
    /// HTTP, its enrolment file pointing at the proxy.
    async fn kiosk(&self, n: usize) -> Fixture {
        let mut k = Fixture::new();
        k.portal = PortalSecretKey::from_bytes(&self.secret).unwrap();
        let now = datetime!(2026-11-28 09:00 +7);
        for i in 0..n {
            let id = format!("051190{:06}", i + 1);
            let phone = format!("0912{:06}", i + 1);
            let person = Person {
                full_name: "Bùi Thị Xuân",
                personal_id: &id,
                date_of_birth: "02/02/1990",
                phone: &phone,
                email: "",
                password: "Xuan@1990abc",
            };
            k.register(&person, now, i as u64);
        }
        self.enrol(&k, &self.code()).await;
        k
    }

    /// A one-time enrolment code from this portal.
    fn code(&self) -> String {
        self.shared
            .portal()
            .issue_enrolment_code(server::now(), 600)
            .unwrap()
    }

    /// Enrols `k`'s current device key with `code` over HTTP, as
    /// `kioskctl enrol` does, and writes its enrolment file.
    async fn enrol(&self, k: &Fixture, code: &str) {
        let key = DeviceKey::from_secret_bytes(&*k.keys.device().secret_bytes()).unwrap();
        let answer = PortalClient::new(&ClientConfig::new(self.proxy.url()), key)
            .unwrap()
            .enrol(code)
            .await
            .unwrap();
        Enrolment {
            portal_url: self.proxy.url(),
            tls_pin: None,
            kiosk_id: answer.kiosk_id,
            portal_public_key: answer.portal_public_key,
            policy_public_key: answer.policy_public_key,
        }
        .save(k.dir.path())
        .unwrap();
    }

    fn accounts(&self) -> i64 {
        self.shared.portal().account_count().unwrap()
    }

    fn received(&self) -> i64 {
        self.shared
            .portal()
            .kiosks()
            .unwrap()
            .iter()
            .map(|k| k.registrations)
            .sum()
    }
}

fn uplink(k: &Fixture, timeout: Duration) -> Uplink {
    let enrolment = Enrolment::load(k.dir.path()).unwrap().unwrap();
    let mut config = enrolment.client_config().unwrap();
    config.timeout = timeout;
    Uplink::new(
        &k.dir.path().join("kiosk.sqlite3"),
        &k.keys,
        &config,
        Arc::new(Policy::built_in().clone()),
    )
    .unwrap()
}

fn statuses(k: &Fixture) -> Vec<String> {
    k.store
        .queue()
        .unwrap()
        .into_iter()
        .map(|r| r.status)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_made_offline_are_all_delivered_once_the_portal_answers() {
    let rig = PortalRig::start().await;
    let k = rig.kiosk(12).await;
    let mut up = uplink(&k, Duration::from_secs(10));
    let t0 = OffsetDateTime::now_utc().unix_timestamp();

    // No network: every connection refused.
    rig.proxy.push_faults(vec![Fault::Refuse; 4]);
    let round = up.round(t0).await.unwrap();
    assert_eq!((round.uploads, round.settled, round.retried), (1, 0, 12));
    let status = up.handle().status();
    assert!(!status.relay.online);
    assert_eq!(status.queue_depth, 12);
    assert!(status.relay.last_error.is_some());
    assert_eq!(rig.received(), 0);
    // Each row waits its first backoff: up to 5 s, with full jitter.
    for q in k.store.outbox().unwrap() {
        assert_eq!(q.attempts, 1);
        assert!((t0..=t0 + 5).contains(&q.next_attempt_at), "{q:?}");
    }

    // The network is back (the refusals left are used up by attempts).
    while rig.proxy.pending_faults() > 0 {
        up.round(t0 + 3600).await.unwrap();
    }
    let round = up.round(t0 + 7200).await.unwrap();
    assert_eq!(round.settled, 12, "{round:?}");
    assert!(up.handle().status().relay.online);
    assert_eq!(up.handle().status().queue_depth, 0);
    assert_eq!((rig.accounts(), rig.received()), (12, 12));
    assert!(statuses(&k).iter().all(|s| s == "activated"));
    k.store.verify_audit(&k.keys.audit_key()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_network_fault_loses_or_duplicates_a_registration() {
    let rig = PortalRig::start().await;
    let k = rig.kiosk(30).await;
    let mut up =
        uplink(&k, Duration::from_secs(2)).with_relay_config(kiosk_sync::relay::RelayConfig {
            max_batch_items: 7,
            ..kiosk_sync::relay::RelayConfig::default()
        });
    rig.proxy.push_faults(vec![
        Fault::LoseResponse,
        Fault::TruncateResponse { after_bytes: 40 },
        Fault::CutRequest { after_bytes: 300 },
        Fault::Respond {
            status: 500,
            retry_after: None,
        },
        Fault::DelayResponse(Duration::from_secs(4)),
        Fault::LoseResponse,
        Fault::Respond {
            status: 503,
            retry_after: Some(900),
        },
    ]);
    let mut now = OffsetDateTime::now_utc().unix_timestamp();
    let mut saw_retry_after = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !k.store.outbox().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the outbox never drained");
        let before = rig.proxy.pending_faults();
        up.round(now).await.unwrap();
        if before == 1 && rig.proxy.pending_faults() == 0 {
            // The 503 with Retry-After: 900 was the last fault used; every
            // row it touched waits at least that long.
            let waiting = k.store.outbox().unwrap();
            saw_retry_after = waiting.iter().any(|q| q.next_attempt_at >= now + 900);
        }
        now += 3600;
    }
    assert!(saw_retry_after);
    assert_eq!(rig.proxy.pending_faults(), 0, "every fault was exercised");
    assert_eq!((rig.accounts(), rig.received()), (30, 30));
    assert!(statuses(&k).iter().all(|s| s == "activated"));
    k.store.verify_audit(&k.keys.audit_key()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_key_re_enrolled_by_replacement_code_delivers_the_whole_queue_once() {
    let rig = PortalRig::start().await;
    let mut k = rig.kiosk(100).await;
    let kiosk_id = Enrolment::load(k.dir.path()).unwrap().unwrap().kiosk_id;
    let now = OffsetDateTime::now_utc().unix_timestamp();
    // The queue is full when the key file is lost and made anew.
    assert_eq!(k.store.outbox_len().unwrap(), 100);
    std::fs::remove_file(k.dir.path().join("keys/device.key")).unwrap();
    k.keys = kiosk::keys::Keyring::open_or_create(&k.dir.path().join("keys")).unwrap();

    // The technician enrols the new key with a plain code: the portal holds
    // what the old key sealed, and the kiosk keeps every row.
    rig.enrol(&k, &rig.code()).await;
    let mut up = uplink(&k, Duration::from_secs(10));
    let round = up.round(now).await.unwrap();
    assert_eq!((round.settled, round.retried), (0, 100), "{round:?}");
    assert_eq!(k.store.outbox_len().unwrap(), 100);
    let error = k.store.last_relay_error().unwrap().unwrap();
    assert!(error.contains("replacement enrolment code"), "{error}");
    assert_eq!(rig.received(), 0);
    drop(up);

    // The admin's replacement code for the kiosk's id: everything arrives.
    let code = rig
        .shared
        .portal()
        .issue_replacement_code(kiosk_id, server::now(), 600)
        .unwrap();
    rig.enrol(&k, &code).await;
    assert_eq!(
        Enrolment::load(k.dir.path()).unwrap().unwrap().kiosk_id,
        kiosk_id
    );
    let mut up = uplink(&k, Duration::from_secs(10));
    let round = up.round(now + 7200).await.unwrap();
    assert_eq!(round.settled, 100, "{round:?}");
    assert_eq!(k.store.outbox_len().unwrap(), 0);
    assert_eq!((rig.accounts(), rig.received()), (100, 100));
    let statuses = statuses(&k);
    assert_eq!(statuses.len(), 100);
    assert!(statuses.iter().all(|s| s == "activated"), "{statuses:?}");
    k.store.verify_audit(&k.keys.audit_key()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_citizen_at_two_offline_kiosks_is_one_account_and_the_second_learns_it() {
    let rig = PortalRig::start().await;
    let a = rig.kiosk(1).await;
    let b = rig.kiosk(1).await;
    let t = OffsetDateTime::now_utc().unix_timestamp();
    uplink(&a, Duration::from_secs(5)).round(t).await.unwrap();
    uplink(&b, Duration::from_secs(5)).round(t).await.unwrap();
    assert_eq!(rig.accounts(), 1);
    assert_eq!(statuses(&a), vec!["activated"]);
    assert_eq!(statuses(&b), vec!["duplicate"]);
    // The status feed marked both final: their sealed payloads are deleted
    // once the retention (30 days by the built-in policy) has passed.
    let mut later = uplink(&b, Duration::from_secs(5));
    assert_eq!(later.round(t + 86_400).await.unwrap().purged, 0);
    assert_eq!(later.round(t + 31 * 86_400).await.unwrap().purged, 1);
    assert_eq!(b.store.queue().unwrap()[0].envelope_bytes, 0);
    b.store.verify_audit(&b.keys.audit_key()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kioskctl_killed_in_the_middle_of_an_upload_resumes_without_loss_or_duplicate() {
    let rig = PortalRig::start().await;
    let k = rig.kiosk(20).await;
    // The first upload reaches the portal, whose answer is then held: the
    // process is killed after the portal committed, before the kiosk knew.
    rig.proxy
        .push_faults(vec![Fault::DelayResponse(Duration::from_secs(600))]);
    let kioskctl = env!("CARGO_BIN_EXE_kioskctl");
    let run = |args: &[&str]| {
        std::process::Command::new(kioskctl)
            .args(args)
            .env("KIOSK_DATA_DIR", k.dir.path())
            .env("KIOSK_CONFIG", k.dir.path().join("absent.toml"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut child = run(&["sync", "now"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while rig.received() < 20 {
        assert!(
            Instant::now() < deadline,
            "the upload never reached the portal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(k.store.outbox().unwrap().len(), 20, "the kiosk never heard");

    let again = run(&["sync", "now"]).wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&again.stdout).to_string()
        + &String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{text}");
    assert!(text.contains("portal     reachable"), "{text}");
    assert!(k.store.outbox().unwrap().is_empty());
    assert_eq!((rig.accounts(), rig.received()), (20, 20));
    assert!(statuses(&k).iter().all(|s| s == "activated"));
    k.store.verify_audit(&k.keys.audit_key()).unwrap();

    let status = std::process::Command::new(kioskctl)
        .args(["sync", "status"])
        .env("KIOSK_DATA_DIR", k.dir.path())
        .env("KIOSK_CONFIG", k.dir.path().join("absent.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("waiting    0 registration(s)"), "{text}");
    assert!(text.contains("20 activated"), "{text}");
    assert!(
        text.contains(&format!("portal     {}", rig.proxy.url())),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_signed_policy_is_kept_and_a_tampered_one_refused() {
    use kiosk_sync::api::SignedPolicy;
    let rig = PortalRig::start().await;
    let k = rig.kiosk(0).await;
    let enrolment = Enrolment::load(k.dir.path()).unwrap().unwrap();
    let file = kiosk::uplink::portal_policy_path(k.dir.path());
    let text = |v: u64, idle: u32| {
        Policy::built_in_text()
            .replacen("version = 1", &format!("version = {v}"), 1)
            .replace(
                "idle_timeout_seconds = 90",
                &format!("idle_timeout_seconds = {idle}"),
            )
    };
    let t = OffsetDateTime::now_utc().unix_timestamp();
    rig.shared
        .portal()
        .publish_policy(&SignedPolicy::sign(2, text(2, 120), &rig.policy_key), t)
        .unwrap();
    let mut up = uplink(&k, Duration::from_secs(5))
        .with_policy_updates(&enrolment, file.clone())
        .unwrap();
    assert_eq!(up.round(t).await.unwrap().policy_applied, Some(2));
    assert_eq!(up.policy().session.idle_timeout_seconds, 120);
    let mut store = kiosk::store::Store::open(&k.dir.path().join("kiosk.sqlite3")).unwrap();
    let mut active = kiosk::policy::ActivePolicy::default();
    assert!(
        kiosk::uplink::load_portal_policy(k.dir.path(), &enrolment, &mut active, &mut store)
            .unwrap()
    );
    assert_eq!(active.current().version, 2);

    // Version 3 with a signature by some other key: refused, 2 stays.
    let forged = SignedPolicy::sign(3, text(3, 30), &DeviceKey::generate());
    rig.shared.portal().publish_policy(&forged, t).unwrap();
    let round = up.round(t + 3600).await.unwrap();
    assert_eq!(round.policy_applied, None);
    assert!(
        up.handle()
            .status()
            .relay
            .last_error
            .is_some_and(|e| e.contains("refused")),
    );
    assert_eq!(up.policy().version, 2);
    // The file on disk edited by hand is refused at the next start too.
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replace("idle_timeout_seconds = 120", "idle_timeout_seconds = 3000");
    std::fs::write(&file, edited).unwrap();
    let mut fresh = kiosk::policy::ActivePolicy::default();
    assert!(
        kiosk::uplink::load_portal_policy(k.dir.path(), &enrolment, &mut fresh, &mut store)
            .is_err()
    );
    assert_eq!(fresh.current().version, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_older_signed_policy_put_back_on_the_disk_is_refused_at_start() {
    use kiosk_sync::api::SignedPolicy;
    let rig = PortalRig::start().await;
    let k = rig.kiosk(0).await;
    let enrolment = Enrolment::load(k.dir.path()).unwrap().unwrap();
    let file = kiosk::uplink::portal_policy_path(k.dir.path());
    let text =
        |v: u64| Policy::built_in_text().replacen("version = 1", &format!("version = {v}"), 1);
    let t = OffsetDateTime::now_utc().unix_timestamp();
    // Version 2 as the portal published it: kept aside by an attacker.
    let v2 = SignedPolicy::sign(2, text(2), &rig.policy_key);
    let mut up = uplink(&k, Duration::from_secs(5))
        .with_policy_updates(&enrolment, file.clone())
        .unwrap();
    for (version, signed) in [
        (2, v2.clone()),
        (3, SignedPolicy::sign(3, text(3), &rig.policy_key)),
    ] {
        rig.shared.portal().publish_policy(&signed, t).unwrap();
        let round = up
            .round(t + 3600 * i64::try_from(version).unwrap())
            .await
            .unwrap();
        assert_eq!(round.policy_applied, Some(version));
    }
    // Version 2, validly signed, put back in place of 3.
    std::fs::write(&file, serde_json::to_vec(&v2).unwrap()).unwrap();
    let mut store = kiosk::store::Store::open(&k.dir.path().join("kiosk.sqlite3")).unwrap();
    let mut active = kiosk::policy::ActivePolicy::default();
    let refused =
        kiosk::uplink::load_portal_policy(k.dir.path(), &enrolment, &mut active, &mut store)
            .unwrap_err();
    assert!(refused.to_string().contains("older"), "{refused}");
    assert_eq!(active.current().version, 1, "the built-in stays in force");
}

/// The worker's backend for `k`, online: its relay has had one round with
/// the portal, and its live checks ask the portal; `tokens` is the reader.
fn online_backend(
    background: &kiosk::uplink::AsyncRuntime,
    k: &Fixture,
    tokens: Option<kiosk::token::TokenService>,
) -> (kiosk::worker::Backend, Uplink) {
    let rt = background.runtime();
    let enrolment = Enrolment::load(k.dir.path()).unwrap().unwrap();
    let mut up = uplink(k, Duration::from_secs(5));
    rt.block_on(up.round(OffsetDateTime::now_utc().unix_timestamp()))
        .unwrap();
    let live =
        kiosk::uplink::LiveChecks::new(&k.keys, &enrolment, rt.handle().clone(), up.handle())
            .unwrap();
    let backend = kiosk::worker::Backend {
        token_reader: tokens.is_some(),
        uplink: Some(up.handle()),
        live: Some(live),
        tokens,
        ..support::bare_backend(
            kiosk::store::Store::open(&k.dir.path().join("kiosk.sqlite3")).unwrap(),
            kiosk::keys::Keyring::open_or_create(&k.dir.path().join("keys")).unwrap(),
            k.portal.public_key(),
        )
    };
    (backend, up)
}

#[test]
fn online_the_runtime_asks_the_portal_and_offline_it_leaves_checks_pending() {
    use kiosk::domain::{BhxhCode, DateOfBirth, PersonName, PersonalId, PhoneNumber};
    use kiosk::flow::{
        BhxhOutcome, DuplicateOutcome, Effect, Event, IdentityKey, SubscriberOutcome,
    };
    use kiosk::uplink::{AsyncRuntime, LiveChecks};

    let background = AsyncRuntime::new().unwrap();
    let rt = background.runtime();
    let rig = rt.block_on(PortalRig::start());
    rig.shared
        .portal()
        .load_fixtures(&kiosk_portal::demo_fixtures())
        .unwrap();
    let k = rt.block_on(rig.kiosk(0));
    let (mut backend, mut up) = online_backend(&background, &k, None);
    let policy = Arc::clone(&backend.policy);
    let today = OffsetDateTime::now_utc().date();
    let rules = &policy.person;
    let bhxh = |name: &str| Effect::CheckBhxh {
        code: BhxhCode::parse("7901234568").unwrap(),
        full_name: PersonName::parse(name, rules).unwrap(),
        date_of_birth: DateOfBirth::parse("02/11/1992", today, rules).unwrap(),
    };
    let year = today.year();
    let id = |digits: &str| PersonalId::parse(digits, &policy.identifiers, year).unwrap();
    let subscriber = |phone: &str, digits: &str| Effect::CheckSubscriber {
        phone: PhoneNumber::parse(phone, &policy.identifiers).unwrap(),
        id: id(digits),
    };

    let matched = backend.run(bhxh("Trần Thị Thủy"));
    assert!(
        matches!(&matched, Some(Event::BhxhChecked(BhxhOutcome::Matched(p))) if p.as_str() == "079192004567"),
        "{matched:?}"
    );
    assert!(matches!(
        backend.run(bhxh("Trần Văn Thủy")),
        Some(Event::BhxhChecked(BhxhOutcome::NotMatched))
    ));
    assert!(matches!(
        backend.run(subscriber("0912 345 678", "051085001234")),
        Some(Event::SubscriberChecked(SubscriberOutcome::Confirmed))
    ));
    assert!(matches!(
        backend.run(subscriber("0912 345 678", "079192004567")),
        Some(Event::SubscriberChecked(SubscriberOutcome::NotOwner))
    ));
    assert!(matches!(
        backend.run(Effect::CheckDuplicate(vec![IdentityKey::Person(id(
            "051085001234"
        ))])),
        Some(Event::DuplicateChecked(DuplicateOutcome::NoAccount))
    ));

    // The line goes down: the relay notices, and the checks are left to
    // the portal without a wait.
    rig.proxy.push_faults(vec![Fault::Refuse; 50]);
    rig.proxy.sever();
    rt.block_on(up.round(OffsetDateTime::now_utc().unix_timestamp() + 3600))
        .unwrap();
    assert!(!up.handle().status().relay.online);
    let started = Instant::now();
    assert!(matches!(
        backend.run(bhxh("Trần Thị Thủy")),
        Some(Event::BhxhChecked(BhxhOutcome::Unavailable))
    ));
    assert!(matches!(
        backend.run(Effect::CheckDuplicate(vec![IdentityKey::Person(id(
            "051085001234"
        ))])),
        Some(Event::DuplicateChecked(
            DuplicateOutcome::CheckedLocallyOnly
        ))
    ));
    assert!(started.elapsed() < LiveChecks::TIMEOUT);
}

#[test]
fn online_a_revoked_token_certificate_ends_the_registration_and_a_good_one_needs_no_later_check() {
    use kiosk::domain::Pin;
    use kiosk::flow::{Effect, Event, TokenOutcome, TokenProblem};
    use kiosk::token::TokenService;
    use kiosk::uplink::AsyncRuntime;
    use kiosk::worker::Backend;
    use kiosk_hal::token::cert::TrustAnchors;
    use kiosk_hal::token::testpki::{KeyType, TestCa, TokenSpec, softhsm_module};

    // Two tokens from one CA, made before SoftHSM is loaded here; the CA
    // revokes the second and the portal holds its fresh list.
    let pki = tempfile::tempdir().unwrap();
    let ca = TestCa::create(&pki.path().join("ca"), "CA Thử Nghiệm Kiosk").unwrap();
    let label = |name: &str| format!("uplink-{name}-{}", std::process::id());
    let (good, revoked) = (label("good"), label("revoked"));
    ca.issue_token(&TokenSpec::new(
        &good,
        "/C=VN/CN=Trần Thị Thuỷ/UID=CCCD:051303000111",
        KeyType::P256,
    ))
    .unwrap();
    let lost = ca
        .issue_token(&TokenSpec::new(
            &revoked,
            "/C=VN/CN=Hồ Thị Lan/UID=CCCD:051199000777",
            KeyType::P256,
        ))
        .unwrap();
    ca.revoke(&lost.certificate).unwrap();
    let (anchors, crls) = (pki.path().join("anchors"), pki.path().join("crl"));
    ca.install_anchor(&anchors, "ca.pem").unwrap();
    std::fs::create_dir_all(&crls).unwrap();
    std::fs::write(crls.join("ca.crl"), ca.crl(24, "").unwrap()).unwrap();

    let background = AsyncRuntime::new().unwrap();
    let rt = background.runtime();
    let rig = rt.block_on(PortalRig::start());
    let problems = rig
        .shared
        .portal()
        .trust_token_cas(&anchors, &crls)
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let k = rt.block_on(rig.kiosk(0));
    let module = softhsm_module().expect("SoftHSM2 is installed (tests/run installs it)");
    let reader = |label: &str| {
        let service = TokenService::start(
            vec![module.clone()],
            TrustAnchors::load(&anchors).unwrap(),
            Some(label.to_string()),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while service.present().is_empty() {
            assert!(Instant::now() < deadline, "the token never showed");
            std::thread::sleep(Duration::from_millis(50));
        }
        service
    };
    let (mut backend, _up) = online_backend(&background, &k, Some(reader(&revoked)));
    let prove = |backend: &mut Backend| match backend
        .run(Effect::ProveToken(Pin::new("123456").unwrap()))
    {
        Some(Event::TokenAnswered(outcome)) => outcome,
        other => panic!("{other:?}"),
    };
    let outcome = prove(&mut backend);
    assert!(
        matches!(
            outcome,
            TokenOutcome::Problem(TokenProblem::CertificateRevoked)
        ),
        "{outcome:?}"
    );
    backend.tokens = Some(reader(&good));
    let outcome = prove(&mut backend);
    assert!(
        matches!(&outcome, TokenOutcome::Proven(identity) if identity.not_revoked && identity.proof.is_some()),
        "{outcome:?}"
    );
}

#[test]
fn a_reference_is_found_here_while_queued_and_anywhere_once_the_portal_has_it() {
    use kiosk::flow::{Effect, Event, LookupResult, LookupStatus};
    use kiosk::uplink::AsyncRuntime;

    let background = AsyncRuntime::new().unwrap();
    let rt = background.runtime();
    let rig = rt.block_on(PortalRig::start());
    let made_here = rt.block_on(rig.kiosk(2));
    let elsewhere = rt.block_on(rig.kiosk(0));
    let references: Vec<String> = made_here
        .store
        .queue()
        .unwrap()
        .into_iter()
        .map(|r| r.reference)
        .collect();
    let look = |backend: &mut kiosk::worker::Backend, reference: &str| match backend
        .run(Effect::LookUp(reference.to_string()))
    {
        Some(Event::LookedUp { result, .. }) => result,
        other => panic!("{other:?}"),
    };
    // The kiosk that made them answers from its records, offline too.
    let mut here = support::bare_backend(
        kiosk::store::Store::open(&made_here.dir.path().join("kiosk.sqlite3")).unwrap(),
        kiosk::keys::Keyring::open_or_create(&made_here.dir.path().join("keys")).unwrap(),
        made_here.portal.public_key(),
    );
    let LookupResult::Found(found) = look(&mut here, &references[0]) else {
        panic!("its own registration is found");
    };
    assert_eq!(
        (found.status, found.here, found.level),
        (LookupStatus::Queued, true, 1)
    );
    // Another kiosk, online: the portal has nothing yet, and says only that.
    let (mut other, _) = online_backend(&background, &elsewhere, None);
    assert_eq!(look(&mut other, &references[0]), LookupResult::NotFound);

    // Delivered: the portal decides, tells the applicant, and answers
    // anyone holding the reference.
    let mut up = uplink(&made_here, Duration::from_secs(10));
    rt.block_on(up.round(OffsetDateTime::now_utc().unix_timestamp()))
        .unwrap();
    let LookupResult::Found(found) = look(&mut other, &references[1].to_lowercase()) else {
        panic!("the portal finds it");
    };
    assert_eq!(
        (found.status, found.here, found.method.as_str()),
        (LookupStatus::Activated, false, "mobile_subscriber")
    );
    assert!(found.decided_at.is_some());
    let LookupResult::Found(found) = look(&mut here, &references[1]) else {
        panic!("still found here");
    };
    assert_eq!(found.status, LookupStatus::Activated);
    let told = rig.shared.portal().messages_since(0).unwrap();
    assert_eq!(told.len(), 2, "one SMS per registration");
    assert!(told.iter().all(|m| m.channel == "sms"));
    for reference in &references {
        assert!(told.iter().any(|m| m.text.contains(reference)), "{told:?}");
    }

    // Someone whose account exists is given a code for the counter, which
    // finds the account there.
    let policy = Policy::built_in();
    let id = kiosk::domain::PersonalId::parse("051190000001", &policy.identifiers, 2026).unwrap();
    let Some(Event::HandoffIssued(Some(code))) =
        other.run(Effect::RequestHandoff(kiosk::flow::IdentityKey::Person(id)))
    else {
        panic!("a code for an account that exists");
    };
    let found = rig
        .shared
        .portal()
        .handoff(&code, kiosk_portal::server::now())
        .unwrap()
        .unwrap();
    assert_eq!(found.identity, "cccd:051190000001");

    // The other kiosk, offline: it cannot know, and says so.
    other.live = None;
    assert_eq!(
        look(&mut other, &references[0]),
        LookupResult::NotHereOffline
    );
    let id = kiosk::domain::PersonalId::parse("051190000001", &policy.identifiers, 2026).unwrap();
    assert!(matches!(
        other.run(Effect::RequestHandoff(kiosk::flow::IdentityKey::Person(id))),
        Some(Event::HandoffIssued(None))
    ));
}

#[test]
fn a_complaint_made_offline_reaches_the_staffs_queue_once_and_its_settlement_comes_back() {
    use kiosk::domain::{Method, PersonalId, PhoneNumber, SubjectKind};
    use kiosk::flow::{
        ComplaintDraft, ComplaintReason, DuplicateOutcome, Effect, Event, IdentityKey,
        LookupResult, LookupStatus,
    };
    use kiosk::uplink::AsyncRuntime;

    let background = AsyncRuntime::new().unwrap();
    let rt = background.runtime();
    let rig = rt.block_on(PortalRig::start());
    // An account exists for this number: its registration was delivered.
    let k = rt.block_on(rig.kiosk(1));
    let mut up = uplink(&k, Duration::from_secs(10));
    rt.block_on(up.round(OffsetDateTime::now_utc().unix_timestamp()))
        .unwrap();
    assert_eq!(rig.accounts(), 1);

    // Offline, the person who says it is not theirs files a complaint.
    let policy = Policy::built_in();
    let identity = || {
        IdentityKey::Person(PersonalId::parse("051190000001", &policy.identifiers, 2026).unwrap())
    };
    let mut offline = support::bare_backend(
        kiosk::store::Store::open(&k.dir.path().join("kiosk.sqlite3")).unwrap(),
        kiosk::keys::Keyring::open_or_create(&k.dir.path().join("keys")).unwrap(),
        k.portal.public_key(),
    );
    let draft = ComplaintDraft {
        identity: identity(),
        method: Method::MobileSubscriber,
        subject: SubjectKind::Citizen,
        contact: PhoneNumber::parse("0987654321", &policy.identifiers).unwrap(),
        reason: ComplaintReason::IdentityMisused,
        chip: None,
        clerk: None,
    };
    let Some(Event::Stored { reference }) = offline.run(Effect::FileComplaint(Box::new(draft)))
    else {
        panic!("the complaint is stored");
    };
    assert!(reference.starts_with("KN-"), "{reference}");
    let look = |backend: &mut kiosk::worker::Backend, reference: &str| match backend
        .run(Effect::LookUp(reference.to_string()))
    {
        Some(Event::LookedUp { result, .. }) => result,
        other => panic!("{other:?}"),
    };
    let LookupResult::Found(found) = look(&mut offline, &reference) else {
        panic!("found here while queued");
    };
    assert_eq!((found.status, found.here), (LookupStatus::Queued, true));
    // A complaint is not a registration: the identity still has an
    // account, not "a registration waiting here".
    assert!(matches!(
        offline.run(Effect::CheckDuplicate(vec![identity()])),
        Some(Event::DuplicateChecked(
            DuplicateOutcome::AccountExists | DuplicateOutcome::CheckedLocallyOnly
        ))
    ));

    // Online: delivered, in the staff's queue once, the contact told.
    rt.block_on(up.round(OffsetDateTime::now_utc().unix_timestamp()))
        .unwrap();
    rt.block_on(up.round(OffsetDateTime::now_utc().unix_timestamp()))
        .unwrap();
    let queue = rig.shared.portal().complaints().unwrap();
    assert_eq!(queue.len(), 1, "{queue:?}");
    assert_eq!(
        (
            queue[0].reference.as_str(),
            queue[0].status.as_str(),
            queue[0].reason.as_str(),
            queue[0].account_exists,
            queue[0].identity_masked.as_str()
        ),
        (
            reference.as_str(),
            "received",
            "identity_misused",
            true,
            "cccd:…001"
        )
    );
    assert_eq!(rig.accounts(), 1, "a complaint opens no account");
    let told = |rig: &PortalRig| {
        rig.shared
            .portal()
            .messages_since(0)
            .unwrap()
            .into_iter()
            .filter(|m| m.recipient == "+84987654321")
            .map(|m| m.text)
            .collect::<Vec<_>>()
    };
    assert_eq!(told(&rig).len(), 1);
    assert!(told(&rig)[0].contains(&reference));
    let (mut online, _) = online_backend(&background, &k, None);
    let LookupResult::Found(found) = look(&mut online, &reference) else {
        panic!("found");
    };
    assert_eq!(found.status, LookupStatus::ComplaintReceived);

    // Staff settle it; the kiosk's records and the contact hear so, once.
    let now = kiosk_portal::server::now();
    assert!(
        rig.shared
            .portal()
            .resolve_complaint(&reference.to_lowercase(), now)
            .unwrap()
    );
    assert!(
        !rig.shared
            .portal()
            .resolve_complaint(&reference, now)
            .unwrap()
    );
    // The next status poll is due an hour on.
    rt.block_on(up.round(OffsetDateTime::now_utc().unix_timestamp() + 3600))
        .unwrap();
    assert!(
        statuses(&k).contains(&"resolved".to_string()),
        "{:?}",
        statuses(&k)
    );
    let LookupResult::Found(found) = look(&mut offline, &reference) else {
        panic!("found");
    };
    assert_eq!(found.status, LookupStatus::ComplaintResolved);
    assert_eq!(told(&rig).len(), 2);
    assert_eq!(rig.shared.portal().complaints().unwrap().len(), 1);
}

#[test]
fn a_forgotten_password_is_reset_by_the_code_the_portal_sends_to_the_accounts_phone() {
    use argon2::password_hash::phc::PasswordHash;
    use argon2::{Argon2, PasswordVerifier as _};
    use kiosk::domain::{Password, PersonalId};
    use kiosk::flow::{Effect, Event, IdentityKey, ResetCompleted, ResetDraft, ResetStarted};
    use kiosk::uplink::AsyncRuntime;

    let background = AsyncRuntime::new().unwrap();
    let rt = background.runtime();
    let rig = rt.block_on(PortalRig::start());
    let k = rt.block_on(rig.kiosk(1));
    let (mut online, _up) = online_backend(&background, &k, None);
    let policy = Policy::built_in();
    let identity =
        IdentityKey::Person(PersonalId::parse("051190000001", &policy.identifiers, 2026).unwrap());
    let Some(Event::ResetAnswered(ResetStarted::Sent(sent))) =
        online.run(Effect::StartReset(identity.clone()))
    else {
        panic!("a code is sent to the account's phone");
    };
    assert_eq!(sent.masked_phone, "091****001");
    assert_eq!((sent.tries_left, sent.resends_left), (5, 2));
    let code_sent = || {
        let texts = rig.shared.portal().messages_since(0).unwrap();
        let last = texts
            .iter()
            .rev()
            .find(|m| m.recipient == "+84912000001" && m.text.contains("dat lai mat khau"))
            .expect("the code went to the account's phone");
        last.text
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    };
    let code = code_sent();
    let complete = |online: &mut kiosk::worker::Backend, code: &str| {
        let draft = ResetDraft {
            reset_id: sent.reset_id.clone(),
            code: code.to_string().into(),
            password: Password::new("MoiMoi@2026x", "MoiMoi@2026x", &policy.password).unwrap(),
        };
        match online.run(Effect::CompleteReset(Box::new(draft))) {
            Some(Event::ResetCompleted(answer)) => answer,
            other => panic!("{other:?}"),
        }
    };
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        complete(&mut online, wrong),
        ResetCompleted::WrongCode { tries_left: 4 }
    );
    // A resend a moment after the first code is too soon.
    assert!(matches!(
        online.run(Effect::ResendReset(sent.reset_id.clone())),
        Some(Event::ResetAnswered(ResetStarted::TooMany))
    ));
    let reference = identity.reference();
    let before = rig
        .shared
        .portal()
        .password_hash_of(&reference)
        .unwrap()
        .expect("the registration's password");
    assert_eq!(complete(&mut online, &code), ResetCompleted::Done);
    let after = rig
        .shared
        .portal()
        .password_hash_of(&reference)
        .unwrap()
        .unwrap();
    assert_ne!(before, after);
    let hash = PasswordHash::new(&after).unwrap();
    assert!(
        Argon2::default()
            .verify_password(b"MoiMoi@2026x", &hash)
            .is_ok()
    );
    assert!(
        rig.shared
            .portal()
            .messages_since(0)
            .unwrap()
            .iter()
            .any(|m| m.recipient == "+84912000001" && m.text.contains("vừa được đặt lại"))
    );
    // Done is done: the same code again changes nothing.
    assert_eq!(complete(&mut online, &code), ResetCompleted::Spent);
    // Offline, nothing is asked.
    online.live = None;
    assert!(matches!(
        online.run(Effect::StartReset(identity)),
        Some(Event::ResetAnswered(ResetStarted::Unreachable))
    ));
}
