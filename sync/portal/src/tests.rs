//! The portal core's own tests: enrolment, intake, checks and sessions
//! together, as a kiosk meets them.

use super::*;
use kiosk_sync::relay::ItemOutcome;
use kiosk_sync::{
    DeviceKey, Envelope, EnvelopeHeader, ExportFile, PAYLOAD_SCHEMA, PortalSecretKey,
    RegistrationPayload, seal,
};

/// A reference number made from a registration id: `r1` → `DK-R100-0000`.
fn reference_of(id: &str) -> String {
    let chars: String = id
        .to_ascii_uppercase()
        .chars()
        .filter(|c| kiosk_sync::REFERENCE_ALPHABET.contains(&(*c as u8)))
        .chain(std::iter::repeat('0'))
        .take(8)
        .collect();
    format!("DK-{}-{}", &chars[..4], &chars[4..])
}

fn payload(id: &str, person: &str) -> Vec<u8> {
    serde_json::to_vec(&payload_of(id, person)).unwrap()
}

fn payload_of(id: &str, person: &str) -> RegistrationPayload {
    RegistrationPayload {
        schema: PAYLOAD_SCHEMA.into(),
        registration_id: id.into(),
        reference: reference_of(id),
        created_at: 1,
        method: "mobile_subscriber".into(),
        subject: "citizen".into(),
        level: 1,
        pending: vec!["global_duplicate".into()],
        full_name: Some("Nguyễn Văn An".into()),
        business_name: None,
        personal_id_kind: Some("cccd".into()),
        personal_id: Some(person.into()),
        tax_code: None,
        bhxh_code: None,
        date_of_birth: Some("1999-09-05".into()),
        phone: Some("+84912345678".into()),
        email: None,
        certificate: None,
        proof: None,
        chip: None,
        counter: None,
        password_hash: Some("$argon2id$…".into()),
    }
}

struct World {
    _dir: tempfile::TempDir,
    portal: Portal,
    public: kiosk_sync::PortalPublicKey,
}

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let secret = PortalSecretKey::generate();
    let public = secret.public_key();
    World {
        portal: Portal::open(&dir.path().join("portal.sqlite3"), secret).unwrap(),
        public,
        _dir: dir,
    }
}

fn enrolled(w: &mut World) -> DeviceKey {
    let kiosk = DeviceKey::generate();
    let code = w.portal.issue_enrolment_code(0, 3600).unwrap();
    w.portal
        .enrol(&code, &kiosk.public_key(), None, 10)
        .unwrap();
    kiosk
}

fn envelope(w: &World, kiosk: &DeviceKey, id: &str, person: &str) -> Envelope {
    seal(
        &payload(id, person),
        EnvelopeHeader::new(id, 1),
        &w.public,
        kiosk,
    )
    .unwrap()
}

