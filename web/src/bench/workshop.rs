//! `cardhub bench workshop`: production lines of simulated printers and
//! simulated cards, at zero device delay (or realistic timings), through
//! the real transports: each printer a simulator on TCP whose encoder is a
//! vpcd reader of the PC/SC rig, the hub a `cardhub serve` process of its
//! own driving them, everything persisted in its SQLite file.
//!
//! For each line count asked for, the benchmark seeds the database with
//! `printers x cards` approved applications (photos included) and
//! extracts them, starts the printers and the hub with every line on
//! autostart, and waits until every task is done. It reports cards per
//! second over the production (first claim to last completion) and the
//! hub's CPU time per card and as a share of one core, from the hub
//! process's `/proc/<pid>/stat` (user + system, all threads; read by
//! `procfs.rs`, shared with the monitor bench). The simulators, pcscd and
//! this process are not the hub and are not counted.
//!
//! With `--seconds N` the run stops after N seconds instead (for
//! realistic timings, where a card takes about 26 s per printer) and
//! reports the cards finished so far.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardhub_devices::rig::ReaderLease;
use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::{KeyFile, SoftHsm, labels};
use cardhub_protocols::roles::Role;
use cardhub_simulators::printer::{PrinterSimConfig, PrinterSimulator, RunningPrinter, Timing};
use cardhub_storage::photos::NewPhoto;
use cardhub_storage::workshop::{Extraction, ExtractionKind};
use cardhub_storage::{Actor, Store, StoreOptions, cards, photos};

/// Options of `cardhub bench workshop`.
#[derive(Clone, Debug)]
pub struct WorkshopBenchOptions {
    /// The line counts to run, one run each (e.g. 1 and 8).
    pub lines: Vec<usize>,
    /// Printers on each line.
    pub printers_per_line: usize,
    /// Cards queued per printer.
    pub cards_per_printer: usize,
    /// `zero` or `realistic`.
    pub timing: String,
    /// Stop after this long instead of when every card is done.
    pub seconds: Option<u64>,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkshopBenchError {
    /// The PC/SC rig is not usable or too small.
    #[error(
        "the PC/SC test rig: {0} (start it with `scripts/pcsc-rig.sh start`; CARDHUB_PCSC_RIG_ENTRIES gives it more readers)"
    )]
    Rig(String),
    /// A step of the set-up failed.
    #[error("{0}")]
    Setup(String),
    /// The run did not finish.
    #[error("{0}")]
    Run(String),
}

fn setup<E: fmt::Display>(what: &'static str) -> impl Fn(E) -> WorkshopBenchError {
    move |e| WorkshopBenchError::Setup(format!("{what}: {e}"))
}

/// One run's figures.
#[derive(Clone, Debug)]
pub struct RunFigures {
    /// Lines.
    pub lines: usize,
    /// Printers in all.
    pub printers: usize,
    /// Cards finished.
    pub cards: usize,
    /// Cards wasted (should be none).
    pub wasted: usize,
    /// From the first claim to the last completion.
    pub elapsed: Duration,
    /// Hub CPU time (user + system) over the same span.
    pub hub_cpu: Duration,
}

impl RunFigures {
    fn cards_per_second(&self) -> f64 {
        self.cards as f64 / self.elapsed.as_secs_f64()
    }

    fn cpu_ms_per_card(&self) -> f64 {
        self.hub_cpu.as_secs_f64() * 1000.0 / self.cards.max(1) as f64
    }

    fn cpu_share(&self) -> f64 {
        self.hub_cpu.as_secs_f64() / self.elapsed.as_secs_f64() * 100.0
    }
}

/// What the benchmark prints.
#[derive(Clone, Debug)]
pub struct WorkshopBenchReport {
    /// The timing of the printers.
    pub timing: String,
    /// One row per run.
    pub runs: Vec<RunFigures>,
}

impl fmt::Display for WorkshopBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "workshop: {} printer timing, every step persisted (SQLite), printers over TCP, encoders through pcscd + vpcd",
            self.timing
        )?;
        writeln!(
            f,
            "| lines | printers | cards | wasted | seconds | cards/s | hub CPU ms/card | hub CPU share of one core |"
        )?;
        writeln!(f, "| --- | --- | --- | --- | --- | --- | --- | --- |")?;
        for r in &self.runs {
            writeln!(
                f,
                "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1}% |",
                r.lines,
                r.printers,
                r.cards,
                r.wasted,
                r.elapsed.as_secs_f64(),
                r.cards_per_second(),
                r.cpu_ms_per_card(),
                r.cpu_share()
            )?;
        }
        Ok(())
    }
}

