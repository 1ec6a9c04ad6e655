//! `cardhub bench monitor`: how long a status change takes to reach the
//! monitoring wall's screens (`/ws/monitor`, `docs/monitor-protocol.md`)
//! under a synthetic load, and whether screens that stop reading disturb
//! the others.
//!
//! One hub (`cardhub serve`, this executable, in a temporary directory)
//! runs the synthetic status load (`[simulators] status_devices` and
//! `status_changes_per_sec`) and nothing else. This process connects the
//! reading screens, one thread and one socket each, and measures two
//! phases of `--seconds` on that same hub, the same screens connected
//! throughout:
//!
//! - A: the reading screens only;
//! - B: the same, plus `--stalled` screens that connect with a small
//!   receive buffer, say hello and never read again.
//!
//! Latency is the receive time (Unix milliseconds, read when the frame has
//! been read off the socket) minus the `at_ms` of every change in a
//! `deltas` frame: it includes the wait for the coalescing tick. The hub's
//! CPU comes from `/proc/<pid>/stat` (user + system, all threads), its
//! memory from `VmRSS` in `/proc/<pid>/status`, sampled every second. This
//! process shares the machine's cores with the hub, so its own CPU is
//! reported beside the hub's.
//!
//! Memory is judged flat on the slope of the second half of a phase
//! (least squares, MB a minute); the whole phase's slope is printed too, as
//! is the RSS every few seconds (see `FLAT_MB_PER_MIN` in
//! `figures.rs`).
//!
//! The hub's `[monitor] timeout_secs` is raised above the run's length so
//! it holds the stalled screens for the whole of phase B: the harder case
//! for its memory. The bus still cuts them off from the deltas once their
//! queue is full. After phase B they read what reached them, to show how
//! the hub treated them.
//!
//! Neighbours: the bus that coalesces and queues is `actors/src/status/`,
//! the screens' socket `web/src/monitor/socket.rs`, the synthetic load
//! `actors/src/status/load.rs`. The wall page's own rendering cost is not
//! measured here.
//!
//! Layout:
//!
//! - `mod.rs` (this file): the options and errors, the driver ([`run`]:
//!   warm-up, phases) and the hub child process it starts and samples;
//! - `screens.rs`: the WebSocket screens, the reading ones and the stalled
//!   ones;
//! - `scan.rs`: the one-pass reader of the hub's frames that takes each
//!   change's `at_ms` out of a `deltas` frame;
//! - `figures.rs`: the latency histogram, the memory slope, each phase's
//!   figures and the printed report;
//! - `../procfs.rs` (shared with the workshop bench): the hub's CPU and RSS
//!   from `/proc`.

mod figures;
mod scan;
mod screens;

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

pub use super::hub::ProcessFigures;
use super::hub::{HubError, HubProcess};
pub use figures::MonitorBenchReport;
use figures::PhaseFigures;
pub use screens::StalledOutcome;
use screens::{ScreenReport, connect, drain, reading_screen};

/// Changes the hub's bus retains for resuming screens (`[monitor]
/// retain`, set to this). Until that many changes have gone by, the hub's
/// memory grows by design, so the warm-up lasts at least that long.
const RETAIN: u64 = 20_000;

/// The warm-up between the screens' first snapshots and phase A: at least
/// this, and until the bus has published [`RETAIN`] changes since ...
const WARM_UP_MIN: Duration = Duration::from_secs(5);

/// ... or this long at most (a light load takes minutes to fill it).
const WARM_UP_MAX: Duration = Duration::from_secs(60);

/// How long the hub gets to print its address, and every screen to get its
/// first snapshot.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A stalled screen's receive buffer (bytes): small, so it fills at once.
const STALLED_RCVBUF: usize = 4096;

/// The phases' values of the shared phase counter; 0 is the warm-up.
const PHASE_NAMES: [&str; 2] = ["A", "B"];
const STOP: usize = 3;

/// Options of `cardhub bench monitor`.
#[derive(Clone, Debug)]
pub struct MonitorBenchOptions {
    /// Simulated devices publishing their status.
    pub devices: u32,
    /// Status changes a second, all devices together.
    pub rate: u32,
    /// Screens that read their socket.
    pub screens: usize,
    /// Length of each phase.
    pub seconds: u64,
    /// Screens that stop reading, added in phase B.
    pub stalled: usize,
    /// The hub's coalescing tick (`[monitor] tick_ms`).
    pub tick_ms: u64,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorBenchError {
    /// An option is out of range.
    #[error("{0}")]
    Options(String),
    /// A step of the set-up failed (temporary directory, /proc).
    #[error("{0}")]
    Setup(String),
    /// The hub child failed.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// Not every reading screen had its first snapshot in time.
    #[error(
        "not every screen had its first snapshot within {START_TIMEOUT:?}: the hub is overloaded or the machine too busy; try fewer --screens"
    )]
    SubscribeTimeout,
    /// A screen could not subscribe.
    #[error(
        "screen {screen} could not subscribe to /ws/monitor: {reason} (a machine short of threads or sockets can run fewer: --screens)"
    )]
    Screen {
        /// Which screen (0-based).
        screen: usize,
        /// What failed.
        reason: String,
    },
}

fn setup<E: fmt::Display>(what: &'static str) -> impl Fn(E) -> MonitorBenchError {
    move |e| MonitorBenchError::Setup(format!("{what}: {e}"))
}

