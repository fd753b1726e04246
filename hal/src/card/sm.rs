//! Secure messaging (ICAO 9303-11 §9.8), both ends: the reader protects
//! commands and opens responses; the chip (the virtual card of the tests)
//! opens commands and protects responses. BAC's sessions use 3DES and the
//! retail MAC with an 8-byte counter; PACE's use AES-128 in CBC mode (the
//! IV the counter encrypted) and CMAC, with a 16-byte counter.

use aes::cipher::{BlockCipherEncrypt, KeyInit as _};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use cmac::Cmac;
use retail_mac::{Mac, RetailMac};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::apdu::{Command, Response};
use super::tlv;

type TdesCbcEnc = cbc::Encryptor<des::TdesEde2>;
type TdesCbcDec = cbc::Decryptor<des::TdesEde2>;
type AesCbcEnc = cbc::Encryptor<aes::Aes128>;
type AesCbcDec = cbc::Decryptor<aes::Aes128>;

/// A two-key 3DES key (K1 ‖ K2) as BAC derives them.
pub type Key16 = [u8; 16];

/// What secure messaging refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmError {
    #[error("the secure messaging checksum does not match")]
    BadMac,
    #[error("the secure messaging objects are malformed")]
    Malformed,
    #[error("the encrypted data is not padded as ISO 9797-1 method 2")]
    BadPadding,
    #[error("a success answered in clear under secure messaging")]
    Unprotected,
}

/// ISO/IEC 9797-1 padding method 2: 0x80, then zeros to a multiple of 8.
pub fn pad(data: &[u8]) -> Vec<u8> {
    pad_to(data, 8)
}

/// Method 2 padding to a multiple of `block` bytes.
pub fn pad_to(data: &[u8], block: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + block);
    out.extend_from_slice(data);
    out.push(0x80);
    while out.len() % block != 0 {
        out.push(0);
    }
    out
}

/// The data inside method 2 padding: the last 0x80 and up to a block of
/// zeros after it removed.
pub fn unpad_from(padded: &[u8], block: usize) -> Option<&[u8]> {
    let end = padded.iter().rposition(|&b| b != 0)?;
    (padded[end] == 0x80 && padded.len() - end <= block).then(|| &padded[..end])
}

/// [`unpad_from`] 8-byte blocks.
pub fn unpad(padded: &[u8]) -> Option<&[u8]> {
    unpad_from(padded, 8)
}

/// AES-128-CBC over data already a multiple of 16 bytes.
pub fn aes_encrypt(key: &Key16, iv: &[u8; 16], data: &[u8]) -> Vec<u8> {
    AesCbcEnc::new(key.into(), iv.into()).encrypt_padded_vec::<NoPadding>(data)
}

/// The inverse of [`aes_encrypt`]; `None` for data not a multiple of 16.
pub fn aes_decrypt(key: &Key16, iv: &[u8; 16], data: &[u8]) -> Option<Vec<u8>> {
    AesCbcDec::new(key.into(), iv.into())
        .decrypt_padded_vec::<NoPadding>(data)
        .ok()
}

/// AES-128 on one block (the IV of PACE's secure messaging: the counter,
/// encrypted).
pub fn aes_block(key: &Key16, block: &[u8; 16]) -> [u8; 16] {
    let cipher = aes::Aes128::new(key.into());
    let mut b = (*block).into();
    cipher.encrypt_block(&mut b);
    b.into()
}

/// AES-CMAC (NIST SP 800-38B) truncated to 8 bytes, as PACE's tokens and
/// secure messaging use it.
pub fn cmac8(key: &Key16, data: &[u8]) -> [u8; 8] {
    let mut m = <Cmac<aes::Aes128> as cmac::KeyInit>::new_from_slice(key).expect("a 16-byte key");
    m.update(data);
    let full: [u8; 16] = m.finalize().into_bytes().into();
    full[..8].try_into().expect("8 of 16 bytes")
}

/// 3DES-CBC with a zero IV over data already a multiple of 8 bytes.
pub fn encrypt(key: &Key16, data: &[u8]) -> Vec<u8> {
    TdesCbcEnc::new(key.into(), &[0u8; 8].into()).encrypt_padded_vec::<NoPadding>(data)
}

/// The inverse of [`encrypt`]; `None` for data not a multiple of 8 bytes.
pub fn decrypt(key: &Key16, data: &[u8]) -> Option<Vec<u8>> {
    TdesCbcDec::new(key.into(), &[0u8; 8].into())
        .decrypt_padded_vec::<NoPadding>(data)
        .ok()
}

