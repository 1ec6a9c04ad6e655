//! Operator control: line states, tasks failed and retried by hand, the
//! begun-step marker, and the card lookups of the progress endpoints.

use cardhub_storage::workshop::{BEGUN_SUFFIX, LineState, TaskStatus, WasteReport};

use super::*;

/// The last audit entry's detail.
fn last_audit_detail(conn: &mut DbConnection) -> Result<serde_json::Value, StorageError> {
    let last = audit::list(conn, 0, 100_000)?
        .pop()
        .expect("an audit entry");
    Ok(serde_json::from_str(&last.detail).expect("audit detail is JSON"))
}

#[test]
fn line_states_are_stored_overwritten_listed_and_audited() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            assert!(workshop::list_line_states(conn)?.is_empty());
            assert_eq!(workshop::line_state(conn, "line-1")?, None);

            let wang = operator("wang");
            let paused =
                workshop::set_line_state(conn, hsm, "line-2", LineState::Paused, "ribbon", &wang)?;
            assert_eq!(
                (
                    paused.name.as_str(),
                    paused.state,
                    paused.updated_by.as_str()
                ),
                ("line-2", LineState::Paused, "wang")
            );
            assert_eq!(
                last_audit_detail(conn)?,
                serde_json::json!({ "from": null, "to": "paused", "reason": "ribbon" })
            );
            workshop::set_line_state(conn, hsm, "line-1", LineState::Running, "start", &wang)?;
            let li = operator("li");
            let stopped =
                workshop::set_line_state(conn, hsm, "line-1", LineState::Stopped, "jam", &li)?;
            assert_eq!(workshop::line_state(conn, "line-1")?, Some(stopped.clone()));
            assert_eq!(stopped.updated_by, "li", "overwritten");
            assert_eq!(
                last_audit_detail(conn)?,
                serde_json::json!({ "from": "running", "to": "stopped", "reason": "jam" })
            );
            assert_eq!(
                workshop::list_line_states(conn)?,
                vec![stopped, paused],
                "one row per line, by name"
            );

            let err = workshop::set_line_state(conn, hsm, " ", LineState::Running, "", &wang)
                .expect_err("no line name");
            assert!(matches!(err, StorageError::Invalid { .. }), "{err}");
            let actions = audit_actions(conn)?;
            assert_eq!(
                actions
                    .iter()
                    .filter(|a| *a == "workshop.line.state")
                    .count(),
                3
            );
            assert_eq!("paused".parse::<LineState>(), Ok(LineState::Paused));
            assert_eq!(
                serde_json::to_value(LineState::Stopped).expect("serialise"),
                serde_json::json!("stopped")
            );
            assert_audit_intact(conn, hsm)
        });
    });
}

