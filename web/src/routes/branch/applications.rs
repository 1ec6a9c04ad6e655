//! Applications at a branch counter (申领): `POST /api/v1/branch/applications`
//! accepts a first issue, a replacement (补卡) or a renewal (换卡) for the
//! operator's branch, and `GET /api/v1/branch/applications` lists the
//! branch's own, paged.
//!
//! Acceptance, in order (every refusal before the first write):
//! 1. the counter ([`super::at_counter`]); the evidence: an `id_read_id`
//!    or, for an operator with the manual-entry permission, a
//!    `manual_entry_reason` (exactly one);
//! 2. the applicant ([`rules::applicant`]: filled from the number, checked
//!    like every application); a permanent-residence holder only at a
//!    community branch;
//! 3. in one write transaction: the ID read ([`rules::check_id_read`]),
//!    the registered person (reused when name and type agree, as
//!    `POST /api/v1/applications` does), the holder's cards
//!    ([`rules::check_previous_card`]); then the person if new, the
//!    replaced card's cancellation (`transition_card`), the application
//!    and its card, the evidence row, the photo, the branch-operation row
//!    and the outbox notices (the holder's SMS; the bank's notice of the
//!    cancelled card).
//!
//! There is no electronic-certificate look-up at this hub: the evidence
//! is the card read at the counter (or a manual entry).

use actix_web::{HttpResponse, get, post, web};
use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use cardhub_storage::applications::{
    self, Application, ApplicationKind, ApplicationStatus, NewApplication,
};
use cardhub_storage::branch::evidence::{self, BranchApplicationQuery, Entry};
use cardhub_storage::branch::id_reads::get_id_read;
use cardhub_storage::branch::operations::{
    self, BranchOperationKind, NewBranchOperation, notify_card_status, notify_holder,
};
use cardhub_storage::cards::{self, Card};
use cardhub_storage::photos::{self, NewPhoto};
use cardhub_storage::{DbConnection, StorageError, persons, utc_now, write_tx};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::rules::{self, Applicant, ApplicantRequest};
use super::{AtCounter, at_counter, masking, scope};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::routes::applications::person::decoded_photo;
use crate::routes::applications::{person_mismatch, registered_person};
use crate::routes::workshop::query::{DefaultStart, page_size, window};
use crate::state::AppState;
use crate::time::shanghai_today;

/// Days an application list covers when no `from` is given.
const LIST_DEFAULT_DAYS: u64 = 30;
/// Rows a list page holds when no `limit` is given.
const LIST_DEFAULT_PAGE: i64 = 50;

/// The business a counter application is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CounterApplicationKind {
    /// 首次申领.
    FirstIssue,
    /// 补卡: replaces a formally lost card, which is cancelled with it.
    Replacement,
    /// 换卡: replaces a held (damaged, expired) card, which is cancelled
    /// with it.
    Renewal,
}

impl CounterApplicationKind {
    fn application_kind(self) -> ApplicationKind {
        match self {
            CounterApplicationKind::FirstIssue => ApplicationKind::FirstIssue,
            CounterApplicationKind::Replacement => ApplicationKind::Replacement,
            CounterApplicationKind::Renewal => ApplicationKind::Renewal,
        }
    }

    fn operation_kind(self) -> BranchOperationKind {
        match self {
            CounterApplicationKind::FirstIssue => BranchOperationKind::FirstIssue,
            CounterApplicationKind::Replacement => BranchOperationKind::Replacement,
            CounterApplicationKind::Renewal => BranchOperationKind::Renewal,
        }
    }
}

/// An application at the counter.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterApplicationRequest {
    /// `first-issue`, `replacement` or `renewal`.
    pub kind: CounterApplicationKind,
    /// The applicant.
    pub applicant: ApplicantRequest,
    /// The ID read of the applicant's card at this branch, at most 30
    /// minutes old (from the terminal's read endpoint).
    #[serde(default)]
    pub id_read_id: Option<i64>,
    /// Instead of an ID read: why the card was not read (manual entry,
    /// 手工录入; needs the operator's manual-entry permission).
    #[serde(default)]
    pub manual_entry_reason: Option<String>,
    /// The card a replacement or renewal replaces.
    #[serde(default)]
    pub replaces_card_id: Option<i64>,
    /// The holder's photo, a JPEG in standard base64.
    #[serde(default)]
    pub photo_base64: Option<String>,
}

