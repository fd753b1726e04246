//! The store's own tests, against SQLite on disk.

use super::audit::audit_mac;
use super::*;

const KEY: [u8; 32] = [7; 32];

fn reg<'a>(id: &'a str, reference: &'a str, tag: u8) -> NewRegistration<'a> {
    NewRegistration {
        id,
        reference,
        method: Method::MobileSubscriber,
        subject: SubjectKind::Citizen,
        level: 1,
        pending: &[PendingCheck::GlobalDuplicate],
        identity_tag: [tag; 32],
        created_at: 1_764_300_000,
        envelope: b"{sealed}",
        clerk: None,
    }
}

fn store_with(n: usize) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("k.sqlite3")).unwrap();
    for i in 0..n {
        let (id, r) = (format!("id-{i}"), format!("REF-{i}"));
        store.complete(&reg(&id, &r, i as u8), &KEY).unwrap();
    }
    (dir, store)
}

#[test]
fn completion_writes_registration_outbox_and_audit_together() {
    let (_dir, store) = store_with(3);
    let queue = store.queue().unwrap();
    assert_eq!(queue.len(), 3);
    assert_eq!(queue[0].status, "queued");
    assert_eq!(queue[0].pending, vec!["global_duplicate"]);
    assert_eq!(
        store.verify_audit(&KEY).unwrap(),
        AuditReport {
            entries: 3,
            registrations: 3
        }
    );
    assert!(store.has_identity(&[1; 32]).unwrap());
    assert!(!store.has_identity(&[9; 32]).unwrap());
    assert_eq!(store.envelope("id-2").unwrap().unwrap(), b"{sealed}");
}

#[test]
fn a_failed_completion_leaves_nothing_behind() {
    let (_dir, mut store) = store_with(1);
    // Same reference: the UNIQUE constraint fails after nothing else was visible.
    let err = store.complete(&reg("id-9", "REF-0", 9), &KEY);
    assert!(err.is_err());
    assert_eq!(store.queue().unwrap().len(), 1);
    assert_eq!(store.verify_audit(&KEY).unwrap().entries, 1);
}

#[test]
fn the_database_is_wal_with_full_sync_and_migrated() {
    let (_dir, store) = store_with(0);
    let c = store.connection();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let sync: i64 = c.query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
    assert_eq!((mode.as_str(), sync), ("wal", 2));
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
}

#[test]
fn reopening_keeps_everything_and_migrates_nothing_twice() {
    let (dir, store) = store_with(2);
    drop(store);
    let store = Store::open(&dir.path().join("k.sqlite3")).unwrap();
    assert_eq!(store.queue().unwrap().len(), 2);
    assert_eq!(store.verify_audit(&KEY).unwrap().entries, 2);
}

