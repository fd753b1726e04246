//! Vietnam's wall clock. The kiosk keeps UTC everywhere it stores or sends
//! a time; what a person reads (the status bar's clock, today's date for
//! age and birth-year rules, the technician's report) is in Vietnam's one
//! time zone, UTC+7, with no daylight saving.

use time::{Date, OffsetDateTime, UtcOffset};

/// UTC+7: Vietnam keeps one time zone and no daylight saving.
pub const VIETNAM: UtcOffset = time::macros::offset!(+7);

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
