//! A GSM modem simulator that behaves like a real USB modem, for tests, the
//! demo and technicians' training: it runs on the other side of a
//! pseudo-terminal, starts with echo on and in PDU mode, answers the
//! commands the kiosk uses, records every SMS it was asked to send, and can
//! be told to misbehave: no SIM, SIM PIN, no network, `+CMS ERROR`, slow
//! answers, no answers at all, unsolicited lines at awkward moments, an
//! answer without `+CMGS`, and being unplugged and plugged back in.
//!
//! [`SimModem`] is the deterministic core (bytes in, bytes out);
//! [`Simulator`] serves it on a pty whose slave is reached through a
//! symlink, as `/dev/serial/by-id/…` is on a kiosk.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::pdu::{DecodedSubmit, decode_submit};

/// The SIM card's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimCard {
    Ready,
    Missing,
    PinRequired,
    PukRequired,
}

/// How the simulated modem should behave now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faults {
    pub sim: SimCard,
    /// Registered to a network; if not, `+CREG: 0,2` and `+CMS ERROR: 331`.
    pub registered: bool,
    /// `+CSQ` RSSI, 0–31.
    pub signal: u8,
    pub operator: String,
    /// Answer `AT+CMGS` with this `+CMS ERROR` instead of sending.
    pub cms_error: Option<u16>,
    /// Answer `AT+CMGS` with a bare `OK` and no `+CMGS: <mr>`.
    pub omit_message_reference: bool,
    /// Unsolicited lines inside every answer.
    pub noisy: bool,
    /// Read everything, answer nothing.
    pub mute: bool,
    /// Wait this long before each answer.
    pub delay: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            sim: SimCard::Ready,
            registered: true,
            signal: 21,
            operator: "Viettel".into(),
            cms_error: None,
            omit_message_reference: false,
            noisy: false,
            mute: false,
            delay: Duration::ZERO,
        }
    }
}

/// An SMS the simulator accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    pub pdu: String,
    pub decoded: DecodedSubmit,
    pub message_reference: u8,
}

/// The deterministic modem: bytes from the kiosk in, bytes to the kiosk out.
#[derive(Debug)]
pub struct SimModem {
    echo: bool,
    cmee: u8,
    pdu_mode: bool,
    line: Vec<u8>,
    /// Inside `AT+CMGS`: the announced TPDU length and the hex so far.
    pdu: Option<(usize, Vec<u8>)>,
    next_reference: u8,
    pub sent: Vec<SentSms>,
}

impl Default for SimModem {
    fn default() -> Self {
        SimModem {
            echo: true,
            cmee: 0,
            pdu_mode: true,
            line: Vec::new(),
            pdu: None,
            next_reference: 1,
            sent: Vec::new(),
        }
    }
}

fn verbose_cme(code: u16) -> &'static str {
    match code {
        10 => "SIM not inserted",
        11 => "SIM PIN required",
        12 => "SIM PUK required",
        30 => "no network service",
        _ => "unknown",
    }
}

fn verbose_cms(code: u16) -> &'static str {
    match code {
        304 => "invalid PDU mode parameter",
        310 => "SIM not inserted",
        311 => "SIM PIN required",
        316 => "SIM PUK required",
        330 => "SMSC address unknown",
        331 => "no network service",
        332 => "network timeout",
        _ => "unknown error",
    }
}

impl SimModem {
    pub fn new() -> Self {
        Self::default()
    }

    fn cme(&self, code: u16) -> String {
        match self.cmee {
            0 => "ERROR".into(),
            1 => format!("+CME ERROR: {code}"),
            _ => format!("+CME ERROR: {}", verbose_cme(code)),
        }
    }

    fn cms(&self, code: u16) -> String {
        match self.cmee {
            0 => "ERROR".into(),
            1 => format!("+CMS ERROR: {code}"),
            _ => format!("+CMS ERROR: {}", verbose_cms(code)),
        }
    }

