//! # kiosk: the registration kiosk's core
//!
//! Everything the kiosk decides lives here; everything it touches lives in
//! the other crates (`kiosk-ui` draws, `kiosk-hal` talks to devices,
//! `kiosk-sync` seals and ships).
//!
//! - [`domain`]: validated identifiers, names, contacts and secrets.
//! - [`policy`]: the rules as data, with the manual's defaults.
//! - [`flow`]: one state machine per registration method; start here.
//! - [`counter`]: the post-office counter's clerks and their sign-in.
//! - [`register`]: the one place a finished registration is sealed and stored.
//! - [`store`]: SQLite with the outbox and the hash-chained audit log.
//! - [`uplink`]: the outbox relay on tokio, and the kiosk's enrolment.
//! - [`keys`], [`config`]: the kiosk's keys and configuration file.
//! - [`logging`]: `tracing` to the journal or standard error; never
//!   personal data.
//! - `demo`, `walk` (the `demo` feature, in the desktop build, never in the
//!   appliance): the kiosk with simulated devices and the reference portal,
//!   and the headless walk through its screens.
//!
//! ```
//! use std::sync::Arc;
//! use kiosk::domain::{Method, SubjectKind};
//! use kiosk::flow::{self, Effect, Screen};
//! use kiosk::policy::Policy;
//!
//! let policy = Arc::new(Policy::built_in().clone());
//! let (registration, effects) =
//!     flow::start(Method::MobileSubscriber, SubjectKind::Citizen, policy, false).unwrap();
//! assert!(matches!(effects[..], [Effect::Show(Screen::Form)]));
//! assert_eq!(registration.step(), "form");
//! ```

pub mod atomic;
pub mod card;
pub mod config;
pub mod controller;
pub mod counter;
pub mod courier;
#[cfg(feature = "demo")]
pub mod demo;
pub mod domain;
pub mod flow;
pub mod gui;
pub mod keys;
pub mod logging;
pub mod policy;
pub mod register;
pub mod selftest;
pub mod service;
pub mod store;
pub mod token;
pub mod update;
pub mod uplink;
#[cfg(feature = "demo")]
pub mod walk;
pub mod worker;
