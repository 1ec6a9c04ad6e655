//! Steps on a line and completion: what is refused, what the card does,
//! and the envelope a completion readies.

use cardhub_protocols::card_status::TransitionErrorKind;
use cardhub_storage::branches::{self, BranchKind, NewBranch};
use cardhub_storage::workshop::TaskStatus;

use super::*;

#[test]
fn steps_need_a_task_in_production_and_move_its_card() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let tasks = queued_tasks(conn, hsm, 1, 1, 3)?;
            let wang = operator("wang");
            let queued = &tasks[0];
            let before = traces(conn)?;
            let err = workshop::record_step(conn, hsm, &step(queued.id, "feed", None), &wang)
                .expect_err("not claimed");
            assert!(matches!(err, StorageError::Conflict { .. }), "{err}");
            assert!(err.to_string().contains("queued"), "{err}");
            assert_eq!(traces(conn)?, before, "a refused step writes nothing");

            let (task, _) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.expect("queued");
            let task = workshop::record_step(conn, hsm, &step(task.id, "feed", None), &wang)?;
            assert_eq!(task.step.as_deref(), Some("feed"));
            let failed = StepReport {
                outcome: StepOutcome::Failed,
                detail: serde_json::json!({ "error": "no ATR" }),
                ..step(task.id, "chip", None)
            };
            let task = workshop::record_step(conn, hsm, &failed, &wang)?;
            assert_eq!(
                task.step.as_deref(),
                Some("feed"),
                "a failed step is not reached"
            );
            assert!(
                task.last_error
                    .as_deref()
                    .unwrap_or_default()
                    .contains("no ATR")
            );
            workshop::record_step(conn, hsm, &step(task.id, "chip", None), &wang)?;

            // A step that asks for an impossible card status writes nothing.
            let steps_before = workshop::steps_of_task(conn, task.id)?.len();
            let err = workshop::record_step(
                conn,
                hsm,
                &step(task.id, "print", Some(CardStatus::Mailed)),
                &wang,
            )
            .expect_err("in-production -> mailed is not a transition");
            assert!(
                matches!(&err, StorageError::Transition(t) if t.kind == TransitionErrorKind::NotAllowed),
                "{err}"
            );
            assert_eq!(workshop::steps_of_task(conn, task.id)?.len(), steps_before);

            let task = workshop::record_step(
                conn,
                hsm,
                &step(task.id, "print", Some(CardStatus::Produced)),
                &wang,
            )?;
            assert_eq!(
                cards::get_card(conn, task.card_id)?.status,
                CardStatus::Produced
            );

            for reserved in ["claimed", "released", "waste", "done"] {
                let err = workshop::record_step(conn, hsm, &step(task.id, reserved, None), &wang)
                    .expect_err("reserved step name");
                assert!(
                    matches!(err, StorageError::Invalid { .. }),
                    "{reserved}: {err}"
                );
            }

            let steps = workshop::steps_of_task(conn, task.id)?;
            let names: Vec<(&str, StepOutcome)> =
                steps.iter().map(|s| (s.step.as_str(), s.outcome)).collect();
            assert_eq!(
                names,
                [
                    ("claimed", StepOutcome::Done),
                    ("feed", StepOutcome::Done),
                    ("chip", StepOutcome::Failed),
                    ("chip", StepOutcome::Done),
                    ("print", StepOutcome::Done),
                ]
            );
            for s in &steps {
                assert_eq!(
                    (s.task_id, s.card_id, s.attempt),
                    (task.id, task.card_id, 1)
                );
                assert_eq!(s.line.as_deref(), Some("line-1"));
                assert_eq!(s.printer.as_deref(), Some("printer-1"));
            }
            assert_eq!(steps[1].detail["device"], "feed-1");
            let history = cards::card_history(conn, task.card_id)?;
            let last = history.last().expect("history");
            assert_eq!(
                (last.from, last.to),
                (Some(CardStatus::InProduction), CardStatus::Produced)
            );
            assert!(last.reason.contains("print"), "{}", last.reason);
            assert_audit_intact(conn, hsm)
        });
    });
}

