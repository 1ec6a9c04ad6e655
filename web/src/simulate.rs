//! The simulated workshop `make run` shows on a laptop with no hardware
//! (`[simulators]`, development mode only): one `cardhub sim printer`
//! child process per configured workshop printer at `tcp://127.0.0.1:PORT`,
//! its contact encoder behind the PC/SC rig's vpcd reader the printer's
//! `encoder` names, and a `cardhub sim portal` child that submits approved
//! applications and extracts them into making-card tasks.
//!
//! The simulators are the binary itself started again (`current_exe`), so
//! they share no memory with the hub and speak only the wire protocols, as
//! real printers and a real portal would. [`Simulators`] is their handle:
//! [`Simulators::start_printers`] before the workshop starts (each printer
//! waited for until its TCP port answers), [`Simulators::start_portal`]
//! once the HTTP server is bound, [`Simulators::stop`] after the hub's
//! shutdown (SIGTERM, then a bounded wait). Each child also gets
//! `PR_SET_PDEATHSIG = SIGTERM`, so a hub that is killed takes them with
//! it. While the printers run the hub holds the rig's lease locks of their
//! encoder readers (`cardhub_devices::rig`), so tests run beside the demo
//! take other readers.
//!
//! Not here: the printer simulator (`cardhub_simulators::printer`), the
//! portal's applicants (`cardhub_simulators::portal`), the workshop
//! (`cardhub_actors::workshop`).

use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cardhub_actors::workshop::WorkshopConfig;
use cardhub_devices::printer::PrinterAddress;
use cardhub_devices::reader::{
    PcscContext, VPCD_FRIENDLY_NAME, vpcd_card_port, vpcd_reader_index, vpcd_reader_name,
};
use cardhub_storage::Store;
use serde::Deserialize;

use crate::config::{Config, Mode};

/// How long a simulated printer gets to answer on its TCP port: it starts
/// in well under a second, but a loaded 2-core machine building in the
/// background can stretch that several times.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How often a starting printer's port is tried.
const READY_POLL: Duration = Duration::from_millis(50);

/// How long the children get to stop after SIGTERM before they are
/// killed: a printer saves its state after every change, so it stops at
/// once; the wait only covers a step in flight.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The portal's seed: fixed, so every fresh `make run` shows the same
/// applicants.
const PORTAL_SEED: u64 = 2026;

/// How long the printers wait for a rig reader a test has leased: a test
/// holds its reader for seconds to a minute.
const LEASE_WAIT: Duration = Duration::from_secs(30);

/// How often a leased rig reader is tried again.
const LEASE_RETRY: Duration = Duration::from_millis(100);

/// Lines of a child's log quoted when it exits during start-up.
const LOG_TAIL_LINES: usize = 12;

/// `[simulators]`: simulated devices and parties for a laptop with no
/// hardware. Development only: in production mode the hub refuses to
/// start with `printers = true` or `applications > 0`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorsConfig {
    /// Start a simulated printer (`cardhub sim printer`) for every
    /// `[[workshop.lines.printers]]` at `tcp://127.0.0.1:PORT` (or
    /// `localhost`) where nothing answers yet, listening on that port, its
    /// encoder on the rig reader `encoder` names. Other printers, serial
    /// ones included (a pseudo-terminal's path is the kernel's choice, so a
    /// configured path cannot be served), are left to real hardware.
    pub printers: bool,
    /// The simulated printers' step durations.
    pub timing: SimTiming,
    /// Each simulated printer's state (`<dir>/<printer>/`), printed faces
    /// as PNG and finished cards' chips (`<dir>/<printer>/out/`) and log
    /// (`<dir>/<printer>/printer.log`); the portal's log (`<dir>/portal.log`).
    pub dir: PathBuf,
    /// Applications the simulated portal submits (approved) and extracts
    /// when the hub starts on a database that holds none; 0: no portal.
    pub applications: u32,
    /// A synthetic status load for the monitoring wall and `cardhub bench
    /// monitor`: this many made-up devices inside the hub
    /// (`load/printer-0001`, ...) publish their status to the status bus as
    /// device actors do. They stand in for device actors, not devices:
    /// there is no transport behind them. 0: none.
    pub status_devices: u32,
    /// Status changes a second the synthetic devices make in all.
    pub status_changes_per_sec: u32,
    /// The code of a simulated branch counter (development mode): a
    /// community branch of that code, a `clerk` branch operator, a
    /// simulated ID reader (pty) and camera (TCP), and a `cardhub terminal`
    /// child carrying them to the hub ([`crate::sim_branch`]). Empty: none.
    #[serde(default)]
    pub branch: String,
}

