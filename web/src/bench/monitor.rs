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
//! is the RSS every few seconds (see [`FLAT_MB_PER_MIN`]).
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

use std::fmt;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

/// Linux reports process CPU times in units of USER_HZ, fixed at 100.
const USER_HZ: f64 = 100.0;

/// Latencies are counted in 1 ms buckets up to this; longer ones share
/// the last bucket (the exact maximum is kept beside it).
const HISTOGRAM_LIMIT_MS: u64 = 10_000;

/// The issue's goal for the 99th percentile, tick included.
const GOAL_P99_MS: u64 = 250;

/// Memory is "flat" below this slope over the second half of a phase. The
/// bus retains a fixed number of changes and bounds every screen's queue,
/// so once warm the hub holds nothing that grows with time; any per-change
/// leak at thousands of changes a second (a few bytes each) would exceed
/// 1 MB a minute, while the allocator's noise over a minute of one-second
/// samples stays well under it. The second half, because a stalled
/// screen's bounded queue fills in its first seconds (a step, by design:
/// `[monitor] queue_frames` ticks at most); a leak goes on after that. The
/// whole phase's slope is printed too.
const FLAT_MB_PER_MIN: f64 = 1.0;

/// Changes the hub's bus retains for resuming screens (`[monitor]
/// retain`, set to this). Until that many changes have gone by, the hub's
/// memory grows by design, so the warm-up lasts at least that long.
const RETAIN: u64 = 20_000;

/// The warm-up between the screens' first snapshots and phase A: at least
/// this, and until the bus has published [`RETAIN`] changes since ...
const WARM_UP_MIN: Duration = Duration::from_secs(5);

/// ... or this long at most (a light load takes minutes to fill it).
const WARM_UP_MAX: Duration = Duration::from_secs(60);

/// How soon a screen thread notices that a phase is over.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

/// How long the hub gets to print its address, and every screen to get its
/// first snapshot.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A stalled screen's receive buffer (bytes): small, so it fills at once.
const STALLED_RCVBUF: usize = 4096;

/// How long a stalled screen reads, after phase B, what reached it.
const DRAIN: Duration = Duration::from_secs(3);

/// The report lists the hub's RSS every this many samples (seconds).
const RSS_PRINT_EVERY: usize = 5;

/// The phases' values of the shared phase counter; 0 is the warm-up.
const PHASE_NAMES: [&str; 2] = ["A", "B"];
const STOP: usize = 3;

const PONG: &str = r#"{"v":1,"type":"pong"}"#;

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
        let hub = self.pid().to_string();
        let t0 = Instant::now();
        let (hub_cpu0, self_cpu0) = (cpu_ticks(&hub)?, cpu_ticks("self")?);
        let mut rss = vec![(0.0, rss_kb(&hub)?)];
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
            rss.push((t0.elapsed().as_secs_f64(), rss_kb(&hub)?));
        }
        let elapsed = t0.elapsed();
        let share = |ticks: u64| ticks as f64 / USER_HZ / elapsed.as_secs_f64() * 100.0;
        Ok(ProcessFigures {
            elapsed,
            hub_cpu_pct: share(cpu_ticks(&hub)?.saturating_sub(hub_cpu0)),
            bench_cpu_pct: share(cpu_ticks("self")?.saturating_sub(self_cpu0)),
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

/// A connected, greeted screen; `rcvbuf` shrinks its receive buffer
/// before it connects.
fn connect(
    addr: SocketAddr,
    token: &str,
    rcvbuf: Option<usize>,
) -> Result<WebSocket<TcpStream>, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| format!("a socket: {e}"))?;
    if let Some(size) = rcvbuf {
        socket
            .set_recv_buffer_size(size)
            .map_err(|e| format!("SO_RCVBUF: {e}"))?;
    }
    socket
        .connect(&addr.into())
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let stream: TcpStream = socket.into();
    let _ = stream.set_nodelay(true);
    // The upgrade's answer is waited for this long, then reads time out
    // every READ_TIMEOUT.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/ws/monitor"), stream)
        .map_err(|e| format!("the WebSocket upgrade: {e}"))?;
    let _ = ws.get_ref().set_read_timeout(Some(READ_TIMEOUT));
    let hello = serde_json::json!({"v": 1, "type": "hello", "token": token}).to_string();
    ws.send(Message::text(hello))
        .map_err(|e| format!("send hello: {e}"))?;
    Ok(ws)
}

