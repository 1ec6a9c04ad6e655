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
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use super::procfs;
use figures::PhaseFigures;
pub use figures::{MonitorBenchReport, ProcessFigures};
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
    /// The hub did not print its address in time, or exited.
    #[error("the hub did not start: {reason}; the end of its log:\n{log}")]
    HubStart {
        /// What happened.
        reason: String,
        /// The last lines of its log.
        log: String,
    },
    /// The hub exited during the measurement.
    #[error("the hub exited during the run ({status}); the end of its log:\n{log}")]
    HubExited {
        /// Its exit status.
        status: String,
        /// The last lines of its log.
        log: String,
    },
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
    let mut hub = HubProcess::start(dir.path(), opts)?;
    let token_path = dir.path().join("data/dev-api-token");
    let token = std::fs::read_to_string(&token_path)
        .map_err(|e| MonitorBenchError::HubStart {
            reason: format!("no development token at {}: {e}", token_path.display()),
            log: hub.log_tail(),
        })?
        .trim()
        .to_owned();
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
        samples.push(hub.sample_phase(opts.seconds, || {
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

/// The hub child process; stopped (SIGTERM, then SIGKILL) when dropped.
struct HubProcess {
    child: Child,
    addr: SocketAddr,
    log_path: std::path::PathBuf,
}

impl HubProcess {
    fn start(dir: &Path, opts: &MonitorBenchOptions) -> Result<Self, MonitorBenchError> {
        let exe = std::env::current_exe().map_err(setup("find the cardhub binary"))?;
        let log_path = dir.join("hub.log");
        let log = std::fs::File::create(&log_path).map_err(setup("create the hub's log"))?;
        // Held through phase B and the drain after it (see the module docs).
        let timeout_secs = 2 * opts.seconds + WARM_UP_MAX.as_secs() + 120;
        let mut child = Command::new(exe)
            .current_dir(dir)
            .arg("serve")
            .env("RUST_LOG", "warn")
            .env("CARDHUB_MODE", "development")
            .env("CARDHUB_HTTP__BIND", "127.0.0.1:0")
            .env("CARDHUB_WORKSHOP__LINES", "[]")
            .env("CARDHUB_SIMULATORS__PRINTERS", "false")
            .env("CARDHUB_SIMULATORS__APPLICATIONS", "0")
            .env("CARDHUB_CHIP__ENABLED", "false")
            .env("CARDHUB_MONITOR__TICK_MS", opts.tick_ms.to_string())
            .env("CARDHUB_MONITOR__TIMEOUT_SECS", timeout_secs.to_string())
            .env("CARDHUB_MONITOR__RETAIN", RETAIN.to_string())
            .env(
                "CARDHUB_SIMULATORS__STATUS_DEVICES",
                opts.devices.to_string(),
            )
            .env(
                "CARDHUB_SIMULATORS__STATUS_CHANGES_PER_SEC",
                opts.rate.to_string(),
            )
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(setup("start the hub"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        // Reads the address, then keeps draining so the hub never blocks
        // on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_address(&line) {
                    let _ = tx.send(addr);
                }
            }
        });
        let mut hub = HubProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_path,
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => {
                hub.addr = addr;
                Ok(hub)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Its stdout closed: it is exiting.
                let status = hub.child.wait().map_or("?".into(), |s| s.to_string());
                Err(MonitorBenchError::HubStart {
                    reason: format!("it exited ({status}) before it listened"),
                    log: hub.log_tail(),
                })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(MonitorBenchError::HubStart {
                reason: format!("no `cardhub listening on` line within {START_TIMEOUT:?}"),
                log: hub.log_tail(),
            }),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the hub's log, without colours.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(without_colours).collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Runs `at_start` once the phase's clock has started, then samples the
    /// hub and this process every second for `seconds`.
    fn sample_phase(
        &mut self,
        seconds: u64,
        at_start: impl FnOnce() -> Result<(), MonitorBenchError>,
    ) -> Result<ProcessFigures, MonitorBenchError> {
        let (hub, me) = (self.pid(), std::process::id());
        let cpu_time = |pid| procfs::cpu_time(pid).map_err(setup("the CPU time"));
        let rss_kb = |pid| procfs::rss_kb(pid).map_err(setup("the hub's memory"));
        let t0 = Instant::now();
        let (hub_cpu0, self_cpu0) = (cpu_time(hub)?, cpu_time(me)?);
        let mut rss = vec![(0.0, rss_kb(hub)?)];
        at_start()?;
        for s in 1..=seconds {
            std::thread::sleep(
                (t0 + Duration::from_secs(s)).saturating_duration_since(Instant::now()),
            );
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(MonitorBenchError::HubExited {
                    status: status.to_string(),
                    log: self.log_tail(),
                });
            }
            rss.push((t0.elapsed().as_secs_f64(), rss_kb(hub)?));
        }
        let elapsed = t0.elapsed();
        let share = |cpu: Duration| cpu.as_secs_f64() / elapsed.as_secs_f64() * 100.0;
        Ok(ProcessFigures {
            elapsed,
            hub_cpu_pct: share(cpu_time(hub)?.saturating_sub(hub_cpu0)),
            bench_cpu_pct: share(cpu_time(me)?.saturating_sub(self_cpu0)),
            rss_kb: rss,
        })
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// A log line without its ANSI colour sequences (`ESC [ ... m`).
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

/// The address in the hub's `cardhub listening on http://ADDR/` line.
fn listening_address(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("cardhub listening on http://")?
        .trim_end_matches('/')
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_lose_their_colours() {
        assert_eq!(
            without_colours("\u{1b}[2m2026\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m x"),
            "2026  WARN x"
        );
    }

    #[test]
    fn the_listening_line_parses() {
        assert_eq!(
            listening_address("cardhub listening on http://127.0.0.1:40123/"),
            Some(SocketAddr::from(([127, 0, 0, 1], 40123)))
        );
        assert_eq!(
            listening_address("  health:   http://127.0.0.1:1/healthz"),
            None
        );
    }
}
