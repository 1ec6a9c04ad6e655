//! The terminal's devices: each on a thread of its own that owns its
//! blocking driver and runs one command at a time, and the [`Registry`]
//! the link dispatches requests through.
//!
//! ```text
//! link ── Registry::dispatch ── Work::Run ──▶ worker thread (Driver) ── AgentEvent::Answer ──▶ link
//!                                              │ idle: reopen, poll presence, ask status
//!                                              └── Reporter ── AgentEvent::Device (state_changed, card_*) ──▶ link
//! discovery (PC/SC monitor, USB watch) ─────────── Reporter / Work::Usb
//! ```
//!
//! A request for a device already running [`QUEUE_DEPTH`] commands is
//! answered `busy` at once; the others wait their turn. A device's state
//! ([`Health`]) is what its driver last saw: `ready`, `offline` (cannot be
//! reached: unplugged, switched off) or `fault` (reached, but a person
//! must act); `busy` is shown in the device list while a command runs.
//! Every change of state is printed (`device NAME KIND STATE`) and sent
//! as a `state_changed` event.
//!
//! Layout: this file (registry, worker, [`Driver`], [`Reporter`]);
//! `errors` (the drivers' typed errors onto [`CommandErrorCode`]); one
//! file per kind: `id_reader`, `camera`, `card_reader`, `printer`.

mod camera;
mod card_reader;
mod errors;
mod id_reader;
mod printer;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use cardhub_devices::camera::UsbHotplug;
use cardhub_protocols::terminal::{
    CommandError, CommandErrorCode, CommandResult, DeviceCommand, DeviceEvent, DeviceInfo,
    DeviceKind, DeviceState,
};
use tokio::sync::mpsc::UnboundedSender;

pub use camera::CameraDriver;
pub use card_reader::CardReaderDriver;
pub use errors::{camera_error, id_reader_error, printer_error, reader_error};
pub use id_reader::IdReaderDriver;
pub use printer::PrinterDriver;

/// Commands a device holds at once, the running one included: the hub
/// sends one command after another to a device, so a fifth is a caller
/// that does not wait for its answers, and is told `busy`.
pub const QUEUE_DEPTH: usize = 4;

/// What the devices tell the link.
#[derive(Debug)]
pub enum AgentEvent {
    /// A device event, to number and deliver.
    Device {
        /// The device's name.
        device: String,
        /// What happened.
        event: DeviceEvent,
    },
    /// Devices appeared or disappeared: send a new `device_list`.
    DevicesChanged,
    /// A request's answer.
    Answer {
        /// The connection the request came on.
        connection: u64,
        /// The request's id.
        request_id: String,
        /// What came of it.
        result: CommandResult,
    },
}

/// The channel into the link.
pub type EventSink = UnboundedSender<AgentEvent>;

/// A device's state and what the operator should know about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The state.
    pub state: DeviceState,
    /// Why, when not ready.
    pub detail: Option<String>,
}

impl Health {
    /// Connected and working.
    pub fn ready() -> Self {
        Self {
            state: DeviceState::Ready,
            detail: None,
        }
    }

    /// Cannot be reached.
    pub fn offline(detail: impl Into<String>) -> Self {
        Self {
            state: DeviceState::Offline,
            detail: Some(detail.into()),
        }
    }

    /// Reached, but failing.
    pub fn fault(detail: impl Into<String>) -> Self {
        Self {
            state: DeviceState::Fault,
            detail: Some(detail.into()),
        }
    }
}

/// The wire name of a device kind (`id_reader`).
pub fn kind_name(kind: DeviceKind) -> &'static str {
    match kind {
        DeviceKind::IdReader => "id_reader",
        DeviceKind::Camera => "camera",
        DeviceKind::CardReader => "card_reader",
        DeviceKind::Printer => "printer",
        _ => "device",
    }
}

/// The wire name of a device state (`offline`).
pub fn state_name(state: DeviceState) -> &'static str {
    match state {
        DeviceState::Ready => "ready",
        DeviceState::Busy => "busy",
        DeviceState::Offline => "offline",
        DeviceState::Fault => "fault",
        _ => "unknown",
    }
}

/// The operator's line for a device: `device NAME KIND STATE (detail)`.
pub fn device_line(name: &str, kind: DeviceKind, health: &Health) -> String {
    let mut line = format!(
        "device {name} {} {}",
        kind_name(kind),
        state_name(health.state)
    );
    if let Some(detail) = &health.detail {
        line.push_str(&format!(" ({detail})"));
    }
    line
}

