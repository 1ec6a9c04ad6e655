//! At-least-once delivery over a link that drops and reconnects: the
//! sender's [`Outbox`] numbers messages and keeps each until the peer
//! acknowledges it; the receiver's [`Inbox`] drops what it has already seen
//! and says what to acknowledge.
//!
//! Sequence numbers count from 1 per session and direction; 0 means
//! "nothing yet". Acknowledgements are cumulative (`ack { seq }` covers
//! everything up to `seq`), which is sound because the link (one WebSocket)
//! delivers in order, and the receiver refuses a gap instead of skipping
//! over it. After a cut, each side tells the other the last seq it received
//! (`hello.resume.last_seq`, `welcome.last_seq`) and the sender re-sends
//! everything after it ([`Outbox::resume`]). When the hub cannot resume the
//! session, both sides start again from 1: the outbox renumbers what is
//! still unacknowledged ([`Outbox::restart`]) and the inbox forgets
//! ([`Inbox::restart`]).
//!
//! These are plain state machines: no timers (the caller re-sends on
//! resume, never on a clock) and no I/O.

use std::collections::VecDeque;

/// Why the outbox refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// As many messages as the outbox holds are unacknowledged.
    #[error(
        "{capacity} messages are waiting for the peer's ack: the link is down or the peer is not acking; wait for the link to come back before sending more"
    )]
    Full {
        /// The outbox's capacity.
        capacity: usize,
    },
    /// The peer acknowledged a seq this side never sent: it is confused
    /// about the session (or another session's seq was used).
    #[error(
        "the peer acknowledged seq {acked} but only {last_sent} were sent in this session: close the link and start a new session"
    )]
    AckBeyondSent {
        /// The seq acknowledged.
        acked: u64,
        /// The last seq handed out.
        last_sent: u64,
    },
}

/// The sending half: numbered messages kept until acknowledged, at most
/// `capacity` of them.
#[derive(Debug, Clone)]
pub struct Outbox<T> {
    capacity: usize,
    /// Unacknowledged messages, oldest first, seqs consecutive.
    pending: VecDeque<(u64, T)>,
    /// The last seq handed out.
    last_sent: u64,
}

impl<T> Outbox<T> {
    /// An empty outbox that keeps at most `capacity` unacknowledged
    /// messages.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            pending: VecDeque::new(),
            last_sent: 0,
        }
    }

    /// Numbers `message` and keeps it; returns its seq, to send now if the
    /// link is up. [`OutboxError::Full`] when `capacity` messages wait.
    pub fn push(&mut self, message: T) -> Result<u64, OutboxError> {
        if self.pending.len() >= self.capacity {
            return Err(OutboxError::Full {
                capacity: self.capacity,
            });
        }
        self.last_sent += 1;
        self.pending.push_back((self.last_sent, message));
        Ok(self.last_sent)
    }

    /// The peer has everything up to `seq`: forget it. An ack older than
    /// one already applied changes nothing.
    pub fn ack(&mut self, seq: u64) -> Result<(), OutboxError> {
        if seq > self.last_sent {
            return Err(OutboxError::AckBeyondSent {
                acked: seq,
                last_sent: self.last_sent,
            });
        }
        while self.pending.front().is_some_and(|(s, _)| *s <= seq) {
            self.pending.pop_front();
        }
        Ok(())
    }

    /// After a reconnect that resumed the session: the peer's last received
    /// seq acknowledges what it covers, and the rest is returned, oldest
    /// first, to be sent again.
    pub fn resume(
        &mut self,
        peer_last_seq: u64,
    ) -> Result<impl Iterator<Item = (u64, &T)>, OutboxError> {
        self.ack(peer_last_seq)?;
        Ok(self.pending())
    }

    /// After a reconnect that started a new session: what is unacknowledged
    /// is numbered again from 1 and returned, to be sent again.
    pub fn restart(&mut self) -> impl Iterator<Item = (u64, &T)> {
        for (seq, (s, _)) in (1..).zip(self.pending.iter_mut()) {
            *s = seq;
        }
        self.last_sent = self.pending.len() as u64;
        self.pending()
    }

    /// The unacknowledged messages, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = (u64, &T)> {
        self.pending.iter().map(|(s, m)| (*s, m))
    }

    /// How many messages wait for an ack.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing waits for an ack.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The last seq handed out in this session (0: none).
    pub fn last_sent(&self) -> u64 {
        self.last_sent
    }
}

