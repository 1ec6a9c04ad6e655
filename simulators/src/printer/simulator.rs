//! The running printer: [`PrinterSimulator::start`] loads (or creates) the
//! printer's state, binds the host transport (a TCP listener, or a pty
//! pair) and the control listener, and runs its threads: the host link
//! ([`super::host`]), the coupler to vpcd when the printer has an encoder
//! ([`super::coupler`]), and the control channel ([`super::control`]).
//! [`RunningPrinter::stop`] ends them all and joins them.

use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use cardhub_protocols::printer::PrinterInfo;
use serialport::{SerialPort, TTYPort};

use super::control::{self, PrinterSnapshot};
use super::machine::{
    HOPPER_CAPACITY, MachineConfig, MachineState, PrinterMachine, RIBBON_CAPACITY, Timing,
    valid_chip_prefix,
};
use super::shared::{HostKind, Inner, InnerParts, Shared};
use super::store::{Layout, StoreError};
use super::{coupler, host};

/// The chip prefix when none is given: the centre's vendor block
/// `31000086`, leaving eight digits (a hundred million cards) for the
/// counter.
pub const DEFAULT_CHIP_PREFIX: &str = "31000086";

/// How the host reaches the printer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostTransport {
    /// A TCP listener at this address (port 0: any free port).
    Tcp(SocketAddr),
    /// A pseudo-terminal pair: the host opens the slave path as a serial
    /// device.
    Pty,
}

/// What a simulated printer is started with.
#[derive(Clone, PartialEq, Eq)]
pub struct PrinterSimConfig {
    /// The host transport.
    pub host: HostTransport,
    /// Where the control listener binds (port 0: any free port).
    pub control: SocketAddr,
    /// vpcd's address for the encoder (the coupler); `None`: no encoder.
    pub vpcd: Option<SocketAddr>,
    /// The printer's own state (kept across restarts).
    pub state_dir: PathBuf,
    /// Faces and finished cards.
    pub out_dir: PathBuf,
    /// Step durations.
    pub timing: Timing,
    /// Whether printed faces are written to `out_dir`.
    pub write_faces: bool,
    /// The leading hex digits of each chip's card identification code.
    pub chip_prefix: String,
    /// The centre's transport master key, from which each blank chip's
    /// transport key is diversified.
    pub transport_key: [u8; 16],
    /// Cards in the hopper at start-up (`None`: a new printer's hopper is
    /// full, a restarted one keeps its count).
    pub hopper: Option<u32>,
    /// Prints on the ribbon at start-up (`None`: a new printer's ribbon is
    /// full, a restarted one keeps its count).
    pub ribbon: Option<u32>,
    /// The serial number `Rinf` reports (`None`: from the chip prefix).
    pub serial: Option<String>,
}

impl std::fmt::Debug for PrinterSimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrinterSimConfig")
            .field("host", &self.host)
            .field("control", &self.control)
            .field("vpcd", &self.vpcd)
            .field("state_dir", &self.state_dir)
            .field("out_dir", &self.out_dir)
            .field("timing", &self.timing)
            .field("write_faces", &self.write_faces)
            .field("chip_prefix", &self.chip_prefix)
            .field("transport_key", &"<secret>")
            .field("hopper", &self.hopper)
            .field("ribbon", &self.ribbon)
            .finish()
    }
}

impl PrinterSimConfig {
    /// A printer on TCP at 127.0.0.1 (any port), no encoder, instant
    /// steps, faces written to `<state_dir>/out`.
    pub fn new(state_dir: impl Into<PathBuf>, transport_key: [u8; 16]) -> Self {
        let state_dir = state_dir.into();
        Self {
            host: HostTransport::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            control: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            vpcd: None,
            out_dir: state_dir.join("out"),
            state_dir,
            timing: Timing::zero(),
            write_faces: true,
            chip_prefix: DEFAULT_CHIP_PREFIX.to_owned(),
            transport_key,
            hopper: None,
            ribbon: None,
            serial: None,
        }
    }
}