#[test]
fn ended_signature_sessions_are_deleted_after_their_retention() {
    let mut w = world();
    let first = w
        .portal
        .start_signature(1, "+84912345678", "Ma xac nhan: 1234", 1000, 120)
        .unwrap();
    let expiry = 1000 + 120;
    w.portal
        .start_signature(
            1,
            "+84912345679",
            "Ma xac nhan: 5678",
            expiry + SIGNATURE_SESSION_RETENTION_SECS,
            120,
        )
        .unwrap();
    assert!(
        w.portal
            .signature_session(
                Some(1),
                &first.id,
                expiry + SIGNATURE_SESSION_RETENTION_SECS
            )
            .unwrap()
            .is_some(),
        "kept until its retention is over"
    );
    let now = expiry + SIGNATURE_SESSION_RETENTION_SECS + 1;
    w.portal
        .start_signature(1, "+84912345670", "Ma xac nhan: 9012", now, 120)
        .unwrap();
    assert!(
        w.portal
            .signature_session(Some(1), &first.id, now)
            .unwrap()
            .is_none()
    );
    let left: i64 = w
        .portal
        .conn
        .query_row("SELECT COUNT(*) FROM msig_sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 2);
}

#[test]
fn enrolment_codes_are_one_time_and_expire() {
    let mut w = world();
    let kiosk = DeviceKey::generate();
    let code = w.portal.issue_enrolment_code(0, 60).unwrap();
    // Six groups of four, Crockford base32: 120 bits, 100 of them secret.
    assert_eq!(code.len(), 29);
    assert!(code.split('-').all(|g| g.len() == 4));
    assert!(matches!(
        w.portal.enrol(&code, &kiosk.public_key(), None, 61),
        Err(PortalError::CodeExpired)
    ));
    let code = w.portal.issue_enrolment_code(100, 60).unwrap();
    let id = w
        .portal
        .enrol(&code, &kiosk.public_key(), None, 110)
        .unwrap();
    assert!(matches!(
        w.portal
            .enrol(&code, &DeviceKey::generate().public_key(), None, 111),
        Err(PortalError::BadCode)
    ));
    assert!(matches!(
        w.portal.enrol("00000000", &kiosk.public_key(), None, 111),
        Err(PortalError::BadCode)
    ));
    assert_eq!(w.portal.kiosk(&kiosk.public_key()).unwrap(), id);
}

#[test]
fn a_code_is_typed_in_any_case_without_its_dashes_and_with_look_alike_letters() {
    let mut w = world();
    let code = w.portal.issue_enrolment_code(0, 600).unwrap();
    let typed = code
        .replace('-', " ")
        .to_lowercase()
        .replace('0', "o")
        .replace('1', "l");
    let kiosk = DeviceKey::generate();
    assert!(w.portal.enrol(&typed, &kiosk.public_key(), None, 1).is_ok());
}

#[test]
fn a_code_guessed_at_is_burnt_after_its_wrong_tries() {
    let mut w = world();
    let code = w.portal.issue_enrolment_code(0, 600).unwrap();
    // The right name, wrong secrets: what a guesser who saw the first group
    // over a shoulder would try.
    let wrong = |n: usize| {
        let mut chars: Vec<char> = code.chars().collect();
        let at = (0..chars.len())
            .rev()
            .filter(|&i| chars[i] != '-')
            .nth(n)
            .unwrap();
        chars[at] = if chars[at] == 'Z' { 'Y' } else { 'Z' };
        chars.into_iter().collect::<String>()
    };
    for n in 0..usize::try_from(MAX_WRONG_TRIES).unwrap() {
        let guess = wrong(n);
        assert!(matches!(
            w.portal
                .enrol(&guess, &DeviceKey::generate().public_key(), None, 1),
            Err(PortalError::BadCode)
        ));
    }
    // The real code now fails too: burnt.
    let kiosk = DeviceKey::generate();
    assert!(matches!(
        w.portal.enrol(&code, &kiosk.public_key(), None, 2),
        Err(PortalError::BadCode)
    ));
    assert!(w.portal.kiosks().unwrap().is_empty());
    let failures = w.portal.enrolment_failures(100).unwrap();
    assert_eq!(
        failures.len(),
        usize::try_from(MAX_WRONG_TRIES).unwrap() + 1
    );
    assert_eq!(failures[0].reason, "code burnt by wrong tries");
}

#[test]
fn an_address_that_keeps_failing_is_turned_away_and_the_admin_sees_it() {
    let mut w = world();
    let code = w.portal.issue_enrolment_code(0, 7200).unwrap();
    let key = DeviceKey::generate().public_key();
    for _ in 0..MAX_FAILURES_PER_SOURCE {
        let guess = format!("{:0>24}", rand::random::<u32>());
        assert!(matches!(
            w.portal.enrol(&guess, &key, Some("192.0.2.7"), 10),
            Err(PortalError::BadCode)
        ));
    }
    // Even the right code, from that address, within the hour.
    assert!(matches!(
        w.portal.enrol(&code, &key, Some("192.0.2.7"), 20),
        Err(PortalError::TooManyTries)
    ));
    // Another address is not held up, and the first may try again later.
    let other = DeviceKey::generate().public_key();
    assert!(w.portal.enrol(&code, &other, Some("192.0.2.8"), 30).is_ok());
    let later = w.portal.issue_enrolment_code(0, 7200).unwrap();
    assert!(
        w.portal
            .enrol(
                &later,
                &key,
                Some("192.0.2.7"),
                10 + FAILURE_WINDOW_SECS + 1
            )
            .is_ok()
    );
    let failures = w.portal.enrolment_failures(100).unwrap();
    assert_eq!(
        failures.len(),
        usize::try_from(MAX_FAILURES_PER_SOURCE).unwrap()
    );
    assert!(
        failures
            .iter()
            .all(|f| f.source.as_deref() == Some("192.0.2.7"))
    );
}

#[test]
fn failed_enrolments_are_kept_a_month_not_forever() {
    let mut w = world();
    let key = DeviceKey::generate().public_key();
    let month = enrolment::FAILURE_RETENTION_SECS;
    for at in [0, 10] {
        assert!(w.portal.enrol("nope", &key, Some("192.0.2.8"), at).is_err());
    }
    assert_eq!(w.portal.enrolment_failures(100).unwrap().len(), 2);
    // A month and a bit later, the next failure is recorded and the old
    // ones are gone.
    assert!(
        w.portal
            .enrol("nope", &key, Some("192.0.2.9"), month + 5)
            .is_err()
    );
    let left = w.portal.enrolment_failures(100).unwrap();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.iter().all(|f| f.at >= 10));
}