/// Runs the benchmark.
pub fn run(opts: &WorkshopBenchOptions) -> Result<WorkshopBenchReport, WorkshopBenchError> {
    let timing = Timing::parse(&opts.timing).ok_or_else(|| {
        WorkshopBenchError::Setup(format!("--timing `{}`: use zero or realistic", opts.timing))
    })?;
    let mut runs = Vec::new();
    for &lines in &opts.lines {
        let figures = run_once(opts, lines, timing)?;
        eprintln!(
            "  {} line(s): {} cards in {:.1} s",
            lines,
            figures.cards,
            figures.elapsed.as_secs_f64()
        );
        runs.push(figures);
    }
    Ok(WorkshopBenchReport {
        timing: opts.timing.clone(),
        runs,
    })
}

fn run_once(
    opts: &WorkshopBenchOptions,
    lines: usize,
    timing: Timing,
) -> Result<RunFigures, WorkshopBenchError> {
    let printers = lines * opts.printers_per_line;
    let total = printers * opts.cards_per_printer;
    let leases = (0..printers)
        .map(|_| ReaderLease::acquire())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| WorkshopBenchError::Rig(format!("{printers} readers needed: {e}")))?;
    let dir = tempfile::tempdir().map_err(setup("a temporary directory"))?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).map_err(setup("the data directory"))?;
    let keys = KeyFile::generate_development();
    let transport = keys
        .sm4_key_bytes(labels::CHIP_TRANSPORT)
        .ok_or_else(|| WorkshopBenchError::Setup("the key file has no transport key".into()))?;
    crate::bootstrap::write_private(&data.join("dev-keys.toml"), &keys.to_toml())
        .map_err(setup("write the key file"))?;
    let hsm = Arc::new(SoftHsm::from_key_file(&keys).map_err(setup("load the keys"))?);
    let url = format!("sqlite://{}", data.join("cardhub.db").display());
    let store = Store::open(&url, hsm, StoreOptions::default()).map_err(setup("open SQLite"))?;
    store.migrate().map_err(setup("migrate"))?;
    seed(&store, total)?;

    let sims: Vec<RunningPrinter> = leases
        .iter()
        .enumerate()
        .map(|(i, lease)| {
            let mut config =
                PrinterSimConfig::new(dir.path().join(format!("printer-{i}")), transport);
            config.vpcd = Some(
                format!("127.0.0.1:{}", lease.port())
                    .parse()
                    .expect("an address"),
            );
            config.timing = timing;
            config.write_faces = false;
            config.chip_prefix = format!("BE{i:04X}");
            PrinterSimulator::start(config)
        })
        .collect::<Result<_, _>>()
        .map_err(setup("start a simulated printer"))?;
    let config = config_toml(opts, lines, &sims, &leases);
    let config_path = dir.path().join("bench.toml");
    std::fs::write(&config_path, config).map_err(setup("write the config"))?;

    let mut hub = start_hub(dir.path(), &config_path)?;
    let pid = hub.id();
    let deadline = opts.seconds.map(Duration::from_secs);
    let limit = Instant::now() + Duration::from_secs(3_600);
    let mut started: Option<(Instant, Duration)> = None;
    let result = loop {
        std::thread::sleep(Duration::from_millis(50));
        if let Ok(Some(status)) = hub.try_wait() {
            break Err(WorkshopBenchError::Run(format!("the hub exited: {status}")));
        }
        let counts = store
            .with_conn(cardhub_storage::workshop::queue_counts)
            .map_err(setup("read the queue"))?;
        let moved = counts.in_production + counts.done + counts.failed > 0;
        if started.is_none() && moved {
            started = Some((Instant::now(), cpu_time(pid)?));
        }
        let finished = (counts.done + counts.failed) as usize;
        let out_of_time = match (started, deadline) {
            (Some((t0, _)), Some(d)) => t0.elapsed() >= d,
            _ => false,
        };
        if finished >= total || out_of_time {
            let (t0, cpu0) = started.expect("production started");
            let wasted = store
                .with_conn(|conn| cards::cards_in_status(conn, CardStatus::Waste, 100_000))
                .map(|c| c.len())
                .unwrap_or(0);
            break Ok(RunFigures {
                lines,
                printers,
                cards: counts.done as usize,
                wasted,
                elapsed: t0.elapsed(),
                hub_cpu: cpu_time(pid)?.saturating_sub(cpu0),
            });
        }
        if Instant::now() > limit {
            break Err(WorkshopBenchError::Run(format!(
                "only {finished} of {total} cards after an hour"
            )));
        }
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = hub.wait();
    for sim in sims {
        sim.stop();
    }
    result
}

