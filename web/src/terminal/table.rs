//! The terminals' session state as a plain state machine: for each
//! terminal its push [`Outbox`] (kept across sessions, so a push made while
//! the terminal was away still arrives), and its session (id, device-event
//! [`Inbox`], devices, the live connection if any, when it was cut). No
//! I/O, no clock, no locks: [`super::sessions::TerminalSessions`] holds a
//! [`Table`] under a mutex, passes the time in, and does the sending and
//! publishing the results ask for. `L` is what a live connection is
//! reached through (a [`super::link::TerminalLink`] in the hub, anything
//! cloneable in the tests).
//!
//! # What a session holds
//! Per terminal: one `Entry` (the outbox's `VecDeque` of unacknowledged
//! pushes, empty when all are acked) and, while a session exists, its id
//! (a short string), branch and software strings, an `Inbox` (one `u64`)
//! and the device list (a few small records). An idle session is a few
//! hundred bytes plus its unacknowledged pushes; the bound is
//! `outbox_capacity` pushes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cardhub_protocols::terminal::{
    DeviceEvent, DeviceInfo, DeviceKind, DeviceState, Inbox, Outbox, OutboxError, PushEvent,
    Received, Resume,
};
use serde::Serialize;
use utoipa::ToSchema;

/// One device of a terminal, as last reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct TerminalDevice {
    /// Its name on the terminal (requests address it by this).
    pub name: String,
    /// What it is.
    pub kind: DeviceKind,
    /// Its state.
    pub state: DeviceState,
    /// What the operator should know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Whether a card is on or in it, when it reported one coming or going.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_present: Option<bool>,
}

impl TerminalDevice {
    fn from_info(info: DeviceInfo, card_present: Option<bool>) -> Self {
        Self {
            name: info.name,
            kind: info.kind,
            state: info.state,
            detail: info.detail,
            card_present,
        }
    }
}

/// A terminal's session as the API and the wall see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct SessionView {
    /// The session id (`welcome.session`).
    pub session: String,
    /// Whether a connection is linked now.
    pub online: bool,
    /// When the current connection authenticated, or the last one did
    /// (Unix ms).
    pub connected_ms: i64,
    /// The branch code it serves.
    pub branch: String,
    /// The branch's name.
    pub branch_name: String,
    /// The terminal software's version, from its `hello`.
    pub software_version: String,
    /// The address it connects from.
    pub peer: String,
    /// Its devices, by name.
    pub devices: Vec<TerminalDevice>,
    /// Pushes sent and not yet acknowledged.
    pub pushes_waiting: usize,
    /// The last device event seq received in this session.
    pub last_event_seq: u64,
    /// The last push seq handed out in this session.
    pub last_push_seq: u64,
}

/// What the `hello` of an authenticated connection says, and when.
#[derive(Clone, Debug)]
pub struct Hello<'a> {
    /// The terminal.
    pub terminal_id: &'a str,
    /// Its branch code (as registered).
    pub branch: &'a str,
    /// The branch's name.
    pub branch_name: &'a str,
    /// `hello.software_version`.
    pub software_version: &'a str,
    /// `hello.resume`.
    pub resume: Option<&'a Resume>,
    /// Where it connects from.
    pub peer: &'a str,
    /// Now.
    pub now: Instant,
    /// Now, as Unix ms.
    pub now_ms: i64,
}

/// What attaching a connection decided.
#[derive(Debug)]
pub struct Attached<L> {
    /// The session's id (`welcome.session`).
    pub session: String,
    /// Whether `hello.resume` was picked up (`welcome.resumed`).
    pub resumed: bool,
    /// The last device event seq received in the session
    /// (`welcome.last_seq`).
    pub last_seq: u64,
    /// Pushes to send again, oldest first, after the `welcome`.
    pub resend: Vec<(u64, PushEvent)>,
    /// Why the resume asked for was refused (for a `resume_refused`
    /// error).
    pub refused: Option<String>,
    /// The live connection this one replaces, to be closed.
    pub replaced: Option<L>,
    /// Devices of the session this one replaces, whose entities go.
    pub dropped_devices: Vec<TerminalDevice>,
}

/// What a `device_list` changed.
#[derive(Debug, PartialEq, Eq)]
pub struct DeviceListChange {
    /// Every device now.
    pub devices: Vec<TerminalDevice>,
    /// Devices no longer listed.
    pub removed: Vec<TerminalDevice>,
}

