//! # kiosk-hal: the kiosk's hardware, behind small traits
//!
//! Each device the kiosk talks to lives in its own module, built in three
//! layers: a small trait the rest of the kiosk programs against, the real
//! implementation, and a deterministic protocol core that takes bytes and time
//! in and gives bytes and decisions out (so it can be tested on recorded
//! streams without the device).
//!
//! - [`modem`]: the GSM modem on a serial port — AT-command engine, SMS in
//!   PDU mode, health (SIM, registration, signal), a simulator. Sends the OTP
//!   codes. Start from [`modem::ModemService`].
//! - [`token`]: USB signing tokens through PKCS#11 — PIN, proof of
//!   possession, certificates with Vietnamese subject conventions, the chain
//!   to trusted CAs. Start from [`token::pkcs11::prove_possession`].
//! - [`card`]: the PC/SC reader and the chip in the CCCD card (ICAO 9303):
//!   access control, secure messaging, the data groups, passive
//!   authentication.
//!
//! This crate knows nothing of registrations: it reports what a device said,
//! and `app` decides what that means for the citizen.

pub mod card;
pub mod modem;
pub mod token;
