//! The running card: [`CardSimulator::start`] loads the card file, then runs
//! two threads of its own: the card in the reader (connects to vpcd, serves
//! its frames through [`CardOs`], saves the card file after every command
//! that changes it, applies the armed [`Faults`]) and the control listener
//! ([`super::control`]). [`RunningCard::stop`] ends both and joins them.
//!
//! Removal closes the vpcd socket (vpcd and pcscd see the card go) and
//! clears the volatile state; insertion connects again. When vpcd is not up
//! yet, or goes away, the card retries with a bounded back-off
//! ([`Backoff`]).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::control::{self, CardStatus};
use super::faults::{ApduFate, Faults};
use super::memory::{CardMemory, MemoryError};
use super::os::{CardOs, OsConfig};
use super::vpcd::{Backoff, VpcdMessage, read_frame, write_frame};

/// How long one attempt to reach vpcd may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the simulated card connects and keeps its memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// vpcd's listening address (reader.conf `DEVICENAME /dev/null:PORT`:
    /// 127.0.0.1:PORT).
    pub vpcd: SocketAddr,
    /// The card file (JSON); it must exist (see [`CardMemory::blank`]).
    pub card_file: PathBuf,
    /// Where the control listener binds; port 0 picks a free one (see
    /// [`RunningCard::control_addr`]).
    pub control: SocketAddr,
    /// Whether the card starts in the reader.
    pub inserted: bool,
    /// Whether the card answers data with `61xx` (T=0 style GET RESPONSE).
    pub t0_get_response: bool,
    /// Seeds the card's random generator, so two cards started alike give
    /// the same challenges (a benchmark replays one card's APDUs on the
    /// other); `None` draws a fresh seed, as a real card does.
    pub seed: Option<u64>,
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The card file could not be read or created.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The control address could not be bound.
    #[error(
        "cannot listen for control requests on {addr}: {source}; pick another port (0 = any free one)"
    )]
    ControlBind {
        /// The address asked for.
        addr: SocketAddr,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The operating system refused a thread.
    #[error("cannot start the simulator's threads: {0}")]
    Thread(#[source] io::Error),
}

/// Starts simulated cards.
#[derive(Debug)]
pub struct CardSimulator;

impl CardSimulator {
    /// Loads the card file and starts the card and control threads.
    pub fn start(config: SimConfig) -> Result<RunningCard, SimError> {
        let memory = CardMemory::load(&config.card_file)?;
        let os_config = OsConfig {
            t0_get_response: config.t0_get_response,
        };
        let os = match config.seed {
            Some(seed) => CardOs::with_seed(memory, os_config, seed),
            None => CardOs::new(memory, os_config),
        };
        let listener =
            TcpListener::bind(config.control).map_err(|source| SimError::ControlBind {
                addr: config.control,
                source,
            })?;
        let control_addr = listener
            .local_addr()
            .map_err(|source| SimError::ControlBind {
                addr: config.control,
                source,
            })?;
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot {
                saved_revision: os.revision(),
                os,
                card_file: config.card_file,
                faults: Faults::default(),
                inserted: config.inserted,
                connected: false,
                apdu_count: 0,
                link: None,
                stopping: false,
            }),
            changed: Condvar::new(),
            shutdown_requested: AtomicBool::new(false),
        });
        let card = {
            let shared = Arc::clone(&shared);
            let vpcd = config.vpcd;
            thread::Builder::new()
                .name("cardsim-vpcd".into())
                .spawn(move || run_card(&shared, vpcd))
                .map_err(SimError::Thread)?
        };
        let control = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("cardsim-control".into())
                .spawn(move || control::serve(&shared, listener))
                .map_err(SimError::Thread)?
        };
        tracing::info!(%control_addr, vpcd = %config.vpcd, "simulated card started");
        Ok(RunningCard {
            shared,
            control_addr,
            threads: vec![card, control],
        })
    }
}