/// A driver the worker thread owns. Calls block.
pub trait Driver: Send {
    /// The first look: open the device and say how it is.
    fn probe(&mut self) -> Health;
    /// Runs one command of this device's kind.
    fn run(&mut self, command: DeviceCommand) -> CommandResult;
    /// How the device is after the last call.
    fn health(&self) -> Health;
    /// How long an idle device is left before [`Driver::idle`] (`None`:
    /// never).
    fn idle_every(&self) -> Option<Duration>;
    /// The idle check: reopen an offline device, look for a card, ask the
    /// status; the events it saw.
    fn idle(&mut self) -> Vec<DeviceEvent>;
    /// A USB device came or went (cameras care).
    fn usb(&mut self, _event: &UsbHotplug) {}
}

/// What a worker is asked to do.
#[derive(Debug)]
pub enum Work {
    /// Run a request.
    Run {
        /// The connection it came on.
        connection: u64,
        /// Its id.
        request_id: String,
        /// The command.
        command: DeviceCommand,
    },
    /// A USB device came or went.
    Usb(UsbHotplug),
}

/// A device's state, shared by its worker, the discovery and the registry.
#[derive(Clone)]
pub struct Reporter {
    name: String,
    kind: DeviceKind,
    health: Arc<Mutex<Health>>,
    sink: EventSink,
}

