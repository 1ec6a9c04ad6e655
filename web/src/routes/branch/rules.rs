//! The branch counter's application rules, without I/O (the clock comes in
//! as an argument):
//!
//! - [`applicant`]: the applicant as typed at the counter, filled from the
//!   identity number where the number says (nationality from positions
//!   4-6 of a 2023 permanent-residence number or the letters of a 2017
//!   one, document type, birth date, sex), with the permanent-residence
//!   holder's Chinese name beside the English one and ethnicity 97
//!   (其他, "other", GB 3304) unless given; then checked like every
//!   application (`applications::person::checked_person`).
//! - [`permanent_residence_accepted_at`]: only community affairs centres
//!   accept permanent-residence applications.
//! - [`check_id_read`]: an ID read is evidence for an application at the
//!   same branch, for [`ID_READ_VALID_MINUTES`], for the number it read.
//! - [`check_previous_card`]: a first issue needs no live card, a
//!   replacement (补卡) a formally lost one, a renewal (换卡) one the holder
//!   holds.
//!
//! Every refusal says what to do instead.

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::identity::{self, IdentityKind};
use cardhub_storage::applications::ApplicationKind;
use cardhub_storage::branch::IdRead;
use cardhub_storage::branch::id_reads::document_type_name;
use cardhub_storage::branches::{Branch, BranchKind};
use cardhub_storage::cards::Card;
use cardhub_storage::persons::{NewPerson, Sex};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::routes::applications::person::{PersonRequest, checked_person, parsed_number};

/// 民族 code 97, 其他 ("other", GB 3304): what a holder is recorded with
/// when no ethnicity is given (a permanent-residence card carries none);
/// the chip profile writes the same code for a record without one.
pub const ETHNICITY_OTHER: i32 = 97;

/// GB 3304's 98, 外国血统中国籍人士 (a Chinese citizen of foreign origin).
const ETHNICITY_FOREIGN_ORIGIN: i32 = 98;

/// The 56 nationalities of GB 3304 are coded 01 to 56.
const ETHNICITY_LAST_NATIONALITY: i32 = 56;

/// How long an ID card read serves as an application's evidence: the
/// time a counter takes from reading the card to submitting the form,
/// with room for a photo retake; a read older than that may be of a
/// holder who has left.
pub const ID_READ_VALID_MINUTES: i64 = 30;

/// The applicant as typed at a branch counter. Fields the identity number
/// carries may be left out and are filled from it; given, they must agree
/// with it.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicantRequest {
    /// The identity number (18 characters; 15 for a 2017
    /// permanent-residence card).
    #[schema(example = "911124198108030024")]
    pub document_number: String,
    /// `resident-id`, `hk-macao-taiwan-permit` or `permanent-residence`;
    /// default: what the number is (a permanent-residence number of a
    /// nationality other than China, Hong Kong, Macao, Taiwan is
    /// `permanent-residence`, 外国人永久居留身份证).
    #[serde(default)]
    pub document_type: Option<String>,
    /// Nationality, ISO 3166-1 numeric; default: the number's (positions
    /// 4-6 of a 2023 permanent-residence number).
    #[serde(default)]
    #[schema(example = 124)]
    pub nationality: Option<i32>,
    /// 姓名: for a permanent-residence holder, the English name as on the
    /// card.
    pub name: String,
    /// The Chinese name on a permanent-residence card (永久居留证中文姓名);
    /// only for permanent-residence holders.
    #[serde(default)]
    pub chinese_name: Option<String>,
    /// `male`, `female`, `unknown` or `unstated`; default: the number's.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "female")]
    pub sex: Option<Sex>,
    /// Date of birth; default: the number's.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub birth_date: Option<NaiveDate>,
    /// 民族, GB 3304 code (01-56, 97 其他, 98 外国血统); default 97 (其他).
    #[serde(default)]
    pub ethnicity: Option<i32>,
    /// Mobile phone (the holder's SMS go there).
    #[serde(default)]
    pub phone: Option<String>,
    /// Postal address.
    #[serde(default)]
    pub address: Option<String>,
}

/// A checked applicant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applicant {
    /// What storage registers (or finds by number).
    pub person: NewPerson,
    /// Whether the holder has a permanent-residence number.
    pub permanent_residence: bool,
}

fn unprocessable(code: &'static str, message: String) -> ApiError {
    ApiError::Unprocessable {
        code,
        message,
        detail: None,
    }
}

