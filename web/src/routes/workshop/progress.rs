//! A card's progress over HTTP (制卡进度查询): everything the workshop knows
//! about one card (its task, steps, wastes, status history, the
//! application's other cards), asked for by card id, by card number, or
//! by application (whose current card is the one shown: after a waste,
//! the remade card). The snapshot itself is
//! `cardhub_storage::workshop::card_progress`.

use actix_web::{HttpResponse, get, web};
use cardhub_storage::workshop::{self, card_by_number, card_progress};
use serde::Deserialize;
use utoipa::IntoParams;

use super::MAY_TRACK;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// What `GET /workshop/progress` looks a card up by: exactly one of the two.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ProgressQuery {
    /// The card number (卡号) printed on the card.
    pub card_number: Option<String>,
    /// The application; its current card is shown.
    pub application_id: Option<i64>,
}

/// Which card a progress query names.
#[derive(Debug, PartialEq, Eq)]
enum Lookup {
    Number(String),
    Application(i64),
}

impl ProgressQuery {
    fn lookup(self) -> Result<Lookup, ApiError> {
        match (self.card_number, self.application_id) {
            (Some(number), None) if !number.trim().is_empty() => {
                Ok(Lookup::Number(number.trim().to_owned()))
            }
            (None, Some(id)) => Ok(Lookup::Application(id)),
            (Some(_), Some(_)) => Err(ApiError::BadRequest(
                "give either `card_number` or `application_id`, not both".to_owned(),
            )),
            _ => Err(ApiError::BadRequest(
                "say which card: `?card_number=<卡号>` or `?application_id=<id>`".to_owned(),
            )),
        }
    }
}

/// The progress of one card.
#[utoipa::path(
    tag = "workshop",
    params(("id" = i64, Path, description = "Card id")),
    responses(
        (status = 200, description = "`card`, `task` (null before extraction), `steps`, `history` (the card's statuses, oldest first), `waste`, `other_cards` (the application's other cards)"),
        (status = 404, description = "No such card", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/cards/{id}/progress")]
pub async fn of_card(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_TRACK)?;
    let progress = state.store.card_progress(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(progress))
}

/// The progress of the card with a number, or of an application's current
/// card.
#[utoipa::path(
    tag = "workshop",
    params(ProgressQuery),
    responses(
        (status = 200, description = "`card`, `task` (null before extraction), `steps`, `history` (the card's statuses, oldest first), `waste`, `other_cards` (the application's other cards)"),
        (status = 400, description = "Neither or both of `card_number` and `application_id`", body = ErrorBody),
        (status = 404, description = "No card with that number, or no such application", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/workshop/progress")]
pub async fn lookup(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ProgressQuery>,
) -> Result<HttpResponse, ApiError> {
    caller.require(&MAY_TRACK)?;
    let lookup = query.into_inner().lookup()?;
    let progress = state
        .store
        .run("workshop.progress_lookup", move |conn| {
            let card = match lookup {
                Lookup::Number(number) => card_by_number(conn, &number)?,
                Lookup::Application(id) => workshop::current_card_of_application(conn, id)?,
            };
            card_progress(conn, card.id)
        })
        .await?;
    Ok(HttpResponse::Ok().json(progress))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup_of(text: &str) -> Result<Lookup, String> {
        web::Query::<ProgressQuery>::from_query(text)
            .map_err(|e| e.to_string())?
            .into_inner()
            .lookup()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn exactly_one_key_names_the_card() {
        assert_eq!(
            lookup_of("card_number=A00000001"),
            Ok(Lookup::Number("A00000001".to_owned()))
        );
        assert_eq!(lookup_of("application_id=7"), Ok(Lookup::Application(7)));
        let both = lookup_of("card_number=A1&application_id=7").unwrap_err();
        assert!(both.contains("not both"), "{both}");
        let neither = lookup_of("").unwrap_err();
        assert!(neither.contains("card_number"), "{neither}");
        assert!(lookup_of("card_number=%20").is_err());
        assert!(lookup_of("application_id=seven").is_err());
    }
}
