//! `cardhub bench chip`: personalisation and the card check through pcscd
//! and vpcd, card after card, beside the same APDUs sent by a bare PC/SC
//! transmit loop.
//!
//! Each round takes a fresh blank simulated card (its own card
//! identification code, behind one vpcd reader of the PC/SC test rig) and
//! runs the hub's own path: the job recorded in SQLite, the script observed,
//! built and finished through the `Hsm`, every phase written, the card
//! checked back. A recording reader keeps every APDU the hub sent. Then a
//! second blank card with the same code and the same random seed (so it
//! draws the same challenges) receives that recorded list through plain
//! `SCardTransmit`, with no hub code at all. Both sides pay the same
//! pcscd/vpcd/card cost; the difference is the hub's own overhead.
//!
//! Each side opens its reader (its PC/SC context) once, before the first
//! card, as a reader actor keeps its reader from card to card; a round
//! times the card's connect and its APDUs.
//!
//! The machine is usually shared, so single cards vary a lot: the report
//! gives means and medians per card, and the time each side spent outside
//! PC/SC calls (open, connect, transmit), which is the hub's own work
//! measured directly rather than as a difference of two noisy totals.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cardhub_actors::chip::engine::{self, ReaderSlot};
use cardhub_actors::chip::{ChipConfig, ChipRuntime, JobRequest};
use cardhub_devices::reader::{
    Atr, CardReader, PcscReader, ProtocolPreference, ReaderError, ReaderState,
};
use cardhub_devices::rig::ReaderLease;
use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::chip::sm::CardAlgorithm;
use cardhub_protocols::crypto::{KeyFile, SoftHsm, labels};
use cardhub_protocols::roles::Role;
use cardhub_simulators::card::memory::CardMemory;
use cardhub_simulators::card::{CardSimulator, RunningCard, SimConfig};
use cardhub_storage::chips::{ChipJob, ChipJobStatus};
use cardhub_storage::{Actor, Store, StoreOptions, cards};

use super::procfs;

/// How long a simulated card gets to be taken by vpcd.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The random seed both cards of a round start from.
const SEED: u64 = 0x5EED_CA4D;

