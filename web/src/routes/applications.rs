//! Applications over HTTP (申领): `POST /api/v1/applications` accepts a
//! person and a card application in one go (for the demo, the tests and
//! outside systems that hand over ready applications), `GET
//! /api/v1/applications/{id}` shows one with its current card and that
//! card's progress.
//!
//! Acceptance checks the identity number (`cardhub_protocols::identity`)
//! and that the person's stated document type, nationality, birth date and
//! sex agree with what the number says; reuses the person when the number
//! is already registered (same name and document type, else 409); creates
//! the application and its card, stores the photo and, with `approve`,
//! moves the card `applied → photo-approved → data-prepared` (the centre's
//! transitions, so `approve` needs the centre's role). All of it is one
//! write transaction: a refusal anywhere leaves nothing behind. The
//! applicant's checks are in `person`.

pub(crate) mod person;

use actix_web::{HttpResponse, get, post, web};
use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use cardhub_protocols::roles::Role;
use cardhub_storage::applications::{self, Application, ApplicationKind, NewApplication};
use cardhub_storage::cards::{self, Card};
use cardhub_storage::persons::NewPerson;
use cardhub_storage::workshop::{card_progress, current_card_of_application};
use cardhub_storage::{DbConnection, StorageError, branches, persons, photos, write_tx};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use person::PersonRequest;
use person::{checked_person, decoded_photo};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use crate::time::shanghai_today;

/// Roles that hand in applications.
const MAY_APPLY: [Role; 3] = [Role::CentreStaff, Role::BranchOperator, Role::OutsideSystem];
/// Roles that approve the photo and prepare the data (the centre's edges of
/// the card status machine).
const MAY_APPROVE: [Role; 1] = [Role::CentreStaff];
/// Roles that look at applications.
const MAY_LOOK: [Role; 4] = [
    Role::CentreStaff,
    Role::BranchOperator,
    Role::OutsideSystem,
    Role::WorkshopOperator,
];

/// A person and an application to accept.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationRequest {
    /// The applicant; reused when the document number is registered.
    pub person: PersonRequest,
    /// `first-issue`, `replacement`, `renewal` or `instant-issue`.
    #[schema(value_type = String, example = "first-issue")]
    pub kind: ApplicationKind,
    /// The branch the card goes to; none: the centre's own counter.
    #[serde(default)]
    pub branch_code: Option<String>,
    /// The holder's photo, a JPEG in standard base64 (the whole request is
    /// at most 256 KiB).
    #[serde(default)]
    pub photo_base64: Option<String>,
    /// Approve the photo and prepare the data at once (the card ends
    /// `data-prepared`, ready for extraction); needs the centre's role.
    #[serde(default)]
    pub approve: bool,
}

/// An accepted application.
#[derive(Serialize, ToSchema)]
pub struct AcceptedApplication {
    /// The applicant.
    pub person_id: i64,
    /// Whether the person was registered now (false: the number was known).
    pub person_created: bool,
    /// The application: `id`, `person_id`, `kind`, `branch_id`, `status`,
    /// `created_at`, `updated_at`.
    #[schema(value_type = Object)]
    pub application: Application,
    /// Its card: `id`, `person_id`, `application_id`, `card_number`,
    /// `status`, `version`, `created_at`, `updated_at`.
    #[schema(value_type = Object)]
    pub card: Card,
}

/// Accepts a person and an application (and with `approve`, readies the
/// card for the workshop), in one transaction.
#[utoipa::path(
    tag = "applications",
    request_body = ApplicationRequest,
    responses(
        (status = 201, description = "Accepted", body = AcceptedApplication),
        (status = 400, description = "Malformed JSON, an unknown kind or sex, a bad date", body = ErrorBody),
        (status = 403, description = "`approve` without the centre's role", body = ErrorBody),
        (status = 404, description = "No branch with that code", body = ErrorBody),
        (status = 409, description = "The number is registered to a person of another name or document type", body = ErrorBody),
        (status = 422, description = "Invalid identity number (`invalid-identity-number`), a field the number contradicts (`identity-mismatch`), an unusable photo (`invalid-photo`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/applications")]
