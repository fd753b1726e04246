//! Draining a long queue over a poor line: 10,000 registrations made
//! offline, delivered through the fault proxy shaped to 256 kbit/s each way
//! with a 300 ms round trip, to the reference portal over HTTP.
//!
//! Prints the bytes on the wire per registration (TCP payload, both ways),
//! the time taken, and its ratio to the bound set by the line alone (total
//! bytes ÷ bandwidth): how much the protocol's round trips cost on top.
//!
//! `cargo bench -p kiosk --bench drain` (DRAIN_COUNT=n for fewer)

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kiosk::config::PasswordHashCost;
use kiosk::keys::Keyring;
use kiosk::policy::Policy;
use kiosk::register::Completer;
use kiosk::selftest::{SyntheticPerson, walk_offline_mobile};
use kiosk::store::Store;
use kiosk::uplink::Uplink;
use kiosk_portal::Portal;
use kiosk_portal::server::{self, ServerConfig, Shared};
use kiosk_sync::client::{ClientConfig, PortalClient};
use kiosk_sync::{DeviceKey, PortalSecretKey};
use kiosk_tooling::faultproxy::{FaultProxy, Link};
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::OffsetDateTime;

const BITS_PER_SECOND: u64 = 256_000;
const ROUND_TRIP: Duration = Duration::from_millis(300);

fn main() {
    let count: usize = std::env::var("DRAIN_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();

    // The portal, and the proxy in front of it.
    let secret = PortalSecretKey::generate();
    let sealing = secret.public_key();
    let portal = Portal::open(&dir.path().join("portal.sqlite3"), secret).unwrap();
    let shared = Shared::new(portal, DeviceKey::generate(), ServerConfig::default());
    let (proxy, _server) = runtime.block_on(async {
        let server = server::serve_loopback(Arc::clone(&shared)).await.unwrap();
        (FaultProxy::start(server.address()).await.unwrap(), server)
    });

    // The kiosk and its queue, made offline.
    let kiosk_dir = dir.path().join("kiosk");
    let keys = Keyring::open_or_create(&kiosk_dir.join("keys")).unwrap();
    let database = kiosk_dir.join("kiosk.sqlite3");
    let mut store = Store::open(&database).unwrap();
    let policy = Arc::new(Policy::built_in().clone());
    let completer = Completer {
        keys: &keys,
        portal: &sealing,
        // The hash's cost does not change what is sent; the production
        // cost would only make the set-up slow.
        cost: PasswordHashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        },
    };
    let now = OffsetDateTime::now_utc();
    let mut rng = StdRng::seed_from_u64(7);
    let started = Instant::now();
    for i in 0..count {
        let id = format!("051190{:06}", i + 1);
        let phone = format!("0912{:06}", i + 1);
        let person = SyntheticPerson {
            full_name: "Nguyễn Thị Minh Khai",
            personal_id: &id,
            date_of_birth: "01/06/1990",
            phone: &phone,
            email: "khai@example.vn",
            password: "Matkhau@2026",
        };
        let draft = walk_offline_mobile(Arc::clone(&policy), &person, now, &mut rng).unwrap();
        completer.complete(&mut store, &draft, now).unwrap();
    }
    let sealed: i64 = store
        .outbox()
        .unwrap()
        .iter()
        .map(|q| q.envelope_bytes as i64)
        .sum();
    eprintln!(
        "queued {count} registrations in {:.1} s ({} bytes sealed each on average)",
        started.elapsed().as_secs_f64(),
        sealed / count as i64
    );

    // Enrolment happens on a good day; only the drain crosses the poor line.
    let code = shared
        .portal()
        .issue_enrolment_code(server::now(), 600)
        .unwrap();
    let key = DeviceKey::from_secret_bytes(&*keys.device().secret_bytes()).unwrap();
    runtime
        .block_on(
            PortalClient::new(&ClientConfig::new(proxy.url()), key)
                .unwrap()
                .enrol(&code),
        )
        .unwrap();
    proxy.set_link(Link {
        bits_per_second: Some(BITS_PER_SECOND),
        round_trip: ROUND_TRIP,
    });
    let up_before = proxy.counters().to_portal.load(Ordering::Relaxed);
    let down_before = proxy.counters().to_kiosk.load(Ordering::Relaxed);
    let requests_before = proxy.counters().connections.load(Ordering::Relaxed);

    let mut config = ClientConfig::new(proxy.url());
    config.timeout = Duration::from_secs(600);
    let mut uplink = Uplink::new(&database, &keys, &config, Arc::clone(&policy)).unwrap();
    let started = Instant::now();
    let mut rounds = 0;
    while !store.outbox().unwrap().is_empty() {
        rounds += 1;
        assert!(rounds < 1000, "the queue does not drain");
        runtime
            .block_on(uplink.round(OffsetDateTime::now_utc().unix_timestamp()))
            .unwrap();
    }
    let elapsed = started.elapsed();
    let up = proxy.counters().to_portal.load(Ordering::Relaxed) - up_before;
    let down = proxy.counters().to_kiosk.load(Ordering::Relaxed) - down_before;
    let bytes = up + down;
    // Each direction has its own 256 kbit/s: the bound is the busier one.
    let busier = up.max(down);
    let bound = Duration::from_secs_f64(busier as f64 * 8.0 / BITS_PER_SECOND as f64);
    assert_eq!(shared.portal().account_count().unwrap(), count as i64);
    println!("drain: {count} registrations at 256 kbit/s, 300 ms round trip");
    println!(
        "  bytes on the wire per registration  {:.0} ({} up, {} down in all)",
        bytes as f64 / count as f64,
        up,
        down
    );
    println!(
        "  time taken                          {:.1} s",
        elapsed.as_secs_f64()
    );
    println!(
        "  bound (busier direction ÷ bandwidth) {:.1} s",
        bound.as_secs_f64()
    );
    println!(
        "  ratio to the bound                  {:.2}",
        elapsed.as_secs_f64() / bound.as_secs_f64()
    );
    println!(
        "  relay rounds {rounds}, TCP connections {}",
        proxy.counters().connections.load(Ordering::Relaxed) - requests_before
    );
}
