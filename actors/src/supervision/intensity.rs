//! The restart intensity rule: at most N restarts within T, then escalate.
//!
//! Pure bookkeeping over instants the caller supplies; no clock is read here.
//! The supervisor (`supervisor/mod.rs`) keeps one [`RestartIntensity`] per
//! child and escalates when [`RestartIntensity::record`] refuses a restart.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A restart was refused: the child already restarted `max_restarts` times
/// within the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntensityExceeded {
    /// The configured limit that was reached.
    pub max_restarts: u32,
    /// The window it applies to.
    pub within: Duration,
}

/// Sliding-window count of recent restarts of one child.
#[derive(Clone, Debug)]
pub struct RestartIntensity {
    max_restarts: u32,
    within: Duration,
    recent: VecDeque<Instant>,
}

impl RestartIntensity {
    /// Allows `max_restarts` restarts in any window of length `within`.
    pub fn new(max_restarts: u32, within: Duration) -> Self {
        Self {
            max_restarts,
            within,
            recent: VecDeque::new(),
        }
    }

    /// Asks to restart at `now`: counts the restart, or refuses it when the
    /// window is already full.
    pub fn record(&mut self, now: Instant) -> Result<(), IntensityExceeded> {
        self.forget_before(now);
        if self.recent.len() >= self.max_restarts as usize {
            return Err(IntensityExceeded {
                max_restarts: self.max_restarts,
                within: self.within,
            });
        }
        self.recent.push_back(now);
        Ok(())
    }

    /// Restarts counted in the window ending at `now`.
    pub fn recent(&mut self, now: Instant) -> u32 {
        self.forget_before(now);
        u32::try_from(self.recent.len()).unwrap_or(u32::MAX)
    }

    fn forget_before(&mut self, now: Instant) {
        while let Some(&oldest) = self.recent.front() {
            if now.saturating_duration_since(oldest) >= self.within {
                self.recent.pop_front();
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn the_restart_after_the_limit_is_refused() {
        let t0 = Instant::now();
        let mut intensity = RestartIntensity::new(3, 10 * SEC);
        for i in 0..3 {
            assert!(intensity.record(t0 + i * SEC).is_ok());
        }
        assert_eq!(
            intensity.record(t0 + 3 * SEC),
            Err(IntensityExceeded {
                max_restarts: 3,
                within: 10 * SEC
            })
        );
    }

    #[test]
    fn restarts_older_than_the_window_no_longer_count() {
        let t0 = Instant::now();
        let mut intensity = RestartIntensity::new(2, 10 * SEC);
        intensity.record(t0).expect("first restart");
        intensity.record(t0 + SEC).expect("second restart");
        assert!(intensity.record(t0 + 9 * SEC).is_err());
        assert_eq!(intensity.recent(t0 + 10 * SEC), 1);
        assert!(intensity.record(t0 + 10 * SEC).is_ok());
    }

    #[test]
    fn zero_restarts_escalates_on_the_first_failure() {
        let mut intensity = RestartIntensity::new(0, 10 * SEC);
        assert!(intensity.record(Instant::now()).is_err());
    }
}
