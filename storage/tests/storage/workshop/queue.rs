//! The queue: claiming in order, card numbers, releasing, concurrent
//! claims, and the index the claim reads.

use std::collections::HashSet;
use std::sync::Barrier;

use cardhub_storage::workshop::{CARD_NUMBER_LEN, TaskStatus};
use diesel::sql_types::Text;

use super::*;

#[test]
fn claims_take_the_oldest_task_and_number_its_card() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let tasks = queued_tasks(conn, hsm, 1, 40, 3)?;
            let wang = operator("wang");
            let mut numbers = HashSet::new();
            for expected in &tasks {
                let (task, card) =
                    workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?
                        .expect("queued");
                assert_eq!(task.id, expected.id, "first in, first out");
                assert_eq!(task.status, TaskStatus::InProduction);
                assert_eq!(task.attempts, 1);
                assert_eq!(task.line.as_deref(), Some("line-1"));
                assert_eq!(task.printer.as_deref(), Some("printer-1"));
                assert_eq!(task.operator.as_deref(), Some("wang"));
                assert_eq!(task.step.as_deref(), Some("claimed"));
                assert!(task.started_at.is_some());
                assert_eq!(card.status, CardStatus::InProduction);
                assert_eq!(cards::get_card(conn, card.id)?, card);
                let number = card.card_number.expect("numbered at claim");
                assert_eq!(number.len(), CARD_NUMBER_LEN);
                assert!(number.starts_with('A'), "{number}");
                assert!(numbers.insert(number.clone()), "{number} issued twice");
                let steps = workshop::steps_of_task(conn, task.id)?;
                assert_eq!(steps.len(), 1);
                assert_eq!(
                    (steps[0].step.as_str(), steps[0].outcome, steps[0].attempt),
                    ("claimed", StepOutcome::Done, 1)
                );
            }
            assert!(numbers.contains("A00000001") && numbers.contains("A00000040"));
            assert!(
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.is_none(),
                "the queue is empty"
            );
            assert_eq!(workshop::in_flight_tasks(conn, "line-1")?.len(), 40);
            assert!(workshop::in_flight_tasks(conn, "line-2")?.is_empty());
            assert_audit_intact(conn, hsm)
        });
    });
}

#[test]
fn a_released_task_keeps_its_card_number_and_goes_first() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let tasks = queued_tasks(conn, hsm, 1, 3, 3)?;
            let wang = operator("wang");
            let (first, card) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.expect("queued");
            let released = workshop::release_task(conn, hsm, first.id, "feeder empty", &wang)?;
            assert_eq!(released.status, TaskStatus::Queued);
            assert_eq!(released.attempts, 0, "no card was used");
            assert_eq!(released.last_error.as_deref(), Some("feeder empty"));
            assert_eq!(
                (released.line, released.printer, released.operator),
                (None, None, None)
            );
            let kept = cards::get_card(conn, card.id)?;
            assert_eq!(kept.status, CardStatus::InProduction);
            assert_eq!(kept.card_number, card.card_number);

            let err = workshop::release_task(conn, hsm, first.id, "again", &wang)
                .expect_err("a queued task is not released");
            assert!(matches!(err, StorageError::Conflict { .. }), "{err}");

            let (again, same) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-2"), &wang)?.expect("queued");
            assert_eq!(again.id, tasks[0].id, "the released task keeps its place");
            assert_eq!(again.attempts, 1);
            assert_eq!(same.card_number, card.card_number);
            assert_eq!(same.version, kept.version, "the card is not touched again");
            let steps: Vec<(String, StepOutcome)> = workshop::steps_of_task(conn, again.id)?
                .into_iter()
                .map(|s| (s.step, s.outcome))
                .collect();
            assert_eq!(
                steps,
                [
                    ("claimed".to_owned(), StepOutcome::Done),
                    ("released".to_owned(), StepOutcome::Failed),
                    ("claimed".to_owned(), StepOutcome::Done),
                ]
            );

            // A used card is wasted, not released.
            workshop::record_step(
                conn,
                hsm,
                &step(again.id, "print", Some(CardStatus::Produced)),
                &wang,
            )?;
            let err = workshop::release_task(conn, hsm, again.id, "jam", &wang)
                .expect_err("the card was printed");
            assert!(err.to_string().contains("waste"), "{err}");
            assert_audit_intact(conn, hsm)
        });
    });
}

