//! From a card placed on the reader to verified data: PACE (or BAC, on a
//! chip without it), secure messaging, EF.COM, EF.SOD, DG1, DG13, DG14 and
//! DG15 read, passive and active authentication.
//! Measured on the virtual card directly (the protocol and the crypto
//! alone) and, when `pcscd` with the vsmartcard-vpcd reader is there
//! (`tests/run` or `tests/bench` starts one; KIOSK_VPCD_PORT), through the
//! real PC/SC stack from the moment the card is placed. Also prints the
//! APDUs exchanged against the fewest the files need at the reader's
//! largest response.
//!
//! `cargo bench -p kiosk-hal --bench card_read` (CARD_READS=n to repeat)

use std::time::{Duration, Instant};

use kiosk_hal::card::bac::MrzKey;
use kiosk_hal::card::chip::{self, ReadOptions, SHORT_READ};
use kiosk_hal::card::lds::File;
use kiosk_hal::card::reader::{self, Connected, ReaderWatcher};
use kiosk_hal::card::sim::chip::{Faults, VirtualChip};
use kiosk_hal::card::sim::issue::{Citizen, Document, Pki};
use kiosk_hal::card::sim::vpcd::Placed;
use kiosk_pki::cert::TrustAnchors;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The fewest APDUs: to open the chip, with BAC SELECT, GET CHALLENGE and
/// EXTERNAL AUTHENTICATE, with PACE EF.CardAccess (a SELECT and a READ
/// BINARY), MSE:Set AT, four GENERAL AUTHENTICATE and the SELECT of the
/// application; then for each file a SELECT and as many READ BINARY as it
/// needs at `max_read` bytes each; then INTERNAL AUTHENTICATE.
fn minimum(doc: &Document, files: &[File], max_read: usize, pace: bool) -> usize {
    let open = if pace { 8 } else { 3 };
    open + 1
        + files
            .iter()
            .map(|f| 1 + doc.files[&f.id()].len().div_ceil(max_read))
            .sum::<usize>()
}

/// Reads the card and verifies it; answers the APDUs it took.
fn read_verified(
    t: &mut impl chip::Transport,
    key: &MrzKey,
    max_read: usize,
    pace: bool,
    cscas: &TrustAnchors,
    now: i64,
) -> usize {
    let opts = ReadOptions {
        max_read,
        photo: false,
        pace,
    };
    let files = chip::read(t, key, opts).unwrap();
    chip::verify(&files, cscas, now).unwrap();
    files.apdus
}

fn main() {
    let reads: usize = std::env::var("CARD_READS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(30);
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::create(dir.path(), "Bench VN", 365).unwrap();
    let cscas = pki.cscas().unwrap();
    let citizen = Citizen::demo();
    let doc = Document::issue(&citizen, &pki).unwrap();
    let key = citizen.mrz_key();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let read_files = [
        File::Com,
        File::Sod,
        File::Dg(1),
        File::Dg(13),
        File::Dg(14),
        File::Dg(15),
    ];
    let sizes: usize = read_files.iter().map(|f| doc.files[&f.id()].len()).sum();
    println!("card: EF.COM, EF.SOD, DG1, DG13, DG14, DG15 = {sizes} bytes; {reads} reads each\n");

    println!(
        "{:<46} {:>10} {:>6} {:>8}",
        "", "median", "APDUs", "minimum"
    );
    for (name, max_read, pace) in [
        (
            "direct, PACE, short APDUs (223 bytes a read)",
            SHORT_READ,
            true,
        ),
        ("direct, PACE, extended (3,840 bytes a read)", 0x0F00, true),
        ("direct, BAC, short APDUs", SHORT_READ, false),
        ("direct, BAC, extended", 0x0F00, false),
    ] {
        let mut times = Vec::new();
        let mut apdus = 0;
        for _ in 0..reads {
            let faults = Faults {
                bac_only: !pace,
                ..Faults::default()
            };
            let mut chip = VirtualChip::new(doc.clone(), faults);
            let started = Instant::now();
            apdus = read_verified(&mut chip, &key, max_read, pace, &cscas, now);
            times.push(started.elapsed());
        }
        println!(
            "{name:<46} {:>10} {apdus:>6} {:>8}",
            ms(median(times)),
            minimum(&doc, &read_files, max_read, pace)
        );
    }

    let port = std::env::var("KIOSK_VPCD_PORT")
        .ok()
        .and_then(|p| p.parse::<u16>().ok());
    let Some(port) = port else {
        println!(
            "\n(no KIOSK_VPCD_PORT: the reader figures need pcscd with vsmartcard-vpcd; run through tests/run's set-up)"
        );
        return;
    };
    let watcher = ReaderWatcher::spawn();
    let mut seen_times = Vec::new();
    let mut total_times = Vec::new();
    let (mut apdus, mut max_read) = (0, SHORT_READ);
    for _ in 0..reads {
        // The watcher has seen the last card leave.
        watcher.wait(Duration::from_secs(10), |r| r.with_card().is_none());
        let started = Instant::now();
        let placed = Placed::on_reader(
            port,
            VirtualChip::new(doc.clone(), Faults::default()),
            Duration::from_secs(10),
        )
        .unwrap();
        let r = watcher.wait(Duration::from_secs(10), |r| r.with_card().is_some());
        let name = r.with_card().expect("the card is seen").name.clone();
        seen_times.push(started.elapsed());
        let ctx = reader::establish().unwrap();
        let mut card = Connected::open(&ctx, &name).unwrap();
        max_read = card.max_read();
        apdus = read_verified(&mut card, &key, max_read, true, &cscas, now);
        total_times.push(started.elapsed());
        drop(card);
        placed.removed(Duration::from_secs(10)).unwrap();
    }
    println!(
        "{:<46} {:>10} {apdus:>6} {:>8}",
        format!("pcscd + vpcd, PACE, placed to verified ({max_read} a read)"),
        ms(median(total_times)),
        minimum(&doc, &read_files, max_read, true)
    );
    println!(
        "{:<46} {:>10}",
        "  of which placed to seen by the watcher",
        ms(median(seen_times))
    );
}