/// What one reading screen saw in one phase.
#[derive(Clone, Debug, Default)]
struct ScreenPhase {
    latency: Histogram,
    frames: u64,
    resyncs: u32,
    /// Why the connection ended during this phase.
    ended: Option<String>,
}

/// What one reading screen saw, phase by phase.
#[derive(Debug, Default)]
struct ScreenReport {
    phases: [ScreenPhase; 2],
}

/// A screen that reads every frame until the phase counter says stop;
/// says on `subscribed` when its first snapshot came (or why it failed).
fn reading_screen(
    screen: usize,
    addr: SocketAddr,
    token: &str,
    phase: &AtomicUsize,
    seen: &AtomicU64,
    subscribed: &mpsc::Sender<Result<(), (usize, String)>>,
) -> ScreenReport {
    let mut report = ScreenReport::default();
    let mut ws = match connect(addr, token, None) {
        Ok(ws) => ws,
        Err(e) => {
            let _ = subscribed.send(Err((screen, e)));
            return report;
        }
    };
    let mut first = true;
    let mut at_ms = Vec::with_capacity(1024);
    loop {
        let read = ws.read();
        let p = phase.load(Ordering::Acquire);
        if p >= STOP {
            break;
        }
        let slot = p.checked_sub(1).map(|i| &mut report.phases[i]);
        let end = match read {
            Ok(Message::Text(text)) => {
                let now = chrono::Utc::now().timestamp_millis();
                at_ms.clear();
                let frame = scan_frame(text.as_str(), &mut at_ms);
                match frame.kind {
                    Some("deltas") => {
                        seen.fetch_add(at_ms.len() as u64, Ordering::Relaxed);
                        if let Some(s) = slot {
                            s.frames += 1;
                            for &at in &at_ms {
                                s.latency.record(now.saturating_sub(at).max(0) as u64);
                            }
                        }
                        None
                    }
                    Some("snapshot") => {
                        if first {
                            first = false;
                            let _ = subscribed.send(Ok(()));
                        }
                        if let (Some(s), Some("resync")) = (slot, frame.reason) {
                            s.resyncs += 1;
                        }
                        None
                    }
                    Some("heartbeat") => ws.send(Message::text(PONG)).err().map(|e| e.to_string()),
                    Some("error") if frame.fatal || first => Some(format!(
                        "the hub sent error `{}`",
                        frame.code.unwrap_or("?")
                    )),
                    _ => None,
                }
            }
            Ok(Message::Close(close)) => Some(format!("the hub closed the socket: {close:?}")),
            Ok(_) => None,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = end {
            if first {
                let _ = subscribed.send(Err((screen, why)));
            } else if let Some(i) = p.checked_sub(1) {
                report.phases[i].ended = Some(why);
            }
            return report;
        }
    }
    let _ = ws.close(None);
    let _ = ws.flush();
    report
}

/// What a stalled screen found when it read again after phase B.
#[derive(Clone, Debug, Default)]
pub struct StalledOutcome {
    /// Frames read in [`DRAIN`].
    pub frames: u64,
    /// Snapshot reasons, in order.
    pub snapshots: Vec<String>,
    /// A fatal error code, or how the socket ended.
    pub ended: Option<String>,
}

fn drain(mut ws: WebSocket<TcpStream>) -> StalledOutcome {
    let mut out = StalledOutcome::default();
    let deadline = Instant::now() + DRAIN;
    let mut at_ms = Vec::new();
    while Instant::now() < deadline {
        match ws.read() {
            Ok(Message::Text(text)) => {
                out.frames += 1;
                let frame = scan_frame(text.as_str(), &mut at_ms);
                match frame.kind {
                    Some("snapshot") => out.snapshots.push(frame.reason.unwrap_or("?").to_owned()),
                    Some("error") if frame.fatal => {
                        out.ended = Some(format!("error `{}`", frame.code.unwrap_or("?")));
                    }
                    _ => {}
                }
            }
            Ok(Message::Close(_)) => {
                out.ended.get_or_insert_with(|| "closed".into());
                break;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                out.ended.get_or_insert_with(|| e.to_string());
                break;
            }
        }
    }
    out
}

/// The top-level fields of a frame the benchmark looks at.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scanned<'a> {
    /// `type`.
    kind: Option<&'a str>,
    /// `reason` (snapshots).
    reason: Option<&'a str>,
    /// `code` (errors).
    code: Option<&'a str>,
    /// `fatal: true` (errors).
    fatal: bool,
}

