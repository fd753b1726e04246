//! Weeks offline: a kiosk with no network for a month keeps registering,
//! and its queue grows to 50,000. What a citizen and a technician wait on
//! must not grow with it. Measured at 0 queued and at 50,000, in one run:
//!
//! - completing a registration (validate, hash with a trivial cost so the
//!   store's share shows, seal, sign, durable commit), median of 50;
//! - the status bar's read (the outbox count and the free space, what the
//!   worker reads once a second), median of 200;
//! - the local duplicate check (keyed identity hash, indexed), median of 200;
//! - the relay's choice of the next batch (the due rows of one batch) and
//!   the outbox's figures for the heartbeat and the next wake-up;
//! - `kioskctl queue list` as a process, its output thrown away;
//! - `kioskctl status` as a process.
//!
//! `cargo bench -p kiosk --bench queue` (QUEUE_COUNT=n for another size)

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kiosk::config::PasswordHashCost;
use kiosk::keys::Keyring;
use kiosk::policy::Policy;
use kiosk::register::Completer;
use kiosk::selftest::{SyntheticPerson, walk_offline_mobile};
use kiosk::store::Store;
use kiosk_sync::PortalSecretKey;
use kiosk_sync::relay::{RelayConfig, next_batch};
use rand::SeedableRng;
use rand::rngs::StdRng;
use support::median;
use time::OffsetDateTime;

mod support;

const TRIVIAL: PasswordHashCost = PasswordHashCost {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Kiosk {
    dir: tempfile::TempDir,
    keys: Keyring,
    portal: kiosk_sync::PortalPublicKey,
    store: Store,
    policy: Arc<Policy>,
    rng: StdRng,
    made: usize,
}

impl Kiosk {
    fn register(&mut self) -> Duration {
        let id = format!("0790950{:05}", self.made % 100_000);
        let phone = format!("0912{:06}", self.made);
        self.made += 1;
        let person = SyntheticPerson {
            full_name: "Trần Văn Bình",
            personal_id: &id,
            date_of_birth: "01/01/1995",
            phone: &phone,
            email: "",
            password: "Matkhau@2026",
        };
        let now = OffsetDateTime::now_utc();
        let started = Instant::now();
        let draft =
            walk_offline_mobile(Arc::clone(&self.policy), &person, now, &mut self.rng).unwrap();
        Completer {
            keys: &self.keys,
            portal: &self.portal,
            cost: TRIVIAL,
        }
        .complete(&mut self.store, &draft, now)
        .unwrap();
        started.elapsed()
    }
}

/// One figure at this queue depth.
#[derive(Debug)]
struct Figures {
    queued: usize,
    register: Duration,
    status: Duration,
    duplicate: Duration,
    batch: Duration,
    queue_list: Duration,
    status_cmd: Duration,
}

fn kioskctl(data: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_kioskctl"))
        .args(args)
        .env("KIOSK_DATA_DIR", data)
        .env("KIOSK_CONFIG", data.join("absent.toml"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "kioskctl {args:?}");
    started.elapsed()
}

fn measure(k: &mut Kiosk) -> Figures {
    let register = median((0..50).map(|_| k.register()).collect());
    let status = median(
        (0..200)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box((k.store.outbox_len().unwrap(), k.store.storage()));
                t.elapsed()
            })
            .collect(),
    );
    let duplicate = median(
        (0..200u8)
            .map(|i| {
                let t = Instant::now();
                std::hint::black_box(k.store.has_identity(&[i; 32]).unwrap());
                t.elapsed()
            })
            .collect(),
    );
    let batch = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                // As the relay does: the due rows of one batch, then the
                // heartbeat's and the next wake-up's figures.
                let config = RelayConfig::default();
                let now = OffsetDateTime::now_utc().unix_timestamp();
                let due = k
                    .store
                    .due_outbox(now, now + 86_400, config.max_batch_items)
                    .unwrap();
                std::hint::black_box(next_batch(&due, now, &config).len());
                std::hint::black_box(k.store.outbox_summary().unwrap());
                t.elapsed()
            })
            .collect(),
    );
    let data = k.dir.path();
    let queue_list = median((0..3).map(|_| kioskctl(data, &["queue", "list"])).collect());
    let status_cmd = median((0..3).map(|_| kioskctl(data, &["status"])).collect());
    Figures {
        queued: k.store.outbox_len().unwrap(),
        register,
        status,
        duplicate,
        batch,
        queue_list,
        status_cmd,
    }
}

fn main() {
    let count: usize = std::env::var("QUEUE_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    // On the real disk, so each commit's fsync is paid.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let keys = Keyring::open_or_create(&dir.path().join("keys")).unwrap();
    let store = Store::open(&dir.path().join("kiosk.sqlite3")).unwrap();
    let mut k = Kiosk {
        dir,
        keys,
        portal: PortalSecretKey::generate().public_key(),
        store,
        policy: Arc::new(Policy::built_in().clone()),
        rng: StdRng::seed_from_u64(7),
        made: 0,
    };
    let empty = measure(&mut k);
    let filling = Instant::now();
    while k.made < count {
        k.register();
    }
    let filled_in = filling.elapsed();
    let full = measure(&mut k);
    let db = std::fs::metadata(k.dir.path().join("kiosk.sqlite3"))
        .map(|m| m.len())
        .unwrap_or(0);
    let opened = Instant::now();
    drop(Store::open(&k.dir.path().join("kiosk.sqlite3")).unwrap());
    let open = opened.elapsed();

    println!(
        "weeks offline: {count} registrations queued in {:.0} s ({:.1} ms each, durable), database {:.1} MiB",
        filled_in.as_secs_f64(),
        ms(filled_in) / count as f64,
        db as f64 / (1024.0 * 1024.0)
    );
    println!(
        "  {:<38} {:>12} {:>12} {:>7}",
        "",
        format!("{} queued", empty.queued),
        format!("{} queued", full.queued),
        "ratio"
    );
    for (what, a, b) in [
        ("complete a registration", empty.register, full.register),
        (
            "status bar read (count + free space)",
            empty.status,
            full.status,
        ),
        ("local duplicate check", empty.duplicate, full.duplicate),
        (
            "relay: next batch + outbox figures",
            empty.batch,
            full.batch,
        ),
        (
            "kioskctl queue list (process)",
            empty.queue_list,
            full.queue_list,
        ),
        (
            "kioskctl status (process)",
            empty.status_cmd,
            full.status_cmd,
        ),
    ] {
        println!(
            "  {what:<38} {:>9.3} ms {:>9.3} ms {:>6.1}×",
            ms(a),
            ms(b),
            b.as_secs_f64() / a.as_secs_f64()
        );
    }
    println!(
        "  opening the store (with quick_check) at {} queued: {:.0} ms",
        full.queued,
        ms(open)
    );
}