#[test]
fn bad_prefixes_hand_numbers_and_cancelled_cards() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let tasks = queued_tasks(conn, hsm, 1, 3, 3)?;
            let wang = operator("wang");
            let before = traces(conn)?;
            for prefix in ["", "a1", "ABCDEFGHI", "A-"] {
                let claim = Claim {
                    number_prefix: prefix,
                    ..claim_on("line-1")
                };
                let err =
                    workshop::claim_next_task(conn, hsm, &claim, &wang).expect_err("bad prefix");
                assert!(
                    matches!(err, StorageError::Invalid { .. }),
                    "{prefix}: {err}"
                );
            }
            assert_eq!(traces(conn)?, before, "a refused claim writes nothing");

            // The centre withdraws the first application while it is queued.
            cards::transition_card(
                conn,
                hsm,
                tasks[0].card_id,
                None,
                CardStatus::Cancelled,
                &centre(),
                "withdrawn",
            )?;
            // A number given by hand is skipped by the counter.
            let other = prepared_card(conn, hsm, 99, "resident-id", None)?;
            cards::assign_card_number(conn, hsm, other.id, "B00000002", &admin())?;

            let claim = Claim {
                number_prefix: "B",
                ..claim_on("line-1")
            };
            let (task, card) =
                workshop::claim_next_task(conn, hsm, &claim, &wang)?.expect("queued");
            assert_eq!(task.id, tasks[1].id, "the cancelled card's task is skipped");
            assert_eq!(card.card_number.as_deref(), Some("B00000001"));
            let (_, card) = workshop::claim_next_task(conn, hsm, &claim, &wang)?.expect("queued");
            assert_eq!(card.card_number.as_deref(), Some("B00000003"));
            let dropped = workshop::get_task(conn, tasks[0].id)?;
            assert_eq!(dropped.status, TaskStatus::Failed);
            assert!(
                dropped
                    .last_error
                    .as_deref()
                    .unwrap_or_default()
                    .contains("cancelled"),
                "{dropped:?}"
            );
            assert!(audit_actions(conn)?.contains(&"workshop.task.fail".to_owned()));
            let counts = workshop::queue_counts(conn)?;
            assert_eq!(
                (
                    counts.queued,
                    counts.in_production,
                    counts.done,
                    counts.failed
                ),
                (0, 2, 0, 1)
            );
            Ok(())
        });
    });
}

#[test]
fn two_connections_claiming_at_once_never_share_a_task_or_a_number() {
    const TASKS: u32 = 30;
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| queued_tasks(conn, hsm.as_ref(), 1, TASKS, 3));
        let barrier = Barrier::new(2);
        let claimed: Vec<Vec<(i64, String)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = ["line-1", "line-2"]
                .into_iter()
                .map(|line| {
                    let (store, hsm, barrier) = (store.store().clone(), hsm.clone(), &barrier);
                    scope.spawn(move || {
                        store
                            .with_conn(|conn| {
                                barrier.wait();
                                let who = operator(line);
                                let mut mine = Vec::new();
                                while let Some((task, card)) = workshop::claim_next_task(
                                    conn,
                                    hsm.as_ref(),
                                    &claim_on(line),
                                    &who,
                                )? {
                                    mine.push((task.id, card.card_number.unwrap_or_default()));
                                }
                                Ok(mine)
                            })
                            .unwrap_or_else(|e| panic!("claims on {line}: {e}"))
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("claiming thread"))
                .collect()
        });
        let all: Vec<&(i64, String)> = claimed.iter().flatten().collect();
        assert_eq!(all.len(), TASKS as usize, "every task claimed once");
        let tasks: HashSet<i64> = all.iter().map(|(t, _)| *t).collect();
        let numbers: HashSet<&str> = all.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(tasks.len(), TASKS as usize, "no task claimed twice");
        assert_eq!(numbers.len(), TASKS as usize, "no number issued twice");
        assert!(numbers.iter().all(|n| n.len() == CARD_NUMBER_LEN));
        with_conn(store, |conn| assert_audit_intact(conn, hsm.as_ref()));
    });
}