/// An application accepted at the counter.
#[derive(Serialize, ToSchema)]
pub struct CounterApplicationView {
    /// The applicant.
    pub person_id: i64,
    /// Whether the person was registered now.
    pub person_created: bool,
    /// The application: `id`, `person_id`, `kind`, `branch_id`, `status`,
    /// `created_at`, `updated_at`.
    #[schema(value_type = Object)]
    pub application: Application,
    /// Its card (`applied`).
    #[schema(value_type = Object)]
    pub card: Card,
    /// The replaced card, now `cancelled` (replacement and renewal).
    #[schema(value_type = Option<Object>)]
    pub replaced_card: Option<Card>,
    /// How the applicant was identified: `{"entry": "id-read",
    /// "id_read_id": 5}` or `{"entry": "manual", "reason": "..."}`.
    #[schema(value_type = Object)]
    pub evidence: Entry,
    /// What was registered about the holder, as the counter shows it:
    /// `document_type`, `nationality`, `name`, `english_name`,
    /// `chinese_name`, `ethnicity`.
    #[schema(value_type = Object)]
    pub registered: serde_json::Value,
}

/// The evidence the request names: exactly one of the two.
fn entry_of(
    here: &AtCounter,
    id_read_id: Option<i64>,
    manual_reason: Option<String>,
) -> Result<Entry, ApiError> {
    let manual_reason = manual_reason
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    match (id_read_id, manual_reason) {
        (Some(id_read_id), None) => Ok(Entry::IdRead { id_read_id }),
        (None, Some(reason)) if here.desk.manual_entry => Ok(Entry::Manual { reason }),
        (None, Some(_)) => Err(ApiError::Refused {
            message: format!(
                "operator `{}` may not enter an applicant by hand (no manual-entry permission): read the holder's card at the terminal and send its `id_read_id`, or ask the centre for the permission",
                here.desk.operator.username
            ),
            detail: Some(serde_json::json!({ "rule": "manual-entry-permission" })),
        }),
        (Some(_), Some(_)) => Err(ApiError::BadRequest(
            "give either `id_read_id` or `manual_entry_reason`, not both".to_owned(),
        )),
        (None, None) => Err(ApiError::BadRequest(
            "say how the applicant was identified: `id_read_id` (the card read at this counter) or, with the manual-entry permission, `manual_entry_reason`".to_owned(),
        )),
    }
}

/// What one acceptance did.
struct Accepted {
    person_id: i64,
    person_created: bool,
    application: Application,
    card: Card,
    replaced_card: Option<Card>,
}

/// What the checks found: the registered person (none: a new one) and
/// the card the application replaces.
struct Checked {
    person_id: Option<i64>,
    replaces: Option<Card>,
}

/// The checks of step 3 (reads only): `Err` refuses before any write.
fn check_in_tx(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    here: &AtCounter,
    applicant: &Applicant,
    entry: &Entry,
    kind: ApplicationKind,
    replaces_card_id: Option<i64>,
) -> Result<Result<Checked, ApiError>, StorageError> {
    if let Entry::IdRead { id_read_id } = entry {
        let read = get_id_read(conn, hsm, *id_read_id)?;
        if let Err(e) = rules::check_id_read(
            &read,
            here.branch.id,
            &applicant.person.document_number,
            utc_now(),
        ) {
            return Ok(Err(e));
        }
    }
    let person_id = match registered_person(conn, hsm, &applicant.person)? {
        Ok(known) => known,
        Err(other) => return Ok(Err(person_mismatch(other))),
    };
    let holder_cards = match person_id {
        Some(id) => cards::cards_of_person(conn, id)?,
        None => Vec::new(),
    };
    let replaces = replaces_card_id
        .map(|id| cards::get_card(conn, id))
        .transpose()?;
    if let Err(e) = rules::check_previous_card(kind, person_id, &holder_cards, replaces.as_ref()) {
        return Ok(Err(e));
    }
    Ok(Ok(Checked {
        person_id,
        replaces,
    }))
}

