//! Rate limits: token buckets per enrolled kiosk (every authenticated
//! request) and per source address (requests that fail authentication).
//!
//! A kiosk's bucket is charged only once its signature has verified, so
//! that nobody can spend a kiosk's allowance by claiming its key. A source
//! is charged for each request the portal refused as unauthenticated, and
//! turned away while its bucket is empty: kiosks behind one office's NAT
//! share an address, and a working kiosk is never charged there.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_sec: f64,
    pub burst: f64,
}

/// Buckets kept at most; beyond this the fullest (idlest) are forgotten,
/// which only ever gives their owners a fresh allowance.
const MAX_KEYS: usize = 100_000;

#[derive(Debug)]
pub(super) struct Limiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Limiter {
    pub(super) fn new(rate: Rate) -> Limiter {
        Limiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn level(&self, tokens: f64, since: Instant, now: Instant) -> f64 {
        let refill = now.saturating_duration_since(since).as_secs_f64() * self.rate.per_sec;
        (tokens + refill).min(self.rate.burst)
    }

    /// The wait until `key` has a whole token, or `None` when it has one now.
    pub(super) fn wait(&self, key: &str, now: Instant) -> Option<Duration> {
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let tokens = buckets
            .get(key)
            .map_or(self.rate.burst, |(t, at)| self.level(*t, *at, now));
        (tokens < 1.0).then(|| self.until_whole(tokens))
    }

    fn until_whole(&self, tokens: f64) -> Duration {
        Duration::from_secs_f64(((1.0 - tokens) / self.rate.per_sec.max(1e-6)).min(3600.0))
    }

    /// Takes a token from `key`'s bucket; the wait until one is there when
    /// it is empty (nothing taken then).
    pub(super) fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            buckets.retain(|_, (t, at)| self.level(*t, *at, now) < self.rate.burst);
            if buckets.len() >= MAX_KEYS {
                buckets.clear();
            }
        }
        let (tokens, at) = buckets.get(key).copied().unwrap_or((self.rate.burst, now));
        let level = self.level(tokens, at, now);
        if level >= 1.0 {
            buckets.insert(key.to_string(), (level - 1.0, now));
            Ok(())
        } else {
            buckets.insert(key.to_string(), (level, now));
            Err(self.until_whole(level))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let l = Limiter::new(Rate {
            per_sec: 2.0,
            burst: 3.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take("k", t0).is_ok());
        }
        let wait = l.take("k", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        assert_eq!(l.wait("k", t0), Some(wait));
        // Another key has its own bucket.
        assert!(l.take("other", t0).is_ok());
        // Half a second later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(l.wait("k", t1), None);
        assert!(l.take("k", t1).is_ok());
        assert!(l.take("k", t1).is_err());
        // Idle long enough, the bucket is full again, never fuller.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(l.take("k", t2).is_ok());
        }
        assert!(l.take("k", t2).is_err());
    }
}
