//! The running printer's state, shared by its threads (host link, coupler,
//! control) under one lock: the [`PrinterMachine`], the chip of the card
//! inside, the link faults, and what each thread reports. [`Inner::apply`]
//! carries out a machine's [`Effect`]s (a new blank chip, a face file, a
//! finished card's memory) and saves whatever changed.

use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cardhub_protocols::chip::sm::CardAlgorithm;
use serde::{Deserialize, Serialize};

use super::faults::LinkFaults;
use super::machine::{Effect, Exit, MachineState, PrinterMachine};
use super::store::{Layout, write_atomic};
use crate::card::memory::{CardMemory, DEFAULT_ATR};
use crate::card::os::{CardOs, OsConfig};

/// The chip of the card inside the printer.
#[derive(Debug)]
pub(crate) struct Chip {
    /// The card's number.
    pub(crate) seq: u64,
    pub(crate) os: CardOs,
    saved_revision: u64,
}

/// Which host transport the printer serves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostKind {
    /// TCP, at this address.
    Tcp(String),
    /// A pseudo-terminal, whose slave is this path.
    Pty(String),
}

/// The host link as the simulator sees it.
#[derive(Debug, Default)]
pub(crate) struct HostLink {
    /// Bumped whenever the link is dropped or taken over: a session whose
    /// generation is stale must not answer.
    pub(crate) generation: u64,
    /// A handle on the TCP connection, to close it from another thread.
    pub(crate) stream: Option<TcpStream>,
    pub(crate) connected: bool,
    pub(crate) connections: u64,
    pub(crate) commands: u64,
}

/// The coupler as the simulator sees it.
#[derive(Debug, Default)]
pub(crate) struct Coupler {
    /// A handle on the vpcd connection, to close it when stopping.
    pub(crate) stream: Option<TcpStream>,
    pub(crate) connected: bool,
    /// The card (number, moves) the last power-on or reset bound the
    /// encoder to; APDUs reach it only while it stays at its station.
    pub(crate) bound: Option<(u64, u64)>,
    pub(crate) apdus: u64,
    pub(crate) connections: u64,
}

/// Everything behind the lock.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) machine: PrinterMachine,
    saved_revision: u64,
    pub(crate) chip: Option<Chip>,
    pub(crate) layout: Layout,
    transport_key: [u8; 16],
    write_faces: bool,
    pub(crate) link_faults: LinkFaults,
    pub(crate) host_kind: HostKind,
    pub(crate) host: HostLink,
    pub(crate) vpcd: Option<String>,
    pub(crate) coupler: Coupler,
    pub(crate) stopping: bool,
    pub(crate) shutdown_requested: bool,
    /// The last failure to write a file (the printer carries on).
    pub(crate) last_error: Option<String>,
}

/// The lock and its condition variable.
#[derive(Debug)]
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    /// Signalled on every change a thread may wait for.
    pub(crate) changed: Condvar,
}

/// What [`Inner::new`] needs besides the machine.
pub(crate) struct InnerParts {
    pub(crate) layout: Layout,
    pub(crate) transport_key: [u8; 16],
    pub(crate) write_faces: bool,
    pub(crate) host_kind: HostKind,
    pub(crate) vpcd: Option<String>,
}

impl Inner {
    /// The running state; the chip of a card left inside by a previous
    /// run is loaded from its file (or made blank again if it is gone).
    pub(crate) fn new(machine: PrinterMachine, parts: InnerParts) -> Self {
        let mut inner = Self {
            saved_revision: u64::MAX,
            machine,
            chip: None,
            layout: parts.layout,
            transport_key: parts.transport_key,
            write_faces: parts.write_faces,
            link_faults: LinkFaults::default(),
            host_kind: parts.host_kind,
            host: HostLink::default(),
            vpcd: parts.vpcd,
            coupler: Coupler::default(),
            stopping: false,
            shutdown_requested: false,
            last_error: None,
        };
        if let Some(card) = inner.machine.state().card.clone() {
            let memory = match CardMemory::load(&inner.layout.card_file()) {
                Ok(m) if m.card_id_code == card.chip_id => m,
                Ok(_) | Err(_) => {
                    tracing::warn!(
                        seq = card.seq,
                        chip = %card.chip_id,
                        "the chip of the card inside was not saved; it is blank again"
                    );
                    inner.blank_memory(&card.chip_id)
                }
            };
            inner.chip = Some(Chip {
                seq: card.seq,
                os: CardOs::new(memory, OsConfig::default()),
                saved_revision: u64::MAX,
            });
        }
        inner.persist();
        inner
    }

    fn blank_memory(&self, chip_id: &str) -> CardMemory {
        CardMemory::blank(chip_id, &self.transport_key, CardAlgorithm::Sm4)
            .expect("chip ids are 16 hex digits by construction")
    }