#[test]
fn a_resent_batch_creates_nothing_twice() {
    let mut w = world();
    let kiosk = enrolled(&mut w);
    let batch = vec![
        envelope(&w, &kiosk, "r1", "051099000001"),
        envelope(&w, &kiosk, "r2", "051099000002"),
    ];
    let first = w.portal.receive(&kiosk.public_key(), &batch, 100).unwrap();
    let again = w.portal.receive(&kiosk.public_key(), &batch, 200).unwrap();
    assert_eq!(
        first,
        vec![
            ("r1".into(), ItemOutcome::Accepted),
            ("r2".into(), ItemOutcome::Accepted)
        ]
    );
    assert_eq!(again, first);
    assert_eq!(w.portal.account_count().unwrap(), 2);
    assert_eq!(
        w.portal.status_since(&kiosk.public_key(), 0).unwrap().len(),
        2
    );
}

#[test]
fn the_same_citizen_at_two_offline_kiosks_gets_one_account() {
    let mut w = world();
    let (a, b) = (enrolled(&mut w), enrolled(&mut w));
    let from_a = envelope(&w, &a, "ra", "051099000009");
    let from_b = envelope(&w, &b, "rb", "051099000009");
    assert_eq!(
        w.portal.receive(&a.public_key(), &[from_a], 100).unwrap()[0].1,
        ItemOutcome::Accepted
    );
    assert_eq!(
        w.portal.receive(&b.public_key(), &[from_b], 101).unwrap()[0].1,
        ItemOutcome::Duplicate
    );
    assert_eq!(w.portal.account_count().unwrap(), 1);
    let feed = w.portal.status_since(&b.public_key(), 0).unwrap();
    assert_eq!(
        (feed[0].registration_id.as_str(), feed[0].status.as_str()),
        ("rb", "duplicate")
    );
    // Each kiosk reads only its own feed, from its cursor on.
    assert_eq!(
        w.portal
            .status_since(&a.public_key(), feed[0].cursor)
            .unwrap(),
        vec![]
    );
}

#[test]
fn unknown_revoked_and_forged_senders_are_refused() {
    let mut w = world();
    let kiosk = enrolled(&mut w);
    let stranger = DeviceKey::generate();
    let e = envelope(&w, &stranger, "rx", "051099000003");
    assert!(matches!(
        w.portal
            .receive(&stranger.public_key(), std::slice::from_ref(&e), 1),
        Err(PortalError::UnknownKiosk)
    ));
    // An enrolled kiosk relaying another kiosk's envelope: held, not
    // recorded, for that item.
    let out = w.portal.receive(&kiosk.public_key(), &[e], 2).unwrap();
    assert!(matches!(&out[0].1, ItemOutcome::Held(r) if r.contains("replacement")));
    let id = w.portal.kiosk(&kiosk.public_key()).unwrap();
    w.portal.revoke(id, 3).unwrap();
    let e = envelope(&w, &kiosk, "ry", "051099000004");
    assert!(matches!(
        w.portal.receive(&kiosk.public_key(), &[e], 4),
        Err(PortalError::RevokedKiosk)
    ));
}

#[test]
fn importing_the_same_export_twice_creates_nothing_twice() {
    let mut w = world();
    let kiosk = enrolled(&mut w);
    let file = ExportFile::new(
        &kiosk.public_key(),
        5,
        vec![
            envelope(&w, &kiosk, "u1", "051099000005"),
            envelope(&w, &kiosk, "u2", "051099000006"),
        ],
    );
    let bytes = file.to_bytes();
    let first = w.portal.import(&bytes, 10).unwrap();
    assert_eq!(w.portal.import(&bytes, 20).unwrap(), first);
    assert_eq!(w.portal.account_count().unwrap(), 2);
    assert_eq!(
        w.portal.status_since(&kiosk.public_key(), 0).unwrap().len(),
        2
    );
}