#[test]
fn a_failed_task_is_retried_on_its_card_or_on_a_remade_one() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let queued = queued_tasks(conn, hsm, 1, 1, 3)?.remove(0);
            let wang = operator("wang");

            // Failed before anything was printed: the card stays on the line's
            // path, with its number.
            let (task, card) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.expect("queued");
            workshop::record_step(conn, hsm, &step(task.id, "feed", None), &wang)?;
            let failed = workshop::fail_task(conn, hsm, task.id, "name has no glyph", &wang)?;
            assert_eq!(failed.status, TaskStatus::Failed);
            assert_eq!(failed.last_error.as_deref(), Some("name has no glyph"));
            assert_eq!(failed.step.as_deref(), Some("failed"));
            assert!(failed.finished_at.is_some());
            assert_eq!(
                cards::get_card(conn, card.id)?.status,
                CardStatus::InProduction
            );
            let steps = workshop::steps_of_task(conn, task.id)?;
            let last = steps.last().expect("steps");
            assert_eq!(
                (last.step.as_str(), last.outcome),
                ("failed", StepOutcome::Failed)
            );
            assert!(
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.is_none(),
                "a failed task is not in the queue"
            );

            let retried = workshop::retry_task(conn, hsm, task.id, &centre())?;
            assert_eq!(retried.status, TaskStatus::Queued);
            assert_eq!(retried.card_id, card.id, "the card is still makeable");
            assert_eq!(retried.attempts, 0);
            assert_eq!(retried.queued_at, queued.queued_at, "keeps its place");
            assert_eq!(retried.last_error.as_deref(), Some("name has no glyph"));
            assert_eq!(
                (
                    &retried.line,
                    &retried.printer,
                    &retried.step,
                    &retried.operator
                ),
                (&None, &None, &None, &None)
            );
            assert_eq!((retried.started_at, retried.finished_at), (None, None));
            let (again, same) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-2"), &wang)?.expect("queued");
            assert_eq!((again.id, again.attempts), (task.id, 1));
            assert_eq!(same.card_number, card.card_number, "number kept");

            // Failed after printing: the printed card carries the bad data.
            workshop::record_step(
                conn,
                hsm,
                &step(task.id, "print", Some(CardStatus::Produced)),
                &wang,
            )?;
            workshop::fail_task(conn, hsm, task.id, "photo unusable", &wang)?;
            assert_eq!(cards::get_card(conn, card.id)?.status, CardStatus::Waste);
            let waste = workshop::waste_of_task(conn, task.id)?;
            assert_eq!(waste.len(), 1);
            assert_eq!(
                (
                    waste[0].card_id,
                    waste[0].step.as_str(),
                    waste[0].device.as_str()
                ),
                (card.id, "failed", "data")
            );
            let retried = workshop::retry_task(conn, hsm, task.id, &centre())?;
            assert_eq!(retried.status, TaskStatus::Queued);
            assert_ne!(retried.card_id, card.id, "remade");
            let remade = cards::get_card(conn, retried.card_id)?;
            assert_eq!(remade.status, CardStatus::DataPrepared);
            assert_eq!(remade.application_id, card.application_id);
            let steps = workshop::steps_of_task(conn, task.id)?;
            let last = steps.last().expect("steps");
            assert_eq!(
                (last.step.as_str(), last.card_id, last.attempt),
                ("retried", remade.id, 0)
            );
            let (third, numbered) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.expect("queued");
            assert_eq!((third.id, third.card_id), (task.id, remade.id));
            assert_eq!(numbered.status, CardStatus::InProduction);
            assert_ne!(numbered.card_number, card.card_number);

            let actions = audit_actions(conn)?;
            for action in ["workshop.task.fail", "workshop.task.retry"] {
                assert_eq!(
                    actions.iter().filter(|a| *a == action).count(),
                    2,
                    "{action}"
                );
            }
            assert_audit_intact(conn, hsm)
        });
    });
}

#[test]
fn only_tasks_on_a_line_fail_and_only_failed_tasks_retry() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let tasks = queued_tasks(conn, hsm, 1, 2, 3)?;
            let wang = operator("wang");
            let conflict = |result: Result<Task, StorageError>, needle: &str| {
                let err = result.expect_err("refused");
                assert!(matches!(err, StorageError::Conflict { .. }), "{err}");
                assert!(err.to_string().contains(needle), "{err}");
            };
            conflict(
                workshop::fail_task(conn, hsm, tasks[0].id, "bad name", &wang),
                "before a line claims it",
            );
            conflict(
                workshop::retry_task(conn, hsm, tasks[0].id, &wang),
                "already waiting",
            );
            let err =
                workshop::fail_task(conn, hsm, tasks[0].id, " ", &wang).expect_err("no reason");
            assert!(matches!(err, StorageError::Invalid { .. }), "{err}");
            let (task, _) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.expect("queued");
            conflict(
                workshop::retry_task(conn, hsm, task.id, &wang),
                "release it",
            );
            for reserved in ["failed", "retried"] {
                let err = workshop::record_step(conn, hsm, &step(task.id, reserved, None), &wang)
                    .expect_err("reserved step name");
                assert!(matches!(err, StorageError::Invalid { .. }), "{err}");
            }
            workshop::fail_task(conn, hsm, task.id, "bad name", &wang)?;
            conflict(
                workshop::fail_task(conn, hsm, task.id, "bad name", &wang),
                "already failed",
            );

            // A card the centre cancelled cannot be made again.
            cards::transition_card(
                conn,
                hsm,
                tasks[1].card_id,
                None,
                CardStatus::Cancelled,
                &centre(),
                "withdrawn",
            )?;
            assert!(workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.is_none());
            assert_eq!(
                workshop::get_task(conn, tasks[1].id)?.status,
                TaskStatus::Failed
            );
            conflict(
                workshop::retry_task(conn, hsm, tasks[1].id, &centre()),
                "cancelled",
            );
            assert_eq!(
                workshop::get_task(conn, tasks[1].id)?.status,
                TaskStatus::Failed,
                "a refusal writes nothing"
            );
            assert_audit_intact(conn, hsm)
        });
    });
}

