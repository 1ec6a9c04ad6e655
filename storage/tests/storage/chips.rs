//! Chips bound to cards and the jobs that personalise and check them.

use cardhub_protocols::crypto::Hsm;
use cardhub_storage::applications::{self, ApplicationKind, NewApplication};
use cardhub_storage::chips::{
    self, ChipAlgorithm, ChipJobKind, ChipJobStatus, JobOutcome, NewCardChip,
};
use cardhub_storage::{StorageError, audit, persons};
use serde_json::json;

use super::*;

fn new_card(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    person: &NewPerson,
) -> Result<i64, StorageError> {
    let person_id = persons::create(conn, hsm, person, &admin())?;
    let (_, card) = applications::create_application(
        conn,
        hsm,
        &NewApplication {
            person_id,
            kind: ApplicationKind::FirstIssue,
            branch_id: None,
        },
        &admin(),
    )?;
    Ok(card.id)
}

fn chip(card_id: i64, chip_id: &str) -> NewCardChip {
    NewCardChip {
        card_id,
        chip_id: chip_id.to_owned(),
        algorithm: ChipAlgorithm::Sm4,
        card_type: "1".to_owned(),
        spec_version: "3.00".to_owned(),
        institution: "310000000000000000000000".to_owned(),
        issued_on: NaiveDate::from_ymd_opt(2026, 11, 22).expect("date"),
        expires_on: NaiveDate::from_ymd_opt(2036, 11, 22).expect("date"),
        chip_name: "吉张三".to_owned(),
        substitutions: json!([{"from": "𠀀", "to": "吉"}]),
    }
}

#[test]
fn a_chip_belongs_to_one_card_and_a_card_to_one_chip() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let first = new_card(conn, hsm.as_ref(), &resident())?;
            let second = new_card(conn, hsm.as_ref(), &foreigner())?;
            let bound = chips::bind_chip(
                conn,
                hsm.as_ref(),
                &chip(first, "31000086F1A2B3C4"),
                &admin(),
            )?;
            assert_eq!(bound.chip_id, "31000086F1A2B3C4");
            // What bind returns is what is stored (it is built, not read back).
            assert_eq!(chips::chip_of_card(conn, first)?.as_ref(), Some(&bound));
            assert_eq!(bound.substitutions, json!([{"from": "𠀀", "to": "吉"}]));
            assert_eq!(bound.personalised_at, None);
            // The same binding again is the resumed personalisation.
            let again = chips::bind_chip(
                conn,
                hsm.as_ref(),
                &chip(first, "31000086F1A2B3C4"),
                &admin(),
            )?;
            assert_eq!(again, bound);
            let other_chip = chips::bind_chip(
                conn,
                hsm.as_ref(),
                &chip(first, "31000086F1A2B3C5"),
                &admin(),
            );
            assert!(
                matches!(&other_chip, Err(StorageError::Conflict { what }) if what.contains("register that chip as waste")),
                "{other_chip:?}"
            );
            let other_card = chips::bind_chip(
                conn,
                hsm.as_ref(),
                &chip(second, "31000086F1A2B3C4"),
                &admin(),
            );
            assert!(
                matches!(&other_card, Err(StorageError::Conflict { what }) if what.contains(&format!("belongs to card {first}"))),
                "{other_card:?}"
            );
            chips::mark_personalised(conn, first)?;
            let found = chips::find_chip(conn, "31000086F1A2B3C4")?.expect("bound");
            assert!(found.personalised_at.is_some());
            assert_eq!(chips::chip_of_card(conn, second)?, None);
            Ok(())
        });
    });
}