/// Whether `code` is a GB 3304 ethnicity code.
pub fn is_ethnicity_code(code: i32) -> bool {
    (1..=ETHNICITY_LAST_NATIONALITY).contains(&code)
        || code == ETHNICITY_OTHER
        || code == ETHNICITY_FOREIGN_ORIGIN
}

/// Fills the applicant from its identity number and checks it.
pub fn applicant(req: ApplicantRequest, today: NaiveDate) -> Result<Applicant, ApiError> {
    let id = parsed_number(&req.document_number, "applicant", today)?;
    let permanent_residence = matches!(
        id.kind(),
        IdentityKind::PermanentResidence2023 | IdentityKind::PermanentResidence2017
    );
    let sex = match (req.sex, id.sex()) {
        (Some(sex), _) => sex,
        (None, Some(identity::Sex::Male)) => Sex::Male,
        (None, Some(identity::Sex::Female)) => Sex::Female,
        (None, None) => {
            return Err(unprocessable(
                "missing-field",
                "`applicant.sex`: this number does not say the holder's sex; give it".to_owned(),
            ));
        }
    };
    let Some(birth_date) = req.birth_date.or(id.birth_date()) else {
        return Err(unprocessable(
            "missing-field",
            "`applicant.birth_date`: this number does not say the birth date; give it as on the card"
                .to_owned(),
        ));
    };
    let ethnicity = req.ethnicity.unwrap_or(ETHNICITY_OTHER);
    if !is_ethnicity_code(ethnicity) {
        return Err(unprocessable(
            "invalid-ethnicity",
            format!(
                "`applicant.ethnicity` {ethnicity} is not a GB 3304 code: use 1-56, 97 (其他) or 98 (外国血统)"
            ),
        ));
    }
    let chinese_name = req
        .chinese_name
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if chinese_name.is_some() && !permanent_residence {
        return Err(unprocessable(
            "chinese-name-not-applicable",
            "`applicant.chinese_name` is for permanent-residence holders (the Chinese name on a 外国人永久居留身份证); a resident's name goes in `name`".to_owned(),
        ));
    }
    let name = req.name.trim().to_owned();
    let person = checked_person(
        PersonRequest {
            document_type: req
                .document_type
                .unwrap_or_else(|| document_type_name(id.document_type()).to_owned()),
            document_number: req.document_number,
            english_name: permanent_residence.then(|| name.clone()),
            permit_chinese_name: chinese_name,
            name,
            nationality: req
                .nationality
                .unwrap_or(i32::from(id.nationality().numeric)),
            sex,
            ethnicity: Some(ethnicity),
            birth_date,
            phone: req.phone,
            address: req.address,
        },
        today,
    )?;
    Ok(Applicant {
        person,
        permanent_residence,
    })
}

/// Refuses a permanent-residence application at a branch that is not a
/// community affairs centre (社区事务受理服务中心): those centres hold the
/// foreigners' service desks.
pub fn permanent_residence_accepted_at(branch: &Branch) -> Result<(), ApiError> {
    if branch.kind == BranchKind::Community {
        return Ok(());
    }
    Err(ApiError::Refused {
        message: format!(
            "branch {} ({}) is a {} branch: permanent-residence applications (外国人永久居留身份证) are accepted only at community affairs centres (社区事务受理服务中心); send the holder to one",
            branch.code, branch.name, branch.kind
        ),
        detail: Some(serde_json::json!({
            "rule": "permanent-residence-at-community-branches",
            "branch_kind": branch.kind.as_str(),
        })),
    })
}

fn unusable_read(reason: &'static str, message: String) -> ApiError {
    ApiError::Conflict {
        code: "id-read-unusable",
        message,
        detail: Some(serde_json::json!({ "reason": reason })),
    }
}