/// What a `device_event` came to.
#[derive(Debug, PartialEq, Eq)]
pub enum EventOutcome {
    /// New: applied (the device as it is now, `None` for a device not in
    /// the list); ack `ack`.
    Applied {
        /// The seq to acknowledge.
        ack: u64,
        /// The device after the event.
        device: Option<TerminalDevice>,
    },
    /// Seen before (a re-send after a cut): ack `ack` and drop it.
    Duplicate {
        /// The seq to acknowledge.
        ack: u64,
    },
    /// A seq was skipped: the terminal must reconnect and resume.
    Gap {
        /// The seq that should have come.
        expected: u64,
        /// The seq that came.
        got: u64,
    },
}

/// A session dropped by [`Table::expire`].
#[derive(Debug, PartialEq, Eq)]
pub struct Expired {
    /// The terminal.
    pub terminal_id: String,
    /// Its devices, whose entities go.
    pub devices: Vec<TerminalDevice>,
}

/// A push accepted by [`Table::push`].
#[derive(Debug)]
pub struct Pushed<L> {
    /// Its seq in the session that will deliver it (a push made while the
    /// terminal has no session is numbered for its next one).
    pub seq: u64,
    /// The live connection to send it on now, if linked.
    pub live: Option<L>,
}

#[derive(Debug)]
struct Live<L> {
    conn: u64,
    link: L,
}

#[derive(Debug)]
struct Session<L> {
    id: String,
    branch: String,
    branch_name: String,
    software_version: String,
    peer: String,
    inbox: Inbox,
    /// Sorted by name.
    devices: Vec<TerminalDevice>,
    live: Option<Live<L>>,
    cut_at: Option<Instant>,
    connected_ms: i64,
}

impl<L> Session<L> {
    fn is_live(&self, conn: u64) -> bool {
        self.live.as_ref().is_some_and(|l| l.conn == conn)
    }
}

#[derive(Debug)]
struct Entry<L> {
    outbox: Outbox<PushEvent>,
    session: Option<Session<L>>,
}

/// Every terminal's pushes and session.
#[derive(Debug)]
pub struct Table<L> {
    outbox_capacity: usize,
    resume: Duration,
    terminals: HashMap<String, Entry<L>>,
}

impl<L: Clone> Table<L> {
    /// An empty table: at most `outbox_capacity` unacknowledged pushes per
    /// terminal; a cut session may be resumed for `resume`.
    pub fn new(outbox_capacity: usize, resume: Duration) -> Self {
        Self {
            outbox_capacity: outbox_capacity.max(1),
            resume,
            terminals: HashMap::new(),
        }
    }

    /// Whether the table holds anything for the terminal (a session or
    /// pushes waiting for one).
    pub fn knows(&self, terminal_id: &str) -> bool {
        self.terminals.contains_key(terminal_id)
    }

    /// Sessions held, linked or waiting for a resume.
    pub fn sessions(&self) -> usize {
        self.terminals
            .values()
            .filter(|e| e.session.is_some())
            .count()
    }

    /// Sessions with a live connection.
    pub fn linked(&self) -> usize {
        self.terminals
            .values()
            .filter(|e| e.session.as_ref().is_some_and(|s| s.live.is_some()))
            .count()
    }

    fn entry(&mut self, terminal_id: &str) -> &mut Entry<L> {
        let capacity = self.outbox_capacity;
        self.terminals
            .entry(terminal_id.to_owned())
            .or_insert_with(|| Entry {
                outbox: Outbox::new(capacity),
                session: None,
            })
    }

