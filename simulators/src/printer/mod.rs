//! The simulated card printer: being written.
