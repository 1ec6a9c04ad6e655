//! Extraction: which cards become tasks, in which batch, and the
//! permanent-residence reminder messages.

use cardhub_storage::outbox;
use cardhub_storage::workshop::{PERMIT_REMINDER_TOPIC, TaskStatus};

use super::*;

fn extraction(kind: ExtractionKind, limit: Option<i64>) -> Extraction {
    Extraction {
        kind,
        limit,
        max_attempts: 3,
    }
}

#[test]
fn normal_and_separate_extractions_split_by_document_type() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let r1 = prepared_card(conn, hsm, 1, "resident-id", None)?;
            let f1 = prepared_card(conn, hsm, 2, "permanent-residence", None)?;
            let r2 = prepared_card(conn, hsm, 3, "resident-id", None)?;
            let f2 = prepared_card(conn, hsm, 4, "permanent-residence", None)?;
            // Not prepared yet: never extracted.
            let person_id = persons::create(conn, hsm, &person(5, "resident-id"), &admin())?;
            applications::create_application(
                conn,
                hsm,
                &NewApplication {
                    person_id,
                    kind: ApplicationKind::FirstIssue,
                    branch_id: None,
                },
                &admin(),
            )?;

            let (batch, tasks) = workshop::extract(
                conn,
                hsm,
                &extraction(ExtractionKind::Normal, None),
                &centre(),
            )?;
            assert_eq!(batch.kind, ExtractionKind::Normal);
            assert_eq!(batch.task_count, 2);
            assert_eq!(batch.created_by, "li");
            let cards: Vec<i64> = tasks.iter().map(|t| t.card_id).collect();
            assert_eq!(cards, [r1.id, r2.id], "residents only, oldest first");
            for (task, card) in tasks.iter().zip([&r1, &r2]) {
                assert_eq!(task.status, TaskStatus::Queued);
                assert_eq!(task.attempts, 0);
                assert_eq!(task.max_attempts, 3);
                assert_eq!(task.batch_id, batch.id);
                assert_eq!(task.application_id, card.application_id);
                assert_eq!(task.person_id, card.person_id);
                assert_eq!((task.line.as_ref(), task.step.as_ref()), (None, None));
            }
            let reminders = |conn: &mut DbConnection| -> Result<Vec<_>, StorageError> {
                Ok(outbox::pending(conn, 1_000)?
                    .into_iter()
                    .filter(|m| m.topic == PERMIT_REMINDER_TOPIC)
                    .collect())
            };
            assert!(reminders(conn)?.is_empty(), "no reminder for residents");

            let (pr_batch, pr_tasks) = workshop::extract(
                conn,
                hsm,
                &extraction(ExtractionKind::PermanentResidence, None),
                &centre(),
            )?;
            assert_eq!(pr_batch.kind, ExtractionKind::PermanentResidence);
            let cards: Vec<i64> = pr_tasks.iter().map(|t| t.card_id).collect();
            assert_eq!(cards, [f1.id, f2.id]);
            let sent = reminders(conn)?;
            assert_eq!(sent.len(), 2, "one reminder per permanent-residence task");
            for (message, task) in sent.iter().zip(&pr_tasks) {
                assert_eq!(message.ordering_key, format!("person:{}", task.person_id));
                let payload: serde_json::Value =
                    serde_json::from_str(&message.payload).expect("JSON payload");
                assert_eq!(payload["person_id"], task.person_id);
                assert_eq!(payload["application_id"], task.application_id);
                assert_eq!(payload["card_id"], task.card_id);
                assert_eq!(payload["batch_id"], pr_batch.id);
                assert_eq!(payload["task_id"], task.id);
            }

            // Nothing waits any more: refused, and no batch is written.
            for kind in [ExtractionKind::Normal, ExtractionKind::PermanentResidence] {
                let err = workshop::extract(conn, hsm, &extraction(kind, None), &centre())
                    .expect_err("nothing to extract");
                assert!(matches!(err, StorageError::NotFound { .. }), "{err}");
                assert!(err.to_string().contains(kind.as_str()), "{err}");
            }
            assert_eq!(workshop::list_batches(conn, 10)?.len(), 2);
            assert_eq!(workshop::get_batch(conn, batch.id)?, batch);
            let counts = workshop::queue_counts(conn)?;
            assert_eq!((counts.queued, counts.in_production), (4, 0));
            assert_eq!(
                audit_actions(conn)?
                    .iter()
                    .filter(|a| *a == "workshop.extract")
                    .count(),
                2
            );
            assert_audit_intact(conn, hsm)
        });
    });
}

#[test]
fn a_limit_takes_the_oldest_and_no_card_is_extracted_twice() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let cards: Vec<Card> = (10..15)
                .map(|n| prepared_card(conn, hsm, n, "resident-id", None))
                .collect::<Result<_, _>>()?;
            let (_, first) = workshop::extract(
                conn,
                hsm,
                &extraction(ExtractionKind::Normal, Some(2)),
                &centre(),
            )?;
            let (_, rest) = workshop::extract(
                conn,
                hsm,
                &extraction(ExtractionKind::Normal, None),
                &centre(),
            )?;
            let taken: Vec<i64> = first.iter().chain(&rest).map(|t| t.card_id).collect();
            let all: Vec<i64> = cards.iter().map(|c| c.id).collect();
            assert_eq!(taken, all, "each card once, oldest first");
            assert_eq!(first.len(), 2);

            let filter = workshop::TaskFilter {
                batch_id: Some(first[0].batch_id),
                ..Default::default()
            };
            let listed = workshop::list_tasks(conn, &filter)?;
            assert_eq!(listed.len(), 2);
            assert!(listed[0].id > listed[1].id, "newest first");
            let page = workshop::list_tasks(
                conn,
                &workshop::TaskFilter {
                    before_id: Some(listed[0].id),
                    ..filter
                },
            )?;
            assert_eq!(page, listed[1..]);

            for (limit, max_attempts) in [(Some(0), 3), (None, 0), (None, 11)] {
                let err = workshop::extract(
                    conn,
                    hsm,
                    &Extraction {
                        kind: ExtractionKind::Normal,
                        limit,
                        max_attempts,
                    },
                    &centre(),
                )
                .expect_err("invalid extraction");
                assert!(matches!(err, StorageError::Invalid { .. }), "{err}");
            }
            Ok(())
        });
    });
}