/// Why the simulated printer could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrinterSimError {
    /// The state or out directory could not be used.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chip prefix is not 0 to 15 hex digits.
    #[error(
        "chip prefix `{0}` must be 0 to 15 hex digits (the counter fills the card identification code to 16), such as 31000086"
    )]
    ChipPrefix(String),
    /// The host listener could not be bound.
    #[error("cannot listen for the host on {addr}: {source}; pick another port (0 = any free one)")]
    HostBind {
        /// The address asked for.
        addr: SocketAddr,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The pseudo-terminal pair could not be made.
    #[error("cannot create a pseudo-terminal pair: {0}; is /dev/ptmx available?")]
    Pty(String),
    /// The control listener could not be bound.
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
    #[error("cannot start the simulated printer's threads: {0}")]
    Thread(#[source] io::Error),
}

/// Starts simulated printers.
#[derive(Debug)]
pub struct PrinterSimulator;

/// The host side once bound.
enum BoundHost {
    Tcp(TcpListener, SocketAddr),
    Pty(TTYPort, TTYPort, PathBuf),
}

impl PrinterSimulator {
    /// Loads or creates the printer's state and starts its threads.
    pub fn start(config: PrinterSimConfig) -> Result<RunningPrinter, PrinterSimError> {
        let prefix = config.chip_prefix.to_ascii_uppercase();
        if !valid_chip_prefix(&prefix) {
            return Err(PrinterSimError::ChipPrefix(config.chip_prefix));
        }
        let layout = Layout {
            state_dir: config.state_dir.clone(),
            out_dir: config.out_dir.clone(),
        };
        layout.create()?;
        let state = match layout.load_state()? {
            Some(state) => state,
            None => MachineState::new(
                config.hopper.unwrap_or(HOPPER_CAPACITY),
                config.ribbon.unwrap_or(RIBBON_CAPACITY),
            ),
        };
        let info = PrinterInfo {
            model: "cardhub simulated card printer (Evolis Primacy class)".to_owned(),
            serial: config
                .serial
                .clone()
                .unwrap_or_else(|| format!("SIM-{prefix}")),
            firmware: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let mut machine = PrinterMachine::new(
            MachineConfig {
                timing: config.timing,
                chip_prefix: prefix,
                info,
            },
            state,
        );
        if config.hopper.is_some() || config.ribbon.is_some() {
            let state = machine.state();
            let (hopper, ribbon) = (
                config.hopper.unwrap_or(state.hopper),
                config.ribbon.unwrap_or(state.ribbon),
            );
            machine.set_counts(hopper, ribbon);
        }
        let control_listener =
            TcpListener::bind(config.control).map_err(|source| PrinterSimError::ControlBind {
                addr: config.control,
                source,
            })?;
        let control_addr =
            control_listener
                .local_addr()
                .map_err(|source| PrinterSimError::ControlBind {
                    addr: config.control,
                    source,
                })?;
        let bound = bind_host(&config.host)?;
        let host_kind = match &bound {
            BoundHost::Tcp(_, addr) => HostKind::Tcp(addr.to_string()),
            BoundHost::Pty(_, _, path) => HostKind::Pty(path.display().to_string()),
        };
        let inner = Inner::new(
            machine,
            InnerParts {
                layout,
                transport_key: config.transport_key,
                write_faces: config.write_faces,
                host_kind,
                vpcd: config.vpcd.map(|a| a.to_string()),
            },
        );
        let shared = Arc::new(Shared::new(inner));
        let mut running = RunningPrinter {
            shared: Arc::clone(&shared),
            addr: None,
            pty_path: None,
            control_addr,
            threads: Vec::new(),
        };
        match bound {
            BoundHost::Tcp(listener, addr) => {
                running.addr = Some(addr);
                let shared = Arc::clone(&shared);
                running.spawn("printersim-accept", move || {
                    host::serve_tcp(&shared, listener);
                })?;
            }
            BoundHost::Pty(master, slave, path) => {
                running.pty_path = Some(path);
                shared.lock().host.connected = true;
                let shared = Arc::clone(&shared);
                running.spawn("printersim-pty", move || {
                    host::serve_pty(&shared, master, slave);
                })?;
            }
        }
        {
            let shared = Arc::clone(&shared);
            running.spawn("printersim-control-accept", move || {
                control::server::serve(&shared, control_listener);
            })?;
        }
        if let Some(vpcd) = config.vpcd {
            let shared = Arc::clone(&shared);
            running.spawn("printersim-coupler", move || coupler::run(&shared, vpcd))?;
        }
        tracing::info!(
            host = %running.host_address(),
            %control_addr,
            vpcd = ?config.vpcd,
            "simulated printer started"
        );
        Ok(running)
    }
}

fn bind_host(host: &HostTransport) -> Result<BoundHost, PrinterSimError> {
    match host {
        HostTransport::Tcp(addr) => {
            let listener = TcpListener::bind(addr).map_err(|source| PrinterSimError::HostBind {
                addr: *addr,
                source,
            })?;
            let local = listener
                .local_addr()
                .map_err(|source| PrinterSimError::HostBind {
                    addr: *addr,
                    source,
                })?;
            Ok(BoundHost::Tcp(listener, local))
        }
        HostTransport::Pty => {
            let (master, slave) =
                TTYPort::pair().map_err(|e| PrinterSimError::Pty(e.to_string()))?;
            let path = slave
                .name()
                .map(PathBuf::from)
                .ok_or_else(|| PrinterSimError::Pty("the pty slave has no path".to_owned()))?;
            Ok(BoundHost::Pty(master, slave, path))
        }
    }
}

/// Asks a running printer to stop from another thread (a signal handler's
/// waiter): [`RunningPrinter::wait_for_shutdown`] then returns.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
}

impl ShutdownHandle {
    /// Asks for the stop.
    pub fn request(&self) {
        self.shared.lock().shutdown_requested = true;
        self.shared.changed.notify_all();
    }
}

/// A simulated printer running on its own threads.
#[derive(Debug)]
pub struct RunningPrinter {
    shared: Arc<Shared>,
    addr: Option<SocketAddr>,
    pty_path: Option<PathBuf>,
    control_addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl RunningPrinter {
    fn spawn(
        &mut self,
        name: &str,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<(), PrinterSimError> {
        let handle = thread::Builder::new()
            .name(name.to_owned())
            .spawn(body)
            .map_err(PrinterSimError::Thread)?;
        self.threads.push(handle);
        Ok(())
    }

    /// The TCP address the host connects to (`None` on a pty).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// The pty slave path the host opens as a serial device (`None` on
    /// TCP).
    pub fn pty_path(&self) -> Option<&Path> {
        self.pty_path.as_deref()
    }

    /// The address as a hub's configuration writes it:
    /// `tcp://127.0.0.1:PORT` or `serial:///dev/pts/N`.
    pub fn host_address(&self) -> String {
        match (&self.addr, &self.pty_path) {
            (Some(addr), _) => format!("tcp://{addr}"),
            (None, Some(path)) => format!("serial://{}", path.display()),
            (None, None) => "nowhere".to_owned(),
        }
    }

    /// Where the control listener accepts connections.
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// Everything about the printer now (the control channel's `state`).
    pub fn snapshot(&self) -> PrinterSnapshot {
        PrinterSnapshot::of(&self.shared.lock())
    }

    /// Waits until the coupler is (or is not) connected to vpcd, vpcd
    /// talking to it; `false` on timeout.
    pub fn wait_coupler(&self, connected: bool, timeout: Duration) -> bool {
        self.shared
            .wait_for(timeout, |i| i.coupler.connected == connected)
    }

    /// Waits until `done` holds for the printer's snapshot (taken at every
    /// change); `false` on timeout.
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&PrinterSnapshot) -> bool) -> bool {
        self.shared
            .wait_for(timeout, |i| done(&PrinterSnapshot::of(i)))
    }

    /// A handle that asks this printer to stop.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Blocks until a control client sends `shutdown` or a
    /// [`ShutdownHandle`] asks, then stops.
    pub fn wait_for_shutdown(mut self) {
        self.shared
            .wait_for(Duration::MAX, |i| i.shutdown_requested);
        self.shutdown();
    }

    /// Stops the printer (closing its links) and joins its threads. Its
    /// state is on disk; starting it again with the same directories
    /// continues where it stopped.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if self.threads.is_empty() {
            return;
        }
        {
            let mut inner = self.shared.lock();
            inner.stopping = true;
            inner.drop_host();
            if let Some(stream) = inner.coupler.stream.take() {
                let _ = stream.shutdown(Shutdown::Both);
            }
            inner.persist();
        }
        self.shared.changed.notify_all();
        if let Some(addr) = self.addr {
            wake(addr);
        }
        wake(self.control_addr);
        for handle in self.threads.drain(..) {
            if handle.join().is_err() {
                tracing::error!("a simulated printer thread panicked");
            }
        }
        tracing::info!(host = %self.host_address(), "simulated printer stopped");
    }
}

impl Drop for RunningPrinter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Unblocks a listener's accept so its thread sees the stop.
fn wake(addr: SocketAddr) {
    let target = if addr.ip().is_unspecified() {
        SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
    } else {
        addr
    };
    if let Err(e) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) {
        tracing::warn!(error = %e, "could not wake a listener of the simulated printer");
    }
}