/// Reads a compact JSON frame from the hub in one pass without building
/// it: the top-level `type`, `reason`, `code` and `fatal`, and pushes onto
/// `at_ms` the `at_ms` of every object directly in the top-level `changes`
/// array (the entities of a `deltas` frame). Keys elsewhere (an entity's
/// `since_ms`, a nested `detail`, a heartbeat's own `at_ms`) and text
/// inside strings are not taken for them. Strings are returned raw
/// (unescaped): the fields read are plain names.
fn scan_frame<'a>(text: &'a str, at_ms: &mut Vec<i64>) -> Scanned<'a> {
    let b = text.as_bytes();
    let mut out = Scanned::default();
    // Bit d is set when the container at depth d is an object.
    let (mut objects, mut depth) = (0u64, 0u32);
    let is_object = |objects: u64, d: u32| d > 0 && d < 64 && objects & (1 << d) != 0;
    let mut expect_key = false;
    let mut in_changes = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                let end = string_end(b, i + 1);
                let s = &text[i + 1..end];
                i = end + 1;
                if !expect_key {
                    continue;
                }
                expect_key = false;
                while i < b.len() && (b[i] == b':' || b[i].is_ascii_whitespace()) {
                    i += 1;
                }
                if depth == 1 {
                    in_changes = s == "changes";
                    let value =
                        || (b.get(i) == Some(&b'"')).then(|| &text[i + 1..string_end(b, i + 1)]);
                    match s {
                        "type" => out.kind = value(),
                        "reason" => out.reason = value(),
                        "code" => out.code = value(),
                        "fatal" => out.fatal = b[i..].starts_with(b"true"),
                        _ => {}
                    }
                } else if depth == 3
                    && in_changes
                    && s == "at_ms"
                    && !is_object(objects, 2)
                    && let Some(n) = leading_integer(&b[i..])
                {
                    at_ms.push(n);
                }
            }
            open @ (b'{' | b'[') => {
                depth += 1;
                if depth < 64 {
                    objects = (objects & !(1 << depth)) | (u64::from(open == b'{') << depth);
                }
                expect_key = open == b'{';
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                expect_key = false;
                i += 1;
            }
            b',' => {
                expect_key = is_object(objects, depth);
                i += 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// The index of the quote that closes the string starting at `from`
/// (or the end of a truncated text).
fn string_end(b: &[u8], from: usize) -> usize {
    let mut j = from;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j,
            _ => j += 1,
        }
    }
    b.len()
}

/// The integer at the start of `b` (`-12`, `1796131201456`).
fn leading_integer(b: &[u8]) -> Option<i64> {
    let (negative, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    let len = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    let n: i64 = std::str::from_utf8(&digits[..len]).ok()?.parse().ok()?;
    Some(if negative { -n } else { n })
}

/// Latencies in 1 ms buckets.
#[derive(Clone, Debug)]
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max_ms: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: vec![0; HISTOGRAM_LIMIT_MS as usize + 1],
            count: 0,
            max_ms: 0,
        }
    }
}

