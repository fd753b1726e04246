//! The outbox relay's deterministic core: which queued registrations go in
//! the next upload, when to try again, and what the relay tells the status
//! bar. Time and randomness are inputs; the async driver that talks HTTP to
//! the portal wraps this (STYLE.md §1).
//!
//! Retries use capped exponential backoff with full jitter (a uniformly
//! random wait between zero and the cap for that attempt), and a portal's
//! `Retry-After` is honoured as a floor. Nothing here deletes anything: a
//! registration leaves the outbox only when the portal has answered for it.

use std::time::Duration;

use rand::{CryptoRng, RngExt as _};

/// Limits and timings of the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    pub max_batch_items: usize,
    pub max_batch_bytes: usize,
    /// The first retry waits up to this long.
    pub base_delay: Duration,
    /// No retry waits longer than this.
    pub max_delay: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            // About 6 s of a 256 kbit/s line once compressed: the round trip
            // and the portal's commits cost a few percent on top, and a lost
            // answer wastes no more than that.
            max_batch_items: 200,
            max_batch_bytes: 512 * 1024,
            base_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(30 * 60),
        }
    }
}

/// One outbox row as the relay sees it: no personal data, only size and
/// schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub registration_id: String,
    pub envelope_bytes: usize,
    pub attempts: u32,
    /// Unix seconds; not before this.
    pub next_attempt_at: i64,
    pub created_at: i64,
}

/// The longest the relay ever schedules a retry ahead, whatever a portal's
/// `Retry-After` asks.
pub const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

/// The due rows for the next upload, oldest first, within the batch limits.
/// A single row larger than the byte limit still goes, alone, so it cannot
/// block the queue. A row scheduled further ahead than [`LONGEST_WAIT`] was
/// scheduled by a clock since set back (a dead RTC battery, a technician):
/// it is due now, not in however many hours the clock moved.
pub fn next_batch<'a>(queue: &'a [Queued], now: i64, config: &RelayConfig) -> Vec<&'a Queued> {
    let horizon = now.saturating_add(LONGEST_WAIT.as_secs() as i64);
    let mut due: Vec<&Queued> = queue
        .iter()
        .filter(|q| q.next_attempt_at <= now || q.next_attempt_at > horizon)
        .collect();
    due.sort_by(|a, b| (a.created_at, &a.registration_id).cmp(&(b.created_at, &b.registration_id)));
    let mut batch = Vec::new();
    let mut bytes = 0usize;
    for q in due {
        if batch.len() == config.max_batch_items
            || (!batch.is_empty() && bytes + q.envelope_bytes > config.max_batch_bytes)
        {
            break;
        }
        bytes += q.envelope_bytes;
        batch.push(q);
    }
    batch
}

/// The wait before attempt number `attempts + 1`: uniform in
/// `[0, min(max_delay, base_delay · 2^attempts)]`.
pub fn backoff<R: CryptoRng + ?Sized>(
    attempts: u32,
    config: &RelayConfig,
    rng: &mut R,
) -> Duration {
    let cap = config
        .base_delay
        .checked_mul(1u32.checked_shl(attempts.min(31)).unwrap_or(u32::MAX))
        .unwrap_or(config.max_delay)
        .min(config.max_delay);
    let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rng.random_range(0..=millis))
}

/// What the portal said about one registration of an upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Stored; the account follows (or is pending checks).
    Accepted,
    /// The identity already has an account; the portal informs the citizen.
    Duplicate,
    /// Refused for good, with the portal's reason.
    Rejected(String),
    /// Not now: keep it and try again.
    RetryLater,
    /// Kept by neither side until someone fixes something (the kiosk's key
    /// was replaced without a replacement enrolment, say): the kiosk keeps
    /// it and tries again, with the portal's reason as its error.
    Held(String),
}

/// How an upload attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadResult {
    /// The portal answered for each item (by registration id).
    Answered(Vec<(String, ItemOutcome)>),
    /// 429/503 with `Retry-After`, or any answer that asks to wait.
    RetryAfter(Duration),
    /// No answer: connection refused, reset, timed out, truncated body, 5xx.
    Failed(String),
}