/// Runs the benchmark.
pub fn run(opts: &MonitorBenchOptions) -> Result<MonitorBenchReport, MonitorBenchError> {
    if opts.screens == 0 || opts.seconds == 0 || opts.tick_ms == 0 || opts.devices == 0 {
        return Err(MonitorBenchError::Options(
            "--screens, --seconds, --tick-ms and --devices must be at least 1".into(),
        ));
    }
    let dir = tempfile::tempdir().map_err(setup("a temporary directory"))?;
    let mut hub = HubProcess::start(dir.path(), &hub_env(opts))?;
    let token = hub.read_secret(dir.path(), "data/dev-api-token")?;
    eprintln!(
        "  hub at {} (pid {}); connecting {} screens",
        hub.addr,
        hub.pid(),
        opts.screens
    );

    let phase = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicU64::new(0));
    let (subscribed_tx, subscribed_rx) = mpsc::channel();
    let mut threads = Vec::with_capacity(opts.screens);
    for n in 0..opts.screens {
        let (addr, token, phase, seen, tx) = (
            hub.addr,
            token.clone(),
            phase.clone(),
            seen.clone(),
            subscribed_tx.clone(),
        );
        let thread = std::thread::Builder::new()
            .name(format!("screen-{n}"))
            .stack_size(256 * 1024)
            .spawn(move || reading_screen(n, addr, &token, &phase, &seen, &tx))
            .map_err(setup("start a screen thread"))?;
        threads.push(thread);
    }
    drop(subscribed_tx);
    let deadline = Instant::now() + START_TIMEOUT;
    for _ in 0..opts.screens {
        let left = deadline.saturating_duration_since(Instant::now());
        match subscribed_rx.recv_timeout(left) {
            Ok(Ok(())) => {}
            Ok(Err((screen, reason))) => {
                phase.store(STOP, Ordering::Release);
                return Err(MonitorBenchError::Screen { screen, reason });
            }
            Err(_) => {
                phase.store(STOP, Ordering::Release);
                return Err(MonitorBenchError::SubscribeTimeout);
            }
        }
    }
    let warm_up = warm_up(&seen, opts.screens as u64);

    let addr = hub.addr;
    let mut samples = Vec::new();
    let mut stalled = Vec::new();
    for (i, name) in PHASE_NAMES.iter().enumerate() {
        eprintln!("  phase {name}: {} s", opts.seconds);
        phase.store(i + 1, Ordering::Release);
        let with_stalled = i == 1;
        samples.push(hub.sample_phase::<MonitorBenchError>(opts.seconds, || {
            for n in 0..if with_stalled { opts.stalled } else { 0 } {
                let ws = connect(addr, &token, Some(STALLED_RCVBUF)).map_err(|reason| {
                    MonitorBenchError::Screen {
                        screen: opts.screens + n,
                        reason: format!("(a stalled one) {reason}"),
                    }
                })?;
                stalled.push(ws);
            }
            Ok(())
        })?);
    }
    phase.store(STOP, Ordering::Release);
    let screens: Vec<ScreenReport> = threads
        .into_iter()
        .map(|t| t.join().expect("a screen thread does not panic"))
        .collect();
    let stalled_outcomes = stalled.into_iter().map(drain).collect();
    let log = hub.log_tail();
    drop(hub);
    let phases = samples
        .into_iter()
        .enumerate()
        .map(|(i, process)| PhaseFigures::new(i, &screens, process))
        .collect();
    Ok(MonitorBenchReport {
        options: opts.clone(),
        warm_up,
        phases,
        stalled: stalled_outcomes,
        hub_log: log,
    })
}

/// The hub's settings for the run: the synthetic status load and nothing
/// else.
fn hub_env(opts: &MonitorBenchOptions) -> Vec<(&'static str, String)> {
    // Held through phase B and the drain after it (see the module docs).
    let timeout_secs = 2 * opts.seconds + WARM_UP_MAX.as_secs() + 120;
    vec![
        ("CARDHUB_WORKSHOP__LINES", "[]".into()),
        ("CARDHUB_SIMULATORS__PRINTERS", "false".into()),
        ("CARDHUB_SIMULATORS__APPLICATIONS", "0".into()),
        ("CARDHUB_SIMULATORS__BRANCH", String::new()),
        ("CARDHUB_CHIP__ENABLED", "false".into()),
        ("CARDHUB_MONITOR__TICK_MS", opts.tick_ms.to_string()),
        ("CARDHUB_MONITOR__TIMEOUT_SECS", timeout_secs.to_string()),
        ("CARDHUB_MONITOR__RETAIN", RETAIN.to_string()),
        (
            "CARDHUB_SIMULATORS__STATUS_DEVICES",
            opts.devices.to_string(),
        ),
        (
            "CARDHUB_SIMULATORS__STATUS_CHANGES_PER_SEC",
            opts.rate.to_string(),
        ),
    ]
}

/// Waits until the screens have together received [`RETAIN`] changes each
/// (so the bus has published as many since they subscribed), within
/// [`WARM_UP_MIN`] and [`WARM_UP_MAX`]; returns how long it took.
fn warm_up(seen: &AtomicU64, screens: u64) -> Duration {
    let t0 = Instant::now();
    std::thread::sleep(WARM_UP_MIN);
    while seen.load(Ordering::Relaxed) < RETAIN * screens && t0.elapsed() < WARM_UP_MAX {
        std::thread::sleep(Duration::from_millis(100));
    }
    t0.elapsed()
}