#[test]
fn a_replayed_envelope_cannot_take_the_registration_from_its_maker() {
    let mut w = world();
    let (maker, replayer) = (enrolled(&mut w), enrolled(&mut w));
    let e = envelope(&w, &maker, "stolen", "051099000011");
    let out = w
        .portal
        .receive(&replayer.public_key(), std::slice::from_ref(&e), 1)
        .unwrap();
    assert!(matches!(&out[0].1, ItemOutcome::Held(_)));
    assert_eq!(
        w.portal.receive(&maker.public_key(), &[e], 2).unwrap()[0].1,
        ItemOutcome::Accepted
    );
    assert!(
        w.portal
            .status_since(&replayer.public_key(), 0)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_registration_id_taken_first_by_another_kiosk_is_still_its_makers() {
    let mut w = world();
    let (a, b) = (enrolled(&mut w), enrolled(&mut w));
    // B learned A's id (from an export file) and uploads under it first,
    // its own envelope, for someone else.
    let squatted = envelope(&w, &b, "a-0001", "051099000022");
    let out = w.portal.receive(&b.public_key(), &[squatted], 1).unwrap();
    assert_eq!(out[0].1, ItemOutcome::Accepted);
    // A's citizen is still processed: a new account, A's own status.
    let real = envelope(&w, &a, "a-0001", "051099000033");
    let out = w
        .portal
        .receive(&a.public_key(), std::slice::from_ref(&real), 2)
        .unwrap();
    assert_eq!(out[0].1, ItemOutcome::Accepted);
    assert_eq!(w.portal.account_count().unwrap(), 2);
    let a_id: kiosk_sync::IdentityRef = "cccd:051099000033".parse().unwrap();
    assert!(w.portal.account_exists(&a_id).unwrap());
    let feed = w.portal.status_since(&a.public_key(), 0).unwrap();
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].registration_id, "a-0001");
    // A's resend answers A's recorded outcome and creates nothing.
    assert_eq!(
        w.portal.receive(&a.public_key(), &[real], 3).unwrap()[0].1,
        ItemOutcome::Accepted
    );
    assert_eq!(w.portal.account_count().unwrap(), 2);
}

#[test]
fn a_kiosk_given_a_new_key_by_a_replacement_code_keeps_what_its_old_key_sealed() {
    let mut w = world();
    let old = enrolled(&mut w);
    let id = w.portal.kiosk(&old.public_key()).unwrap();
    let queued: Vec<Envelope> = (0..3)
        .map(|i| envelope(&w, &old, &format!("q{i}"), &format!("05109900010{i}")))
        .collect();
    // The key file is lost; the technician first enrols the new key with a
    // plain code: a new, empty kiosk, whose uploads of the old envelopes
    // are held, not refused, and nothing is recorded.
    let new = DeviceKey::generate();
    let code = w.portal.issue_enrolment_code(20, 600).unwrap();
    let wrong = w.portal.enrol(&code, &new.public_key(), None, 21).unwrap();
    assert_ne!(wrong, id);
    let out = w.portal.receive(&new.public_key(), &queued, 22).unwrap();
    assert!(
        out.iter()
            .all(|(_, o)| matches!(o, ItemOutcome::Held(r) if r.contains("replacement")))
    );
    assert_eq!(w.portal.account_count().unwrap(), 0);
    // The admin's replacement code gives the new key the old kiosk's id.
    let code = w.portal.issue_replacement_code(id, 30, 600).unwrap();
    assert_eq!(
        w.portal.enrol(&code, &new.public_key(), None, 31).unwrap(),
        id
    );
    assert_eq!(w.portal.kiosk(&new.public_key()).unwrap(), id);
    let out = w.portal.receive(&new.public_key(), &queued, 32).unwrap();
    assert!(
        out.iter().all(|(_, o)| *o == ItemOutcome::Accepted),
        "{out:?}"
    );
    assert_eq!(w.portal.account_count().unwrap(), 3);
    assert_eq!(
        w.portal.status_since(&new.public_key(), 0).unwrap().len(),
        3
    );
    // The old key signs nothing any more, and cannot be enrolled again.
    assert!(matches!(
        w.portal.kiosk(&old.public_key()),
        Err(PortalError::UnknownKiosk)
    ));
    let code = w.portal.issue_enrolment_code(40, 600).unwrap();
    assert!(matches!(
        w.portal.enrol(&code, &old.public_key(), None, 41),
        Err(PortalError::KeyInUse)
    ));
    // An export file made with the old key still imports as this kiosk's.
    let file = ExportFile::new(
        &old.public_key(),
        50,
        vec![envelope(&w, &old, "q9", "051099000109")],
    );
    let out = w.portal.import(&file.to_bytes(), 51).unwrap();
    assert_eq!(out[0].1, ItemOutcome::Accepted);
    assert_eq!(
        w.portal.status_since(&new.public_key(), 0).unwrap().len(),
        4
    );
}

