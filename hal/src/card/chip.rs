//! Reading a CCCD chip: select the eMRTD application, open it with BAC,
//! read the files under secure messaging, and check what was read by
//! passive authentication.

use std::collections::BTreeMap;

use kiosk_pki::cert::TrustAnchors;
use kiosk_pki::emrtd;
pub use kiosk_pki::emrtd::Verified;

use super::apdu::{Command, Response};
use super::bac::{self, MrzKey};
use super::lds::{File, Malformed};
use super::pa;
use super::sm::{Session, SmError};
use super::tlv;

/// The eMRTD application (ICAO 9303-10 §3.6.1).
pub const AID: [u8; 7] = [0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01];

/// Whatever carries APDUs to the chip: the PC/SC reader, or in tests the
/// virtual card directly.
pub trait Transport {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError>;
}

/// Why a read stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// Taken off the reader, or stopped answering mid-read.
    #[error("the card was removed")]
    Removed,
    #[error("the reader failed: {0}")]
    Reader(String),
    #[error("the card is not an ICAO eMRTD (no eMRTD application)")]
    NotAnEmrtd,
    #[error("the chip refused the access key (document number or dates do not match)")]
    AccessDenied,
    #[error("{what}: the chip answered {sw:04X}")]
    Refused { what: String, sw: u16 },
    #[error("secure messaging failed: {0}")]
    SecureMessaging(#[from] SmError),
    #[error(transparent)]
    Malformed(#[from] Malformed),
}

/// How the files are read: `max_read` bytes per READ BINARY (223 fits a
/// short APDU with secure messaging; more needs extended length, where
/// the reader and the chip allow it).
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    pub max_read: usize,
    /// Read DG2 (the face) as well.
    pub photo: bool,
}

/// The largest READ BINARY whose protected answer fits a short APDU.
pub const SHORT_READ: usize = 0xDF;

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_read: SHORT_READ,
            photo: false,
        }
    }
}

/// The raw files as the chip gave them, and how many APDUs it took.
#[derive(Clone, Default)]
pub struct ChipFiles {
    pub com: Vec<u8>,
    pub sod: Vec<u8>,
    pub dgs: BTreeMap<u8, Vec<u8>>,
    /// Data groups EF.COM lists.
    pub listed: Vec<u8>,
    pub apdus: usize,
}

impl std::fmt::Debug for ChipFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChipFiles")
            .field("dgs", &self.dgs.keys().collect::<Vec<_>>())
            .field("listed", &self.listed)
            .field("apdus", &self.apdus)
            .finish()
    }
}

struct Channel<'a, T: Transport> {
    t: &'a mut T,
    sm: Option<Session>,
    apdus: usize,
}

impl<T: Transport> Channel<'_, T> {
    fn plain(&mut self, cmd: &Command) -> Result<Response, CardError> {
        self.apdus += 1;
        let raw = self.t.transmit(&cmd.encode())?;
        Response::parse(&raw).ok_or(CardError::Reader(
            "an answer shorter than a status word".into(),
        ))
    }

    fn send(&mut self, cmd: &Command) -> Result<Response, CardError> {
        let Some(sm) = self.sm.as_mut() else {
            return self.plain(cmd);
        };
        let protected = sm.protect(cmd);
        self.apdus += 1;
        let raw = self.t.transmit(&protected)?;
        Ok(self
            .sm
            .as_mut()
            .expect("secure messaging is open")
            .unprotect(&raw)?)
    }

    fn select(&mut self, file: File) -> Result<(), CardError> {
        let r = self.send(&Command::new(0, 0xA4, 0x02, 0x0C).data(&file.id().to_be_bytes()))?;
        if !r.is_ok() {
            return Err(CardError::Refused {
                what: format!("selecting {}", file.name()),
                sw: r.sw,
            });
        }
        Ok(())
    }

    fn read_binary(&mut self, offset: usize, len: usize, file: File) -> Result<Vec<u8>, CardError> {
        let r = self.send(&Command::new(0, 0xB0, (offset >> 8) as u8, offset as u8).le(len))?;
        // 6282: end of file reached before `len` bytes; the data is good.
        if !r.is_ok() && r.sw != 0x6282 {
            return Err(CardError::Refused {
                what: format!("reading {}", file.name()),
                sw: r.sw,
            });
        }
        if r.data.is_empty() || r.data.len() > len {
            return Err(CardError::Refused {
                what: format!("reading {} (answer of {} bytes)", file.name(), r.data.len()),
                sw: r.sw,
            });
        }
        Ok(r.data)
    }

    /// Reads a whole file: its first bytes give the length of the rest.
    fn read_file(&mut self, file: File, max_read: usize) -> Result<Vec<u8>, CardError> {
        self.select(file)?;
        let mut bytes = self.read_binary(0, 4, file)?;
        let (_, head, len) = tlv::header(&bytes).ok_or_else(|| Malformed {
            file: file.name(),
            why: "the first bytes are not a TLV header",
        })?;
        let total = head + len;
        // Files beyond 32 KiB need the odd READ BINARY; no CCCD file is.
        if total > 0x7FFF {
            return Err(Malformed {
                file: file.name(),
                why: "longer than 32 KiB",
            }
            .into());
        }
        while bytes.len() < total {
            let chunk = (total - bytes.len()).min(max_read);
            let got = self.read_binary(bytes.len(), chunk, file)?;
            bytes.extend(got);
        }
        bytes.truncate(total);
        Ok(bytes)
    }
}

