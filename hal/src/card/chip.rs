//! Reading a CCCD chip: select the eMRTD application, open it with BAC,
//! read the files under secure messaging, and check what was read by
//! passive authentication.

use std::collections::BTreeMap;

use kiosk_pki::cert::TrustAnchors;
use kiosk_pki::emrtd;
use kiosk_pki::emrtd::aa::AaError;
pub use kiosk_pki::emrtd::{ActiveAuth, Verified};

use super::apdu::{Command, Response};
use super::bac::{self, MrzKey};
use super::lds::{File, Malformed};
use super::pa;
use super::pace::{self, Curve, KeyPair, PaceError, PaceInfo, Password};
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
    #[error("PACE: {0}")]
    Pace(#[from] PaceError),
    #[error("the chip offers no PACE, so the CAN cannot open it")]
    NoPace,
}

/// How the files are read: `max_read` bytes per READ BINARY (223 fits a
/// short APDU with secure messaging; more needs extended length, where
/// the reader and the chip allow it).
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    pub max_read: usize,
    /// Read DG2 (the face) as well.
    pub photo: bool,
    /// Open the chip with PACE where EF.CardAccess offers it (BAC
    /// otherwise); `false` for BAC alone.
    pub pace: bool,
}

/// The largest READ BINARY whose protected answer fits a short APDU.
pub const SHORT_READ: usize = 0xDF;

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_read: SHORT_READ,
            photo: false,
            pace: true,
        }
    }
}

/// How the chip was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    #[default]
    Bac,
    Pace(Curve),
}

impl Access {
    /// For logs and `kioskctl card read`.
    pub fn name(self) -> &'static str {
        match self {
            Access::Bac => "BAC",
            Access::Pace(Curve::P256) => "PACE (ECDH P-256, AES-128)",
            Access::Pace(Curve::BrainpoolP256r1) => "PACE (ECDH brainpoolP256r1, AES-128)",
        }
    }
}

/// The raw files as the chip gave them, and how many APDUs it took.
#[derive(Clone, Default)]
pub struct ChipFiles {
    pub access: Access,
    /// Active authentication: the challenge sent and the chip's answer,
    /// when DG15 was read.
    pub active_auth: Option<(Vec<u8>, Vec<u8>)>,
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
            .field("access", &self.access)
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

    /// EF.CardAccess, read in clear from the master file: the PACE this
    /// reader speaks, if the chip offers it.
    fn card_access(&mut self, max_read: usize) -> Result<Option<PaceInfo>, CardError> {
        Ok(match self.read_file(File::CardAccess, max_read) {
            Ok(bytes) => pace::supported(&bytes),
            Err(CardError::Removed) => return Err(CardError::Removed),
            Err(_) => None,
        })
    }

    /// Basic Access Control: the eMRTD application selected in clear, the
    /// challenge, the mutual authentication, the session.
    fn bac(&mut self, key: &MrzKey) -> Result<(), CardError> {
        let r = self.plain(&Command::new(0, 0xA4, 0x04, 0x0C).data(&AID))?;
        if !r.is_ok() {
            return Err(CardError::NotAnEmrtd);
        }
        let r = self.plain(&Command::new(0, 0x84, 0, 0).le(8))?;
        let rnd_ic: [u8; 8] = r
            .data
            .as_slice()
            .try_into()
            .map_err(|_| CardError::Refused {
                what: "GET CHALLENGE".into(),
                sw: r.sw,
            })?;
        let mut secret = zeroize::Zeroizing::new([0u8; 24]);
        getrandom::fill(&mut *secret)
            .map_err(|e| CardError::Reader(format!("no randomness: {e}")))?;
        let mut rnd_ifd = [0u8; 8];
        let mut k_ifd = [0u8; 16];
        rnd_ifd.copy_from_slice(&secret[..8]);
        k_ifd.copy_from_slice(&secret[8..]);
        let reader = bac::Reader::new(key, rnd_ic, rnd_ifd, k_ifd);
        let r = self.plain(
            &Command::new(0, 0x82, 0, 0)
                .data(&reader.command_data())
                .le(40),
        )?;
        if !r.is_ok() {
            return Err(CardError::AccessDenied);
        }
        self.sm = Some(
            reader
                .finish(&r.data)
                .map_err(|_| CardError::AccessDenied)?,
        );
        Ok(())
    }