/// Options of `cardhub bench chip`.
#[derive(Clone, Debug)]
pub struct ChipBenchOptions {
    /// Cards personalised and checked.
    pub cards: usize,
    /// List this many of the largest gaps between the hub's PC/SC calls.
    pub gaps: Option<usize>,
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum ChipBenchError {
    /// The PC/SC rig is not usable.
    #[error("the PC/SC test rig: {0} (start it with `scripts/pcsc-rig.sh start`)")]
    Rig(String),
    /// A step of the set-up failed.
    #[error("{0}")]
    Setup(String),
    /// A hub job did not end `done`.
    #[error("card {card}: the hub's {kind} ended {status}: {error}")]
    Job {
        /// Round number.
        card: usize,
        /// Job kind.
        kind: &'static str,
        /// Its status.
        status: String,
        /// Its error.
        error: String,
    },
    /// The bare loop's card answered differently from the hub's card.
    #[error("card {card}: the bare loop's APDU {index} got {got}, the hub's got {want}")]
    Diverged {
        /// Round number.
        card: usize,
        /// APDU index.
        index: usize,
        /// Status word seen by the bare loop.
        got: String,
        /// Status word seen by the hub.
        want: String,
    },
}

fn setup<E: fmt::Display>(what: &'static str) -> impl Fn(E) -> ChipBenchError {
    move |e| ChipBenchError::Setup(format!("{what}: {e}"))
}

/// The figures.
#[derive(Debug, Clone)]
pub struct ChipBenchReport {
    /// Cards done.
    pub cards: usize,
    /// APDUs per card (personalisation and check).
    pub apdus_per_card: f64,
    /// The hub's time per card (mean).
    pub hub: Duration,
    /// The bare loop's time per card (mean).
    pub bare: Duration,
    /// The hub's time per card (median).
    pub hub_median: Duration,
    /// The bare loop's time per card (median).
    pub bare_median: Duration,
    /// The median over the cards of each card's hub time over its bare
    /// loop's (the two run back to back, so they share the host's
    /// conditions): the overhead least moved by a busy neighbour.
    pub paired_ratio: f64,
    /// The hub's time per card outside PC/SC calls (median): its own work.
    pub hub_outside_pcsc: Duration,
    /// The bare loop's time per card outside PC/SC calls (median).
    pub bare_outside_pcsc: Duration,
    /// This process's CPU time per card on the hub's side (median, all
    /// threads: the hub's, and the simulated card's, which both sides pay).
    pub hub_cpu: Duration,
    /// The same on the bare loop's side.
    pub bare_cpu: Duration,
    /// The gaps between the hub's PC/SC calls, largest first, when asked
    /// for (and at most as many as asked for).
    pub gaps: Option<GapReport>,
}

/// Where the hub's own time a card lies: the time between one PC/SC call
/// and the next, by position in the card's APDU sequence, median over the
/// cards whose sequence matched the first card's.
#[derive(Debug, Clone)]
pub struct GapReport {
    /// Cards counted.
    pub cards: usize,
    /// The sum of every position's median.
    pub total: Duration,
    /// The largest gaps.
    pub largest: Vec<Gap>,
    /// Connecting to the card (median), the hub's side.
    pub hub_connect: Duration,
    /// The same in the bare loop.
    pub bare_connect: Duration,
    /// The sum of each APDU's median time in PC/SC, the hub's side.
    pub hub_apdus: Duration,
    /// The same in the bare loop.
    pub bare_apdus: Duration,
    /// The APDUs slowest in PC/SC on the hub's side against the bare loop:
    /// index among the APDUs, hub median, bare median.
    pub slower: Vec<(usize, Duration, Duration)>,
}

/// One position between two PC/SC calls.
#[derive(Debug, Clone)]
pub struct Gap {
    /// The call before it (`start` for the round's start).
    pub after: String,
    /// The call after it (`end` for the round's end).
    pub before: String,
    /// Its position (0: before the first call).
    pub index: usize,
    /// Median over the cards.
    pub median: Duration,
}

impl fmt::Display for GapReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "gaps between the hub's PC/SC calls ({} cards, medians): all together {:.0} µs; the largest:",
            self.cards,
            self.total.as_secs_f64() * 1e6
        )?;
        for gap in &self.largest {
            writeln!(
                f,
                "  {:>4} µs  #{:<3} after {:<10} before {}",
                gap.median.as_micros(),
                gap.index,
                gap.after,
                gap.before
            )?;
        }
        let us = |d: Duration| d.as_micros();
        writeln!(
            f,
            "connecting to the card: hub {} µs, bare loop {} µs (each side opened its reader once, before the first card)",
            us(self.hub_connect),
            us(self.bare_connect)
        )?;
        writeln!(
            f,
            "the APDUs in PC/SC (sums of medians): hub {:.0} µs, bare loop {:.0} µs; the hub's slowest against the bare loop's:",
            self.hub_apdus.as_secs_f64() * 1e6,
            self.bare_apdus.as_secs_f64() * 1e6
        )?;
        for (index, hub, bare) in &self.slower {
            writeln!(
                f,
                "  APDU {index:<3} hub {:>4} µs  bare {:>4} µs",
                hub.as_micros(),
                bare.as_micros()
            )?;
        }
        Ok(())
    }
}

/// The PC/SC calls of each card's hub round, to find the gaps between them.
#[derive(Default)]
struct Gaps {
    /// The first card's call labels: later cards must match them.
    labels: Vec<CallKind>,
    /// Per card, the gap before each call and after the last.
    cards: Vec<Vec<Duration>>,
    /// Per card counted, the hub's connect.
    hub_connect: Vec<Duration>,
    /// Per card counted, the bare loop's connect.
    bare_connect: Vec<Duration>,
    /// Per card counted, each APDU's time in PC/SC on the hub's side.
    hub_apdus: Vec<Vec<Duration>>,
    /// The same APDUs' times in the bare loop.
    bare_apdus: Vec<Vec<Duration>>,
}

