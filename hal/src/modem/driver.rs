//! The modem on a real serial port: bring-up, health, SMS sending, and a
//! service thread that keeps the modem usable across unplug and replug.
//!
//! Everything here blocks; the kiosk runs it on its own thread
//! ([`ModemService`]) and talks to it through a handle.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::at::{AtError, Cause, Command, Engine, Output, Response};
use super::pdu::{PduError, encode_submit};

/// A byte stream with a read timeout: the serial port, or a test double.
pub trait Port: Read + Write + Send {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()>;
}

impl Port for serialport::TTYPort {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        serialport::SerialPort::set_timeout(self, timeout).map_err(io::Error::from)
    }
}

/// Why the modem could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ModemError {
    #[error("no modem found at {0}")]
    NotFound(String),
    #[error("modem port: {0}")]
    Port(#[from] io::Error),
    #[error("{command}: {error}")]
    At { command: String, error: AtError },
    #[error("the modem did not confirm the SMS with a message reference")]
    NotConfirmed,
    #[error("cannot encode the SMS: {0}")]
    Pdu(#[from] PduError),
    #[error("the modem service has stopped")]
    Stopped,
}

impl ModemError {
    /// The named cause behind a `+CME`/`+CMS ERROR`, if that is what it was.
    pub fn cause(&self) -> Option<Cause> {
        match self {
            ModemError::At { error, .. } => error.cause(),
            _ => None,
        }
    }

    /// The modem is gone or never answered: reconnect before the next try.
    pub fn is_connection_lost(&self) -> bool {
        matches!(
            self,
            ModemError::NotFound(_) | ModemError::Port(_) | ModemError::Stopped
        )
    }

    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            ModemError::At {
                error: AtError::Timeout | AtError::NoPrompt,
                ..
            }
        )
    }
}

fn ok(response: Response) -> Result<Response, ModemError> {
    match response.result {
        Ok(()) => Ok(response),
        Err(error) => Err(ModemError::At {
            command: response.command,
            error,
        }),
    }
}

/// The SIM as `AT+CPIN?` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimStatus {
    Ready,
    Missing,
    /// A PIN is needed; the kiosk never guesses one.
    PinRequired,
    PukRequired,
    Failure,
}

/// Network registration (`AT+CREG?`, or `AT+CEREG?` on LTE-only modems).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Home,
    Roaming,
    Searching,
    Denied,
    NotRegistered,
}

impl Registration {
    fn from_stat(stat: &str) -> Option<Self> {
        Some(match stat.trim() {
            "0" => Registration::NotRegistered,
            "1" => Registration::Home,
            "2" => Registration::Searching,
            "3" => Registration::Denied,
            "5" => Registration::Roaming,
            _ => return None,
        })
    }

    pub fn is_registered(&self) -> bool {
        matches!(self, Registration::Home | Registration::Roaming)
    }
}

/// Signal strength from `AT+CSQ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    /// 0–31 as reported.
    pub rssi: u8,
    /// −113 to −51 dBm.
    pub dbm: i16,
    /// 0–4 bars for the status bar.
    pub bars: u8,
}

impl Signal {
    /// `None` for 99 (not known or not detectable).
    pub fn from_rssi(rssi: u8) -> Option<Signal> {
        if rssi > 31 {
            return None;
        }
        let bars = match rssi {
            0..=1 => 0,
            2..=9 => 1,
            10..=14 => 2,
            15..=19 => 3,
            _ => 4,
        };
        Some(Signal {
            rssi,
            dbm: -113 + 2 * i16::from(rssi),
            bars,
        })
    }
}

/// What the status bar and `kioskctl modem probe` show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub present: bool,
    pub sim: Option<SimStatus>,
    pub registration: Option<Registration>,
    pub signal: Option<Signal>,
    pub operator: Option<String>,
    /// Why the modem is not usable, in English, for logs and technicians.
    pub problem: Option<String>,
}

impl Health {
    pub fn absent(problem: impl Into<String>) -> Health {
        Health {
            present: false,
            sim: None,
            registration: None,
            signal: None,
            operator: None,
            problem: Some(problem.into()),
        }
    }

