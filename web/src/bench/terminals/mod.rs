//! `cardhub bench terminals`: the hub holding branch terminals' sessions
//! (`/ws/terminal`) while branch counters query personal information over
//! HTTP, as the centre's hundreds of branches do all day.
//!
//! One hub (`cardhub serve`, this executable, in a temporary directory)
//! is started with nothing else to do. This process registers a branch,
//! `--persons` holders and `--sessions` terminals (one SM2 key for all, so
//! registration is quick) straight into the hub's database, then:
//!
//! 1. measures the hub's resident memory with no session;
//! 2. links every terminal (hello, the signed answer to the challenge,
//!    welcome, an empty device list), `--connect-concurrency` at a time,
//!    and lets them idle for `--idle-secs` with their heartbeats: the
//!    memory growth divided by the sessions is the hub's memory per idle
//!    session;
//! 3. sends `--rate` information queries a second for `--seconds`
//!    (`GET /api/v1/branch/persons?document_number=...` as a branch
//!    operator, each audited), open loop: a query's latency is measured
//!    from when it was due, so a hub that falls behind shows it.
//!
//! The report gives p50 / p99 / max latency, the queries answered and
//! failed, memory per idle session, the hub's and this process's CPU, and
//! whether every session was still linked at the end. Both processes
//! share the machine's cores.
//!
//! Layout: this file (options, the driver, the report); `sessions.rs` (the
//! terminals); `queries.rs` (the open-loop query sender and its
//! histogram). The hub child is `../hub.rs`.

mod queries;
mod sessions;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cardhub_protocols::crypto::{Hsm, KeyFile, KeyKind, KeyLabel, SoftHsm};
use cardhub_protocols::roles::Role;
use cardhub_storage::branches::{self, BranchKind, NewBranch};
use cardhub_storage::operators::{self, NewOperator};
use cardhub_storage::terminals::{self, NewTerminal};
use cardhub_storage::{Actor, Store, StoreOptions};

use super::hub::{HubError, HubProcess, ProcessFigures};
use queries::QueryFigures;
use sessions::{Fleet, terminal_id};

/// The benchmark branch's code.
const BRANCH: &str = "BENCH01";
/// The benchmark operator's name and password.
const CLERK: (&str, &str) = ("bench-clerk", "bench-clerk-password-1");
/// The goal for the queries' p99 latency.
const GOAL_P99: Duration = Duration::from_millis(50);
/// The goal for the hub's memory per idle session, KiB.
const GOAL_KIB_PER_SESSION: f64 = 64.0;

/// What to run.
#[derive(Clone, Debug)]
pub struct TerminalBenchOptions {
    /// Terminal sessions held.
    pub sessions: usize,
    /// Information queries a second.
    pub rate: u32,
    /// Seconds of queries.
    pub seconds: u64,
    /// Seconds the sessions idle before memory is read.
    pub idle_secs: u64,
    /// Holders to query (document numbers cycle over them).
    pub persons: usize,
    /// Sessions linking at once.
    pub connect_concurrency: usize,
}

impl Default for TerminalBenchOptions {
    fn default() -> Self {
        Self {
            sessions: 10_000,
            rate: 2_000,
            seconds: 30,
            idle_secs: 20,
            persons: 1_000,
            connect_concurrency: 64,
        }
    }
}

/// Why the benchmark could not measure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TerminalBenchError {
    /// An option is out of range.
    #[error("{0}")]
    Options(String),
    /// A step of the set-up failed.
    #[error("{0}")]
    Setup(String),
    /// The hub child failed.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// Not every terminal linked.
    #[error(
        "only {linked} of {wanted} terminals linked within {waited:?} (last failure: {last}); a machine short of sockets can hold fewer: --sessions"
    )]
    Linking {
        /// Linked.
        linked: usize,
        /// Asked for.
        wanted: usize,
        /// How long was waited.
        waited: Duration,
        /// The last failure seen.
        last: String,
    },
}

fn setup<E: fmt::Display>(what: &'static str) -> impl Fn(E) -> TerminalBenchError {
    move |e| TerminalBenchError::Setup(format!("{what}: {e}"))
}

/// What was measured.
#[derive(Debug)]
pub struct TerminalBenchReport {
    /// The options run.
    pub options: TerminalBenchOptions,
    /// How long linking every terminal took.
    pub link_time: Duration,
    /// Hub RSS with no session, KB.
    pub rss_before_kb: u64,
    /// Hub RSS with every session idle, KB.
    pub rss_idle_kb: u64,
    /// The query phase's figures.
    pub queries: QueryFigures,
    /// The hub and this process over the query phase.
    pub process: ProcessFigures,
    /// Sessions linked at the end.
    pub linked_at_end: usize,
    /// Sessions that failed.
    pub failed: usize,
    /// Heartbeats sent.
    pub heartbeats: u64,
}

impl TerminalBenchReport {
    /// The hub's memory per idle session, KiB.
    pub fn kib_per_session(&self) -> f64 {
        self.rss_idle_kb.saturating_sub(self.rss_before_kb) as f64
            / self.options.sessions.max(1) as f64
    }
}

