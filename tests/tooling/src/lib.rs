//! # kiosk-tooling: peers and faults for the tests, never in the kiosk
//!
//! What the end-to-end tests and benchmarks put around a kiosk that the
//! field would: [`faultproxy`], a network between kiosk and portal that
//! refuses, cuts, delays and truncates on purpose.

pub mod faultproxy;
