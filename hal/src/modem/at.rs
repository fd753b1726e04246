//! The AT-command engine (3GPP TS 27.007 / 27.005), as a deterministic core:
//! the caller starts a command, feeds whatever bytes the port gave, and
//! passes the time; the engine answers with bytes to write, unsolicited
//! result codes, and each command's response once it is complete. No I/O and
//! no clock inside, so every byte stream a modem can produce — echo, blank
//! lines, unsolicited lines in the middle of an answer, the `> ` prompt with
//! no line end, silence — is testable byte by byte.

use std::time::Duration;

/// Ctrl-Z: ends the PDU after the `> ` prompt.
pub const CTRL_Z: u8 = 0x1A;
/// Escape: abandons the PDU after the `> ` prompt.
pub const ESC: u8 = 0x1B;

/// One command and how to wait for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The command line without the final CR, e.g. `AT+CSQ`.
    pub line: String,
    /// How long the final result may take (after the prompt, for a prompt command).
    pub timeout: Duration,
    /// For `AT+CMGS`: what to write after the `> ` prompt (Ctrl-Z is added).
    pub payload: Option<Vec<u8>>,
}

impl Command {
    pub fn new(line: impl Into<String>, timeout: Duration) -> Self {
        Command {
            line: line.into(),
            timeout,
            payload: None,
        }
    }

    /// A command that answers `> ` and then reads `payload`.
    pub fn with_payload(line: impl Into<String>, timeout: Duration, payload: Vec<u8>) -> Self {
        Command {
            line: line.into(),
            timeout,
            payload: Some(payload),
        }
    }

    /// `AT+CSQ` → `+CSQ:`; `AT+CREG?` → `+CREG:`; `AT^SYSINFO` → `^SYSINFO:`.
    fn response_prefix(&self) -> Option<String> {
        let rest = self.line.get(2..)?;
        let first = rest.chars().next()?;
        if first != '+' && first != '^' {
            return None;
        }
        let name: String = rest
            .chars()
            .take_while(|c| !matches!(c, '=' | '?'))
            .collect();
        Some(format!("{name}:"))
    }
}

/// A named cause behind a `+CME ERROR` or `+CMS ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    SimMissing,
    SimPinRequired,
    SimPukRequired,
    SimFailure,
    SimBusy,
    /// Not registered to any network (no service, or emergency calls only).
    NoNetwork,
    NetworkTimeout,
    /// The network is congested or temporarily out of order: try later.
    NetworkBusy,
    /// The network refused this message (barred, unknown subscriber, …).
    NetworkRejected,
    SmscUnknown,
    InvalidPdu,
    NotAllowed,
    NotSupported,
    MemoryFull,
    Unknown,
}

impl Cause {
    /// A `+CME ERROR` code (TS 27.007 §9.2).
    pub fn from_cme(code: u16) -> Cause {
        match code {
            3 => Cause::NotAllowed,
            4 => Cause::NotSupported,
            10 => Cause::SimMissing,
            11 => Cause::SimPinRequired,
            12 => Cause::SimPukRequired,
            13 | 15 => Cause::SimFailure,
            14 => Cause::SimBusy,
            20 => Cause::MemoryFull,
            30 | 32 => Cause::NoNetwork,
            31 => Cause::NetworkTimeout,
            _ => Cause::Unknown,
        }
    }

    /// A `+CMS ERROR` code (TS 27.005 §3.2.5; 0–127 are network causes of TS 24.011).
    pub fn from_cms(code: u16) -> Cause {
        match code {
            38 | 41 | 42 | 47 => Cause::NetworkBusy,
            0..=127 => Cause::NetworkRejected,
            302 => Cause::NotAllowed,
            303 => Cause::NotSupported,
            304 | 305 => Cause::InvalidPdu,
            310 => Cause::SimMissing,
            311 | 312 => Cause::SimPinRequired,
            316 => Cause::SimPukRequired,
            313 | 315 => Cause::SimFailure,
            314 => Cause::SimBusy,
            322 => Cause::MemoryFull,
            330 => Cause::SmscUnknown,
            331 => Cause::NoNetwork,
            332 => Cause::NetworkTimeout,
            _ => Cause::Unknown,
        }
    }

