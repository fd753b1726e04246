//! The kiosk with simulated devices, for a newcomer to try and for the
//! headless walk: the modem simulator on a pseudo-terminal (the kiosk talks
//! AT commands to it over a real serial device), a real store and keys in a
//! data directory, and a demo portal key pair whose secret half stays in
//! that directory so a demo portal can open what the kiosk sealed.
//!
//! What the simulated phone received is readable through [`Demo::sms`]: the
//! demo phone panel and the walk read the OTP from it, as a citizen reads it
//! off their phone.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kiosk_hal::modem::sim::Simulator;
use kiosk_hal::modem::{Locator, ModemConfig, ModemService};
use kiosk_sync::PortalSecretKey;
use time::OffsetDateTime;

use crate::config::PasswordHashCost;
use crate::controller::Controller;
use crate::keys::{self, Keyring};
use crate::policy::Policy;
use crate::runtime::{Backend, Runtime};
use crate::store::Store;

/// A running demo kiosk's devices.
#[derive(Debug)]
pub struct Demo {
    sim: Simulator,
    _tty: tempfile::TempDir,
}

/// One SMS the simulated phone received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSms {
    pub to: String,
    pub text: String,
}

impl Demo {
    /// Starts the simulated devices and a controller on `data_dir`.
    pub fn start(
        data_dir: &Path,
        clock: Box<dyn Fn() -> OffsetDateTime>,
    ) -> Result<(Demo, Controller), String> {
        std::fs::create_dir_all(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
        let keys = Keyring::open_or_create(&data_dir.join("keys")).map_err(|e| e.to_string())?;
        let store = Store::open(&data_dir.join("kiosk.sqlite3")).map_err(|e| e.to_string())?;
        let portal = demo_portal_key(data_dir)?;
        let tty = tempfile::tempdir().map_err(|e| e.to_string())?;
        let link = tty.path().join("ttyDemoModem");
        let sim = Simulator::start(&link).map_err(|e| format!("modem simulator: {e}"))?;
        let modem = ModemService::spawn(ModemConfig::new(Locator::Path(link)));
        modem.wait_for_health(Duration::from_secs(10), |h| h.can_send());
        let policy = Arc::new(Policy::built_in().clone());
        let backend = Backend {
            store,
            keys,
            portal: portal.public_key(),
            cost: PasswordHashCost::default(),
            policy: Arc::clone(&policy),
            modem: Some(Box::new(modem)),
            token_reader: false,
            clock: OffsetDateTime::now_utc,
        };
        let controller = Controller::new(policy, Runtime::spawn(backend), clock);
        Ok((Demo { sim, _tty: tty }, controller))
    }

    /// Every SMS the simulated modem sent, oldest first.
    pub fn sms(&self) -> Vec<DemoSms> {
        self.sim
            .sent()
            .into_iter()
            .map(|s| DemoSms {
                to: s.decoded.destination,
                text: s.decoded.text,
            })
            .collect()
    }

    /// The code in the last SMS, as the citizen reads it off the phone.
    pub fn last_code(&self, digits: usize) -> Option<String> {
        let last = self.sms().pop()?;
        last.text
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == digits)
            .map(str::to_string)
    }
}

/// The demo portal's key pair, created once per data directory (written
/// like the kiosk's own keys: owner-only, atomically). Only a demo keeps the
/// portal's secret next to the kiosk.
fn demo_portal_key(dir: &Path) -> Result<PortalSecretKey, String> {
    let path = dir.join("demo-portal.key");
    if let Some(secret) = keys::read_key(&path).map_err(|e| e.to_string())? {
        return PortalSecretKey::from_bytes(secret.as_slice()).map_err(|e| e.to_string());
    }
    let key = PortalSecretKey::generate();
    keys::write_key(&path, &key.secret_bytes()).map_err(|e| e.to_string())?;
    Ok(key)
}
