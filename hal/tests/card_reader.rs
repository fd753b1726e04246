//! The virtual CCCD card on a real reader: `pcscd` with the
//! `vsmartcard-vpcd` driver ("Virtual PCD"), started by `tests/run`
//! (KIOSK_VPCD_PORT, PCSCLITE_CSOCK_NAME). Readers and cards are watched
//! with SCardGetStatusChange, the chip is read through SCardTransmit, and a
//! card pulled out mid-read leaves the kiosk reading the next one.

use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use kiosk_hal::card::chip::{self, CardError, ReadOptions};
use kiosk_hal::card::reader::{self, Connected, ReaderWatcher, Readers};
use kiosk_hal::card::sim::chip::{ATR, Faults, VirtualChip};
use kiosk_hal::card::sim::issue::{Citizen, Document, Pki};
use kiosk_hal::card::sim::vpcd::Placed;
use kiosk_pki::cert::TrustAnchors;

/// The port of the virtual reader: the one `tests/run` started, or the
/// system pcscd's (Debian's vsmartcard-vpcd listens on 0x8C7B).
fn port() -> u16 {
    match std::env::var("KIOSK_VPCD_PORT") {
        Ok(p) => p.parse().expect("KIOSK_VPCD_PORT is a port"),
        Err(_) if std::path::Path::new("/etc/reader.conf.d/vpcd").exists() => 0x8C7B,
        Err(_) => panic!(
            "no virtual reader: run through tests/run, which starts pcscd with vsmartcard-vpcd"
        ),
    }
}

/// One reader, one card at a time: the tests take turns.
fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn pki() -> &'static (Pki, tempfile::TempDir) {
    static PKI: OnceLock<(Pki, tempfile::TempDir)> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        (Pki::create(dir.path(), "Test VN", 365).unwrap(), dir)
    })
}

fn cscas() -> TrustAnchors {
    pki().0.cscas().unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn chip(faults: Faults) -> VirtualChip {
    VirtualChip::new(Document::issue(&Citizen::demo(), &pki().0).unwrap(), faults)
}

const PATIENCE: Duration = Duration::from_secs(10);

fn virtual_reader(r: &Readers) -> Option<&reader::Reader> {
    r.readers.iter().find(|r| r.name.starts_with("Virtual PCD"))
}

/// Waits until the virtual reader shows (or no longer shows) a card.
fn card_on_reader(w: &ReaderWatcher, present: bool) -> Readers {
    let r = w.wait(PATIENCE, |r| {
        virtual_reader(r).is_some_and(|v| v.card.is_some() == present)
    });
    assert_eq!(
        virtual_reader(&r).map(|v| v.card.is_some()),
        Some(present),
        "{r:?}"
    );
    r
}

fn read_placed(opts: impl Fn(&Connected) -> ReadOptions) -> Result<chip::ChipFiles, CardError> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User).unwrap();
    let name = reader::list(&ctx)
        .unwrap()
        .into_iter()
        .find(|r| r.name.starts_with("Virtual PCD") && r.card.is_some())
        .expect("a card on the virtual reader")
        .name;
    let mut card = Connected::open(&ctx, &name)?;
    let opts = opts(&card);
    chip::read(&mut card, &Citizen::demo().mrz_key(), opts)
}

#[test]
fn a_card_placed_is_seen_read_through_pcscd_verified_and_seen_to_leave() {
    let _turn = turn();
    let watcher = ReaderWatcher::spawn();
    let r = watcher.wait(PATIENCE, |r| virtual_reader(r).is_some());
    assert!(
        virtual_reader(&r).is_some(),
        "pcscd lists the virtual reader: {r:?}"
    );
    card_on_reader(&watcher, false);

    let placed = Placed::on_reader(port(), chip(Faults::default()), PATIENCE).unwrap();
    let r = card_on_reader(&watcher, true);
    assert_eq!(virtual_reader(&r).unwrap().card.as_deref(), Some(&ATR[..]));

    let files = read_placed(|c| ReadOptions {
        max_read: c.max_read(),
        photo: true,
        ..ReadOptions::default()
    })
    .unwrap();
    let v = chip::verify(&files, &cscas(), now()).unwrap();
    assert_eq!(v.dg13.unwrap().full_name(), Some("Nguyễn Thị Thu Hà"));
    assert!(placed.apdus() >= files.apdus, "every APDU reached the card");

    placed.removed(PATIENCE).unwrap();
    card_on_reader(&watcher, false);
}

