//! [`TerminalSessions`]: every branch terminal's session, shared by the
//! `/ws/terminal` connections, the HTTP API and whatever in the hub pushes
//! to terminals. It holds the [`Table`] (under one mutex, never held across
//! an await), sends through the live connection's [`TerminalLink`],
//! publishes terminals and their devices on the status bus, and keeps the
//! prepared SM2 keys terminals authenticate with.
//!
//! # Pushing to a terminal
//! [`TerminalSessions::push`] keeps the event in the terminal's outbox and
//! sends it at once when the terminal is linked; it is sent again after a
//! cut (on resume, or renumbered in a new session) until the terminal
//! acknowledges it. A terminal with no session yet gets it in its next
//! one.
//!
//! # A terminal's devices
//! [`TerminalSessions::devices`] (or [`TerminalSessions::view`] for the
//! whole session) as the terminal last listed them; a command goes through
//! `cardhub_devices::remote::links()`, where the link is registered while
//! the terminal is connected.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cardhub_actors::status::StatusBus;
use cardhub_devices::reader::ReaderEvent;
use cardhub_protocols::crypto::sm2::{Sm2Error, VerifyingKey};
use cardhub_protocols::terminal::{
    DeviceEvent, DeviceInfo, ErrorCode, HubMessage, OutboxError, PushEvent, RegisteredTerminal,
};
use cardhub_storage::terminals::{Terminal, TerminalStatus};
use cardhub_storage::{StorageError, Store};

use super::config::TerminalConfig;
use super::link::{QueueError, TerminalLink};
use super::status;
use super::table::{Attached, EventOutcome, Hello, SessionView, Table, TerminalDevice};

/// Why a push was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// No terminal is registered under the id.
    #[error(
        "terminal `{terminal}` is not registered at this hub: check the id (GET /api/v1/terminals lists them)"
    )]
    UnknownTerminal {
        /// The id pushed to.
        terminal: String,
    },
    /// The terminal is registered but disabled.
    #[error(
        "terminal `{terminal}` is disabled: enable it (cardhub terminals enable --id {terminal}) before pushing to it"
    )]
    Disabled {
        /// The terminal.
        terminal: String,
    },
    /// The terminal's outbox is full of pushes it has not acknowledged.
    #[error(
        "terminal `{terminal}` has {capacity} pushes it has not acknowledged: it has been away long or is not acking; try again once it is back ([terminal] outbox_capacity)"
    )]
    Full {
        /// The terminal.
        terminal: String,
        /// The outbox's capacity.
        capacity: usize,
    },
    /// The registry could not be read.
    #[error("cannot look terminal `{terminal}` up: {source}")]
    Storage {
        /// The terminal.
        terminal: String,
        /// The storage failure.
        source: StorageError,
    },
}

/// A prepared key, kept while its registration is unchanged.
struct CachedKey {
    public_key: Vec<u8>,
    branch: String,
    registered: Arc<RegisteredTerminal>,
    used: u64,
}

/// The prepared keys, least recently used out first.
struct KeyCache {
    capacity: usize,
    clock: u64,
    keys: HashMap<String, CachedKey>,
}

impl KeyCache {
    fn get(&mut self, terminal: &Terminal) -> Option<Arc<RegisteredTerminal>> {
        self.clock += 1;
        let clock = self.clock;
        let cached = self.keys.get_mut(&terminal.terminal_id)?;
        if cached.public_key != terminal.public_key || cached.branch != terminal.branch_code {
            return None;
        }
        cached.used = clock;
        Some(cached.registered.clone())
    }

    fn insert(&mut self, terminal: &Terminal, registered: Arc<RegisteredTerminal>) {
        if self.keys.len() >= self.capacity
            && !self.keys.contains_key(&terminal.terminal_id)
            && let Some(oldest) = self
                .keys
                .iter()
                .min_by_key(|(_, k)| k.used)
                .map(|(id, _)| id.clone())
        {
            self.keys.remove(&oldest);
        }
        self.clock += 1;
        self.keys.insert(
            terminal.terminal_id.clone(),
            CachedKey {
                public_key: terminal.public_key.clone(),
                branch: terminal.branch_code.clone(),
                registered,
                used: self.clock,
            },
        );
    }
}

struct Inner {
    config: TerminalConfig,
    store: Store,
    bus: StatusBus,
    table: Mutex<Table<Arc<TerminalLink>>>,
    keys: Mutex<KeyCache>,
    conns: AtomicU64,
    /// The hub is stopping: no new links.
    stopping: AtomicBool,
    /// Where the card readers of linked terminals are announced (the card
    /// reader manager drives them as `terminal://TERMINAL/DEVICE`), and
    /// which each terminal has announced.
    readers: Mutex<BranchReaders>,
}