impl Gaps {
    /// Counts a round: the hub's calls between `started` and `ended`, and
    /// the bare loop's times: its connect, then each of the same APDUs.
    fn push(&mut self, started: Instant, calls: &[Call], ended: Instant, bare: &[Duration]) {
        let labels: Vec<CallKind> = calls.iter().map(|c| c.label).collect();
        if self.cards.is_empty() {
            self.labels = labels;
        } else if labels != self.labels {
            return;
        }
        self.hub_connect.push(
            calls
                .iter()
                .find(|c| c.label == CallKind::Connect)
                .map_or(Duration::ZERO, |c| c.end - c.start),
        );
        let (connect, bare) = bare.split_first().unwrap_or((&Duration::ZERO, &[]));
        self.bare_connect.push(*connect);
        self.bare_apdus.push(bare.to_vec());
        self.hub_apdus.push(
            calls
                .iter()
                .filter(|c| matches!(c.label, CallKind::Apdu(_)))
                .map(|c| c.end - c.start)
                .collect(),
        );
        let mut gaps = Vec::with_capacity(calls.len() + 1);
        let mut last = started;
        for call in calls {
            gaps.push(call.start.saturating_duration_since(last));
            last = call.end;
        }
        gaps.push(ended.saturating_duration_since(last));
        self.cards.push(gaps);
    }

    fn report(&self, largest: usize) -> GapReport {
        // The median over the cards at position `i`.
        let at = |cards: &[Vec<Duration>], i: usize| {
            median(
                &cards
                    .iter()
                    .filter_map(|c| c.get(i).copied())
                    .collect::<Vec<_>>(),
            )
        };
        let name = |i: Option<usize>, edge: &str| {
            i.and_then(|i| self.labels.get(i).map(|l| format!("{i}:{l}")))
                .unwrap_or_else(|| edge.to_owned())
        };
        let positions = self.cards.first().map_or(0, Vec::len);
        let mut gaps: Vec<Gap> = (0..positions)
            .map(|index| Gap {
                after: name(index.checked_sub(1), "start"),
                before: name(Some(index), "end"),
                index,
                median: at(&self.cards, index),
            })
            .collect();
        let total = gaps.iter().map(|g| g.median).sum();
        gaps.sort_by_key(|g| std::cmp::Reverse(g.median));
        gaps.truncate(largest);
        let apdus = self.hub_apdus.first().map_or(0, Vec::len);
        let mut slower: Vec<(usize, Duration, Duration)> = (0..apdus)
            .map(|i| (i, at(&self.hub_apdus, i), at(&self.bare_apdus, i)))
            .collect();
        let hub_apdus = slower.iter().map(|s| s.1).sum();
        let bare_apdus = slower.iter().map(|s| s.2).sum();
        slower.sort_by_key(|&(_, hub, bare)| std::cmp::Reverse(hub.saturating_sub(bare)));
        slower.truncate(largest);
        GapReport {
            cards: self.cards.len(),
            hub_connect: median(&self.hub_connect),
            bare_connect: median(&self.bare_connect),
            total,
            largest: gaps,
            hub_apdus,
            bare_apdus,
            slower,
        }
    }
}

/// One side's times, card by card.
#[derive(Debug, Default)]
struct Side {
    /// Wall time per card.
    total: Vec<Duration>,
    /// Of which outside PC/SC calls.
    outside_pcsc: Vec<Duration>,
    /// This process's CPU time per card, all threads.
    cpu: Vec<Duration>,
}

impl Side {
    fn push(&mut self, total: Duration, in_pcsc: Duration, cpu: Duration) {
        self.total.push(total);
        self.outside_pcsc.push(total.saturating_sub(in_pcsc));
        self.cpu.push(cpu);
    }

