//! The chip of an ICAO 9303 travel document (the CCCD card), as data: the
//! BER-TLV of its files ([`tlv`]), the files themselves ([`lds`]), and
//! passive authentication of their content by EF.SOD and the CSCA list
//! ([`pa`]), and active authentication's check ([`aa`]). No card reader here: the kiosk reads the chip (`kiosk-hal`),
//! the portal verifies what the kiosk sealed, with the same code.

use std::collections::BTreeMap;

use crate::cert::TrustAnchors;

pub mod aa;
pub mod lds;
pub mod pa;
pub mod tlv;

use lds::{Dg13, Malformed, Mrz};
use pa::SecurityObject;

/// Whether the chip proved it holds DG15's key (active authentication).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveAuth {
    /// No DG15: the chip offers none.
    NotOffered,
    /// Not checked here (the portal sees no live chip).
    NotChecked,
    /// DG15 holds a key this reader does not check (RSA).
    Unsupported,
    /// The chip signed a fresh challenge with DG15's key.
    Passed,
}

/// What the chip proves, once passive authentication has passed.
#[derive(Clone)]
pub struct Verified {
    pub active_auth: ActiveAuth,
    pub mrz: Mrz,
    pub dg13: Option<Dg13>,
    /// The Document Signer's common name.
    pub signer: String,
    pub hash: pa::HashAlgorithm,
    /// Data groups whose hashes were checked.
    pub checked: Vec<u8>,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("signer", &self.signer)
            .field("hash", &self.hash)
            .field("checked", &self.checked)
            .field("active_auth", &self.active_auth)
            .finish_non_exhaustive()
    }
}

/// Passive authentication of EF.SOD and the data groups `dgs` (by number,
/// as read) at `now` (Unix seconds) against the CSCA list, then the files
/// parsed. Nothing is parsed for use before every step has passed.
pub fn verify(
    sod: &[u8],
    dgs: &BTreeMap<u8, Vec<u8>>,
    cscas: &TrustAnchors,
    now: i64,
) -> Result<Verified, pa::Failure> {
    let so = SecurityObject::parse(sod)?;
    let ds = so.verify_signer(cscas, now)?;
    so.check_hashes(dgs.iter().map(|(n, b)| (*n, b.as_slice())))?;
    let data = |e: Malformed| pa::Failure::Data(e.to_string());
    let mrz = Mrz::parse_dg1(dgs.get(&1).map_or(&[][..], Vec::as_slice)).map_err(data)?;
    if mrz.expires_before(now) {
        return Err(pa::Failure::Expired(mrz.expiry.clone()));
    }
    let dg13 = dgs
        .get(&13)
        .map(|b| Dg13::parse(b))
        .transpose()
        .map_err(data)?;
    Ok(Verified {
        active_auth: if dgs.contains_key(&15) {
            ActiveAuth::NotChecked
        } else {
            ActiveAuth::NotOffered
        },
        mrz,
        dg13,
        signer: ds.common_name.clone().unwrap_or_default(),
        hash: so.algorithm,
        checked: dgs.keys().copied().collect(),
    })
}