#[test]
fn a_job_is_audited_at_start_and_end_and_an_interrupted_one_resumes() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let card = new_card(conn, hsm.as_ref(), &resident())?;
            let job = chips::start_job(
                conn,
                hsm.as_ref(),
                ChipJobKind::Personalise,
                Some(card),
                "vpcd 0",
                &admin(),
            )?;
            assert_eq!(
                (job.status, job.phase.as_str(), job.attempts),
                (ChipJobStatus::Running, "start", 1)
            );
            // Each step returns the row as stored (built, not read back).
            assert_eq!(chips::get_job(conn, job.id)?, job);
            chips::record_phase(conn, job.id, "observe", Some("31000086F1A2B3C4"), 9)?;
            // A phase without a chip keeps the one recorded.
            chips::record_phase(conn, job.id, "format", None, 12)?;
            assert_eq!(
                chips::get_job(conn, job.id)?.chip_id.as_deref(),
                Some("31000086F1A2B3C4")
            );
            let paused = chips::finish_job(
                conn,
                hsm.as_ref(),
                job.id,
                &JobOutcome {
                    status: ChipJobStatus::Interrupted,
                    result: None,
                    error: Some("card removed from reader vpcd 0".to_owned()),
                    apdus: 13,
                    chip_id: None,
                },
                &admin(),
            )?;
            assert_eq!(
                paused.finished_at, None,
                "an interrupted job is not finished"
            );
            assert_eq!(chips::get_job(conn, job.id)?, paused);
            assert_eq!(
                (
                    paused.phase.as_str(),
                    paused.chip_id.as_deref(),
                    paused.apdus
                ),
                ("format", Some("31000086F1A2B3C4"), 13)
            );
            let waiting =
                chips::interrupted_personalisation(conn, "31000086F1A2B3C4")?.expect("waits");
            assert_eq!(waiting.id, job.id);
            assert_eq!(waiting.phase, "format");

            // Finishing twice or resuming a running job is refused.
            let resumed = chips::resume_job(conn, hsm.as_ref(), job.id, "vpcd 1", &admin())?;
            assert_eq!(
                (resumed.status, resumed.attempts, resumed.reader.as_str()),
                (ChipJobStatus::Running, 2, "vpcd 1")
            );
            assert_eq!(chips::get_job(conn, job.id)?, resumed);
            assert!(matches!(
                chips::resume_job(conn, hsm.as_ref(), job.id, "vpcd 1", &admin()),
                Err(StorageError::Conflict { .. })
            ));
            let done = chips::finish_job(
                conn,
                hsm.as_ref(),
                job.id,
                &JobOutcome {
                    status: ChipJobStatus::Done,
                    result: Some(json!({"records_written": 14})),
                    error: None,
                    apdus: 40,
                    chip_id: None,
                },
                &admin(),
            )?;
            assert!(done.finished_at.is_some());
            assert_eq!(done.result, Some(json!({"records_written": 14})));
            assert_eq!(chips::get_job(conn, job.id)?, done);
            assert!(matches!(
                chips::finish_job(
                    conn,
                    hsm.as_ref(),
                    job.id,
                    &JobOutcome {
                        status: ChipJobStatus::Failed,
                        result: None,
                        error: None,
                        apdus: 40,
                        chip_id: None,
                    },
                    &admin()
                ),
                Err(StorageError::Conflict { what }) if what == format!("chip job {} is already done", job.id)
            ));
            assert_eq!(
                chips::interrupted_personalisation(conn, "31000086F1A2B3C4")?,
                None
            );

            let actions: Vec<String> = audit::list(conn, 0, 100)?
                .into_iter()
                .map(|r| r.action)
                .filter(|a| a.starts_with("chip."))
                .collect();
            assert_eq!(
                actions,
                [
                    "chip.personalise.start",
                    "chip.personalise.interrupted",
                    "chip.personalise.resume",
                    "chip.personalise.done"
                ]
            );
            assert!(audit::verify(conn, hsm.as_ref())?.is_intact());
            Ok(())
        });
    });
}