/// Acceptance in one write transaction (step 3).
fn accept_in_tx(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    here: &AtCounter,
    applicant: &Applicant,
    entry: &Entry,
    request: (CounterApplicationKind, Option<i64>),
    photo: Option<&NewPhoto>,
) -> Result<Result<Accepted, ApiError>, StorageError> {
    let (kind, replaces_card_id) = request;
    let actor = here.caller.actor();
    write_tx(conn, |conn| {
        let Checked {
            person_id,
            replaces,
        } = match check_in_tx(
            conn,
            hsm,
            here,
            applicant,
            entry,
            kind.application_kind(),
            replaces_card_id,
        )? {
            Ok(checked) => checked,
            Err(e) => return Ok(Err(e)),
        };
        let (person_id, person_created) = match person_id {
            Some(id) => (id, false),
            None => (persons::create(conn, hsm, &applicant.person, &actor)?, true),
        };
        let replaced_card = match replaces {
            Some(old) => {
                let reason = format!(
                    "replaced by a {} accepted at branch {}",
                    kind.application_kind(),
                    here.branch.code
                );
                let cancelled = cards::transition_card(
                    conn,
                    hsm,
                    old.id,
                    Some(old.version),
                    CardStatus::Cancelled,
                    &actor,
                    &reason,
                )?;
                notify_card_status(conn, &cancelled, old.status, &here.branch)?;
                Some(cancelled)
            }
            None => None,
        };
        let (application, card) = applications::create_application(
            conn,
            hsm,
            &NewApplication {
                person_id,
                kind: kind.application_kind(),
                branch_id: Some(here.branch.id),
            },
            &actor,
        )?;
        evidence::record_evidence(conn, hsm, application.id, here.branch.id, entry, &actor)?;
        if let Some(photo) = photo {
            photos::put_photo(conn, hsm, application.id, photo, &actor)?;
        }
        operations::record_operation(
            conn,
            &NewBranchOperation {
                branch_id: here.branch.id,
                operator: &actor.name,
                kind: kind.operation_kind(),
                card_id: Some(card.id),
                application_id: Some(application.id),
                outcome: card.status.as_str(),
            },
        )?;
        notify_holder(
            conn,
            person_id,
            "application-accepted",
            serde_json::json!({
                "application_id": application.id,
                "kind": application.kind.as_str(),
                "card_id": card.id,
                "replaced_card_id": replaced_card.as_ref().map(|c| c.id),
            }),
            &here.branch,
            &format!("card:{}", card.id),
        )?;
        Ok(Ok(Accepted {
            person_id,
            person_created,
            application,
            card,
            replaced_card,
        }))
    })
}