/// How long the simulated printers' steps take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SimTiming {
    /// Every step is instant.
    Zero,
    /// Steps take what a real printer's do (about 26 s a card).
    Realistic,
}

impl SimTiming {
    /// The `--timing` value of `cardhub sim printer`.
    pub fn as_arg(self) -> &'static str {
        match self {
            SimTiming::Zero => "zero",
            SimTiming::Realistic => "realistic",
        }
    }
}

/// Why the simulators could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulateError {
    /// `[simulators]` asks for simulators in production mode.
    #[error(
        "[simulators] starts simulated printers, applications or status load, which production mode refuses: \
         set `[simulators] printers = false`, `applications = 0` and `status_devices = 0` in the config file \
         (or CARDHUB_SIMULATORS__PRINTERS=false CARDHUB_SIMULATORS__APPLICATIONS=0 CARDHUB_SIMULATORS__STATUS_DEVICES=0)"
    )]
    Production,
    /// The hub's own executable (which the simulators run as) is unknown.
    #[error("cannot find the cardhub executable to run the simulators with: {0}")]
    CurrentExe(#[source] io::Error),
    /// A simulator's directory or log file could not be made.
    #[error(
        "cannot prepare {path} for the simulators: {source}; check [simulators] dir and its permissions"
    )]
    Dir {
        /// The directory or file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// A child process could not be started.
    #[error("cannot start {what}: {source}")]
    Spawn {
        /// Which simulator.
        what: String,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// A simulated printer exited while starting.
    #[error("{what} exited while starting ({status}); the end of its log {log}:\n{tail}")]
    Exited {
        /// Which simulator.
        what: String,
        /// How it ended.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The log's last lines.
        tail: String,
    },
    /// A simulated printer did not answer on its port in time.
    #[error("{what} did not answer on {addr} within {waited:?}: read its log {log}")]
    NotReady {
        /// Which simulator.
        what: String,
        /// Its address.
        addr: SocketAddr,
        /// How long it was waited for.
        waited: Duration,
        /// Its log file.
        log: PathBuf,
    },
}

/// A simulated printer the hub starts: where it listens and where its
/// encoder's vpcd reader is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterPlan {
    /// The printer's name (also its directory under `[simulators] dir`).
    pub name: String,
    /// Where its host link listens.
    pub listen: SocketAddr,
    /// The PC/SC reader of its encoder, as configured.
    pub encoder: String,
    /// The vpcd port of that reader, when it is a rig reader.
    pub vpcd_port: Option<u16>,
    /// The leading digits of the chips it feeds ([`chip_prefix`]).
    pub chip_prefix: String,
}

/// The chip id prefix of the simulated printer on `port`: `31` and the
/// port in five digits (`3109101`), the printer's own counter filling the
/// rest. Each printer counts from 1 in its state directory, so printers
/// sharing a prefix would feed chips with one id, which the hub refuses
/// as already bound to another card.
pub fn chip_prefix(port: u16) -> String {
    format!("31{port:05}")
}

