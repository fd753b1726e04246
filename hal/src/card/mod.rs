//! The smartcard reader and the chip in the CCCD card (ICAO 9303).
//!
//! Layers, as for the other devices:
//! - [`apdu`], [`tlv`]: the bytes of ISO/IEC 7816-4;
//! - [`bac`], [`sm`]: Basic Access Control and 3DES secure messaging, both
//!   ends (the reader here, the chip in the virtual card of the tests),
//!   checked against ICAO 9303-11's worked examples;
//! - [`lds`]: the chip's files, and [`pa`]: passive authentication of
//!   their content by EF.SOD and the CSCA list (in `kiosk-pki`, which the
//!   portal shares to verify what the kiosk sealed).
pub mod apdu;
pub mod bac;
pub mod chip;
pub mod pace;
pub mod reader;
pub mod sim;
pub mod sm;

pub use kiosk_pki::emrtd::{lds, pa, tlv};
