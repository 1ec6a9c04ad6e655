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
use cardhub_storage::applications::{ApplicationKind, NewApplication};
use cardhub_storage::chips::{ChipJobKind, ChipJobStatus};
use cardhub_storage::persons::{NewPerson, Sex};
use cardhub_storage::{Actor, Store, StoreOptions, applications, cards, chips, persons};

/// How long a simulated card gets to be taken by vpcd.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The random seed both cards of a round start from.
const SEED: u64 = 0x5EED_CA4D;

/// Options of `cardhub bench chip`.
#[derive(Clone, Debug)]
pub struct ChipBenchOptions {
    /// Cards personalised and checked.
    pub cards: usize,
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
    /// The hub's time per card.
    pub hub: Duration,
    /// The bare loop's time per card.
    pub bare: Duration,
}

impl fmt::Display for ChipBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let rate = |d: Duration| self.apdus_per_card / d.as_secs_f64();
        writeln!(
            f,
            "personalise + check through pcscd + vpcd: {} cards, {:.0} APDUs per card",
            self.cards, self.apdus_per_card
        )?;
        writeln!(f, "{:<34} {:>10} {:>10}", "", "ms/card", "APDUs/s")?;
        writeln!(
            f,
            "{:<34} {:>10.2} {:>10.0}",
            "cardhub (job, script, Hsm, SQLite)",
            ms(self.hub),
            rate(self.hub)
        )?;
        writeln!(
            f,
            "{:<34} {:>10.2} {:>10.0}",
            "bare SCardTransmit loop",
            ms(self.bare),
            rate(self.bare)
        )?;
        write!(
            f,
            "hub overhead: {:+.1}% of the bare loop (goal: under 10%)",
            (self.hub.as_secs_f64() / self.bare.as_secs_f64() - 1.0) * 100.0
        )
    }
}

/// Every command sent, with the status word of its answer.
type Log = Arc<std::sync::Mutex<Vec<(Vec<u8>, [u8; 2])>>>;

/// A reader that keeps every command it sends and the status word of each
/// answer.
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
        self.inner.connect(protocol)
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let answer = self.inner.transmit(apdu)?;
        let sw = match answer.as_slice() {
            [.., a, b] => [*a, *b],
            _ => [0, 0],
        };
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((apdu.to_vec(), sw));
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
        .with_conn(|conn| {
            let person = persons::create(
                conn,
                hsm.as_ref(),
                &NewPerson {
                    document_type: "resident-id".to_owned(),
                    document_number: format!("BENCH{round:013}"),
                    name: "张三丰".to_owned(),
                    english_name: None,
                    permit_chinese_name: None,
                    nationality: 156,
                    sex: Sex::Male,
                    ethnicity: Some(1),
                    birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).expect("a date"),
                    phone: None,
                    address: None,
                },
                &centre,
            )?;
            let (_, card) = applications::create_application(
                conn,
                hsm.as_ref(),
                &NewApplication {
                    person_id: person,
                    kind: ApplicationKind::FirstIssue,
                    branch_id: None,
                },
                &centre,
            )?;
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

/// Runs one hub job through the engine, as a reader actor does.
fn hub_job(
    runtime: &ChipRuntime,
    slot: &mut ReaderSlot,
    open: &engine::OpenReader<'_>,
    kind: ChipJobKind,
    request: JobRequest,
    card_id: i64,
    round: usize,
) -> Result<(), ChipBenchError> {
    let actor = engine::hub_actor();
    let store = &runtime.store;
    let hsm = store.hsm().clone();
    let job = store
        .with_conn(|conn| {
            chips::start_job(conn, hsm.as_ref(), kind, Some(card_id), "bench", &actor)
        })
        .map_err(setup("start a job"))?;
    let outcome = engine::execute(slot, open, runtime, &job, &request);
    let status = outcome.status;
    let error = outcome.error.clone().unwrap_or_default();
    store
        .with_conn(|conn| chips::finish_job(conn, hsm.as_ref(), job.id, &outcome, &actor))
        .map_err(setup("finish a job"))?;
    if status != ChipJobStatus::Done {
        return Err(ChipBenchError::Job {
            card: round,
            kind: kind.as_str(),
            status: status.to_string(),
            error,
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

    let (mut hub_time, mut bare_time, mut apdus) = (Duration::ZERO, Duration::ZERO, 0usize);
    for round in 0..opts.cards {
        let card_id = format!("5EED{round:012X}");
        let card_row = seed_card(&runtime.store, round)?;

        // The hub's path, recorded.
        let hub_card = blank_card(dir.path(), &lease, &card_id, &transport, "hub")?;
        let sent: Log = Arc::default();
        let reader_name = lease.reader_name().to_owned();
        let recorder = Arc::clone(&sent);
        let open = move || {
            PcscReader::open(&reader_name).map(|inner| {
                Box::new(Recording {
                    inner,
                    sent: Arc::clone(&recorder),
                }) as Box<dyn CardReader>
            })
        };
        let mut slot: ReaderSlot = None;
        let actor = engine::hub_actor();
        let started = Instant::now();
        hub_job(
            &runtime,
            &mut slot,
            &open,
            ChipJobKind::Personalise,
            JobRequest::Personalise {
                card_id: card_row,
                actor: actor.clone(),
            },
            card_row,
            round,
        )?;
        hub_job(
            &runtime,
            &mut slot,
            &open,
            ChipJobKind::Check,
            JobRequest::Check {
                card_id: card_row,
                permit_chinese_name: None,
                actor,
            },
            card_row,
            round,
        )?;
        hub_time += started.elapsed();
        drop(slot);
        remove(hub_card, &lease)?;
        let recorded = std::mem::take(
            &mut *sent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        apdus += recorded.len();

        // The same APDUs, bare.
        let bare_card = blank_card(dir.path(), &lease, &card_id, &transport, "bare")?;
        // Opening the reader is timed on both sides.
        let started = Instant::now();
        let mut reader = PcscReader::open(lease.reader_name())
            .map_err(|e| ChipBenchError::Rig(e.to_string()))?;
        reader
            .connect(ProtocolPreference::Any)
            .map_err(|e| ChipBenchError::Rig(e.to_string()))?;
        let mut answers = Vec::with_capacity(recorded.len());
        for (apdu, _) in &recorded {
            answers.push(
                reader
                    .transmit(apdu)
                    .map_err(|e| ChipBenchError::Rig(e.to_string()))?,
            );
        }
        bare_time += started.elapsed();
        let _ = reader.disconnect();
        drop(reader);
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
        hub: hub_time / n as u32,
        bare: bare_time / n as u32,
    })
}
