//! The portal killed (SIGKILL) at random moments while a kiosk delivers to
//! it without pause, so kills land inside intake: decoding, deciding, the
//! SQLite commit, the answer on its way. The portal is restarted on the same
//! data each time. At the end every registration is at the portal exactly
//! once, with one account each, and every one the portal ever answered
//! `accepted` survived the kills that followed.
//!
//! `KIOSK_PORTAL_KILLS=300 cargo test -p kiosk-portal --test portal_kill -- --nocapture`
//! for the long run; `tests/run` does 20.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiosk_sync::client::{ClientConfig, PortalClient};
use kiosk_sync::relay::{ItemOutcome, UploadResult};
use kiosk_sync::{
    DeviceKey, Envelope, EnvelopeHeader, PAYLOAD_SCHEMA, PortalPublicKey, RegistrationPayload, seal,
};
use rand::RngExt as _;

const BATCH: usize = 20;

fn portal(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_portal"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "portal {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `portal serve` on `listen`; answers once it listens.
fn serve(data: &Path, listen: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portal"))
        .arg("--data")
        .arg(data)
        .args(["serve", "--listen", listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .rsplit("http://")
        .next()
        .filter(|_| line.contains("http://"))
        .unwrap_or_else(|| panic!("the portal said {line:?}"))
        .to_string();
    (child, address)
}

fn envelope(n: usize, kiosk: &DeviceKey, sealing: &PortalPublicKey) -> Envelope {
    let id = uuid::Uuid::new_v4().to_string();
    let payload = RegistrationPayload {
        schema: PAYLOAD_SCHEMA.into(),
        registration_id: id.clone(),
        reference: format!("DK-{}", &id[..8]),
        created_at: 1_800_000_000,
        method: "mobile_subscriber".into(),
        subject: "citizen".into(),
        level: 1,
        pending: vec!["global_duplicate".into(), "subscriber_ownership".into()],
        full_name: Some("Lý Thị Hoa".into()),
        business_name: None,
        personal_id_kind: Some("cccd".into()),
        personal_id: Some(format!("079190{n:06}")),
        tax_code: None,
        bhxh_code: None,
        date_of_birth: Some("1990-01-01".into()),
        phone: Some(format!("+8491{n:07}")),
        email: None,
        certificate: None,
        proof: None,
        chip: None,
        counter: None,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
    };
    seal(
        &serde_json::to_vec(&payload).unwrap(),
        EnvelopeHeader::new(id, 1_800_000_000),
        sealing,
        kiosk,
    )
    .unwrap()
}

#[test]
fn killing_the_portal_during_intake_loses_and_duplicates_nothing() {
    let kills: usize = std::env::var("KIOSK_PORTAL_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("portal");
    let keys = portal(&data, &["init"]);
    let sealing = PortalPublicKey::from_base64(
        keys.lines()
            .find_map(|l| l.strip_prefix("portal_public_key = \""))
            .and_then(|k| k.strip_suffix('"'))
            .unwrap(),
    )
    .unwrap();
    let code = portal(&data, &["enrol-code"]).trim().to_string();
    let (child, address) = serve(&data, "127.0.0.1:0");
    let server = Arc::new(Mutex::new(child));

    let device = DeviceKey::generate();
    let signer = DeviceKey::from_secret_bytes(&*device.secret_bytes()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = PortalClient::new(
        &ClientConfig {
            timeout: Duration::from_secs(10),
            ..ClientConfig::new(format!("http://{address}/"))
        },
        device,
    )
    .unwrap();
    runtime.block_on(client.enrol(&code)).unwrap();

    // The killer: SIGKILL at a random moment, restart on the same port.
    let uploading = Arc::new(AtomicBool::new(false));
    let during_upload = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (server, data, address) = (Arc::clone(&server), data.clone(), address.clone());
        let (uploading, during_upload) = (Arc::clone(&uploading), Arc::clone(&during_upload));
        std::thread::spawn(move || {
            let mut rng = rand::rng();
            let mut made = 0;
            while made < kills {
                std::thread::sleep(Duration::from_millis(rng.random_range(5..120)));
                let mut child = server.lock().unwrap();
                if uploading.load(Ordering::SeqCst) {
                    during_upload.fetch_add(1, Ordering::SeqCst);
                }
                child.kill().unwrap();
                child.wait().unwrap();
                made += 1;
                *child = serve(&data, &address).0;
            }
            made
        })
    };

    // The kiosk: registers citizens and delivers without pause while the
    // killer works, then until every registration has its answer,
    // re-sending whatever got none.
    let mut envelopes: Vec<Envelope> = Vec::new();
    let mut answered: BTreeMap<String, ItemOutcome> = BTreeMap::new();
    let mut uploads = 0;
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{} of {} answered after 10 minutes",
            answered.len(),
            envelopes.len()
        );
        if answered.len() == envelopes.len() {
            if killer.is_finished() {
                break;
            }
            let made = envelopes.len();
            envelopes.extend((made..made + BATCH).map(|n| envelope(n, &signer, &sealing)));
        }
        let batch: Vec<Envelope> = envelopes
            .iter()
            .filter(|e| !answered.contains_key(&e.registration_id))
            .take(BATCH)
            .cloned()
            .collect();
        uploading.store(true, Ordering::SeqCst);
        let result = runtime.block_on(client.upload(batch));
        uploading.store(false, Ordering::SeqCst);
        uploads += 1;
        match result {
            UploadResult::Answered(items) => {
                for (id, outcome) in items {
                    assert_eq!(outcome, ItemOutcome::Accepted, "{id}");
                    answered.insert(id, outcome);
                }
            }
            // Killed mid-answer, or not up yet: try again, as the relay does.
            UploadResult::Failed(_) | UploadResult::RetryAfter(_) => {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    let made = killer.join().unwrap();
    let registrations = envelopes.len();
    server.lock().unwrap().kill().unwrap();
    server.lock().unwrap().wait().unwrap();
    eprintln!(
        "{made} kills ({} during an upload), {uploads} uploads for {registrations} registrations",
        during_upload.load(Ordering::SeqCst)
    );
    assert_eq!(made, kills);
    assert!(
        during_upload.load(Ordering::SeqCst) > 0,
        "no kill landed during an upload"
    );

    // At the portal: each once, each with its account.
    let db = rusqlite::Connection::open(data.join("portal.sqlite3")).unwrap();
    let ids: Vec<String> = db
        .prepare("SELECT registration_id FROM registrations")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), registrations, "each registration recorded once");
    assert_eq!(unique.len(), registrations);
    assert!(answered.keys().all(|id| unique.contains(id)), "none lost");
    let accounts: i64 = db
        .query_row("SELECT COUNT(*) FROM accounts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(accounts, registrations as i64, "one account each");
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
