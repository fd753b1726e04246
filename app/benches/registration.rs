//! How long completing a registration takes on this machine, and how much of
//! it is the password hash. All three figures come from the same run, so
//! their ratios hold on a noisy shared machine.
//!
//! `cargo bench -p kiosk --bench registration`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use kiosk::config::PasswordHashCost;
use kiosk::domain::{Method, SubjectKind};
use kiosk::flow::{self, Draft, DuplicateOutcome, Effect, Event, Form, SubscriberOutcome};
use kiosk::keys::Keyring;
use kiosk::policy::Policy;
use kiosk::register::{Completer, hash_password};
use kiosk::store::Store;
use kiosk_sync::PortalSecretKey;
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::OffsetDateTime;
use zeroize::Zeroizing;

/// Form → validated draft through the real state machine.
fn validate(now: OffsetDateTime, rng: &mut StdRng) -> Draft {
    let policy = Arc::new(Policy::built_in().clone());
    let (mut reg, _) = flow::start(
        Method::MobileSubscriber,
        SubjectKind::Citizen,
        policy,
        false,
    )
    .unwrap();
    let mut form = Form::default();
    form.full_name = "Nguyễn Thị Minh Khai".into();
    form.personal_id = "051190012345".into();
    form.date_of_birth = "01/06/1990".into();
    form.phone = "0912 345 678".into();
    form.email = "khai@example.vn".into();
    let mut send = |e: Event| reg.handle(now, e, rng).unwrap();
    send(Event::Submit(form));
    send(Event::DuplicateChecked(
        DuplicateOutcome::CheckedLocallyOnly,
    ));
    let effects = send(Event::SubscriberChecked(SubscriberOutcome::Unavailable));
    let code = effects
        .iter()
        .find_map(|e| match e {
            Effect::SendOtp { text, .. } => text
                .split(|c: char| !c.is_ascii_digit())
                .find(|w| w.len() == 6)
                .map(String::from),
            _ => None,
        })
        .unwrap();
    send(Event::OtpDelivered);
    send(Event::OtpEntered(Zeroizing::new(code)));
    let effects = send(Event::PasswordSubmitted {
        first: Zeroizing::new("Matkhau@2026".into()),
        confirm: Zeroizing::new("Matkhau@2026".into()),
    });
    effects
        .into_iter()
        .find_map(|e| match e {
            Effect::Store(d) => Some(*d),
            _ => None,
        })
        .unwrap()
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