#[test]
fn a_replacement_code_is_refused_for_a_revoked_kiosk_or_a_key_with_its_own_registrations() {
    let mut w = world();
    let (a, b) = (enrolled(&mut w), enrolled(&mut w));
    let (a_id, b_id) = (
        w.portal.kiosk(&a.public_key()).unwrap(),
        w.portal.kiosk(&b.public_key()).unwrap(),
    );
    let e = envelope(&w, &b, "b1", "051099000201");
    w.portal.receive(&b.public_key(), &[e], 1).unwrap();
    // B has sent registrations of its own: its key cannot become A's.
    let code = w.portal.issue_replacement_code(a_id, 2, 600).unwrap();
    assert!(matches!(
        w.portal.enrol(&code, &b.public_key(), None, 3),
        Err(PortalError::KeyInUse)
    ));
    assert_eq!(w.portal.kiosk(&b.public_key()).unwrap(), b_id);
    w.portal.revoke(a_id, 4).unwrap();
    assert!(matches!(
        w.portal.issue_replacement_code(a_id, 5, 600),
        Err(PortalError::RevokedKiosk)
    ));
    assert!(matches!(
        w.portal.issue_replacement_code(999, 5, 600),
        Err(PortalError::UnknownKiosk)
    ));
}

/// A database made by an earlier portal: its kiosks and accounts tables,
/// then `rest`.
fn older_database(rest: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("older.sqlite3");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&format!(
        "CREATE TABLE kiosks (id INTEGER PRIMARY KEY, public_key TEXT NOT NULL UNIQUE,
             enrolled_at INTEGER NOT NULL, revoked_at INTEGER) STRICT;
         CREATE TABLE accounts (id INTEGER PRIMARY KEY, identity TEXT NOT NULL UNIQUE,
             level INTEGER NOT NULL, pending TEXT NOT NULL, created_at INTEGER NOT NULL,
             registration_id TEXT NOT NULL) STRICT;
         {rest}"
    ))
    .unwrap();
    (dir, path)
}

#[test]
fn a_database_keyed_by_registration_id_alone_is_migrated_with_its_records() {
    let (_dir, path) = older_database(
        "CREATE TABLE registrations (registration_id TEXT PRIMARY KEY,
             kiosk_id INTEGER NOT NULL REFERENCES kiosks (id), received_at INTEGER NOT NULL,
             outcome TEXT NOT NULL, reason TEXT, account_id INTEGER REFERENCES accounts (id)) STRICT;
         INSERT INTO kiosks VALUES (1, 'key', 0, NULL);
         INSERT INTO registrations VALUES ('r1', 1, 5, 'rejected', 'why', NULL);",
    );
    let portal = Portal::open(&path, PortalSecretKey::generate()).unwrap();
    let (kiosk, outcome): (i64, String) = portal
        .conn
        .query_row(
            "SELECT kiosk_id, outcome FROM registrations WHERE registration_id = 'r1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((kiosk, outcome.as_str()), (1, "rejected"));
    let sql: String = portal
        .conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'registrations'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        sql.contains("PRIMARY KEY (kiosk_id, registration_id)"),
        "{sql}"
    );
}

#[test]
fn a_database_from_before_replacement_codes_takes_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.sqlite3");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE enrolment_tickets (code_id TEXT PRIMARY KEY, secret_hash BLOB NOT NULL,
                 expires_at INTEGER NOT NULL, used_by INTEGER,
                 wrong_tries INTEGER NOT NULL DEFAULT 0) STRICT;
             CREATE TABLE kiosks (id INTEGER PRIMARY KEY, public_key TEXT NOT NULL UNIQUE,
                 enrolled_at INTEGER NOT NULL, revoked_at INTEGER) STRICT;
             PRAGMA user_version = 2;",
        )
        .unwrap();
    }
    let mut portal = Portal::open(&path, PortalSecretKey::generate()).unwrap();
    let old = DeviceKey::generate();
    let code = portal.issue_enrolment_code(0, 600).unwrap();
    let id = portal.enrol(&code, &old.public_key(), None, 1).unwrap();
    let code = portal.issue_replacement_code(id, 2, 600).unwrap();
    let new = DeviceKey::generate();
    assert_eq!(portal.enrol(&code, &new.public_key(), None, 3).unwrap(), id);
}