    /// Takes bytes from the kiosk; answers the bytes the modem sends back.
    pub fn feed(&mut self, bytes: &[u8], faults: &Faults) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in bytes {
            if let Some((len, hex)) = &mut self.pdu {
                match b {
                    0x1A => {
                        let (len, hex) = (*len, std::mem::take(hex));
                        self.pdu = None;
                        out.extend(self.submit(len, &hex, faults));
                    }
                    0x1B => self.pdu = None,
                    b'\r' | b'\n' => {}
                    _ => hex.push(b),
                }
                continue;
            }
            if self.echo {
                out.push(b);
            }
            match b {
                b'\r' => {
                    let line = String::from_utf8_lossy(&std::mem::take(&mut self.line))
                        .trim()
                        .to_string();
                    if !line.is_empty() {
                        out.extend(self.command(&line, faults));
                    }
                }
                b'\n' => {}
                _ => self.line.push(b),
            }
        }
        out
    }

    fn answer(&self, info: &[String], last: &str, faults: &Faults) -> Vec<u8> {
        let mut s = String::new();
        for (i, line) in info.iter().enumerate() {
            s.push_str(&format!("\r\n{line}\r\n"));
            if faults.noisy && i == 0 {
                s.push_str("\r\nRING\r\n+CMTI: \"SM\",3\r\n");
            }
        }
        if faults.noisy {
            s.push_str("\r\n^RSSI: 17\r\n+CREG: 1\r\n");
        }
        s.push_str(&format!("\r\n{last}\r\n"));
        s.into_bytes()
    }

    fn command(&mut self, line: &str, faults: &Faults) -> Vec<u8> {
        let upper = line.to_ascii_uppercase();
        let ok = |info: Vec<String>| (info, "OK".to_string());
        let (info, last) = match upper.as_str() {
            "AT" | "ATZ" => ok(vec![]),
            "ATE0" => {
                self.echo = false;
                ok(vec![])
            }
            "ATE1" => {
                self.echo = true;
                ok(vec![])
            }
            "ATI" | "AT+CGMM" => ok(vec![
                "SIMULATED GSM MODEM".into(),
                "Revision: kiosk-sim 1".into(),
            ]),
            "AT+CGMI" => ok(vec!["kiosk".into()]),
            "AT+CMGF?" => ok(vec![format!("+CMGF: {}", u8::from(!self.pdu_mode))]),
            "AT+CMGF=0" => {
                self.pdu_mode = true;
                ok(vec![])
            }
            "AT+CMGF=1" => {
                self.pdu_mode = false;
                ok(vec![])
            }
            "AT+CREG=0" | "AT+CEREG=0" => ok(vec![]),
            "AT+CPIN?" => match faults.sim {
                SimCard::Ready => ok(vec!["+CPIN: READY".into()]),
                SimCard::PinRequired => ok(vec!["+CPIN: SIM PIN".into()]),
                SimCard::PukRequired => ok(vec!["+CPIN: SIM PUK".into()]),
                SimCard::Missing => (vec![], self.cme(10)),
            },
            "AT+CREG?" | "AT+CEREG?" => {
                let name = &upper[2..upper.len() - 1];
                let stat = if faults.sim != SimCard::Ready {
                    0
                } else if faults.registered {
                    1
                } else {
                    2
                };
                ok(vec![format!("{name}: 0,{stat}")])
            }
            "AT+CSQ" => {
                let rssi = if faults.registered && faults.sim == SimCard::Ready {
                    faults.signal
                } else {
                    99
                };
                ok(vec![format!("+CSQ: {rssi},99")])
            }
            "AT+COPS?" => {
                if faults.registered && faults.sim == SimCard::Ready {
                    ok(vec![format!("+COPS: 0,0,\"{}\",7", faults.operator)])
                } else {
                    ok(vec!["+COPS: 0".into()])
                }
            }
            _ => {
                if let Some(n) = upper.strip_prefix("AT+CMEE=") {
                    self.cmee = n.parse().unwrap_or(0);
                    ok(vec![])
                } else if let Some(len) = upper.strip_prefix("AT+CMGS=") {
                    return self.start_submit(len, faults);
                } else {
                    (vec![], "ERROR".to_string())
                }
            }
        };
        self.answer(&info, &last, faults)
    }

    fn start_submit(&mut self, len: &str, faults: &Faults) -> Vec<u8> {
        let refuse = |code| self.answer(&[], &self.cms(code), faults);
        match faults.sim {
            SimCard::Missing => return refuse(310),
            SimCard::PinRequired => return refuse(311),
            SimCard::PukRequired => return refuse(316),
            SimCard::Ready => {}
        }
        match (self.pdu_mode, len.parse::<usize>()) {
            (true, Ok(n)) if (7..=164).contains(&n) => {
                self.pdu = Some((n, Vec::new()));
                b"\r\n> ".to_vec()
            }
            _ => refuse(304),
        }
    }

    fn submit(&mut self, len: usize, hex: &[u8], faults: &Faults) -> Vec<u8> {
        let hex = String::from_utf8_lossy(hex).to_string();
        let smsc_octets = hex
            .get(..2)
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .unwrap_or(0)
            + 1;
        let decoded = decode_submit(&hex);
        let decoded = match decoded {
            Some(d) if hex.len() == 2 * (smsc_octets + len) => d,
            _ => return self.answer(&[], &self.cms(304), faults),
        };
        if !faults.registered {
            return self.answer(&[], &self.cms(331), faults);
        }
        if let Some(code) = faults.cms_error {
            return self.answer(&[], &self.cms(code), faults);
        }
        let mr = self.next_reference;
        self.next_reference = self.next_reference.wrapping_add(1);
        self.sent.push(SentSms {
            pdu: hex,
            decoded,
            message_reference: mr,
        });
        let info = if faults.omit_message_reference {
            vec![]
        } else {
            vec![format!("+CMGS: {mr}")]
        };
        self.answer(&info, "OK", faults)
    }
}