/// The simulated printers for `workshop`: one per printer at a loopback
/// TCP address. The others come back as `(printer, why)` for the log.
pub fn plan_printers(workshop: &WorkshopConfig) -> (Vec<PrinterPlan>, Vec<(String, String)>) {
    let mut planned = Vec::new();
    let mut skipped = Vec::new();
    for printer in workshop.lines.iter().flat_map(|l| &l.printers) {
        let listen = match printer.address.parse::<PrinterAddress>() {
            Ok(PrinterAddress::Tcp { host, port }) => loopback_ip(&host).map(|ip| (ip, port)),
            _ => None,
        };
        match listen {
            Some((ip, port)) => planned.push(PrinterPlan {
                name: printer.name.clone(),
                listen: SocketAddr::new(ip, port),
                encoder: printer.encoder.clone(),
                vpcd_port: rig_card_port(&printer.encoder),
                chip_prefix: chip_prefix(port),
            }),
            None => skipped.push((
                printer.name.clone(),
                format!(
                    "{} is not tcp://127.0.0.1:PORT: only loopback TCP printers are simulated",
                    printer.address
                ),
            )),
        }
    }
    (planned, skipped)
}

fn loopback_ip(host: &str) -> Option<IpAddr> {
    if host.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    host.parse::<IpAddr>().ok().filter(IpAddr::is_loopback)
}

/// The vpcd port behind a PC/SC rig reader name: `"cardhub vpcd P 00 0S"`
/// is slot S of the entry on port P, and the card (here: the printer's
/// coupler) connects to P + S (`scripts/pcsc-rig.sh`,
/// `cardhub_devices::reader::vpcd_reader_name`). `None` for a name the rig
/// does not give.
pub fn rig_card_port(reader: &str) -> Option<u16> {
    let rest = reader.strip_prefix(VPCD_FRIENDLY_NAME)?.strip_prefix(' ')?;
    let mut parts = rest.split(' ');
    let (entry, slot) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(entry), Some("00"), Some(slot @ ("00" | "01")), None) => (entry, slot),
        _ => return None,
    };
    let entry: u16 = entry.parse().ok()?;
    let port = entry.checked_add(u16::from(slot == "01"))?;
    let index = vpcd_reader_index(port)?;
    // The exact name the rig gives that port: an entry port is even-offset
    // and written without leading zeros.
    (vpcd_reader_name(index) == reader).then(|| vpcd_card_port(index))
}

/// The simulated printers and portal the hub started; [`Simulators::stop`]
/// ends them.
#[derive(Debug, Default)]
pub struct Simulators {
    printers: Vec<SimChild>,
    portal: Option<SimChild>,
    /// The simulated branch's devices and terminal.
    pub(crate) branch: Vec<SimChild>,
    /// The rig's lease locks of the printers' encoder readers, held while
    /// the printers run.
    leases: Vec<File>,
}

#[derive(Debug)]
pub(crate) struct SimChild {
    what: String,
    child: Child,
    log: PathBuf,
}

impl Simulators {
    /// Starts a simulated printer for every loopback TCP printer of the
    /// workshop (`[simulators] printers`, development mode) and waits until
    /// each answers on its port. Without the PC/SC rig the printers run
    /// without encoders (said once in the log). Nothing to do: an empty
    /// handle. Production mode with `printers` or `applications` set is
    /// refused.
    ///
    /// Call it on the thread that runs the hub (the main thread):
    /// `PR_SET_PDEATHSIG` fires when the thread that started a child ends,
    /// not the process.
    pub async fn start_printers(config: &Config) -> Result<Simulators, SimulateError> {
        let sim = &config.simulators;
        if config.mode == Mode::Production {
            if sim.printers || sim.applications > 0 || sim.status_devices > 0 {
                return Err(SimulateError::Production);
            }
            return Ok(Simulators::default());
        }
        if !sim.printers || !config.workshop.enabled {
            return Ok(Simulators::default());
        }
        let (plans, skipped) = plan_printers(&config.workshop);
        for (printer, why) in skipped {
            tracing::info!(%printer, "not simulated: {why}");
        }
        let plans = not_yet_served(plans).await;
        if plans.is_empty() {
            return Ok(Simulators::default());
        }
        let plans = without_missing_encoders(plans);
        let (plans, leases) = with_rig_leases(plans).await;
        let exe = std::env::current_exe().map_err(SimulateError::CurrentExe)?;
        let mut simulators = Simulators {
            leases,
            ..Simulators::default()
        };
        for plan in &plans {
            match start_printer(&exe, config, plan).await {
                Ok(child) => simulators.printers.push(child),
                Err(e) => {
                    simulators.stop().await;
                    return Err(e);
                }
            }
        }
        tracing::info!(
            printers = plans.len(),
            dir = %sim.dir.display(),
            timing = sim.timing.as_arg(),
            "simulated printers are up: faces printed land in <dir>/<printer>/out"
        );
        Ok(simulators)
    }

