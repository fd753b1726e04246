//! The modem on a serial port: bring-up, health and SMS sending over AT
//! commands, as blocking calls. [`super::service`] runs it on its own
//! thread and keeps it usable across unplug and replug.

use std::io::{self, Read, Write};
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
}
