//! How long completing a registration takes on this machine, and how much of
//! it is the password hash. All three figures come from the same run, so
//! their ratios hold on a noisy shared machine.
//!
//! `cargo bench -p kiosk --bench registration`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use kiosk::config::PasswordHashCost;
use kiosk::flow::Draft;
use kiosk::keys::Keyring;
use kiosk::policy::Policy;
use kiosk::register::{Completer, hash_password};
use kiosk::selftest::{SyntheticPerson, walk_offline_mobile};
use kiosk::store::Store;
use kiosk_sync::PortalSecretKey;
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::OffsetDateTime;

/// Form → validated draft through the real state machine.
fn validate(now: OffsetDateTime, rng: &mut StdRng) -> Draft {
    let person = SyntheticPerson {
        full_name: "Nguyễn Thị Minh Khai",
        personal_id: "051190012345",
        date_of_birth: "01/06/1990",
        phone: "0912 345 678",
        email: "khai@example.vn",
        password: "Matkhau@2026",
    };
    walk_offline_mobile(Arc::new(Policy::built_in().clone()), &person, now, rng).unwrap()
}

fn bench(c: &mut Criterion) {
    // On the real disk (not a tmpfs), so the fsync of each commit is paid.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let keys = Keyring::open_or_create(&dir.path().join("keys")).unwrap();
    let portal = PortalSecretKey::generate().public_key();
    let mut store = Store::open(&dir.path().join("kiosk.sqlite3")).unwrap();
    let now = OffsetDateTime::now_utc();
    let mut rng = StdRng::seed_from_u64(1);
    let production = PasswordHashCost::default();
    let trivial = PasswordHashCost {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };

    let mut group = c.benchmark_group("registration");
    group.sample_size(30);
    group.bench_function("argon2id_hash_alone", |b| {
        b.iter(|| hash_password("Matkhau@2026", production).unwrap())
    });
    let full = Completer {
        keys: &keys,
        portal: &portal,
        cost: production,
    };
    group.bench_function("validate_seal_commit", |b| {
        b.iter(|| {
            let draft = validate(now, &mut rng);
            full.complete(&mut store, &draft, now).unwrap()
        })
    });
    let light = Completer {
        keys: &keys,
        portal: &portal,
        cost: trivial,
    };
    group.bench_function("validate_seal_commit_trivial_hash", |b| {
        b.iter(|| {
            let draft = validate(now, &mut rng);
            light.complete(&mut store, &draft, now).unwrap()
        })
    });
    group.finish();
    let count = store.queue().unwrap().len();
    eprintln!(
        "committed {count} registrations durably (WAL, synchronous=FULL) in {}",
        dir.path().display()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