/// One line of a query plan.
#[derive(QueryableByName)]
struct SqlitePlan {
    #[diesel(sql_type = Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlan {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    line: String,
}

#[test]
fn the_next_task_is_an_index_lookup() {
    // The claim's query as diesel writes it (the status is bound).
    const NEXT: &str = "SELECT id FROM making_card_tasks WHERE status = 'queued' \
                        ORDER BY queued_at ASC, id ASC LIMIT 1";
    on_each_backend(|store| {
        let plan = with_conn(store, |conn| {
            let db = |e| StorageError::Database {
                context: "explain the claim query",
                source: e,
            };
            Ok(match conn {
                DbConnection::Sqlite(c) => diesel::sql_query(format!("EXPLAIN QUERY PLAN {NEXT}"))
                    .load::<SqlitePlan>(c)
                    .map_err(db)?
                    .into_iter()
                    .map(|p| p.detail)
                    .collect::<Vec<_>>(),
                DbConnection::Pg(c) => {
                    // An empty table is cheapest to scan: ask for the plan
                    // the planner uses once the table is large.
                    diesel::sql_query("SET enable_seqscan = off")
                        .execute(c)
                        .map_err(db)?;
                    diesel::sql_query(format!("EXPLAIN {NEXT}"))
                        .load::<PgPlan>(c)
                        .map_err(db)?
                        .into_iter()
                        .map(|p| p.line)
                        .collect()
                }
            })
        })
        .join("\n");
        assert!(plan.contains("making_card_tasks_queue"), "{plan}");
        assert!(
            !plan.contains("TEMP B-TREE") && !plan.contains("Sort"),
            "no sort: {plan}"
        );
    });
}

#[test]
fn an_instant_task_goes_only_to_its_branch_line() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let normal = queued_tasks(conn, hsm, 1, 1, 3)?;
            let card = prepared_card(conn, hsm, 50, "resident-id", None)?;
            let clerk = actor("clerk", Role::BranchOperator);
            let instant = workshop::queue_instant(conn, hsm, card.id, "branch-B001", 2, &clerk)?;
            assert_eq!(
                (instant.status, instant.max_attempts),
                (TaskStatus::Queued, 2)
            );
            // Twice is refused: one task per application.
            let again = workshop::queue_instant(conn, hsm, card.id, "branch-B001", 2, &clerk);
            assert!(
                matches!(again, Err(StorageError::Conflict { .. })),
                "{again:?}"
            );

            let wang = operator("wang");
            let counter = Claim {
                instant: true,
                ..claim_on("branch-B001")
            };
            let other_counter = Claim {
                instant: true,
                ..claim_on("branch-B002")
            };
            assert!(
                workshop::claim_next_task(conn, hsm, &other_counter, &wang)?.is_none(),
                "another branch's line does not take it"
            );
            let (task, _) = workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?
                .expect("the workshop's task");
            assert_eq!(
                task.id, normal[0].id,
                "the workshop line takes its own queue"
            );
            assert!(
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.is_none(),
                "and never the counter's task"
            );
            let (task, card) =
                workshop::claim_next_task(conn, hsm, &counter, &wang)?.expect("the counter's task");
            assert_eq!(task.id, instant.id);
            assert_eq!(card.status, CardStatus::InProduction);
            assert!(workshop::claim_next_task(conn, hsm, &counter, &wang)?.is_none());

            // A card that is not data-prepared is refused, naming its status.
            let applied = prepared_card(conn, hsm, 51, "resident-id", None)?;
            let applied = cards::transition_card(
                conn,
                hsm,
                applied.id,
                None,
                CardStatus::Cancelled,
                &actor("admin", Role::Admin),
                "test",
            )?;
            let refused = workshop::queue_instant(conn, hsm, applied.id, "branch-B001", 2, &clerk);
            assert!(
                matches!(&refused, Err(StorageError::Conflict { what }) if what.contains("cancelled")),
                "{refused:?}"
            );
            assert_audit_intact(conn, hsm)
        });
    });
}
