//! The kiosk's clocks, and Vietnam's wall clock.
//!
//! The kiosk keeps UTC everywhere it stores or sends a time; what a person
//! reads (the status bar's clock, today's date for age and birth-year
//! rules, the technician's report) is in Vietnam's one time zone, UTC+7,
//! with no daylight saving.
//!
//! Wall time jumps: a technician sets it, the network corrects it, a dead
//! RTC battery resets it at every boot. So the kiosk has two clocks
//! ([`Clock`]): the wall clock for what records carry and the screen's
//! clock, and a monotonic clock, which only moves forward at the rate of
//! real time, for every duration a citizen waits on or could be cheated
//! by: OTP lifetimes, resend intervals, idle timeouts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use time::{Date, OffsetDateTime, UtcOffset};

/// The kiosk's two clocks. See the module documentation.
pub trait Clock {
    /// Wall time (UTC): what records carry. It can jump either way.
    fn wall(&self) -> OffsetDateTime;
    /// Time since an arbitrary start. Never goes back and never jumps.
    fn monotonic(&self) -> Duration;
}

/// The machine's clocks: `CLOCK_REALTIME` and `CLOCK_MONOTONIC`.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    start: Instant,
}

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn wall(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn monotonic(&self) -> Duration {
        self.start.elapsed()
    }
}

/// Clocks moved by hand, for tests and the headless walk. Clones share
/// the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    state: Arc<Mutex<(OffsetDateTime, Duration)>>,
}

impl ManualClock {
    pub fn starting_at(wall: OffsetDateTime) -> ManualClock {
        ManualClock {
            state: Arc::new(Mutex::new((wall, Duration::ZERO))),
        }
    }

    /// Time passes: both clocks move on by `seconds`.
    pub fn advance(&self, seconds: u64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 += Duration::from_secs(seconds);
        s.1 += Duration::from_secs(seconds);
    }

    /// Someone sets the wall clock: it jumps by `seconds` (either way);
    /// the monotonic clock does not move.
    pub fn jump_wall(&self, seconds: i64) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.0 += time::Duration::seconds(seconds);
    }
}

/// The machine's clocks, both moved on by hand as well: the demo's walk
/// and its tests show what a citizen sees after waiting without waiting.
/// Clones share the same lead.
#[derive(Debug, Clone, Default)]
pub struct HastenedClock {
    system: SystemClock,
    lead: Arc<Mutex<Duration>>,
}

impl HastenedClock {
    /// Both clocks move on by `seconds` at once.
    pub fn hasten(&self, seconds: u64) {
        *self.lead.lock().unwrap_or_else(|p| p.into_inner()) += Duration::from_secs(seconds);
    }

    fn lead(&self) -> Duration {
        *self.lead.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for HastenedClock {
    fn wall(&self) -> OffsetDateTime {
        self.system.wall() + self.lead()
    }

    fn monotonic(&self) -> Duration {
        self.system.monotonic() + self.lead()
    }
}

impl Clock for ManualClock {
    fn wall(&self) -> OffsetDateTime {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).0
    }

    fn monotonic(&self) -> Duration {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

/// UTC+7: Vietnam keeps one time zone and no daylight saving.
pub const VIETNAM: UtcOffset = time::macros::offset!(+7);

/// Notices the wall clock being set: how far it moved against how far the
/// monotonic clock did, since the kiosk started.
#[derive(Debug, Clone, Copy)]
pub struct ClockWatch {
    base: (OffsetDateTime, Duration),
    /// The shift already reported, in seconds.
    noted: i64,
}

impl ClockWatch {
    /// Shifts smaller than this are drift or a time-sync nudge, not news.
    pub const NOTICE_SECONDS: i64 = 60;

    pub fn new(wall: OffsetDateTime, monotonic: Duration) -> ClockWatch {
        ClockWatch {
            base: (wall, monotonic),
            noted: 0,
        }
    }

    /// By how many seconds the wall clock jumped since the last jump
    /// reported (positive: set forwards), when by a minute or more.
    pub fn check(&mut self, wall: OffsetDateTime, monotonic: Duration) -> Option<i64> {
        let walked = (wall - self.base.0).whole_seconds();
        let elapsed = i64::try_from(monotonic.saturating_sub(self.base.1).as_secs()).ok()?;
        let shift = walked - elapsed;
        let jump = shift - self.noted;
        (jump.abs() >= Self::NOTICE_SECONDS).then(|| {
            self.noted = shift;
            jump
        })
    }
}

/// The date on the kiosk's wall at `now`.
pub fn local_date(now: OffsetDateTime) -> Date {
    now.to_offset(VIETNAM).date()
}

/// `HH:MM` on the kiosk's wall at `now`.
pub fn clock_text(now: OffsetDateTime) -> String {
    let local = now.to_offset(VIETNAM);
    format!("{:02}:{:02}", local.hour(), local.minute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_wall_clock_set_either_way_is_noticed_once_and_drift_is_not() {
        let clock = ManualClock::starting_at(datetime!(2026-12-04 02:00 UTC));
        let mut watch = ClockWatch::new(clock.wall(), clock.monotonic());
        clock.advance(3600);
        assert_eq!(watch.check(clock.wall(), clock.monotonic()), None);
        clock.jump_wall(59);
        assert_eq!(watch.check(clock.wall(), clock.monotonic()), None, "drift");
        clock.jump_wall(3 * 3600);
        assert_eq!(
            watch.check(clock.wall(), clock.monotonic()),
            Some(3 * 3600 + 59)
        );
        clock.advance(600);
        assert_eq!(watch.check(clock.wall(), clock.monotonic()), None, "once");
        // A dead RTC battery: back to the year the board was made.
        clock.jump_wall(-(6 * 365 * 86_400));
        assert_eq!(
            watch.check(clock.wall(), clock.monotonic()),
            Some(-(6 * 365 * 86_400))
        );
    }

    #[test]
    fn the_wall_clock_is_seven_hours_ahead_of_utc_and_turns_the_date() {
        let late = datetime!(2026-12-04 17:30 UTC);
        assert_eq!(clock_text(late), "00:30");
        assert_eq!(local_date(late), time::macros::date!(2026 - 12 - 05));
        assert_eq!(
            local_date(datetime!(2026-12-04 16:59 UTC)),
            time::macros::date!(2026 - 12 - 04)
        );
    }
}
