//! Faults of the host link, armed through the control channel: the link
//! dropped in the middle of a command's exchange ([`DropAfter`]), a
//! garbled reply, a slow printer. The printer's own faults (jam, ribbon,
//! hopper, cover) are states of [`super::machine::PrinterMachine`].

use serde::{Deserialize, Serialize};

/// Drop the host link during a coming command's exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropAfter {
    /// How many commands are still answered first (0: the very next
    /// command is the one during which the link drops).
    pub commands: u32,
    /// Whether that command is carried out before the link drops (the
    /// card moved, but the host never hears so). Its reply is never sent.
    pub apply_last: bool,
}

/// What happens to one command, decided by [`LinkFaults::on_command`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandFate {
    /// Carry it out and answer.
    Answer,
    /// Carry it out, then drop the link without answering.
    ApplyThenDrop,
    /// Drop the link without carrying it out or answering.
    DropUnapplied,
}

/// The armed link faults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkFaults {
    /// A pending drop, if any.
    pub drop_after: Option<DropAfter>,
    /// Whether the next reply is garbled.
    pub garble_next: bool,
    /// Extra delay before every reply, in milliseconds.
    pub slow_ms: u64,
}

impl LinkFaults {
    /// Decides the fate of the command just read, counting a pending drop
    /// down.
    pub fn on_command(&mut self) -> CommandFate {
        match self.drop_after.as_mut() {
            None => CommandFate::Answer,
            Some(pending) if pending.commands > 0 => {
                pending.commands -= 1;
                CommandFate::Answer
            }
            Some(pending) => {
                let apply = pending.apply_last;
                self.drop_after = None;
                if apply {
                    CommandFate::ApplyThenDrop
                } else {
                    CommandFate::DropUnapplied
                }
            }
        }
    }

    /// Garbles `reply` if armed (once): its first byte gets its top bit
    /// set, so the line is no longer ASCII but keeps its length and CR
    /// (the host's decoder resynchronises at that CR).
    pub fn garble(&mut self, reply: &mut [u8]) {
        if std::mem::take(&mut self.garble_next)
            && let Some(first) = reply.first_mut()
        {
            *first |= 0x80;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drop_comes_after_the_commands_still_answered() {
        let mut faults = LinkFaults {
            drop_after: Some(DropAfter {
                commands: 2,
                apply_last: false,
            }),
            ..LinkFaults::default()
        };
        assert_eq!(faults.on_command(), CommandFate::Answer);
        assert_eq!(faults.on_command(), CommandFate::Answer);
        assert_eq!(faults.on_command(), CommandFate::DropUnapplied);
        assert_eq!(faults.on_command(), CommandFate::Answer);
        faults.drop_after = Some(DropAfter {
            commands: 0,
            apply_last: true,
        });
        assert_eq!(faults.on_command(), CommandFate::ApplyThenDrop);
    }

    #[test]
    fn garbling_happens_once_and_keeps_the_line_length() {
        let mut faults = LinkFaults {
            garble_next: true,
            ..LinkFaults::default()
        };
        let mut reply = b"OK\r".to_vec();
        faults.garble(&mut reply);
        assert_eq!(reply, b"\xcfK\r");
        let mut again = b"OK\r".to_vec();
        faults.garble(&mut again);
        assert_eq!(again, b"OK\r");
    }
}