#[test]
fn checks_left_pending_by_an_offline_kiosk_run_on_intake() {
    let mut w = world();
    w.portal.load_fixtures(&demo_fixtures()).unwrap();
    let kiosk = enrolled(&mut w);
    let sealed = |id: &str, edit: &dyn Fn(&mut RegistrationPayload)| {
        let mut p: RegistrationPayload =
            serde_json::from_slice(&payload(id, "051085001234")).unwrap();
        edit(&mut p);
        seal(
            &serde_json::to_vec(&p).unwrap(),
            EnvelopeHeader::new(id, 1),
            &w.public,
            &kiosk,
        )
        .unwrap()
    };
    let bhxh = |name: &'static str, dob: &'static str| {
        move |p: &mut RegistrationPayload| {
            p.method = "bhxh".into();
            p.level = 2;
            p.personal_id = Some("079192004567".into());
            p.pending = vec!["bhxh_match".into()];
            p.bhxh_code = Some("7901234568".into());
            p.full_name = Some(name.into());
            p.date_of_birth = Some(dob.into());
        }
    };
    let wrong_dob = sealed("b1", &bhxh("Trần Thị Thủy", "1992-11-03"));
    let stranger_phone = sealed("s1", &|p: &mut RegistrationPayload| {
        p.pending = vec!["subscriber_ownership".into()];
        p.phone = Some("+84987654321".into()); // Trần Thị Thủy's
    });
    let right = sealed("b2", &bhxh("TRẦN THỊ THỦY", "1992-11-02"));
    let out = w
        .portal
        .receive(&kiosk.public_key(), &[wrong_dob, stranger_phone, right], 5)
        .unwrap();
    assert_eq!(
        out[0].1,
        ItemOutcome::Rejected("BHXH data did not match".into())
    );
    assert!(matches!(&out[1].1, ItemOutcome::Rejected(r) if r.contains("someone else")));
    assert_eq!(out[2].1, ItemOutcome::Accepted);
    assert_eq!(w.portal.account_count().unwrap(), 1);
    let feed: Vec<String> = w
        .portal
        .status_since(&kiosk.public_key(), 0)
        .unwrap()
        .into_iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(feed, vec!["rejected", "rejected", "activated"]);
}

#[test]
fn a_tampered_envelope_is_rejected_and_stays_rejected() {
    let mut w = world();
    let kiosk = enrolled(&mut w);
    let mut e = envelope(&w, &kiosk, "t1", "051099000007");
    e.ciphertext[3] ^= 1;
    let out = w
        .portal
        .receive(&kiosk.public_key(), &[e.clone()], 1)
        .unwrap();
    assert!(matches!(&out[0].1, ItemOutcome::Rejected(_)));
    assert_eq!(w.portal.receive(&kiosk.public_key(), &[e], 2).unwrap(), out);
    assert_eq!(w.portal.account_count().unwrap(), 0);
}

#[test]
fn the_database_and_its_journal_are_readable_by_the_owner_only() {
    use std::os::unix::fs::MetadataExt as _;
    let mut w = world();
    enrolled(&mut w);
    let dir = w._dir.path();
    for name in ["portal.sqlite3", "portal.sqlite3-wal", "portal.sqlite3-shm"] {
        let mode = std::fs::metadata(dir.join(name)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} is {mode:o}");
    }
}

#[test]
fn forgetting_old_nonces_uses_an_index_not_a_scan_of_the_table() {
    let w = world();
    let plan: Vec<String> = w
        .portal
        .conn
        .prepare("EXPLAIN QUERY PLAN DELETE FROM nonces WHERE created < 5")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plan.iter()
            .any(|step| step.contains("USING") && step.contains("nonces_by_age")),
        "{plan:?}"
    );
}

#[test]
fn a_rejection_reason_never_quotes_the_payload() {
    let mut w = world();
    let kiosk = enrolled(&mut w);
    // A payload whose name sits where a number belongs: serde's message
    // would quote it.
    let mut json: serde_json::Value =
        serde_json::from_slice(&payload("q1", "051099000044")).unwrap();
    json["level"] = serde_json::Value::String("Nguyễn Văn An 051099000044".into());
    let e = seal(
        &serde_json::to_vec(&json).unwrap(),
        EnvelopeHeader::new("q1", 1),
        &w.public,
        &kiosk,
    )
    .unwrap();
    let out = w.portal.receive(&kiosk.public_key(), &[e], 1).unwrap();
    let ItemOutcome::Rejected(reason) = &out[0].1 else {
        panic!("{:?}", out[0].1);
    };
    assert!(
        !reason.contains("Nguyễn") && !reason.contains("051099000044"),
        "{reason}"
    );
    assert!(reason.contains("does not follow"), "{reason}");
}