    fn mean(&self) -> Duration {
        let n = u32::try_from(self.total.len().max(1)).unwrap_or(u32::MAX);
        self.total.iter().sum::<Duration>() / n
    }
}

/// The median of `hub[i] / bare[i]` (1 when there are no cards).
fn paired_ratio(hub: &[Duration], bare: &[Duration]) -> f64 {
    let mut ratios: Vec<f64> = hub
        .iter()
        .zip(bare)
        .filter(|(_, bare)| !bare.is_zero())
        .map(|(hub, bare)| hub.as_secs_f64() / bare.as_secs_f64())
        .collect();
    ratios.sort_unstable_by(f64::total_cmp);
    match ratios.len() {
        0 => 1.0,
        n if n % 2 == 1 => ratios[n / 2],
        n => (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0,
    }
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

impl fmt::Display for ChipBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let rate = |d: Duration| self.apdus_per_card / d.as_secs_f64();
        let overhead =
            |hub: Duration, bare: Duration| (hub.as_secs_f64() / bare.as_secs_f64() - 1.0) * 100.0;
        writeln!(
            f,
            "personalise + check through pcscd + vpcd: {} cards, {:.0} APDUs per card",
            self.cards, self.apdus_per_card
        )?;
        writeln!(
            f,
            "{:<34} {:>10} {:>10} {:>10} {:>12}",
            "", "ms/card", "median", "APDUs/s", "outside PC/SC"
        )?;
        for (name, mean, median, outside) in [
            (
                "cardhub (job, script, Hsm, SQLite)",
                self.hub,
                self.hub_median,
                self.hub_outside_pcsc,
            ),
            (
                "bare SCardTransmit loop",
                self.bare,
                self.bare_median,
                self.bare_outside_pcsc,
            ),
        ] {
            writeln!(
                f,
                "{name:<34} {:>10.2} {:>10.2} {:>10.0} {:>12.2}",
                ms(mean),
                ms(median),
                rate(mean),
                ms(outside)
            )?;
        }
        write!(
            f,
            "hub overhead: {:+.1}% of the bare loop ({:+.1}% on medians, {:+.1}% card by card (median of each card's ratio); goal: under 10%)",
            overhead(self.hub, self.bare),
            overhead(self.hub_median, self.bare_median),
            (self.paired_ratio - 1.0) * 100.0
        )?;
        write!(
            f,
            "\nCPU of this process a card (medians, every thread, the simulated card's included on both sides): hub {:.2} ms, bare loop {:.2} ms ({:+.2} ms)",
            ms(self.hub_cpu),
            ms(self.bare_cpu),
            ms(self.hub_cpu) - ms(self.bare_cpu)
        )?;
        if let Some(gaps) = &self.gaps {
            write!(f, "\n{gaps}")?;
        }
        Ok(())
    }
}

/// What a [`Recording`] reader saw.
#[derive(Default)]
struct Recorded {
    /// Every command sent, with the status word of its answer.
    apdus: Vec<(Vec<u8>, [u8; 2])>,
    /// Time spent inside PC/SC calls (open, connect, transmit).
    in_pcsc: Duration,
    /// Each PC/SC call, in order.
    calls: Vec<Call>,
}

/// What a PC/SC call of the hub's round was: kept as bytes while the
/// round runs (the recording adds as little as it can to the hub's side),
/// written out in the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallKind {
    /// The reader opened.
    Open,
    /// The card connected.
    Connect,
    /// A command, by its header (CLA INS P1 P2).
    Apdu([u8; 4]),
}

impl fmt::Display for CallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open => f.write_str("open"),
            Self::Connect => f.write_str("connect"),
            Self::Apdu(header) => f.write_str(&hex::encode_upper(header)),
        }
    }
}

/// One PC/SC call of the hub's round.
struct Call {
    /// `open`, `connect`, or the command's header in hex.
    label: CallKind,
    start: Instant,
    end: Instant,
}

impl Recorded {
    fn call(&mut self, label: CallKind, start: Instant) {
        let end = Instant::now();
        self.in_pcsc += end - start;
        self.calls.push(Call { label, start, end });
    }
}

