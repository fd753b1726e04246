//! The kiosk's log: `tracing` events, to the journal under systemd and to
//! standard error elsewhere.
//!
//! Which events are kept comes from `RUST_LOG` when it is set, otherwise
//! from the configuration's `log` (for example `"info"` or
//! `"warn,kiosk::uplink=debug"`), otherwise [`DEFAULT_FILTER`]. A
//! technician filters the journal with `journalctl -u kiosk -p warning`.
//!
//! No event carries personal data at any level: values that could are
//! logged through their `Debug`, which masks them (see the domain's
//! types), or not at all. `app/tests/logging.rs` runs every method with
//! everything at `trace` and looks for what was typed in the output.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The kiosk's own events from `info` up, its libraries' from `warn`.
pub const DEFAULT_FILTER: &str = "warn,kiosk=info,kiosk_hal=info,kiosk_sync=info,kiosk_ui=info";

/// The filter in force: `RUST_LOG`, else `configured`, else the default.
/// A filter that does not parse is reported and the next one used.
///
/// Targets and levels only (`warn,kiosk::uplink=debug`), not `EnvFilter`'s
/// span and field matching: the appliance carries no regex engine for its
/// log.
pub fn filter(configured: Option<&str>) -> Targets {
    choose(std::env::var("RUST_LOG").ok().as_deref(), configured)
}

fn choose(from_env: Option<&str>, configured: Option<&str>) -> Targets {
    for wanted in [from_env, configured].into_iter().flatten() {
        match wanted.parse() {
            Ok(filter) => return filter,
            Err(e) => eprintln!("log filter {wanted:?}: {e}; ignored"),
        }
    }
    DEFAULT_FILTER.parse().expect("the default filter parses")
}

/// Sends the process's events to the journal when systemd started it
/// (`JOURNAL_STREAM` is set), to standard error otherwise. A second call,
/// or a subscriber already set (a test's), leaves the first in place.
pub fn init(program: &str, configured: Option<&str>) {
    let registry = tracing_subscriber::registry().with(filter(configured));
    if std::env::var_os("JOURNAL_STREAM").is_some() {
        match tracing_journald::layer() {
            Ok(journal) => {
                let _ = registry
                    .with(journal.with_syslog_identifier(program.to_string()))
                    .try_init();
                return;
            }
            Err(e) => eprintln!("{program}: the journal is not reachable ({e}); logging to stderr"),
        }
    }
    use std::io::IsTerminal as _;
    let _ = registry
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr),
        )
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_wins_then_the_configuration_then_the_default() {
        let f = choose(Some("kiosk::uplink=debug"), Some("trace"));
        assert!(f.would_enable("kiosk::uplink::relay", &Level::DEBUG));
        assert!(!f.would_enable("kiosk::worker", &Level::ERROR));
        let f = choose(None, Some("warn,kiosk=debug"));
        assert!(f.would_enable("kiosk::worker", &Level::DEBUG));
        assert!(!f.would_enable("rustls", &Level::INFO));
        let f = choose(None, None);
        assert!(f.would_enable("kiosk::register", &Level::INFO));
        assert!(!f.would_enable("kiosk::register", &Level::DEBUG));
        assert!(!f.would_enable("hyper", &Level::INFO));
    }

    #[test]
    fn a_filter_that_does_not_parse_is_passed_over() {
        assert!("kiosk=loud".parse::<Targets>().is_err());
        let f = choose(Some("kiosk=loud"), Some("warn,kiosk=trace"));
        assert!(f.would_enable("kiosk::worker", &Level::TRACE));
        let f = choose(None, Some("=="));
        assert!(f.would_enable("kiosk::register", &Level::INFO));
    }
}
