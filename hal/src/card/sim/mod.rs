//! A virtual CCCD card for tests, the demo and technicians' training, as
//! the modem simulator is for the modem: [`issue`] makes the card (a test
//! CSCA and Document Signer by `openssl`, the citizen's data groups, EF.SOD
//! signed by `openssl cms`), [`chip`] answers APDUs as an eMRTD chip with
//! BAC and secure messaging, faults included, and [`vpcd`] puts it on the
//! "Virtual PCD" reader that `vsmartcard-vpcd` gives `pcscd`.

pub mod chip;
pub mod issue;
pub mod vpcd;
