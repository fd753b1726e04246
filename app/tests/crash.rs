//! Power-cut safety, as a soak: a child process completes registrations
//! (each for a different citizen) and says "ACK <id>" after each one
//! returns, and every third one runs a relay round against the reference
//! portal over HTTP (upload, answer recorded, status feed, retention
//! delete, with a clock a month further on each round); the parent kills
//! it with SIGKILL at random moments, again and again, so kills land while
//! sealing, inside SQLite commits, between an upload and the recording of
//! its answer, and inside retention deletes.
//!
//! After every restart: each acknowledged registration is present exactly
//! once, nothing half-written is visible, the audit chain verifies, a
//! queued registration is in the outbox and a settled one is not, and only
//! settled registrations have lost their sealed payload. At the end the
//! parent drains what is left: the portal has received every registration
//! exactly once and opened one account each.
//!
//! `KIOSK_SOAK_KILLS` sets the number of kills (30 by default, what
//! `tests/run` does; the soak is 1,000, see the README).

mod support;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use kiosk::keys::Keyring;
use kiosk::policy::Policy;
use kiosk::register::Completer;
use kiosk::store::Store;
use kiosk::uplink::{Enrolment, Uplink};
use kiosk_portal::Portal;
use kiosk_portal::server::{self, ServerConfig, Shared};
use kiosk_sync::{DeviceKey, PortalPublicKey, PortalSecretKey};
use rand::{RngExt, SeedableRng};
use support::{FAST_HASH, Person, mobile_draft};

const DIR_VAR: &str = "KIOSK_CRASH_TEST_DIR";
const PORTAL_VAR: &str = "KIOSK_CRASH_TEST_PORTAL";
const ROUND_VAR: &str = "KIOSK_CRASH_TEST_ROUND";
const KILLS_VAR: &str = "KIOSK_SOAK_KILLS";
const MONTH: i64 = 31 * 86_400;

const PERSON: Person<'static> = Person {
    full_name: "Phạm Minh Khôi",
    personal_id: "051095001122",
    date_of_birth: "09/09/1995",
    phone: "0905 112 233",
    email: "",
    password: "Khoi@Crash2026",
};

/// The citizen of registration number `n`: a CCCD of their own (born in
/// 1995, registered in province 051), so that each opens its own account.
fn personal_id(n: usize) -> String {
    format!("051095{n:06}")
}

/// The child: complete registrations and relay them until killed. Run
/// only by the parent.
#[test]
#[ignore = "run by power_cut_at_random_moments_loses_no_acknowledged_registration"]
fn crash_child() {
    let dir = std::env::var(DIR_VAR).expect("started by the parent test");
    let portal = PortalPublicKey::from_base64(&std::env::var(PORTAL_VAR).unwrap()).unwrap();
    let round: i64 = std::env::var(ROUND_VAR).unwrap().parse().unwrap();
    let dir = Path::new(&dir);
    let keys = Keyring::open_or_create(&dir.join("keys")).unwrap();
    let completer = Completer {
        keys: &keys,
        portal: &portal,
        cost: FAST_HASH,
    };
    let mut store = Store::open(&dir.join("kiosk.sqlite3")).unwrap();
    let enrolment = Enrolment::load(dir).unwrap().unwrap();
    let mut config = enrolment.client_config().unwrap();
    config.timeout = Duration::from_secs(10);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut uplink = Uplink::new(
        &dir.join("kiosk.sqlite3"),
        &keys,
        &config,
        Arc::new(Policy::built_in().clone()),
    )
    .unwrap();
    let now = time::OffsetDateTime::now_utc();
    // Every relay round a month later than the one before, across children
    // too: what one round settles, a later one's retention deletes.
    let mut relay_clock = now.unix_timestamp() + round * 20 * MONTH;
    let base = store.queue().unwrap().len();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let id = personal_id(base + i);
        let person = Person {
            personal_id: &id,
            ..PERSON
        };
        let draft = mobile_draft(&person, now, (base + i) as u64);
        let receipt = completer.complete(&mut store, &draft, now).unwrap();
        writeln!(out, "ACK {}", receipt.registration_id).unwrap();
        out.flush().unwrap();
        // A retention pass with registrations still queued: it must
        // leave every one of them its sealed payload.
        store.purge_sealed(relay_clock).unwrap();
        if i % 3 == 2 {
            relay_clock += MONTH;
            runtime.block_on(uplink.round(relay_clock)).unwrap();
        }
    }
}

/// libtest prints "test crash_child ... " with no line end before the first
/// acknowledgement, so the marker is looked for anywhere in the line.
fn ack(line: &str) -> Option<String> {
    line.find("ACK ")
        .map(|at| line[at + 4..].trim().to_string())
}

/// The reference portal on loopback, and the kiosk's keys enrolled with it.
struct Rig {
    _dir: tempfile::TempDir,
    shared: Arc<Shared>,
    secret: Vec<u8>,
    runtime: tokio::runtime::Runtime,
    _server: server::Loopback,
}