impl Reporter {
    /// A device that has not been looked at yet.
    pub fn new(name: &str, kind: DeviceKind, sink: EventSink) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            health: Arc::new(Mutex::new(Health::offline("not probed yet"))),
            sink,
        }
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its state now.
    pub fn health(&self) -> Health {
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The first state, from the probe: neither printed nor sent (the
    /// start-up lines and the device list carry it).
    pub fn init(&self, health: Health) {
        *self.health.lock().unwrap_or_else(PoisonError::into_inner) = health;
    }

    /// A state seen now: printed and sent when it changed.
    pub fn set(&self, health: Health) {
        {
            let mut current = self.health.lock().unwrap_or_else(PoisonError::into_inner);
            if *current == health {
                return;
            }
            *current = health.clone();
        }
        println!("{}", device_line(&self.name, self.kind, &health));
        tracing::info!(device = %self.name, state = state_name(health.state), detail = ?health.detail, "device state changed");
        self.event(DeviceEvent::StateChanged {
            state: health.state,
            detail: health.detail,
        });
    }

    /// A device event, for the hub.
    pub fn event(&self, event: DeviceEvent) {
        // The link ends only when the process does.
        let _ = self.sink.send(AgentEvent::Device {
            device: self.name.clone(),
            event,
        });
    }
}

/// One device as the registry holds it.
struct Slot {
    kind: DeviceKind,
    reporter: Reporter,
    work: mpsc::Sender<Work>,
    /// Commands queued or running.
    pending: Arc<AtomicUsize>,
}

/// Every device of the terminal, by name.
pub struct Registry {
    terminal_id: String,
    slots: RwLock<BTreeMap<String, Slot>>,
    sink: EventSink,
    /// Whether the start-up lines were printed: a probe finishing after
    /// them prints its own line and sends its state.
    listed: Arc<AtomicBool>,
}

impl Registry {
    /// No devices yet.
    pub fn new(terminal_id: &str, sink: EventSink) -> Self {
        Self {
            terminal_id: terminal_id.to_owned(),
            slots: RwLock::new(BTreeMap::new()),
            sink,
            listed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The start-up lines: one `device NAME KIND STATE` per device.
    /// Devices whose probe ends later print their own line.
    pub fn print_devices(&self) {
        self.listed.store(true, Ordering::SeqCst);
        for (name, slot) in self.read().iter() {
            println!("{}", device_line(name, slot.kind, &slot.reporter.health()));
        }
    }

    /// The channel into the link.
    pub fn sink(&self) -> &EventSink {
        &self.sink
    }

    /// Starts `driver` on a thread of its own under `name`. The returned
    /// receiver says when its probe is done. `announce`: a device found
    /// after start-up, printed and sent in a new device list.
    pub fn start(
        &self,
        name: &str,
        kind: DeviceKind,
        driver: Box<dyn Driver>,
        announce: bool,
    ) -> mpsc::Receiver<()> {
        let reporter = Reporter::new(name, kind, self.sink.clone());
        let (work, rx) = mpsc::channel();
        let (probed_tx, probed) = mpsc::channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            driver,
            reporter: reporter.clone(),
            pending: Arc::clone(&pending),
            sink: self.sink.clone(),
            listed: Arc::clone(&self.listed),
        };
        // In the registry before the worker runs, so the device list it
        // may ask for holds it.
        self.write().insert(
            name.to_owned(),
            Slot {
                kind,
                reporter: reporter.clone(),
                work,
                pending,
            },
        );
        let spawned = std::thread::Builder::new()
            .name(format!("device-{name}"))
            .spawn(move || worker.run(rx, probed_tx, announce));
        if let Err(e) = spawned {
            reporter.init(Health::fault(format!("cannot start its thread: {e}")));
        }
        probed
    }

    /// Removes a device (a PC/SC reader unplugged under `pcsc:auto`); its
    /// worker ends after its queue.
    pub fn remove(&self, name: &str) -> bool {
        let removed = self.write().remove(name);
        if let Some(slot) = &removed {
            println!("device {name} {} gone", kind_name(slot.kind));
            let _ = self.sink.send(AgentEvent::DevicesChanged);
        }
        removed.is_some()
    }

    /// The reporter of `name`.
    pub fn reporter(&self, name: &str) -> Option<Reporter> {
        self.read().get(name).map(|s| s.reporter.clone())
    }

    /// Whether `name` is a device.
    pub fn contains(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    /// Tells every device of `kind` about a USB device.
    pub fn usb(&self, kind: DeviceKind, event: &UsbHotplug) {
        for slot in self.read().values().filter(|s| s.kind == kind) {
            let _ = slot.work.send(Work::Usb(event.clone()));
        }
    }

    /// The devices as the hub sees them, by name.
    pub fn list(&self) -> Vec<DeviceInfo> {
        self.read()
            .iter()
            .map(|(name, slot)| {
                let health = slot.reporter.health();
                let running = slot.pending.load(Ordering::Acquire) > 0;
                DeviceInfo {
                    name: name.clone(),
                    kind: slot.kind,
                    state: if running && health.state == DeviceState::Ready {
                        DeviceState::Busy
                    } else {
                        health.state
                    },
                    detail: health.detail,
                }
            })
            .collect()
    }

    /// Hands a request to its device's worker, or says why not.
    pub fn dispatch(
        &self,
        connection: u64,
        request_id: String,
        device: &str,
        command: DeviceCommand,
    ) -> Result<(), CommandError> {
        let slots = self.read();
        let Some(slot) = slots.get(device) else {
            let names: Vec<&str> = slots.keys().map(String::as_str).collect();
            return Err(CommandError::new(
                CommandErrorCode::UnknownDevice,
                format!(
                    "terminal {} has no device `{device}` (it has: {}): check the device name in the hub's configuration against the terminal's",
                    self.terminal_id,
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            ));
        };
        if command.device_kind() != slot.kind {
            return Err(CommandError::new(
                CommandErrorCode::WrongDeviceKind,
                format!(
                    "device `{device}` of terminal {} is a {}, not a {}: address the command to a device of its kind",
                    self.terminal_id,
                    kind_name(slot.kind),
                    kind_name(command.device_kind())
                ),
            ));
        }
        let taken = slot
            .pending
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < QUEUE_DEPTH).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(CommandError::new(
                CommandErrorCode::Busy,
                format!(
                    "device `{device}` already has {QUEUE_DEPTH} commands waiting: wait for their answers before sending more"
                ),
            ));
        }
        let work = Work::Run {
            connection,
            request_id,
            command,
        };
        slot.work.send(work).map_err(|_| {
            slot.pending.fetch_sub(1, Ordering::AcqRel);
            CommandError::new(
                CommandErrorCode::DeviceFault,
                format!("device `{device}`'s driver thread has stopped: restart cardhub terminal"),
            )
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Slot>> {
        // Every write is one insert or remove: a poisoned map is whole.
        self.slots.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Slot>> {
        self.slots.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The thread that owns one driver.
struct Worker {
    driver: Box<dyn Driver>,
    reporter: Reporter,
    pending: Arc<AtomicUsize>,
    sink: EventSink,
    listed: Arc<AtomicBool>,
}

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<Work>, probed: mpsc::Sender<()>, announce: bool) {
        let health = self.driver.probe();
        self.reporter.init(health.clone());
        // Read before the probe is reported done: start-up waits for that
        // before it prints, so `false` means the start-up lines show this
        // state, and `true` that they were printed without it.
        let late = self.listed.load(Ordering::SeqCst);
        let _ = probed.send(());
        if announce || late {
            println!(
                "{}",
                device_line(self.reporter.name(), self.reporter.kind, &health)
            );
        }
        if announce {
            let _ = self.sink.send(AgentEvent::DevicesChanged);
        } else if late {
            self.reporter.event(DeviceEvent::StateChanged {
                state: health.state,
                detail: health.detail,
            });
        }
        loop {
            let work = match self.driver.idle_every() {
                Some(every) => rx.recv_timeout(every),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match work {
                Ok(Work::Run {
                    connection,
                    request_id,
                    command,
                }) => {
                    let result = self.driver.run(command);
                    self.pending.fetch_sub(1, Ordering::AcqRel);
                    self.reporter.set(self.driver.health());
                    let _ = self.sink.send(AgentEvent::Answer {
                        connection,
                        request_id,
                        result,
                    });
                }
                Ok(Work::Usb(event)) => {
                    self.driver.usb(&event);
                    self.reporter.set(self.driver.health());
                }
                Err(RecvTimeoutError::Timeout) => {
                    let events = self.driver.idle();
                    self.reporter.set(self.driver.health());
                    for event in events {
                        self.reporter.event(event);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}

/// The answer to a command the device does not implement (a newer hub).
pub fn unsupported(device: &str, command: &DeviceCommand) -> CommandResult {
    CommandResult::Error(CommandError::new(
        CommandErrorCode::Unsupported,
        format!(
            "this terminal's software cannot run {command:?} on `{device}`: update cardhub on the branch PC"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use cardhub_protocols::terminal::{CameraCommand, CommandOutput, IdReaderCommand};

    use super::*;

    /// A driver that answers `done` after being told to.
    struct Gate {
        release: mpsc::Receiver<()>,
    }

    impl Driver for Gate {
        fn probe(&mut self) -> Health {
            Health::ready()
        }
        fn run(&mut self, _command: DeviceCommand) -> CommandResult {
            let _ = self.release.recv_timeout(Duration::from_secs(5));
            CommandResult::Ok(CommandOutput::Done {})
        }
        fn health(&self) -> Health {
            Health::ready()
        }
        fn idle_every(&self) -> Option<Duration> {
            None
        }
        fn idle(&mut self) -> Vec<DeviceEvent> {
            Vec::new()
        }
    }

    fn find() -> DeviceCommand {
        DeviceCommand::IdReader(IdReaderCommand::FindCard {})
    }

    #[test]
    fn requests_are_refused_by_name_kind_and_queue_depth() {
        let (sink, mut events) = tokio::sync::mpsc::unbounded_channel();
        let registry = Registry::new("T-1", sink);
        let (release_tx, release) = mpsc::channel();
        registry
            .start(
                "id",
                DeviceKind::IdReader,
                Box::new(Gate { release }),
                false,
            )
            .recv()
            .unwrap();

        let e = registry
            .dispatch(1, "r0".into(), "printer", find())
            .unwrap_err();
        assert_eq!(e.code, CommandErrorCode::UnknownDevice);
        assert!(e.message.contains("(it has: id)"), "{}", e.message);
        let e = registry
            .dispatch(
                1,
                "r0".into(),
                "id",
                DeviceCommand::Camera(CameraCommand::Capture {}),
            )
            .unwrap_err();
        assert_eq!(e.code, CommandErrorCode::WrongDeviceKind);

        for n in 0..QUEUE_DEPTH {
            registry.dispatch(1, format!("r{n}"), "id", find()).unwrap();
        }
        assert_eq!(registry.list()[0].state, DeviceState::Busy);
        let e = registry
            .dispatch(1, "late".into(), "id", find())
            .unwrap_err();
        assert_eq!(e.code, CommandErrorCode::Busy);

        for _ in 0..QUEUE_DEPTH {
            release_tx.send(()).unwrap();
        }
        for n in 0..QUEUE_DEPTH {
            match events.blocking_recv() {
                Some(AgentEvent::Answer {
                    request_id, result, ..
                }) => {
                    assert_eq!(request_id, format!("r{n}"), "answers come in order");
                    assert_eq!(result, CommandResult::Ok(CommandOutput::Done {}));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(registry.remove("id"));
        assert!(registry.list().is_empty());
    }

    #[test]
    fn a_state_change_is_sent_once() {
        let (sink, mut events) = tokio::sync::mpsc::unbounded_channel();
        let reporter = Reporter::new("cam", DeviceKind::Camera, sink);
        reporter.init(Health::ready());
        reporter.set(Health::ready());
        reporter.set(Health::offline("unplugged"));
        reporter.set(Health::offline("unplugged"));
        match events.try_recv() {
            Ok(AgentEvent::Device { device, event }) => {
                assert_eq!(device, "cam");
                assert_eq!(
                    event,
                    DeviceEvent::StateChanged {
                        state: DeviceState::Offline,
                        detail: Some("unplugged".into())
                    }
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(events.try_recv().is_err());
        assert_eq!(
            device_line("cam", DeviceKind::Camera, &reporter.health()),
            "device cam camera offline (unplugged)"
        );
    }
}