#[test]
fn a_begun_step_is_marked_until_it_is_recorded() {
    assert_eq!(workshop::begun_step("print:begun"), Some("print"));
    assert_eq!(workshop::begun_step("print"), None);
    assert_eq!(workshop::begun_step(BEGUN_SUFFIX), None);
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let queued = queued_tasks(conn, hsm, 1, 1, 3)?.remove(0);
            let wang = operator("wang");
            let err = workshop::begin_step(conn, hsm, queued.id, "feed", &wang)
                .expect_err("not on a line");
            assert!(matches!(err, StorageError::Conflict { .. }), "{err}");
            let (task, _) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.expect("queued");

            let begun = workshop::begin_step(conn, hsm, task.id, "feed", &wang)?;
            assert_eq!(begun.step.as_deref(), Some("feed:begun"));
            assert!(begun.updated_at >= task.updated_at);
            assert_eq!(
                workshop::steps_of_task(conn, task.id)?.len(),
                1,
                "no step row"
            );

            let marked = workshop::record_step_then_begin(
                conn,
                hsm,
                &step(task.id, "feed", None),
                Some("print"),
                &wang,
            )?;
            assert_eq!(marked.step.as_deref(), Some("print:begun"));
            assert_eq!(
                marked.step.as_deref().and_then(workshop::begun_step),
                Some("print")
            );
            let steps = workshop::steps_of_task(conn, task.id)?;
            assert_eq!(
                steps.last().map(|s| s.step.as_str()),
                Some("feed"),
                "the step is recorded as record_step does"
            );
            let in_flight = workshop::in_flight_tasks(conn, "line-1")?;
            assert_eq!(in_flight[0].step.as_deref(), Some("print:begun"));

            // A failed attempt leaves the marker: the card may be printed.
            let failed = workshop::record_step(
                conn,
                hsm,
                &StepReport {
                    outcome: StepOutcome::Failed,
                    ..step(task.id, "print", None)
                },
                &wang,
            )?;
            assert_eq!(failed.step.as_deref(), Some("print:begun"));
            assert!(failed.last_error.is_some());

            let printed = workshop::record_step(
                conn,
                hsm,
                &step(task.id, "print", Some(CardStatus::Produced)),
                &wang,
            )?;
            assert_eq!(printed.step.as_deref(), Some("print"), "marker cleared");
            assert_eq!(
                cards::get_card(conn, task.card_id)?.status,
                CardStatus::Produced
            );

            for next in ["done", "overlay:begun", ""] {
                let err = workshop::record_step_then_begin(
                    conn,
                    hsm,
                    &step(task.id, "overlay", None),
                    Some(next),
                    &wang,
                )
                .expect_err("bad next step");
                assert!(matches!(err, StorageError::Invalid { .. }), "{next}: {err}");
            }
            assert_eq!(
                workshop::get_task(conn, task.id)?.step.as_deref(),
                Some("print"),
                "a refused report writes nothing"
            );
            let actions = audit_actions(conn)?;
            assert!(actions.iter().any(|a| a == "workshop.step.begin"));
            assert_audit_intact(conn, hsm)
        });
    });
}