/// Whether ID read `read` is evidence for an application of `number` at
/// `branch_id` at `now`: the same branch, made no more than
/// [`ID_READ_VALID_MINUTES`] ago, of the same (normalised) number.
pub fn check_id_read(
    read: &IdRead,
    branch_id: i64,
    number: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    if read.branch_id != branch_id {
        return Err(unusable_read(
            "other-branch",
            format!(
                "ID read {} was made at another branch: read the holder's card at this counter",
                read.id
            ),
        ));
    }
    let age = now - read.read_at;
    if age > TimeDelta::minutes(ID_READ_VALID_MINUTES) {
        return Err(unusable_read(
            "too-old",
            format!(
                "ID read {} is {} minutes old; a read serves for {ID_READ_VALID_MINUTES} minutes: read the holder's card again",
                read.id,
                age.num_minutes()
            ),
        ));
    }
    if age < TimeDelta::zero() {
        return Err(unusable_read(
            "from-the-future",
            format!(
                "ID read {} is dated after the hub's clock: check the terminal's clock and read the card again",
                read.id
            ),
        ));
    }
    if read.document_number != number {
        return Err(unusable_read(
            "other-number",
            format!(
                "ID read {} is of another document number than the applicant's: read the applicant's own card, or correct the number typed",
                read.id
            ),
        ));
    }
    Ok(())
}

fn refuse(code: &'static str, message: String, card: Option<&Card>) -> ApiError {
    ApiError::Conflict {
        code,
        message,
        detail: card.map(|c| {
            serde_json::json!({
                "card_id": c.id,
                "status": c.status.as_str(),
            })
        }),
    }
}

/// Whether a card is still the holder's (not cancelled, not wasted).
fn is_live(card: &Card) -> bool {
    !matches!(card.status, CardStatus::Cancelled | CardStatus::Waste)
}

