//! Basic Access Control (ICAO 9303-11 §4.3 and Appendix D): the access key
//! from the printed MRZ, the mutual authentication, the session keys.

use sha1::{Digest, Sha1};
use zeroize::{Zeroize, Zeroizing};

use super::sm::{self, Key16, Session};

/// What is printed on the card and opens its chip: the document number, the
/// date of birth and the date of expiry (YYMMDD).
#[derive(Clone, Zeroize)]
#[zeroize(drop)]
pub struct MrzKey {
    document: String,
    birth: String,
    expiry: String,
}

impl std::fmt::Debug for MrzKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MrzKey(hidden)")
    }
}

/// Why the printed data cannot make a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the document number must be letters and digits")]
    Document,
    #[error("dates must be six digits, YYMMDD")]
    Date,
}

impl MrzKey {
    /// From the MRZ's own fields. The document number is as printed
    /// (letters and digits, shorter ones filled with `<`).
    pub fn new(document: &str, birth: &str, expiry: &str) -> Result<MrzKey, KeyError> {
        let document = document.trim().to_ascii_uppercase();
        if document.is_empty()
            || document.len() > 22
            || !document
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'<')
        {
            return Err(KeyError::Document);
        }
        let date = |d: &str| {
            (d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit()))
                .then(|| d.to_owned())
                .ok_or(KeyError::Date)
        };
        Ok(MrzKey {
            document,
            birth: date(birth)?,
            expiry: date(expiry)?,
        })
    }

    /// From what a Vietnamese CCCD card shows: its document number in the
    /// MRZ is the last nine digits of the 12-digit personal number.
    pub fn from_cccd(cccd: &str, birth: &str, expiry: &str) -> Result<MrzKey, KeyError> {
        let digits = cccd.trim();
        if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(KeyError::Document);
        }
        MrzKey::new(&digits[3..], birth, expiry)
    }

    /// The MRZ information the key is hashed from: each field with its check
    /// digit, the document number filled to nine characters.
    pub fn information(&self) -> Zeroizing<String> {
        let mut doc = self.document.clone();
        while doc.len() < 9 {
            doc.push('<');
        }
        let mut s = String::with_capacity(40);
        for field in [doc.as_str(), &self.birth, &self.expiry] {
            s.push_str(field);
            s.push(char::from(b'0' + check_digit(field)));
        }
        doc.zeroize();
        Zeroizing::new(s)
    }

    /// K_seed: the first 16 bytes of SHA-1 over the MRZ information.
    pub fn seed(&self) -> Zeroizing<Key16> {
        let hash = Sha1::digest(self.information().as_bytes());
        let mut seed = Zeroizing::new([0u8; 16]);
        seed.copy_from_slice(&hash[..16]);
        seed
    }

    /// (K_enc, K_mac) for the mutual authentication.
    pub fn keys(&self) -> (Zeroizing<Key16>, Zeroizing<Key16>) {
        let seed = self.seed();
        (derive(&*seed, 1), derive(&*seed, 2))
    }
}

/// A date as the card prints it, `dd/mm/yyyy`, as the MRZ holds it,
/// `YYMMDD`; `None` for anything else.
pub fn printed_date(text: &str) -> Option<String> {
    let parts: Vec<&str> = text.trim().split('/').collect();
    match parts[..] {
        [d, m, y]
            if d.len() == 2
                && m.len() == 2
                && y.len() == 4
                && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Some(format!("{}{m}{d}", &y[2..]))
        }
        _ => None,
    }
}

pub use kiosk_pki::emrtd::lds::check_digit;

/// The 3DES key derivation of 9303-11 §9.7.1 (SHA-1 over the seed and a
/// 32-bit counter; 1 for encryption, 2 for the MAC), DES parity adjusted.
pub fn derive(seed: &[u8], counter: u32) -> Zeroizing<Key16> {
    let mut h = Sha1::new();
    h.update(seed);
    h.update(counter.to_be_bytes());
    let hash = h.finalize();
    let mut key = Zeroizing::new([0u8; 16]);
    for (k, b) in key.iter_mut().zip(&hash[..16]) {
        *k = (b & 0xFE) | u8::from((b >> 1).count_ones() % 2 == 0);
    }
    key
}

/// The session both ends hold after the mutual authentication: session
/// keys from K_IFD ⊕ K_IC, the counter from the challenges' low halves.
pub fn session(k_ifd: &[u8; 16], k_ic: &[u8; 16], rnd_ic: &[u8; 8], rnd_ifd: &[u8; 8]) -> Session {
    let mut seed = Zeroizing::new([0u8; 16]);
    for ((s, a), b) in seed.iter_mut().zip(k_ifd).zip(k_ic) {
        *s = a ^ b;
    }
    let mut ssc = [0u8; 8];
    ssc[..4].copy_from_slice(&rnd_ic[4..]);
    ssc[4..].copy_from_slice(&rnd_ifd[4..]);
    Session::new(
        *derive(&*seed, 1),
        *derive(&*seed, 2),
        u64::from_be_bytes(ssc),
    )
}