    /// Starts the simulated portal (`[simulators] applications`,
    /// development mode) when the database holds no application yet: it
    /// submits that many approved applications to the hub at `hub` and
    /// extracts them into making-card tasks, then exits. A portal that
    /// cannot start is logged, not fatal: the hub works without it.
    pub async fn start_portal(&mut self, config: &Config, store: &Store, hub: SocketAddr) {
        let count = config.simulators.applications;
        if config.mode != Mode::Development || count == 0 {
            return;
        }
        match store.count_applications().await {
            Ok(0) => {}
            Ok(held) => {
                tracing::info!(
                    held,
                    "the database holds applications already: the simulated portal submits none"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot count the applications: the simulated portal does not run");
                return;
            }
        }
        let hub = match hub.ip() {
            ip if ip.is_unspecified() => SocketAddr::new(loopback_of(ip), hub.port()),
            _ => hub,
        };
        let mut args: Vec<OsString> = ["sim", "portal", "--hub"].map(OsString::from).into();
        args.push(format!("http://{hub}").into());
        args.push("--token-file".into());
        args.push(config.auth.dev_token_file.clone().into());
        args.push("--count".into());
        args.push(count.to_string().into());
        args.push("--seed".into());
        args.push(PORTAL_SEED.to_string().into());
        let log = config.simulators.dir.join("portal.log");
        let started = std::env::current_exe()
            .map_err(SimulateError::CurrentExe)
            .and_then(|exe| spawn("the simulated portal", &exe, &args, &log));
        match started {
            Ok(child) => {
                tracing::info!(
                    applications = count,
                    log = %log.display(),
                    "the simulated portal submits applications and extracts them into tasks"
                );
                self.portal = Some(child);
            }
            Err(e) => tracing::warn!(error = %e, "the simulated portal does not run"),
        }
    }

    /// Stops every child: SIGTERM, then up to [`STOP_TIMEOUT`] for them to
    /// exit, then SIGKILL.
    pub async fn stop(mut self) {
        // The terminal and its devices first: a terminal outliving the hub
        // would only log reconnections.
        let mut children = std::mem::take(&mut self.branch);
        children.extend(self.portal.take());
        children.append(&mut self.printers);
        end_children(children).await;
        // The encoders' rig readers are free for tests only now that the
        // printers' couplers have let go of them.
        drop(std::mem::take(&mut self.leases));
    }
}

/// SIGTERM to every child, then up to [`STOP_TIMEOUT`] for them to exit,
/// then SIGKILL.
async fn end_children(mut children: Vec<SimChild>) {
    if children.is_empty() {
        return;
    }
    for c in &mut children {
        if matches!(c.child.try_wait(), Ok(None)) {
            let pid =
                libc::pid_t::try_from(c.child.id()).expect("a child's process id fits in pid_t");
            // SAFETY: kill(2) on our own, not yet reaped child.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    for c in &mut children {
        loop {
            match c.child.try_wait() {
                Ok(Some(status)) => {
                    tracing::info!(what = %c.what, %status, log = %c.log.display(), "simulator stopped");
                    break;
                }
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(READY_POLL).await;
                }
                Ok(None) => {
                    tracing::warn!(what = %c.what, "simulator did not stop after SIGTERM: killed");
                    let _ = c.child.kill();
                    let _ = c.child.wait();
                    break;
                }
                Err(e) => {
                    tracing::warn!(what = %c.what, error = %e, "cannot wait for a simulator");
                    break;
                }
            }
        }
    }
}

pub(crate) fn loopback_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    }
}