#[test]
fn cards_are_found_by_number_and_by_application() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let queued = queued_tasks(conn, hsm, 1, 2, 2)?;
            assert_eq!(applications::count_applications(conn)?, 2);
            let err = workshop::card_by_number(conn, "A00000001").expect_err("none numbered");
            assert!(matches!(err, StorageError::NotFound { .. }), "{err}");
            let err = workshop::current_card_of_application(conn, 9_999).expect_err("none");
            assert!(matches!(err, StorageError::NotFound { .. }), "{err}");

            let application_id = queued[0].application_id;
            assert_eq!(
                workshop::current_card_of_application(conn, application_id)?.id,
                queued[0].card_id
            );
            let wang = operator("wang");
            let (task, first) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.expect("queued");
            let number = first.card_number.clone().expect("numbered");
            assert_eq!(workshop::card_by_number(conn, &number)?, first);

            let report = WasteReport {
                task_id: task.id,
                reason: "chip dead",
                step: "chip",
                device: "encoder-1",
            };
            let outcome = workshop::waste_and_requeue(conn, hsm, &report, &wang)?;
            let second = outcome.new_card.expect("remade");
            assert_eq!(
                workshop::current_card_of_application(conn, application_id)?,
                second,
                "the remade card"
            );
            assert_eq!(
                workshop::card_by_number(conn, &number)?.status,
                CardStatus::Waste,
                "a wasted card is still found by its number"
            );

            // Wasted on the last attempt: the newest card, though wasted.
            let (task, third) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.expect("queued");
            assert_eq!(third.id, second.id);
            let outcome = workshop::waste_and_requeue(conn, hsm, &report, &wang)?;
            assert!(outcome.new_card.is_none(), "max_attempts used");
            let current = workshop::current_card_of_application(conn, application_id)?;
            assert_eq!((current.id, current.status), (second.id, CardStatus::Waste));
            assert_eq!(task.application_id, application_id);
            Ok(())
        });
    });
}

#[tokio::test]
async fn store_shorthands_run_on_both_backends() {
    for store in test_stores(test_hsm()) {
        let hsm = store.hsm().clone();
        let queued = store
            .with_conn(|conn| queued_tasks(conn, hsm.as_ref(), 1, 1, 3))
            .expect("queue a task")
            .remove(0);
        let wang = operator("wang");
        let line = store
            .set_line_state(
                "line-1".into(),
                LineState::Paused,
                "lunch".into(),
                wang.clone(),
            )
            .await
            .expect("set");
        assert_eq!(
            store.line_state("line-1".into()).await.expect("read"),
            Some(line.clone())
        );
        assert_eq!(store.list_line_states().await.expect("list"), vec![line]);
        assert_eq!(store.count_applications().await.expect("count"), 1);
        let (task, card) = store
            .claim_next_task(
                "line-1".into(),
                "printer-1".into(),
                "A".into(),
                false,
                wang.clone(),
            )
            .await
            .expect("claim")
            .expect("queued");
        let begun = store
            .begin_step(task.id, "feed".into(), wang.clone())
            .await
            .expect("begin");
        assert_eq!(begun.step.as_deref(), Some("feed:begun"));
        let marked = store
            .record_step_then_begin(
                task.id,
                "feed".into(),
                StepOutcome::Done,
                serde_json::json!({}),
                None,
                Some("print".into()),
                wang.clone(),
            )
            .await
            .expect("record and begin");
        assert_eq!(marked.step.as_deref(), Some("print:begun"));
        let number = card.card_number.clone().expect("numbered");
        assert_eq!(store.card_by_number(number).await.expect("by number"), card);
        assert_eq!(
            store
                .current_card_of_application(queued.application_id)
                .await
                .expect("current"),
            card
        );
        let failed = store
            .fail_task(task.id, "bad name".into(), wang.clone())
            .await
            .expect("fail");
        assert_eq!(failed.status, TaskStatus::Failed);
        let retried = store.retry_task(task.id, wang).await.expect("retry");
        assert_eq!(retried.status, TaskStatus::Queued);
    }
}