/// What to do with one outbox row after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// The portal has it for good: record the outcome; the row leaves the outbox.
    Settled {
        registration_id: String,
        outcome: ItemOutcome,
    },
    /// Try again at this time (Unix seconds), with the attempt counted.
    Retry {
        registration_id: String,
        next_attempt_at: i64,
        attempts: u32,
        error: Option<String>,
    },
}

/// What the status bar and `kioskctl sync status` show.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelayStatus {
    pub online: bool,
    pub last_success: Option<i64>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
}

/// Applies an upload's result to the batch that was sent, and updates the
/// status. Items the portal did not mention are retried: an answer that
/// forgot one must not lose it.
pub fn settle<R: CryptoRng + ?Sized>(
    batch: &[&Queued],
    result: &UploadResult,
    now: i64,
    config: &RelayConfig,
    status: &mut RelayStatus,
    rng: &mut R,
) -> Vec<Disposition> {
    let retry = |q: &Queued, floor: Duration, error: Option<String>, rng: &mut R| {
        let wait = backoff(q.attempts, config, rng)
            .max(floor)
            .min(LONGEST_WAIT);
        Disposition::Retry {
            registration_id: q.registration_id.clone(),
            next_attempt_at: now + i64::try_from(wait.as_secs()).unwrap_or(i64::MAX / 2),
            attempts: q.attempts + 1,
            error,
        }
    };
    match result {
        UploadResult::Answered(answers) => {
            status.online = true;
            status.last_success = Some(now);
            status.last_error = None;
            status.consecutive_failures = 0;
            batch
                .iter()
                .map(|q| {
                    match answers
                        .iter()
                        .find(|(id, _)| *id == q.registration_id)
                        .map(|(_, o)| o)
                    {
                        Some(ItemOutcome::RetryLater) => retry(
                            q,
                            Duration::ZERO,
                            Some("the portal asked to retry later".into()),
                            rng,
                        ),
                        Some(ItemOutcome::Held(reason)) => retry(
                            q,
                            Duration::ZERO,
                            Some(format!("held by the portal: {reason}")),
                            rng,
                        ),
                        Some(outcome) => Disposition::Settled {
                            registration_id: q.registration_id.clone(),
                            outcome: outcome.clone(),
                        },
                        None => retry(
                            q,
                            Duration::ZERO,
                            Some("the portal's answer left this registration out".into()),
                            rng,
                        ),
                    }
                })
                .collect()
        }
        UploadResult::RetryAfter(wait) => {
            // The portal is there, and busy: online, not failing.
            status.online = true;
            status.last_error = Some(format!("portal busy, retry after {} s", wait.as_secs()));
            batch
                .iter()
                .map(|q| retry(q, *wait, status.last_error.clone(), rng))
                .collect()
        }
        UploadResult::Failed(error) => {
            status.online = false;
            status.last_error = Some(error.clone());
            status.consecutive_failures += 1;
            batch
                .iter()
                .map(|q| retry(q, Duration::ZERO, Some(error.clone()), rng))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn queued(id: &str, bytes: usize, created_at: i64, next: i64) -> Queued {
        Queued {
            registration_id: id.into(),
            envelope_bytes: bytes,
            attempts: 0,
            next_attempt_at: next,
            created_at,
        }
    }

    fn ids(batch: &[&Queued]) -> Vec<String> {
        batch.iter().map(|q| q.registration_id.clone()).collect()
    }

    #[test]
    fn batches_take_due_rows_oldest_first_within_the_limits() {
        let config = RelayConfig {
            max_batch_items: 3,
            max_batch_bytes: 1000,
            ..RelayConfig::default()
        };
        let queue = vec![
            queued("c", 100, 30, 0),
            queued("a", 100, 10, 0),
            queued("later", 100, 5, 500),
            queued("b", 100, 20, 0),
            queued("d", 100, 40, 0),
        ];
        assert_eq!(ids(&next_batch(&queue, 100, &config)), vec!["a", "b", "c"]);
        let bytes = RelayConfig {
            max_batch_bytes: 250,
            ..config
        };
        assert_eq!(ids(&next_batch(&queue, 100, &bytes)), vec!["a", "b"]);
        assert_eq!(
            ids(&next_batch(&queue, 600, &config)),
            vec!["later", "a", "b"]
        );
    }

    #[test]
    fn an_oversized_row_goes_alone_rather_than_blocking_the_queue() {
        let config = RelayConfig {
            max_batch_bytes: 100,
            ..RelayConfig::default()
        };
        let queue = vec![queued("big", 5000, 1, 0), queued("small", 10, 2, 0)];
        assert_eq!(ids(&next_batch(&queue, 0, &config)), vec!["big"]);
    }

    #[test]
    fn a_failed_upload_keeps_every_row_and_counts_the_attempt() {
        let config = RelayConfig::default();
        let queue = vec![queued("a", 10, 1, 0), queued("b", 10, 2, 0)];
        let batch = next_batch(&queue, 100, &config);
        let mut status = RelayStatus::default();
        let out = settle(
            &batch,
            &UploadResult::Failed("connection refused".into()),
            100,
            &config,
            &mut status,
            &mut StdRng::seed_from_u64(1),
        );
        assert_eq!(out.len(), 2);
        for d in out {
            let Disposition::Retry {
                attempts,
                next_attempt_at,
                error,
                ..
            } = d
            else {
                panic!("{d:?}")
            };
            assert_eq!(attempts, 1);
            assert!((100..=105).contains(&next_attempt_at));
            assert_eq!(error.as_deref(), Some("connection refused"));
        }
        assert_eq!((status.online, status.consecutive_failures), (false, 1));
    }

    #[test]
    fn retry_after_is_a_floor_and_the_portal_counts_as_online() {
        let config = RelayConfig::default();
        let queue = vec![queued("a", 10, 1, 0)];
        let batch = next_batch(&queue, 0, &config);
        let mut status = RelayStatus::default();
        let out = settle(
            &batch,
            &UploadResult::RetryAfter(Duration::from_secs(120)),
            1000,
            &config,
            &mut status,
            &mut StdRng::seed_from_u64(2),
        );
        let Disposition::Retry {
            next_attempt_at, ..
        } = &out[0]
        else {
            panic!()
        };
        assert!(*next_attempt_at >= 1120);
        assert!(status.online && status.consecutive_failures == 0);
    }

    #[test]
    fn answers_settle_rows_and_forgotten_rows_are_retried() {
        let config = RelayConfig::default();
        let queue = vec![
            queued("a", 10, 1, 0),
            queued("b", 10, 2, 0),
            queued("c", 10, 3, 0),
            queued("d", 10, 4, 0),
            queued("e", 10, 5, 0),
        ];
        let batch = next_batch(&queue, 0, &config);
        let answers = UploadResult::Answered(vec![
            ("a".into(), ItemOutcome::Accepted),
            ("b".into(), ItemOutcome::Duplicate),
            ("c".into(), ItemOutcome::RetryLater),
            ("e".into(), ItemOutcome::Held("new key".into())),
        ]);
        let mut status = RelayStatus {
            consecutive_failures: 4,
            ..RelayStatus::default()
        };
        let out = settle(
            &batch,
            &answers,
            50,
            &config,
            &mut status,
            &mut StdRng::seed_from_u64(3),
        );
        assert_eq!(
            out[0],
            Disposition::Settled {
                registration_id: "a".into(),
                outcome: ItemOutcome::Accepted
            }
        );
        assert_eq!(
            out[1],
            Disposition::Settled {
                registration_id: "b".into(),
                outcome: ItemOutcome::Duplicate
            }
        );
        assert!(
            matches!(&out[2], Disposition::Retry { registration_id, .. } if registration_id == "c")
        );
        assert!(
            matches!(&out[3], Disposition::Retry { registration_id, error: Some(e), .. } if registration_id == "d" && e.contains("left"))
        );
        // Held is kept, with the portal's reason, never settled.
        assert!(
            matches!(&out[4], Disposition::Retry { registration_id, error: Some(e), .. } if registration_id == "e" && e == "held by the portal: new key")
        );
        assert_eq!(
            (
                status.online,
                status.last_success,
                status.consecutive_failures
            ),
            (true, Some(50), 0)
        );
    }

    #[test]
    fn a_retry_scheduled_before_the_clock_was_set_back_is_due_now() {
        let config = RelayConfig::default();
        let row = |id: &str, next_attempt_at| Queued {
            registration_id: id.into(),
            envelope_bytes: 100,
            attempts: 3,
            next_attempt_at,
            created_at: 0,
        };
        let now = 1_800_000_000;
        let queue = [
            row("soon", now + 60),
            row("set-back", now + 6 * 3600 + LONGEST_WAIT.as_secs() as i64),
            row("due", now),
        ];
        let ids: Vec<&str> = next_batch(&queue, now, &config)
            .iter()
            .map(|q| q.registration_id.as_str())
            .collect();
        assert_eq!(ids, ["due", "set-back"]);
        // And no answer schedules one that far.
        let mut status = RelayStatus::default();
        let settled = settle(
            &[&queue[2]],
            &UploadResult::RetryAfter(Duration::from_secs(7 * 86_400)),
            now,
            &config,
            &mut status,
            &mut StdRng::seed_from_u64(1),
        );
        let [
            Disposition::Retry {
                next_attempt_at, ..
            },
        ] = &settled[..]
        else {
            panic!("{settled:?}");
        };
        assert_eq!(*next_attempt_at, now + LONGEST_WAIT.as_secs() as i64);
    }

    #[test]
    fn backoff_doubles_its_cap_until_the_maximum() {
        let config = RelayConfig {
            base_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(60),
            ..RelayConfig::default()
        };
        let mut rng = StdRng::seed_from_u64(4);
        let mut max_over = |attempts| {
            (0..2000)
                .map(|_| backoff(attempts, &config, &mut rng))
                .max()
                .unwrap()
        };
        for (attempts, cap) in [(0, 5), (2, 20), (40, 60)] {
            let seen = max_over(attempts);
            let cap = Duration::from_secs(cap);
            // Never above the cap, and full jitter reaches close to it.
            assert!(
                seen <= cap && seen > cap.mul_f64(0.9),
                "{attempts}: {seen:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn nothing_is_ever_dropped(outcomes in proptest::collection::vec(0u8..5, 1..30), seed in any::<u64>()) {
            let config = RelayConfig::default();
            let queue: Vec<Queued> = (0..outcomes.len()).map(|i| queued(&format!("r{i}"), 100, i as i64, 0)).collect();
            let batch = next_batch(&queue, 0, &config);
            let answers: Vec<(String, ItemOutcome)> = batch
                .iter()
                .zip(&outcomes)
                .filter_map(|(q, o)| {
                    let outcome = match o {
                        0 => ItemOutcome::Accepted,
                        1 => ItemOutcome::Duplicate,
                        2 => ItemOutcome::Rejected("bad".into()),
                        3 => ItemOutcome::RetryLater,
                        _ => return None,
                    };
                    Some((q.registration_id.clone(), outcome))
                })
                .collect();
            let mut status = RelayStatus::default();
            let out = settle(&batch, &UploadResult::Answered(answers), 0, &config, &mut status, &mut StdRng::seed_from_u64(seed));
            // Every row sent gets exactly one disposition.
            prop_assert_eq!(out.len(), batch.len());
            for (q, d) in batch.iter().zip(&out) {
                let id = match d {
                    Disposition::Settled { registration_id, .. } | Disposition::Retry { registration_id, .. } => registration_id,
                };
                prop_assert_eq!(id, &q.registration_id);
            }
        }
    }
}