    /// Ready to send an SMS.
    pub fn can_send(&self) -> bool {
        self.present
            && self.sim == Some(SimStatus::Ready)
            && self.registration.is_some_and(|r| r.is_registered())
    }
}

/// A modem speaking AT commands over `P`.
#[derive(Debug)]
pub struct AtModem<P: Port> {
    port: P,
    engine: Engine,
    epoch: Instant,
    urcs: Vec<String>,
    round_trips: u64,
    next_reference: u8,
    timeouts: Timeouts,
}

/// How long each kind of command may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Configuration and status queries.
    pub quick: Duration,
    /// `AT+CPIN?` and `AT+COPS?`, which wait on the SIM or the network.
    pub slow: Duration,
    /// `AT+CMGS`: the network must accept the message.
    pub sms: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            quick: Duration::from_secs(2),
            slow: Duration::from_secs(10),
            sms: Duration::from_secs(60),
        }
    }
}

impl<P: Port> AtModem<P> {
    pub fn new(port: P, timeouts: Timeouts) -> Self {
        AtModem {
            port,
            engine: Engine::new(),
            epoch: Instant::now(),
            urcs: Vec::new(),
            round_trips: 0,
            next_reference: 1,
            timeouts,
        }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Commands written so far: the round trips a task cost.
    pub fn round_trips(&self) -> u64 {
        self.round_trips
    }

    /// Unsolicited lines seen so far (the last 64).
    pub fn take_urcs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.urcs)
    }

    /// Runs one command to completion (or its timeout).
    pub fn command(&mut self, command: Command) -> Result<Response, ModemError> {
        let bytes = self
            .engine
            .start(command, self.now())
            .map_err(|_| ModemError::Port(io::Error::other("a command is already running")))?;
        self.round_trips += 1;
        if let Err(e) = self.port.write_all(&bytes).and_then(|()| self.port.flush()) {
            self.engine = Engine::new();
            return Err(e.into());
        }
        let mut buf = [0u8; 512];
        loop {
            let now = self.now();
            let wait = self
                .engine
                .deadline()
                .map_or(Duration::ZERO, |d| d.saturating_sub(now))
                .clamp(Duration::from_millis(1), Duration::from_millis(200));
            let outputs = match self
                .port
                .set_read_timeout(wait)
                .and_then(|()| self.port.read(&mut buf))
            {
                Ok(0) => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "modem port closed",
                )),
                Ok(n) => Ok(self.engine.feed(&buf[..n], self.now())),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    Ok(self.engine.poll(self.now()))
                }
                Err(e) => Err(e),
            };
            let outputs = match outputs {
                Ok(o) => o,
                Err(e) => {
                    self.engine = Engine::new();
                    return Err(e.into());
                }
            };
            for output in outputs {
                match output {
                    Output::Write(bytes) => self.port.write_all(&bytes)?,
                    Output::Urc(line) => {
                        if self.urcs.len() == 64 {
                            self.urcs.remove(0);
                        }
                        self.urcs.push(line);
                    }
                    Output::Response(r) => return Ok(r),
                }
            }
        }
    }

    /// Makes a freshly powered or replugged modem usable: answer at all,
    /// echo off, numeric errors, PDU mode, no registration URCs.
    pub fn bring_up(&mut self) -> Result<(), ModemError> {
        // The first AT after power-up can be swallowed while the modem
        // settles its line settings: try three times.
        let mut last = None;
        for _ in 0..3 {
            match self.command(Command::new("AT", self.timeouts.quick / 2)) {
                Ok(r) if r.result.is_ok() => {
                    last = None;
                    break;
                }
                Ok(r) => {
                    last = Some(ModemError::At {
                        command: r.command,
                        error: r.result.unwrap_err(),
                    })
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(e) = last {
            return Err(e);
        }
        for line in ["ATE0", "AT+CMEE=1", "AT+CMGF=0"] {
            ok(self.command(Command::new(line, self.timeouts.quick))?)?;
        }
        // Not every modem knows both; neither is essential.
        for line in ["AT+CREG=0", "AT+CEREG=0"] {
            self.command(Command::new(line, self.timeouts.quick))?;
        }
        Ok(())
    }

    /// SIM, registration, signal and operator, as of now.
    pub fn health(&mut self) -> Result<Health, ModemError> {
        let sim = match self.command(Command::new("AT+CPIN?", self.timeouts.slow))? {
            r if r.result.is_ok() => match r.value("+CPIN:") {
                Some("READY") => SimStatus::Ready,
                Some("SIM PIN") | Some("PH-SIM PIN") => SimStatus::PinRequired,
                Some("SIM PUK") => SimStatus::PukRequired,
                _ => SimStatus::Failure,
            },
            r => match r.result.as_ref().err().and_then(AtError::cause) {
                Some(Cause::SimMissing) => SimStatus::Missing,
                Some(Cause::SimPinRequired) => SimStatus::PinRequired,
                Some(Cause::SimPukRequired) => SimStatus::PukRequired,
                _ => SimStatus::Failure,
            },
        };
        let mut registration = None;
        for (line, prefix) in [("AT+CREG?", "+CREG:"), ("AT+CEREG?", "+CEREG:")] {
            let r = self.command(Command::new(line, self.timeouts.quick))?;
            let stat = r
                .value(prefix)
                .and_then(|v| v.split(',').nth(1))
                .and_then(Registration::from_stat);
            if let Some(stat) = stat {
                registration = Some(stat);
                if stat.is_registered() {
                    break;
                }
            }
        }
        let signal = self
            .command(Command::new("AT+CSQ", self.timeouts.quick))?
            .value("+CSQ:")
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
            .and_then(Signal::from_rssi);
        let operator = self
            .command(Command::new("AT+COPS?", self.timeouts.slow))?
            .value("+COPS:")
            .and_then(|v| v.split('"').nth(1))
            .map(String::from);
        let problem = match (sim, registration) {
            (SimStatus::Ready, Some(r)) if r.is_registered() => None,
            (SimStatus::Ready, _) => Some("not registered to a mobile network".to_string()),
            (SimStatus::Missing, _) => Some("no SIM card in the modem".into()),
            (SimStatus::PinRequired, _) => Some(
                "the SIM asks for a PIN; remove it with a phone (the kiosk never enters one)"
                    .into(),
            ),
            (SimStatus::PukRequired, _) => Some("the SIM is blocked (PUK)".into()),
            (SimStatus::Failure, _) => Some("the SIM failed".into()),
        };
        Ok(Health {
            present: true,
            sim: Some(sim),
            registration,
            signal,
            operator,
            problem,
        })
    }

    /// Sends `text` to `to` (`+84…`). Answers the message references, one
    /// per segment; an SMS counts as sent only with `+CMGS: <mr>`.
    pub fn send_sms(
        &mut self,
        to: &str,
        text: &str,
        validity: Duration,
    ) -> Result<Vec<u8>, ModemError> {
        let pdus = encode_submit(to, text, validity, self.next_reference)?;
        self.next_reference = self.next_reference.wrapping_add(1);
        let mut references = Vec::with_capacity(pdus.len());
        for pdu in pdus {
            let command = Command::with_payload(
                format!("AT+CMGS={}", pdu.tpdu_len),
                self.timeouts.sms,
                pdu.hex.into_bytes(),
            );
            let response = ok(self.command(command)?)?;
            let mr = response
                .value("+CMGS:")
                .and_then(|v| v.trim().parse::<u8>().ok())
                .ok_or(ModemError::NotConfirmed)?;
            references.push(mr);
        }
        Ok(references)
    }
}

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
    fn rssi_maps_to_dbm_and_bars() {
        assert_eq!(
            Signal::from_rssi(0),
            Some(Signal {
                rssi: 0,
                dbm: -113,
                bars: 0
            })
        );
        assert_eq!(
            Signal::from_rssi(15).map(|s| (s.dbm, s.bars)),
            Some((-83, 3))
        );
        assert_eq!(
            Signal::from_rssi(31).map(|s| (s.dbm, s.bars)),
            Some((-51, 4))
        );
        assert_eq!(Signal::from_rssi(99), None);
    }

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
