//! The virtual chip: an eMRTD application with PACE (EF.CardAccess offers
//! ECDH generic mapping on brainpoolP256r1 with AES-128, the MRZ or the CAN
//! as password), BAC, and secure messaging over the files of a
//! [`Document`], and the faults a real card shows.

use std::time::Duration;

use zeroize::Zeroizing;

use super::super::apdu::{Command, Response};
use super::super::bac;
use super::super::chip::AID;
use super::super::pace::{self, Curve, KeyPair, Password};
use super::super::sm::{Key16, Session};
use super::super::tlv;
use super::issue::Document;

/// The domain parameters the virtual chip's PACE uses.
const CURVE: Curve = Curve::BrainpoolP256r1;

/// Where PACE is between GENERAL AUTHENTICATE steps.
enum Pace {
    /// MSE:Set AT chose the password (its K_π).
    Set(Key16),
    /// The nonce was sent, encrypted.
    Nonce(Zeroizing<[u8; 16]>),
    /// The mapped generator.
    Mapped(Vec<u8>),
    /// The keys agreed, and both public keys (the reader's, the chip's).
    Agreed {
        k_enc: Key16,
        k_mac: Key16,
        reader: Vec<u8>,
        chip: Vec<u8>,
    },
}

impl std::fmt::Debug for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pace::Set(_) => "Pace::Set",
            Pace::Nonce(_) => "Pace::Nonce",
            Pace::Mapped(_) => "Pace::Mapped",
            Pace::Agreed { .. } => "Pace::Agreed",
        })
    }
}

