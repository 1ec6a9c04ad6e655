//! `POST /api/v1/identity/check`: parses a resident ID or permanent-residence
//! ID number and returns its fields, or 422 with the precise reason (length,
//! character, check digit, date, unknown nationality). The parsing itself is
//! `cardhub_protocols::identity`; this is only its HTTP face.

use actix_web::{HttpResponse, post, web};
use cardhub_protocols::identity;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::time::shanghai_today;

/// The number to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityCheckRequest {
    /// An 18-character resident ID or 2023 permanent-residence number, or a
    /// 15-character 2017 permanent-residence number.
    #[schema(example = "932682198501010017")]
    pub number: String,
}

/// The parsed fields of a valid number: the HTTP shape of
/// `cardhub_protocols::identity::IdentityNumber`, built from its accessors
/// so the documented schema and the answer are one type.
#[derive(Serialize, ToSchema)]
pub struct IdentityFields {
    /// `resident-id`, `permanent-residence-2023` or `permanent-residence-2017`.
    #[schema(value_type = String, example = "permanent-residence-2023")]
    kind: identity::IdentityKind,
    /// The normalised number (check character `X` uppercase).
    number: String,
    /// 居民身份证, 港澳台居民居住证 or 外国人永久居留身份证.
    document_type: &'static str,
    /// Birth date where the number carries one.
    #[schema(value_type = Option<String>, format = Date)]
    birth_date: Option<NaiveDate>,
    /// `male` or `female`, where the number says.
    #[schema(value_type = Option<String>)]
    sex: Option<identity::Sex>,
    /// The 6-digit region (resident ID) or 2-digit province code.
    region_code: Option<String>,
    /// The province: `code` and `name_zh`.
    #[schema(value_type = Option<Object>)]
    province: Option<&'static identity::Province>,
    /// Nationality / region (国家/地区): `numeric` (3 digits), `alpha3`,
    /// `name_zh`, `name_en`.
    #[schema(value_type = Object)]
    nationality: &'static identity::Nationality,
}

impl From<&identity::IdentityNumber> for IdentityFields {
    fn from(id: &identity::IdentityNumber) -> Self {
        IdentityFields {
            kind: id.kind(),
            number: id.number().to_owned(),
            document_type: id.document_type().as_zh(),
            birth_date: id.birth_date(),
            sex: id.sex(),
            region_code: id.region_code().map(str::to_owned),
            province: id.province(),
            nationality: id.nationality(),
        }
    }
}

/// Checks an identity number.
#[utoipa::path(
    tag = "identity",
    request_body = IdentityCheckRequest,
    responses(
        (status = 200, description = "The number is valid; its parsed fields", body = IdentityFields),
        (status = 401, description = "No valid credentials", body = ErrorBody),
        (status = 422, description = "The number is invalid; `detail.reason` is one of length, character, check-digit, date, nationality", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[post("/identity/check")]
pub async fn check(
    _caller: Caller,
    body: web::Json<IdentityCheckRequest>,
) -> Result<HttpResponse, ApiError> {
    match identity::parse(&body.number, shanghai_today()) {
        Ok(parsed) => Ok(HttpResponse::Ok().json(IdentityFields::from(&parsed))),
        Err(e) => Err(ApiError::Unprocessable {
            code: "invalid-identity-number",
            message: e.to_string(),
            detail: Some(serde_json::json!({ "reason": e.code() })),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_shape_is_the_protocol_shape() {
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date");
        for number in [
            "11010519491231002X",
            "932682198501010017",
            "911124198108030024",
        ] {
            let parsed = identity::parse(number, today).expect("a published sample");
            assert_eq!(
                serde_json::to_value(IdentityFields::from(&parsed)).expect("serialises"),
                serde_json::to_value(&parsed).expect("serialises"),
                "{number}"
            );
        }
    }
}