/// A simulated card running on its own threads.
#[derive(Debug)]
pub struct RunningCard {
    shared: Arc<Shared>,
    control_addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl RunningCard {
    /// Where the control listener accepts connections.
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// What the card looks like now (the control channel's `state`).
    pub fn status(&self) -> CardStatus {
        CardStatus::of(&self.shared.lock())
    }

    /// Waits until the card is (or is not) connected to vpcd; `false` on
    /// timeout.
    pub fn wait_connected(&self, connected: bool, timeout: Duration) -> bool {
        self.shared.wait_for(timeout, |s| s.connected == connected)
    }

    /// Blocks until a control client asks for `shutdown`, then stops.
    pub fn wait_for_shutdown(mut self) {
        {
            let mut slot = self.shared.lock();
            while !self.shared.shutdown_requested.load(Ordering::SeqCst) {
                slot = self
                    .shared
                    .changed
                    .wait(slot)
                    .unwrap_or_else(|e| e.into_inner());
            }
        }
        self.shutdown();
    }

    /// Stops the card (closing its vpcd connection) and the control
    /// listener, and joins their threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        {
            let mut slot = self.shared.lock();
            slot.stopping = true;
            slot.drop_link();
        }
        self.shared.changed.notify_all();
        control::wake(self.control_addr);
        for handle in self.threads.drain(..) {
            if handle.join().is_err() {
                tracing::error!("a simulator thread panicked");
            }
        }
        tracing::info!(control_addr = %self.control_addr, "simulated card stopped");
    }
}

impl Drop for RunningCard {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// State shared by the card thread, the control threads and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    slot: Mutex<Slot>,
    /// Signalled on every change of insertion, connection or stopping.
    pub(crate) changed: Condvar,
    /// A control client asked the simulator to shut down.
    pub(crate) shutdown_requested: AtomicBool,
}

