//! The virtual chip: an eMRTD application with BAC and secure messaging
//! over the files of a [`Document`], and the faults a real card shows.

use std::time::Duration;

use super::super::apdu::{Command, Response};
use super::super::bac;
use super::super::chip::AID;
use super::super::sm::Session;
use super::issue::Document;

/// How the card misbehaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Each answer takes this long (an old chip, a weak field).
    pub slow: Option<Duration>,
    /// The card leaves the reader after this many APDUs.
    pub pulled_after: Option<usize>,
    /// Refuse extended-length APDUs (a chip without them).
    pub short_only: bool,
}

/// The ATR of a contactless eMRTD as a PC/SC reader reports it (PC/SC
/// part 3: ISO 14443-4 type B, no historical bytes of its own).
pub const ATR: [u8; 9] = [0x3B, 0x84, 0x80, 0x01, 0x80, 0x71, 0x00, 0x00, 0x00];

/// One chip's state between APDUs.
#[derive(Debug)]
pub struct VirtualChip {
    doc: Document,
    pub faults: Faults,
    selected_app: bool,
    challenge: Option<[u8; 8]>,
    sm: Option<Session>,
    file: Option<u16>,
    /// APDUs answered since power-on.
    pub apdus: usize,
}

const OK: u16 = 0x9000;

impl VirtualChip {
    pub fn new(doc: Document, faults: Faults) -> VirtualChip {
        let mut chip = VirtualChip {
            doc,
            faults,
            selected_app: false,
            challenge: None,
            sm: None,
            file: None,
            apdus: 0,
        };
        chip.reset();
        chip
    }

    /// Power off, on, or a warm reset: everything but the files is lost.
    pub fn reset(&mut self) {
        self.selected_app = false;
        self.challenge = None;
        self.sm = None;
        self.file = None;
        self.apdus = 0;
    }

    /// Whether the card is still in the field after `apdus` commands.
    pub fn present(&self) -> bool {
        self.faults.pulled_after.is_none_or(|n| self.apdus < n)
    }

    /// Answers one command APDU.
    pub fn process(&mut self, raw: &[u8]) -> Vec<u8> {
        self.apdus += 1;
        if let Some(d) = self.faults.slow {
            std::thread::sleep(d);
        }
        let Some(outer) = Command::parse(raw) else {
            return sw(0x6700);
        };
        if self.faults.short_only && outer.is_extended() {
            return sw(0x6700);
        }
        if outer.cla & 0x0C == 0x0C {
            let Some(sm) = self.sm.as_mut() else {
                return sw(0x6882);
            };
            let cmd = match sm.open_command(raw) {
                Ok(cmd) => cmd,
                Err(_) => {
                    // A broken session ends: the reader must start again.
                    self.sm = None;
                    return sw(0x6988);
                }
            };
            let (data, status) = self.secure(&cmd);
            let sm = self.sm.as_mut().expect("the session is open");
            return sm.protect_response(&data, status);
        }
        // A plain command ends any session.
        self.sm = None;
        self.plain(&outer).encode()
    }

    fn plain(&mut self, cmd: &Command) -> Response {
        let refuse = |code| Response {
            data: Vec::new(),
            sw: code,
        };
        match (cmd.ins, cmd.p1, cmd.p2) {
            (0xA4, 0x04, _) => {
                self.selected_app = cmd.data == AID;
                refuse(if self.selected_app { OK } else { 0x6A82 })
            }
            (0x84, 0, 0) if self.selected_app => {
                let mut c = [0u8; 8];
                getrandom::fill(&mut c).expect("randomness");
                self.challenge = Some(c);
                Response {
                    data: c.to_vec(),
                    sw: OK,
                }
            }
            (0x82, 0, 0) if self.selected_app => {
                let Some(rnd_ic) = self.challenge.take() else {
                    return refuse(0x6985);
                };
                let mut k_ic = [0u8; 16];
                getrandom::fill(&mut k_ic).expect("randomness");
                match bac::chip_answer(&self.doc.key, &rnd_ic, &k_ic, &cmd.data) {
                    Some((answer, session)) => {
                        self.sm = Some(session);
                        Response {
                            data: answer,
                            sw: OK,
                        }
                    }
                    None => refuse(0x6300),
                }
            }
            // The files are readable only under secure messaging.
            (0xA4 | 0xB0, _, _) if self.selected_app => refuse(0x6982),
            _ => refuse(0x6D00),
        }
    }

    fn secure(&mut self, cmd: &Command) -> (Vec<u8>, u16) {
        match (cmd.ins, cmd.p1, cmd.p2) {
            (0xA4, 0x02, 0x0C) => {
                let [hi, lo] = cmd.data[..] else {
                    return (Vec::new(), 0x6700);
                };
                let id = u16::from_be_bytes([hi, lo]);
                if self.doc.files.contains_key(&id) {
                    self.file = Some(id);
                    (Vec::new(), OK)
                } else {
                    (Vec::new(), 0x6A82)
                }
            }
            (0xB0, p1, p2) if p1 & 0x80 == 0 => {
                let Some(bytes) = self.file.and_then(|id| self.doc.files.get(&id)) else {
                    return (Vec::new(), 0x6986);
                };
                let offset = usize::from(u16::from_be_bytes([p1, p2]));
                let Some(le) = cmd.le else {
                    return (Vec::new(), 0x6700);
                };
                if offset >= bytes.len() {
                    return (Vec::new(), 0x6B00);
                }
                let end = bytes.len().min(offset + le);
                let status = if end - offset < le && le != 256 && le != 65536 {
                    0x6282
                } else {
                    OK
                };
                (bytes[offset..end].to_vec(), status)
            }
            _ => (Vec::new(), 0x6D00),
        }
    }
}

fn sw(code: u16) -> Vec<u8> {
    code.to_be_bytes().to_vec()
}

/// A direct line to a virtual chip, without a reader in between (for the
/// protocol's own tests).
impl super::super::chip::Transport for VirtualChip {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, super::super::chip::CardError> {
        if !self.present() {
            return Err(super::super::chip::CardError::Removed);
        }
        Ok(self.process(apdu))
    }
}