#[test]
fn the_applicant_is_told_once_and_anyone_with_the_reference_may_look_it_up() {
    let mut w = world();
    let (a, b) = (enrolled(&mut w), enrolled(&mut w));
    let sealed = |w: &World, kiosk: &DeviceKey, p: &RegistrationPayload| {
        seal(
            &serde_json::to_vec(p).unwrap(),
            EnvelopeHeader::new(&p.registration_id, 1),
            &w.public,
            kiosk,
        )
        .unwrap()
    };
    let first = envelope(&w, &a, "r1", "051099000011");
    // The same person at another kiosk, with another phone.
    let mut again = payload_of("r2", "051099000011");
    again.phone = Some("+84987654321".into());
    // A BHXH registration without its BHXH data: no phone, an e-mail.
    let mut bad = payload_of("r3", "051099000013");
    bad.method = "bhxh".into();
    bad.phone = None;
    bad.email = Some("an@example.vn".into());
    // The same, and no way to reach anyone: nobody is told.
    let mut unreachable = payload_of("r4", "051099000014");
    unreachable.method = "bhxh".into();
    unreachable.phone = None;
    let batch_b = vec![
        sealed(&w, &b, &again),
        sealed(&w, &b, &bad),
        sealed(&w, &b, &unreachable),
    ];
    w.portal
        .receive(&a.public_key(), std::slice::from_ref(&first), 100)
        .unwrap();
    w.portal.receive(&b.public_key(), &batch_b, 200).unwrap();
    // Sent again after a lost answer: nobody is told twice.
    w.portal.receive(&a.public_key(), &[first], 300).unwrap();
    w.portal.receive(&b.public_key(), &batch_b, 300).unwrap();

    let sent = w.portal.messages_since(0).unwrap();
    let seen: Vec<(&str, &str)> = sent
        .iter()
        .map(|m| (m.channel.as_str(), m.recipient.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("sms", "+84912345678"),
            ("sms", "+84987654321"),
            ("email", "an@example.vn")
        ]
    );
    assert!(
        sent[0].text.contains("DK-R100-0000") && sent[0].text.contains("đã được kích hoạt"),
        "{}",
        sent[0].text
    );
    assert!(
        sent[1].text.contains("DK-R200-0000") && sent[1].text.contains("đã có tài khoản"),
        "{}",
        sent[1].text
    );
    assert!(
        sent[2].text.contains("DK-R300-0000") && sent[2].text.contains("không được chấp nhận"),
        "{}",
        sent[2].text
    );
    assert!(
        sent.iter().all(|m| !m.text.contains("05109900001")),
        "no identifier in a message"
    );
    assert_eq!(w.portal.messages_since(sent[2].seq).unwrap(), vec![]);

    // Looked up as a citizen types it, from any kiosk.
    let found = w.portal.lookup("dk r100 oooo").unwrap().unwrap();
    assert_eq!(
        (found.status.as_str(), found.method.as_str(), found.level),
        ("activated", "mobile_subscriber", 1)
    );
    assert_eq!((found.created_at, found.decided_at), (1, 100));
    assert_eq!(found.rejection, None);
    let duplicate = w.portal.lookup("DK-R200-0000").unwrap().unwrap();
    assert_eq!(duplicate.status, "duplicate");
    let rejected = w.portal.lookup("DK-R300-0000").unwrap().unwrap();
    assert_eq!(
        (rejected.status.as_str(), rejected.rejection),
        ("rejected", Some(kiosk_sync::api::Rejection::Bhxh))
    );
    assert_eq!(w.portal.lookup("DK-R900-0000").unwrap(), None);
    assert_eq!(w.portal.lookup("not a reference").unwrap(), None);
}

#[test]
fn a_database_from_before_lookups_takes_them() {
    let (_dir, path) = older_database(
        "CREATE TABLE registrations (kiosk_id INTEGER NOT NULL REFERENCES kiosks (id),
             registration_id TEXT NOT NULL, received_at INTEGER NOT NULL,
             outcome TEXT NOT NULL, reason TEXT, account_id INTEGER REFERENCES accounts (id),
             PRIMARY KEY (kiosk_id, registration_id)) STRICT;
         INSERT INTO kiosks VALUES (1, 'key', 0, NULL);
         INSERT INTO registrations VALUES (1, 'old', 5, 'accepted', NULL, NULL);
         PRAGMA user_version = 3;",
    );
    let mut portal = Portal::open(&path, PortalSecretKey::generate()).unwrap();
    let kiosk = DeviceKey::generate();
    let code = portal.issue_enrolment_code(0, 600).unwrap();
    portal.enrol(&code, &kiosk.public_key(), None, 1).unwrap();
    let e = seal(
        &payload("new", "051099000021"),
        EnvelopeHeader::new("new", 1),
        &portal.public_key(),
        &kiosk,
    )
    .unwrap();
    portal.receive(&kiosk.public_key(), &[e], 10).unwrap();
    assert_eq!(
        portal
            .lookup(&reference_of("new"))
            .unwrap()
            .map(|l| l.status),
        Some("activated".to_string())
    );
}

