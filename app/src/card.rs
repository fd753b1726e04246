//! The CCCD card on the kiosk's smartcard reader: the readers watched for
//! the status bar, and a card read for a registration — opened with what
//! the citizen typed, read, proven genuine by passive authentication
//! against the CSCA list and not a clone by active authentication (where
//! the chip offers it), then checked by the domain's rules. Only then does
//! anything of it reach the form.

use std::path::PathBuf;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kiosk_hal::card::chip::{self, AccessKey, ActiveAuth, CardError, ChipFiles, ReadOptions};
use kiosk_hal::card::reader::{self, ReaderWatcher, Readers};
use kiosk_hal::token::cert::TrustAnchors;
use kiosk_sync::{ChipDataGroup, ChipEvidence};
use time::OffsetDateTime;

use crate::domain::chip::ChipIdentity;
use crate::domain::clock::local_date;
use crate::flow::{CardOutcome, CardProblem, ChipRead};
use crate::policy::Policy;

/// The data groups a registration uses and carries: the MRZ and
/// Vietnam's personal fields.
const USED: [u8; 2] = [1, 13];

/// The readers, and where the CSCA list is.
#[derive(Debug)]
pub struct CardService {
    watcher: ReaderWatcher,
    csca: PathBuf,
}

/// How one read ended, in the technician's words: `ok` with whether active
/// authentication passed (`aa=passed`, `aa=not-offered`...), or the step
/// that failed (`access`, `no-pace`, `removed`, `read`, `csca`, a step of
/// passive or active authentication, `data`). Never anything of the card
/// holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict(pub String);

impl CardService {
    /// Starts watching the readers; the CSCA list is read at each read, so
    /// a technician's change takes effect without a restart.
    pub fn start(csca: PathBuf) -> CardService {
        CardService {
            watcher: ReaderWatcher::spawn(),
            csca,
        }
    }

    pub fn readers(&self) -> Readers {
        self.watcher.readers()
    }

    /// Reads the card on the reader with `key` and proves it genuine.
    pub fn read(
        &self,
        key: &AccessKey,
        policy: &Policy,
        now: OffsetDateTime,
    ) -> (CardOutcome, Verdict) {
        let started = Instant::now();
        let (outcome, verdict) = self.read_inner(key, policy, now);
        tracing::info!(
            verdict = %verdict.0,
            ms = started.elapsed().as_millis() as u64,
            "card read"
        );
        (outcome, verdict)
    }

    fn read_inner(
        &self,
        key: &AccessKey,
        policy: &Policy,
        now: OffsetDateTime,
    ) -> (CardOutcome, Verdict) {
        let refused = |problem, step: &str| (CardOutcome::Refused(problem), Verdict(step.into()));
        let cscas = match TrustAnchors::load(&self.csca) {
            Ok(c) if !c.is_empty() => c,
            Ok(_) => {
                tracing::error!(dir = %self.csca.display(), "the CSCA list is empty: no chip can be proven genuine");
                return refused(CardProblem::Unreadable, "csca");
            }
            Err(e) => {
                tracing::error!(dir = %self.csca.display(), error = %e, "the CSCA list cannot be read");
                return refused(CardProblem::Unreadable, "csca");
            }
        };
        let files = match read_files(key) {
            Ok(files) => files,
            Err(CardError::Removed) => {
                return (CardOutcome::Removed, Verdict("removed".into()));
            }
            Err(CardError::AccessDenied) => {
                return (CardOutcome::WrongKey, Verdict("access".into()));
            }
            Err(CardError::NoPace) => {
                return (CardOutcome::NoCan, Verdict("no-pace".into()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "the card could not be read");
                return refused(CardProblem::Unreadable, "read");
            }
        };
        let verified = match chip::verify(&files, &cscas, now.unix_timestamp()) {
            Ok(v) => v,
            Err(failure) => {
                let step = failure.step();
                tracing::warn!(
                    step,
                    "passive authentication failed; the chip's data is not used"
                );
                let problem = if step == "expiry" {
                    CardProblem::Expired
                } else {
                    CardProblem::NotGenuine
                };
                return refused(problem, step);
            }
        };
        let identity = match ChipIdentity::from_verified(&verified, policy, local_date(now)) {
            Ok(identity) => identity,
            Err(e) => {
                tracing::warn!(error = %e, "the chip is genuine but its data cannot be used");
                return refused(CardProblem::Unusable, "data");
            }
        };
        let evidence = ChipEvidence {
            sod: B64.encode(&files.sod),
            data_groups: USED
                .iter()
                .filter_map(|n| {
                    files.dgs.get(n).map(|bytes| ChipDataGroup {
                        number: *n,
                        content: B64.encode(bytes),
                    })
                })
                .collect(),
        };
        let aa = match verified.active_auth {
            ActiveAuth::Passed => "passed",
            ActiveAuth::NotOffered => "not-offered",
            ActiveAuth::Unsupported => "unsupported",
            ActiveAuth::NotChecked => "not-checked",
        };
        (
            CardOutcome::Read(Box::new(ChipRead { identity, evidence })),
            Verdict(format!("ok aa={aa}")),
        )
    }
}

/// Opens the card on the first reader that has one, and reads its files.
fn read_files(key: &AccessKey) -> Result<ChipFiles, CardError> {
    let ctx = reader::establish()?;
    let on = reader::list(&ctx)?
        .into_iter()
        .find(|r| r.card.is_some())
        .ok_or(CardError::Removed)?;
    let mut card = reader::Connected::open(&ctx, &on.name)?;
    let opts = ReadOptions {
        max_read: card.max_read(),
        ..ReadOptions::default()
    };
    let files = chip::read_with(&mut card, key, opts)?;
    tracing::debug!(
        access = files.access.name(),
        apdus = files.apdus,
        "chip opened and read"
    );
    Ok(files)
}
