//! Supervision behaviour seen from outside: restarts with fresh state,
//! back-off, escalation, nesting, metrics and the hub's tree.
//!
//! Every test drives a real actix system with [`probe::Probe`] children that
//! fail on command, and waits on supervision events (with a timeout), never
//! on sleeps. One test binary, so the helpers are shared without dead code.

mod backoff;
mod escalation;
mod hub;
mod metrics;
mod probe;
mod restart;
