//! # kiosk: the registration kiosk's core
//!
//! Everything the kiosk decides lives here; everything it touches lives in
//! the other crates (`kiosk-ui` draws, `kiosk-hal` talks to devices,
//! `kiosk-sync` seals and ships).
//!
//! - [`domain`]: validated identifiers, names, contacts and secrets.
//! - [`policy`]: the rules as data, with the manual's defaults.

pub mod domain;
pub mod flow;
pub mod policy;
