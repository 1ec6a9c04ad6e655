//! Extraction (制卡任务抽取 / 单独抽取): data-prepared cards become
//! queued making-card tasks, in one batch. Permanent-residence holders
//! are extracted separately, and each of their tasks queues the reminder
//! SMS (`sms.permit-reminder`) that a later channel sends.

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::{Batch, ExtractionKind, Task, TaskStatus, get_batch, get_task};
use crate::audit::{self, AuditEntry};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, conflict_or_db, db};
use crate::outbox;
use crate::schema::{cards, making_card_batches, making_card_tasks, persons};
use crate::{Actor, Store, utc_now};

/// Outbox topic of the permanent-residence reminder SMS, one message per
/// task of a separate extraction; ordering key `person:<id>`, payload
/// `{person_id, application_id, card_id, batch_id, task_id}`.
pub const PERMIT_REMINDER_TOPIC: &str = "sms.permit-reminder";

/// The document type of permanent-residence holders (`persons.document_type`).
const PERMANENT_RESIDENCE: &str = "permanent-residence";

/// Most attempts a task may be given: a card failing this often has a
/// data or material problem a person must look at.
const MAX_ATTEMPTS_LIMIT: i32 = 10;

/// What to extract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extraction {
    /// Normal, or the separate permanent-residence extraction.
    pub kind: ExtractionKind,
    /// Most tasks to create; `None` takes every waiting card.
    pub limit: Option<i64>,
    /// Physical cards each task may use before it fails (1..=10).
    pub max_attempts: i32,
}

/// Creates one batch of `queued` tasks (attempts 0) for the data-prepared
/// cards whose application has no task yet, oldest card first, up to
/// `limit`. The normal extraction leaves out permanent-residence holders;
/// the separate one takes only them and queues a [`PERMIT_REMINDER_TOPIC`]
/// message per task. When no card waits, nothing is written and the answer
/// is [`StorageError::NotFound`]. Audited as `workshop.extract`.
///
/// A card is never extracted twice: one task per application (unique), and
/// a concurrent extraction that picked the same cards fails with
/// [`StorageError::Conflict`].
pub fn extract(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    req: &Extraction,
    actor: &Actor,
) -> Result<(Batch, Vec<Task>), StorageError> {
    if !(1..=MAX_ATTEMPTS_LIMIT).contains(&req.max_attempts) {
        return Err(StorageError::Invalid {
            what: "max_attempts",
            reason: format!(
                "{} is outside 1..={MAX_ATTEMPTS_LIMIT}: a task needs at least one card",
                req.max_attempts
            ),
        });
    }
    if let Some(limit) = req.limit
        && limit < 1
    {
        return Err(StorageError::Invalid {
            what: "extraction limit",
            reason: format!("{limit} is not a positive number of tasks; give none to take all"),
        });
    }
    write_tx(conn, |conn| {
        let waiting = waiting_cards(conn, req)?;
        if waiting.is_empty() {
            return Err(StorageError::NotFound {
                what: "data-prepared card without a making-card task for extraction",
                key: req.kind.as_str().to_owned(),
            });
        }
        let now = utc_now();
        let count = i32::try_from(waiting.len()).map_err(|_| StorageError::Invalid {
            what: "extraction limit",
            reason: format!("{} cards are too many for one batch", waiting.len()),
        })?;
        let batch_id: i64 = diesel::insert_into(making_card_batches::table)
            .values((
                making_card_batches::kind.eq(req.kind.as_str()),
                making_card_batches::task_count.eq(count),
                making_card_batches::created_by.eq(&actor.name),
                making_card_batches::created_at.eq(now),
            ))
            .returning(making_card_batches::id)
            .get_result(conn)
            .map_err(db("insert a making-card batch"))?;
        let mut created = Vec::with_capacity(waiting.len());
        for &(card_id, application_id, person_id) in &waiting {
            let task_id: i64 = diesel::insert_into(making_card_tasks::table)
                .values((
                    making_card_tasks::batch_id.eq(batch_id),
                    making_card_tasks::application_id.eq(application_id),
                    making_card_tasks::person_id.eq(person_id),
                    making_card_tasks::card_id.eq(card_id),
                    making_card_tasks::status.eq(TaskStatus::Queued.as_str()),
                    making_card_tasks::attempts.eq(0),
                    making_card_tasks::max_attempts.eq(req.max_attempts),
                    making_card_tasks::queued_at.eq(now),
                    making_card_tasks::updated_at.eq(now),
                ))
                .returning(making_card_tasks::id)
                .get_result(conn)
                .map_err(conflict_or_db("insert a making-card task", || {
                    format!(
                        "application {application_id} was extracted by another extraction at the same time: extract again"
                    )
                }))?;
            let task = get_task(conn, task_id)?;
            if req.kind == ExtractionKind::PermanentResidence {
                outbox::enqueue(
                    conn,
                    PERMIT_REMINDER_TOPIC,
                    &format!("person:{person_id}"),
                    &serde_json::json!({
                        "person_id": person_id,
                        "application_id": application_id,
                        "card_id": card_id,
                        "batch_id": batch_id,
                        "task_id": task.id,
                    }),
                )?;
            }
            created.push(task);
        }
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "workshop.extract",
                format!("making-card-batch:{batch_id}"),
                serde_json::json!({
                    "kind": req.kind.as_str(),
                    "tasks": count,
                    "first_task": created.first().map(|t| t.id),
                    "last_task": created.last().map(|t| t.id),
                    "max_attempts": req.max_attempts,
                }),
            ),
        )?;
        Ok((get_batch(conn, batch_id)?, created))
    })
}