#[test]
fn a_job_ended_by_the_attempt_that_recorded_it_reads_back_as_returned() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let card = new_card(conn, hsm.as_ref(), &resident())?;
            let outcome = |status, chip_id: Option<&str>| JobOutcome {
                status,
                result: (status == ChipJobStatus::Done).then(|| json!({"mismatches": []})),
                error: (status != ChipJobStatus::Done).then(|| "card removed".to_owned()),
                apdus: 24,
                chip_id: chip_id.map(str::to_owned),
            };
            let start = |conn: &mut DbConnection| {
                chips::start_job(
                    conn,
                    hsm.as_ref(),
                    ChipJobKind::Check,
                    Some(card),
                    "vpcd 2",
                    &admin(),
                )
            };

            // Done with its chip: written without a read back, and the row
            // as stored is the job as returned.
            let job = start(conn)?;
            chips::record_phase(conn, job.id, "compare", Some("31000086F1A2B3C4"), 20)?;
            let done = chips::finish_recorded_job(
                conn,
                hsm.as_ref(),
                &job,
                &outcome(ChipJobStatus::Done, Some("31000086F1A2B3C4")),
                &admin(),
            )?;
            assert_eq!(
                (
                    done.status,
                    done.phase.as_str(),
                    done.apdus,
                    done.error.as_deref()
                ),
                (ChipJobStatus::Done, "done", 24, None)
            );
            assert_eq!(done.finished_at, Some(done.updated_at));
            assert_eq!(chips::get_job(conn, job.id)?, done);
            assert!(matches!(
                chips::finish_recorded_job(
                    conn,
                    hsm.as_ref(),
                    &job,
                    &outcome(ChipJobStatus::Done, Some("31000086F1A2B3C4")),
                    &admin(),
                ),
                Err(StorageError::Conflict { what }) if what == format!("chip job {} is already done", job.id)
            ));

            // Interrupted: the phase its progress wrote stays.
            let job = start(conn)?;
            chips::record_phase(conn, job.id, "authenticate", Some("31000086F1A2B3C4"), 9)?;
            let paused = chips::finish_recorded_job(
                conn,
                hsm.as_ref(),
                &job,
                &outcome(ChipJobStatus::Interrupted, None),
                &admin(),
            )?;
            assert_eq!(
                (
                    paused.phase.as_str(),
                    paused.chip_id.as_deref(),
                    paused.finished_at
                ),
                ("authenticate", Some("31000086F1A2B3C4"), None)
            );
            assert_eq!(chips::get_job(conn, job.id)?, paused);

            // Taken up again by another reader: the attempt that recorded
            // the job no longer ends it, and the row is left as it was.
            let resumed = chips::resume_job(conn, hsm.as_ref(), job.id, "vpcd 3", &admin())?;
            let stale = chips::finish_recorded_job(
                conn,
                hsm.as_ref(),
                &job,
                &outcome(ChipJobStatus::Done, Some("31000086F1A2B3C4")),
                &admin(),
            );
            assert!(matches!(
                stale,
                Err(StorageError::Conflict { what }) if what.contains("was taken up again (attempt 2 of it is running)")
            ));
            assert_eq!(chips::get_job(conn, job.id)?, resumed);

            let ends: Vec<String> = audit::list(conn, 0, 100)?
                .into_iter()
                .map(|r| r.action)
                .filter(|a| a.starts_with("chip.check.") && !a.ends_with(".start"))
                .collect();
            assert_eq!(
                ends,
                [
                    "chip.check.done",
                    "chip.check.interrupted",
                    "chip.check.resume"
                ]
            );
            assert!(audit::verify(conn, hsm.as_ref())?.is_intact());
            Ok(())
        });
    });
}

#[test]
fn jobs_left_running_by_a_stopped_hub_become_interrupted() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let card = new_card(conn, hsm.as_ref(), &resident())?;
            let a = chips::start_job(
                conn,
                hsm.as_ref(),
                ChipJobKind::Personalise,
                Some(card),
                "r0",
                &admin(),
            )?;
            let b = chips::start_job(
                conn,
                hsm.as_ref(),
                ChipJobKind::Check,
                Some(card),
                "r1",
                &admin(),
            )?;
            let n = chips::interrupt_running_jobs(conn, hsm.as_ref(), "the hub stopped", &admin())?;
            assert_eq!(n, 2);
            for id in [a.id, b.id] {
                let job = chips::get_job(conn, id)?;
                assert_eq!(job.status, ChipJobStatus::Interrupted);
                assert_eq!(job.error.as_deref(), Some("the hub stopped"));
            }
            assert_eq!(chips::jobs_of_card(conn, card)?.len(), 2);
            assert_eq!(chips::recent_jobs(conn, 1)?[0].id, b.id);
            Ok(())
        });
    });
}