#[derive(Debug)]
struct Shared {
    faults: Faults,
    sent: Vec<SentSms>,
    /// Bytes the kiosk wrote, for round-trip counts.
    commands: usize,
    plugged: bool,
    generation: u64,
    stop: bool,
}

/// A [`SimModem`] served on a pseudo-terminal, reached through `link`.
#[derive(Debug)]
pub struct Simulator {
    link: PathBuf,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

/// One plugged-in period: the pty pair. Dropping it makes the device vanish.
struct Device {
    master: File,
    _slave: std::os::fd::OwnedFd,
    name: PathBuf,
}

fn plug(link: &Path, avoid: Option<&Path>) -> std::io::Result<Device> {
    use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
    // A replugged USB modem usually comes back under another name: take
    // the first pty whose name differs from the last one.
    let mut held = Vec::new();
    let (pair, name) = loop {
        let pair = nix::pty::openpty(None, None).map_err(std::io::Error::from)?;
        let name = nix::unistd::ttyname(pair.slave.as_fd()).map_err(std::io::Error::from)?;
        if Some(name.as_path()) != avoid || held.len() >= 4 {
            break (pair, name);
        }
        held.push(pair);
    };
    drop(held);
    let mut termios = tcgetattr(pair.slave.as_fd()).map_err(std::io::Error::from)?;
    cfmakeraw(&mut termios);
    tcsetattr(pair.slave.as_fd(), SetArg::TCSANOW, &termios).map_err(std::io::Error::from)?;
    let tmp = link.with_extension("new-link");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&name, &tmp)?;
    std::fs::rename(&tmp, link)?;
    Ok(Device {
        master: File::from(pair.master),
        _slave: pair.slave,
        name,
    })
}