/// Why the mutual authentication failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BacError {
    #[error("the chip's answer is not authentic (wrong document number or dates)")]
    Mac,
    #[error("the chip's answer does not carry our challenge")]
    Challenge,
    #[error("the chip's answer has the wrong length")]
    Length,
}

/// The reader's half of the exchange, kept between EXTERNAL AUTHENTICATE
/// and the chip's answer.
#[derive(Zeroize)]
#[zeroize(drop)]
pub struct Reader {
    k_enc: Key16,
    k_mac: Key16,
    rnd_ic: [u8; 8],
    rnd_ifd: [u8; 8],
    k_ifd: [u8; 16],
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("bac::Reader(hidden)")
    }
}

impl Reader {
    /// Starts from the chip's challenge and the reader's own random
    /// `rnd_ifd` and key half `k_ifd`.
    pub fn new(key: &MrzKey, rnd_ic: [u8; 8], rnd_ifd: [u8; 8], k_ifd: [u8; 16]) -> Reader {
        let (k_enc, k_mac) = key.keys();
        Reader {
            k_enc: *k_enc,
            k_mac: *k_mac,
            rnd_ic,
            rnd_ifd,
            k_ifd,
        }
    }

    /// The EXTERNAL AUTHENTICATE data: E_IFD ‖ M_IFD.
    pub fn command_data(&self) -> Vec<u8> {
        let mut s = Zeroizing::new(Vec::with_capacity(32));
        s.extend_from_slice(&self.rnd_ifd);
        s.extend_from_slice(&self.rnd_ic);
        s.extend_from_slice(&self.k_ifd);
        let mut out = sm::encrypt(&self.k_enc, &s);
        let m = sm::mac(&self.k_mac, &sm::pad(&out));
        out.extend_from_slice(&m);
        out
    }

    /// Checks the chip's E_IC ‖ M_IC and opens the session.
    pub fn finish(&self, answer: &[u8]) -> Result<Session, BacError> {
        if answer.len() != 40 {
            return Err(BacError::Length);
        }
        let (e_ic, m_ic) = answer.split_at(32);
        if sm::mac(&self.k_mac, &sm::pad(e_ic))[..] != *m_ic {
            return Err(BacError::Mac);
        }
        let r = Zeroizing::new(sm::decrypt(&self.k_enc, e_ic).ok_or(BacError::Length)?);
        if r[..8] != self.rnd_ic || r[8..16] != self.rnd_ifd {
            return Err(BacError::Challenge);
        }
        let mut k_ic = [0u8; 16];
        k_ic.copy_from_slice(&r[16..32]);
        let s = session(&self.k_ifd, &k_ic, &self.rnd_ic, &self.rnd_ifd);
        k_ic.zeroize();
        Ok(s)
    }
}

/// The chip's half: checks the reader's E_IFD ‖ M_IFD against the challenge
/// it gave, answers E_IC ‖ M_IC and opens the same session. `None` when the
/// reader does not hold the key (the chip then answers 6300).
pub fn chip_answer(
    key: &MrzKey,
    rnd_ic: &[u8; 8],
    k_ic: &[u8; 16],
    command: &[u8],
) -> Option<(Vec<u8>, Session)> {
    let (k_enc, k_mac) = key.keys();
    if command.len() != 40 {
        return None;
    }
    let (e_ifd, m_ifd) = command.split_at(32);
    if sm::mac(&k_mac, &sm::pad(e_ifd))[..] != *m_ifd {
        return None;
    }
    let s = Zeroizing::new(sm::decrypt(&k_enc, e_ifd)?);
    if s[8..16] != rnd_ic[..] {
        return None;
    }
    let mut rnd_ifd = [0u8; 8];
    rnd_ifd.copy_from_slice(&s[..8]);
    let mut k_ifd = Zeroizing::new([0u8; 16]);
    k_ifd.copy_from_slice(&s[16..32]);
    let mut r = Zeroizing::new(Vec::with_capacity(32));
    r.extend_from_slice(rnd_ic);
    r.extend_from_slice(&rnd_ifd);
    r.extend_from_slice(k_ic);
    let mut answer = sm::encrypt(&k_enc, &r);
    let m = sm::mac(&k_mac, &sm::pad(&answer));
    answer.extend_from_slice(&m);
    Some((answer, session(&k_ifd, k_ic, rnd_ic, &rnd_ifd)))
}