/// Accepts an application at the operator's counter, in one transaction.
#[utoipa::path(
    tag = "branch",
    request_body = CounterApplicationRequest,
    responses(
        (status = 201, description = "Accepted", body = CounterApplicationView),
        (status = 400, description = "Malformed JSON, neither or both of `id_read_id` and `manual_entry_reason`", body = ErrorBody),
        (status = 403, description = "No counter; manual entry without the permission (`detail.rule`: `manual-entry-permission`); a permanent-residence holder at a branch that is not a community centre (`permanent-residence-at-community-branches`); the role may not cancel the replaced card", body = ErrorBody),
        (status = 404, description = "No such ID read or replaced card", body = ErrorBody),
        (status = 409, description = "The ID read cannot serve (`id-read-unusable`: other branch, too old, other number), the number is registered to another person (`person-mismatch`), the holder's cards refuse it (`holder-has-a-card`, `replacement-needs-formal-loss`, `renewal-needs-a-held-card`, `card-of-another-holder`), or the replaced card's cancellation is illegal (`illegal-transition`)", body = ErrorBody),
        (status = 422, description = "Invalid number, a field the number contradicts, a bad ethnicity, a Chinese name for a resident, a missing field, an unusable photo", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/branch/applications")]
pub async fn accept(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CounterApplicationRequest>,
) -> Result<HttpResponse, ApiError> {
    let here = at_counter(&state, &caller).await?;
    let CounterApplicationRequest {
        kind,
        applicant,
        id_read_id,
        manual_entry_reason,
        replaces_card_id,
        photo_base64,
    } = body.into_inner();
    let entry = entry_of(&here, id_read_id, manual_entry_reason)?;
    let applicant = rules::applicant(applicant, shanghai_today())?;
    if applicant.permanent_residence {
        rules::permanent_residence_accepted_at(&here.branch)?;
    }
    let photo = photo_base64.as_deref().map(decoded_photo).transpose()?;
    let hsm = state.store.hsm().clone();
    let (entry_sent, applicant_sent) = (entry.clone(), applicant.clone());
    let accepted = state
        .store
        .write("branch.accept_application", move |conn| {
            accept_in_tx(
                conn,
                hsm.as_ref(),
                &here,
                &applicant_sent,
                &entry_sent,
                (kind, replaces_card_id),
                photo.as_ref(),
            )
        })
        .await??;
    let p = &applicant.person;
    Ok(HttpResponse::Created().json(CounterApplicationView {
        person_id: accepted.person_id,
        person_created: accepted.person_created,
        application: accepted.application,
        card: accepted.card,
        replaced_card: accepted.replaced_card,
        evidence: entry,
        registered: serde_json::json!({
            "document_type": p.document_type,
            "nationality": p.nationality,
            "name": p.name,
            "english_name": p.english_name,
            "chinese_name": p.permit_chinese_name,
            "ethnicity": p.ethnicity,
        }),
    }))
}

/// `GET /branch/applications` parameters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Accepted from: `2026-03-01` (that Shanghai day) or an RFC 3339
    /// instant; default 30 days before `to`.
    pub from: Option<String>,
    /// Accepted before (a date includes that whole day); default now.
    pub to: Option<String>,
    /// `open`, `completed` or `withdrawn`.
    #[param(value_type = Option<String>)]
    pub status: Option<ApplicationStatus>,
    /// Centre staff and admin: one branch's (code); default every branch.
    /// A branch operator sees their own only.
    pub branch: Option<String>,
    /// Rows per page (1..=1000, default 50), newest first.
    pub limit: Option<i64>,
    /// Rows skipped (default 0).
    pub offset: Option<i64>,
}

/// One row of the list.
#[derive(Serialize, ToSchema)]
pub struct ListedApplication {
    /// Application id.
    pub id: i64,
    /// `first-issue`, `replacement`, `renewal`, `instant-issue`.
    pub kind: String,
    /// `open`, `completed`, `withdrawn`.
    pub status: String,
    /// When accepted (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: chrono::NaiveDateTime,
    /// The holder's name, masked for branch operators.
    pub person_name: String,
    /// The live card: id and status.
    #[schema(value_type = Option<Object>)]
    pub card: Option<serde_json::Value>,
    /// How the applicant was identified (none: not taken at a counter).
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<Entry>,
}

/// A page of the list.
#[derive(Serialize, ToSchema)]
pub struct ListPage {
    /// Matching applications in all.
    pub total: i64,
    /// This page.
    pub items: Vec<ListedApplication>,
}

/// The branch's applications over a window, newest first, paged.
#[utoipa::path(
    tag = "branch",
    params(ListQuery),
    responses(
        (status = 200, description = "A page", body = ListPage),
        (status = 400, description = "A bad date, window, status or page", body = ErrorBody),
        (status = 403, description = "No counter, or a branch operator asking for another branch", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/branch/applications")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let branch = scope(&state, &caller, query.branch.as_deref()).await?;
    let w = window(
        query.from.as_deref(),
        query.to.as_deref(),
        utc_now().and_utc(),
        DefaultStart::DaysBefore(LIST_DEFAULT_DAYS),
    )?;
    let limit = page_size(query.limit, LIST_DEFAULT_PAGE)?;
    let offset = query.offset.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::BadRequest(format!(
            "offset {offset} is negative: count rows from 0"
        )));
    }
    let page = state
        .store
        .list_branch_applications(BranchApplicationQuery {
            branch_id: branch.map(|b| b.id),
            from: w.from,
            to: w.to,
            status: query.status,
            limit,
            offset,
        })
        .await?;
    let role = caller.role;
    Ok(HttpResponse::Ok().json(ListPage {
        total: page.total,
        items: page
            .items
            .into_iter()
            .map(|row| ListedApplication {
                id: row.application.id,
                kind: row.application.kind.as_str().to_owned(),
                status: row.application.status.as_str().to_owned(),
                created_at: row.application.created_at,
                person_name: masking::for_role(role, &row.person_name, masking::name),
                card: row.card.map(|c| {
                    serde_json::json!({
                        "id": c.id,
                        "status": c.status.as_str(),
                        "status_label": c.status.label_zh(),
                    })
                }),
                evidence: row.evidence,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_refuse_instant_issue_and_unknown_fields() {
        let base = serde_json::json!({
            "kind": "first-issue",
            "applicant": { "document_number": "911124198108030024", "name": "JANE" },
            "id_read_id": 1
        });
        assert!(serde_json::from_value::<CounterApplicationRequest>(base.clone()).is_ok());
        let mut instant = base.clone();
        instant["kind"] = "instant-issue".into();
        assert!(serde_json::from_value::<CounterApplicationRequest>(instant).is_err());
        let mut ecert = base;
        ecert["e_certificate"] = true.into();
        assert!(serde_json::from_value::<CounterApplicationRequest>(ecert).is_err());
    }
}
