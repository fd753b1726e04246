//! The modem's service thread: finds the modem (by device path or USB
//! vendor and product), polls and publishes its health, sends SMS on
//! request, and reconnects after the modem vanished. The kiosk talks to it
//! through a [`ModemService`] handle and the [`SmsSender`] trait.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::driver::{AtModem, Health, ModemError, Timeouts};

/// Where the modem is: a device path (a `/dev/serial/by-id/…` link survives
/// replugging), or a USB vendor and product, with the interface that speaks AT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locator {
    Path(PathBuf),
    Usb {
        vendor: u16,
        product: u16,
        interface: Option<u8>,
    },
}

impl std::fmt::Display for Locator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Locator::Path(p) => write!(f, "{}", p.display()),
            Locator::Usb {
                vendor,
                product,
                interface,
            } => {
                write!(f, "USB {vendor:04x}:{product:04x}")?;
                if let Some(i) = interface {
                    write!(f, " interface {i}")?;
                }
                Ok(())
            }
        }
    }
}

fn read_hex(path: &Path) -> Option<u16> {
    u16::from_str_radix(std::fs::read_to_string(path).ok()?.trim(), 16).ok()
}

/// Finds the tty of a USB modem in sysfs (`/sys` on a kiosk): the first
/// `/sys/class/tty/*` whose device sits on an interface with the wanted
/// number, under a USB device with the wanted vendor and product.
pub fn find_usb_tty(
    sysfs: &Path,
    vendor: u16,
    product: u16,
    interface: Option<u8>,
) -> Option<PathBuf> {
    let mut names: Vec<_> = std::fs::read_dir(sysfs.join("class/tty"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    for name in names {
        let Ok(device) = std::fs::canonicalize(sysfs.join("class/tty").join(&name).join("device"))
        else {
            continue;
        };
        let mut interface_ok = interface.is_none();
        for dir in device.ancestors() {
            if let Some(wanted) = interface {
                let number = std::fs::read_to_string(dir.join("bInterfaceNumber")).ok();
                if number.and_then(|n| u8::from_str_radix(n.trim(), 16).ok()) == Some(wanted) {
                    interface_ok = true;
                }
            }
            if read_hex(&dir.join("idVendor")) == Some(vendor)
                && read_hex(&dir.join("idProduct")) == Some(product)
            {
                if interface_ok {
                    return Some(PathBuf::from("/dev").join(&name));
                }
                break;
            }
        }
    }
    None
}

/// Opens the modem's serial port, exclusively, and brings the modem up.
pub fn connect(
    locator: &Locator,
    sysfs: &Path,
    timeouts: Timeouts,
) -> Result<AtModem<serialport::TTYPort>, ModemError> {
    let path = match locator {
        Locator::Path(p) => p.clone(),
        Locator::Usb {
            vendor,
            product,
            interface,
        } => find_usb_tty(sysfs, *vendor, *product, *interface)
            .ok_or_else(|| ModemError::NotFound(locator.to_string()))?,
    };
    if !path.exists() {
        return Err(ModemError::NotFound(path.display().to_string()));
    }
    let mut port = serialport::new(path.to_string_lossy(), 115_200)
        .timeout(Duration::from_millis(200))
        .open_native()
        .map_err(|e| match e.kind {
            serialport::ErrorKind::NoDevice => ModemError::NotFound(path.display().to_string()),
            _ => ModemError::Port(io::Error::from(e)),
        })?;
    // Another process (ModemManager, a second kiosk) must not interleave commands.
    port.set_exclusive(true)
        .map_err(|e| ModemError::Port(io::Error::from(e)))?;
    let mut modem = AtModem::new(port, timeouts);
    modem.bring_up()?;
    Ok(modem)
}

/// How the service finds and watches the modem.
#[derive(Debug, Clone)]
pub struct ModemConfig {
    pub locator: Locator,
    /// How often health is polled while idle.
    pub poll_interval: Duration,
    /// Root of sysfs, `/sys` on a kiosk.
    pub sysfs: PathBuf,
    pub timeouts: Timeouts,
}

impl ModemConfig {
    /// A modem at `locator` on a kiosk: `/sys`, health every 15 s.
    pub fn new(locator: Locator) -> Self {
        ModemConfig {
            locator,
            poll_interval: Duration::from_secs(15),
            sysfs: PathBuf::from("/sys"),
            timeouts: Timeouts::default(),
        }
    }
}

enum Request {
    Send {
        to: String,
        text: String,
        validity: Duration,
        reply: mpsc::Sender<Result<Vec<u8>, ModemError>>,
    },
    Refresh,
}

/// What the kiosk needs of a modem to deliver an OTP: the small trait the
/// rest of the kiosk programs against.
pub trait SmsSender {
    /// Sends `text` to `to` (`+84…`); `Ok` only when the modem confirmed
    /// every segment with a message reference.
    fn send_sms(&self, to: &str, text: &str, validity: Duration) -> Result<Vec<u8>, ModemError>;
}

type Published = Arc<(Mutex<Health>, Condvar)>;

/// The modem on its own thread: polls and publishes health, sends SMS on
/// request, and reconnects after the modem vanished.
#[derive(Debug)]
pub struct ModemService {
    requests: Option<mpsc::Sender<Request>>,
    health: Published,
    thread: Option<JoinHandle<()>>,
}

impl ModemService {
    pub fn spawn(config: ModemConfig) -> ModemService {
        let (tx, rx) = mpsc::channel();
        let health: Published =
            Arc::new((Mutex::new(Health::absent("not probed yet")), Condvar::new()));
        let published = Arc::clone(&health);
        let thread = std::thread::Builder::new()
            .name("modem".into())
            .spawn(move || run_service(&config, &rx, &published))
            .expect("spawning the modem thread");
        ModemService {
            requests: Some(tx),
            health,
            thread: Some(thread),
        }
    }

    /// The last published health.
    pub fn health(&self) -> Health {
        self.health
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until the published health satisfies `until`, or `timeout`.
    pub fn wait_for_health(
        &self,
        timeout: Duration,
        until: impl Fn(&Health) -> bool,
    ) -> Option<Health> {
        let (lock, cvar) = &*self.health;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = cvar
            .wait_timeout_while(guard, timeout, |h| !until(h))
            .unwrap_or_else(|e| e.into_inner());
        until(&guard).then(|| guard.clone())
    }

    /// Asks for a health poll now.
    pub fn refresh(&self) {
        if let Some(tx) = &self.requests {
            let _ = tx.send(Request::Refresh);
        }
    }
}

impl SmsSender for ModemService {
    /// Blocks until the modem confirmed or refused the message.
    fn send_sms(&self, to: &str, text: &str, validity: Duration) -> Result<Vec<u8>, ModemError> {
        let (reply, answer) = mpsc::channel();
        self.requests
            .as_ref()
            .ok_or(ModemError::Stopped)?
            .send(Request::Send {
                to: to.into(),
                text: text.into(),
                validity,
                reply,
            })
            .map_err(|_| ModemError::Stopped)?;
        answer.recv().map_err(|_| ModemError::Stopped)?
    }
}

impl Drop for ModemService {
    fn drop(&mut self) {
        self.requests = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn publish(published: &Published, health: Health) {
    let (lock, cvar) = &**published;
    *lock.lock().unwrap_or_else(|e| e.into_inner()) = health;
    cvar.notify_all();
}

fn run_service(config: &ModemConfig, requests: &mpsc::Receiver<Request>, published: &Published) {
    let mut modem: Option<AtModem<serialport::TTYPort>> = None;
    let ensure = |modem: &mut Option<AtModem<serialport::TTYPort>>| -> Result<(), ModemError> {
        if modem.is_none() {
            *modem = Some(connect(&config.locator, &config.sysfs, config.timeouts)?);
        }
        Ok(())
    };
    loop {
        let poll = ensure(&mut modem).and_then(|()| modem.as_mut().expect("connected").health());
        match poll {
            Ok(health) => publish(published, health),
            Err(e) => {
                if e.is_connection_lost() || e.is_timeout() {
                    modem = None;
                }
                publish(published, Health::absent(e.to_string()));
            }
        }
        match requests.recv_timeout(config.poll_interval) {
            Ok(Request::Send {
                to,
                text,
                validity,
                reply,
            }) => {
                let result = ensure(&mut modem).and_then(|()| {
                    modem
                        .as_mut()
                        .expect("connected")
                        .send_sms(&to, &text, validity)
                });
                if let Err(e) = &result
                    && (e.is_connection_lost() || e.is_timeout())
                {
                    // The modem's state is unknown: start afresh, and never
                    // resend on our own — the citizen decides to retry.
                    modem = None;
                }
                let _ = reply.send(result);
            }
            Ok(Request::Refresh) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usb_modems_are_found_by_vendor_product_and_interface() {
        // A sysfs tree shaped like a Huawei E3372 with three tty interfaces.
        let root = tempfile::tempdir().unwrap();
        let usb = root.path().join("devices/pci0000:00/usb1/1-1");
        std::fs::create_dir_all(&usb).unwrap();
        std::fs::write(usb.join("idVendor"), "12d1\n").unwrap();
        std::fs::write(usb.join("idProduct"), "1506\n").unwrap();
        std::fs::create_dir_all(root.path().join("class/tty")).unwrap();
        for (i, tty) in ["ttyUSB0", "ttyUSB1", "ttyUSB2"].iter().enumerate() {
            let iface = usb.join(format!("1-1:1.{i}"));
            let dev = iface.join(tty);
            std::fs::create_dir_all(&dev).unwrap();
            std::fs::write(iface.join("bInterfaceNumber"), format!("{i:02x}\n")).unwrap();
            let class = root.path().join("class/tty").join(tty);
            std::fs::create_dir_all(&class).unwrap();
            std::os::unix::fs::symlink(&dev, class.join("device")).unwrap();
        }
        std::fs::create_dir_all(root.path().join("class/tty/ttyS0")).unwrap();
        let found = |interface| find_usb_tty(root.path(), 0x12d1, 0x1506, interface);
        assert_eq!(found(None), Some(PathBuf::from("/dev/ttyUSB0")));
        assert_eq!(found(Some(2)), Some(PathBuf::from("/dev/ttyUSB2")));
        assert_eq!(found(Some(7)), None);
        assert_eq!(find_usb_tty(root.path(), 0x12d1, 0x1001, None), None);
    }
}