#[test]
fn a_newer_schema_is_refused() {
    let (dir, store) = store_with(0);
    store
        .connection()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    drop(store);
    assert!(matches!(
        Store::open(&dir.path().join("k.sqlite3")),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}

#[test]
fn the_audit_log_refuses_update_and_delete() {
    let (_dir, store) = store_with(2);
    let c = store.connection();
    assert!(
        c.execute("UPDATE audit SET detail = 'x' WHERE seq = 1", [])
            .is_err()
    );
    assert!(c.execute("DELETE FROM audit WHERE seq = 2", []).is_err());
}

#[test]
fn an_edited_audit_row_is_detected() {
    let (_dir, store) = store_with(3);
    let c = store.connection();
    c.execute_batch(
        "DROP TRIGGER audit_no_update; UPDATE audit SET detail = 'method=usb_token' WHERE seq = 2;",
    )
    .unwrap();
    assert_eq!(store.verify_audit(&KEY), Err(AuditError::BadMac(2)));
}

#[test]
fn a_deleted_audit_row_is_detected() {
    let (_dir, store) = store_with(3);
    store
        .connection()
        .execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 2;")
        .unwrap();
    assert_eq!(
        store.verify_audit(&KEY),
        Err(AuditError::Gap {
            expected: 2,
            found: 3
        })
    );
}

#[test]
fn a_deleted_last_row_is_detected_through_its_registration() {
    let (_dir, store) = store_with(3);
    store
        .connection()
        .execute_batch("DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 3;")
        .unwrap();
    assert_eq!(
        store.verify_audit(&KEY),
        Err(AuditError::MissingEntry("id-2".into()))
    );
}

#[test]
fn a_forged_chain_without_the_key_is_detected() {
    let (_dir, store) = store_with(2);
    let c = store.connection();
    // Recomputing the chain with a guessed key does not help.
    let forged = audit_mac(
        &[0; 32],
        &[0; 32],
        1,
        1_764_300_000,
        EVENT_COMPLETED,
        Some("id-0"),
        "method=bhxh",
    );
    c.execute_batch("DROP TRIGGER audit_no_update;").unwrap();
    c.execute(
        "UPDATE audit SET detail = 'method=bhxh', mac = ?1 WHERE seq = 1",
        [forged],
    )
    .unwrap();
    assert_eq!(store.verify_audit(&KEY), Err(AuditError::BadMac(1)));
}

#[test]
fn orphaned_and_missing_outbox_rows_are_detected() {
    let (_dir, store) = store_with(2);
    store
        .connection()
        .execute("DELETE FROM outbox WHERE registration_id = 'id-1'", [])
        .unwrap();
    assert_eq!(
        store.verify_audit(&KEY),
        Err(AuditError::NotInOutbox("id-1".into()))
    );
}

#[test]
fn relay_dispositions_settle_or_reschedule_and_stay_audited() {
    use kiosk_sync::relay::{Disposition, ItemOutcome};
    let (_dir, mut store) = store_with(4);
    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.len(), 4);
    assert_eq!((outbox[0].envelope_bytes, outbox[0].attempts), (8, 0));
    let decided = vec![
        Disposition::Settled {
            registration_id: "id-0".into(),
            outcome: ItemOutcome::Accepted,
        },
        Disposition::Settled {
            registration_id: "id-1".into(),
            outcome: ItemOutcome::Duplicate,
        },
        Disposition::Settled {
            registration_id: "id-2".into(),
            outcome: ItemOutcome::Rejected("BHXH data did not match".into()),
        },
        Disposition::Retry {
            registration_id: "id-3".into(),
            next_attempt_at: 2_000,
            attempts: 1,
            error: Some("connection refused".into()),
        },
    ];
    store
        .apply_dispositions(&decided, &KEY, 1_764_300_100)
        .unwrap();
    // The same answer arriving twice changes nothing.
    store
        .apply_dispositions(&decided[..1], &KEY, 1_764_300_200)
        .unwrap();
    let statuses: Vec<String> = store
        .queue()
        .unwrap()
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses,
        vec!["delivered", "duplicate", "rejected", "queued"]
    );
    let outbox = store.outbox().unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!((outbox[0].attempts, outbox[0].next_attempt_at), (1, 2_000));
    assert_eq!(
        store.last_relay_error().unwrap().as_deref(),
        Some("connection refused")
    );
    assert_eq!(
        store.verify_audit(&KEY).unwrap(),
        AuditReport {
            entries: 7,
            registrations: 4
        }
    );
}

#[test]
fn otp_sends_are_counted_per_number_across_sessions() {
    let (_dir, mut store) = store_with(0);
    for t in [100, 200, 300] {
        store.record_otp_sent(&[1; 32], t, t + 300).unwrap();
    }
    store.record_otp_sent(&[2; 32], 250, 550).unwrap();
    assert_eq!(store.otp_sent_since(&[1; 32], 150).unwrap(), 2);
    assert_eq!(store.otp_sent_since(&[2; 32], 0).unwrap(), 1);
}

#[test]
fn the_store_and_its_journal_are_readable_by_the_owner_only() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let (dir, store) = store_with(1);
    drop(store);
    // One left readable by an older version is tightened at the next open.
    let db = dir.path().join("k.sqlite3");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let _store = Store::open(&db).unwrap();
    for name in ["k.sqlite3", "k.sqlite3-wal", "k.sqlite3-shm"] {
        let mode = std::fs::metadata(dir.path().join(name)).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} is {mode:o}");
    }
}
