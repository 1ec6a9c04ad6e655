//! Synthetic ID photos for simulated outside parties: being written.