/// Checks an application of `kind` against the holder's cards: the
/// registered person's (`person_id`, `None` for a new one) cards, and the
/// card it replaces. A replacement's card must be formally lost (正式挂失
/// first), a renewal's held (received, activated or unlocked); it is
/// cancelled in the application's transaction. No other live card may
/// exist.
pub fn check_previous_card(
    kind: ApplicationKind,
    person_id: Option<i64>,
    holder_cards: &[Card],
    replaces: Option<&Card>,
) -> Result<(), ApiError> {
    let replaces = match (kind, replaces) {
        (ApplicationKind::FirstIssue, Some(_)) => {
            return Err(unprocessable(
                "replaces-nothing",
                "a first issue replaces no card: leave out `replaces_card_id`, or apply for a replacement or renewal".to_owned(),
            ));
        }
        (ApplicationKind::Replacement | ApplicationKind::Renewal, None) => {
            return Err(unprocessable(
                "replaces-missing",
                format!("a {kind} replaces a card: give its id as `replaces_card_id`"),
            ));
        }
        (ApplicationKind::InstantIssue, _) => {
            return Err(unprocessable(
                "not-a-counter-application",
                "instant issue (即时制卡) has its own endpoint (POST /api/v1/branch/instant-issues)"
                    .to_owned(),
            ));
        }
        (_, replaces) => replaces,
    };
    if let Some(old) = replaces
        && Some(old.person_id) != person_id
    {
        return Err(refuse(
            "card-of-another-holder",
            format!(
                "card {} is not the applicant's: give the id of the applicant's own card",
                old.id
            ),
            None,
        ));
    }
    if let Some(other) = holder_cards
        .iter()
        .find(|c| is_live(c) && Some(c.id) != replaces.map(|r| r.id))
    {
        return Err(refuse(
            "holder-has-a-card",
            format!(
                "the applicant already holds card {} ({}, {}): a lost card is replaced (kind `replacement`, after its formal loss), a damaged or expired one renewed (kind `renewal`)",
                other.id,
                other.status,
                other.status.label_zh()
            ),
            Some(other),
        ));
    }
    let Some(old) = replaces else {
        return Ok(());
    };
    match (kind, old.status) {
        (ApplicationKind::Replacement, CardStatus::FormallyLost) => Ok(()),
        (ApplicationKind::Replacement, CardStatus::TemporarilyLost) => Err(refuse(
            "replacement-needs-formal-loss",
            format!(
                "card {} is only temporarily lost (临时挂失): report the formal loss first (POST /api/v1/branch/cards/{}/formal-loss), then apply for the replacement",
                old.id, old.id
            ),
            Some(old),
        )),
        (ApplicationKind::Replacement, status) => Err(refuse(
            "replacement-needs-formal-loss",
            format!(
                "card {} is {status} ({}): a replacement (补卡) is for a formally lost card; a card the holder still has is renewed (kind `renewal`)",
                old.id,
                status.label_zh()
            ),
            Some(old),
        )),
        (_, CardStatus::Received | CardStatus::Activated | CardStatus::Unlocked) => Ok(()),
        (_, CardStatus::TemporarilyLost | CardStatus::FormallyLost) => Err(refuse(
            "renewal-needs-a-held-card",
            format!(
                "card {} is lost ({}): a lost card is replaced (kind `replacement`, after its formal loss), not renewed",
                old.id,
                old.status.label_zh()
            ),
            Some(old),
        )),
        (_, status) => Err(refuse(
            "renewal-needs-a-held-card",
            format!(
                "card {} is {status} ({}): only a card the holder has (received, activated or unlocked) is renewed",
                old.id,
                status.label_zh()
            ),
            Some(old),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 1).expect("a date")
    }

    fn request(number: &str, name: &str) -> ApplicantRequest {
        ApplicantRequest {
            document_number: number.to_owned(),
            document_type: None,
            nationality: None,
            name: name.to_owned(),
            chinese_name: None,
            sex: None,
            birth_date: None,
            ethnicity: None,
            phone: None,
            address: None,
        }
    }

    fn code(e: ApiError) -> &'static str {
        match e {
            ApiError::Unprocessable { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::Refused { .. } => "refused",
            other => panic!("unexpected error: {other}"),
        }
    }

    #[test]
    fn a_permanent_residence_number_fills_nationality_type_and_defaults() {
        let mut req = request("911124198108030024", "JANE EXAMPLE");
        req.chinese_name = Some(" 简 ".to_owned());
        let a = applicant(req, today()).expect("a valid applicant");
        assert!(a.permanent_residence);
        assert_eq!(a.person.nationality, 124);
        assert_eq!(a.person.document_type, "permanent-residence");
        assert_eq!(a.person.english_name.as_deref(), Some("JANE EXAMPLE"));
        assert_eq!(a.person.permit_chinese_name.as_deref(), Some("简"));
        assert_eq!(a.person.ethnicity, Some(ETHNICITY_OTHER));
        assert_eq!(a.person.sex, Sex::Female);
        assert_eq!(
            a.person.birth_date,
            NaiveDate::from_ymd_opt(1981, 8, 3).expect("a date")
        );
    }

    #[test]
    fn given_fields_must_agree_and_ethnicity_can_be_changed() {
        let mut req = request("932682198501010017", "ALI EXAMPLE");
        req.nationality = Some(156);
        assert_eq!(
            code(applicant(req, today()).unwrap_err()),
            "identity-mismatch"
        );
        let mut req = request("932682198501010017", "ALI EXAMPLE");
        req.ethnicity = Some(98);
        assert_eq!(
            applicant(req, today()).expect("valid").person.ethnicity,
            Some(98)
        );
        let mut req = request("932682198501010017", "ALI EXAMPLE");
        req.ethnicity = Some(60);
        assert_eq!(
            code(applicant(req, today()).unwrap_err()),
            "invalid-ethnicity"
        );
    }

    #[test]
    fn a_resident_has_no_separate_chinese_name() {
        let a = applicant(request("11010519491231002X", "张三"), today()).expect("valid");
        assert!(!a.permanent_residence);
        assert_eq!(a.person.document_type, "resident-id");
        assert_eq!(a.person.nationality, 156);
        assert_eq!(a.person.english_name, None);
        let mut req = request("11010519491231002X", "张三");
        req.chinese_name = Some("张三".to_owned());
        assert_eq!(
            code(applicant(req, today()).unwrap_err()),
            "chinese-name-not-applicable"
        );
    }

    #[test]
    fn ethnicity_codes_are_gb_3304() {
        assert!(is_ethnicity_code(1) && is_ethnicity_code(56));
        assert!(is_ethnicity_code(97) && is_ethnicity_code(98));
        assert!(!is_ethnicity_code(0) && !is_ethnicity_code(57) && !is_ethnicity_code(99));
    }

    fn branch(kind: BranchKind) -> Branch {
        Branch {
            id: 1,
            code: "B1".to_owned(),
            name: "test".to_owned(),
            kind,
            created_at: NaiveDateTime::default(),
            district: None,
        }
    }

    #[test]
    fn only_community_branches_accept_permanent_residence() {
        assert!(permanent_residence_accepted_at(&branch(BranchKind::Community)).is_ok());
        for kind in [BranchKind::Bank, BranchKind::Centre] {
            let e = permanent_residence_accepted_at(&branch(kind)).unwrap_err();
            assert!(e.to_string().contains("community"), "{e}");
        }
    }

    fn read(branch_id: i64, read_at: NaiveDateTime) -> IdRead {
        IdRead {
            id: 5,
            branch_id,
            terminal_id: "T1".to_owned(),
            operator: "desk".to_owned(),
            document_type: "resident-id".to_owned(),
            document_number: "11010519491231002X".to_owned(),
            name: "张三".to_owned(),
            english_name: None,
            chinese_name: None,
            sex: Sex::Female,
            ethnicity: Some(1),
            birth_date: NaiveDate::from_ymd_opt(1949, 12, 31).expect("a date"),
            nationality: Some(156),
            valid_from: None,
            valid_to: None,
            read_at,
        }
    }

    fn reason(e: ApiError) -> String {
        match e {
            ApiError::Conflict {
                detail: Some(d), ..
            } => d["reason"].as_str().unwrap_or_default().to_owned(),
            other => panic!("not a 409 with detail: {other}"),
        }
    }

    #[test]
    fn an_id_read_serves_its_branch_its_number_for_thirty_minutes() {
        let at = today().and_hms_opt(2, 0, 0).expect("a time");
        let number = "11010519491231002X";
        let minutes = |m| at + TimeDelta::minutes(m);
        assert!(check_id_read(&read(1, at), 1, number, minutes(29)).is_ok());
        assert!(check_id_read(&read(1, at), 1, number, minutes(30)).is_ok());
        assert_eq!(
            reason(check_id_read(&read(1, at), 1, number, minutes(31)).unwrap_err()),
            "too-old"
        );
        assert_eq!(
            reason(check_id_read(&read(2, at), 1, number, minutes(1)).unwrap_err()),
            "other-branch"
        );
        assert_eq!(
            reason(check_id_read(&read(1, at), 1, "110105194912310021", minutes(1)).unwrap_err()),
            "other-number"
        );
        assert_eq!(
            reason(check_id_read(&read(1, at), 1, number, minutes(-5)).unwrap_err()),
            "from-the-future"
        );
    }

    fn card(id: i64, person_id: i64, status: CardStatus) -> Card {
        Card {
            id,
            person_id,
            application_id: id,
            card_number: None,
            status,
            version: 0,
            created_at: NaiveDateTime::default(),
            updated_at: NaiveDateTime::default(),
        }
    }

    #[test]
    fn a_replacement_needs_a_formally_lost_card_of_the_holder() {
        use ApplicationKind::{FirstIssue, Renewal, Replacement};
        let lost = card(1, 7, CardStatus::FormallyLost);
        assert!(
            check_previous_card(
                Replacement,
                Some(7),
                std::slice::from_ref(&lost),
                Some(&lost)
            )
            .is_ok()
        );
        let temp = card(1, 7, CardStatus::TemporarilyLost);
        let e = check_previous_card(
            Replacement,
            Some(7),
            std::slice::from_ref(&temp),
            Some(&temp),
        )
        .unwrap_err();
        assert!(e.to_string().contains("formal-loss"), "{e}");
        let held = card(1, 7, CardStatus::Activated);
        assert_eq!(
            code(
                check_previous_card(
                    Replacement,
                    Some(7),
                    std::slice::from_ref(&held),
                    Some(&held)
                )
                .unwrap_err()
            ),
            "replacement-needs-formal-loss"
        );
        assert!(
            check_previous_card(Renewal, Some(7), std::slice::from_ref(&held), Some(&held)).is_ok()
        );
        assert_eq!(
            code(
                check_previous_card(Renewal, Some(7), std::slice::from_ref(&lost), Some(&lost))
                    .unwrap_err()
            ),
            "renewal-needs-a-held-card"
        );
        assert_eq!(
            code(check_previous_card(Replacement, Some(8), &[], Some(&lost)).unwrap_err()),
            "card-of-another-holder"
        );
        assert_eq!(
            code(
                check_previous_card(Replacement, Some(7), std::slice::from_ref(&lost), None)
                    .unwrap_err()
            ),
            "replaces-missing"
        );
        assert_eq!(
            code(
                check_previous_card(FirstIssue, Some(7), std::slice::from_ref(&held), None)
                    .unwrap_err()
            ),
            "holder-has-a-card"
        );
        let gone = [
            card(1, 7, CardStatus::Cancelled),
            card(2, 7, CardStatus::Waste),
        ];
        assert!(check_previous_card(FirstIssue, Some(7), &gone, None).is_ok());
        assert!(check_previous_card(FirstIssue, None, &[], None).is_ok());
    }
}
