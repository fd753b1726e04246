//! The kiosk's GSM modem: it sends the OTP codes itself, so registration
//! works while the portal is unreachable.
//!
//! Start from [`ModemService`]: it finds the modem (by device path or USB
//! vendor/product), brings it up, publishes its [`Health`] for the status bar,
//! sends SMS through the [`SmsSender`] trait, and survives the modem being
//! unplugged and plugged back in. ModemManager must not own the modem (the
//! port is opened exclusively).
//!
//! - [`at`]: the deterministic AT-command engine (bytes and time in, events out).
//! - [`pdu`]: SMS-SUBMIT encoding (GSM 7-bit with extension table, UCS-2,
//!   concatenation, validity period).
//! - [`driver`]: the engine on a real serial port; health; the service thread.
//! - [`sim`]: a modem simulator on a pseudo-terminal, faults included, for
//!   tests, the demo and training.
pub mod at;
pub mod driver;
pub mod pdu;
pub mod service;
pub mod sim;

pub use driver::{AtModem, Health, ModemError, Registration, Signal, SimStatus, Timeouts};
pub use service::{Locator, ModemConfig, ModemService, SmsSender, connect};