    /// The verbose form (`AT+CMEE=2`) of either table.
    pub fn from_text(text: &str) -> Cause {
        let t = text.trim().to_ascii_lowercase();
        match t.as_str() {
            "sim not inserted" => Cause::SimMissing,
            "sim pin required" | "ph-sim pin required" => Cause::SimPinRequired,
            "sim puk required" => Cause::SimPukRequired,
            "sim failure" | "sim wrong" => Cause::SimFailure,
            "sim busy" => Cause::SimBusy,
            "no network service" | "network not allowed - emergency calls only" => Cause::NoNetwork,
            "network timeout" => Cause::NetworkTimeout,
            "smsc address unknown" => Cause::SmscUnknown,
            "invalid pdu mode parameter" | "invalid text mode parameter" => Cause::InvalidPdu,
            "operation not allowed" => Cause::NotAllowed,
            "operation not supported" => Cause::NotSupported,
            "memory full" => Cause::MemoryFull,
            _ => Cause::Unknown,
        }
    }
}

/// A `+CME ERROR` or `+CMS ERROR` as the modem gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReport {
    /// The numeric code, when the modem gave one.
    pub code: Option<u16>,
    /// The text after the colon, as given.
    pub text: String,
    pub cause: Cause,
}

impl ErrorReport {
    fn parse(rest: &str, numeric: fn(u16) -> Cause) -> Self {
        let text = rest.trim().to_string();
        match text.parse::<u16>() {
            Ok(code) => ErrorReport {
                code: Some(code),
                cause: numeric(code),
                text,
            },
            Err(_) => ErrorReport {
                code: None,
                cause: Cause::from_text(&text),
                text,
            },
        }
    }
}

/// How a command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtError {
    #[error("ERROR")]
    Error,
    #[error("+CME ERROR: {}", .0.text)]
    Cme(ErrorReport),
    #[error("+CMS ERROR: {}", .0.text)]
    Cms(ErrorReport),
    #[error("{0}")]
    Other(String),
    #[error("no answer within the command's timeout")]
    Timeout,
    #[error("no '> ' prompt within the command's timeout")]
    NoPrompt,
}

impl AtError {
    pub fn cause(&self) -> Option<Cause> {
        match self {
            AtError::Cme(r) | AtError::Cms(r) => Some(r.cause),
            _ => None,
        }
    }
}

/// A completed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub command: String,
    /// Information lines, in order (`+CSQ: 17,99`, …).
    pub lines: Vec<String>,
    pub result: Result<(), AtError>,
}

impl Response {
    /// The first information line with `prefix`, without it, trimmed.
    pub fn value(&self, prefix: &str) -> Option<&str> {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    }
}

/// What the engine asks of its caller, or tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes to the port.
    Write(Vec<u8>),
    /// An unsolicited result code (`RING`, `+CMTI: "SM",3`, `^RSSI: 17`, …).
    Urc(String),
    Response(Response),
}

/// Lines a modem sends on its own. Any other line outside a command is
/// reported as unsolicited too; inside one, these are told apart from the
/// answer.
const URC_PREFIXES: &[&str] = &[
    "RING",
    "+CMTI:",
    "+CMT:",
    "+CDS:",
    "+CBM:",
    "+CREG:",
    "+CEREG:",
    "+CGREG:",
    "+CIEV:",
    "+CUSD:",
    "+CRING:",
    "+CLIP:",
    "+CPIN:",
    "+QIND:",
    "+CFUN:",
    "^RSSI:",
    "^BOOT:",
    "^MODE:",
    "^SYSSTART",
    "^SIMST:",
    "^SRVST:",
    "^HCSQ:",
    "^DSFLOWRPT:",
    "RDY",
    "SMS DONE",
    "Call Ready",
    "+PBREADY",
    "NO CARRIER",
];

fn looks_unsolicited(line: &str) -> bool {
    URC_PREFIXES.iter().any(|p| line.starts_with(p))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitPrompt,
    AwaitFinal,
}

#[derive(Debug)]
struct Pending {
    command: Command,
    prefix: Option<String>,
    lines: Vec<String>,
    phase: Phase,
    deadline: Duration,
}

/// The engine was asked to start a command while one is running.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a command is already running")]
pub struct Busy;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct Engine {
    buf: Vec<u8>,
    pending: Option<Pending>,
}

impl Engine {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_busy(&self) -> bool {
        self.pending.is_some()
    }

    /// When the running command times out, if one runs.
    pub fn deadline(&self) -> Option<Duration> {
        self.pending.as_ref().map(|p| p.deadline)
    }

    /// Starts `command` at `now`; answers the bytes to write.
    pub fn start(&mut self, command: Command, now: Duration) -> Result<Vec<u8>, Busy> {
        if self.pending.is_some() {
            return Err(Busy);
        }
        let mut bytes = command.line.clone().into_bytes();
        bytes.push(b'\r');
        let phase = if command.payload.is_some() {
            Phase::AwaitPrompt
        } else {
            Phase::AwaitFinal
        };
        self.pending = Some(Pending {
            prefix: command.response_prefix(),
            deadline: now + command.timeout,
            command,
            lines: Vec::new(),
            phase,
        });
        Ok(bytes)
    }

