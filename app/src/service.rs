//! The kiosk as a systemd service (`Type=notify`, `WatchdogSec=`): it says
//! READY once the screen shows and the store is open, and pings the
//! watchdog only while both halves of the kiosk are alive.
//!
//! The pings are sent from the window's timer, on the UI thread: a UI
//! thread that hangs sends none. And each ping needs a fresh answer from
//! the worker (the thread that owns the store): a worker stuck in the
//! store sends none either. Either way systemd kills and restarts the
//! kiosk after `WatchdogSec`. Outside systemd (`NOTIFY_SOCKET` unset) the
//! messages go nowhere and cost nothing.

use std::time::{Duration, Instant};

/// What the service manager should hear now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Ready,
    Watchdog,
    /// The one line `systemctl status` shows.
    Status(&'static str),
}

/// How long the worker may take to answer the status it is asked for
/// every second before the kiosk counts as stuck.
pub const WORKER_STALE_AFTER: Duration = Duration::from_secs(10);

/// Decides READY and the watchdog pings. See the module documentation.
#[derive(Debug)]
pub struct ServiceWatch {
    /// systemd's `WatchdogSec`, when it watches.
    watchdog: Option<Duration>,
    ready: bool,
    last_ping: Option<Instant>,
    /// The last status line sent, not to repeat it every tick.
    status: Option<&'static str>,
}

/// What the kiosk knows of itself at a tick.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    /// The worker answered a status within [`WORKER_STALE_AFTER`].
    pub worker_answering: bool,
    /// The store is open and takes registrations.
    pub store_ready: bool,
}

impl ServiceWatch {
    /// As systemd set it up (`WATCHDOG_USEC`), or not watched.
    pub fn from_env() -> ServiceWatch {
        ServiceWatch::new(sd_notify::watchdog_enabled())
    }

    pub fn new(watchdog: Option<Duration>) -> ServiceWatch {
        ServiceWatch {
            watchdog,
            ready: false,
            last_ping: None,
            status: None,
        }
    }

    /// What to tell systemd at this tick of the window's timer.
    pub fn tick(&mut self, now: Instant, health: Health) -> Vec<Notice> {
        let mut notices = Vec::new();
        if !health.worker_answering {
            // Nothing: a kiosk whose worker is stuck must not look alive.
            return notices;
        }
        if !self.ready {
            // The screen is up (this runs in its timer) and the worker has
            // answered with the store's state: ready, whatever that state
            // is; a damaged or full store shows its own screen.
            self.ready = true;
            notices.push(Notice::Ready);
        }
        let status = if health.store_ready {
            "taking registrations"
        } else {
            "out of service: the store takes no registrations (see kioskctl status)"
        };
        if self.status != Some(status) {
            self.status = Some(status);
            notices.push(Notice::Status(status));
        }
        if let Some(interval) = self.watchdog {
            // Twice per interval, as sd_watchdog_enabled(3) advises.
            let due = self
                .last_ping
                .is_none_or(|then| now.duration_since(then) >= interval / 2);
            if due {
                self.last_ping = Some(now);
                notices.push(Notice::Watchdog);
            }
        }
        notices
    }
}

/// Sends `notices` to the service manager, if there is one.
pub fn send(notices: &[Notice]) {
    if notices.is_empty() {
        return;
    }
    let states: Vec<sd_notify::NotifyState<'_>> = notices
        .iter()
        .map(|n| match n {
            Notice::Ready => sd_notify::NotifyState::Ready,
            Notice::Watchdog => sd_notify::NotifyState::Watchdog,
            Notice::Status(text) => sd_notify::NotifyState::Status(text),
        })
        .collect();
    if let Err(e) = sd_notify::notify(&states) {
        tracing::warn!(error = %e, "the service manager could not be told");
    }
    if notices.contains(&Notice::Ready) {
        tracing::info!("kiosk ready");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALIVE: Health = Health {
        worker_answering: true,
        store_ready: true,
    };

    #[test]
    fn ready_once_then_a_ping_every_half_interval_while_both_threads_answer() {
        let start = Instant::now();
        let mut watch = ServiceWatch::new(Some(Duration::from_secs(30)));
        let first = watch.tick(start, ALIVE);
        assert_eq!(
            first,
            [
                Notice::Ready,
                Notice::Status("taking registrations"),
                Notice::Watchdog
            ]
        );
        // Ticks every 200 ms: the next ping fifteen seconds on.
        let mut pings = 0;
        for i in 1..=150 {
            let at = start + Duration::from_millis(200 * i);
            let sent = watch.tick(at, ALIVE);
            assert!(!sent.contains(&Notice::Ready));
            pings += sent.iter().filter(|n| **n == Notice::Watchdog).count();
        }
        assert_eq!(pings, 2, "at 15 s and 30 s");
    }

    #[test]
    fn a_stuck_worker_stops_the_pings_and_the_status_follows_the_store() {
        let start = Instant::now();
        let mut watch = ServiceWatch::new(Some(Duration::from_secs(2)));
        let stuck = Health {
            worker_answering: false,
            store_ready: true,
        };
        // Not ready before the worker has answered once.
        assert!(watch.tick(start, stuck).is_empty());
        assert!(watch.tick(start, ALIVE).contains(&Notice::Ready));
        for s in 1..10 {
            assert!(
                watch.tick(start + Duration::from_secs(s), stuck).is_empty(),
                "no ping at {s} s"
            );
        }
        let full = Health {
            worker_answering: true,
            store_ready: false,
        };
        let sent = watch.tick(start + Duration::from_secs(10), full);
        assert!(sent.contains(&Notice::Watchdog));
        assert!(
            sent.iter()
                .any(|n| matches!(n, Notice::Status(s) if s.starts_with("out of service")))
        );
        // Unwatched: ready and status, never a ping.
        let mut free = ServiceWatch::new(None);
        assert!(!free.tick(start, ALIVE).contains(&Notice::Watchdog));
    }
}