/// 即时补换: queues the making-card task of one data-prepared card for the
/// instant-issue line `line` (a branch's printer), in one transaction: a
/// batch of one (of the holder's extraction kind) and a task only that
/// line claims ([`super::Claim::instant`]). The card must be
/// data-prepared and have no task yet; otherwise
/// [`StorageError::Conflict`] says where it is. Audited as
/// `workshop.instant.queue`.
pub fn queue_instant(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    card_id: i64,
    line: &str,
    max_attempts: i32,
    actor: &Actor,
) -> Result<Task, StorageError> {
    super::check_name("line", line)?;
    if !(1..=MAX_ATTEMPTS_LIMIT).contains(&max_attempts) {
        return Err(StorageError::Invalid {
            what: "max_attempts",
            reason: format!("{max_attempts} is outside 1..={MAX_ATTEMPTS_LIMIT}"),
        });
    }
    write_tx(conn, |conn| {
        let (status, application_id, person_id, document_type): (String, i64, i64, String) =
            cards::table
                .inner_join(persons::table)
                .filter(cards::id.eq(card_id))
                .select((
                    cards::status,
                    cards::application_id,
                    cards::person_id,
                    persons::document_type,
                ))
                .first(conn)
                .optional()
                .map_err(db("look up the card to issue at once"))?
                .ok_or_else(|| StorageError::NotFound {
                    what: "card",
                    key: card_id.to_string(),
                })?;
        if status != CardStatus::DataPrepared.as_str() {
            return Err(StorageError::Conflict {
                what: format!(
                    "card {card_id} is {status}, not data-prepared: only a card whose photo is approved and data prepared can be made at the counter"
                ),
            });
        }
        let kind = if document_type == PERMANENT_RESIDENCE {
            ExtractionKind::PermanentResidence
        } else {
            ExtractionKind::Normal
        };
        let now = utc_now();
        let batch_id: i64 = diesel::insert_into(making_card_batches::table)
            .values((
                making_card_batches::kind.eq(kind.as_str()),
                making_card_batches::task_count.eq(1),
                making_card_batches::created_by.eq(&actor.name),
                making_card_batches::created_at.eq(now),
            ))
            .returning(making_card_batches::id)
            .get_result(conn)
            .map_err(db("insert an instant-issue batch"))?;
        let task_id: i64 = diesel::insert_into(making_card_tasks::table)
            .values((
                making_card_tasks::batch_id.eq(batch_id),
                making_card_tasks::application_id.eq(application_id),
                making_card_tasks::person_id.eq(person_id),
                making_card_tasks::card_id.eq(card_id),
                making_card_tasks::status.eq(TaskStatus::Queued.as_str()),
                making_card_tasks::attempts.eq(0),
                making_card_tasks::max_attempts.eq(max_attempts),
                making_card_tasks::queued_at.eq(now),
                making_card_tasks::updated_at.eq(now),
                making_card_tasks::for_line.eq(line),
            ))
            .returning(making_card_tasks::id)
            .get_result(conn)
            .map_err(conflict_or_db("insert an instant-issue task", || {
                format!(
                    "application {application_id} already has a making-card task: follow that one"
                )
            }))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "workshop.instant.queue",
                format!("making-card-task:{task_id}"),
                serde_json::json!({
                    "card_id": card_id,
                    "application_id": application_id,
                    "line": line,
                    "batch_id": batch_id,
                }),
            ),
        )?;
        get_task(conn, task_id)
    })
}