/// The plans whose port nothing answers on yet: where something does (a
/// printer simulated by hand, by a test or a benchmark, or another
/// program), the hub connects to that and simulates nothing.
async fn not_yet_served(plans: Vec<PrinterPlan>) -> Vec<PrinterPlan> {
    let mut free = Vec::with_capacity(plans.len());
    for plan in plans {
        if answers(plan.listen).await {
            tracing::info!(
                printer = %plan.name,
                listen = %plan.listen,
                "something answers there already: the printer is not simulated"
            );
        } else {
            free.push(plan);
        }
    }
    free
}

/// Drops the encoders pcscd does not list (the rig is not up, or has fewer
/// readers), saying so once.
fn without_missing_encoders(mut plans: Vec<PrinterPlan>) -> Vec<PrinterPlan> {
    let wanted: Vec<&str> = plans
        .iter()
        .filter(|p| p.vpcd_port.is_some())
        .map(|p| p.encoder.as_str())
        .collect();
    if wanted.is_empty() {
        return plans;
    }
    let listed = PcscContext::establish().and_then(|c| c.list_readers());
    let missing: Vec<String> = match &listed {
        Ok(readers) => wanted
            .iter()
            .filter(|w| !readers.iter().any(|r| r == *w))
            .map(|w| (*w).to_owned())
            .collect(),
        Err(_) => wanted.iter().map(|w| (*w).to_owned()).collect(),
    };
    if missing.is_empty() {
        return plans;
    }
    let why = match &listed {
        Ok(_) => "pcscd does not list them".to_owned(),
        Err(e) => format!("no PC/SC service: {e}"),
    };
    tracing::warn!(
        readers = ?missing,
        "the encoders' rig readers are not there ({why}): these simulated printers run \
         without encoders and their cards fail at the chip step; start the PC/SC rig with \
         `scripts/pcsc-rig.sh start` and restart the hub"
    );
    for plan in &mut plans {
        if missing.contains(&plan.encoder) {
            plan.vpcd_port = None;
        }
    }
    plans
}

/// Takes the rig's lease lock (`cardhub_devices::rig`) of every encoder
/// reader, so that tests run beside the demo take other readers. A reader
/// a test holds is waited for up to [`LEASE_WAIT`]; after that its printer
/// runs without an encoder. A lock that cannot be opened is logged and
/// not taken.
async fn with_rig_leases(mut plans: Vec<PrinterPlan>) -> (Vec<PrinterPlan>, Vec<File>) {
    let mut leases = Vec::new();
    let deadline = Instant::now() + LEASE_WAIT;
    let mut said = false;
    for plan in &mut plans {
        let Some(port) = plan.vpcd_port else {
            continue;
        };
        let path = Path::new(cardhub_devices::rig::RIG_DIR).join(format!("port-{port}.lock"));
        let file = match std::fs::create_dir_all(cardhub_devices::rig::RIG_DIR).and_then(|()| {
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
        }) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot open the rig's lease lock: tests may use this reader too");
                continue;
            }
        };
        loop {
            match file.try_lock() {
                Ok(()) => {
                    leases.push(file);
                    break;
                }
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    if !said {
                        tracing::info!(reader = %plan.encoder, "a test holds this rig reader: waiting for it");
                        said = true;
                    }
                    tokio::time::sleep(LEASE_RETRY).await;
                }
                Err(TryLockError::WouldBlock) => {
                    tracing::warn!(
                        printer = %plan.name,
                        reader = %plan.encoder,
                        "a test kept this rig reader for {LEASE_WAIT:?}: the printer runs without its encoder"
                    );
                    plan.vpcd_port = None;
                    break;
                }
                Err(TryLockError::Error(e)) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot take the rig's lease lock: tests may use this reader too");
                    break;
                }
            }
        }
    }
    (plans, leases)
}