/// `total` approved applications with photos, data-prepared, extracted.
fn seed(store: &Store, total: usize) -> Result<(), WorkshopBenchError> {
    let hsm = store.hsm().clone();
    let centre = Actor::new("bench", Role::CentreStaff);
    let photo = cardhub_simulators::photo::id_photo(7);
    let (width, height) =
        cardhub_storage::photos::jpeg_dimensions(&photo).map_err(WorkshopBenchError::Setup)?;
    store
        .with_conn(|conn| {
            for n in 0..total {
                let (application, card) = super::seed_applicant(
                    conn,
                    hsm.as_ref(),
                    n,
                    if n % 8 == 0 { "𠮷田" } else { "张三丰" },
                    &centre,
                )?;
                photos::put_photo(
                    conn,
                    hsm.as_ref(),
                    application.id,
                    &NewPhoto {
                        jpeg: photo.clone(),
                        width: i32::from(width),
                        height: i32::from(height),
                    },
                    &centre,
                )?;
                for to in [CardStatus::PhotoApproved, CardStatus::DataPrepared] {
                    cards::transition_card(
                        conn,
                        hsm.as_ref(),
                        card.id,
                        None,
                        to,
                        &centre,
                        "bench",
                    )?;
                }
            }
            cardhub_storage::workshop::extract(
                conn,
                hsm.as_ref(),
                &Extraction {
                    kind: ExtractionKind::Normal,
                    limit: None,
                    max_attempts: 3,
                },
                &centre,
            )?;
            Ok(())
        })
        .map_err(setup("seed the applications"))
}

fn config_toml(
    opts: &WorkshopBenchOptions,
    lines: usize,
    sims: &[RunningPrinter],
    leases: &[ReaderLease],
) -> String {
    let mut toml = String::from(
        "[http]\nbind = \"127.0.0.1:0\"\n[chip]\nreaders = [\"cardhub bench: no stand-alone reader\"]\n\
         [chip.substitutions]\n\"𠮷\" = \"吉\"\n[simulators]\nprinters = false\napplications = 0\nbranch = \"\"\n\
         [workshop]\nidle_poll_ms = 50\nnumber_prefix = \"B\"\n",
    );
    for line in 0..lines {
        toml.push_str(&format!(
            "\n[[workshop.lines]]\nname = \"line-{line}\"\nprogram = \"full\"\nautostart = true\n"
        ));
        for p in 0..opts.printers_per_line {
            let i = line * opts.printers_per_line + p;
            toml.push_str(&format!(
                "[[workshop.lines.printers]]\nname = \"printer-{i}\"\naddress = \"{}\"\nencoder = \"{}\"\n",
                sims[i].host_address(),
                leases[i].reader_name()
            ));
        }
    }
    toml
}

fn start_hub(dir: &Path, config: &Path) -> Result<Child, WorkshopBenchError> {
    let exe: PathBuf = std::env::current_exe().map_err(setup("find the cardhub binary"))?;
    let mut child = Command::new(exe)
        .current_dir(dir)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(setup("start the hub"))?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("cardhub listening on ") => break,
            Some(Ok(_)) => {}
            _ => {
                let _ = child.kill();
                return Err(WorkshopBenchError::Setup(
                    "the hub exited before it listened".into(),
                ));
            }
        }
    }
    // Keep draining so the hub never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(child)
}

/// User + system CPU time of the hub, process `pid`, all its threads.
fn cpu_time(pid: u32) -> Result<Duration, WorkshopBenchError> {
    super::procfs::cpu_time(pid).map_err(setup("the hub's CPU time"))
}