/// Opens the chip with BAC and reads EF.COM, EF.SOD and the data groups
/// the kiosk uses (1, 13, 14 where listed, 2 when asked).
pub fn read(
    t: &mut impl Transport,
    key: &MrzKey,
    opts: ReadOptions,
) -> Result<ChipFiles, CardError> {
    let mut ch = Channel {
        t,
        sm: None,
        apdus: 0,
    };
    let r = ch.plain(&Command::new(0, 0xA4, 0x04, 0x0C).data(&AID))?;
    if !r.is_ok() {
        return Err(CardError::NotAnEmrtd);
    }
    let r = ch.plain(&Command::new(0, 0x84, 0, 0).le(8))?;
    let rnd_ic: [u8; 8] = r
        .data
        .as_slice()
        .try_into()
        .map_err(|_| CardError::Refused {
            what: "GET CHALLENGE".into(),
            sw: r.sw,
        })?;
    let mut secret = zeroize::Zeroizing::new([0u8; 24]);
    getrandom::fill(&mut *secret).map_err(|e| CardError::Reader(format!("no randomness: {e}")))?;
    let mut rnd_ifd = [0u8; 8];
    let mut k_ifd = [0u8; 16];
    rnd_ifd.copy_from_slice(&secret[..8]);
    k_ifd.copy_from_slice(&secret[8..]);
    let reader = bac::Reader::new(key, rnd_ic, rnd_ifd, k_ifd);
    let r = ch.plain(
        &Command::new(0, 0x82, 0, 0)
            .data(&reader.command_data())
            .le(40),
    )?;
    if !r.is_ok() {
        return Err(CardError::AccessDenied);
    }
    ch.sm = Some(
        reader
            .finish(&r.data)
            .map_err(|_| CardError::AccessDenied)?,
    );

    let mut files = ChipFiles {
        com: ch.read_file(File::Com, opts.max_read)?,
        ..ChipFiles::default()
    };
    files.listed = super::lds::data_groups(&files.com)?;
    files.sod = ch.read_file(File::Sod, opts.max_read)?;
    let wanted = [1u8, 13, 14]
        .into_iter()
        .chain(opts.photo.then_some(2))
        .filter(|n| *n == 1 || files.listed.contains(n));
    for n in wanted {
        files
            .dgs
            .insert(n, ch.read_file(File::Dg(n), opts.max_read)?);
    }
    files.apdus = ch.apdus;
    Ok(files)
}

/// Passive authentication of `files` at `now` (Unix seconds) against the
/// CSCA list: see [`emrtd::verify`].
pub fn verify(files: &ChipFiles, cscas: &TrustAnchors, now: i64) -> Result<Verified, pa::Failure> {
    emrtd::verify(&files.sod, &files.dgs, cscas, now)
}
