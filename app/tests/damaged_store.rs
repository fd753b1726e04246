//! A database file with a damaged page, as a failing flash cell leaves it:
//! found at start, no registration written into it, the technician told
//! by `kioskctl status`, and `kioskctl store salvage` keeping every sealed
//! registration that can still be read, byte for byte.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use kiosk::controller::Controller;
use kiosk::domain::clock::SystemClock;
use kiosk::policy::Policy;
use kiosk::store::{Storage, Store, StoreError};
use kiosk::worker::Worker;
use kiosk_sync::Envelope;
use support::{Fixture, Person};
use time::macros::datetime;

const REGISTRATIONS: usize = 300;
const PAGE: usize = 4096;

fn personal_id(n: usize) -> String {
    format!("051095{n:06}")
}

fn kioskctl(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kioskctl"))
        .args(args)
        .env("KIOSK_DATA_DIR", data_dir)
        .env("KIOSK_CONFIG", data_dir.join("absent.toml"))
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Flips the bytes of the b-tree page header of the page holding
/// `needle`: the page is no longer a valid page, as after a bad write.
fn damage_page_holding(file: &Path, needle: &[u8]) -> usize {
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the envelope is in the main database file");
    let page = at / PAGE;
    for b in &mut bytes[page * PAGE..page * PAGE + 12] {
        *b ^= 0xFF;
    }
    std::fs::write(file, &bytes).unwrap();
    page
}

#[test]
fn a_damaged_page_is_found_at_start_and_salvage_keeps_every_readable_registration() {
    let mut f = Fixture::new();
    let data = f.dir.path().to_path_buf();
    let db = data.join("kiosk.sqlite3");
    let now = datetime!(2026-12-01 09:00 UTC);
    for n in 0..REGISTRATIONS {
        let id = personal_id(n);
        let person = Person {
            full_name: "Đỗ Thị Hạnh",
            personal_id: &id,
            date_of_birth: "09/09/1995",
            phone: "0905 112 233",
            email: "",
            password: "Hanh@Salvage2026",
        };
        f.register(&person, now, n as u64);
    }
    let before: BTreeMap<String, Vec<u8>> = f
        .store
        .queue()
        .unwrap()
        .into_iter()
        .map(|r| {
            let envelope = f.store.envelope(&r.id).unwrap().unwrap();
            (r.id, envelope)
        })
        .collect();
    assert_eq!(before.len(), REGISTRATIONS);
    let Fixture {
        dir: _dir,
        keys,
        portal,
        store,
    } = f;
    // Closing the last connection checkpoints the WAL into the file.
    drop(store);
    let middle = before.values().nth(REGISTRATIONS / 2).unwrap();
    let page = damage_page_holding(&db, &middle[..64]);
    let damaged = std::fs::read(&db).unwrap();

    // Found at open, before anything is written; the report names pages,
    // never anyone's data.
    let why = match Store::open(&db) {
        Err(StoreError::Damaged(why)) => why,
        other => panic!("the damage went unnoticed: {other:?}"),
    };
    assert!(!why.contains("051095"), "{why}");
    assert_eq!(std::fs::read(&db).unwrap(), damaged, "nothing was written");

    // The kiosk on it: up, but taking no registration, and saying why.
    let backend = support::bare_backend(
        Store::out_of_service(why).unwrap(),
        keys,
        portal.public_key(),
    );
    let mut controller = Controller::new(
        Arc::new(Policy::built_in().clone()),
        Box::new(Worker::spawn(backend)),
        Box::new(SystemClock::new()),
    );
    assert!(controller.wait_for_status(Duration::from_secs(10)));
    let home = controller.view();
    assert_eq!(home.status.storage, Storage::Damaged);
    assert_eq!(home.title, "Máy tạm ngừng nhận hồ sơ");
    assert!(home.message.contains("kỹ thuật viên"), "{}", home.message);
    assert!(!home.submit_enabled);
    controller.on_register();
    assert!(!controller.has_session());
    drop(controller);

    // The technician sees it.
    let status = kioskctl(&data, &["status"]);
    assert_eq!(status.status.code(), Some(3), "{}", text(&status));
    assert!(text(&status).contains("database         DAMAGED"));
    assert!(text(&status).contains("kioskctl store salvage"));
    let check = kioskctl(&data, &["store", "check"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));

    // The documented recovery.
    let salvage = kioskctl(&data, &["store", "salvage"]);
    assert_eq!(salvage.status.code(), Some(0), "{}", text(&salvage));
    let out = text(&salvage);
    let aside = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(".damaged-"))
        .expect("the damaged file is kept");
    assert_eq!(std::fs::read(&aside).unwrap(), damaged, "kept untouched");

    let store = Store::open(&db).expect("the salvaged store opens sound");
    assert!(store.quick_check().unwrap().is_empty());
    let audit = store
        .verify_audit(
            &kiosk::keys::Keyring::open_or_create(&data.join("keys"))
                .unwrap()
                .audit_key(),
        )
        .expect("the salvaged audit chain verifies");
    let after = store.queue().unwrap();
    let lost = REGISTRATIONS - after.len();
    // One 4 KiB page holds a few sealed registrations of about 1.2 KiB.
    assert!(
        (1..=4).contains(&lost),
        "{lost} lost with page {page}: {out}"
    );
    assert!(out.contains(&format!("{} salvaged", after.len())), "{out}");
    assert_eq!(audit.registrations, after.len() as i64);
    for row in &after {
        assert_eq!(row.status, "queued");
        let envelope = store.envelope(&row.id).unwrap().unwrap();
        assert_eq!(&envelope, &before[&row.id], "sealed bytes kept");
        Envelope::from_bytes(&envelope)
            .unwrap()
            .open(&portal)
            .expect("the portal still opens it");
    }
    let outbox: Vec<String> = store
        .outbox()
        .unwrap()
        .into_iter()
        .map(|q| q.registration_id)
        .collect();
    assert_eq!(
        outbox.len(),
        after.len(),
        "everything salvaged is delivered"
    );
    // The kiosk takes registrations again.
    assert_eq!(store.storage(), Storage::Ready);
    let verify = kioskctl(&data, &["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
}