type Log = Arc<std::sync::Mutex<Recorded>>;

fn lock(log: &Log) -> std::sync::MutexGuard<'_, Recorded> {
    log.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A reader that keeps every command it sends and the status word of each
/// answer, and times its PC/SC calls.
struct Recording {
    inner: PcscReader,
    sent: Log,
}

impl CardReader for Recording {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn status(&self) -> ReaderState {
        self.inner.status()
    }
    fn connect(&mut self, protocol: ProtocolPreference) -> Result<Atr, ReaderError> {
        let started = Instant::now();
        let atr = self.inner.connect(protocol);
        lock(&self.sent).call(CallKind::Connect, started);
        atr
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let started = Instant::now();
        let answer = self.inner.transmit(apdu);
        let mut log = lock(&self.sent);
        let mut header = [0; 4];
        let n = apdu.len().min(4);
        header[..n].copy_from_slice(&apdu[..n]);
        log.call(CallKind::Apdu(header), started);
        let answer = answer?;
        let sw = match answer.as_slice() {
            [.., a, b] => [*a, *b],
            _ => [0, 0],
        };
        log.apdus.push((apdu.to_vec(), sw));
        Ok(answer)
    }
    fn reconnect(&mut self, reset: bool) -> Result<Atr, ReaderError> {
        self.inner.reconnect(reset)
    }
    fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }
    fn disconnect(&mut self) -> Result<(), ReaderError> {
        self.inner.disconnect()
    }
}