/// ISO/IEC 9797-1 MAC algorithm 3 (the retail MAC) with single DES over
/// data the caller has padded.
pub fn mac(key: &Key16, padded: &[u8]) -> [u8; 8] {
    let mut m =
        <RetailMac<des::Des> as retail_mac::KeyInit>::new_from_slice(key).expect("a 16-byte key");
    m.update(padded);
    m.finalize().into_bytes().into()
}

/// The ciphers of a session: 3DES and the retail MAC after BAC, AES and
/// CMAC after PACE.
#[derive(Clone, Copy, PartialEq, Eq, Zeroize)]
enum Suite {
    Tdes,
    Aes,
}

/// An open session: its cipher suite, the two session keys and the send
/// sequence counter, counted once per command and once per response.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Session {
    #[zeroize(skip)]
    suite: Suite,
    ks_enc: Key16,
    ks_mac: Key16,
    ssc: u128,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session(keys hidden)")
    }
}

impl Session {
    /// A BAC session: 3DES keys, the counter from the two challenges.
    pub fn new(ks_enc: Key16, ks_mac: Key16, ssc: u64) -> Session {
        Session {
            suite: Suite::Tdes,
            ks_enc,
            ks_mac,
            ssc: u128::from(ssc),
        }
    }

    /// A PACE session: AES-128 keys, the counter from zero.
    pub fn aes(ks_enc: Key16, ks_mac: Key16) -> Session {
        Session {
            suite: Suite::Aes,
            ks_enc,
            ks_mac,
            ssc: 0,
        }
    }

    /// The send sequence counter now.
    pub fn ssc(&self) -> u128 {
        self.ssc
    }

    fn block(&self) -> usize {
        match self.suite {
            Suite::Tdes => 8,
            Suite::Aes => 16,
        }
    }

    fn counter(&self) -> Vec<u8> {
        match self.suite {
            Suite::Tdes => (self.ssc as u64).to_be_bytes().to_vec(),
            Suite::Aes => self.ssc.to_be_bytes().to_vec(),
        }
    }

    /// The checksum of `message` under the counter as it is now.
    fn checksum(&self, message: &[u8]) -> [u8; 8] {
        let mut n = self.counter();
        n.extend_from_slice(message);
        let n = pad_to(&n, self.block());
        match self.suite {
            Suite::Tdes => mac(&self.ks_mac, &n),
            Suite::Aes => cmac8(&self.ks_mac, &n),
        }
    }

    fn iv(&self) -> [u8; 16] {
        let counter: [u8; 16] = self.ssc.to_be_bytes();
        aes_block(&self.ks_enc, &counter)
    }

    fn encrypted_object(&self, tag: u8, data: &[u8]) -> Vec<u8> {
        let mut value = vec![0x01];
        let padded = pad_to(data, self.block());
        value.extend(match self.suite {
            Suite::Tdes => encrypt(&self.ks_enc, &padded),
            Suite::Aes => aes_encrypt(&self.ks_enc, &self.iv(), &padded),
        });
        tlv::encode(u32::from(tag), &value)
    }

    fn open_encrypted(&self, value: &[u8]) -> Result<Vec<u8>, SmError> {
        let (&indicator, cryptogram) = value.split_first().ok_or(SmError::Malformed)?;
        if indicator != 0x01 {
            return Err(SmError::Malformed);
        }
        let mut plain = match self.suite {
            Suite::Tdes => decrypt(&self.ks_enc, cryptogram),
            Suite::Aes => aes_decrypt(&self.ks_enc, &self.iv(), cryptogram),
        }
        .ok_or(SmError::Malformed)?;
        let len = unpad_from(&plain, self.block())
            .ok_or(SmError::BadPadding)?
            .len();
        plain.truncate(len);
        Ok(plain)
    }

    fn step(&mut self) {
        self.ssc = self.ssc.wrapping_add(1);
    }

    /// The protected form of `cmd`: header masked (CLA | 0x0C), data
    /// encrypted in DO'87', Le in DO'97', checksum in DO'8E'.
    pub fn protect(&mut self, cmd: &Command) -> Vec<u8> {
        self.step();
        let header = [cmd.cla | 0x0C, cmd.ins, cmd.p1, cmd.p2];
        let mut objects = Vec::new();
        if !cmd.data.is_empty() {
            objects.extend(self.encrypted_object(0x87, &cmd.data));
        }
        if let Some(le) = cmd.le {
            objects.extend(tlv::encode(0x97, &le_bytes(le)));
        }
        let mut message = pad_to(&header, self.block());
        message.extend_from_slice(&objects);
        let cc = self.checksum(&message);
        objects.extend(tlv::encode(0x8E, &cc));
        // Extended when the body or the expected answer cannot be short.
        let extended = objects.len() > 255 || cmd.le.is_some_and(|le| le > 231);
        Command {
            cla: header[0],
            ins: cmd.ins,
            p1: cmd.p1,
            p2: cmd.p2,
            data: objects,
            le: Some(if extended { 65536 } else { 256 }),
        }
        .encode()
    }