#[test]
fn a_card_pulled_out_mid_read_is_a_state_and_the_next_card_reads() {
    let _turn = turn();
    let watcher = ReaderWatcher::spawn();
    for after in [2, 7, 15] {
        let faults = Faults {
            pulled_after: Some(after),
            ..Faults::default()
        };
        let placed = Placed::on_reader(port(), chip(faults), PATIENCE).unwrap();
        card_on_reader(&watcher, true);
        let e = read_placed(|_| ReadOptions::default()).unwrap_err();
        assert!(
            matches!(e, CardError::Removed | CardError::Reader(_)),
            "pulled after {after}: {e:?}"
        );
        placed.removed(PATIENCE).unwrap();
        card_on_reader(&watcher, false);
    }
    let placed = Placed::on_reader(port(), chip(Faults::default()), PATIENCE).unwrap();
    card_on_reader(&watcher, true);
    let files = read_placed(|_| ReadOptions::default()).unwrap();
    chip::verify(&files, &cscas(), now()).unwrap();
    placed.removed(PATIENCE).unwrap();
}

#[test]
fn a_slow_card_is_read_all_the_same() {
    let _turn = turn();
    let watcher = ReaderWatcher::spawn();
    let faults = Faults {
        slow: Some(Duration::from_millis(40)),
        ..Faults::default()
    };
    let placed = Placed::on_reader(port(), chip(faults), PATIENCE).unwrap();
    card_on_reader(&watcher, true);
    let started = Instant::now();
    let files = read_placed(|_| ReadOptions::default()).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(40) * files.apdus as u32);
    chip::verify(&files, &cscas(), now()).unwrap();
    placed.removed(PATIENCE).unwrap();
}

#[test]
fn one_watcher_sees_every_placing_and_removal() {
    let _turn = turn();
    let watcher = ReaderWatcher::spawn();
    for _ in 0..3 {
        let placed = Placed::on_reader(port(), chip(Faults::default()), PATIENCE).unwrap();
        card_on_reader(&watcher, true);
        placed.removed(PATIENCE).unwrap();
        card_on_reader(&watcher, false);
    }
}

/// Without `pcscd` (its socket gone: the service stopped, the reader's
/// driver crashed), the watcher reports why and no reader, and goes on
/// trying. Run in a child process, whose PC/SC library is pointed at a
/// socket that does not exist.
#[test]
fn without_pcscd_the_watcher_says_why_and_keeps_trying() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "watcher_without_pcscd",
            "--ignored",
            "--nocapture",
        ])
        .env("PCSCLITE_CSOCK_NAME", dir.path().join("gone.comm"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

/// The child of the test above (ignored when run on its own).
#[test]
#[ignore = "run by without_pcscd_the_watcher_says_why_and_keeps_trying"]
fn watcher_without_pcscd() {
    let watcher = ReaderWatcher::spawn();
    let r = watcher.wait(PATIENCE, |r| r.error.is_some());
    assert!(r.readers.is_empty(), "{r:?}");
    assert!(
        r.error.as_deref().is_some_and(|e| e.starts_with("pcscd: ")),
        "{r:?}"
    );
    // Dropping it ends its thread promptly, though it is between retries.
    let started = Instant::now();
    drop(watcher);
    assert!(started.elapsed() < Duration::from_secs(2));
}
