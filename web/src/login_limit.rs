//! Failed logins per client address: a fixed window per IP address. Account
//! lock-out (in storage) stops guessing one account's password; this stops
//! one address from guessing across many usernames, which account lock-out
//! cannot see. Kept in memory: it protects one hub node, and forgetting it on
//! restart only gives an attacker one more window.

use std::net::IpAddr;

use chrono::{NaiveDateTime, TimeDelta};
use dashmap::DashMap;

/// Addresses tracked at most; beyond this, expired windows are swept first
/// and then the map stops growing (new addresses are then not limited until
/// room frees). Bounds memory under an address-spraying attack.
const MAX_TRACKED_ADDRESSES: usize = 100_000;

/// Counts failed logins per address within a window.
#[derive(Debug)]
pub struct LoginLimiter {
    max_failures: u32,
    window: TimeDelta,
    failures: DashMap<IpAddr, (NaiveDateTime, u32)>,
}

impl LoginLimiter {
    /// At most `max_failures` failed logins per address per `window`.
    pub fn new(max_failures: u32, window: TimeDelta) -> Self {
        Self {
            max_failures,
            window,
            failures: DashMap::new(),
        }
    }

    /// Whether `ip` may try to log in at `now`.
    pub fn allows(&self, ip: IpAddr, now: NaiveDateTime) -> bool {
        match self.failures.get(&ip) {
            Some(entry) => {
                let (start, count) = *entry;
                now - start >= self.window || count < self.max_failures
            }
            None => true,
        }
    }

    /// Records a failed login from `ip` at `now`.
    pub fn record_failure(&self, ip: IpAddr, now: NaiveDateTime) {
        if self.failures.len() >= MAX_TRACKED_ADDRESSES {
            let window = self.window;
            self.failures.retain(|_, (start, _)| now - *start < window);
            if self.failures.len() >= MAX_TRACKED_ADDRESSES && !self.failures.contains_key(&ip) {
                return;
            }
        }
        let mut entry = self.failures.entry(ip).or_insert((now, 0));
        let (start, count) = *entry;
        *entry = if now - start >= self.window {
            (now, 1)
        } else {
            (start, count + 1)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_700_000_000 + secs, 0)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn blocks_after_the_limit_and_forgets_after_the_window() {
        let limiter = LoginLimiter::new(3, TimeDelta::seconds(60));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        for s in 0..3 {
            assert!(limiter.allows(ip, at(s)));
            limiter.record_failure(ip, at(s));
        }
        assert!(!limiter.allows(ip, at(10)));
        assert!(
            limiter.allows(other, at(10)),
            "other addresses are not affected"
        );
        assert!(limiter.allows(ip, at(61)), "a new window starts");
        limiter.record_failure(ip, at(61));
        assert!(limiter.allows(ip, at(62)));
    }
}