impl Histogram {
    fn record(&mut self, ms: u64) {
        self.buckets[ms.min(HISTOGRAM_LIMIT_MS) as usize] += 1;
        self.count += 1;
        self.max_ms = self.max_ms.max(ms);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.max_ms = self.max_ms.max(other.max_ms);
    }

    /// The smallest latency (ms) that a share `q` of the recorded ones do
    /// not exceed; `None` when empty. In the last bucket: the maximum.
    fn percentile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (ms, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(if ms as u64 == HISTOGRAM_LIMIT_MS {
                    self.max_ms
                } else {
                    ms as u64
                });
            }
        }
        Some(self.max_ms)
    }
}

/// Least-squares slope of y over x; `None` without two distinct x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (points.len() >= 2 && sxx > 0.0).then(|| sxy / sxx)
}

/// User + system CPU ticks of a process (`self` or a pid), all threads.
fn cpu_ticks(pid: &str) -> Result<u64, MonitorBenchError> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(setup("read /proc stat"))?;
    stat_ticks(&stat)
        .ok_or_else(|| MonitorBenchError::Setup(format!("unexpected /proc/{pid}/stat")))
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line.
fn stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces: count from after it.
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace().skip(11);
    Some(fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?)
}

/// Resident memory of a process, kB.
fn rss_kb(pid: &str) -> Result<u64, MonitorBenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(setup("read /proc status"))?;
    vm_rss_kb(&status)
        .ok_or_else(|| MonitorBenchError::Setup(format!("no VmRSS in /proc/{pid}/status")))
}

fn vm_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The processes' figures over one phase.
#[derive(Clone, Debug)]
pub struct ProcessFigures {
    /// The phase's length as measured.
    pub elapsed: Duration,
    /// The hub's CPU, % of one core.
    pub hub_cpu_pct: f64,
    /// This process's CPU (the screens), % of one core.
    pub bench_cpu_pct: f64,
    /// The hub's resident memory: (seconds into the phase, kB).
    pub rss_kb: Vec<(f64, u64)>,
}

impl ProcessFigures {
    fn rss_mb(&self) -> impl Iterator<Item = f64> + '_ {
        self.rss_kb.iter().map(|&(_, kb)| kb as f64 / 1024.0)
    }

    /// MB per minute, least squares over the samples from `from` (a share
    /// of the phase: 0.0 all of it, 0.5 its second half).
    fn rss_slope(&self, from: f64) -> f64 {
        let start = self.elapsed.as_secs_f64() * from;
        let points: Vec<(f64, f64)> = self
            .rss_kb
            .iter()
            .filter(|&&(t, _)| t >= start)
            .map(|&(t, kb)| (t, kb as f64 / 1024.0))
            .collect();
        slope(&points).unwrap_or(0.0) * 60.0
    }
}

/// One phase's figures.
#[derive(Clone, Debug)]
pub struct PhaseFigures {
    /// A or B.
    name: &'static str,
    latency: Histogram,
    /// Each reading screen's p99 (screens that received changes).
    screen_p99: Vec<u64>,
    frames: u64,
    resyncs: u32,
    /// Reading screens whose connection ended, and why (the first).
    ended: (usize, Option<String>),
    process: ProcessFigures,
}

impl PhaseFigures {
    fn new(i: usize, screens: &[ScreenReport], process: ProcessFigures) -> Self {
        let mut latency = Histogram::default();
        let mut screen_p99 = Vec::new();
        let (mut frames, mut resyncs, mut ended) = (0, 0, (0, None));
        for s in screens.iter().map(|s| &s.phases[i]) {
            latency.merge(&s.latency);
            screen_p99.extend(s.latency.percentile(0.99));
            frames += s.frames;
            resyncs += s.resyncs;
            if let Some(why) = &s.ended {
                ended.0 += 1;
                ended.1.get_or_insert_with(|| why.clone());
            }
        }
        screen_p99.sort_unstable();
        Self {
            name: PHASE_NAMES[i],
            latency,
            screen_p99,
            frames,
            resyncs,
            ended,
            process,
        }
    }

