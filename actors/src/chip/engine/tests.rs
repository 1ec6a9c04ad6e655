//! The engine's ordering promises, against a scripted blank card and a real
//! SQLite store: a job is stored `running` before any APDU that changes the
//! card and its chip bound before any that writes the holder's data, even
//! while the store's writes are held up (the format goes out meanwhile); a
//! refused recording reaches the card with reads only; the outcome is
//! written after the phases written behind.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use cardhub_devices::reader::{Atr, CardReader, ProtocolPreference, ReaderError, ReaderState};
use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::chip::profile::{LifeCycle, get_data, ins};
use cardhub_protocols::crypto::SoftHsm;
use cardhub_protocols::roles::Role;
use cardhub_storage::applications::{self, ApplicationKind, NewApplication};
use cardhub_storage::chips::{self, ChipJobStatus};
use cardhub_storage::persons::{self, NewPerson, Sex};
use cardhub_storage::{Actor, Store, StoreOptions, audit, cards, write_tx};
use chrono::NaiveDate;

use super::*;
use crate::chip::{ChipConfig, ChipRuntime};

/// The blank card's identification code.
const CHIP: &str = "5EED0000000000A1";

/// How long a test waits for an event before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// How long the store's writes are held back once the job is recorded: the
/// window in which an engine that did not wait for the chip's binding would
/// send a formatting command too early. A correct engine only waits longer.
const HOLD: Duration = Duration::from_millis(300);