/// The card in its reader slot.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) os: CardOs,
    pub(crate) card_file: PathBuf,
    pub(crate) saved_revision: u64,
    pub(crate) faults: Faults,
    pub(crate) inserted: bool,
    pub(crate) connected: bool,
    pub(crate) apdu_count: u64,
    /// A handle on the vpcd socket, to close it from another thread.
    link: Option<TcpStream>,
    pub(crate) stopping: bool,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Slot> {
        // A panic while holding the lock leaves a usable card: every field
        // is valid on its own.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `done` holds, at most `timeout` (`Duration::MAX`: no
    /// limit); `false` on timeout or when the simulator stops first.
    pub(crate) fn wait_for(&self, timeout: Duration, done: impl Fn(&Slot) -> bool) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut slot = self.lock();
        loop {
            if done(&slot) {
                return true;
            }
            if slot.stopping {
                return false;
            }
            slot = match deadline {
                None => self.changed.wait(slot).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.changed
                        .wait_timeout(slot, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}

impl Slot {
    /// Saves the card file if the memory changed since the last save. A
    /// failed save is logged and retried after the next command.
    pub(crate) fn persist(&mut self) {
        let revision = self.os.revision();
        if revision == self.saved_revision {
            return;
        }
        match self.os.memory().save(&self.card_file) {
            Ok(()) => self.saved_revision = revision,
            Err(e) => tracing::error!(error = %e, "the card's memory could not be saved"),
        }
    }

    /// Pulls the card out: the socket closes, the volatile state is gone,
    /// a pending removal is forgotten.
    pub(crate) fn remove(&mut self) {
        self.inserted = false;
        self.faults.clear_removal();
        self.os.reset();
        self.drop_link();
    }

    fn drop_link(&mut self) {
        if let Some(link) = self.link.take() {
            // Unblocks the card thread's read; the socket may already be
            // closed by vpcd, which is fine.
            let _ = link.shutdown(Shutdown::Both);
        }
    }
}

/// The card thread: wait for insertion, connect to vpcd, serve, repeat.
fn run_card(shared: &Shared, vpcd: SocketAddr) {
    let mut backoff = Backoff::new();
    loop {
        if !shared.wait_for(Duration::MAX, |s| s.inserted && !s.stopping) {
            return;
        }
        match TcpStream::connect_timeout(&vpcd, CONNECT_TIMEOUT) {
            Ok(stream) => {
                backoff.reset();
                if let Err(e) = serve_connection(shared, stream) {
                    tracing::info!(error = %e, "vpcd connection ended");
                }
                let still_inserted = {
                    let mut slot = shared.lock();
                    slot.connected = false;
                    slot.link = None;
                    slot.os.reset();
                    slot.inserted && !slot.stopping
                };
                shared.changed.notify_all();
                if still_inserted {
                    // vpcd went away while the card was in: it is likely
                    // restarting; do not hammer it.
                    wait_or_interrupt(shared, backoff.next_wait());
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, %vpcd, "vpcd not reachable yet");
                wait_or_interrupt(shared, backoff.next_wait());
            }
        }
        if shared.lock().stopping {
            return;
        }
    }
}

/// Waits `wait`, or less if the simulator stops or the card is removed.
fn wait_or_interrupt(shared: &Shared, wait: Duration) {
    shared.wait_for(wait, |s| s.stopping || !s.inserted);
}

/// Serves one vpcd connection until it closes or the card is removed.
fn serve_connection(shared: &Shared, stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = stream.try_clone()?;
    let mut writer = stream.try_clone()?;
    {
        let mut slot = shared.lock();
        if !slot.inserted || slot.stopping {
            return Ok(());
        }
        slot.link = Some(stream);
        slot.connected = true;
    }
    shared.changed.notify_all();
    tracing::info!("card connected to vpcd");
    let ack = writer.try_clone()?;
    let quick_ack = socket2::SockRef::from(&ack);
    loop {
        // vpcd writes a frame's length and its body in two sends without
        // TCP_NODELAY: the body waits for the length's ACK, which Linux
        // would delay up to 40 ms. Acknowledge at once instead (the flag
        // does not stick, so it is set before every read).
        quick_ack.set_tcp_quickack(true)?;
        let Some(payload) = read_frame(&mut reader)? else {
            break;
        };
        match VpcdMessage::decode(payload) {
            VpcdMessage::PowerOff | VpcdMessage::PowerOn | VpcdMessage::Reset => {
                shared.lock().os.reset();
            }
            VpcdMessage::GetAtr => {
                let atr = shared.lock().os.atr().to_vec();
                write_frame(&mut writer, &atr)?;
            }
            VpcdMessage::UnknownControl(byte) => {
                tracing::warn!(control = byte, "vpcd sent an unknown control byte; ignored");
            }
            VpcdMessage::Apdu(apdu) => {
                let Some(response) = answer_apdu(shared, &apdu) else {
                    return Ok(());
                };
                write_frame(&mut writer, &response)?;
            }
        }
    }
    Ok(())
}

/// Processes one APDU under the armed faults; `None` when the card was
/// removed instead of answering.
fn answer_apdu(shared: &Shared, apdu: &[u8]) -> Option<Vec<u8>> {
    let (fate, delay) = {
        let mut slot = shared.lock();
        slot.apdu_count += 1;
        (slot.faults.on_apdu(), slot.faults.slow_ms)
    };
    if delay > 0 {
        // The slow card fault: the card itself takes this long, unless it
        // is pulled out (or the simulator stops) meanwhile.
        shared.wait_for(Duration::from_millis(delay), |s| s.stopping || !s.inserted);
    }
    let mut slot = shared.lock();
    if slot.stopping || !slot.inserted {
        return None;
    }
    let mut response = match fate {
        ApduFate::RemoveUnapplied => None,
        ApduFate::ApplyThenRemove | ApduFate::Answer => {
            let response = slot.os.process(apdu);
            slot.persist();
            tracing::debug!(
                command = %hex::encode_upper(apdu),
                response = %hex::encode_upper(&response),
                "APDU"
            );
            (fate == ApduFate::Answer).then_some(response)
        }
    };
    match response.as_mut() {
        Some(r) => slot.faults.corrupt(r),
        None => {
            tracing::info!(?fate, "card removed by a fault");
            slot.remove();
            drop(slot);
            shared.changed.notify_all();
        }
    }
    response
}
