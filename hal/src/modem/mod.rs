//! The kiosk's GSM modem: it sends the OTP codes itself, so registration
//! works while the portal is unreachable.
//!
//! - [`pdu`]: SMS-SUBMIT encoding (GSM 7-bit with extension table, UCS-2,
//!   concatenation, validity period).
pub mod at;
pub mod driver;
pub mod pdu;
pub mod sim;

pub use driver::{
    AtModem, Health, Locator, ModemConfig, ModemError, ModemService, Registration, Signal,
    SimStatus, Timeouts, connect,
};