    /// Fails the running command if its deadline has passed. A command cut
    /// off at the prompt is abandoned with ESC, so the modem does not take
    /// the next command line as PDU.
    pub fn poll(&mut self, now: Duration) -> Vec<Output> {
        match &self.pending {
            Some(p) if now >= p.deadline => {
                let p = self.pending.take().expect("checked");
                let mut out = Vec::new();
                let error = if p.phase == Phase::AwaitPrompt {
                    out.push(Output::Write(vec![ESC]));
                    AtError::NoPrompt
                } else {
                    AtError::Timeout
                };
                out.push(Output::Response(Response {
                    command: p.command.line,
                    lines: p.lines,
                    result: Err(error),
                }));
                out
            }
            _ => Vec::new(),
        }
    }

    /// Takes bytes read from the port.
    pub fn feed(&mut self, data: &[u8], now: Duration) -> Vec<Output> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            if self.take_prompt(now, &mut out) {
                continue;
            }
            let Some(end) = self.buf.iter().position(|&b| b == b'\r' || b == b'\n') else {
                break;
            };
            let raw: Vec<u8> = self.buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw[..raw.len() - 1])
                .trim()
                .to_string();
            if !line.is_empty() {
                self.line(line, &mut out);
            }
        }
        out
    }

    /// The `> ` prompt has no line end: it is recognised at the start of
    /// the buffer (after any line ends) while a prompt command waits for it.
    fn take_prompt(&mut self, now: Duration, out: &mut Vec<Output>) -> bool {
        let Some(p) = self
            .pending
            .as_mut()
            .filter(|p| p.phase == Phase::AwaitPrompt)
        else {
            return false;
        };
        let start = self
            .buf
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(self.buf.len());
        if self.buf.get(start) != Some(&b'>') {
            return false;
        }
        let mut end = start + 1;
        if self.buf.get(end) == Some(&b' ') {
            end += 1;
        }
        self.buf.drain(..end);
        let mut payload = p
            .command
            .payload
            .clone()
            .expect("prompt commands carry a payload");
        payload.push(CTRL_Z);
        out.push(Output::Write(payload));
        p.phase = Phase::AwaitFinal;
        p.deadline = now + p.command.timeout;
        true
    }

    fn line(&mut self, line: String, out: &mut Vec<Output>) {
        let Some(p) = self.pending.as_mut() else {
            out.push(Output::Urc(line));
            return;
        };
        // Echo of our own command (echo is on until ATE0 takes effect).
        if line == p.command.line {
            return;
        }
        let result = match line.as_str() {
            "OK" => Some(Ok(())),
            "ERROR" => Some(Err(AtError::Error)),
            "BUSY" | "NO ANSWER" | "NO DIALTONE" => Some(Err(AtError::Other(line.clone()))),
            _ => line
                .strip_prefix("+CME ERROR:")
                .map(|rest| Err(AtError::Cme(ErrorReport::parse(rest, Cause::from_cme))))
                .or_else(|| {
                    line.strip_prefix("+CMS ERROR:")
                        .map(|rest| Err(AtError::Cms(ErrorReport::parse(rest, Cause::from_cms))))
                }),
        };
        if let Some(result) = result {
            let p = self.pending.take().expect("checked");
            out.push(Output::Response(Response {
                command: p.command.line,
                lines: p.lines,
                result,
            }));
            return;
        }
        let answers = p
            .prefix
            .as_deref()
            .is_some_and(|prefix| line.starts_with(prefix));
        if answers && !registration_urc_during_query(&line) {
            p.lines.push(line);
        } else if looks_unsolicited(&line) {
            out.push(Output::Urc(line));
        } else {
            p.lines.push(line);
        }
    }
}