/// A SQLite file of its own, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let name = format!(
            "cardhub-engine-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Self(dir)
    }

    fn store(&self) -> Store {
        let url = format!("sqlite://{}", self.0.join("hub.db").display());
        let store = Store::open(
            &url,
            Arc::new(SoftHsm::for_tests()),
            StoreOptions::default(),
        )
        .expect("SQLite opens");
        store.migrate().expect("migrations apply");
        store
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A resident's card in data-prepared, with a number.
fn seed_card(store: &Store) -> i64 {
    let hsm = store.hsm().clone();
    let centre = Actor::new("seed", Role::CentreStaff);
    store
        .with_conn(|conn| {
            let person = persons::create(
                conn,
                hsm.as_ref(),
                &NewPerson {
                    document_type: "resident-id".to_owned(),
                    document_number: "11010519491231002X".to_owned(),
                    name: "张三".to_owned(),
                    english_name: None,
                    permit_chinese_name: None,
                    nationality: 156,
                    sex: Sex::Male,
                    ethnicity: Some(1),
                    birth_date: chrono::NaiveDate::from_ymd_opt(1949, 12, 31).expect("a date"),
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
            cards::assign_card_number(conn, hsm.as_ref(), card.id, "A00000001", &centre)?;
            for to in [CardStatus::PhotoApproved, CardStatus::DataPrepared] {
                cards::transition_card(conn, hsm.as_ref(), card.id, None, to, &centre, "test")?;
            }
            Ok(card.id)
        })
        .expect("seeding works")
}

/// Whether a command can change the card (anything but the reads).
fn changes_the_card(apdu: &[u8]) -> bool {
    !matches!(
        apdu.get(1),
        Some(
            &(ins::SELECT
                | ins::GET_DATA
                | ins::READ_RECORD
                | ins::GET_CHALLENGE
                | ins::GET_RESPONSE)
        )
    )
}

/// Whether a command writes the holder's data: UPDATE RECORD, or SET
/// STATUS SECURED (the format's SET STATUS INITIALIZED does not).
fn writes_the_holder(apdu: &[u8]) -> bool {
    match apdu {
        [_, ins::UPDATE_RECORD, ..] => true,
        [_, ins::SET_STATUS, _, state, ..] => *state == LifeCycle::Secured.to_byte(),
        _ => false,
    }
}

/// What the scripted card saw.
#[derive(Default)]
struct Seen {
    /// APDUs that change the card.
    changing: usize,
    /// Of which sent while the chip's binding was not yet stored.
    before_binding: usize,
    /// The commands that wrote the holder's data, as sent.
    holder_writes: Vec<Vec<u8>>,
    /// Broken promises found when one arrived.
    broken: Vec<String>,
}

/// A blank card (OP_READY, no SSSE) that accepts every command, and checks
/// the store each time a command could change it.
struct ScriptedCard {
    store: Store,
    card_id: i64,
    seen: Arc<Mutex<Seen>>,
    /// Sent on SELECT SSSE, the last read of a blank card's observation.
    observed: Option<mpsc::Sender<()>>,
    /// Whether a command that changes the card came (the SSSE exists).
    formatting: bool,
    /// How the card departs from a good blank card.
    quirks: Quirks,
}

/// What a [`ScriptedCard`] does differently.
#[derive(Clone, Default)]
struct Quirks {
    /// Refuses every command that writes the holder's data (6982).
    refuse_holder: bool,
    /// Takes this long over the first command that changes the card; the
    /// first that writes the holder's data then waits (a while) for the
    /// job's phase to be stored as `format`.
    slow_format: Option<Duration>,
    /// The job's phase as stored when the first holder write came.
    phases: Arc<Mutex<Vec<String>>>,
}

impl ScriptedCard {
    /// Broken promises, and whether the chip is bound yet.
    fn check_before_a_change(&self, apdu: &[u8]) -> (Vec<String>, bool) {
        let job = self
            .store
            .with_conn(|conn| chips::jobs_of_card(conn, self.card_id))
            .ok()
            .and_then(|jobs| jobs.into_iter().last());
        let mut broken = Vec::new();
        match job {
            Some(job) if job.status == ChipJobStatus::Running => {}
            other => broken.push(format!(
                "a command that changes the card came before the job was stored running: {other:?}"
            )),
        }
        let bound = self
            .store
            .with_conn(|conn| chips::chip_of_card(conn, self.card_id));
        let is_bound = matches!(&bound, Ok(Some(chip)) if chip.chip_id == CHIP);
        if !is_bound && writes_the_holder(apdu) {
            broken.push(format!(
                "{} came before the chip was bound: {bound:?}",
                hex::encode_upper(&apdu[..apdu.len().min(4)])
            ));
        }
        (broken, is_bound)
    }
}

impl ScriptedCard {
    /// Notes the phase of the card's last job as stored, once it is
    /// `awaited` (it is written behind) or the test's patience ran out.
    fn note_phase(&self, awaited: &str) {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let phase = self
                .store
                .with_conn(|conn| chips::jobs_of_card(conn, self.card_id))
                .ok()
                .and_then(|jobs| jobs.into_iter().last())
                .map_or_else(|| "no job".to_owned(), |job| job.phase);
            if phase == awaited || std::time::Instant::now() > deadline {
                self.quirks.phases.lock().expect("phases").push(phase);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl CardReader for ScriptedCard {
    fn name(&self) -> &str {
        "scripted"
    }
    fn status(&self) -> ReaderState {
        ReaderState::Present {
            atr: Atr::new(vec![0x3B, 0x00]),
        }
    }
    fn connect(&mut self, _: ProtocolPreference) -> Result<Atr, ReaderError> {
        Ok(Atr::new(vec![0x3B, 0x00]))
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let ok = |mut data: Vec<u8>| {
            data.extend_from_slice(&[0x90, 0x00]);
            Ok(data)
        };
        let (ins_byte, p1p2) = match apdu {
            [_, ins, p1, p2, ..] => (*ins, u16::from_be_bytes([*p1, *p2])),
            _ => return Ok(vec![0x67, 0x00]),
        };
        match ins_byte {
            ins::GET_DATA if p1p2 == get_data::CARD_ID_CODE => ok(CHIP.as_bytes().to_vec()),
            ins::GET_DATA if p1p2 == get_data::LIFE_CYCLE => ok(vec![LifeCycle::OpReady.to_byte()]),
            // SELECT by name: the SSSE, which a blank card lacks until
            // the script creates it.
            ins::SELECT if apdu.get(2) == Some(&0x04) && !self.formatting => {
                if let Some(observed) = self.observed.take() {
                    let _ = observed.send(());
                }
                Ok(vec![0x6A, 0x82])
            }
            ins::GET_CHALLENGE => ok(rand::random::<[u8; 8]>().to_vec()),
            _ if changes_the_card(apdu) => {
                self.formatting = true;
                let (broken, is_bound) = self.check_before_a_change(apdu);
                let mut seen = self.seen.lock().expect("seen");
                seen.changing += 1;
                seen.before_binding += usize::from(!is_bound);
                let first_change = seen.changing == 1;
                let first_holder_write = writes_the_holder(apdu) && seen.holder_writes.is_empty();
                if writes_the_holder(apdu) {
                    seen.holder_writes.push(apdu.to_vec());
                }
                seen.broken.extend(broken);
                drop(seen);
                if let Some(slow) = self.quirks.slow_format {
                    if first_change {
                        std::thread::sleep(slow);
                    }
                    if first_holder_write {
                        self.note_phase("format");
                    }
                }
                if self.quirks.refuse_holder && writes_the_holder(apdu) {
                    return Ok(vec![0x69, 0x82]);
                }
                ok(Vec::new())
            }
            _ => ok(Vec::new()),
        }
    }
    fn reconnect(&mut self, _: bool) -> Result<Atr, ReaderError> {
        Ok(Atr::new(vec![0x3B, 0x00]))
    }
    fn is_connected(&self) -> bool {
        true
    }
    fn disconnect(&mut self) -> Result<(), ReaderError> {
        Ok(())
    }
}

/// Holds the store's write lock until `release` says so (or `until`
/// passes); returns once the lock is held.
fn hold_writes(
    store: &Store,
    release: mpsc::Receiver<()>,
    until: Duration,
) -> std::thread::JoinHandle<()> {
    let (locked_tx, locked) = mpsc::channel();
    let store = store.clone();
    let holder = std::thread::spawn(move || {
        store
            .with_conn(|conn| {
                write_tx(conn, |_| {
                    locked_tx.send(()).expect("the test waits");
                    let _ = release.recv_timeout(until);
                    Ok(())
                })
            })
            .expect("the write lock is taken");
    });
    locked.recv_timeout(PATIENCE).expect("the lock is held");
    holder
}

/// Personalises card `card_id` on a fresh scripted blank card through
/// [`run_job`]; returns the job and what the card saw. `observed` hears of
/// the end of the card's observation; `recorded` is run_job's own.
fn personalise_scripted(
    store: &Store,
    card_id: i64,
    observed: Option<mpsc::Sender<()>>,
    recorded: impl FnOnce(&ChipJob) + Send + 'static,
) -> (Result<ChipJob, ChipError>, Arc<Mutex<Seen>>) {
    personalise_on(store, card_id, observed, Quirks::default(), recorded)
}

/// Personalises card `card_id` on a scripted card with `quirks`.
fn personalise_quirky(store: &Store, card_id: i64, quirks: Quirks) -> ChipJob {
    let (job, _) = personalise_on(store, card_id, None, quirks, |_| {});
    job.expect("the job is recorded")
}

fn personalise_on(
    store: &Store,
    card_id: i64,
    observed: Option<mpsc::Sender<()>>,
    quirks: Quirks,
    recorded: impl FnOnce(&ChipJob) + Send + 'static,
) -> (Result<ChipJob, ChipError>, Arc<Mutex<Seen>>) {
    on_scripted(store, card_id, observed, quirks, |slot, open, runtime| {
        run_job(
            slot,
            open,
            runtime,
            "scripted",
            &personalisation(card_id),
            recorded,
        )
    })
}

fn personalisation(card_id: i64) -> JobRequest {
    JobRequest::Personalise {
        card_id,
        actor: hub_actor(),
    }
}

/// Runs `jobs` on a fresh scripted blank card for card `card_id`; returns
/// what they return and what the card saw.
fn on_scripted<T>(
    store: &Store,
    card_id: i64,
    observed: Option<mpsc::Sender<()>>,
    quirks: Quirks,
    jobs: impl FnOnce(&mut ReaderSlot, &OpenReader<'_>, &ChipRuntime) -> T,
) -> (T, Arc<Mutex<Seen>>) {
    let runtime = ChipRuntime::new(ChipConfig::default(), store.clone()).expect("chip settings");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let card = Mutex::new(Some(ScriptedCard {
        store: store.clone(),
        card_id,
        seen: Arc::clone(&seen),
        observed,
        formatting: false,
        quirks,
    }));
    let open = || {
        card.lock()
            .expect("card")
            .take()
            .map(|c| Box::new(c) as Box<dyn CardReader>)
            .ok_or(ReaderError::NoCard {
                reader: "scripted".to_owned(),
            })
    };
    (jobs(&mut None, &open, &runtime), seen)
}

/// The chip actions in the audit log, in order.
fn chip_actions(store: &Store) -> Vec<String> {
    store
        .with_conn(|conn| audit::list(conn, 0, 1000))
        .expect("the audit log reads")
        .into_iter()
        .map(|r| r.action)
        .filter(|a| a.starts_with("chip."))
        .collect()
}

/// Binds `chip` to card `card_id` before any job, with these dates.
fn bind_beforehand(store: &Store, card_id: i64, chip: &str, dates: (NaiveDate, NaiveDate)) {
    let config = ChipConfig::default();
    let hsm = store.hsm().clone();
    store
        .with_writer(|conn| {
            chips::bind_chip(
                conn,
                hsm.as_ref(),
                &chips::NewCardChip {
                    card_id,
                    chip_id: chip.to_owned(),
                    algorithm: chips::ChipAlgorithm::Sm4,
                    card_type: "3".to_owned(),
                    spec_version: config.spec_version.clone(),
                    institution: config.institution.to_uppercase(),
                    issued_on: dates.0,
                    expires_on: dates.1,
                    chip_name: "张三".to_owned(),
                    substitutions: serde_json::json!([]),
                },
                &hub_actor(),
            )
        })
        .expect("the chip binds");
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a date")
}

#[test]
fn nothing_changes_the_card_before_the_job_is_stored_nor_writes_its_holder_before_the_chip_is_bound()
 {
    let scratch = Scratch::new();
    let store = scratch.store();
    let card_id = seed_card(&store);
    // The recording waits until the card has been observed.
    let (observed_tx, observed) = mpsc::channel();
    let holder = hold_writes(&store, observed, PATIENCE);
    // Once recorded, writes are held back again for a while: the format
    // goes out meanwhile, and the chip's binding must still come before the
    // first command that writes the holder's data.
    let (recorded_tx, recorded) = mpsc::channel();
    let (never, release) = mpsc::channel::<()>();
    let second_store = store.clone();
    let (job, seen) = personalise_scripted(&store, card_id, Some(observed_tx), move |job| {
        let holder = hold_writes(&second_store, release, HOLD);
        let _ = recorded_tx.send((job.id, holder));
    });
    let job = job.expect("the job is recorded");
    holder.join().expect("the first lock holder ends");
    let (recorded_id, second) = recorded.recv_timeout(PATIENCE).expect("reported");
    drop(never);
    second.join().expect("the second lock holder ends");

    assert_eq!(job.status, ChipJobStatus::Done, "{:?}", job.error);
    let seen = seen.lock().expect("seen");
    assert_eq!(seen.broken, Vec::<String>::new());
    assert!(
        seen.changing > 10,
        "the script ran: {} commands",
        seen.changing
    );
    assert!(
        seen.before_binding > 0 && seen.before_binding < seen.changing,
        "the format went out while the binding was held up, the records after it: {} of {} commands",
        seen.before_binding,
        seen.changing
    );
    assert_eq!(recorded_id, job.id);
    // The outcome came last: the row says done, with every APDU counted.
    let stored = store
        .with_conn(|conn| chips::get_job(conn, job.id))
        .expect("the job is stored");
    assert_eq!(stored, job);
    assert_eq!(stored.phase, "done");
    let hsm = store.hsm().clone();
    assert_eq!(
        chip_actions(&store),
        [
            "chip.personalise.start",
            "chip.bind",
            "chip.personalise.done"
        ]
    );
    assert!(
        store
            .with_conn(|conn| audit::verify(conn, hsm.as_ref()))
            .expect("the chain verifies")
            .is_intact()
    );
}

#[test]
fn a_chip_bound_by_an_earlier_attempt_keeps_its_dates() {
    let scratch = Scratch::new();
    let store = scratch.store();
    let card_id = seed_card(&store);
    bind_beforehand(&store, card_id, CHIP, (date(2020, 1, 2), date(2030, 1, 2)));
    let (job, seen) = personalise_scripted(&store, card_id, None, |_| {});
    let job = job.expect("the job is recorded");
    assert_eq!(job.status, ChipJobStatus::Done, "{:?}", job.error);
    let seen = seen.lock().expect("seen");
    assert_eq!(seen.broken, Vec::<String>::new());
    // The dates go to the card as BCD: 2020-01-02 and 2030-01-02.
    for (what, bcd) in [
        ("issue", [0x20, 0x20, 0x01, 0x02]),
        ("expiry", [0x20, 0x30, 0x01, 0x02]),
    ] {
        assert!(
            seen.holder_writes
                .iter()
                .any(|apdu| apdu.windows(4).any(|w| w == bcd)),
            "the {what} date of the binding went to the card: {:02X?}",
            seen.holder_writes
        );
    }
    let chip = store
        .with_conn(|conn| chips::chip_of_card(conn, card_id))
        .expect("the binding reads")
        .expect("still bound");
    assert_eq!(
        (chip.issued_on, chip.expires_on),
        (date(2020, 1, 2), date(2030, 1, 2))
    );
}

#[test]
fn a_refused_recording_reaches_the_card_with_reads_only() {
    let scratch = Scratch::new();
    let store = scratch.store();
    let (refused, seen) = personalise_scripted(&store, 404, None, |_| {
        panic!("a refused job is never reported recorded")
    });
    assert!(
        matches!(
            refused,
            Err(ChipError::Storage(StorageError::NotFound {
                what: "card",
                ..
            }))
        ),
        "{refused:?}"
    );
    assert_eq!(seen.lock().expect("seen").changing, 0);
    let jobs = store
        .with_conn(|conn| chips::recent_jobs(conn, 10))
        .expect("jobs read");
    assert!(jobs.is_empty(), "{jobs:?}");
}

#[test]
fn a_card_read_with_the_recording_that_fails_is_the_jobs_failure_and_the_job_is_still_recorded() {
    let scratch = Scratch::new();
    let store = scratch.store();
    let card_id = seed_card(&store);
    // The holder's row is damaged: the read in the recording's transaction
    // fails, so the job is recorded on its own and fails with the read's
    // error, with nothing but reads sent to the card.
    store
        .with_writer(|conn| {
            let DbConnection::Sqlite(c) = conn else {
                unreachable!("the scratch store is SQLite")
            };
            diesel::RunQueryDsl::execute(diesel::sql_query("UPDATE persons SET sex = 7"), c)
                .map_err(|e| StorageError::Task(e.to_string()))
        })
        .expect("the row is damaged");
    let (job, seen) = personalise_scripted(&store, card_id, None, |_| {});
    let job = job.expect("the job is recorded");
    assert_eq!(job.status, ChipJobStatus::Failed);
    let error = job.error.unwrap_or_default();
    assert!(error.contains("persons.sex"), "{error}");
    assert_eq!(seen.lock().expect("seen").changing, 0);
    assert_eq!(
        chip_actions(&store),
        ["chip.personalise.start", "chip.personalise.failed"]
    );
}

#[test]
fn a_refused_binding_stops_the_job_before_the_holders_records() {
    let scratch = Scratch::new();
    let store = scratch.store();
    let card_id = seed_card(&store);
    // The card already has another chip (one lost mid-job, say).
    let today = chrono::Utc::now().date_naive();
    bind_beforehand(&store, card_id, "5EED0000000000B2", (today, today));
    let (job, seen) = personalise_scripted(&store, card_id, None, |_| {});
    let job = job.expect("the job is recorded");
    assert_eq!(job.status, ChipJobStatus::Failed);
    let error = job.error.unwrap_or_default();
    assert!(
        error.contains("already bound to chip 5EED0000000000B2"),
        "{error}"
    );
    let seen = seen.lock().expect("seen");
    assert!(
        seen.holder_writes.is_empty(),
        "none of the holder's records reached the chip: {:02X?}",
        seen.holder_writes
    );
}

#[test]
fn a_slow_jobs_phase_is_written_while_it_runs_and_a_quick_one_that_fails_writes_the_phase_it_reached()
 {
    let scratch = Scratch::new();
    let store = scratch.store();
    // Slow: the format's end comes after the progress interval, so its
    // phase is written behind while the holder's records go out.
    let slow = Quirks {
        slow_format: Some(PROGRESS_INTERVAL * 2),
        ..Quirks::default()
    };
    let card_id = seed_card(&store);
    let phases = Arc::clone(&slow.phases);
    let job = personalise_quirky(&store, card_id, slow);
    assert_eq!(job.status, ChipJobStatus::Done, "{:?}", job.error);
    let phases = phases.lock().expect("phases").clone();
    assert_eq!(
        phases,
        ["format"],
        "the format's phase was stored while the job ran"
    );

    // Quick, refused at the first of the holder's records: the phase
    // reached is written with the end.
    let scratch = Scratch::new();
    let store = scratch.store();
    let card_id = seed_card(&store);
    let refusing = Quirks {
        refuse_holder: true,
        ..Quirks::default()
    };
    let job = personalise_quirky(&store, card_id, refusing);
    assert_eq!(job.status, ChipJobStatus::Failed);
    let stored = store
        .with_conn(|conn| chips::get_job(conn, job.id))
        .expect("the job is stored");
    assert_eq!(stored.phase, "format", "{stored:?}");
    assert!(stored.error.unwrap_or_default().contains("6982"));
}

#[test]
fn a_check_after_a_personalisation_is_recorded_after_its_end_and_only_if_it_ended_done() {
    let scratch = Scratch::new();
    let store = scratch.store();
    let card_id = seed_card(&store);
    let check = JobRequest::Check {
        card_id,
        permit_chinese_name: None,
        actor: hub_actor(),
    };
    let ((first, second), seen) = on_scripted(
        &store,
        card_id,
        None,
        Quirks::default(),
        |slot, open, runtime| {
            run_job_then(
                slot,
                open,
                runtime,
                "scripted",
                &personalisation(card_id),
                &check,
            )
            .expect("both are recorded")
        },
    );
    assert_eq!(first.status, ChipJobStatus::Done, "{:?}", first.error);
    assert_eq!(seen.lock().expect("seen").broken, Vec::<String>::new());
    let second = second.expect("the check ran after a personalisation that ended done");
    // The scripted card answers the check's reads with nothing: the check
    // ends, whatever it found, and neither job is left running.
    assert_ne!(second.status, ChipJobStatus::Running);
    for job in [&first, &second] {
        let stored = store
            .with_conn(|conn| chips::get_job(conn, job.id))
            .expect("the job is stored");
        assert_eq!(&stored, job);
    }
    let actions = chip_actions(&store);
    assert_eq!(
        actions[..4],
        [
            "chip.personalise.start",
            "chip.bind",
            "chip.personalise.done",
            "chip.check.start",
        ],
        "{actions:?}"
    );
    assert_eq!(actions[4], format!("chip.check.{}", second.status));

    // A personalisation that fails is not followed by its check.
    let refusing = Quirks {
        refuse_holder: true,
        ..Quirks::default()
    };
    let scratch = Scratch::new();
    let store = scratch.store();
    let other = seed_card(&store);
    let check = JobRequest::Check {
        card_id: other,
        permit_chinese_name: None,
        actor: hub_actor(),
    };
    let ((first, second), _) = on_scripted(&store, other, None, refusing, |slot, open, runtime| {
        run_job_then(
            slot,
            open,
            runtime,
            "scripted",
            &personalisation(other),
            &check,
        )
        .expect("the personalisation is recorded")
    });
    assert_eq!(first.status, ChipJobStatus::Failed);
    assert!(second.is_none());
    let jobs = store
        .with_conn(|conn| chips::jobs_of_card(conn, other))
        .expect("jobs read");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
}
