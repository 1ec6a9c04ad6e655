//! Identity card reads (读证) through a branch terminal, kept as the
//! evidence a branch application refers to: which branch, terminal and
//! operator read which card when, and what the card said.
//!
//! The number is sealed and blind-indexed under the same column domain as
//! `persons.document_number` ([`fields::DOCUMENT_NUMBER`]): it is the same
//! kind of value, and the two blind indexes compare. The card's address,
//! issuing authority and raw text block are not kept: the evidence is who
//! was identified, and the application carries the address the holder
//! gives. Recording a read is audited (`id-read.record`, without the
//! number).
//!
//! Not here: reading the card (the terminal and `cardhub_devices`), how old
//! a read may be when an application uses it (the web crate's branch
//! rules).

use std::fmt;

use cardhub_protocols::crypto::Hsm;
use cardhub_protocols::id_reader::text::IdCard;
use cardhub_protocols::identity::{self, DocumentType};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::audit::{self, AuditEntry};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, db};
use crate::fields::{self, DOCUMENT_NUMBER};
use crate::persons::Sex;
use crate::schema::id_reads;
use crate::{Actor, Store, to_stored_precision};

/// A read to record.
#[derive(Clone, PartialEq, Eq)]
pub struct NewIdRead {
    /// The branch whose terminal read the card.
    pub branch_id: i64,
    /// The terminal (its `/ws/terminal` id).
    pub terminal_id: String,
    /// Document type's stable name, as in `persons.document_type`
    /// (`resident-id`, `hk-macao-taiwan-permit`, `permanent-residence`).
    pub document_type: String,
    /// The number as read; normalised before it is sealed.
    pub document_number: String,
    /// 姓名 as on the card (a permanent-residence card's Chinese name, or
    /// its English name when it has none).
    pub name: String,
    /// English name (permanent-residence cards).
    pub english_name: Option<String>,
    /// Chinese name (permanent-residence cards that print one).
    pub chinese_name: Option<String>,
    /// Sex.
    pub sex: Sex,
    /// 民族, GB 3304 code (resident cards).
    pub ethnicity: Option<i32>,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Nationality, ISO 3166-1 numeric; `None` when the card's code is in
    /// no table.
    pub nationality: Option<i32>,
    /// First day of validity.
    pub valid_from: Option<NaiveDate>,
    /// Last day of validity; `None`: 长期 (no end).
    pub valid_to: Option<NaiveDate>,
    /// When the card was read (UTC).
    pub read_at: NaiveDateTime,
}

/// A stored read, decrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct IdRead {
    /// Row id: what an application's `id_read_id` names.
    pub id: i64,
    /// The branch.
    pub branch_id: i64,
    /// The terminal.
    pub terminal_id: String,
    /// Who read it (operator username).
    pub operator: String,
    /// Document type's stable name.
    pub document_type: String,
    /// The number (normalised).
    pub document_number: String,
    /// 姓名.
    pub name: String,
    /// English name.
    pub english_name: Option<String>,
    /// Chinese name.
    pub chinese_name: Option<String>,
    /// Sex.
    pub sex: Sex,
    /// 民族.
    pub ethnicity: Option<i32>,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Nationality numeric code.
    pub nationality: Option<i32>,
    /// First day of validity.
    pub valid_from: Option<NaiveDate>,
    /// Last day of validity (`None`: 长期).
    pub valid_to: Option<NaiveDate>,
    /// When read (UTC).
    pub read_at: NaiveDateTime,
}

// Debug output ends up in logs: the number stays out of it.
impl fmt::Debug for NewIdRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewIdRead")
            .field("branch_id", &self.branch_id)
            .field("terminal_id", &self.terminal_id)
            .field("document_type", &self.document_type)
            .field("document_number", &"***")
            .field("read_at", &self.read_at)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for IdRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdRead")
            .field("id", &self.id)
            .field("branch_id", &self.branch_id)
            .field("terminal_id", &self.terminal_id)
            .field("document_type", &self.document_type)
            .field("document_number", &"***")
            .field("read_at", &self.read_at)
            .finish_non_exhaustive()
    }
}