impl fmt::Display for TerminalBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        let q = &self.queries;
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        writeln!(f, "cardhub bench terminals")?;
        writeln!(
            f,
            "  sessions: {} linked in {:.1} s ({} failed; {} still linked at the end; {} heartbeats sent)",
            o.sessions,
            self.link_time.as_secs_f64(),
            self.failed,
            self.linked_at_end,
            self.heartbeats
        )?;
        writeln!(
            f,
            "  hub memory: {:.1} MB with none, {:.1} MB with {} idle: {:.1} KiB a session (goal <= {GOAL_KIB_PER_SESSION} KiB: {})",
            self.rss_before_kb as f64 / 1024.0,
            self.rss_idle_kb as f64 / 1024.0,
            o.sessions,
            self.kib_per_session(),
            verdict(self.kib_per_session() <= GOAL_KIB_PER_SESSION)
        )?;
        writeln!(
            f,
            "  queries: {} due at {}/s over {} s, {} answered ({:.0}/s), {} failed{}",
            q.due,
            o.rate,
            o.seconds,
            q.answered,
            q.answered as f64 / self.process.elapsed.as_secs_f64(),
            q.failed,
            q.first_failure
                .as_ref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        )?;
        writeln!(
            f,
            "  latency from due time: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal p99 < {} ms: {})",
            ms(q.p50),
            ms(q.p99),
            ms(q.max),
            GOAL_P99.as_millis(),
            verdict(q.p99 < GOAL_P99 && q.failed == 0)
        )?;
        write!(
            f,
            "  CPU over the query phase: hub {:.0}% of a core, this process {:.0}% (2 shared cores)",
            self.process.hub_cpu_pct, self.process.bench_cpu_pct
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the benchmark.
pub fn run(opts: &TerminalBenchOptions) -> Result<TerminalBenchReport, TerminalBenchError> {
    if opts.sessions == 0 || opts.rate == 0 || opts.seconds == 0 || opts.persons == 0 {
        return Err(TerminalBenchError::Options(
            "--sessions, --rate, --seconds and --persons must be at least 1".into(),
        ));
    }
    let dir = tempfile::tempdir().map_err(setup("a temporary directory"))?;
    let mut hub = HubProcess::start(
        dir.path(),
        &[
            ("CARDHUB_WORKSHOP__LINES", "[]".into()),
            ("CARDHUB_SIMULATORS__PRINTERS", "false".into()),
            ("CARDHUB_SIMULATORS__APPLICATIONS", "0".into()),
            ("CARDHUB_SIMULATORS__BRANCH", String::new()),
            ("CARDHUB_CHIP__ENABLED", "false".into()),
        ],
    )?;
    eprintln!("  hub at {} (pid {})", hub.addr, hub.pid());

    let (hsm, label, public_key) = fleet_key()?;
    let numbers = seed(dir.path(), opts, &public_key)?;
    let base = format!("http://{}", hub.addr);
    let token = queries::login(&base, CLERK.0, CLERK.1).map_err(TerminalBenchError::Setup)?;
    // Warm the query path before the baseline is read.
    queries::warm_up(&base, &token, &numbers).map_err(TerminalBenchError::Setup)?;
    std::thread::sleep(Duration::from_secs(2));
    let rss_before_kb = hub.rss_kb()?;

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let fleet = Arc::new(Fleet {
        url: format!("ws://{}/ws/terminal", hub.addr),
        branch: BRANCH.to_owned(),
        hsm,
        label,
        linked: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        heartbeats: AtomicU64::new(0),
        last_error: std::sync::Mutex::new(None),
        stop: stop_rx,
    });
    let sessions_thread = {
        let (fleet, n, concurrency) = (fleet.clone(), opts.sessions, opts.connect_concurrency);
        std::thread::Builder::new()
            .name("bench-terminals".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
                    let mut tasks = Vec::with_capacity(n);
                    for i in 0..n {
                        // Held until this session is linked (or failed).
                        let permit = gate
                            .clone()
                            .acquire_owned()
                            .await
                            .expect("the gate stays open");
                        tasks.push(actix_rt::spawn(sessions::session(fleet.clone(), i, permit)));
                    }
                    for task in tasks {
                        let _ = task.await;
                    }
                })
            })
            .map_err(setup("start the terminals' thread"))?
    };
    let t0 = Instant::now();
    let link_deadline = t0 + Duration::from_secs(60 + opts.sessions as u64 / 50);
    loop {
        let (linked, failed) = (
            fleet.linked.load(Ordering::Relaxed),
            fleet.failed.load(Ordering::Relaxed),
        );
        if linked == opts.sessions {
            break;
        }
        if failed > 0 || Instant::now() > link_deadline {
            let _ = stop_tx.send(true);
            return Err(TerminalBenchError::Linking {
                linked,
                wanted: opts.sessions,
                waited: t0.elapsed(),
                last: fleet
                    .last_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
                    .unwrap_or_else(|| "none".into()),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let link_time = t0.elapsed();
    eprintln!(
        "  {} terminals linked in {:.1} s; idling {} s",
        opts.sessions,
        link_time.as_secs_f64(),
        opts.idle_secs
    );
    std::thread::sleep(Duration::from_secs(opts.idle_secs));
    let rss_idle_kb = hub.rss_kb()?;

    eprintln!("  queries: {}/s for {} s", opts.rate, opts.seconds);
    let mut figures = None;
    let process = hub.sample_phase::<TerminalBenchError>(opts.seconds, || {
        let (base, token, numbers, rate, seconds) = (
            base.clone(),
            token.clone(),
            numbers.clone(),
            opts.rate,
            opts.seconds,
        );
        figures = Some(
            std::thread::Builder::new()
                .name("bench-queries".into())
                .spawn(move || queries::send(&base, &token, &numbers, rate, seconds))
                .map_err(setup("start the queries' thread"))?,
        );
        Ok(())
    })?;
    let queries = figures
        .expect("started above")
        .join()
        .map_err(|_| TerminalBenchError::Setup("the queries' thread panicked".into()))?;
    let linked_at_end = fleet.linked.load(Ordering::Relaxed)
        - fleet.failed.load(Ordering::Relaxed).min(opts.sessions);
    let failed = fleet.failed.load(Ordering::Relaxed);
    let heartbeats = fleet.heartbeats.load(Ordering::Relaxed);
    let _ = stop_tx.send(true);
    let _ = sessions_thread.join();
    drop(hub);
    Ok(TerminalBenchReport {
        options: opts.clone(),
        link_time,
        rss_before_kb,
        rss_idle_kb,
        queries,
        process,
        linked_at_end,
        failed,
        heartbeats,
    })
}

/// One SM2 key for the whole fleet: `(store, label, public key)`.
fn fleet_key() -> Result<(Arc<SoftHsm>, KeyLabel, Vec<u8>), TerminalBenchError> {
    let label = KeyLabel::new("terminal");
    let mut file = KeyFile::parse("version = 1\n").map_err(setup("a key file"))?;
    file.add_generated(label.clone(), KeyKind::Sm2)
        .map_err(setup("a terminal key"))?;
    let hsm = SoftHsm::from_key_file(&file).map_err(setup("the terminal key"))?;
    let public = hsm.public_key(&label).map_err(setup("the public key"))?;
    Ok((Arc::new(hsm), label, public))
}

/// Registers the branch, the clerk, the holders and the terminals in the
/// hub's database (opened beside the running hub with its key file);
/// returns the holders' document numbers.
fn seed(
    dir: &std::path::Path,
    opts: &TerminalBenchOptions,
    public_key: &[u8],
) -> Result<Vec<String>, TerminalBenchError> {
    let keys = std::fs::read_to_string(dir.join("data/dev-keys.toml"))
        .map_err(setup("the hub's key file"))?;
    let hsm = SoftHsm::from_key_file(&KeyFile::parse(&keys).map_err(setup("the hub's key file"))?)
        .map_err(setup("the hub's keys"))?;
    let url = format!("sqlite://{}", dir.join("data/cardhub.db").display());
    let store = Store::open(&url, Arc::new(hsm), StoreOptions::default())
        .map_err(setup("the hub's database"))?;
    let hsm = store.hsm().clone();
    let admin = Actor::new("bench", Role::Admin);
    let t0 = Instant::now();
    let numbers = store
        .with_conn(|conn| {
            branches::create(
                conn,
                hsm.as_ref(),
                &NewBranch {
                    code: BRANCH.into(),
                    name: "基准测试社区事务受理服务中心".into(),
                    kind: BranchKind::Community,
                },
                &admin,
            )?;
            operators::create(
                conn,
                hsm.as_ref(),
                &NewOperator {
                    username: CLERK.0.into(),
                    display_name: "基准".into(),
                    role: Role::BranchOperator,
                    branch_code: Some(BRANCH.into()),
                    password_hash: cardhub_protocols::crypto::password::hash_password(CLERK.1),
                },
                &admin,
            )?;
            let mut numbers = Vec::with_capacity(opts.persons);
            for n in 0..opts.persons {
                super::seed_applicant(conn, hsm.as_ref(), n, "张三", &admin)?;
                numbers.push(format!("BENCH{n:013}"));
            }
            for n in 0..opts.sessions {
                terminals::register(
                    conn,
                    hsm.as_ref(),
                    &NewTerminal {
                        terminal_id: terminal_id(n),
                        branch_code: BRANCH.into(),
                        public_key: public_key.to_vec(),
                        description: None,
                    },
                    &admin,
                )?;
            }
            Ok(numbers)
        })
        .map_err(setup("seed the hub's database"))?;
    eprintln!(
        "  seeded {} holders and {} terminals in {:.1} s",
        opts.persons,
        opts.sessions,
        t0.elapsed().as_secs_f64()
    );
    Ok(numbers)
}