async fn start_printer(
    exe: &Path,
    config: &Config,
    plan: &PrinterPlan,
) -> Result<SimChild, SimulateError> {
    let state_dir = config.simulators.dir.join(&plan.name);
    let mut args: Vec<OsString> = ["sim", "printer", "--listen"].map(OsString::from).into();
    args.push(plan.listen.to_string().into());
    args.push("--state-dir".into());
    args.push(state_dir.clone().into());
    args.push("--timing".into());
    args.push(config.simulators.timing.as_arg().into());
    args.push("--key-file".into());
    args.push(config.crypto.key_file.clone().into());
    args.push("--chip-prefix".into());
    args.push(plan.chip_prefix.clone().into());
    if let Some(port) = plan.vpcd_port {
        args.push("--vpcd".into());
        args.push(format!("127.0.0.1:{port}").into());
    }
    let what = format!("simulated printer `{}`", plan.name);
    let log = state_dir.join("printer.log");
    let mut child = spawn(&what, exe, &args, &log)?;
    let started = Instant::now();
    loop {
        match child.child.try_wait() {
            Ok(Some(status)) => {
                return Err(SimulateError::Exited {
                    what,
                    status,
                    tail: log_tail(&log),
                    log,
                });
            }
            Ok(None) => {}
            Err(source) => return Err(SimulateError::Spawn { what, source }),
        }
        if answers(plan.listen).await {
            tracing::info!(
                printer = %plan.name,
                listen = %plan.listen,
                encoder = plan.vpcd_port.map(|_| plan.encoder.as_str()).unwrap_or("none"),
                log = %log.display(),
                "simulated printer ready"
            );
            return Ok(child);
        }
        if started.elapsed() >= READY_TIMEOUT {
            let _ = child.child.kill();
            let _ = child.child.wait();
            return Err(SimulateError::NotReady {
                what,
                addr: plan.listen,
                waited: READY_TIMEOUT,
                log,
            });
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// Whether something accepts a TCP connection at `addr`. The connection
/// is closed at once; a simulated printer takes the next one as its host.
async fn answers(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(addr)
        )
        .await,
        Ok(Ok(_))
    )
}

/// Starts `exe args`, its standard output and error appended to `log`,
/// with SIGTERM as its parent-death signal.
pub(crate) fn spawn(
    what: &str,
    exe: &Path,
    args: &[OsString],
    log: &Path,
) -> Result<SimChild, SimulateError> {
    let dir_error = |path: &Path| {
        let path = path.to_owned();
        move |source| SimulateError::Dir { path, source }
    };
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(dir_error(dir))?;
    }
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(dir_error(log))?;
    writeln!(
        out,
        "--- started by cardhub serve (pid {}) at {}",
        std::process::id(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    )
    .map_err(dir_error(log))?;
    let err = out.try_clone().map_err(dir_error(log))?;
    let parent = libc::pid_t::try_from(std::process::id()).expect("a process id fits in pid_t");
    let mut command = Command::new(exe);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    // SAFETY: the closure runs in the forked child before exec and only
    // makes async-signal-safe system calls (prctl, getppid), allocating
    // nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                return Err(io::Error::last_os_error());
            }
            // The hub died between fork and prctl: the signal will never
            // come, so do not start at all.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(|source| SimulateError::Spawn {
        what: what.to_owned(),
        source,
    })?;
    Ok(SimChild {
        what: what.to_owned(),
        child,
        log: log.to_owned(),
    })
}