/// Takes the card out and waits until pcscd reports the reader empty, so
/// the next card is seen as a new card and not as the old one.
fn remove(card: RunningCard, lease: &ReaderLease) -> Result<(), ChipBenchError> {
    card.stop();
    let reader =
        PcscReader::open(lease.reader_name()).map_err(|e| ChipBenchError::Rig(e.to_string()))?;
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    while reader.status() != ReaderState::Empty {
        if Instant::now() > deadline {
            return Err(ChipBenchError::Rig(format!(
                "{} never reported the card gone",
                lease.reader_name()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Starts a blank card with `card_id` in the leased reader and waits until
/// vpcd has it.
fn blank_card(
    dir: &Path,
    lease: &ReaderLease,
    card_id: &str,
    transport: &[u8; 16],
    tag: &str,
) -> Result<RunningCard, ChipBenchError> {
    let file = dir.join(format!("card-{card_id}-{tag}.json"));
    CardMemory::blank(card_id, transport, CardAlgorithm::Sm4)
        .map_err(setup("blank card"))?
        .save(&file)
        .map_err(setup("save the blank card"))?;
    let card = CardSimulator::start(SimConfig {
        vpcd: ([127, 0, 0, 1], lease.port()).into(),
        card_file: file,
        control: ([127, 0, 0, 1], 0).into(),
        inserted: true,
        t0_get_response: false,
        seed: Some(SEED),
    })
    .map_err(setup("start the simulated card"))?;
    if !card.wait_connected(true, CONNECT_TIMEOUT) {
        return Err(ChipBenchError::Rig(
            "vpcd never took the simulated card".into(),
        ));
    }
    // pcscd polls vpcd for the card: wait until the reader reports it.
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    let reader =
        PcscReader::open(lease.reader_name()).map_err(|e| ChipBenchError::Rig(e.to_string()))?;
    while !matches!(reader.status(), ReaderState::Present { .. }) {
        if Instant::now() > deadline {
            return Err(ChipBenchError::Rig(format!(
                "{} never saw the card",
                lease.reader_name()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(card)
}

fn seed_card(store: &Store, round: usize) -> Result<i64, ChipBenchError> {
    let hsm = store.hsm().clone();
    let centre = Actor::new("bench", Role::CentreStaff);
    store
        .with_writer(|conn| {
            let (_, card) = super::seed_applicant(conn, hsm.as_ref(), round, "张三丰", &centre)?;
            cards::assign_card_number(
                conn,
                hsm.as_ref(),
                card.id,
                &format!("B{round:08}"),
                &centre,
            )?;
            for to in [CardStatus::PhotoApproved, CardStatus::DataPrepared] {
                cards::transition_card(conn, hsm.as_ref(), card.id, None, to, &centre, "bench")?;
            }
            Ok(card.id)
        })
        .map_err(setup("seed a card"))
}

/// Requires a hub job to have ended `done`.
fn done(job: &ChipJob, round: usize) -> Result<(), ChipBenchError> {
    if job.status != ChipJobStatus::Done {
        return Err(ChipBenchError::Job {
            card: round,
            kind: job.kind.as_str(),
            status: job.status.to_string(),
            error: job.error.clone().unwrap_or_default(),
        });
    }
    Ok(())
}

/// Runs the benchmark.
pub fn run(opts: &ChipBenchOptions) -> Result<ChipBenchReport, ChipBenchError> {
    let lease = ReaderLease::acquire().map_err(|e| ChipBenchError::Rig(e.to_string()))?;
    let dir = tempfile::tempdir().map_err(setup("a temporary directory"))?;
    let keys = KeyFile::generate_development();
    let transport = keys.sm4_key_bytes(labels::CHIP_TRANSPORT).ok_or_else(|| {
        ChipBenchError::Setup("the development key file has no transport key".into())
    })?;
    let hsm = Arc::new(SoftHsm::from_key_file(&keys).map_err(setup("load the keys"))?);
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::open(&url, hsm, StoreOptions::default()).map_err(setup("open SQLite"))?;
    store.migrate().map_err(setup("migrate"))?;
    let runtime = ChipRuntime::new(ChipConfig::default(), store).map_err(setup("chip settings"))?;

    let (mut hub, mut bare, mut apdus) = (Side::default(), Side::default(), 0usize);
    let mut gaps = Gaps::default();
    // Each side's reader, opened once and kept from card to card.
    let sent: Log = Arc::default();
    let reader_name = lease.reader_name().to_owned();
    let recorder = Arc::clone(&sent);
    let open = move || {
        let started = Instant::now();
        let inner = PcscReader::open(&reader_name);
        lock(&recorder).call(CallKind::Open, started);
        inner.map(|inner| {
            Box::new(Recording {
                inner,
                sent: Arc::clone(&recorder),
            }) as Box<dyn CardReader>
        })
    };
    let rig = |e: ReaderError| ChipBenchError::Rig(e.to_string());
    let mut slot: ReaderSlot = Some(open().map_err(rig)?);
    let mut reader = PcscReader::open(lease.reader_name()).map_err(rig)?;
    for round in 0..opts.cards {
        let card_id = format!("5EED{round:012X}");
        let card_row = seed_card(&runtime.store, round)?;

        // The hub's path, recorded.
        let hub_card = blank_card(dir.path(), &lease, &card_id, &transport, "hub")?;
        // The round's calls only (the first also held the reader's open).
        std::mem::take(&mut *lock(&sent));
        let actor = engine::hub_actor();
        let cpu = procfs::own_cpu_time();
        let started = Instant::now();
        // Personalised, then checked, as the hub runs the two on one card.
        let (personalised, checked) = engine::run_job_then(
            &mut slot,
            &open,
            &runtime,
            "bench",
            &JobRequest::Personalise {
                card_id: card_row,
                actor: actor.clone(),
            },
            &JobRequest::Check {
                card_id: card_row,
                permit_chinese_name: None,
                actor,
            },
        )
        .map_err(setup("record a job"))?;
        done(&personalised, round)?;
        let checked = checked
            .ok_or_else(|| ChipBenchError::Setup(format!("card {round}: the check did not run")))?;
        done(&checked, round)?;
        let passed = checked.result.as_ref().and_then(|r| r["passed"].as_bool());
        if passed != Some(true) {
            return Err(ChipBenchError::Job {
                card: round,
                kind: checked.kind.as_str(),
                status: "done, but did not pass".to_owned(),
                error: checked.result.map(|r| r.to_string()).unwrap_or_default(),
            });
        }
        let ended = Instant::now();
        let hub_cpu = procfs::own_cpu_time().saturating_sub(cpu);
        // As a reader actor does when the card leaves.
        engine::end_card_session(&mut slot);
        remove(hub_card, &lease)?;
        let Recorded {
            apdus: recorded,
            in_pcsc,
            calls,
        } = std::mem::take(&mut *lock(&sent));
        hub.push(ended - started, in_pcsc, hub_cpu);
        let hub_span = (started, ended);
        apdus += recorded.len();

        // The same APDUs, bare.
        let bare_card = blank_card(dir.path(), &lease, &card_id, &transport, "bare")?;
        // The loop reads the clock around each call, as the hub's
        // recording reader does.
        let cpu = procfs::own_cpu_time();
        let started = Instant::now();
        let mut in_pcsc = Duration::ZERO;
        let mut took = Vec::with_capacity(recorded.len() + 1);
        let mut timed = |call: &mut dyn FnMut() -> Result<(), ReaderError>| {
            let at = Instant::now();
            let result = call();
            took.push(at.elapsed());
            in_pcsc += at.elapsed();
            result.map_err(|e| ChipBenchError::Rig(e.to_string()))
        };
        timed(&mut || reader.connect(ProtocolPreference::Any).map(drop))?;
        let mut answers = Vec::with_capacity(recorded.len());
        for (apdu, _) in &recorded {
            timed(&mut || {
                answers.push(reader.transmit(apdu)?);
                Ok(())
            })?;
        }
        let bare_round = started.elapsed();
        bare.push(
            bare_round,
            in_pcsc,
            procfs::own_cpu_time().saturating_sub(cpu),
        );
        // The first call connected; the rest are the APDUs.
        gaps.push(hub_span.0, &calls, hub_span.1, &took);
        let _ = reader.disconnect();
        remove(bare_card, &lease)?;
        for (index, ((_, want), got)) in recorded.iter().zip(&answers).enumerate() {
            let got_sw = match got.as_slice() {
                [.., a, b] => [*a, *b],
                _ => [0, 0],
            };
            if &got_sw != want {
                return Err(ChipBenchError::Diverged {
                    card: round,
                    index,
                    got: hex::encode_upper(got_sw),
                    want: hex::encode_upper(want),
                });
            }
        }
    }
    let n = opts.cards.max(1);
    Ok(ChipBenchReport {
        cards: opts.cards,
        apdus_per_card: apdus as f64 / n as f64,
        hub: hub.mean(),
        bare: bare.mean(),
        hub_median: median(&hub.total),
        bare_median: median(&bare.total),
        paired_ratio: paired_ratio(&hub.total, &bare.total),
        hub_outside_pcsc: median(&hub.outside_pcsc),
        bare_outside_pcsc: median(&bare.outside_pcsc),
        hub_cpu: median(&hub.cpu),
        bare_cpu: median(&bare.cpu),
        gaps: opts.gaps.map(|n| gaps.report(n)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn the_paired_ratio_is_the_median_of_each_cards_ratio() {
        // One slow card on each side moves the medians' ratio, not this.
        let (hub, bare) = (ms(&[11, 33, 12, 11]), ms(&[10, 10, 30, 10]));
        assert!((paired_ratio(&hub, &bare) - 1.1).abs() < 1e-9);
        let odd = paired_ratio(&ms(&[10, 30, 12]), &ms(&[10, 10, 10]));
        assert!((odd - 1.2).abs() < 1e-9);
        assert!((paired_ratio(&[], &[]) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_call_is_reported_by_its_kind_or_its_header() {
        assert_eq!(CallKind::Open.to_string(), "open");
        assert_eq!(CallKind::Connect.to_string(), "connect");
        assert_eq!(
            CallKind::Apdu([0x00, 0xA4, 0x04, 0x00]).to_string(),
            "00A40400"
        );
    }
}