#[test]
fn a_personalisation_done_marks_its_chip_and_one_without_a_chip_marks_none() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let bound = new_card(conn, hsm.as_ref(), &resident())?;
            let unbound = new_card(conn, hsm.as_ref(), &foreigner())?;
            chips::bind_chip(
                conn,
                hsm.as_ref(),
                &chip(bound, "31000086F1A2B3C4"),
                &admin(),
            )?;
            let done = |conn: &mut DbConnection, card| -> Result<_, StorageError> {
                let job = chips::start_job(
                    conn,
                    hsm.as_ref(),
                    ChipJobKind::Personalise,
                    Some(card),
                    "vpcd 0",
                    &admin(),
                )?;
                chips::finish_job(
                    conn,
                    hsm.as_ref(),
                    job.id,
                    &JobOutcome {
                        status: ChipJobStatus::Done,
                        result: Some(json!({"steps": 29})),
                        error: None,
                        apdus: 62,
                        chip_id: None,
                    },
                    &admin(),
                )
            };
            let finished = done(conn, bound)?;
            let marked = chips::chip_of_card(conn, bound)?.expect("bound");
            assert_eq!(marked.personalised_at, finished.finished_at);
            assert_eq!(finished.chip_id, None, "the job never recorded the chip");
            let without = done(conn, unbound)?;
            assert_eq!(without.status, ChipJobStatus::Done);
            assert_eq!(chips::chip_of_card(conn, unbound)?, None);
            // A job for a card that does not exist is refused, nothing written.
            let before = audit::list(conn, 0, 1000)?.len();
            assert!(matches!(
                chips::start_job(
                    conn,
                    hsm.as_ref(),
                    ChipJobKind::Check,
                    Some(i64::MAX),
                    "vpcd 0",
                    &admin()
                ),
                Err(StorageError::NotFound { what: "card", .. })
            ));
            assert_eq!(audit::list(conn, 0, 1000)?.len(), before);
            assert!(audit::verify(conn, hsm.as_ref())?.is_intact());
            Ok(())
        });
    });
}

#[test]
fn a_binding_whose_job_is_missing_rolls_back_with_its_audit_entry() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let card = new_card(conn, hsm.as_ref(), &resident())?;
            let head = audit::list(conn, 0, 1000)?.len();
            // The chip row and its audit entry are written before the job's
            // phase; the missing job rolls all three back together.
            let refused = chips::bind_chip_for_job(
                conn,
                hsm.as_ref(),
                &chip(card, "31000086F1A2B3C4"),
                i64::MAX,
                40,
                &admin(),
            );
            assert!(
                matches!(
                    refused,
                    Err(StorageError::NotFound {
                        what: "chip job",
                        ..
                    })
                ),
                "{refused:?}"
            );
            assert_eq!(chips::chip_of_card(conn, card)?, None);
            assert_eq!(audit::list(conn, 0, 1000)?.len(), head);
            assert!(audit::verify(conn, hsm.as_ref())?.is_intact());
            // And the next append continues the chain where it was.
            chips::bind_chip(
                conn,
                hsm.as_ref(),
                &chip(card, "31000086F1A2B3C4"),
                &admin(),
            )?;
            assert!(audit::verify(conn, hsm.as_ref())?.is_intact());
            Ok(())
        });
    });
}

/// One row of `EXPLAIN` (its opcode), or any one text column.
#[derive(diesel::QueryableByName)]
struct Opcode {
    #[diesel(sql_type = diesel::sql_types::Text)]
    opcode: String,
}