    /// Carries out the machine's effects, then saves what changed.
    pub(crate) fn apply(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::CardFed { seq, chip_id } => {
                    let memory = self.blank_memory(&chip_id);
                    self.chip = Some(Chip {
                        seq,
                        os: CardOs::new(memory, OsConfig::default()),
                        saved_revision: u64::MAX,
                    });
                    tracing::info!(seq, chip = %chip_id, "card fed");
                }
                Effect::FacePrinted { seq, chip_id, png } => {
                    if self.write_faces {
                        let path = self.layout.face_file(seq, &chip_id);
                        if let Err(e) = write_atomic(&path, &png) {
                            self.failed("face file", &e);
                        }
                    }
                    tracing::info!(seq, chip = %chip_id, bytes = png.len(), "face printed");
                }
                Effect::CardOut { card, exit } => {
                    self.finish_card(card.seq, &card.chip_id, exit);
                }
            }
        }
        self.persist();
    }

    /// Saves the memory of a card that left, under `<out>`, and forgets it.
    fn finish_card(&mut self, seq: u64, chip_id: &str, exit: Exit) {
        self.coupler.bound = None;
        let Some(chip) = self.chip.take().filter(|c| c.seq == seq) else {
            tracing::warn!(seq, "a card left the printer without its chip");
            return;
        };
        let path = self.layout.finished_card_file(seq, chip_id, exit);
        if let Err(e) = chip.os.memory().save(&path) {
            self.failed("finished card file", &e);
        }
        let _ = std::fs::remove_file(self.layout.card_file());
        tracing::info!(seq, chip = %chip_id, ?exit, file = %path.display(), "card out");
    }

    /// Saves the state file and the chip's memory if they changed.
    pub(crate) fn persist(&mut self) {
        let revision = self.machine.revision();
        if revision != self.saved_revision {
            match self.layout.save_state(self.machine.state()) {
                Ok(()) => self.saved_revision = revision,
                Err(e) => self.failed("state file", &e),
            }
        }
        let card_file = self.layout.card_file();
        if let Some(chip) = self.chip.as_mut() {
            let revision = chip.os.revision();
            if revision != chip.saved_revision {
                match chip.os.memory().save(&card_file) {
                    Ok(()) => chip.saved_revision = revision,
                    Err(e) => {
                        let e = e.to_string();
                        self.failed("card file", &e);
                    }
                }
            }
        }
    }

    fn failed(&mut self, what: &str, e: &dyn std::fmt::Display) {
        tracing::error!(error = %e, "the simulated printer could not write its {what}");
        self.last_error = Some(format!("{what}: {e}"));
    }

    /// The printer's persistent state.
    pub(crate) fn state(&self) -> &MachineState {
        self.machine.state()
    }

    /// Closes the host link now (`drop_connection`, a drop fault, a new
    /// connection taking over). A pty has no connection to close: its
    /// session forgets what it read and the reply it owed.
    pub(crate) fn drop_host(&mut self) {
        self.host.generation += 1;
        if let Some(stream) = self.host.stream.take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        if matches!(self.host_kind, HostKind::Tcp(_)) {
            self.host.connected = false;
        }
    }

    // The coupler: one vpcd connection for the printer's life, answering
    // for whichever card is at an encoding station.

    /// vpcd powered the slot on or reset it: the encoder now talks to the
    /// card at a station (fresh volatile state), if there is one.
    pub(crate) fn coupler_reset(&mut self) {
        self.coupler.bound = self.card_at_station();
        if let Some(chip) = self.chip.as_mut() {
            chip.os.reset();
        }
    }

    /// vpcd powered the slot off.
    pub(crate) fn coupler_power_off(&mut self) {
        self.coupler.bound = None;
        if let Some(chip) = self.chip.as_mut() {
            chip.os.reset();
        }
    }

    /// The ATR of the card inside, or of a blank card when there is none
    /// (pcscd then still sees the coupler's slot as holding a card).
    pub(crate) fn coupler_atr(&self) -> Vec<u8> {
        self.chip
            .as_ref()
            .map_or_else(|| DEFAULT_ATR.to_vec(), |c| c.os.atr().to_vec())
    }

    /// One APDU to the encoder: answered by the bound card while it stays
    /// at its station; `None` when no powered card is there.
    pub(crate) fn coupler_apdu(&mut self, apdu: &[u8]) -> Option<Vec<u8>> {
        self.coupler.apdus += 1;
        let bound = self.coupler.bound;
        if bound.is_none() || bound != self.card_at_station() {
            tracing::info!(
                command = %hex::encode_upper(apdu),
                "APDU with no powered card at a station: no answer"
            );
            return None;
        }
        let chip = self.chip.as_mut()?;
        let response = chip.os.process(apdu);
        tracing::debug!(
            command = %hex::encode_upper(apdu),
            response = %hex::encode_upper(&response),
            "APDU"
        );
        self.persist();
        Some(response)
    }

    /// The (number, moves) of the card at an encoding station.
    fn card_at_station(&self) -> Option<(u64, u64)> {
        let card = self.machine.state().card.as_ref()?;
        card.place
            .position()
            .station()
            .map(|_| (card.seq, card.moves))
    }

    /// The chip of the card inside, for a look at its memory.
    pub(crate) fn chip_memory(&self) -> Option<&CardMemory> {
        self.chip.as_ref().map(|c| c.os.memory())
    }

    /// Where the state and out directories are.
    pub(crate) fn dirs(&self) -> (PathBuf, PathBuf) {
        (self.layout.state_dir.clone(), self.layout.out_dir.clone())
    }
}

impl Shared {
    pub(crate) fn new(inner: Inner) -> Self {
        Self {
            inner: Mutex::new(inner),
            changed: Condvar::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves usable state: every field
        // is valid on its own.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `done` holds or `timeout` passes (`Duration::MAX`: no
    /// limit); whether it holds.
    pub(crate) fn wait_for(&self, timeout: Duration, done: impl Fn(&Inner) -> bool) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut inner = self.lock();
        loop {
            if done(&inner) {
                return true;
            }
            inner = match deadline {
                None => self.changed.wait(inner).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.changed
                        .wait_timeout(inner, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }
}