impl Simulator {
    /// Plugs a simulated modem in at `link`.
    pub fn start(link: &Path) -> std::io::Result<Simulator> {
        let device = plug(link, None)?;
        let shared = Arc::new((
            Mutex::new(Shared {
                faults: Faults::default(),
                sent: Vec::new(),
                commands: 0,
                plugged: true,
                generation: 0,
                stop: false,
            }),
            Condvar::new(),
        ));
        let thread_shared = Arc::clone(&shared);
        let thread_link = link.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("modem-sim".into())
            .spawn(move || serve(device, &thread_link, &thread_shared))?;
        Ok(Simulator {
            link: link.to_path_buf(),
            shared,
            thread: Some(thread),
        })
    }

    pub fn link(&self) -> &Path {
        &self.link
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes how the modem behaves from the next byte on.
    pub fn set_faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.lock().faults);
    }

    /// Every SMS accepted so far.
    pub fn sent(&self) -> Vec<SentSms> {
        self.lock().sent.clone()
    }

    /// The last SMS accepted, if any.
    pub fn last_sent(&self) -> Option<SentSms> {
        self.lock().sent.last().cloned()
    }

    /// Forgets the SMS accepted so far (a phone's inbox emptied); the
    /// count `wait_for_sent` waits on starts again from zero.
    pub fn forget_sent(&self) {
        self.lock().sent.clear();
    }

    /// Command lines received so far.
    pub fn commands(&self) -> usize {
        self.lock().commands
    }

    /// Waits until `n` SMS were accepted, or `timeout`.
    pub fn wait_for_sent(&self, n: usize, timeout: Duration) -> bool {
        let (lock, cvar) = &*self.shared;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = cvar
            .wait_timeout_while(guard, timeout, |s| s.sent.len() < n)
            .unwrap_or_else(|e| e.into_inner());
        guard.sent.len() >= n
    }

    /// Pulls the modem out: the device node and the link vanish.
    pub fn unplug(&self) {
        self.set_plugged(false);
    }

    /// Plugs it back in, usually under another /dev/pts name.
    pub fn replug(&self) {
        self.set_plugged(true);
    }

    fn set_plugged(&self, plugged: bool) {
        let (lock, cvar) = &*self.shared;
        let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
        if s.plugged == plugged {
            return;
        }
        s.plugged = plugged;
        let target = s.generation + 1;
        cvar.notify_all();
        // Wait until the serving thread has acted on it.
        drop(cvar.wait_while(s, |s| s.generation < target && !s.stop));
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        {
            let (lock, cvar) = &*self.shared;
            lock.lock().unwrap_or_else(|e| e.into_inner()).stop = true;
            cvar.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.link);
    }
}