#[test]
fn writing_a_chip_job_builds_no_temporary_b_tree_on_sqlite() {
    // SQLite checks `x IN (...)` of more than two values, and gathers a
    // RETURNING's rows, in a temporary b-tree built afresh at every run.
    // The statements a card's job runs on chip_jobs (its start, its
    // progress, its end as done) are caught as they run and explained.
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Instrumentation, InstrumentationEvent};

    let store = cardhub_storage::testing::sqlite_store(test_hsm());
    let hsm = store.hsm().clone();
    with_conn(&store, |conn| {
        let card = new_card(conn, hsm.as_ref(), &resident())?;
        let DbConnection::Sqlite(c) = &mut *conn else {
            unreachable!("a SQLite store")
        };
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = Arc::clone(&seen);
        c.set_instrumentation(move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                let text = query.to_string();
                let sql = text.split(" -- binds:").next().unwrap_or_default();
                if sql.contains("chip_jobs") && !sql.starts_with("SELECT") {
                    log.lock().expect("the log").push(sql.to_owned());
                }
            }
        });
        let job = chips::start_job(
            conn,
            hsm.as_ref(),
            ChipJobKind::Check,
            Some(card),
            "vpcd 2",
            &admin(),
        )?;
        chips::record_phase(conn, job.id, "compare", Some("31000086F1A2B3C4"), 20)?;
        chips::finish_recorded_job(
            conn,
            hsm.as_ref(),
            &job,
            &JobOutcome {
                status: ChipJobStatus::Done,
                result: Some(json!({"passed": true})),
                error: None,
                apdus: 24,
                chip_id: Some("31000086F1A2B3C4".to_owned()),
            },
            &admin(),
        )?;
        let DbConnection::Sqlite(c) = &mut *conn else {
            unreachable!("a SQLite store")
        };
        c.set_instrumentation(None::<Box<dyn Instrumentation>>);
        let writes = std::mem::take(&mut *seen.lock().expect("the log"));
        assert_eq!(writes.len(), 3, "a start, a phase and an end: {writes:#?}");
        for sql in &writes {
            let program = diesel::sql_query(format!("EXPLAIN {sql}"))
                .load::<Opcode>(c)
                .map_err(|e| StorageError::Database {
                    context: "explain a chip job's write",
                    source: e,
                })?;
            assert!(
                program.iter().any(|op| op.opcode == "Insert"),
                "{sql} writes the row"
            );
            assert!(
                !program.iter().any(|op| op.opcode == "OpenEphemeral"),
                "{sql} builds a temporary b-tree"
            );
        }
        // The rule still holds: a status the hub does not know is refused.
        let bogus = diesel::sql_query(
            "INSERT INTO chip_jobs (kind, reader, status, phase, actor, created_at, updated_at) \
             VALUES ('check', 'r', 'lost', 'start', 'a', '2026-12-04 00:00:00', '2026-12-04 00:00:00')",
        )
        .execute(c);
        assert!(
            bogus.is_err_and(|e| e.to_string().contains("CHECK constraint failed")),
            "an unknown status is refused"
        );
        Ok(())
    });
}

#[test]
fn chip_job_ids_carry_on_across_the_check_rebuild() {
    // The rebuild copies the AUTOINCREMENT sequence: an id given once is
    // never given again, not even to the first job after the rebuild.
    use diesel::connection::SimpleConnection;
    use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
    const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
    const BEFORE_REBUILD: &str = "20261203000000";
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("hub.db");
    let mut c = diesel::SqliteConnection::establish(&path.display().to_string()).expect("SQLite");
    while c
        .run_next_migration(SQLITE)
        .expect("an earlier migration")
        .to_string()
        != BEFORE_REBUILD
    {}
    c.batch_execute(
        "INSERT INTO chip_jobs (id, kind, reader, status, phase, actor, created_at, updated_at) \
         VALUES (7, 'check', 'r', 'done', 'done', 'a', '2026-12-04 00:00:00', '2026-12-04 00:00:00'); \
         DELETE FROM chip_jobs WHERE id = 7;",
    )
    .expect("a job given id 7, then gone");
    c.run_pending_migrations(SQLITE)
        .expect("the rebuild and the rest");
    c.batch_execute(
        "INSERT INTO chip_jobs (kind, reader, status, phase, actor, created_at, updated_at) \
         VALUES ('check', 'r', 'running', 'start', 'a', '2026-12-04 00:00:00', '2026-12-04 00:00:00')",
    )
    .expect("a new job");
    let next = diesel::sql_query("SELECT CAST(last_insert_rowid() AS TEXT) AS opcode")
        .get_result::<Opcode>(&mut c)
        .expect("its id");
    assert_eq!(next.opcode, "8");
}
