//! Memory over a long day at the kiosk: 10,000 visits through the
//! controller and the real screens in one process (the demo kiosk: its
//! modem simulator, SoftHSM token and reference portal run in this process
//! too), and the resident memory after 100, 1,000 and 10,000 of them.
//!
//! In every twenty visits: fifteen complete mobile registrations, each its
//! own citizen; one BHXH, one mobile-signature and one USB-token visit to
//! their last page; one citizen who presses Hủy half-way; one who walks
//! away until the idle timeout (`Walker::visit`). A frame is drawn after
//! each visit, as the screen would be.
//!
//! The goal: no growth after warm-up, 10,000 ≤ 1.1 × 1,000.
//!
//! `cargo bench -p kiosk --bench memory` (MEMORY_VISITS=n for fewer).

use std::time::Instant;

use kiosk::walk::Walker;
use support::status_kib;

mod support;

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// What SQLite's own allocator holds now, in KiB: its page caches across
/// every connection in the process (the kiosk's, its relay's, the demo
/// portal's), which fill up to their limit as the databases grow.
#[allow(unsafe_code)]
fn sqlite_kib() -> u64 {
    // SAFETY: a thread-safe read of a counter; no pointer is involved.
    let bytes = unsafe { rusqlite::ffi::sqlite3_memory_used() };
    u64::try_from(bytes).unwrap_or(0) / 1024
}

fn main() {
    let visits: u32 = std::env::var("MEMORY_VISITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut walker = Walker::start(
        &tmp.path().join("walk"),
        &tmp.path().join("data"),
        1080,
        1920,
        kiosk_ui::i18n::Lang::Vi,
    )
    .unwrap();
    walker.render_frame();
    println!("memory over a long day: {visits} visits through the screens");
    println!(
        "  after start          {:7.1} MiB resident",
        mib(status_kib("VmRSS:"))
    );
    let started = Instant::now();
    let mut at = std::collections::BTreeMap::new();
    let mut ends = std::collections::BTreeMap::<String, u32>::new();
    for i in 0..visits {
        let end = walker.visit(i).unwrap_or_else(|e| panic!("visit {i}: {e}"));
        *ends.entry(format!("{end:?}")).or_default() += 1;
        walker.render_frame();
        let n = i + 1;
        if n == 100 || n % 1_000 == 0 || n == visits {
            let rss = status_kib("VmRSS:");
            at.insert(n, rss);
            println!(
                "  after {n:>6} visits   {:7.1} MiB resident, of which SQLite {:5.1} MiB  ({:.0} s so far)",
                mib(rss),
                mib(sqlite_kib()),
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!("  visits ended on: {ends:?}");
    println!(
        "  peak                 {:7.1} MiB resident",
        mib(status_kib("VmHWM:"))
    );
    if let (Some(thousand), Some(last)) = (at.get(&1_000), at.get(&visits)) {
        println!(
            "  {visits} ÷ 1,000:      {:.3} (goal ≤ 1.1)",
            *last as f64 / *thousand as f64
        );
    }
}