/// Claims, steps, begun markers and completion return the task as they
/// wrote it, without reading it back: it must be the stored row exactly.
#[test]
fn each_write_returns_the_task_as_stored() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            queued_tasks(conn, hsm, 1, 1, 3)?;
            let wang = operator("wang");
            let as_stored = |conn: &mut DbConnection, task: &workshop::Task, what: &str| {
                assert_eq!(&workshop::get_task(conn, task.id)?, task, "{what}");
                Ok::<_, StorageError>(())
            };
            let (task, _) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.expect("queued");
            as_stored(conn, &task, "claimed")?;
            let task = workshop::record_step_then_begin(
                conn,
                hsm,
                &step(task.id, "feed", None),
                Some("print"),
                &wang,
            )?;
            as_stored(conn, &task, "a step and the next begun")?;
            let failed = StepReport {
                outcome: StepOutcome::Failed,
                detail: serde_json::json!({ "error": "ribbon out" }),
                ..step(task.id, "print", None)
            };
            let task = workshop::record_step(conn, hsm, &failed, &wang)?;
            as_stored(conn, &task, "a failed step")?;
            let task = workshop::begin_step(conn, hsm, task.id, "print", &wang)?;
            as_stored(conn, &task, "a step begun")?;
            workshop::record_step(
                conn,
                hsm,
                &step(task.id, "print", Some(CardStatus::Produced)),
                &wang,
            )?;
            workshop::record_step(
                conn,
                hsm,
                &step(task.id, "qc", Some(CardStatus::QcPassed)),
                &wang,
            )?;
            let task = workshop::complete_task(conn, hsm, task.id, serde_json::json!({}), &wang)?;
            as_stored(conn, &task, "completed")?;
            Ok(())
        })
    });
}

#[test]
fn completion_needs_qc_and_readies_the_envelope() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let branch = branches::create(
                conn,
                hsm,
                &NewBranch {
                    code: "310101".to_owned(),
                    name: "黄浦区南京东路街道社区事务受理服务中心".to_owned(),
                    kind: BranchKind::Community,
                },
                &admin(),
            )?;
            let card = prepared_card(conn, hsm, 1, "permanent-residence", Some(branch.id))?;
            workshop::extract(
                conn,
                hsm,
                &Extraction {
                    kind: ExtractionKind::PermanentResidence,
                    limit: None,
                    max_attempts: 2,
                },
                &centre(),
            )?;
            let wang = operator("wang");
            let (task, _) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.expect("queued");
            workshop::record_step(
                conn,
                hsm,
                &step(task.id, "print", Some(CardStatus::Produced)),
                &wang,
            )?;
            let err = workshop::complete_task(conn, hsm, task.id, serde_json::json!({}), &wang)
                .expect_err("not through QC");
            assert!(err.to_string().contains("qc-passed"), "{err}");
            let err = workshop::envelope_data(conn, hsm, card.id).expect_err("no envelope yet");
            assert!(matches!(err, StorageError::NotFound { .. }), "{err}");

            workshop::record_step(
                conn,
                hsm,
                &step(task.id, "qc", Some(CardStatus::QcPassed)),
                &wang,
            )?;
            let done = workshop::complete_task(
                conn,
                hsm,
                task.id,
                serde_json::json!({ "eject": "hopper 2" }),
                &wang,
            )?;
            assert_eq!(done.status, TaskStatus::Done);
            assert_eq!(done.step.as_deref(), Some("done"));
            assert!(done.finished_at.is_some());
            let last = workshop::steps_of_task(conn, task.id)?
                .pop()
                .expect("steps");
            assert_eq!(
                (last.step.as_str(), last.detail["eject"].as_str()),
                ("done", Some("hopper 2"))
            );
            let err = workshop::complete_task(conn, hsm, task.id, serde_json::json!({}), &wang)
                .expect_err("done once");
            assert!(matches!(err, StorageError::Conflict { .. }), "{err}");

            let envelope = workshop::envelope_data(conn, hsm, card.id)?;
            let card = cards::get_card(conn, card.id)?;
            assert_eq!(Some(envelope.card_number.clone()), card.card_number);
            assert_eq!(envelope.name, person(1, "permanent-residence").name);
            assert_eq!(envelope.english_name.as_deref(), Some("JANE DOE"));
            assert_eq!(envelope.permit_chinese_name.as_deref(), Some("简·多伊"));
            assert_eq!(envelope.branch_code.as_deref(), Some("310101"));
            assert_eq!(envelope.branch_name.as_deref(), Some(branch.name.as_str()));
            assert_eq!((envelope.box_number, envelope.printed_at), (None, None));
            workshop::mark_envelope_printed(conn, hsm, card.id, &wang)?;
            assert!(
                workshop::envelope_data(conn, hsm, card.id)?
                    .printed_at
                    .is_some()
            );
            let actions = audit_actions(conn)?;
            for action in [
                "workshop.task.complete",
                "workshop.envelope.print",
                "workshop.step",
            ] {
                assert!(actions.iter().any(|a| a == action), "{action} audited");
            }
            assert_audit_intact(conn, hsm)
        });
    });
}