/// How the card misbehaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// Each answer takes this long (an old chip, a weak field).
    pub slow: Option<Duration>,
    /// The card leaves the reader after this many APDUs.
    pub pulled_after: Option<usize>,
    /// Refuse extended-length APDUs (a chip without them).
    pub short_only: bool,
    /// An older chip: no EF.CardAccess, BAC only.
    pub bac_only: bool,
    /// A clone: the files copied onto another chip, which cannot hold the
    /// original's active-authentication key and signs with its own.
    pub cloned: bool,
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
    pace: Option<Pace>,
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
            pace: None,
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
        self.pace = None;
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

    fn card_access(&self) -> Option<Vec<u8>> {
        (!self.faults.bac_only).then(|| pace::card_access(CURVE))
    }

    fn plain(&mut self, cmd: &Command) -> Response {
        let refuse = |code| Response {
            data: Vec::new(),
            sw: code,
        };
        match (cmd.ins, cmd.p1, cmd.p2) {
            // EF.CardAccess, readable in clear from the master file.
            (0xA4, 0x02, 0x0C) if !self.selected_app && cmd.data == [0x01, 0x1C] => {
                if self.card_access().is_some() {
                    self.file = Some(0x011C);
                    refuse(OK)
                } else {
                    refuse(0x6A82)
                }
            }
            (0xB0, p1, p2) if !self.selected_app && self.file == Some(0x011C) => {
                let bytes = self.card_access().unwrap_or_default();
                let (data, status) = read(&bytes, p1, p2, cmd.le);
                Response { data, sw: status }
            }
            (0x22, 0xC1, 0xA4) if !self.faults.bac_only => match self.set_at(&cmd.data) {
                Some(k_pi) => {
                    self.pace = Some(Pace::Set(k_pi));
                    refuse(OK)
                }
                None => refuse(0x6A80),
            },
            (0x86, 0, 0) if !self.faults.bac_only => match self.authenticate(cmd) {
                Ok(data) => Response { data, sw: OK },
                Err(code) => {
                    self.pace = None;
                    refuse(code)
                }
            },
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

    /// MSE:Set AT for PACE: the protocol, the password (1 MRZ, 2 CAN) and
    /// the domain parameters; answers K_π.
    fn set_at(&self, data: &[u8]) -> Option<Key16> {
        let objects = tlv::parse_all(data)?;
        let value = |tag| objects.iter().find(|o| o.tag == tag).map(|o| o.value);
        if value(0x80)? != pace::ECDH_GM_AES_128 || value(0x84).is_some_and(|p| p != [CURVE.id()]) {
            return None;
        }
        match value(0x83)? {
            [1] => Some(Password::Mrz(&self.doc.key).key()),
            [2] => Some(Password::Can(&self.doc.can).key()),
            _ => None,
        }
    }

    /// One step of PACE's GENERAL AUTHENTICATE, the chip's side.
    fn authenticate(&mut self, cmd: &Command) -> Result<Vec<u8>, u16> {
        let last = cmd.cla & 0x10 == 0;
        let step = self.pace.take().ok_or(0x6985u16)?;
        let data = |tag| {
            pace::auth_data(&cmd.data, tag)
                .map(<[u8]>::to_vec)
                .ok_or(0x6A80u16)
        };
        let (next, answer) = match (step, last) {
            (Pace::Set(k_pi), false) if cmd.data == [0x7C, 0x00] => {
                let mut s = Zeroizing::new([0u8; 16]);
                getrandom::fill(&mut *s).expect("randomness");
                let z = pace::encrypt_nonce(&k_pi, &s);
                (Pace::Nonce(s), pace::wrap(0x80, &z))
            }
            (Pace::Nonce(s), false) => {
                let theirs = data(0x81)?;
                let ours = KeyPair::generate(CURVE, None).map_err(|_| 0x6A80u16)?;
                let h = CURVE.mul(Some(&theirs), &ours.private).ok_or(0x6A80u16)?;
                let g = CURVE.map(&*s, &h).ok_or(0x6A80u16)?;
                (Pace::Mapped(g), pace::wrap(0x82, &ours.public))
            }
            (Pace::Mapped(g), false) => {
                let reader = data(0x83)?;
                let ours = KeyPair::generate(CURVE, Some(&g)).map_err(|_| 0x6A80u16)?;
                let shared = CURVE.agree(&reader, &ours.private).ok_or(0x6A80u16)?;
                let (k_enc, k_mac) = pace::session_keys(&shared);
                let answer = pace::wrap(0x84, &ours.public);
                (
                    Pace::Agreed {
                        k_enc,
                        k_mac,
                        reader,
                        chip: ours.public,
                    },
                    answer,
                )
            }
            (
                Pace::Agreed {
                    k_enc,
                    k_mac,
                    reader,
                    chip,
                },
                true,
            ) => {
                // The reader's token proves it holds the same keys: the
                // password was the card's.
                if data(0x85)? != pace::token(&k_mac, &chip) {
                    return Err(0x6300);
                }
                self.sm = Some(Session::aes(k_enc, k_mac));
                return Ok(pace::wrap(0x86, &pace::token(&k_mac, &reader)));
            }
            _ => return Err(0x6985),
        };
        self.pace = Some(next);
        Ok(answer)
    }

    fn secure(&mut self, cmd: &Command) -> (Vec<u8>, u16) {
        match (cmd.ins, cmd.p1, cmd.p2) {
            // The application selected after PACE, under its session.
            (0xA4, 0x04, 0x0C) => {
                self.selected_app = cmd.data == AID;
                (Vec::new(), if self.selected_app { OK } else { 0x6A82 })
            }
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
                read(bytes, p1, p2, cmd.le)
            }
            // INTERNAL AUTHENTICATE: the challenge signed (ECDSA, SHA-256).
            (0x88, 0, 0) if self.selected_app && cmd.data.len() == 8 => {
                use p256::ecdsa::signature::Signer as _;
                let key = if self.faults.cloned {
                    super::issue::active_auth_key()
                } else {
                    self.doc.aa_key.clone()
                };
                let Ok(key) = p256::ecdsa::SigningKey::from_slice(&key) else {
                    return (Vec::new(), 0x6F00);
                };
                let signature: p256::ecdsa::Signature = key.sign(&cmd.data);
                (signature.to_bytes().to_vec(), OK)
            }
            _ => (Vec::new(), 0x6D00),
        }
    }
}

/// READ BINARY of `bytes` at the offset P1-P2, `le` bytes.
fn read(bytes: &[u8], p1: u8, p2: u8, le: Option<usize>) -> (Vec<u8>, u16) {
    let offset = usize::from(u16::from_be_bytes([p1, p2]));
    let Some(le) = le else {
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
