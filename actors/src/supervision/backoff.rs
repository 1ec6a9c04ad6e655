//! Exponential back-off with jitter between restarts of one child.
//!
//! Pure arithmetic: no clock, no timers, no actor. The caller passes in how
//! long the child ran and the random source, and gets back the delay to
//! wait; the supervisor (`supervisor/mod.rs`) owns the timer and the RNG
//! (seedable, so tests can replay a run). Reusable by any actor that
//! reconnects a device or a link.

use std::time::Duration;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

/// How a restart delay is randomised around the doubled delay `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Exactly `cap`: predictable, but children that failed together restart
    /// together.
    None,
    /// Uniform in `[0, cap]`: spreads restarts the most, delays do not grow
    /// monotonically.
    Full,
    /// Uniform in `[cap / 2, cap]`: spread out, and while the cap is still
    /// doubling a later delay is never shorter than an earlier one.
    Equal,
}

/// The back-off settings of one supervisor, in durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Delay cap for the first restart after a failure.
    pub initial: Duration,
    /// Largest delay cap, whatever the number of consecutive failures.
    pub max: Duration,
    /// How the delay is drawn below its cap.
    pub jitter: Jitter,
    /// Uptime after which the next failure counts as a first failure again.
    pub stable_after: Duration,
}

impl BackoffPolicy {
    /// The cap for the `attempt`-th consecutive restart (0-based):
    /// `min(max, initial × 2^attempt)`.
    pub fn cap(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        self.initial
            .checked_mul(factor)
            .map_or(self.max, |d| d.min(self.max))
    }

    /// The smallest and largest delay the jitter may choose for `attempt`.
    pub fn bounds(&self, attempt: u32) -> (Duration, Duration) {
        let cap = self.cap(attempt);
        match self.jitter {
            Jitter::None => (cap, cap),
            Jitter::Full => (Duration::ZERO, cap),
            Jitter::Equal => (cap / 2, cap),
        }
    }
}

/// The back-off state of one child: how many consecutive failures it has had.
#[derive(Clone, Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
}

impl Backoff {
    /// A child that has not failed yet.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self { policy, attempt: 0 }
    }

    /// Consecutive failures counted so far (0 after a stable run).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Tells the back-off how long the child ran before it failed: a run of
    /// at least `stable_after` forgets the earlier failures.
    pub fn child_ran_for(&mut self, uptime: Duration) {
        if uptime >= self.policy.stable_after {
            self.attempt = 0;
        }
    }

    /// Chooses the delay before the next restart and counts the failure.
    pub fn next_delay<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Duration {
        let (low, high) = self.policy.bounds(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        if low == high {
            return low;
        }
        // Nanoseconds fit in u64 for any delay below 584 years.
        let low_ns = u64::try_from(low.as_nanos()).unwrap_or(u64::MAX);
        let high_ns = u64::try_from(high.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(low_ns..=high_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn policy(jitter: Jitter) -> BackoffPolicy {
        BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1_000),
            jitter,
            stable_after: Duration::from_secs(10),
        }
    }

    fn delays(jitter: Jitter, seed: u64, n: usize) -> Vec<Duration> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut backoff = Backoff::new(policy(jitter));
        (0..n).map(|_| backoff.next_delay(&mut rng)).collect()
    }

    #[test]
    fn without_jitter_delays_double_up_to_the_cap() {
        let ms: Vec<u128> = delays(Jitter::None, 1, 6)
            .iter()
            .map(Duration::as_millis)
            .collect();
        assert_eq!(ms, [100, 200, 400, 800, 1_000, 1_000]);
    }

    #[test]
    fn jittered_delays_stay_within_their_bounds() {
        for jitter in [Jitter::Full, Jitter::Equal] {
            for seed in 0..50 {
                for (attempt, delay) in delays(jitter, seed, 8).into_iter().enumerate() {
                    let attempt = u32::try_from(attempt).expect("8 attempts fit in u32");
                    let (low, high) = policy(jitter).bounds(attempt);
                    assert!(
                        low <= delay && delay <= high,
                        "{jitter:?} attempt {attempt}: {delay:?} outside {low:?}..={high:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn equal_jitter_never_shortens_the_delay_while_the_cap_doubles() {
        // Caps 100, 200, 400, 800 ms double; the fifth is cut to 1000 ms.
        for seed in 0..50 {
            let d = delays(Jitter::Equal, seed, 4);
            assert!(d.windows(2).all(|w| w[0] <= w[1]), "seed {seed}: {d:?}");
        }
    }

    #[test]
    fn jitter_actually_varies_and_a_seed_replays() {
        let a = delays(Jitter::Full, 7, 8);
        assert_eq!(a, delays(Jitter::Full, 7, 8));
        let distinct: std::collections::BTreeSet<_> = (0..20)
            .map(|seed| delays(Jitter::Full, seed, 1)[0])
            .collect();
        assert!(distinct.len() > 10, "full jitter drew {distinct:?}");
    }

    #[test]
    fn a_stable_run_restarts_the_back_off_but_a_short_one_does_not() {
        let mut rng = SmallRng::seed_from_u64(3);
        let mut backoff = Backoff::new(policy(Jitter::None));
        backoff.next_delay(&mut rng);
        backoff.next_delay(&mut rng);
        backoff.child_ran_for(Duration::from_secs(9));
        assert_eq!(backoff.next_delay(&mut rng), Duration::from_millis(400));
        backoff.child_ran_for(Duration::from_secs(10));
        assert_eq!(backoff.attempt(), 0);
        assert_eq!(backoff.next_delay(&mut rng), Duration::from_millis(100));
    }

    #[test]
    fn huge_attempt_counts_saturate_at_the_cap() {
        let p = policy(Jitter::None);
        assert_eq!(p.cap(31), p.max);
        assert_eq!(p.cap(32), p.max);
        assert_eq!(p.cap(u32::MAX), p.max);
        let zero = BackoffPolicy {
            initial: Duration::ZERO,
            ..p
        };
        assert_eq!(zero.bounds(5), (Duration::ZERO, Duration::ZERO));
    }
}