fn portal_for(data: &Path) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let secret = PortalSecretKey::generate();
    let bytes = secret.secret_bytes().to_vec();
    let sealing = secret.public_key();
    let portal = Portal::open(&dir.path().join("portal.sqlite3"), secret).unwrap();
    let policy_key = DeviceKey::generate();
    // A kiosk restarted a thousand times a minute sends far more than the
    // portal's rate limit allows; that limit has its own test, and here
    // it would only turn the final drain into waiting.
    let shared = Shared::new(
        portal,
        DeviceKey::from_secret_bytes(&*policy_key.secret_bytes()).unwrap(),
        ServerConfig {
            kiosk_rate: server::Rate {
                per_sec: 1e6,
                burst: 1e6,
            },
            ..ServerConfig::default()
        },
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let loopback = runtime
        .block_on(server::serve_loopback(Arc::clone(&shared)))
        .unwrap();
    let keys = Keyring::open_or_create(&data.join("keys")).unwrap();
    let code = shared
        .portal()
        .issue_enrolment_code(server::now(), 600)
        .unwrap();
    let kiosk_id = shared
        .portal()
        .enrol(&code, &keys.device().public_key(), None, server::now())
        .unwrap();
    Enrolment {
        portal_url: loopback.url(),
        tls_pin: None,
        kiosk_id,
        portal_public_key: sealing.to_base64(),
        policy_public_key: policy_key.public_key().to_base64(),
    }
    .save(data)
    .unwrap();
    Rig {
        _dir: dir,
        shared,
        secret: bytes,
        runtime,
        _server: loopback,
    }
}

/// What a restarted kiosk must find, whatever the moment of the kill.
fn check_store(data: &Path, acked: &[String], round: usize) -> usize {
    let keys = Keyring::open_or_create(&data.join("keys")).unwrap();
    let store = Store::open(&data.join("kiosk.sqlite3")).unwrap();
    let report = store
        .verify_audit(&keys.audit_key())
        .unwrap_or_else(|e| panic!("round {round}: {e}"));
    let queue = store.queue().unwrap();
    let outbox: HashSet<String> = store
        .outbox()
        .unwrap()
        .into_iter()
        .map(|q| q.registration_id)
        .collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut purged = 0;
    for row in &queue {
        *seen.entry(row.id.as_str()).or_default() += 1;
        let queued = row.status == "queued";
        assert_eq!(
            queued,
            outbox.contains(&row.id),
            "round {round}: {} is {} and {} the outbox",
            row.id,
            row.status,
            if queued { "not in" } else { "in" }
        );
        assert!(
            ["queued", "delivered", "activated", "duplicate", "rejected"]
                .contains(&row.status.as_str()),
            "round {round}: {} has status {}",
            row.id,
            row.status
        );
        if row.envelope_bytes == 0 {
            // Only retention deletes a sealed payload, and only once final.
            assert!(
                ["activated", "duplicate", "rejected"].contains(&row.status.as_str()),
                "round {round}: {} lost its envelope while {}",
                row.id,
                row.status
            );
            purged += 1;
        }
    }
    for id in acked {
        assert_eq!(
            seen.get(id.as_str()),
            Some(&1),
            "round {round}: acknowledged {id} not present exactly once"
        );
    }
    assert_eq!(report.registrations as usize, queue.len());
    // At most one registration per kill committed without being acknowledged.
    let unacked = queue.len() - acked.len();
    assert!(
        unacked <= round + 1,
        "round {round}: {unacked} unacknowledged"
    );
    purged
}

#[test]
fn power_cut_at_random_moments_loses_no_acknowledged_registration() {
    let kills: usize = std::env::var(KILLS_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let rig = portal_for(dir.path());
    let portal = PortalSecretKey::from_bytes(&rig.secret).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b696f736b);
    let mut acked: Vec<String> = Vec::new();
    let mut purged = 0;

    for round in 0..kills {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .env(PORTAL_VAR, portal.public_key().to_base64())
            .env(ROUND_VAR, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Wait for some acknowledgements (a relay round follows every
        // third), then cut the power at a random moment after.
        let wanted = rng.random_range(1..7usize);
        let mut got = 0;
        while got < wanted {
            let line = lines.next().expect("child ended early").unwrap();
            if let Some(id) = ack(&line) {
                acked.push(id);
                got += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(rng.random_range(0..20_000)));
        child.kill().unwrap();
        child.wait().unwrap();
        // Acknowledgements already in the pipe were made before the kill.
        for line in lines {
            if let Some(id) = ack(&line.unwrap()) {
                acked.push(id);
            }
        }
        purged = check_store(dir.path(), &acked, round);
    }

    // The power stays on: what is left drains, and the portal has each
    // registration once, with an account each.
    let keys = Keyring::open_or_create(&dir.path().join("keys")).unwrap();
    let enrolment = Enrolment::load(dir.path()).unwrap().unwrap();
    let mut uplink = Uplink::new(
        &dir.path().join("kiosk.sqlite3"),
        &keys,
        &enrolment.client_config().unwrap(),
        Arc::new(Policy::built_in().clone()),
    )
    .unwrap();
    let later = time::OffsetDateTime::now_utc().unix_timestamp() + (kills as i64 + 1) * 20 * MONTH;
    rig.runtime.block_on(uplink.round(later)).unwrap();
    let store = Store::open(&dir.path().join("kiosk.sqlite3")).unwrap();
    let queue = store.queue().unwrap();
    assert!(
        store.outbox().unwrap().is_empty(),
        "the outbox did not drain"
    );
    let kiosks = rig.shared.portal().kiosks().unwrap();
    assert_eq!(
        (
            kiosks[0].registrations as usize,
            rig.shared.portal().account_count().unwrap() as usize
        ),
        (queue.len(), queue.len()),
        "the portal has each registration once, with its own account"
    );
    assert!(
        queue.iter().all(|r| r.status == "activated"),
        "{:?}",
        queue.iter().map(|r| &r.status).collect::<Vec<_>>()
    );
    eprintln!(
        "{kills} kills: {} acknowledged registrations all present once, {} in all; \
         {} sealed payloads deleted by retention at the last restart; the portal received each once",
        acked.len(),
        queue.len(),
        purged
    );
}