fn serve(device: Device, link: &Path, shared: &(Mutex<Shared>, Condvar)) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let (lock, cvar) = shared;
    let mut last_name = device.name.clone();
    let mut device = Some(device);
    let mut modem = SimModem::new();
    let mut buf = [0u8; 4096];
    loop {
        let (stop, plugged) = {
            let s = lock.lock().unwrap_or_else(|e| e.into_inner());
            (s.stop, s.plugged)
        };
        if stop {
            return;
        }
        // Carry out an unplug or replug, then tell the waiting controller.
        if plugged != device.is_some() {
            if plugged {
                device = plug(link, Some(&last_name)).ok();
                if let Some(d) = &device {
                    last_name = d.name.clone();
                }
                modem = SimModem::new();
            } else {
                device = None;
                let _ = std::fs::remove_file(link);
            }
            let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
            s.generation += 1;
            cvar.notify_all();
            continue;
        }
        let Some(dev) = device.as_mut() else {
            let s = lock.lock().unwrap_or_else(|e| e.into_inner());
            let _ =
                cvar.wait_timeout_while(s, Duration::from_millis(200), |s| !s.stop && !s.plugged);
            continue;
        };
        let ready = {
            let mut fds = [PollFd::new(dev.master.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::from(20u16)).unwrap_or(0) > 0
                && fds[0]
                    .revents()
                    .is_some_and(|r| r.contains(PollFlags::POLLIN))
        };
        if !ready {
            // Also reached when nobody holds the slave open (POLLHUP).
            let s = lock.lock().unwrap_or_else(|e| e.into_inner());
            let _ = cvar.wait_timeout_while(s, Duration::from_millis(5), |s| !s.stop && s.plugged);
            continue;
        }
        let n = match dev.master.read(&mut buf) {
            Ok(n) if n > 0 => n,
            _ => continue,
        };
        let faults = {
            let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
            s.commands += buf[..n].iter().filter(|&&b| b == b'\r').count();
            s.faults.clone()
        };
        let reply = modem.feed(&buf[..n], &faults);
        if !faults.delay.is_zero() {
            // The simulated latency of a slow modem, interruptible by stop.
            let until = Instant::now() + faults.delay;
            let s = lock.lock().unwrap_or_else(|e| e.into_inner());
            let _ = cvar.wait_timeout_while(s, faults.delay, |s| !s.stop && Instant::now() < until);
        }
        // Recorded before answering: whoever reads the answer finds the
        // record. Moved, not copied: the line's own list stays empty, so a
        // long run's memory is the shared list's alone (`forget_sent`).
        if !modem.sent.is_empty() {
            let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
            s.sent.append(&mut modem.sent);
            cvar.notify_all();
        }
        if !faults.mute && !reply.is_empty() {
            let _ = dev.master.write_all(&reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modem::pdu::encode_submit;

    fn talk(m: &mut SimModem, faults: &Faults, input: &str) -> String {
        String::from_utf8(m.feed(input.as_bytes(), faults)).unwrap()
    }

    #[test]
    fn it_starts_with_echo_on_and_in_pdu_mode() {
        let mut m = SimModem::new();
        let f = Faults::default();
        assert_eq!(talk(&mut m, &f, "AT\r"), "AT\r\r\nOK\r\n");
        assert_eq!(
            talk(&mut m, &f, "AT+CMGF?\r"),
            "AT+CMGF?\r\r\n+CMGF: 0\r\n\r\nOK\r\n"
        );
        assert_eq!(talk(&mut m, &f, "ATE0\r"), "ATE0\r\r\nOK\r\n");
        assert_eq!(talk(&mut m, &f, "AT\r"), "\r\nOK\r\n");
    }

    #[test]
    fn it_accepts_a_valid_pdu_and_refuses_a_wrong_length() {
        let mut m = SimModem::new();
        let f = Faults::default();
        talk(&mut m, &f, "ATE0\rAT+CMEE=1\r");
        let pdu = &encode_submit("+84912345678", "hello", Duration::from_secs(300), 1).unwrap()[0];
        assert_eq!(
            talk(&mut m, &f, &format!("AT+CMGS={}\r", pdu.tpdu_len)),
            "\r\n> "
        );
        assert_eq!(
            talk(&mut m, &f, &format!("{}\x1a", pdu.hex)),
            "\r\n+CMGS: 1\r\n\r\nOK\r\n"
        );
        assert_eq!(m.sent[0].decoded.text, "hello");
        talk(&mut m, &f, &format!("AT+CMGS={}\r", pdu.tpdu_len + 1));
        assert_eq!(
            talk(&mut m, &f, &format!("{}\x1a", pdu.hex)),
            "\r\n+CMS ERROR: 304\r\n"
        );
        assert_eq!(m.sent.len(), 1);
    }

    #[test]
    fn errors_follow_cmee() {
        let mut m = SimModem::new();
        let f = Faults {
            sim: SimCard::Missing,
            ..Faults::default()
        };
        talk(&mut m, &f, "ATE0\r");
        assert_eq!(talk(&mut m, &f, "AT+CPIN?\r"), "\r\nERROR\r\n");
        talk(&mut m, &f, "AT+CMEE=1\r");
        assert_eq!(talk(&mut m, &f, "AT+CPIN?\r"), "\r\n+CME ERROR: 10\r\n");
        talk(&mut m, &f, "AT+CMEE=2\r");
        assert_eq!(
            talk(&mut m, &f, "AT+CPIN?\r"),
            "\r\n+CME ERROR: SIM not inserted\r\n"
        );
    }
}