pub async fn accept(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<ApplicationRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_APPLY)?;
    let ApplicationRequest {
        person,
        kind,
        branch_code,
        photo_base64,
        approve,
    } = body.into_inner();
    if approve {
        caller.require(&MAY_APPROVE)?;
    }
    let person = checked_person(person, shanghai_today())?;
    let photo = photo_base64.as_deref().map(decoded_photo).transpose()?;
    let hsm = state.store.hsm().clone();
    let actor = caller.actor();
    let accepted = state
        .store
        .write("applications.accept", move |conn| {
            write_tx(conn, |conn| {
                let hsm = hsm.as_ref();
                let branch_id = match branch_code.as_deref() {
                    Some(code) => Some(branches::get_by_code(conn, code.trim())?.id),
                    None => None,
                };
                let (person_id, person_created) = match registered_person(conn, hsm, &person)? {
                    Ok(Some(known)) => (known, false),
                    Ok(None) => (persons::create(conn, hsm, &person, &actor)?, true),
                    Err(other) => return Ok(Err(other)),
                };
                let new = NewApplication {
                    person_id,
                    kind,
                    branch_id,
                };
                let (application, mut card) =
                    applications::create_application(conn, hsm, &new, &actor)?;
                if let Some(photo) = &photo {
                    photos::put_photo(conn, hsm, application.id, photo, &actor)?;
                }
                if approve {
                    for (to, reason) in [
                        (CardStatus::PhotoApproved, "photo approved at acceptance"),
                        (CardStatus::DataPrepared, "data prepared at acceptance"),
                    ] {
                        card = cards::transition_card(
                            conn,
                            hsm,
                            card.id,
                            Some(card.version),
                            to,
                            &actor,
                            reason,
                        )?;
                    }
                }
                Ok(Ok(AcceptedApplication {
                    person_id,
                    person_created,
                    application,
                    card,
                }))
            })
        })
        .await?;
    match accepted {
        Ok(accepted) => Ok(HttpResponse::Created().json(accepted)),
        Err(person_id) => Err(person_mismatch(person_id)),
    }
}

/// The person registered with `person`'s document number: `Ok(Some(id))`
/// when the name and document type agree (the person is reused),
/// `Ok(None)` when the number is not registered, `Err(id)` when it is
/// registered to a person of another name or document type (see
/// [`person_mismatch`]). Reads only.
pub(crate) fn registered_person(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    person: &NewPerson,
) -> Result<Result<Option<i64>, i64>, StorageError> {
    Ok(
        match persons::find_by_document_number(conn, hsm, &person.document_number)? {
            Some(known)
                if known.name == person.name && known.document_type == person.document_type =>
            {
                Ok(Some(known.id))
            }
            Some(known) => Err(known.id),
            None => Ok(None),
        },
    )
}

/// The 409 for a document number registered to a person of another name
/// or document type.
pub(crate) fn person_mismatch(person_id: i64) -> ApiError {
    ApiError::Conflict {
        code: "person-mismatch",
        message: format!(
            "the document number is registered to person {person_id} with another name or document type: send the registered details, or correct the person's record first"
        ),
        detail: Some(serde_json::json!({ "person_id": person_id })),
    }
}

/// One application, its current card (after a waste: the remade one) and
/// that card's progress.
#[utoipa::path(
    tag = "applications",
    params(("id" = i64, Path, description = "Application id")),
    responses(
        (status = 200, description = "`application`, `card`, and `progress`: `task` (null before extraction), `steps`, `history`, `waste`, `other_cards`"),
        (status = 404, description = "No such application", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/applications/{id}")]
pub async fn get_application(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_LOOK)?;
    let id = id.into_inner();
    let (application, progress) = state
        .store
        .run("applications.get_with_progress", move |conn| {
            let application = applications::get_application(conn, id)?;
            let card = current_card_of_application(conn, id)?;
            Ok((application, card_progress(conn, card.id)?))
        })
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "application": application,
        "card": progress.card,
        "progress": {
            "task": progress.task,
            "steps": progress.steps,
            "history": progress.history,
            "waste": progress.waste,
            "other_cards": progress.other_cards,
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_refuse_unknown_fields_and_values() {
        let base = serde_json::json!({
            "person": {
                "document_type": "resident-id", "document_number": "11010519491231002X",
                "name": "测试", "nationality": 156, "sex": "female", "birth_date": "1949-12-31"
            },
            "kind": "first-issue"
        });
        let ok: ApplicationRequest = serde_json::from_value(base.clone()).expect("accepted");
        assert!(!ok.approve);
        let mut bad_kind = base.clone();
        bad_kind["kind"] = "gift".into();
        assert!(serde_json::from_value::<ApplicationRequest>(bad_kind).is_err());
        let mut bad_date = base.clone();
        bad_date["person"]["birth_date"] = "31/12/1949".into();
        assert!(serde_json::from_value::<ApplicationRequest>(bad_date).is_err());
        let mut extra = base;
        extra["colour"] = "red".into();
        assert!(serde_json::from_value::<ApplicationRequest>(extra).is_err());
    }
}