/// The stored name of a document type (as `persons.document_type`).
pub fn document_type_name(t: DocumentType) -> &'static str {
    match t {
        DocumentType::ResidentIdCard => "resident-id",
        DocumentType::HkMacaoTaiwanResidencePermit => "hk-macao-taiwan-permit",
        DocumentType::ForeignerPermanentResidenceCard => "permanent-residence",
    }
}

impl NewIdRead {
    /// The read of a decoded card at `branch_id` through `terminal_id` at
    /// `read_at`. The document type is the number's when it parses (a
    /// resident-layout card with region 81-83 is a 港澳台居民居住证), else
    /// the card's kind.
    pub fn from_card(
        card: &IdCard,
        branch_id: i64,
        terminal_id: impl Into<String>,
        read_at: NaiveDateTime,
    ) -> NewIdRead {
        let by_kind = match card {
            IdCard::Resident { .. } => DocumentType::ResidentIdCard,
            _ => DocumentType::ForeignerPermanentResidenceCard,
        };
        let document_type = identity::parse(card.number(), read_at.date())
            .map(|id| id.document_type())
            .unwrap_or(by_kind);
        let (english_name, chinese_name, ethnicity, valid_from) = match card {
            IdCard::Resident {
                ethnicity,
                valid_from,
                ..
            } => (None, None, Some(i32::from(*ethnicity)), Some(*valid_from)),
            IdCard::PermanentResidence2017 {
                english_name,
                chinese_name,
                issued,
                ..
            } => (
                Some(english_name.clone()),
                Some(chinese_name.clone()).filter(|n| !n.is_empty()),
                None,
                Some(*issued),
            ),
            IdCard::PermanentResidence2023 {
                english_name,
                chinese_name,
                valid_from,
                ..
            } => (
                Some(english_name.clone()),
                Some(chinese_name.clone()).filter(|n| !n.is_empty()),
                None,
                Some(*valid_from),
            ),
            _ => (None, None, None, None),
        };
        NewIdRead {
            branch_id,
            terminal_id: terminal_id.into(),
            document_type: document_type_name(document_type).to_owned(),
            document_number: card.number().to_owned(),
            name: card.name().to_owned(),
            english_name,
            chinese_name,
            sex: match card.sex() {
                identity::Sex::Male => Sex::Male,
                identity::Sex::Female => Sex::Female,
            },
            ethnicity,
            birth_date: card.birth_date(),
            nationality: card.nationality().map(|n| i32::from(n.numeric)),
            valid_from,
            valid_to: card.valid_to(),
            read_at,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = id_reads)]
struct IdReadRow {
    id: i64,
    branch_id: i64,
    terminal_id: String,
    operator: String,
    document_type: String,
    document_number_enc: Vec<u8>,
    name: String,
    english_name: Option<String>,
    chinese_name: Option<String>,
    sex: i32,
    ethnicity: Option<i32>,
    birth_date: NaiveDate,
    nationality: Option<i32>,
    valid_from: Option<NaiveDate>,
    valid_to: Option<NaiveDate>,
    read_at: NaiveDateTime,
}

impl IdReadRow {
    fn open(self, hsm: &dyn Hsm) -> Result<IdRead, StorageError> {
        let sex = Sex::from_code(self.sex).ok_or_else(|| StorageError::Corrupt {
            column: "id_reads.sex",
            value: self.sex.to_string(),
            reason: "not a GB/T 2261.1 code (0, 1, 2, 9)".to_owned(),
        })?;
        Ok(IdRead {
            id: self.id,
            branch_id: self.branch_id,
            terminal_id: self.terminal_id,
            operator: self.operator,
            document_type: self.document_type,
            document_number: fields::open(hsm, DOCUMENT_NUMBER, &self.document_number_enc)?,
            name: self.name,
            english_name: self.english_name,
            chinese_name: self.chinese_name,
            sex,
            ethnicity: self.ethnicity,
            birth_date: self.birth_date,
            nationality: self.nationality,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            read_at: self.read_at,
        })
    }
}

/// Records a card read by `actor` (the operator at the terminal) and
/// returns its id. The branch must exist ([`StorageError::NotFound`]); an
/// empty number or terminal id is [`StorageError::Invalid`]. Audited as
/// `id-read.record` (branch, terminal, document type; not the number).
pub fn record_id_read(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    read: &NewIdRead,
    actor: &Actor,
) -> Result<i64, StorageError> {
    let number = fields::normalise_document_number(&read.document_number);
    if number.is_empty() {
        return Err(StorageError::Invalid {
            what: "ID read",
            reason: "the document number is empty: read the card again".to_owned(),
        });
    }
    let terminal_id = read.terminal_id.trim();
    if terminal_id.is_empty() {
        return Err(StorageError::Invalid {
            what: "ID read",
            reason: "the terminal id is empty: say which terminal read the card".to_owned(),
        });
    }
    let number_enc = fields::seal(hsm, DOCUMENT_NUMBER, &number)?;
    let number_idx = fields::blind_index(hsm, DOCUMENT_NUMBER, &number)?;
    write_tx(conn, |conn| {
        let branch = crate::branches::get(conn, read.branch_id)?;
        let id: i64 = diesel::insert_into(id_reads::table)
            .values((
                id_reads::branch_id.eq(read.branch_id),
                id_reads::terminal_id.eq(terminal_id),
                id_reads::operator.eq(&actor.name),
                id_reads::document_type.eq(&read.document_type),
                id_reads::document_number_enc.eq(&number_enc),
                id_reads::document_number_idx.eq(&number_idx),
                id_reads::name.eq(&read.name),
                id_reads::english_name.eq(&read.english_name),
                id_reads::chinese_name.eq(&read.chinese_name),
                id_reads::sex.eq(read.sex.code()),
                id_reads::ethnicity.eq(read.ethnicity),
                id_reads::birth_date.eq(read.birth_date),
                id_reads::nationality.eq(read.nationality),
                id_reads::valid_from.eq(read.valid_from),
                id_reads::valid_to.eq(read.valid_to),
                id_reads::read_at.eq(to_stored_precision(read.read_at)),
            ))
            .returning(id_reads::id)
            .get_result(conn)
            .map_err(db("record an ID read"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "id-read.record",
                format!("id-read:{id}"),
                serde_json::json!({
                    "branch": branch.code,
                    "terminal": terminal_id,
                    "document_type": read.document_type,
                }),
            ),
        )?;
        Ok(id)
    })
}

/// The read with this id, decrypted.
pub fn get_id_read(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    id: i64,
) -> Result<IdRead, StorageError> {
    id_reads::table
        .find(id)
        .select(IdReadRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read an ID read"))?
        .ok_or_else(|| StorageError::NotFound {
            what: "ID read",
            key: id.to_string(),
        })?
        .open(hsm)
}

impl Store {
    /// [`record_id_read`] on the blocking pool.
    pub async fn record_id_read(&self, read: NewIdRead, actor: Actor) -> Result<i64, StorageError> {
        let hsm = self.hsm().clone();
        self.write("branch.record_id_read", move |conn| {
            record_id_read(conn, hsm.as_ref(), &read, &actor)
        })
        .await
    }

    /// [`get_id_read`] on the blocking pool.
    pub async fn get_id_read(&self, id: i64) -> Result<IdRead, StorageError> {
        let hsm = self.hsm().clone();
        self.run("branch.get_id_read", move |conn| {
            get_id_read(conn, hsm.as_ref(), id)
        })
        .await
    }
}
