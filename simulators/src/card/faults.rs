//! Faults on demand: what a badly behaved card or a clumsy operator does to
//! the hub. Tests arm them through the control channel
//! ([`super::control`]); the vpcd loop consults them around every APDU.
//!
//! - [`RemoveAfter`]: the card is pulled out after N more APDUs; the Nth is
//!   either applied (its effect is on the card, the answer never arrives) or
//!   not applied at all. This is how a torn write is staged.
//! - corrupt next response: one bit of the next answer's data is flipped
//!   (the status word is left alone, so the hub sees a well-formed but wrong
//!   answer: a bad cryptogram, a garbled record).
//! - slow card: every APDU is answered after a delay.
//!
//! Insertion and removal themselves are state of the simulator, not faults.

use serde::{Deserialize, Serialize};

/// Pull the card out after `apdus` more APDUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveAfter {
    /// How many more APDUs the card receives; the last of them is the one
    /// during which the card is removed (0 is treated as 1: the very next
    /// APDU).
    pub apdus: u32,
    /// Whether that last APDU takes effect on the card before removal. Its
    /// answer is never sent either way.
    pub apply_last: bool,
}

/// What happens to one APDU, decided by [`Faults::on_apdu`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApduFate {
    /// Process and answer as usual.
    Answer,
    /// Process it (its effect stays on the card), then remove the card
    /// without answering.
    ApplyThenRemove,
    /// Remove the card without processing or answering.
    RemoveUnapplied,
}

/// The armed faults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults {
    /// A pending removal, if any.
    pub remove_after: Option<RemoveAfter>,
    /// Whether the next answer that carries data gets one bit flipped.
    pub corrupt_next: bool,
    /// Delay before every answer, in milliseconds (0: none).
    pub slow_ms: u64,
}

impl Faults {
    /// Decides the fate of the APDU just received, counting down a pending
    /// removal.
    pub fn on_apdu(&mut self) -> ApduFate {
        let Some(pending) = self.remove_after.as_mut() else {
            return ApduFate::Answer;
        };
        if pending.apdus > 1 {
            pending.apdus -= 1;
            return ApduFate::Answer;
        }
        let apply = pending.apply_last;
        self.remove_after = None;
        if apply {
            ApduFate::ApplyThenRemove
        } else {
            ApduFate::RemoveUnapplied
        }
    }

    /// Applies a pending corruption to a response APDU (data ‖ SW1 SW2):
    /// flips the low bit of the first data byte. A response with no data
    /// leaves the corruption armed for the next one that has data.
    pub fn corrupt(&mut self, response: &mut [u8]) {
        if self.corrupt_next && response.len() > 2 {
            response[0] ^= 0x01;
            self.corrupt_next = false;
        }
    }

    /// Disarms everything (a removed card forgets a pending removal; the
    /// other faults belong to the test and stay).
    pub fn clear_removal(&mut self) {
        self.remove_after = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_faults_every_apdu_is_answered() {
        let mut f = Faults::default();
        for _ in 0..5 {
            assert_eq!(f.on_apdu(), ApduFate::Answer);
        }
    }

    #[test]
    fn remove_after_three_fires_on_the_third_apdu_once() {
        let mut f = Faults {
            remove_after: Some(RemoveAfter {
                apdus: 3,
                apply_last: false,
            }),
            ..Faults::default()
        };
        assert_eq!(f.on_apdu(), ApduFate::Answer);
        assert_eq!(f.on_apdu(), ApduFate::Answer);
        assert_eq!(f.on_apdu(), ApduFate::RemoveUnapplied);
        assert_eq!(f.on_apdu(), ApduFate::Answer);
    }

    #[test]
    fn apply_last_and_zero_count() {
        let mut f = Faults {
            remove_after: Some(RemoveAfter {
                apdus: 0,
                apply_last: true,
            }),
            ..Faults::default()
        };
        assert_eq!(f.on_apdu(), ApduFate::ApplyThenRemove);
        assert_eq!(f.remove_after, None);
    }

    #[test]
    fn corruption_waits_for_data_and_spares_the_status_word() {
        let mut f = Faults {
            corrupt_next: true,
            ..Faults::default()
        };
        let mut bare = vec![0x90, 0x00];
        f.corrupt(&mut bare);
        assert_eq!(bare, [0x90, 0x00]);
        assert!(f.corrupt_next);
        let mut data = vec![0x01, 0x02, 0x90, 0x00];
        f.corrupt(&mut data);
        assert_eq!(data, [0x00, 0x02, 0x90, 0x00]);
        assert!(!f.corrupt_next);
        let mut again = vec![0x01, 0x02, 0x90, 0x00];
        f.corrupt(&mut again);
        assert_eq!(again, [0x01, 0x02, 0x90, 0x00]);
    }
}
