//! The demo citizen's CCCD card on the virtual reader.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kiosk_hal::card::sim::chip::{Faults, VirtualChip};
use kiosk_hal::card::sim::issue::{Citizen, Document, Pki};
use kiosk_hal::card::sim::vpcd::Placed;

/// The demo citizen's CCCD card, issued by a demo CSCA and Document
/// Signer (made once per data directory by `openssl`), for the virtual
/// reader of `vsmartcard-vpcd` at `KIOSK_VPCD_PORT`. Placing and
/// removing wait on `pcscd` (half a second), so the window does them off
/// its own thread.
#[derive(Debug)]
pub struct DemoCard {
    citizen: Citizen,
    document: Document,
    port: u16,
    /// The CSCA list the kiosk checks the card against.
    pub(super) csca: PathBuf,
    on_reader: std::sync::Mutex<Option<Placed>>,
}

impl DemoCard {
    /// `None` without a virtual reader to put it on.
    pub(super) fn issue(dir: &Path) -> Result<Option<Arc<DemoCard>>, String> {
        let Some(port) = std::env::var("KIOSK_VPCD_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
        else {
            return Ok(None);
        };
        let pki = Pki::create(&dir.join("pki"), "Test VN", 3650)
            .map_err(|e| format!("the demo card's CSCA: {e}"))?;
        let citizen = Citizen::demo();
        let document =
            Document::issue(&citizen, &pki).map_err(|e| format!("the demo card: {e}"))?;
        Ok(Some(Arc::new(DemoCard {
            citizen,
            document,
            port,
            csca: pki.csca_dir(),
            on_reader: std::sync::Mutex::new(None),
        })))
    }

    /// Whose card it is, and what is printed on it.
    pub fn holder(&self) -> &Citizen {
        &self.citizen
    }

    /// Whether the card is on the reader.
    pub fn is_placed(&self) -> bool {
        self.placed().is_some()
    }

    /// Puts the card on the virtual reader and waits until `pcscd` sees it.
    pub fn place(&self) -> Result<(), String> {
        let mut placed = self.placed();
        if placed.is_none() {
            let chip = VirtualChip::new(self.document.clone(), Faults::default());
            let on = Placed::on_reader(self.port, chip, Duration::from_secs(5))
                .and_then(|p| p.seen(Duration::from_secs(5)))
                .map_err(|e| format!("the virtual card reader: {e}"))?;
            *placed = Some(on);
        }
        Ok(())
    }

    /// Takes the card off the reader and waits until `pcscd` has seen it
    /// leave.
    pub fn remove(&self) -> Result<(), String> {
        match self.placed().take() {
            Some(on) => on
                .removed(Duration::from_secs(5))
                .map_err(|e| format!("the virtual card reader: {e}")),
            None => Ok(()),
        }
    }

    fn placed(&self) -> std::sync::MutexGuard<'_, Option<Placed>> {
        self.on_reader.lock().unwrap_or_else(|e| e.into_inner())
    }
}
