//! `[terminal]`: the hub's side of the branch terminals' link
//! (`/ws/terminal`): heartbeats, how long a cut session may be resumed, and
//! the bounds that keep one terminal (or ten thousand) from taking more
//! than its share of memory. The branch PC's own settings are another file
//! (`config/terminal.example.toml`).

use std::time::Duration;

use serde::Deserialize;

/// `[terminal]`
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TerminalConfig {
    /// How often each side sends a `heartbeat` when it has sent nothing
    /// else (seconds; `welcome` tells the terminal).
    pub heartbeat_secs: u64,
    /// A terminal silent this long, or whose socket takes nothing this
    /// long, is closed (seconds; `welcome` tells the terminal).
    pub timeout_secs: u64,
    /// A terminal must have authenticated (hello, challenge,
    /// auth_response) this soon after connecting (seconds).
    pub hello_timeout_secs: u64,
    /// A session survives a cut this long: a terminal reconnecting with
    /// `hello.resume` within it picks up its pushes, device events and
    /// devices where it left them (seconds).
    pub resume_secs: u64,
    /// The largest frame a terminal may send (bytes): a photo from the
    /// counter's camera (a few hundred KiB as base64) must fit.
    pub max_message_bytes: usize,
    /// Pushes kept per terminal until it acknowledges them, across cuts
    /// and while it has no session yet; a push beyond this is refused.
    pub outbox_capacity: usize,
    /// Frames waiting to be written to one terminal's socket; a terminal
    /// that falls this far behind is closed and resumes (nothing is lost:
    /// pushes stay in the outbox).
    pub send_queue: usize,
    /// Device commands in flight on one link at once; more are refused as
    /// overloaded.
    pub max_in_flight: usize,
    /// Prepared SM2 public keys kept (each holds a 37 KiB table that makes
    /// verifying its signatures fast); the least recently used one goes
    /// first.
    pub verifying_keys: usize,
}

impl Default for TerminalConfig {
    fn default() -> Self {
        Self {
            heartbeat_secs: 15,
            timeout_secs: 45,
            hello_timeout_secs: 15,
            resume_secs: 300,
            // A 358 x 441 ID photo is well under 100 KiB; a full camera
            // frame as base64 is a few hundred KiB.
            max_message_bytes: 4 * 1024 * 1024,
            outbox_capacity: 256,
            send_queue: 32,
            max_in_flight: 16,
            verifying_keys: 256,
        }
    }
}

impl TerminalConfig {
    /// `heartbeat_secs` as a duration (at least a second).
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs.max(1))
    }

    /// `timeout_secs` as a duration (at least a second).
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs.max(1))
    }

    /// `resume_secs` as a duration.
    pub fn resume(&self) -> Duration {
        Duration::from_secs(self.resume_secs)
    }
}
