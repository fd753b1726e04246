//! `kioskctl selftest`: one synthetic registration end to end, in a scratch
//! copy of the kiosk's set-up.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use kiosk::register::Completer;
use kiosk::selftest::{SyntheticPerson, walk_offline_mobile};

use kiosk::keys::Keyring;
use kiosk::store::Store;
use time::OffsetDateTime;

use crate::{CtlError, Kiosk, environment, invalid};

pub(crate) fn selftest(kiosk: &Kiosk) -> Result<(), CtlError> {
    let scratch = tempdir_in(&std::env::temp_dir())?;
    let result = selftest_in(kiosk, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

pub(crate) fn tempdir_in(base: &Path) -> Result<PathBuf, CtlError> {
    let dir = base.join(format!("kioskctl-selftest-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).map_err(|e| environment(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

pub(crate) fn selftest_in(kiosk: &Kiosk, dir: &Path) -> Result<(), CtlError> {
    let policy = kiosk.policy.current();
    let step = |name: &str, ok: bool| -> Result<(), CtlError> {
        println!("{} {name}", if ok { "ok  " } else { "FAIL" });
        if ok {
            Ok(())
        } else {
            Err(invalid(format!("selftest: {name}")))
        }
    };
    let keys = Keyring::open_or_create(&dir.join("keys")).map_err(environment)?;
    step(
        "keys created with owner-only permissions",
        keys.was_created(),
    )?;
    let mut store = Store::open(&dir.join("kiosk.sqlite3")).map_err(environment)?;
    step("store opened in WAL mode with full sync", true)?;

    let now = OffsetDateTime::now_utc();
    let person = SyntheticPerson {
        full_name: "Kiểm Tra Thiết Bị",
        personal_id: "051090000001",
        date_of_birth: "01/01/1990",
        phone: "0912000001",
        email: "",
        password: "Kiemtra@2026",
    };
    let draft = walk_offline_mobile(Arc::clone(&policy), &person, now, &mut rand::rng())
        .map_err(|e| invalid(format!("selftest: {e}")))?;
    step(
        "mobile-subscriber flow reached completion through OTP and password",
        true,
    )?;

    let portal = kiosk_sync::PortalSecretKey::generate();
    let portal_public = portal.public_key();
    let completer = Completer {
        keys: &keys,
        portal: &portal_public,
        cost: kiosk.config.password_hash,
    };
    let started = Instant::now();
    let hashed = kiosk::register::hash_password(person.password, kiosk.config.password_hash)
        .map_err(environment)?;
    let hash_ms = started.elapsed().as_secs_f64() * 1000.0;
    drop(hashed);
    let started = Instant::now();
    let receipt = completer
        .complete(&mut store, &draft, now)
        .map_err(environment)?;
    let complete_ms = started.elapsed().as_secs_f64() * 1000.0;
    step("sealed and committed in one transaction", true)?;
    drop(store);

    let store = Store::open(&dir.join("kiosk.sqlite3")).map_err(environment)?;
    let report = store
        .verify_audit(&keys.audit_key())
        .map_err(|e| invalid(format!("selftest: {e}")))?;
    step(
        "reopened: registration, outbox and audit chain consistent",
        report.registrations == 1,
    )?;
    let bytes = store
        .envelope(&receipt.registration_id)
        .map_err(environment)?
        .unwrap_or_default();
    let opened = kiosk_sync::Envelope::from_bytes(&bytes)
        .and_then(|e| e.open(&portal))
        .map(|plain| String::from_utf8_lossy(&plain).contains(&receipt.reference))
        .unwrap_or(false);
    step(
        "envelope opens with the portal key and carries the reference",
        opened,
    )?;
    println!(
        "password hash (Argon2id m={} KiB t={} p={}): {hash_ms:.1} ms; validate+hash+seal+commit: {complete_ms:.1} ms",
        kiosk.config.password_hash.memory_kib,
        kiosk.config.password_hash.iterations,
        kiosk.config.password_hash.parallelism
    );
    println!("selftest passed");
    Ok(())
}