    /// Opens a protected response: checksum over DO'87' and DO'99', data
    /// decrypted. A bare status word (a chip refusing before secure
    /// messaging) comes back as it is, without data.
    pub fn unprotect(&mut self, raw: &[u8]) -> Result<Response, SmError> {
        let outer = Response::parse(raw).ok_or(SmError::Malformed)?;
        if outer.data.is_empty() {
            // Only an error may come in clear (6987, 6988, 6A82...): a
            // success or a warning without a checksum could be anyone's.
            if matches!(outer.sw >> 8, 0x90 | 0x61 | 0x62 | 0x63) {
                return Err(SmError::Unprotected);
            }
            // The counter still moves, as on the chip.
            self.step();
            return Ok(outer);
        }
        self.step();
        let objects = tlv::parse_all(&outer.data).ok_or(SmError::Malformed)?;
        let mut covered = Vec::new();
        let (mut data, mut status, mut cc) = (None, None, None);
        for o in &objects {
            match o.tag {
                0x87 => {
                    covered.extend_from_slice(o.raw);
                    data = Some(o.value);
                }
                0x99 => {
                    covered.extend_from_slice(o.raw);
                    status = Some(o.value);
                }
                0x8E => cc = Some(o.value),
                _ => return Err(SmError::Malformed),
            }
        }
        let (Some(status), Some(cc)) = (status, cc) else {
            return Err(SmError::Malformed);
        };
        if status.len() != 2 {
            return Err(SmError::Malformed);
        }
        if self.checksum(&covered)[..] != *cc {
            return Err(SmError::BadMac);
        }
        let data = match data {
            Some(v) => self.open_encrypted(v)?,
            None => Vec::new(),
        };
        Ok(Response {
            data,
            sw: u16::from_be_bytes([status[0], status[1]]),
        })
    }

    /// The chip's side: a protected command opened (checksum verified,
    /// data decrypted, the real CLA and Le restored).
    pub fn open_command(&mut self, raw: &[u8]) -> Result<Command, SmError> {
        let outer = Command::parse(raw).ok_or(SmError::Malformed)?;
        if outer.cla & 0x0C != 0x0C {
            return Err(SmError::Malformed);
        }
        self.step();
        let objects = tlv::parse_all(&outer.data).ok_or(SmError::Malformed)?;
        let mut message = pad_to(&[outer.cla, outer.ins, outer.p1, outer.p2], self.block());
        let (mut data, mut le, mut cc) = (None, None, None);
        for o in &objects {
            match o.tag {
                0x87 => {
                    message.extend_from_slice(o.raw);
                    data = Some(o.value);
                }
                0x97 => {
                    message.extend_from_slice(o.raw);
                    le = Some(le_value(o.value).ok_or(SmError::Malformed)?);
                }
                0x8E => cc = Some(o.value),
                _ => return Err(SmError::Malformed),
            }
        }
        let cc = cc.ok_or(SmError::Malformed)?;
        if self.checksum(&message)[..] != *cc {
            return Err(SmError::BadMac);
        }
        // The cryptogram is opened only once the checksum holds.
        let data = match data {
            Some(v) => self.open_encrypted(v)?,
            None => Vec::new(),
        };
        Ok(Command {
            cla: outer.cla & !0x0C,
            ins: outer.ins,
            p1: outer.p1,
            p2: outer.p2,
            data,
            le,
        })
    }

    /// The chip's side: `data` and `sw` as a protected response.
    pub fn protect_response(&mut self, data: &[u8], sw: u16) -> Vec<u8> {
        self.step();
        let mut objects = Vec::new();
        if !data.is_empty() {
            objects.extend(self.encrypted_object(0x87, data));
        }
        objects.extend(tlv::encode(0x99, &sw.to_be_bytes()));
        let cc = self.checksum(&objects);
        objects.extend(tlv::encode(0x8E, &cc));
        objects.extend_from_slice(&sw.to_be_bytes());
        objects
    }
}

/// Le as DO'97' carries it: one byte up to 256 (256 as 00), two beyond.
fn le_bytes(le: usize) -> Vec<u8> {
    match le {
        256 => vec![0],
        1..=255 => vec![le as u8],
        65536 => vec![0, 0],
        _ => (le as u16).to_be_bytes().to_vec(),
    }
}

fn le_value(bytes: &[u8]) -> Option<usize> {
    match *bytes {
        [0] => Some(256),
        [b] => Some(usize::from(b)),
        [0, 0] => Some(65536),
        [h, l] => Some(usize::from(u16::from_be_bytes([h, l]))),
        _ => None,
    }
}