#[test]
fn a_hand_off_code_points_a_counter_at_an_existing_account_for_a_month() {
    let mut w = world();
    let kiosk = enrolled(&mut w);
    let e = envelope(&w, &kiosk, "h1", "051099000031");
    w.portal.receive(&kiosk.public_key(), &[e], 100).unwrap();
    let who = kiosk_sync::IdentityRef::new(kiosk_sync::IdentityKind::Cccd, "051099000031").unwrap();
    let (code, until) = w.portal.issue_handoff(&who, 1_000).unwrap().unwrap();
    assert!(code.starts_with("HD-") && code.len() == 12, "{code}");
    assert_eq!(until, 1_000 + HANDOFF_TTL_SECS);
    // Typed at the counter in any case, without its dashes.
    let found = w
        .portal
        .handoff(&code.replace('-', "").to_lowercase(), 2_000)
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.identity.as_str(), found.level),
        ("cccd:051099000031", 1)
    );
    assert_eq!(w.portal.handoff(&code, until + 1).unwrap(), None);
    // No account: no code.
    let nobody =
        kiosk_sync::IdentityRef::new(kiosk_sync::IdentityKind::Cccd, "051099000032").unwrap();
    assert_eq!(w.portal.issue_handoff(&nobody, 1_000).unwrap(), None);
    // Each asking gets its own code.
    let (again, _) = w.portal.issue_handoff(&who, 1_001).unwrap().unwrap();
    assert_ne!(again, code);
}

fn complaint(id: &str, reason: &str, phone: &str) -> kiosk_sync::ComplaintPayload {
    kiosk_sync::ComplaintPayload {
        schema: kiosk_sync::COMPLAINT_SCHEMA.into(),
        registration_id: id.into(),
        reference: reference_of(id).replacen("DK", "KN", 1),
        created_at: 1,
        identity: "cccd:051099000001".into(),
        method: "mobile_subscriber".into(),
        subject: "citizen".into(),
        contact_phone: phone.into(),
        reason: reason.into(),
        chip: None,
        counter: None,
    }
}

fn sealed(w: &World, kiosk: &DeviceKey, payload: &impl serde::Serialize, id: &str) -> Envelope {
    seal(
        &serde_json::to_vec(payload).unwrap(),
        EnvelopeHeader::new(id, 1),
        &w.public,
        kiosk,
    )
    .unwrap()
}

#[test]
fn a_complaint_is_queued_once_and_a_malformed_one_refused_in_fixed_words() {
    let mut w = world();
    let kiosk = enrolled(&mut w);
    let key = kiosk.public_key();
    w.portal
        .receive(&key, &[envelope(&w, &kiosk, "r1", "051099000001")], 50)
        .unwrap();
    let good = sealed(
        &w,
        &kiosk,
        &complaint("c1", "never_registered", "+84987654321"),
        "c1",
    );
    for at in [100, 200] {
        assert_eq!(
            w.portal
                .receive(&key, std::slice::from_ref(&good), at)
                .unwrap(),
            vec![("c1".into(), ItemOutcome::Accepted)]
        );
    }
    let queue = w.portal.complaints().unwrap();
    assert_eq!(queue.len(), 1);
    assert!(queue[0].account_exists);
    assert_eq!(w.portal.account_count().unwrap(), 1);
    // Told once, though the batch came twice.
    let to_contact = |w: &World| {
        w.portal
            .messages_since(0)
            .unwrap()
            .into_iter()
            .filter(|m| m.recipient == "+84987654321")
            .count()
    };
    assert_eq!(to_contact(&w), 1);
    let looked = w.portal.lookup("KN-C100-0000").unwrap().unwrap();
    assert_eq!(looked.status, "received");
    assert!(w.portal.resolve_complaint("kn c100 0000", 300).unwrap());
    let looked = w.portal.lookup("KN-C100-0000").unwrap().unwrap();
    assert_eq!(
        (looked.status.as_str(), looked.decided_at),
        ("resolved", 300)
    );
    assert_eq!(to_contact(&w), 2);

    // What does not hold is refused, its reason never quoting the payload.
    for (id, bad) in [
        ("c2", complaint("c2", "because I said so", "+84987654321")),
        ("c3", complaint("c3", "other", "0987654321")),
        ("c4", {
            let mut c = complaint("c4", "other", "+84987654321");
            c.identity = "passport:B1234567".into();
            c
        }),
        ("c5", {
            let mut c = complaint("c5", "other", "+84987654321");
            c.reference = "DK-C500-0000".into();
            c
        }),
    ] {
        let answer = w
            .portal
            .receive(&key, &[sealed(&w, &kiosk, &bad, id)], 400)
            .unwrap();
        let [(_, ItemOutcome::Rejected(reason))] = &answer[..] else {
            panic!("{id}: {answer:?}");
        };
        assert!(
            !reason.contains("said") && !reason.contains("0987") && !reason.contains("B1234567"),
            "{reason}"
        );
    }
    assert_eq!(w.portal.complaints().unwrap().len(), 1);
}
