//! Helpers shared by the integration tests: drive a real registration flow
//! to its Store effect, and complete it with real keys and a real store.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use kiosk::config::PasswordHashCost;
use kiosk::flow::Draft;
use kiosk::policy::Policy;
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::OffsetDateTime;

/// Cheap Argon2 for tests that are not about the hash.
pub const FAST_HASH: PasswordHashCost = PasswordHashCost {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

pub use kiosk::selftest::SyntheticPerson as Person;

/// A mobile-subscriber registration, offline, walked from the form to the
/// Store effect through the real state machine.
pub fn mobile_draft(person: &Person<'_>, now: OffsetDateTime, seed: u64) -> Draft {
    let policy = Arc::new(Policy::built_in().clone());
    kiosk::selftest::walk_offline_mobile(policy, person, now, &mut StdRng::seed_from_u64(seed))
        .unwrap()
}

/// The worker's backend on `store` and `keys`, sealing to `portal`, with
/// the built-in policy and nothing else: no modem, portal, token or card
/// reader. Tests add what they need with struct update syntax.
pub fn bare_backend(
    store: kiosk::store::Store,
    keys: kiosk::keys::Keyring,
    portal: kiosk_sync::PortalPublicKey,
) -> kiosk::worker::Backend {
    kiosk::worker::Backend {
        store,
        keys,
        portal,
        cost: FAST_HASH,
        policy: Arc::new(Policy::built_in().clone()),
        modem: None,
        token_reader: false,
        clock: OffsetDateTime::now_utc,
        uplink: None,
        live: None,
        tokens: None,
        cards: None,
    }
}

/// All bytes of every file under `dir`.
pub fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A kiosk's data directory with real keys, a real store and a portal key
/// pair, as a test needs it.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub keys: kiosk::keys::Keyring,
    pub portal: kiosk_sync::PortalSecretKey,
    pub store: kiosk::store::Store,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture::in_dir(tempfile::tempdir().unwrap())
    }

    pub fn in_dir(dir: tempfile::TempDir) -> Fixture {
        let keys = kiosk::keys::Keyring::open_or_create(&dir.path().join("keys")).unwrap();
        let store = kiosk::store::Store::open(&dir.path().join("kiosk.sqlite3")).unwrap();
        Fixture {
            dir,
            keys,
            portal: kiosk_sync::PortalSecretKey::generate(),
            store,
        }
    }

    /// Walks `person` through the flow and completes the registration.
    pub fn register(
        &mut self,
        person: &Person<'_>,
        now: OffsetDateTime,
        seed: u64,
    ) -> kiosk::register::Receipt {
        let draft = mobile_draft(person, now, seed);
        let portal = self.portal.public_key();
        let completer = kiosk::register::Completer {
            keys: &self.keys,
            portal: &portal,
            cost: FAST_HASH,
        };
        completer.complete(&mut self.store, &draft, now).unwrap()
    }
}

/// The modem simulator on a pty and the modem service talking to it, with
/// short timeouts; started once the modem can send.
pub struct ModemRig {
    pub dir: tempfile::TempDir,
    pub sim: kiosk_hal::modem::sim::Simulator,
    pub service: kiosk_hal::modem::ModemService,
}

impl ModemRig {
    pub fn start() -> ModemRig {
        use kiosk_hal::modem::{Locator, ModemConfig, ModemService, Timeouts};
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("ttyModem");
        let sim = kiosk_hal::modem::sim::Simulator::start(&link).unwrap();
        let service = ModemService::spawn(ModemConfig {
            poll_interval: Duration::from_millis(100),
            timeouts: Timeouts {
                quick: Duration::from_millis(500),
                slow: Duration::from_millis(500),
                sms: Duration::from_secs(2),
            },
            ..ModemConfig::new(Locator::Path(link))
        });
        assert!(
            service
                .wait_for_health(Duration::from_secs(10), |h| h.can_send())
                .is_some(),
            "{:?}",
            service.health()
        );
        ModemRig { dir, sim, service }
    }
}

/// A real, small partition for one test: a tmpfs of a few MiB mounted on a
/// scratch directory (the tests run as root, as `tests/run` does), so a
/// full disk is the kernel's ENOSPC, not a mocked error. Unmounted on drop.
pub struct SmallDisk {
    pub mount: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(mib: u64) -> SmallDisk {
        let mount = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={mib}m,mode=0700"))
            .arg("kiosk-test")
            .arg(mount.path())
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "this test mounts a {mib} MiB tmpfs to fill it for real, and needs root (or CAP_SYS_ADMIN): tests/run runs as root"
        );
        SmallDisk { mount }
    }

    pub fn path(&self) -> &Path {
        self.mount.path()
    }

    /// Writes a filler file until the partition refuses another byte;
    /// answers the filler's path.
    pub fn fill(&self, name: &str) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.path().join(name);
        let mut file = std::fs::File::create(&path).unwrap();
        for chunk in [1 << 20, 4096, 1] {
            let bytes = vec![0xA5u8; chunk];
            while file.write_all(&bytes).and_then(|()| file.flush()).is_ok() {}
        }
        let _ = file.sync_all();
        path
    }

    /// Writes a filler file of `bytes`.
    pub fn take(&self, name: &str, bytes: u64) -> std::path::PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, vec![0x5Au8; bytes as usize]).unwrap();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.mount.path())
            .status();
    }
}