/// The card readers linked terminals carry, as the reader manager was told.
#[derive(Default)]
struct BranchReaders {
    sink: Option<tokio::sync::mpsc::UnboundedSender<ReaderEvent>>,
    by_terminal: HashMap<String, std::collections::BTreeSet<String>>,
}

impl BranchReaders {
    fn send(&self, event: ReaderEvent) {
        if let Some(sink) = &self.sink {
            // The forwarder stopped with the hub: nobody needs it.
            let _ = sink.send(event);
        }
    }

    /// The terminal's card readers are now `names` (none: its link is cut).
    fn set(&mut self, terminal_id: &str, names: std::collections::BTreeSet<String>) {
        let before = self.by_terminal.remove(terminal_id).unwrap_or_default();
        for gone in before.difference(&names) {
            self.send(ReaderEvent::ReaderRemoved(reader_address(
                terminal_id,
                gone,
            )));
        }
        for new in names.difference(&before) {
            self.send(ReaderEvent::ReaderAdded(reader_address(terminal_id, new)));
        }
        if !names.is_empty() {
            self.by_terminal.insert(terminal_id.to_owned(), names);
        }
    }
}

/// The reader manager's name for a terminal's card reader.
fn reader_address(terminal_id: &str, device: &str) -> String {
    format!("{}{terminal_id}/{device}", cardhub_devices::remote::SCHEME)
}

/// Every terminal's session. Cloning is cheap (shared state).
#[derive(Clone)]
pub struct TerminalSessions {
    inner: Arc<Inner>,
}

/// What terminals are told when the hub stops.
pub(crate) const STOPPING: &str = "the hub is shutting down (a restart or maintenance): reconnect in a few seconds; a new session starts";

