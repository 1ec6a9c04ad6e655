//! The personal information query (个人信息查询): `GET
//! /api/v1/branch/persons?document_number=...` or `?phone=...` answers
//! each holder found with name, document number, phone and address,
//! masked for branch operators and whole for centre staff and admin
//! ([`super::masking`]), with the holder's cards. Every query, found or
//! not, is audited (`person.query`: who looked up whom, by which key,
//! masked or not; never the number or phone asked for) and, at a counter,
//! registered as a branch operation, in one transaction with the read
//! (`cardhub_storage::branch::lookups`).

use actix_web::{HttpResponse, get, web};
use cardhub_storage::branch::lookups::{HolderKey, Lookup, LookupPurpose};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::cards::counter_branch;
use super::{MAY_SERVE, masking};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::routes::cards::CardView;
use crate::state::AppState;

/// What `GET /branch/persons` looks a holder up by: exactly one of the
/// two.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PersonQuery {
    /// The document number (any document type).
    pub document_number: Option<String>,
    /// The mobile phone (family members may share one: several answers).
    pub phone: Option<String>,
}

impl PersonQuery {
    fn key(self) -> Result<HolderKey, ApiError> {
        let given = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        match (given(self.document_number), given(self.phone)) {
            (Some(number), None) => Ok(HolderKey::DocumentNumber(number)),
            (None, Some(phone)) => Ok(HolderKey::Phone(phone)),
            (Some(_), Some(_)) => Err(ApiError::BadRequest(
                "give either `document_number` or `phone`, not both".to_owned(),
            )),
            (None, None) => Err(ApiError::BadRequest(
                "say whom to look up: `?document_number=<证件号码>` or `?phone=<手机号>`"
                    .to_owned(),
            )),
        }
    }
}

/// One holder, as the caller's role sees them.
#[derive(Serialize, ToSchema)]
pub struct PersonView {
    /// Person id.
    pub id: i64,
    /// 姓名 (masked: first character kept).
    pub name: String,
    /// Document type's stable name.
    pub document_type: String,
    /// 证件号码 (masked: first 6 and last 4 kept).
    pub document_number: String,
    /// Nationality, ISO 3166-1 numeric.
    pub nationality: i32,
    /// Mobile phone (masked: first 3 and last 4 kept).
    pub phone: Option<String>,
    /// Postal address (masked: the district kept).
    pub address: Option<String>,
    /// Whether the values above are masked.
    pub masked: bool,
    /// The holder's cards, oldest first.
    pub cards: Vec<CardView>,
}

/// Looks up holders by document number or phone; masked by role, audited.
#[utoipa::path(
    tag = "branch",
    params(PersonQuery),
    responses(
        (status = 200, description = "The holders found (none: an empty list)", body = Vec<PersonView>),
        (status = 400, description = "Neither or both keys", body = ErrorBody),
        (status = 403, description = "A role that works no counter, or a branch operator without one", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/branch/persons")]
pub async fn query(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<PersonQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_SERVE)?;
    let key = query.into_inner().key()?;
    let branch_id = counter_branch(&state, &caller).await?;
    let role = caller.role;
    let masked = masking::masks_for(role);
    let holders = state
        .store
        .look_up_holders(
            key,
            Lookup {
                actor: caller.actor(),
                purpose: LookupPurpose::PersonQuery,
                masked,
                branch_id,
            },
        )
        .await?;
    let views: Vec<PersonView> = holders
        .into_iter()
        .map(|h| {
            let p = h.person;
            PersonView {
                id: p.id,
                name: masking::for_role(role, &p.name, masking::name),
                document_type: p.document_type,
                document_number: masking::for_role(
                    role,
                    &p.document_number,
                    masking::document_number,
                ),
                nationality: p.nationality,
                phone: p.phone.map(|v| masking::for_role(role, &v, masking::phone)),
                address: p
                    .address
                    .map(|v| masking::for_role(role, &v, masking::address)),
                masked,
                cards: h.cards.into_iter().map(CardView::from).collect(),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(views))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(text: &str) -> Result<&'static str, String> {
        web::Query::<PersonQuery>::from_query(text)
            .map_err(|e| e.to_string())?
            .into_inner()
            .key()
            .map(|k| k.name())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn exactly_one_key_names_the_holder() {
        assert_eq!(
            key_of("document_number=11010519491231002X"),
            Ok("document-number")
        );
        assert_eq!(key_of("phone=13800138000"), Ok("phone"));
        assert!(
            key_of("document_number=1&phone=2")
                .unwrap_err()
                .contains("not both")
        );
        assert!(key_of("phone=%20").unwrap_err().contains("document_number"));
        assert!(key_of("name=张三").is_err());
    }
}
