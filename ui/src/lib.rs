//! # kiosk-ui: what the citizen sees and touches
//!
//! The Slint screens of the kiosk, its on-screen keyboards (numeric keypad,
//! full keyboard with Vietnamese Telex composition, e-mail layout), the
//! translations (Vietnamese by default, English on request) and the renderer
//! that writes every screen to PNG without a display.
//!
//! It is a view: screens read and write a few global singletons, and every
//! rule — which fields are required, what an error says, which methods are
//! offered — comes from `app`. This crate knows nothing of the domain.
//!
//! The screens arrive with their own issue; until then the crate is empty.