/// A fresh random session id (`s-` and 128 bits as hex).
fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    format!("s-{}", hex::encode(bytes))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock left plain data behind.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl TerminalSessions {
    /// Sessions per `config`, terminals looked up in `store`, published on
    /// `bus`.
    pub fn new(config: TerminalConfig, store: Store, bus: StatusBus) -> Self {
        Self {
            inner: Arc::new(Inner {
                table: Mutex::new(Table::new(config.outbox_capacity, config.resume())),
                keys: Mutex::new(KeyCache {
                    capacity: config.verifying_keys.max(1),
                    clock: 0,
                    keys: HashMap::new(),
                }),
                config,
                store,
                bus,
                conns: AtomicU64::new(0),
                stopping: AtomicBool::new(false),
                readers: Mutex::new(BranchReaders::default()),
            }),
        }
    }

    /// Announces the card readers of linked terminals on `sink` as
    /// [`ReaderEvent`]s under their `terminal://` names: added when a
    /// terminal lists them, removed when it stops listing them or its link
    /// is cut, cards inserted and removed as it reports them. The names
    /// announced so far are sent again first (a new reader manager).
    pub fn feed_readers(&self, sink: tokio::sync::mpsc::UnboundedSender<ReaderEvent>) {
        let mut readers = lock(&self.inner.readers);
        for (terminal, names) in &readers.by_terminal {
            for name in names {
                let _ = sink.send(ReaderEvent::ReaderAdded(reader_address(terminal, name)));
            }
        }
        readers.sink = Some(sink);
    }

    /// The `[terminal]` settings.
    pub fn config(&self) -> &TerminalConfig {
        &self.inner.config
    }

    fn table(&self) -> MutexGuard<'_, Table<Arc<TerminalLink>>> {
        lock(&self.inner.table)
    }

    /// Keeps `event` for `terminal_id` until the terminal acknowledges it,
    /// sending it now if the terminal is linked; returns its seq in the
    /// session that delivers it. Refused for an unknown or disabled
    /// terminal and when its outbox is full.
    pub async fn push(&self, terminal_id: &str, event: PushEvent) -> Result<u64, PushError> {
        if !self.table().knows(terminal_id) {
            let found = self
                .inner
                .store
                .find_terminal(terminal_id.to_owned())
                .await
                .map_err(|source| PushError::Storage {
                    terminal: terminal_id.to_owned(),
                    source,
                })?;
            match found {
                None => {
                    return Err(PushError::UnknownTerminal {
                        terminal: terminal_id.to_owned(),
                    });
                }
                Some(t) if t.status == TerminalStatus::Disabled => {
                    return Err(PushError::Disabled {
                        terminal: terminal_id.to_owned(),
                    });
                }
                Some(_) => {}
            }
        }
        let mut table = self.table();
        let pushed = table
            .push(terminal_id, event.clone())
            .map_err(|e| match e {
                OutboxError::Full { capacity } => PushError::Full {
                    terminal: terminal_id.to_owned(),
                    capacity,
                },
                // A push never acks; a later refusal reads as full.
                _ => PushError::Full {
                    terminal: terminal_id.to_owned(),
                    capacity: self.inner.config.outbox_capacity,
                },
            })?;
        // Sent under the table's lock, so pushes reach the queue in seq
        // order; the queue never blocks.
        if let Some(link) = pushed.live {
            match link.send(HubMessage::Push {
                seq: pushed.seq,
                event,
            }) {
                Ok(()) | Err(QueueError::Closed) => {}
                Err(QueueError::Full) => link.close(
                    ErrorCode::Overloaded,
                    format!(
                        "the hub's queue to this terminal is full ({} frames): closing; reconnect and resume to receive the rest",
                        self.inner.config.send_queue
                    ),
                ),
            }
        }
        Ok(pushed.seq)
    }

    /// The terminal's devices as it last listed them (`None` without a
    /// session).
    pub fn devices(&self, terminal_id: &str) -> Option<Vec<TerminalDevice>> {
        self.view(terminal_id).map(|v| v.devices)
    }

    /// The terminal's session (`None` without one).
    pub fn view(&self, terminal_id: &str) -> Option<SessionView> {
        self.table().view(terminal_id)
    }

    /// Pushes waiting for the terminal's acknowledgement.
    pub fn pushes_waiting(&self, terminal_id: &str) -> usize {
        self.table().pushes_waiting(terminal_id)
    }

    /// Ends the terminal's session now (it was disabled): its connection
    /// is closed with `auth_failed` saying `why`, its devices leave the
    /// wall. Pushes stay for when it is enabled again.
    pub fn end_session(&self, terminal_id: &str, why: &str) {
        let ended = {
            let mut table = self.table();
            let view = table.view(terminal_id);
            table.end_session(terminal_id).zip(view)
        };
        let Some(((live, devices), view)) = ended else {
            return;
        };
        if let Some(link) = live {
            link.close(ErrorCode::AuthFailed, why);
        }
        for device in &devices {
            if let Some(key) = status::device_key(terminal_id, device) {
                self.inner.bus.remove(key);
            }
        }
        let view = SessionView {
            online: false,
            devices: Vec::new(),
            ..view
        };
        self.inner
            .bus
            .publish(status::terminal_update(terminal_id, &view, Some(why)));
    }

    /// The hub is stopping: every link is closed (a WebSocket is a
    /// response that never ends, which a graceful stop would wait for) and
    /// new connections are refused.
    pub fn shut_down(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        let live = self.table().live_links();
        for link in live {
            link.close(ErrorCode::Internal, STOPPING);
        }
    }

    /// Whether [`TerminalSessions::shut_down`] was called.
    pub(crate) fn stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }

    /// Drops the sessions cut longer than `resume_secs` (their devices
    /// leave the wall; the terminal stays, offline) and refreshes the
    /// gauges.
    pub fn sweep(&self, now: Instant) {
        let (expired, sessions, linked) = {
            let mut table = self.table();
            let expired = table.expire(now);
            (expired, table.sessions(), table.linked())
        };
        for gone in expired {
            tracing::info!(terminal = %gone.terminal_id, "terminal session expired: the next connection starts a new one");
            for device in &gone.devices {
                if let Some(key) = status::device_key(&gone.terminal_id, device) {
                    self.inner.bus.remove(key);
                }
            }
        }
        metrics::gauge!("cardhub_terminal_sessions").set(sessions as f64);
        metrics::gauge!("cardhub_terminal_links").set(linked as f64);
    }

    /// Sweeps every few seconds, for ever (spawned once at start-up).
    pub async fn run_sweeper(self) {
        // Expiry a few seconds late costs nothing; the gauges stay fresh.
        let every =
            Duration::from_secs(5).min(self.inner.config.resume().max(Duration::from_secs(1)));
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            self.sweep(Instant::now());
        }
    }

    // --- for the connections -------------------------------------------

    /// A number for a new connection, unique in this process.
    pub(crate) fn next_conn(&self) -> u64 {
        self.inner.conns.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The store terminals are registered in.
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The registration `terminal` authenticates against, its key prepared
    /// once and kept while the registration is unchanged.
    pub(crate) async fn registered(
        &self,
        terminal: &Terminal,
    ) -> Result<Arc<RegisteredTerminal>, Sm2Error> {
        if let Some(found) = lock(&self.inner.keys).get(terminal) {
            return Ok(found);
        }
        let public_key = terminal.public_key.clone();
        let terminal_id = terminal.terminal_id.clone();
        let branch = terminal.branch_code.clone();
        // Building the key's table is the work of two verifications: not
        // on the connection's executor.
        let prepared = tokio::task::spawn_blocking(move || {
            VerifyingKey::from_sec1(&public_key).map(|key| RegisteredTerminal {
                terminal_id,
                branch,
                key,
            })
        })
        .await
        .map_err(|_| Sm2Error::MalformedPublicKey("preparing it failed"))??;
        let registered = Arc::new(prepared);
        lock(&self.inner.keys).insert(terminal, registered.clone());
        Ok(registered)
    }

    /// Attaches an authenticated connection: resumes or starts its
    /// session, closes the connection it replaces, publishes the terminal
    /// online.
    pub(crate) fn attach(
        &self,
        hello: &Hello<'_>,
        link: &Arc<TerminalLink>,
    ) -> Attached<Arc<TerminalLink>> {
        let (attached, view) = {
            let mut table = self.table();
            let attached = table.attach(hello, link.conn(), link.clone(), new_session_id);
            (attached, table.view(hello.terminal_id))
        };
        if let Some(old) = &attached.replaced {
            old.close(
                ErrorCode::Replaced,
                format!(
                    "another connection of terminal `{}` (from {}) authenticated and replaced this one: if two PCs use this terminal's key, register each under its own id",
                    hello.terminal_id, hello.peer
                ),
            );
        }
        for device in &attached.dropped_devices {
            if let Some(key) = status::device_key(hello.terminal_id, device) {
                self.inner.bus.remove(key);
            }
        }
        if let Some(view) = view {
            self.publish(hello.terminal_id, &view, None);
        }
        attached
    }

    /// Connection `conn` ended (`why`): if it was the terminal's live one,
    /// the session is cut (kept for `resume_secs`) and the terminal and its
    /// devices show offline.
    pub(crate) fn detach(&self, terminal_id: &str, conn: u64, why: &str) {
        let view = {
            let mut table = self.table();
            if table.detach(terminal_id, conn, Instant::now()) {
                table.view(terminal_id)
            } else {
                None
            }
        };
        if let Some(view) = view {
            lock(&self.inner.readers).set(terminal_id, Default::default());
            self.publish(terminal_id, &view, Some(why));
        }
    }

    /// `device_list` from connection `conn`.
    pub(crate) fn device_list(&self, terminal_id: &str, conn: u64, devices: Vec<DeviceInfo>) {
        let card_readers = devices
            .iter()
            .filter(|d| d.kind == cardhub_protocols::terminal::DeviceKind::CardReader)
            .map(|d| d.name.clone())
            .collect();
        let changed = {
            let mut table = self.table();
            table
                .device_list(terminal_id, conn, devices)
                .zip(table.view(terminal_id))
        };
        let Some((change, view)) = changed else {
            return;
        };
        lock(&self.inner.readers).set(terminal_id, card_readers);
        for device in &change.removed {
            if let Some(key) = status::device_key(terminal_id, device) {
                self.inner.bus.remove(key);
            }
        }
        self.publish(terminal_id, &view, None);
    }

    /// `device_event` from connection `conn`; `None` from a connection that
    /// was replaced.
    pub(crate) fn device_event(
        &self,
        terminal_id: &str,
        conn: u64,
        seq: u64,
        device: &str,
        event: &DeviceEvent,
    ) -> Option<EventOutcome> {
        let (outcome, view) = {
            let mut table = self.table();
            let outcome = table.device_event(terminal_id, conn, seq, device, event)?;
            (outcome, table.view(terminal_id))
        };
        if matches!(outcome, EventOutcome::Applied { .. }) {
            let readers = lock(&self.inner.readers);
            if readers
                .by_terminal
                .get(terminal_id)
                .is_some_and(|names| names.contains(device))
            {
                let reader = reader_address(terminal_id, device);
                match event {
                    DeviceEvent::CardPresent { atr: Some(atr) } => {
                        readers.send(ReaderEvent::CardInserted {
                            reader,
                            atr: cardhub_devices::reader::Atr::new(atr.0.clone()),
                        });
                    }
                    DeviceEvent::CardPresent { atr: None } => {
                        readers.send(ReaderEvent::CardMute { reader });
                    }
                    DeviceEvent::CardRemoved {} => {
                        readers.send(ReaderEvent::CardRemoved { reader })
                    }
                    _ => {}
                }
            }
        }
        if let (
            EventOutcome::Applied {
                device: Some(d), ..
            },
            Some(view),
        ) = (&outcome, &view)
            && let Some(update) = status::device_update(terminal_id, view, d)
        {
            self.inner.bus.publish(update);
        }
        Some(outcome)
    }

    /// `ack` of pushes from connection `conn`.
    pub(crate) fn ack(&self, terminal_id: &str, conn: u64, seq: u64) -> Result<(), OutboxError> {
        self.table().ack(terminal_id, conn, seq)
    }

    /// Publishes the terminal and every device of `view`.
    fn publish(&self, terminal_id: &str, view: &SessionView, why: Option<&str>) {
        self.inner
            .bus
            .publish(status::terminal_update(terminal_id, view, why));
        for device in &view.devices {
            if let Some(update) = status::device_update(terminal_id, view, device) {
                self.inner.bus.publish(update);
            }
        }
    }
}