/// The answer to `AT+CREG?` is `+CREG: <n>,<stat>[,…]`; the unsolicited
/// code is `+CREG: <stat>[,<lac>,<ci>[,<AcT>]]`. The kiosk keeps `n` at 0
/// (bring-up sets it), so a query answer has exactly two fields and anything
/// else during the query is unsolicited.
fn registration_urc_during_query(line: &str) -> bool {
    let Some((name, rest)) = line.split_once(':') else {
        return false;
    };
    matches!(name, "+CREG" | "+CEREG" | "+CGREG") && rest.split(',').count() != 2
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(2);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Runs `command` against a recorded stream fed in `chunks`.
    fn run(command: Command, stream: &[u8], chunks: &[usize]) -> (Vec<u8>, Vec<Output>) {
        let mut e = Engine::new();
        let wrote = e.start(command, ms(0)).unwrap();
        let mut out = Vec::new();
        let mut at = 0;
        for &n in chunks {
            out.extend(e.feed(&stream[at..at + n], ms(1)));
            at += n;
        }
        out.extend(e.feed(&stream[at..], ms(1)));
        (wrote, out)
    }

    /// The same events whatever the split: whole, at every byte boundary,
    /// and byte by byte.
    fn same_at_every_split(command: Command, stream: &[u8]) -> Vec<Output> {
        let (_, whole) = run(command.clone(), stream, &[]);
        for split in 1..stream.len() {
            let (_, split_out) = run(command.clone(), stream, &[split]);
            assert_eq!(split_out, whole, "split at byte {split}");
        }
        let (_, bytewise) = run(command, stream, &vec![1; stream.len() - 1]);
        assert_eq!(bytewise, whole, "byte by byte");
        whole
    }

    fn response(out: &[Output]) -> &Response {
        out.iter()
            .find_map(|o| match o {
                Output::Response(r) => Some(r),
                _ => None,
            })
            .expect("a response")
    }

    fn urcs(out: &[Output]) -> Vec<&str> {
        out.iter()
            .filter_map(|o| match o {
                Output::Urc(u) => Some(u.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn echo_and_blank_lines_are_skipped() {
        let out = same_at_every_split(
            Command::new("AT+CSQ", T),
            b"AT+CSQ\r\r\n+CSQ: 17,99\r\n\r\nOK\r\n",
        );
        let r = response(&out);
        assert_eq!(
            (r.lines.clone(), r.result.clone()),
            (vec!["+CSQ: 17,99".to_string()], Ok(()))
        );
        assert_eq!(r.value("+CSQ:"), Some("17,99"));
    }

    #[test]
    fn unsolicited_lines_inside_an_answer_are_told_apart() {
        let stream = b"\r\n^RSSI: 14\r\n+CPIN: READY\r\nRING\r\n+CMTI: \"SM\",3\r\n\r\nOK\r\n^BOOT:1,0,0,0\r\n";
        let out = same_at_every_split(Command::new("AT+CPIN?", T), stream);
        assert_eq!(response(&out).lines, vec!["+CPIN: READY"]);
        assert_eq!(
            urcs(&out),
            vec!["^RSSI: 14", "RING", "+CMTI: \"SM\",3", "^BOOT:1,0,0,0"]
        );
    }

    #[test]
    fn a_registration_urc_during_the_registration_query_is_unsolicited() {
        let stream = b"\r\n+CREG: 1\r\n+CREG: 0,5\r\n+CREG: 1,\"1A2B\",\"00C3D4\"\r\n\r\nOK\r\n";
        let out = same_at_every_split(Command::new("AT+CREG?", T), stream);
        assert_eq!(response(&out).lines, vec!["+CREG: 0,5"]);
        assert_eq!(urcs(&out), vec!["+CREG: 1", "+CREG: 1,\"1A2B\",\"00C3D4\""]);
    }

    #[test]
    fn errors_are_numeric_or_verbose_and_named() {
        let cases: [(&[u8], AtError); 5] = [
            (b"\r\nERROR\r\n", AtError::Error),
            (
                b"\r\n+CME ERROR: 10\r\n",
                AtError::Cme(ErrorReport {
                    code: Some(10),
                    text: "10".into(),
                    cause: Cause::SimMissing,
                }),
            ),
            (
                b"\r\n+CME ERROR: SIM PIN required\r\n",
                AtError::Cme(ErrorReport {
                    code: None,
                    text: "SIM PIN required".into(),
                    cause: Cause::SimPinRequired,
                }),
            ),
            (
                b"\r\n+CMS ERROR: 331\r\n",
                AtError::Cms(ErrorReport {
                    code: Some(331),
                    text: "331".into(),
                    cause: Cause::NoNetwork,
                }),
            ),
            (
                b"\r\n+CMS ERROR: network timeout\r\n",
                AtError::Cms(ErrorReport {
                    code: None,
                    text: "network timeout".into(),
                    cause: Cause::NetworkTimeout,
                }),
            ),
        ];
        for (stream, expected) in cases {
            let out = same_at_every_split(Command::new("AT+CPIN?", T), stream);
            assert_eq!(response(&out).result, Err(expected));
        }
    }

    #[test]
    fn cms_network_causes_split_into_busy_and_rejected() {
        assert_eq!(Cause::from_cms(42), Cause::NetworkBusy);
        assert_eq!(Cause::from_cms(28), Cause::NetworkRejected);
        assert_eq!(Cause::from_cms(330), Cause::SmscUnknown);
        assert_eq!(Cause::from_cms(500), Cause::Unknown);
        assert_eq!(Cause::from_cme(30), Cause::NoNetwork);
    }

    #[test]
    fn the_prompt_without_line_end_releases_the_pdu() {
        let cmd = Command::with_payload("AT+CMGS=19", Duration::from_secs(60), b"0011AB".to_vec());
        let stream = b"AT+CMGS=19\r\r\n> \r\n+CMGS: 7\r\n\r\nOK\r\n";
        let out = same_at_every_split(cmd, stream);
        assert_eq!(out[0], Output::Write(b"0011AB\x1a".to_vec()));
        let r = response(&out);
        assert_eq!((r.value("+CMGS:"), r.result.clone()), (Some("7"), Ok(())));
    }

    #[test]
    fn a_prompt_arriving_alone_is_answered_at_once() {
        let mut e = Engine::new();
        e.start(Command::with_payload("AT+CMGS=5", T, b"AA".to_vec()), ms(0))
            .unwrap();
        // Nothing after "> " yet: the payload must go now, not after a line end.
        assert_eq!(
            e.feed(b"\r\n>", ms(5)),
            vec![Output::Write(b"AA\x1a".to_vec())]
        );
        assert_eq!(e.feed(b" ", ms(6)), vec![]);
        assert!(e.is_busy());
    }

    #[test]
    fn an_error_instead_of_the_prompt_ends_the_command() {
        let cmd = Command::with_payload("AT+CMGS=19", T, b"00".to_vec());
        let out = same_at_every_split(cmd, b"\r\n+CMS ERROR: 330\r\n");
        assert!(!out.iter().any(|o| matches!(o, Output::Write(_))));
        assert_eq!(
            response(&out).result.as_ref().unwrap_err().cause(),
            Some(Cause::SmscUnknown)
        );
    }

    #[test]
    fn silence_times_out_and_a_missing_prompt_is_abandoned_with_escape() {
        let mut e = Engine::new();
        e.start(Command::new("AT", ms(500)), ms(0)).unwrap();
        assert!(e.poll(ms(499)).is_empty());
        let out = e.poll(ms(500));
        assert_eq!(response(&out).result, Err(AtError::Timeout));
        assert!(!e.is_busy());

        e.start(
            Command::with_payload("AT+CMGS=5", ms(500), b"AA".to_vec()),
            ms(1000),
        )
        .unwrap();
        let out = e.poll(ms(1500));
        assert_eq!(out[0], Output::Write(vec![ESC]));
        assert_eq!(response(&out).result, Err(AtError::NoPrompt));
    }

    #[test]
    fn the_deadline_restarts_when_the_prompt_arrives() {
        let mut e = Engine::new();
        e.start(
            Command::with_payload("AT+CMGS=5", ms(1000), b"AA".to_vec()),
            ms(0),
        )
        .unwrap();
        e.feed(b"> ", ms(900));
        assert_eq!(e.deadline(), Some(ms(1900)));
    }

    #[test]
    fn lines_with_no_command_running_are_unsolicited() {
        let mut e = Engine::new();
        let out = e.feed(
            b"\r\nRDY\r\n+CFUN: 1\r\n+CPIN: READY\r\nsomething odd\r\n",
            ms(0),
        );
        assert_eq!(
            urcs(&out),
            vec!["RDY", "+CFUN: 1", "+CPIN: READY", "something odd"]
        );
    }

    #[test]
    fn a_second_command_while_busy_is_refused() {
        let mut e = Engine::new();
        e.start(Command::new("AT", T), ms(0)).unwrap();
        assert_eq!(e.start(Command::new("AT", T), ms(0)), Err(Busy));
    }

    #[test]
    fn information_text_without_prefix_is_kept() {
        let out = same_at_every_split(
            Command::new("ATI", T),
            b"ATI\r\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A03M4G\r\n\r\nOK\r\n",
        );
        assert_eq!(
            response(&out).lines,
            vec!["Quectel", "EC25", "Revision: EC25EFAR06A03M4G"]
        );
    }

    #[test]
    fn garbage_bytes_never_panic() {
        let mut e = Engine::new();
        e.start(Command::with_payload("AT+CMGS=5", T, b"AA".to_vec()), ms(0))
            .unwrap();
        for b in 0..=255u8 {
            e.feed(&[b, b'\r', 0xFF, b'\n', b'>'], ms(1));
        }
    }
}
