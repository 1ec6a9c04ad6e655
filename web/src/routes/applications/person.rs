//! The applicant of `POST /api/v1/applications` and its checks, without
//! I/O: the person as sent, checked against what its identity number says
//! (`cardhub_protocols::identity`: document type, nationality, birth date,
//! sex), and the photo decoded from base64 with the size its JPEG header
//! gives. The transaction that registers them is the parent module's;
//! the branch counter (`routes::branch::rules`) fills its applicant from
//! the number and checks it here too.

use base64::Engine;
use cardhub_protocols::identity::{self, IdentityNumber};
use cardhub_storage::branch::id_reads::document_type_name;
use cardhub_storage::persons::{NewPerson, Sex};
use cardhub_storage::photos::{self, NewPhoto};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// The applicant.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonRequest {
    /// `resident-id` (居民身份证), `hk-macao-taiwan-permit` (港澳台居民居住证)
    /// or `permanent-residence` (外国人永久居留身份证); must be what the
    /// number is.
    #[schema(example = "resident-id")]
    pub document_type: String,
    /// The identity number (18 characters, or 15 for a 2017
    /// permanent-residence card).
    #[schema(example = "11010519491231002X")]
    pub document_number: String,
    /// Name (姓名).
    pub name: String,
    /// English name (permanent-residence holders; written to the chip).
    #[serde(default)]
    pub english_name: Option<String>,
    /// The Chinese name on a permanent-residence card.
    #[serde(default)]
    pub permit_chinese_name: Option<String>,
    /// Nationality, ISO 3166-1 numeric (156 = China); must be the number's.
    #[schema(example = 156)]
    pub nationality: i32,
    /// `male`, `female`, `unknown` or `unstated`; must be the number's
    /// where it says.
    #[schema(value_type = String, example = "female")]
    pub sex: Sex,
    /// Ethnicity (民族), GB/T 3304 code.
    #[serde(default)]
    pub ethnicity: Option<i32>,
    /// Date of birth; must be the number's where it carries one.
    #[schema(value_type = String, format = Date, example = "1949-12-31")]
    pub birth_date: NaiveDate,
    /// Mobile phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Postal address.
    #[serde(default)]
    pub address: Option<String>,
}

/// A disagreement between the request and its identity number.
fn mismatch(field: &str, number_says: String, given: String) -> ApiError {
    ApiError::Unprocessable {
        code: "identity-mismatch",
        message: format!(
            "`person.{field}` is {given}, but the identity number says {number_says}: correct one of them"
        ),
        detail: Some(serde_json::json!({
            "field": field,
            "number_says": number_says,
            "given": given,
        })),
    }
}

/// The identity number `number` of the request object `object` (named in
/// the error: `person.document_number`), checked on the business date.
pub(crate) fn parsed_number(
    number: &str,
    object: &str,
    today: NaiveDate,
) -> Result<IdentityNumber, ApiError> {
    identity::parse(number, today).map_err(|e| ApiError::Unprocessable {
        code: "invalid-identity-number",
        message: format!("`{object}.document_number`: {e}"),
        detail: Some(serde_json::json!({ "reason": e.code() })),
    })
}

/// Checks the person against its identity number and returns what
/// storage registers (the number normalised).
pub(crate) fn checked_person(p: PersonRequest, today: NaiveDate) -> Result<NewPerson, ApiError> {
    let id = parsed_number(&p.document_number, "person", today)?;
    let document_type = document_type_name(id.document_type());
    if p.document_type != document_type {
        return Err(mismatch(
            "document_type",
            format!("{document_type} ({})", id.document_type().as_zh()),
            p.document_type,
        ));
    }
    let nationality = id.nationality();
    if p.nationality != i32::from(nationality.numeric) {
        return Err(mismatch(
            "nationality",
            format!("{:03} ({})", nationality.numeric, nationality.name_en),
            p.nationality.to_string(),
        ));
    }
    if let Some(born) = id.birth_date()
        && born != p.birth_date
    {
        return Err(mismatch(
            "birth_date",
            born.to_string(),
            p.birth_date.to_string(),
        ));
    }
    let sex = id.sex().map(|s| match s {
        identity::Sex::Male => Sex::Male,
        identity::Sex::Female => Sex::Female,
    });
    if let Some(sex) = sex
        && sex != p.sex
    {
        return Err(mismatch(
            "sex",
            format!("{sex:?}").to_lowercase(),
            format!("{:?}", p.sex).to_lowercase(),
        ));
    }
    Ok(NewPerson {
        document_type: document_type.to_owned(),
        document_number: id.number().to_owned(),
        name: p.name,
        english_name: p.english_name,
        permit_chinese_name: p.permit_chinese_name,
        nationality: p.nationality,
        sex: p.sex,
        ethnicity: p.ethnicity,
        birth_date: p.birth_date,
        phone: p.phone,
        address: p.address,
    })
}