    /// Attaches an authenticated connection `conn`, reached through
    /// `link`: resumes the session `hello.resume` names if it is the
    /// terminal's and still held, else starts a new one (id from
    /// `new_id`) with every unacknowledged push renumbered from 1.
    pub fn attach(
        &mut self,
        hello: &Hello<'_>,
        conn: u64,
        link: L,
        new_id: impl FnOnce() -> String,
    ) -> Attached<L> {
        let resume_for = self.resume;
        let entry = self.entry(hello.terminal_id);
        if entry
            .session
            .as_ref()
            .is_some_and(|s| s.live.is_none() && expired(s, hello.now, resume_for))
        {
            entry.session = None;
        }
        let replaced = entry
            .session
            .as_mut()
            .and_then(|s| s.live.take())
            .map(|l| l.link);

        let mut refused = None;
        let mut resend = None;
        if let Some(resume) = hello.resume {
            match &entry.session {
                Some(s) if s.id == resume.session => match entry.outbox.resume(resume.last_seq) {
                    Ok(pending) => resend = Some(pending.map(|(q, e)| (q, e.clone())).collect()),
                    Err(e) => {
                        refused = Some(format!(
                            "session `{}` cannot be resumed: {e}; a new session started and sequence numbers start again from 1 both ways",
                            resume.session
                        ))
                    }
                },
                _ => {
                    refused = Some(format!(
                        "session `{}` is unknown or expired (a cut session is kept {} s): a new session started and sequence numbers start again from 1 both ways",
                        resume.session,
                        resume_for.as_secs()
                    ))
                }
            }
        }

        let live = Live { conn, link };
        match resend {
            Some(resend) => {
                let session = entry.session.as_mut().expect("a resumed session exists");
                session.software_version = hello.software_version.to_owned();
                session.peer = hello.peer.to_owned();
                session.live = Some(live);
                session.cut_at = None;
                session.connected_ms = hello.now_ms;
                Attached {
                    session: session.id.clone(),
                    resumed: true,
                    last_seq: session.inbox.last_seq(),
                    resend,
                    refused: None,
                    replaced,
                    dropped_devices: Vec::new(),
                }
            }
            None => {
                let dropped_devices = entry.session.take().map(|s| s.devices).unwrap_or_default();
                let resend = entry
                    .outbox
                    .restart()
                    .map(|(q, e)| (q, e.clone()))
                    .collect();
                let id = new_id();
                entry.session = Some(Session {
                    id: id.clone(),
                    branch: hello.branch.to_owned(),
                    branch_name: hello.branch_name.to_owned(),
                    software_version: hello.software_version.to_owned(),
                    peer: hello.peer.to_owned(),
                    inbox: Inbox::new(),
                    devices: Vec::new(),
                    live: Some(live),
                    cut_at: None,
                    connected_ms: hello.now_ms,
                });
                Attached {
                    session: id,
                    resumed: false,
                    last_seq: 0,
                    resend,
                    refused,
                    replaced,
                    dropped_devices,
                }
            }
        }
    }

    /// The connection `conn` is gone. `true` when it was the terminal's
    /// live one (its session is now cut and may be resumed); `false` when
    /// another connection had replaced it already.
    pub fn detach(&mut self, terminal_id: &str, conn: u64, now: Instant) -> bool {
        let Some(session) = self
            .terminals
            .get_mut(terminal_id)
            .and_then(|e| e.session.as_mut())
        else {
            return false;
        };
        if !session.is_live(conn) {
            return false;
        }
        session.live = None;
        session.cut_at = Some(now);
        true
    }

    /// Drops the terminal's session (it was disabled): its live connection
    /// is returned to be closed. Pushes stay.
    pub fn end_session(&mut self, terminal_id: &str) -> Option<(Option<L>, Vec<TerminalDevice>)> {
        let session = self.terminals.get_mut(terminal_id)?.session.take()?;
        Some((session.live.map(|l| l.link), session.devices))
    }

    /// Keeps `event` for the terminal until it acknowledges it; `live` is
    /// the connection to send it on now, if there is one.
    pub fn push(&mut self, terminal_id: &str, event: PushEvent) -> Result<Pushed<L>, OutboxError> {
        let entry = self.entry(terminal_id);
        let seq = entry.outbox.push(event)?;
        let live = entry
            .session
            .as_ref()
            .and_then(|s| s.live.as_ref())
            .map(|l| l.link.clone());
        Ok(Pushed { seq, live })
    }

    /// The push for `seq` in the terminal's outbox (to send it after
    /// [`Table::push`]).
    pub fn pending_push(&self, terminal_id: &str, seq: u64) -> Option<PushEvent> {
        self.terminals
            .get(terminal_id)?
            .outbox
            .pending()
            .find(|(s, _)| *s == seq)
            .map(|(_, e)| e.clone())
    }

    /// `ack { seq }` from connection `conn`: the pushes up to `seq` are
    /// forgotten. Ignored (`Ok`) from a connection that is not the live
    /// one.
    pub fn ack(&mut self, terminal_id: &str, conn: u64, seq: u64) -> Result<(), OutboxError> {
        match self.terminals.get_mut(terminal_id) {
            Some(entry) if entry.session.as_ref().is_some_and(|s| s.is_live(conn)) => {
                entry.outbox.ack(seq)
            }
            _ => Ok(()),
        }
    }

