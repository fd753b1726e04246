//! Power-cut safety: a child process completes registrations in a loop and
//! says "ACK <id>" after each one returns; the parent kills it with SIGKILL
//! at random moments, many times. After every restart each acknowledged
//! registration is present exactly once, nothing half-written is visible,
//! and the audit chain verifies.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use kiosk::keys::Keyring;
use kiosk::register::Completer;
use kiosk::store::Store;
use kiosk_sync::{PortalPublicKey, PortalSecretKey};
use rand::{RngExt, SeedableRng};
use support::{FAST_HASH, Person, mobile_draft};

const DIR_VAR: &str = "KIOSK_CRASH_TEST_DIR";
const PORTAL_VAR: &str = "KIOSK_CRASH_TEST_PORTAL";
const KILLS: usize = 30;

const PERSON: Person<'static> = Person {
    full_name: "Phạm Minh Khôi",
    personal_id: "051095001122",
    date_of_birth: "09/09/1995",
    phone: "0905 112 233",
    email: "",
    password: "Khoi@Crash2026",
};

/// The child: complete registrations until killed. Run only by the parent.
#[test]
#[ignore = "run by power_cut_at_random_moments_loses_no_acknowledged_registration"]
fn crash_child() {
    let dir = std::env::var(DIR_VAR).expect("started by the parent test");
    let portal = PortalPublicKey::from_base64(&std::env::var(PORTAL_VAR).unwrap()).unwrap();
    let dir = Path::new(&dir);
    let keys = Keyring::open_or_create(&dir.join("keys")).unwrap();
    let completer = Completer {
        keys: &keys,
        portal: &portal,
        cost: FAST_HASH,
    };
    let mut store = Store::open(&dir.join("kiosk.sqlite3")).unwrap();
    let now = time::OffsetDateTime::now_utc();
    let draft = mobile_draft(&PERSON, now, 1);
    let mut out = std::io::stdout().lock();
    loop {
        let receipt = completer.complete(&mut store, &draft, now).unwrap();
        writeln!(out, "ACK {}", receipt.registration_id).unwrap();
        out.flush().unwrap();
    }
}

/// libtest prints "test crash_child ... " with no line end before the first
/// acknowledgement, so the marker is looked for anywhere in the line.
fn ack(line: &str) -> Option<String> {
    line.find("ACK ")
        .map(|at| line[at + 4..].trim().to_string())
}

#[test]
fn power_cut_at_random_moments_loses_no_acknowledged_registration() {
    let dir = tempfile::tempdir().unwrap();
    let portal = PortalSecretKey::generate();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6b696f736b);
    let mut acked: Vec<String> = Vec::new();
    let mut unacked_seen = 0usize;

    for round in 0..KILLS {
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
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Wait for some acknowledgements, then cut the power at a random
        // moment inside the next registrations.
        let wanted = rng.random_range(1..6usize);
        let mut got = 0;
        while got < wanted {
            let line = lines.next().expect("child ended early").unwrap();
            if let Some(id) = ack(&line) {
                acked.push(id);
                got += 1;
            }
        }
        std::thread::sleep(Duration::from_micros(rng.random_range(0..3000)));
        child.kill().unwrap();
        child.wait().unwrap();
        // Acknowledgements already in the pipe were made before the kill.
        for line in lines {
            if let Some(id) = ack(&line.unwrap()) {
                acked.push(id);
            }
        }

        let keys = Keyring::open_or_create(&dir.path().join("keys")).unwrap();
        let store = Store::open(&dir.path().join("kiosk.sqlite3")).unwrap();
        let report = store
            .verify_audit(&keys.audit_key())
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let queue = store.queue().unwrap();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for row in &queue {
            *seen.entry(row.id.as_str()).or_default() += 1;
            assert!(
                row.envelope_bytes > 0,
                "round {round}: {} has no envelope",
                row.id
            );
            assert_eq!(row.status, "queued");
        }
        for id in &acked {
            assert_eq!(
                seen.get(id.as_str()),
                Some(&1),
                "round {round}: acknowledged {id} not present exactly once"
            );
        }
        assert_eq!(report.registrations as usize, queue.len());
        assert_eq!(report.entries as usize, queue.len());
        // At most one registration per kill committed without being acknowledged.
        unacked_seen = queue.len() - acked.len();
        assert!(
            unacked_seen <= round + 1,
            "round {round}: {unacked_seen} unacknowledged"
        );
    }
    eprintln!(
        "{KILLS} kills: {} acknowledged registrations all present once; {unacked_seen} committed just before a kill",
        acked.len()
    );
}