    fn p99(&self) -> Option<u64> {
        self.latency.percentile(0.99)
    }
}

/// What the benchmark prints.
#[derive(Clone, Debug)]
pub struct MonitorBenchReport {
    options: MonitorBenchOptions,
    /// From the screens' first snapshots to phase A.
    warm_up: Duration,
    phases: Vec<PhaseFigures>,
    stalled: Vec<StalledOutcome>,
    hub_log: String,
}

fn ms(v: Option<u64>) -> String {
    v.map_or("-".to_owned(), |v| v.to_string())
}

impl fmt::Display for MonitorBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(
            f,
            "monitor: {} simulated devices, {} changes/s, tick {} ms, {} reading screens; phase B adds {} stalled; {} s a phase, one hub, after {:.0} s of warm-up",
            o.devices,
            o.rate,
            o.tick_ms,
            o.screens,
            o.stalled,
            o.seconds,
            self.warm_up.as_secs_f64()
        )?;
        write!(f, "| figure |")?;
        for p in &self.phases {
            write!(f, " phase {} |", p.name)?;
        }
        writeln!(f, "\n| --- |{}", " --- |".repeat(self.phases.len()))?;
        let row =
            |f: &mut fmt::Formatter<'_>, name: &str, cell: &dyn Fn(&PhaseFigures) -> String| {
                write!(f, "| {name} |")?;
                for p in &self.phases {
                    write!(f, " {} |", cell(p))?;
                }
                writeln!(f)
            };
        row(
            f,
            "change-to-screen latency p50 / p90 / p99 / max (ms)",
            &|p| {
                let l = &p.latency;
                format!(
                    "{} / {} / {} / {}",
                    ms(l.percentile(0.5)),
                    ms(l.percentile(0.9)),
                    ms(p.p99()),
                    l.max_ms
                )
            },
        )?;
        let secs = |p: &PhaseFigures| p.process.elapsed.as_secs_f64();
        row(f, "changes received / s, all reading screens", &|p| {
            format!("{:.0}", p.latency.count as f64 / secs(p))
        })?;
        row(f, "changes received / s, per reading screen", &|p| {
            format!("{:.0}", p.latency.count as f64 / secs(p) / o.screens as f64)
        })?;
        row(f, "deltas frames / s, per reading screen", &|p| {
            format!("{:.1}", p.frames as f64 / secs(p) / o.screens as f64)
        })?;
        row(
            f,
            "per-screen p99 min / median / max (ms)",
            &|p| match p.screen_p99.as_slice() {
                [] => "-".into(),
                s => format!("{} / {} / {}", s[0], s[s.len() / 2], s[s.len() - 1]),
            },
        )?;
        row(f, "reading screens with no changes", &|p| {
            (o.screens - p.screen_p99.len()).to_string()
        })?;
        row(f, "resync snapshots, reading screens", &|p| {
            p.resyncs.to_string()
        })?;
        row(f, "reading screens disconnected", &|p| match &p.ended {
            (0, _) => "0".into(),
            (n, why) => format!("{n} ({})", why.as_deref().unwrap_or("?")),
        })?;
        row(f, "hub CPU (% of one core)", &|p| {
            format!("{:.0}%", p.process.hub_cpu_pct)
        })?;
        row(f, "hub RSS start / end / max (MB)", &|p| {
            let mb: Vec<f64> = p.process.rss_mb().collect();
            let max = mb.iter().copied().fold(0.0, f64::max);
            format!("{:.1} / {:.1} / {:.1}", mb[0], mb[mb.len() - 1], max)
        })?;
        row(
            f,
            "hub RSS slope, whole phase / second half (MB / min)",
            &|p| {
                format!(
                    "{:+.2} / {:+.2}",
                    p.process.rss_slope(0.0),
                    p.process.rss_slope(0.5)
                )
            },
        )?;
        row(f, "this benchmark's CPU (% of one core)", &|p| {
            format!("{:.0}%", p.process.bench_cpu_pct)
        })?;
        if let [a, b] = self.phases.as_slice()
            && let (Some(pa), Some(pb)) = (a.p99(), b.p99())
        {
            writeln!(
                f,
                "phase B p99 / phase A p99: {:.2}",
                pb as f64 / pa.max(1) as f64
            )?;
        }
        for p in &self.phases {
            let every: Vec<String> = p
                .process
                .rss_mb()
                .step_by(RSS_PRINT_EVERY)
                .map(|mb| format!("{mb:.1}"))
                .collect();
            writeln!(
                f,
                "hub RSS in phase {}, every {RSS_PRINT_EVERY} s (MB): {}",
                p.name,
                every.join(" ")
            )?;
        }
        // Stalled screens that fared alike share a line.
        let mut alike: std::collections::BTreeMap<(String, &str), (usize, u64, u64)> =
            std::collections::BTreeMap::new();
        for s in &self.stalled {
            let key = (
                s.snapshots.join(", "),
                s.ended.as_deref().unwrap_or("still open"),
            );
            let e = alike.entry(key).or_insert((0, u64::MAX, 0));
            *e = (e.0 + 1, e.1.min(s.frames), e.2.max(s.frames));
        }
        for ((snapshots, ended), (n, least, most)) in alike {
            writeln!(
                f,
                "{n} stalled screen(s), reading again after phase B for {} s: {least} to {most} frames each, snapshots [{snapshots}], {ended}",
                DRAIN.as_secs(),
            )?;
        }
        for p in &self.phases {
            let met = |ok: bool| if ok { "met" } else { "NOT met" };
            writeln!(
                f,
                "goal, phase {}: p99 < {GOAL_P99_MS} ms: {} ({} ms); memory flat (|slope over the second half| < {FLAT_MB_PER_MIN} MB/min): {} ({:+.2} MB/min)",
                p.name,
                met(p.p99().is_some_and(|v| v < GOAL_P99_MS)),
                ms(p.p99()),
                met(p.process.rss_slope(0.5).abs() < FLAT_MB_PER_MIN),
                p.process.rss_slope(0.5)
            )?;
        }
        if !self.hub_log.is_empty() {
            writeln!(
                f,
                "the hub's log (warnings and errors) ends with:\n{}",
                self.hub_log
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELTAS: &str = r#"{"v":1,"type":"deltas","epoch":"ab","seq":9,"resumed":false,"changes":[{"kind":"printer","id":"load/printer-0001","seq":8,"state":"error","reason":"card jam \"at_ms\":5","since_ms":100,"at_ms":200,"scope":{"workshop":"load"},"detail":{"hopper":3}},{"kind":"counter","id":"c\\","seq":9,"state":"ok","since_ms":300,"at_ms":-4,"detail":{"values":{"at_ms":7}}}]}"#;

    #[test]
    fn the_scanner_takes_each_changes_at_ms_and_nothing_else() {
        let mut at = Vec::new();
        let frame = scan_frame(DELTAS, &mut at);
        assert_eq!(frame.kind, Some("deltas"));
        assert_eq!(at, [200, -4]);
        let value: serde_json::Value = serde_json::from_str(DELTAS).unwrap();
        let from_serde: Vec<i64> = value["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["at_ms"].as_i64().unwrap())
            .collect();
        assert_eq!(at, from_serde);
    }

    #[test]
    fn the_scanner_ignores_snapshots_and_heartbeats_at_ms_and_reads_their_fields() {
        let mut at = Vec::new();
        let snapshot = r#"{"v":1,"type":"snapshot","epoch":"ab","seq":9,"reason":"resync","entities":[{"kind":"printer","id":"p","seq":1,"state":"ok","since_ms":1,"at_ms":2,"detail":{}}]}"#;
        let frame = scan_frame(snapshot, &mut at);
        assert_eq!(
            (frame.kind, frame.reason),
            (Some("snapshot"), Some("resync"))
        );
        assert!(at.is_empty());
        let frame = scan_frame(
            r#"{"v":1,"type":"heartbeat","at_ms":1796131201456}"#,
            &mut at,
        );
        assert_eq!(frame.kind, Some("heartbeat"));
        assert!(at.is_empty());
        let error = r#"{"v":1,"type":"error","code":"too-slow","message":"x","fatal":true}"#;
        let frame = scan_frame(error, &mut at);
        assert_eq!((frame.code, frame.fatal), (Some("too-slow"), true));
        let frame = scan_frame(r#"{"v":1,"type":"deltas","changes":[{"at_ms":1"#, &mut at);
        assert_eq!(
            (frame.kind, at.as_slice()),
            (Some("deltas"), [1].as_slice())
        );
    }

    #[test]
    fn percentiles_are_the_smallest_bucket_holding_their_rank() {
        let mut h = Histogram::default();
        assert_eq!(h.percentile(0.5), None);
        for ms in 1..=100 {
            h.record(ms);
        }
        assert_eq!(h.percentile(0.5), Some(50));
        assert_eq!(h.percentile(0.99), Some(99));
        assert_eq!(h.percentile(1.0), Some(100));
        let mut other = Histogram::default();
        other.record(HISTOGRAM_LIMIT_MS + 500);
        h.merge(&other);
        assert_eq!((h.count, h.max_ms), (101, HISTOGRAM_LIMIT_MS + 500));
        assert_eq!(h.percentile(1.0), Some(HISTOGRAM_LIMIT_MS + 500));
        assert_eq!(h.percentile(0.5), Some(51));
    }

    #[test]
    fn the_slope_is_least_squares_and_flat_noise_is_near_zero() {
        let line: Vec<(f64, f64)> = (0..10)
            .map(|t| (f64::from(t), 3.0 + 0.5 * f64::from(t)))
            .collect();
        assert!((slope(&line).unwrap() - 0.5).abs() < 1e-9);
        let noise: Vec<(f64, f64)> = (0..60)
            .map(|t| (f64::from(t), 40.0 + f64::from(t % 2)))
            .collect();
        assert!(slope(&noise).unwrap().abs() * 60.0 < FLAT_MB_PER_MIN);
        assert_eq!(slope(&[(1.0, 2.0)]), None);
    }

    #[test]
    fn a_bounded_step_early_in_a_phase_is_flat_in_its_second_half() {
        // 60 one-second samples: +6 MB over the first 15 s, then flat.
        let process = ProcessFigures {
            elapsed: Duration::from_secs(60),
            hub_cpu_pct: 0.0,
            bench_cpu_pct: 0.0,
            rss_kb: (0..=60u32)
                .map(|t| (f64::from(t), 85_000 + u64::from(t.min(15)) * 400))
                .collect(),
        };
        assert!(process.rss_slope(0.0) > FLAT_MB_PER_MIN);
        assert!(process.rss_slope(0.5).abs() < 1e-9);
    }

    #[test]
    fn log_lines_lose_their_colours() {
        assert_eq!(
            without_colours("\u{1b}[2m2026\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m x"),
            "2026  WARN x"
        );
    }

    #[test]
    fn proc_files_and_the_listening_line_parse() {
        let stat = "4242 (cardhub (x) y) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 75 0 0 20 0 9 0";
        assert_eq!(stat_ticks(stat), Some(325));
        assert_eq!(
            vm_rss_kb("Name:\tcardhub\nVmRSS:\t   51200 kB\n"),
            Some(51_200)
        );
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