    /// `device_list` from connection `conn`: the devices now (card presence
    /// kept for devices listed before). `None` from a connection that is
    /// not the live one.
    pub fn device_list(
        &mut self,
        terminal_id: &str,
        conn: u64,
        devices: Vec<DeviceInfo>,
    ) -> Option<DeviceListChange> {
        let session = self.live_session(terminal_id, conn)?;
        let mut next: Vec<TerminalDevice> = devices
            .into_iter()
            .map(|info| {
                let card = session
                    .devices
                    .iter()
                    .find(|d| d.name == info.name)
                    .and_then(|d| d.card_present);
                TerminalDevice::from_info(info, card)
            })
            .collect();
        next.sort_by(|a, b| a.name.cmp(&b.name));
        next.dedup_by(|a, b| a.name == b.name);
        let removed = session
            .devices
            .iter()
            .filter(|d| next.binary_search_by(|n| n.name.cmp(&d.name)).is_err())
            .cloned()
            .collect();
        session.devices = next.clone();
        Some(DeviceListChange {
            devices: next,
            removed,
        })
    }

    /// `device_event { seq, device, event }` from connection `conn`.
    /// `None` from a connection that is not the live one.
    pub fn device_event(
        &mut self,
        terminal_id: &str,
        conn: u64,
        seq: u64,
        device: &str,
        event: &DeviceEvent,
    ) -> Option<EventOutcome> {
        let session = self.live_session(terminal_id, conn)?;
        Some(match session.inbox.receive(seq) {
            Received::New { ack } => {
                let found = session.devices.iter_mut().find(|d| d.name == device);
                let device = found.map(|d| {
                    match event {
                        DeviceEvent::StateChanged { state, detail } => {
                            d.state = *state;
                            d.detail = detail.clone();
                        }
                        DeviceEvent::CardPresent { .. } => d.card_present = Some(true),
                        DeviceEvent::CardRemoved {} => d.card_present = Some(false),
                        // A later event kind: nothing this hub shows.
                        _ => {}
                    }
                    d.clone()
                });
                EventOutcome::Applied { ack, device }
            }
            Received::Duplicate { ack } => EventOutcome::Duplicate { ack },
            Received::Gap { expected, got } => EventOutcome::Gap { expected, got },
        })
    }

    /// Drops the sessions cut longer than the resume window before `now`
    /// (their pushes stay for the next session); forgets terminals with
    /// neither a session nor a push.
    pub fn expire(&mut self, now: Instant) -> Vec<Expired> {
        let resume = self.resume;
        let mut gone = Vec::new();
        self.terminals.retain(|terminal_id, entry| {
            if entry
                .session
                .as_ref()
                .is_some_and(|s| s.live.is_none() && expired(s, now, resume))
                && let Some(s) = entry.session.take()
            {
                gone.push(Expired {
                    terminal_id: terminal_id.clone(),
                    devices: s.devices,
                });
            }
            entry.session.is_some() || !entry.outbox.is_empty()
        });
        gone
    }

    /// The terminal's session, if it has one.
    pub fn view(&self, terminal_id: &str) -> Option<SessionView> {
        let entry = self.terminals.get(terminal_id)?;
        let s = entry.session.as_ref()?;
        Some(SessionView {
            session: s.id.clone(),
            online: s.live.is_some(),
            connected_ms: s.connected_ms,
            branch: s.branch.clone(),
            branch_name: s.branch_name.clone(),
            software_version: s.software_version.clone(),
            peer: s.peer.clone(),
            devices: s.devices.clone(),
            pushes_waiting: entry.outbox.len(),
            last_event_seq: s.inbox.last_seq(),
            last_push_seq: entry.outbox.last_sent(),
        })
    }

    /// Every live connection.
    pub fn live_links(&self) -> Vec<L> {
        self.terminals
            .values()
            .filter_map(|e| e.session.as_ref()?.live.as_ref())
            .map(|l| l.link.clone())
            .collect()
    }

    /// Pushes waiting for the terminal (sent or not yet), with or without
    /// a session.
    pub fn pushes_waiting(&self, terminal_id: &str) -> usize {
        self.terminals
            .get(terminal_id)
            .map_or(0, |e| e.outbox.len())
    }

    fn live_session(&mut self, terminal_id: &str, conn: u64) -> Option<&mut Session<L>> {
        self.terminals
            .get_mut(terminal_id)?
            .session
            .as_mut()
            .filter(|s| s.is_live(conn))
    }
}

fn expired<L>(session: &Session<L>, now: Instant, resume: Duration) -> bool {
    session
        .cut_at
        .is_some_and(|cut| now.saturating_duration_since(cut) >= resume)
}

#[cfg(test)]
mod tests;
