//! Waste registration: the wasted card, the remade card, the re-queued
//! task, and failure after `max_attempts`.

use cardhub_storage::workshop::{TaskStatus, WasteReport};

use super::*;

fn chip_failure(task_id: i64) -> WasteReport<'static> {
    WasteReport {
        task_id,
        reason: "chip does not answer after format",
        step: "chip",
        device: "encoder-1",
    }
}

#[test]
fn a_wasted_card_is_remade_until_max_attempts() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let queued = queued_tasks(conn, hsm, 1, 1, 2)?.remove(0);
            let wang = operator("wang");
            let err = workshop::waste_and_requeue(conn, hsm, &chip_failure(queued.id), &wang)
                .expect_err("nothing on the line yet");
            assert!(matches!(err, StorageError::Conflict { .. }), "{err}");

            // First card: printed, then found broken.
            let (task, first) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.expect("queued");
            workshop::record_step(
                conn,
                hsm,
                &step(task.id, "print", Some(CardStatus::Produced)),
                &wang,
            )?;
            let outcome = workshop::waste_and_requeue(conn, hsm, &chip_failure(task.id), &wang)?;
            let waste = &outcome.waste;
            assert_eq!((waste.task_id, waste.card_id), (task.id, first.id));
            assert_eq!(waste.card_number, first.card_number, "number snapshot");
            assert_eq!(waste.reason, "chip does not answer after format");
            assert_eq!(
                (waste.step.as_str(), waste.device.as_str()),
                ("chip", "encoder-1")
            );
            assert_eq!(waste.line.as_deref(), Some("line-1"));
            assert_eq!(waste.operator, "wang");
            assert_eq!(cards::get_card(conn, first.id)?.status, CardStatus::Waste);

            let second = outcome.new_card.clone().expect("remade");
            assert_eq!(second.status, CardStatus::DataPrepared);
            assert_eq!(second.card_number, None, "numbered when claimed");
            assert_eq!(second.application_id, first.application_id);
            let remake = cards::card_history(conn, second.id)?;
            assert_eq!(remake.len(), 1);
            assert_eq!(
                (remake[0].from, remake[0].to),
                (None, CardStatus::DataPrepared)
            );
            assert_eq!(remake[0].action, "废卡重制");
            assert!(
                remake[0]
                    .reason
                    .contains(&format!("wasted card {}", first.id)),
                "{}",
                remake[0].reason
            );
            let wasted = cards::card_history(conn, first.id)?;
            let last = wasted.last().expect("history");
            assert_eq!(
                (last.from, last.to),
                (Some(CardStatus::Produced), CardStatus::Waste)
            );
            assert_eq!(last.action, "废卡登记");

            let task = outcome.task;
            assert_eq!(task.status, TaskStatus::Queued);
            assert_eq!(task.card_id, second.id);
            assert_eq!(task.attempts, 1);
            assert_eq!(
                (task.line, task.printer, task.step, task.operator),
                (None, None, None, None)
            );
            assert_eq!(
                task.last_error.as_deref(),
                Some("chip does not answer after format")
            );

            // Second card: a new number, then wasted too: the task fails.
            let (task, card) = workshop::claim_next_task(conn, hsm, &claim_on("line-2"), &wang)?
                .expect("re-queued");
            assert_eq!(card.id, second.id);
            assert_eq!(task.attempts, 2);
            assert!(card.card_number.is_some() && card.card_number != first.card_number);
            let outcome = workshop::waste_and_requeue(conn, hsm, &chip_failure(task.id), &wang)?;
            assert_eq!(outcome.new_card, None);
            assert_eq!(outcome.task.status, TaskStatus::Failed);
            assert!(outcome.task.finished_at.is_some());
            assert!(
                outcome
                    .task
                    .last_error
                    .as_deref()
                    .unwrap_or_default()
                    .contains("2 of 2")
            );
            assert!(workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.is_none());

            let progress = workshop::card_progress(conn, first.id)?;
            assert_eq!(progress.card.status, CardStatus::Waste);
            assert_eq!(progress.task.as_ref().map(|t| t.id), Some(task.id));
            assert_eq!(
                progress
                    .other_cards
                    .iter()
                    .map(|c| c.id)
                    .collect::<Vec<_>>(),
                [second.id]
            );
            assert_eq!(progress.waste.len(), 2);
            assert_eq!(progress.history, wasted);
            let steps: Vec<(i64, &str)> = progress
                .steps
                .iter()
                .map(|s| (s.card_id, s.step.as_str()))
                .collect();
            assert_eq!(
                steps,
                [
                    (first.id, "claimed"),
                    (first.id, "print"),
                    (first.id, "waste"),
                    (second.id, "claimed"),
                    (second.id, "waste"),
                ]
            );
            let day = chrono::Duration::days(1);
            let now = cardhub_storage::utc_now();
            assert_eq!(
                workshop::list_waste(conn, now - day, now + day, 10)?.len(),
                2
            );
            assert!(workshop::list_waste(conn, now + day, now + day + day, 10)?.is_empty());
            assert_audit_intact(conn, hsm)
        });
    });
}

#[test]
fn a_finished_card_damaged_before_boxing_is_remade() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            queued_tasks(conn, hsm, 1, 1, 3)?;
            let wang = operator("wang");
            let done = make_next_card(conn, hsm, "line-1", &wang)?;
            let report = WasteReport {
                task_id: done.id,
                reason: "scratched face",
                step: "sorting",
                device: "sorter-1",
            };
            let outcome = workshop::waste_and_requeue(conn, hsm, &report, &wang)?;
            assert_eq!(outcome.task.status, TaskStatus::Queued);
            assert_eq!(outcome.task.finished_at, None);
            let history = cards::card_history(conn, done.card_id)?;
            let last = history.last().expect("history");
            assert_eq!(
                (last.from, last.to),
                (Some(CardStatus::QcPassed), CardStatus::Waste)
            );
            assert!(outcome.new_card.is_some());
            Ok(())
        });
    });
}
