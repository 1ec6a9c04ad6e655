//! The workshop's storage: extraction, the queue, steps, waste, operator
//! control (line states, failing and retrying tasks), statistics,
//! envelopes, boxes and dispatch, photos, and the migration that lets a
//! wasted card's remake share its application. Helpers here; the tests are
//! in the submodules.

mod control;
mod dispatch;
mod extraction;
mod migration;
mod photos;
mod production;
mod queue;
mod stats;
mod waste;

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use cardhub_storage::applications::{self, ApplicationKind, NewApplication};
use cardhub_storage::cards::{self, Card};
use cardhub_storage::workshop::{
    self, Claim, Extraction, ExtractionKind, StepOutcome, StepReport, Task,
};
use cardhub_storage::{audit, persons};

use super::*;

/// The centre's back office (approves photos, prepares data).
fn centre() -> Actor {
    actor("li", Role::CentreStaff)
}

/// A line operator.
fn operator(name: &str) -> Actor {
    actor(name, Role::WorkshopOperator)
}

/// A person numbered `n` (document numbers are unique per person).
fn person(n: u32, document_type: &str) -> NewPerson {
    let base = if document_type == "permanent-residence" {
        foreigner()
    } else {
        resident()
    };
    NewPerson {
        document_type: document_type.to_owned(),
        document_number: format!("3101011990{n:08}"),
        name: format!("{}{n}", base.name),
        ..base
    }
}

/// A person with an application whose card is `data-prepared`.
fn prepared_card(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    n: u32,
    document_type: &str,
    branch_id: Option<i64>,
) -> Result<Card, StorageError> {
    let person_id = persons::create(conn, hsm, &person(n, document_type), &admin())?;
    let (_, card) = applications::create_application(
        conn,
        hsm,
        &NewApplication {
            person_id,
            kind: ApplicationKind::FirstIssue,
            branch_id,
        },
        &actor("desk-1", Role::BranchOperator),
    )?;
    for to in [CardStatus::PhotoApproved, CardStatus::DataPrepared] {
        cards::transition_card(conn, hsm, card.id, None, to, &centre(), "ready")?;
    }
    cards::get_card(conn, card.id)
}

/// `count` residents' data-prepared cards, extracted in one normal batch.
fn queued_tasks(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    first: u32,
    count: u32,
    max_attempts: i32,
) -> Result<Vec<Task>, StorageError> {
    for n in first..first + count {
        prepared_card(conn, hsm, n, "resident-id", None)?;
    }
    let (_, tasks) = workshop::extract(
        conn,
        hsm,
        &Extraction {
            kind: ExtractionKind::Normal,
            limit: None,
            max_attempts,
        },
        &centre(),
    )?;
    Ok(tasks)
}

/// A claim on `line`'s printer 1 with card numbers prefixed `A`.
fn claim_on(line: &str) -> Claim<'_> {
    Claim {
        line,
        printer: "printer-1",
        number_prefix: "A",
        instant: false,
    }
}

/// A step report.
fn step<'a>(task_id: i64, name: &'a str, card_to: Option<CardStatus>) -> StepReport<'a> {
    StepReport {
        task_id,
        step: name,
        outcome: StepOutcome::Done,
        detail: serde_json::json!({ "device": format!("{name}-1") }),
        card_to,
    }
}

/// Claims the next task on `line` as `who` and makes its card through to
/// completion (print → produced, QC → qc-passed, done).
fn make_next_card(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    line: &str,
    who: &Actor,
) -> Result<Task, StorageError> {
    let (task, _) =
        workshop::claim_next_task(conn, hsm, &claim_on(line), who)?.expect("a task is queued");
    for report in [
        step(task.id, "feed", None),
        step(task.id, "chip", None),
        step(task.id, "print", Some(CardStatus::Produced)),
        step(task.id, "qc", Some(CardStatus::QcPassed)),
    ] {
        workshop::record_step(conn, hsm, &report, who)?;
    }
    workshop::complete_task(
        conn,
        hsm,
        task.id,
        serde_json::json!({ "eject": "ok" }),
        who,
    )
}

/// Fails the test unless the audit chain verifies.
fn assert_audit_intact(conn: &mut DbConnection, hsm: &dyn Hsm) -> Result<(), StorageError> {
    let report = audit::verify(conn, hsm)?;
    assert!(report.is_intact(), "audit chain broken: {report:?}");
    Ok(())
}

/// The audit actions recorded so far, in order.
fn audit_actions(conn: &mut DbConnection) -> Result<Vec<String>, StorageError> {
    Ok(audit::list(conn, 0, 100_000)?
        .into_iter()
        .map(|r| r.action)
        .collect())
}