/// The last [`LOG_TAIL_LINES`] lines of a log, for an error message.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rig_reader_names_map_to_their_vpcd_ports() {
        assert_eq!(rig_card_port("cardhub vpcd 35963 00 00"), Some(35963));
        assert_eq!(rig_card_port("cardhub vpcd 35963 00 01"), Some(35964));
        assert_eq!(rig_card_port("cardhub vpcd 35965 00 00"), Some(35965));
        assert_eq!(rig_card_port("cardhub vpcd 35969 00 01"), Some(35970));
        for index in 0..16 {
            assert_eq!(
                rig_card_port(&vpcd_reader_name(index)),
                Some(vpcd_card_port(index))
            );
        }
    }

    #[test]
    fn names_the_rig_does_not_give_have_no_port() {
        for name in [
            "Virtual PCD 00 00",
            "cardhub vpcd 35963",
            "cardhub vpcd 35963 00 02",
            "cardhub vpcd 35964 00 00", // not an entry's port
            "cardhub vpcd 035963 00 00",
            "cardhub vpcd 35963 01 00",
            "cardhub vpcd 35963 00 00 extra",
            "cardhub vpcd 65535 00 01",
            "cardhub vpcd 100 00 00",
            "OMNIKEY 5422 00 00",
        ] {
            assert_eq!(rig_card_port(name), None, "{name}");
        }
    }

    #[test]
    fn the_demo_line_is_two_simulated_printers_on_the_first_rig_readers() {
        let config = Config::from_sources(None, &[]).expect("the default loads");
        assert_eq!(
            config.simulators,
            SimulatorsConfig {
                printers: true,
                timing: SimTiming::Realistic,
                dir: PathBuf::from("data/sim"),
                applications: 24,
                status_devices: 0,
                status_changes_per_sec: 0,
                branch: "0101".to_owned(),
            }
        );
        let (plans, skipped) = plan_printers(&config.workshop);
        assert!(skipped.is_empty(), "{skipped:?}");
        let got: Vec<(SocketAddr, Option<u16>)> =
            plans.iter().map(|p| (p.listen, p.vpcd_port)).collect();
        assert_eq!(
            got,
            [
                ("127.0.0.1:9101".parse().unwrap(), Some(35963)),
                ("127.0.0.1:9102".parse().unwrap(), Some(35964)),
            ]
        );
        assert_eq!(plans[0].encoder, vpcd_reader_name(0));
        assert_eq!(plans[1].encoder, vpcd_reader_name(1));
        // Chips fed by the two printers never share an id.
        assert_eq!(plans[0].chip_prefix, "3109101");
        assert_eq!(plans[1].chip_prefix, "3109102");
    }

    #[test]
    fn only_loopback_tcp_printers_are_simulated() {
        let config = Config::from_sources(
            Some((
                "site.toml",
                "[[workshop.lines]]\nname = \"l\"\n\
                 [[workshop.lines.printers]]\nname = \"here\"\naddress = \"tcp://localhost:9200\"\nencoder = \"OMNIKEY 00 00\"\n\
                 [[workshop.lines.printers]]\nname = \"far\"\naddress = \"tcp://10.1.2.3:9100\"\nencoder = \"a\"\n\
                 [[workshop.lines.printers]]\nname = \"serial\"\naddress = \"serial:///dev/ttyUSB0?baud=115200\"\nencoder = \"b\"\n",
            )),
            &[],
        )
        .unwrap();
        let (plans, skipped) = plan_printers(&config.workshop);
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].name, "here");
        assert_eq!(plans[0].listen, "127.0.0.1:9200".parse().unwrap());
        assert_eq!(plans[0].vpcd_port, None, "not a rig reader: no encoder");
        let names: Vec<&str> = skipped.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["far", "serial"]);
    }

    #[test]
    fn production_refuses_simulators_unless_switched_off() {
        let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let production = Config::from_sources(None, &env(&[("CARDHUB_MODE", "production")]))
            .expect("loads; refused at start");
        let err = runtime
            .block_on(Simulators::start_printers(&production))
            .unwrap_err();
        assert!(matches!(err, SimulateError::Production), "{err}");
        assert!(
            err.to_string()
                .contains("CARDHUB_SIMULATORS__PRINTERS=false"),
            "{err}"
        );
        let off = Config::from_sources(
            None,
            &env(&[
                ("CARDHUB_MODE", "production"),
                ("CARDHUB_SIMULATORS__PRINTERS", "false"),
                ("CARDHUB_SIMULATORS__APPLICATIONS", "0"),
            ]),
        )
        .unwrap();
        let none = runtime.block_on(Simulators::start_printers(&off)).unwrap();
        assert!(none.printers.is_empty() && none.portal.is_none());
    }
}