    /// One step of PACE's GENERAL AUTHENTICATE (chained but the last):
    /// the value of the answer's `tag` inside `7C`.
    fn authenticate(&mut self, data: &[u8], tag: u32, last: bool) -> Result<Vec<u8>, CardError> {
        let cla = if last { 0x00 } else { 0x10 };
        let r = self.plain(&Command::new(cla, 0x86, 0, 0).data(data).le(256))?;
        if !r.is_ok() {
            // The chip refuses the token of a reader holding other keys:
            // the password was not the card's.
            return Err(if last || r.sw == 0x6300 {
                CardError::AccessDenied
            } else {
                CardError::Refused {
                    what: "GENERAL AUTHENTICATE".into(),
                    sw: r.sw,
                }
            });
        }
        pace::auth_data(&r.data, tag)
            .map(<[u8]>::to_vec)
            .ok_or(CardError::Pace(PaceError::Malformed))
    }

    /// PACE with `password`: MSE:Set AT, then the encrypted nonce, the
    /// mapping, the key agreement and the mutual authentication.
    fn pace(&mut self, info: PaceInfo, password: Password<'_>) -> Result<Session, CardError> {
        let curve = info.curve;
        let mut set = tlv::encode(0x80, &pace::ECDH_GM_AES_128);
        set.extend(tlv::encode(0x83, &[password.reference()]));
        set.extend(tlv::encode(0x84, &[curve.id()]));
        let r = self.plain(&Command::new(0, 0x22, 0xC1, 0xA4).data(&set))?;
        if !r.is_ok() {
            return Err(CardError::Refused {
                what: "MSE:Set AT for PACE".into(),
                sw: r.sw,
            });
        }
        let z = self.authenticate(&[0x7C, 0x00], 0x80, false)?;
        let s = pace::decrypt_nonce(&password.key(), &z).ok_or(PaceError::Malformed)?;
        let mapping = KeyPair::generate(curve, None)?;
        let chip_mapping = self.authenticate(&pace::wrap(0x81, &mapping.public), 0x82, false)?;
        let h = curve
            .mul(Some(&chip_mapping), &mapping.private)
            .ok_or(PaceError::BadPoint)?;
        let generator = curve.map(&*s, &h).ok_or(PaceError::BadPoint)?;
        let ours = KeyPair::generate(curve, Some(&generator))?;
        let theirs = self.authenticate(&pace::wrap(0x83, &ours.public), 0x84, false)?;
        if theirs == ours.public {
            return Err(PaceError::Reflected.into());
        }
        let shared = curve
            .agree(&theirs, &ours.private)
            .ok_or(PaceError::BadPoint)?;
        let (k_enc, k_mac) = pace::session_keys(&shared);
        let answer =
            self.authenticate(&pace::wrap(0x85, &pace::token(&k_mac, &theirs)), 0x86, true)?;
        if answer != pace::token(&k_mac, &ours.public) {
            return Err(PaceError::BadToken.into());
        }
        Ok(Session::aes(k_enc, k_mac))
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

/// What opens a chip: the MRZ's key fields (PACE or BAC), or the CAN
/// printed on the card's face (PACE only).
#[derive(Clone)]
pub enum AccessKey {
    Mrz(MrzKey),
    Can(zeroize::Zeroizing<String>),
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AccessKey::Mrz(_) => "AccessKey::Mrz(hidden)",
            AccessKey::Can(_) => "AccessKey::Can(hidden)",
        })
    }
}

/// Opens the chip with `key` and reads it: see [`read`], [`read_with_can`].
pub fn read_with(
    t: &mut impl Transport,
    key: &AccessKey,
    opts: ReadOptions,
) -> Result<ChipFiles, CardError> {
    match key {
        AccessKey::Mrz(k) => read(t, k, opts),
        AccessKey::Can(can) => read_with_can(t, can, opts),
    }
}