/// What the inbox made of a received seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// The next message: process it, then send `ack { seq: ack }`.
    New {
        /// The seq to acknowledge.
        ack: u64,
    },
    /// Already processed (a re-send after a cut): drop it, but still send
    /// `ack { seq: ack }` so the sender can forget it.
    Duplicate {
        /// The seq to acknowledge.
        ack: u64,
    },
    /// A message was skipped: the sender or the link is broken. Do not
    /// process it; close the link and resume, which re-sends from
    /// `expected`.
    Gap {
        /// The seq that should have come.
        expected: u64,
        /// The seq that came.
        got: u64,
    },
}

/// The receiving half: the last seq processed in this session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inbox {
    last_seq: u64,
}

impl Inbox {
    /// An inbox that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// An inbox that has processed everything up to `last_seq` (restored
    /// from storage when a process restarts).
    pub fn at(last_seq: u64) -> Self {
        Self { last_seq }
    }

    /// Classifies the message numbered `seq`; a [`Received::New`] one is
    /// counted as processed.
    pub fn receive(&mut self, seq: u64) -> Received {
        if seq <= self.last_seq {
            Received::Duplicate { ack: self.last_seq }
        } else if seq == self.last_seq + 1 {
            self.last_seq = seq;
            Received::New { ack: seq }
        } else {
            Received::Gap {
                expected: self.last_seq + 1,
                got: seq,
            }
        }
    }