/// The photo from its base64 text, with the size its JPEG header gives.
pub(crate) fn decoded_photo(text: &str) -> Result<NewPhoto, ApiError> {
    let invalid = |message: String| ApiError::Unprocessable {
        code: "invalid-photo",
        message,
        detail: None,
    };
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| invalid(format!("`photo_base64` is not standard base64: {e}")))?;
    let (width, height) = photos::jpeg_dimensions(&jpeg)
        .map_err(|e| invalid(format!("`photo_base64` is not a usable JPEG: {e}")))?;
    Ok(NewPhoto {
        jpeg,
        width: i32::from(width),
        height: i32::from(height),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date")
    }

    /// A request that agrees with `number` in every checked field.
    fn request(number: &str) -> PersonRequest {
        let id = identity::parse(number, today()).expect("a published sample");
        PersonRequest {
            document_type: document_type_name(id.document_type()).to_owned(),
            document_number: number.to_lowercase(),
            name: "测试".to_owned(),
            english_name: None,
            permit_chinese_name: None,
            nationality: i32::from(id.nationality().numeric),
            sex: match id.sex() {
                Some(identity::Sex::Male) => Sex::Male,
                Some(identity::Sex::Female) => Sex::Female,
                None => Sex::Unknown,
            },
            ethnicity: None,
            birth_date: id.birth_date().expect("an 18-character number"),
            phone: None,
            address: None,
        }
    }

    fn code(e: ApiError) -> (&'static str, Option<serde_json::Value>) {
        match e {
            ApiError::Unprocessable { code, detail, .. } => (code, detail),
            other => panic!("not a 422: {other}"),
        }
    }

    #[test]
    fn an_agreeing_person_is_registered_with_the_normalised_number() {
        let resident = checked_person(request("11010519491231002X"), today()).expect("valid");
        assert_eq!(resident.document_number, "11010519491231002X");
        assert_eq!(resident.document_type, "resident-id");
        assert_eq!(resident.sex, Sex::Female);
        let permanent = checked_person(request("932682198501010017"), today()).expect("valid");
        assert_eq!(permanent.document_type, "permanent-residence");
    }

    #[test]
    fn each_contradicted_field_is_named() {
        let mut p = request("11010519491231002X");
        p.document_type = "permanent-residence".to_owned();
        let (c, d) = code(checked_person(p, today()).unwrap_err());
        assert_eq!(c, "identity-mismatch");
        assert_eq!(d.expect("detail")["field"], "document_type");

        let mut p = request("11010519491231002X");
        p.nationality = 124;
        let (_, d) = code(checked_person(p, today()).unwrap_err());
        assert_eq!(d.expect("detail")["field"], "nationality");

        let mut p = request("11010519491231002X");
        p.birth_date = NaiveDate::from_ymd_opt(1950, 1, 1).expect("a date");
        let (_, d) = code(checked_person(p, today()).unwrap_err());
        assert_eq!(d.expect("detail")["number_says"], "1949-12-31");

        let mut p = request("11010519491231002X");
        p.sex = Sex::Male;
        let (_, d) = code(checked_person(p, today()).unwrap_err());
        assert_eq!(d.expect("detail")["field"], "sex");
    }

    #[test]
    fn an_invalid_number_gives_its_reason() {
        let mut p = request("11010519491231002X");
        p.document_number = "110105194912310021".to_owned();
        let (c, d) = code(checked_person(p, today()).unwrap_err());
        assert_eq!(c, "invalid-identity-number");
        assert_eq!(d.expect("detail")["reason"], "check-digit");
    }

    #[test]
    fn photos_must_be_base64_jpegs() {
        let (c, _) = code(decoded_photo("not base64!").unwrap_err());
        assert_eq!(c, "invalid-photo");
        let png = base64::engine::general_purpose::STANDARD.encode(b"\x89PNG\r\n\x1a\n");
        let (c, _) = code(decoded_photo(&png).unwrap_err());
        assert_eq!(c, "invalid-photo");
    }
}
