//! Two kiosks, offline, register the same citizen; later their outboxes
//! drain into the reference portal through the relay's decisions. One
//! account results, the second kiosk's record says "duplicate", and a
//! batch re-sent after a lost answer changes nothing. (HTTP between them
//! comes with the sync service; here the upload is a direct call.)

mod support;

use kiosk_portal::Portal;
use kiosk_sync::relay::{RelayConfig, RelayStatus, UploadResult, next_batch, settle};
use kiosk_sync::{Envelope, PortalSecretKey};
use rand::SeedableRng;
use support::{FAST_HASH, Fixture, Person, mobile_draft};
use time::macros::datetime;

const CITIZEN: Person<'static> = Person {
    full_name: "Bùi Thị Xuân",
    personal_id: "051190000123",
    date_of_birth: "02/02/1990",
    phone: "0912 000 123",
    email: "",
    password: "Xuan@1990abc",
};

/// A kiosk sealing to `portal_key`, with one registration of `person`.
fn kiosk_with(portal: &kiosk_sync::PortalPublicKey, person: &Person<'_>, seed: u64) -> Fixture {
    let mut k = Fixture::new();
    let now = datetime!(2026-11-28 09:00 +7);
    let draft = mobile_draft(person, now, seed);
    let completer = kiosk::register::Completer {
        keys: &k.keys,
        portal,
        cost: FAST_HASH,
    };
    completer.complete(&mut k.store, &draft, now).unwrap();
    k
}

/// One relay round: due batch, upload, decisions recorded.
fn drain(k: &mut Fixture, portal: &mut Portal, now: i64, lose_answer: bool) -> RelayStatus {
    let config = RelayConfig::default();
    let outbox = k.store.outbox().unwrap();
    let batch = next_batch(&outbox, now, &config);
    let envelopes: Vec<Envelope> = batch
        .iter()
        .map(|q| {
            Envelope::from_bytes(&k.store.envelope(&q.registration_id).unwrap().unwrap()).unwrap()
        })
        .collect();
    let answer = portal
        .receive(&k.keys.device().public_key(), &envelopes, now)
        .unwrap();
    let result = if lose_answer {
        UploadResult::Failed("connection reset after the portal committed".into())
    } else {
        UploadResult::Answered(answer)
    };
    let mut status = RelayStatus::default();
    let decided = settle(
        &batch,
        &result,
        now,
        &config,
        &mut status,
        &mut rand::rngs::StdRng::seed_from_u64(1),
    );
    k.store
        .apply_dispositions(&decided, &k.keys.audit_key(), now)
        .unwrap();
    status
}

fn enrol(portal: &mut Portal, k: &Fixture) {
    let code = portal.issue_enrolment_code(0, i64::MAX / 4).unwrap();
    portal
        .enrol(&code, &k.keys.device().public_key(), None, 1)
        .unwrap();
}

#[test]
fn the_same_citizen_at_two_offline_kiosks_ends_as_one_account() {
    let dir = tempfile::tempdir().unwrap();
    let secret = PortalSecretKey::generate();
    let public = secret.public_key();
    let mut portal = Portal::open(&dir.path().join("portal.sqlite3"), secret).unwrap();
    let mut a = kiosk_with(&public, &CITIZEN, 1);
    let mut b = kiosk_with(&public, &CITIZEN, 2);
    enrol(&mut portal, &a);
    enrol(&mut portal, &b);

    let noon = datetime!(2026-11-28 12:00 +7).unix_timestamp();
    // Kiosk A's answer is lost after the portal committed: it keeps the row.
    let status = drain(&mut a, &mut portal, noon, true);
    assert!(!status.online);
    let row = &a.store.outbox().unwrap()[0];
    assert_eq!(row.attempts, 1);
    assert!(row.next_attempt_at >= noon);
    // An hour later the retry learns the outcome the portal recorded.
    drain(&mut a, &mut portal, noon + 3600, false);
    drain(&mut b, &mut portal, noon + 3600, false);

    assert_eq!(portal.account_count().unwrap(), 1);
    let status = |k: &Fixture| k.store.queue().unwrap()[0].status.clone();
    assert_eq!(
        (status(&a), status(&b)),
        ("delivered".to_string(), "duplicate".to_string())
    );
    assert!(a.store.outbox().unwrap().is_empty() && b.store.outbox().unwrap().is_empty());
    for k in [&a, &b] {
        k.store.verify_audit(&k.keys.audit_key()).unwrap();
    }
}