    /// The last seq processed: what to put in `hello.resume.last_seq` or
    /// `welcome.last_seq`.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// A new session: the peer numbers from 1 again.
    pub fn restart(&mut self) {
        self.last_seq = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs<T>(it: impl Iterator<Item = (u64, T)>) -> Vec<u64> {
        it.map(|(s, _)| s).collect()
    }

    #[test]
    fn outbox_numbers_from_one_and_forgets_acked() {
        let mut out = Outbox::new(8);
        assert_eq!(out.push("a"), Ok(1));
        assert_eq!(out.push("b"), Ok(2));
        assert_eq!(out.push("c"), Ok(3));
        out.ack(2).unwrap();
        assert_eq!(out.pending().collect::<Vec<_>>(), vec![(3, &"c")]);
        // An old ack (reordered or repeated) changes nothing.
        out.ack(1).unwrap();
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn full_outbox_refuses_until_acked() {
        let mut out = Outbox::new(2);
        out.push(1).unwrap();
        out.push(2).unwrap();
        assert_eq!(out.push(3), Err(OutboxError::Full { capacity: 2 }));
        out.ack(1).unwrap();
        assert_eq!(out.push(3), Ok(3));
    }

    #[test]
    fn ack_of_unsent_seq_is_refused() {
        let mut out = Outbox::new(4);
        out.push(()).unwrap();
        assert_eq!(
            out.ack(5),
            Err(OutboxError::AckBeyondSent {
                acked: 5,
                last_sent: 1
            })
        );
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn inbox_drops_duplicates_and_refuses_gaps() {
        let mut inbox = Inbox::new();
        assert_eq!(inbox.receive(1), Received::New { ack: 1 });
        assert_eq!(inbox.receive(2), Received::New { ack: 2 });
        assert_eq!(inbox.receive(2), Received::Duplicate { ack: 2 });
        assert_eq!(inbox.receive(1), Received::Duplicate { ack: 2 });
        assert_eq!(
            inbox.receive(4),
            Received::Gap {
                expected: 3,
                got: 4
            }
        );
        assert_eq!(inbox.last_seq(), 2);
    }

    /// Five messages sent; the receiver got 1..=3 but its ack of 3 was lost
    /// with the link (only the ack of 1 reached the sender). On resume the
    /// receiver reports 3; the sender re-sends 4 and 5 only; every message
    /// is processed exactly once.
    #[test]
    fn resume_after_cut_resends_in_flight_and_nothing_is_lost_or_doubled() {
        let mut out = Outbox::new(16);
        let mut inbox = Inbox::new();
        let mut processed = Vec::new();
        for m in ["m1", "m2", "m3", "m4", "m5"] {
            out.push(m).unwrap();
        }
        // Before the cut: 1..=3 arrive, the ack of 1 comes back.
        for (seq, m) in out.pending().take(3) {
            if let Received::New { .. } = inbox.receive(seq) {
                processed.push(*m);
            }
        }
        out.ack(1).unwrap();
        assert_eq!(seqs(out.pending()), vec![2, 3, 4, 5]);

        // The cut. On resume the receiver says it has 3.
        let resend: Vec<_> = out
            .resume(inbox.last_seq())
            .unwrap()
            .map(|(s, m)| (s, *m))
            .collect();
        assert_eq!(resend, vec![(4, "m4"), (5, "m5")]);
        let mut last_ack = 0;
        for (seq, m) in resend {
            match inbox.receive(seq) {
                Received::New { ack } => {
                    processed.push(m);
                    last_ack = ack;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        out.ack(last_ack).unwrap();
        assert!(out.is_empty());
        assert_eq!(processed, vec!["m1", "m2", "m3", "m4", "m5"]);
    }

    /// A sender that re-sends everything unacknowledged (it did not learn
    /// the peer's position) still causes no double processing.
    #[test]
    fn blind_resend_is_deduplicated() {
        let mut out = Outbox::new(16);
        let mut inbox = Inbox::new();
        for m in 0..4 {
            out.push(m).unwrap();
        }
        for (seq, _) in out.pending().take(2) {
            inbox.receive(seq);
        }
        let outcomes: Vec<_> = out.pending().map(|(s, _)| inbox.receive(s)).collect();
        assert_eq!(
            outcomes,
            vec![
                Received::Duplicate { ack: 2 },
                Received::Duplicate { ack: 2 },
                Received::New { ack: 3 },
                Received::New { ack: 4 },
            ]
        );
    }

    #[test]
    fn restart_renumbers_unacked_for_a_new_session() {
        let mut out = Outbox::new(16);
        for m in ["a", "b", "c", "d"] {
            out.push(m).unwrap();
        }
        out.ack(2).unwrap();
        let renumbered: Vec<_> = out.restart().map(|(s, m)| (s, *m)).collect();
        assert_eq!(renumbered, vec![(1, "c"), (2, "d")]);
        assert_eq!(out.push("e"), Ok(3));

        let mut inbox = Inbox::at(7);
        inbox.restart();
        assert_eq!(inbox.receive(1), Received::New { ack: 1 });
    }

    proptest::proptest! {
        /// Any pattern of cuts (each frame or ack may be lost with the link)
        /// delivers every message exactly once, in order, as long as the
        /// link comes back.
        #[test]
        fn every_message_is_processed_once_whatever_the_cuts(
            losses in proptest::collection::vec(proptest::bool::ANY, 0..64),
        ) {
            const MESSAGES: u64 = 20;
            let mut out = Outbox::new(MESSAGES as usize);
            let mut inbox = Inbox::new();
            let mut processed = Vec::new();
            for m in 1..=MESSAGES {
                out.push(m).unwrap();
            }
            let mut losses = losses.into_iter();
            while !out.is_empty() {
                // A connection: resume, then send until a loss cuts it.
                let resend: Vec<_> =
                    out.resume(inbox.last_seq()).unwrap().map(|(s, m)| (s, *m)).collect();
                for (seq, m) in resend {
                    if losses.next().unwrap_or(false) {
                        break; // the frame is lost with the link
                    }
                    let ack = match inbox.receive(seq) {
                        Received::New { ack } => {
                            processed.push(m);
                            ack
                        }
                        Received::Duplicate { ack } => ack,
                        Received::Gap { .. } => unreachable!("resume re-sends in order"),
                    };
                    if losses.next().unwrap_or(false) {
                        break; // the ack is lost with the link
                    }
                    out.ack(ack).unwrap();
                }
            }
            proptest::prop_assert_eq!(processed, (1..=MESSAGES).collect::<Vec<_>>());
        }
    }

    #[test]
    fn resume_beyond_sent_is_refused() {
        let mut out: Outbox<()> = Outbox::new(4);
        assert!(matches!(
            out.resume(1),
            Err(OutboxError::AckBeyondSent { .. })
        ));
    }
}
