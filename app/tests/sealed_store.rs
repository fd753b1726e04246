//! The store on disk keeps no personal data in the clear, and what it keeps
//! sealed opens on the portal, signed by this kiosk.

mod support;

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use kiosk_sync::{Envelope, RegistrationPayload};
use support::{Fixture, Person, all_bytes, contains, mobile_draft};
use time::macros::datetime;

const PEOPLE: [Person<'static>; 3] = [
    Person {
        full_name: "Hoàng Thị Xuyến Zqwy",
        personal_id: "051199887766",
        date_of_birth: "14/07/1999",
        phone: "0987 654 321",
        email: "xuyen.zqwy@example.vn",
        password: "Zqwy@Secret2026",
    },
    Person {
        full_name: "Đặng Quốc Ưng Vbnk",
        personal_id: "079085443322",
        date_of_birth: "02/03/1985",
        phone: "+84 368 765 432",
        email: "",
        password: "Vbnk#Hidden85",
    },
    Person {
        full_name: "Trần Thị Thuỷ Plmo",
        personal_id: "212398765",
        date_of_birth: "30/12/1970",
        phone: "0778112233",
        email: "thuy.plmo@gmail.com",
        password: "Plmo!Kept1970",
    },
];

/// Every way a value of `p` could appear on disk.
fn needles(p: &Person<'_>) -> Vec<String> {
    let digits: String = p.phone.chars().filter(char::is_ascii_digit).collect();
    let national = if let Some(rest) = digits.strip_prefix("84") {
        format!("0{rest}")
    } else {
        digits
    };
    let (d, m, y) = (
        &p.date_of_birth[..2],
        &p.date_of_birth[3..5],
        &p.date_of_birth[6..],
    );
    let mut out = vec![
        p.full_name.to_string(),
        p.full_name.rsplit(' ').next().unwrap().to_string(),
        p.personal_id.to_string(),
        national.clone(),
        format!("+84{}", &national[1..]),
        national[1..].to_string(),
        format!("{y}-{m}-{d}"),
        p.date_of_birth.to_string(),
        p.password.to_string(),
    ];
    if !p.email.is_empty() {
        out.push(p.email.to_string());
    }
    out
}

#[test]
fn no_personal_data_reaches_the_database_wal_or_journal() {
    let mut kiosk = Fixture::new();
    let now = datetime!(2026-11-28 10:00 +7);
    for (i, person) in PEOPLE.iter().enumerate() {
        kiosk.register(person, now, i as u64);
    }
    let dir = kiosk.dir.path().to_path_buf();
    let scan = |when: &str| {
        let files = all_bytes(&dir);
        assert!(files.iter().any(|(name, _)| name.ends_with("-wal")) || when == "closed");
        for person in &PEOPLE {
            for needle in needles(person) {
                for (name, bytes) in &files {
                    assert!(
                        !contains(bytes, needle.as_bytes()),
                        "{when}: {needle:?} found in {name}"
                    );
                }
            }
        }
    };
    // The values are there, sealed: the files are far from empty.
    let sealed_total: usize = all_bytes(&dir).iter().map(|(_, b)| b.len()).sum();
    assert!(sealed_total > 10_000);
    scan("open");
    let Fixture {
        dir: _keep, store, ..
    } = kiosk;
    drop(store);
    scan("closed");
}

#[test]
fn the_scan_would_find_a_value_stored_in_the_clear() {
    // Guard for the test above: the same scan does find plaintext when it is there.
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("leaky.sqlite3")).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (v TEXT);")
        .unwrap();
    conn.execute("INSERT INTO t VALUES (?1)", [PEOPLE[0].full_name])
        .unwrap();
    let found = all_bytes(dir.path())
        .iter()
        .any(|(_, b)| contains(b, PEOPLE[0].full_name.as_bytes()));
    assert!(found);
}

#[test]
fn the_portal_opens_the_envelope_and_finds_the_registration_signed_by_this_kiosk() {
    let mut kiosk = Fixture::new();
    let now = datetime!(2026-11-28 10:00 +7);
    let receipt = kiosk.register(&PEOPLE[0], now, 7);

    let bytes = kiosk
        .store
        .envelope(&receipt.registration_id)
        .unwrap()
        .unwrap();
    let envelope = Envelope::from_bytes(&bytes).unwrap();
    assert_eq!(envelope.verify().unwrap(), kiosk.keys.device().public_key());
    assert_eq!(envelope.registration_id, receipt.registration_id);
    let plaintext = envelope.open(&kiosk.portal).unwrap();
    let payload: RegistrationPayload = serde_json::from_slice(&plaintext).unwrap();
    assert_eq!(payload.reference, receipt.reference);
    assert_eq!(payload.method, "mobile_subscriber");
    assert_eq!(payload.level, 1);
    assert_eq!(
        payload.pending,
        vec!["global_duplicate", "subscriber_ownership"]
    );
    assert_eq!(payload.full_name.as_deref(), Some("Hoàng Thị Xuyến Zqwy"));
    assert_eq!(payload.personal_id_kind.as_deref(), Some("cccd"));
    assert_eq!(payload.personal_id.as_deref(), Some("051199887766"));
    assert_eq!(payload.date_of_birth.as_deref(), Some("1999-07-14"));
    assert_eq!(payload.phone.as_deref(), Some("+84987654321"));
    assert_eq!(payload.email.as_deref(), Some("xuyen.zqwy@example.vn"));
    let hash = PasswordHash::new(payload.password_hash.as_deref().unwrap()).unwrap();
    assert_eq!(hash.algorithm.as_str(), "argon2id");
    assert!(
        Argon2::default()
            .verify_password(b"Zqwy@Secret2026", &hash)
            .is_ok()
    );

    // A tampered byte anywhere is refused.
    let mut tampered = envelope.clone();
    tampered.ciphertext[10] ^= 0x40;
    assert!(tampered.open(&kiosk.portal).is_err());
}

#[test]
fn a_second_registration_for_the_same_person_is_a_local_duplicate() {
    let mut kiosk = Fixture::new();
    let now = datetime!(2026-11-28 10:00 +7);
    let first = mobile_draft(&PEOPLE[0], now, 1);
    assert!(
        !kiosk
            .store
            .has_identity(&kiosk.keys.identity_tag(&first.identity))
            .unwrap()
    );
    kiosk.register(&PEOPLE[0], now, 1);
    let again = mobile_draft(&PEOPLE[0], now, 2);
    assert!(
        kiosk
            .store
            .has_identity(&kiosk.keys.identity_tag(&again.identity))
            .unwrap()
    );
    let other = mobile_draft(&PEOPLE[1], now, 3);
    assert!(
        !kiosk
            .store
            .has_identity(&kiosk.keys.identity_tag(&other.identity))
            .unwrap()
    );
}