/// Opens the chip (PACE with the MRZ's key fields where EF.CardAccess
/// offers it, BAC otherwise) and reads EF.COM, EF.SOD and the data groups
/// the kiosk uses (1, 13, 14 where listed, 2 when asked).
pub fn read(
    t: &mut impl Transport,
    key: &MrzKey,
    opts: ReadOptions,
) -> Result<ChipFiles, CardError> {
    read_files(t, Password::Mrz(key), opts)
}

/// Opens the chip by PACE with the CAN, the six digits on the card's face
/// (a chip without PACE cannot be opened so), and reads it as [`read`].
pub fn read_with_can(
    t: &mut impl Transport,
    can: &str,
    opts: ReadOptions,
) -> Result<ChipFiles, CardError> {
    read_files(t, Password::Can(can), opts)
}

fn read_files(
    t: &mut impl Transport,
    password: Password<'_>,
    opts: ReadOptions,
) -> Result<ChipFiles, CardError> {
    let mut ch = Channel {
        t,
        sm: None,
        apdus: 0,
    };
    let offered = if opts.pace || matches!(password, Password::Can(_)) {
        ch.card_access(opts.max_read)?
    } else {
        None
    };
    let access = match (offered, password) {
        (Some(info), password) => {
            let session = ch.pace(info, password)?;
            ch.sm = Some(session);
            let r = ch.send(&Command::new(0, 0xA4, 0x04, 0x0C).data(&AID))?;
            if !r.is_ok() {
                return Err(CardError::NotAnEmrtd);
            }
            Access::Pace(info.curve)
        }
        (None, Password::Mrz(key)) => {
            ch.bac(key)?;
            Access::Bac
        }
        (None, Password::Can(_)) => return Err(CardError::NoPace),
    };

    let mut files = ChipFiles {
        access,
        com: ch.read_file(File::Com, opts.max_read)?,
        ..ChipFiles::default()
    };
    files.listed = super::lds::data_groups(&files.com)?;
    files.sod = ch.read_file(File::Sod, opts.max_read)?;
    let wanted = [1u8, 13, 14, 15]
        .into_iter()
        .chain(opts.photo.then_some(2))
        .filter(|n| *n == 1 || files.listed.contains(n));
    for n in wanted {
        files
            .dgs
            .insert(n, ch.read_file(File::Dg(n), opts.max_read)?);
    }
    if files.dgs.contains_key(&15) {
        let mut challenge = vec![0u8; 8];
        getrandom::fill(&mut challenge)
            .map_err(|e| CardError::Reader(format!("no randomness: {e}")))?;
        let r = ch.send(&Command::new(0, 0x88, 0, 0).data(&challenge).le(256))?;
        // A refusal is an answer that will not verify.
        let answer = if r.is_ok() { r.data } else { Vec::new() };
        files.active_auth = Some((challenge, answer));
    }
    files.apdus = ch.apdus;
    Ok(files)
}

/// Passive authentication of `files` at `now` (Unix seconds) against the
/// CSCA list (see [`emrtd::verify`]),
/// then active authentication where DG15 was read: DG15 and DG14 are
/// proven by EF.SOD first, then the chip's answer by DG15's key.
pub fn verify(files: &ChipFiles, cscas: &TrustAnchors, now: i64) -> Result<Verified, pa::Failure> {
    let mut verified = emrtd::verify(&files.sod, &files.dgs, cscas, now)?;
    if let Some(dg15) = files.dgs.get(&15) {
        let (challenge, answer) = files.active_auth.as_ref().ok_or_else(|| {
            pa::Failure::ActiveAuth("DG15 was read but the chip was not asked".into())
        })?;
        let dg14 = files.dgs.get(&14).map(Vec::as_slice);
        verified.active_auth = match emrtd::aa::verify(dg14, dg15, challenge, answer) {
            Ok(()) => ActiveAuth::Passed,
            Err(AaError::Unsupported | AaError::NoAlgorithm) => ActiveAuth::Unsupported,
            Err(e) => return Err(pa::Failure::ActiveAuth(e.to_string())),
        };
    }
    Ok(verified)
}