/// 即时补换 at a branch counter, in one transaction: the application's
/// current card, whose photo is stored, is approved and its data prepared
/// under the centre's delegation to the counter (audited as the centre's
/// transitions by `instant-issue:<operator>`), and its task is queued for
/// the branch's instant-issue line ([`queue_instant`]). A card already
/// data-prepared is only queued. Refused, writing nothing, when the
/// application has no photo or its card is past data-prepared.
pub fn issue_at_counter(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    application_id: i64,
    line: &str,
    max_attempts: i32,
    operator: &Actor,
) -> Result<Task, StorageError> {
    write_tx(conn, |conn| {
        let card = super::current_card_of_application(conn, application_id)?;
        if crate::photos::get_photo(conn, application_id)?.is_none() {
            return Err(StorageError::Conflict {
                what: format!(
                    "application {application_id} has no photo: take the applicant's photo before making the card at the counter"
                ),
            });
        }
        let centre = Actor::new(
            format!("instant-issue:{}", operator.name),
            cardhub_protocols::roles::Role::CentreStaff,
        );
        let reason = format!("即时补换 at the counter by {}", operator.name);
        let mut card = card;
        for next in [CardStatus::PhotoApproved, CardStatus::DataPrepared] {
            let before = match next {
                CardStatus::PhotoApproved => CardStatus::Applied,
                _ => CardStatus::PhotoApproved,
            };
            if card.status == before {
                card = crate::cards::transition_card(
                    conn,
                    hsm,
                    card.id,
                    Some(card.version),
                    next,
                    &centre,
                    &reason,
                )?;
            }
        }
        queue_instant(conn, hsm, card.id, line, max_attempts, operator)
    })
}

/// `(card, application, person)` of the cards the extraction would take.
fn waiting_cards(
    conn: &mut DbConnection,
    req: &Extraction,
) -> Result<Vec<(i64, i64, i64)>, StorageError> {
    let without_task = not(exists(
        making_card_tasks::table
            .filter(making_card_tasks::application_id.eq(cards::application_id)),
    ));
    let mut query = cards::table
        .inner_join(persons::table)
        .filter(cards::status.eq(CardStatus::DataPrepared.as_str()))
        .filter(without_task)
        .order(cards::id.asc())
        .select((cards::id, cards::application_id, cards::person_id))
        .into_boxed();
    query = match req.kind {
        ExtractionKind::Normal => query.filter(persons::document_type.ne(PERMANENT_RESIDENCE)),
        ExtractionKind::PermanentResidence => {
            query.filter(persons::document_type.eq(PERMANENT_RESIDENCE))
        }
    };
    if let Some(limit) = req.limit {
        query = query.limit(limit);
    }
    query
        .load(conn)
        .map_err(db("find data-prepared cards to extract"))
}

impl Store {
    /// [`issue_at_counter`] on the blocking pool.
    pub async fn issue_at_counter(
        &self,
        application_id: i64,
        line: String,
        max_attempts: i32,
        operator: Actor,
    ) -> Result<Task, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.issue_at_counter", move |conn| {
            issue_at_counter(
                conn,
                hsm.as_ref(),
                application_id,
                &line,
                max_attempts,
                &operator,
            )
        })
        .await
    }

    /// [`queue_instant`] on the blocking pool.
    pub async fn queue_instant(
        &self,
        card_id: i64,
        line: String,
        max_attempts: i32,
        actor: Actor,
    ) -> Result<Task, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.queue_instant", move |conn| {
            queue_instant(conn, hsm.as_ref(), card_id, &line, max_attempts, &actor)
        })
        .await
    }

    /// [`extract`] on the blocking pool.
    pub async fn extract(
        &self,
        req: Extraction,
        actor: Actor,
    ) -> Result<(Batch, Vec<Task>), StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.extract", move |conn| {
            extract(conn, hsm.as_ref(), &req, &actor)
        })
        .await
    }
}
