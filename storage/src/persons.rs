//! Persons (card holders, 持卡人): identity, names, nationality, contact.
//! The document number, phone and address are stored encrypted
//! ([`crate::fields`]); the document number and phone also carry a blind
//! index, which is what look-ups use. Values are normalised before they are
//! encrypted and indexed, so a decrypted value is the normalised form.
//!
//! Not here: validating identity numbers (`cardhub_protocols::identity`),
//! applications and cards ([`crate::cards`]).

use std::fmt;

use cardhub_protocols::crypto::Hsm;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditEntry};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, conflict_or_db, db};
use crate::fields::{self, ADDRESS, DOCUMENT_NUMBER, PHONE};
use crate::schema::persons;
use crate::{Actor, Store, utc_now};

/// Sex, coded as in GB/T 2261.1 (the code is what is stored).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sex {
    /// 0: not known.
    Unknown,
    /// 1: male.
    Male,
    /// 2: female.
    Female,
    /// 9: not stated.
    Unstated,
}

impl Sex {
    /// The GB/T 2261.1 code.
    pub fn code(self) -> i32 {
        match self {
            Sex::Unknown => 0,
            Sex::Male => 1,
            Sex::Female => 2,
            Sex::Unstated => 9,
        }
    }

    /// The sex for a GB/T 2261.1 code.
    pub fn from_code(code: i32) -> Option<Sex> {
        match code {
            0 => Some(Sex::Unknown),
            1 => Some(Sex::Male),
            2 => Some(Sex::Female),
            9 => Some(Sex::Unstated),
            _ => None,
        }
    }
}

/// A person to register.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPerson {
    /// Document type's stable name (`resident-id`, `permanent-residence`, ...).
    pub document_type: String,
    /// Document number as typed; normalised (see
    /// [`fields::normalise_document_number`]) before storage.
    pub document_number: String,
    /// Name (姓名), may contain rare characters beyond the BMP.
    pub name: String,
    /// English name (foreigners).
    pub english_name: Option<String>,
    /// Chinese name printed on a permanent-residence card (永久居留证中文姓名).
    pub permit_chinese_name: Option<String>,
    /// Nationality, ISO 3166-1 / GB/T 2659 numeric code (156 = China).
    pub nationality: i32,
    /// Sex.
    pub sex: Sex,
    /// Ethnicity (民族), GB/T 3304 code; none for foreigners.
    pub ethnicity: Option<i32>,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Mobile phone; normalised (see [`fields::normalise_phone`]).
    pub phone: Option<String>,
    /// Postal address.
    pub address: Option<String>,
}

/// A stored person, decrypted.
#[derive(Clone, PartialEq, Eq)]
pub struct Person {
    /// Row id.
    pub id: i64,
    /// Document type's stable name.
    pub document_type: String,
    /// Document number (normalised).
    pub document_number: String,
    /// Name.
    pub name: String,
    /// English name.
    pub english_name: Option<String>,
    /// Chinese name on a permanent-residence card.
    pub permit_chinese_name: Option<String>,
    /// Nationality numeric code.
    pub nationality: i32,
    /// Sex.
    pub sex: Sex,
    /// Ethnicity code.
    pub ethnicity: Option<i32>,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Mobile phone (normalised).
    pub phone: Option<String>,
    /// Postal address.
    pub address: Option<String>,
    /// When registered (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

// Debug output ends up in logs: keep the sensitive fields out of it.
impl fmt::Debug for NewPerson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewPerson")
            .field("document_type", &self.document_type)
            .field("document_number", &"***")
            .field("nationality", &self.nationality)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Person {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Person")
            .field("id", &self.id)
            .field("document_type", &self.document_type)
            .field("document_number", &"***")
            .field("nationality", &self.nationality)
            .finish_non_exhaustive()
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = persons)]
struct PersonRow {
    id: i64,
    document_type: String,
    document_number_enc: Vec<u8>,
    name: String,
    english_name: Option<String>,
    permit_chinese_name: Option<String>,
    nationality: i32,
    sex: i32,
    ethnicity: Option<i32>,
    birth_date: NaiveDate,
    phone_enc: Option<Vec<u8>>,
    address_enc: Option<Vec<u8>>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl PersonRow {
    fn open(self, hsm: &dyn Hsm) -> Result<Person, StorageError> {
        let sex = Sex::from_code(self.sex).ok_or_else(|| StorageError::Corrupt {
            column: "persons.sex",
            value: self.sex.to_string(),
            reason: "not a GB/T 2261.1 code (0, 1, 2, 9)".to_owned(),
        })?;
        Ok(Person {
            id: self.id,
            document_type: self.document_type,
            document_number: fields::open(hsm, DOCUMENT_NUMBER, &self.document_number_enc)?,
            name: self.name,
            english_name: self.english_name,
            permit_chinese_name: self.permit_chinese_name,
            nationality: self.nationality,
            sex,
            ethnicity: self.ethnicity,
            birth_date: self.birth_date,
            phone: self
                .phone_enc
                .map(|v| fields::open(hsm, PHONE, &v))
                .transpose()?,
            address: self
                .address_enc
                .map(|v| fields::open(hsm, ADDRESS, &v))
                .transpose()?,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Registers a person and returns the new id. A document number that is
/// already registered is a [`StorageError::Conflict`].
pub fn create(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    new: &NewPerson,
    actor: &Actor,
) -> Result<i64, StorageError> {
    let number = fields::normalise_document_number(&new.document_number);
    if number.is_empty() {
        return Err(StorageError::Invalid {
            what: "document number",
            reason: "it is empty".to_owned(),
        });
    }
    if new.name.trim().is_empty() {
        return Err(StorageError::Invalid {
            what: "name",
            reason: "it is empty".to_owned(),
        });
    }
    let phone = new
        .phone
        .as_deref()
        .map(fields::normalise_phone)
        .filter(|p| !p.is_empty());
    let number_enc = fields::seal(hsm, DOCUMENT_NUMBER, &number)?;
    let number_idx = fields::blind_index(hsm, DOCUMENT_NUMBER, &number)?;
    let phone_enc = phone
        .as_deref()
        .map(|p| fields::seal(hsm, PHONE, p))
        .transpose()?;
    let phone_idx = phone
        .as_deref()
        .map(|p| fields::blind_index(hsm, PHONE, p))
        .transpose()?;
    let address_enc = new
        .address
        .as_deref()
        .map(|a| fields::seal(hsm, ADDRESS, a))
        .transpose()?;
    let now = utc_now();
    write_tx(conn, |conn| {
        let id: i64 = diesel::insert_into(persons::table)
            .values((
                persons::document_type.eq(&new.document_type),
                persons::document_number_enc.eq(&number_enc),
                persons::document_number_idx.eq(&number_idx),
                persons::name.eq(&new.name),
                persons::english_name.eq(&new.english_name),
                persons::permit_chinese_name.eq(&new.permit_chinese_name),
                persons::nationality.eq(new.nationality),
                persons::sex.eq(new.sex.code()),
                persons::ethnicity.eq(new.ethnicity),
                persons::birth_date.eq(new.birth_date),
                persons::phone_enc.eq(&phone_enc),
                persons::phone_idx.eq(&phone_idx),
                persons::address_enc.eq(&address_enc),
                persons::created_at.eq(now),
                persons::updated_at.eq(now),
            ))
            .returning(persons::id)
            .get_result(conn)
            .map_err(conflict_or_db("insert a person", || {
                "a person with this document number is already registered".to_owned()
            }))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "person.create",
                format!("person:{id}"),
                serde_json::json!({ "document_type": new.document_type, "nationality": new.nationality }),
            ),
        )?;
        Ok(id)
    })
}

/// The person with this id, decrypted.
pub fn get(conn: &mut DbConnection, hsm: &dyn Hsm, id: i64) -> Result<Person, StorageError> {
    persons::table
        .find(id)
        .select(PersonRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read a person"))?
        .ok_or_else(|| StorageError::NotFound {
            what: "person",
            key: id.to_string(),
        })?
        .open(hsm)
}

/// The person holding this document number (any document type), by blind
/// index.
pub fn find_by_document_number(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    document_number: &str,
) -> Result<Option<Person>, StorageError> {
    let index = fields::blind_index(
        hsm,
        DOCUMENT_NUMBER,
        &fields::normalise_document_number(document_number),
    )?;
    persons::table
        .filter(persons::document_number_idx.eq(index))
        .select(PersonRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("find a person by document number"))?
        .map(|row| row.open(hsm))
        .transpose()
}

/// Everyone registered with this phone number (family members may share
/// one), by blind index, oldest first.
pub fn find_by_phone(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    phone: &str,
) -> Result<Vec<Person>, StorageError> {
    let index = fields::blind_index(hsm, PHONE, &fields::normalise_phone(phone))?;
    persons::table
        .filter(persons::phone_idx.eq(index))
        .order(persons::id.asc())
        .select(PersonRow::as_select())
        .load(conn)
        .map_err(db("find persons by phone"))?
        .into_iter()
        .map(|row| row.open(hsm))
        .collect()
}

impl Store {
    /// [`create`] on the blocking pool.
    pub async fn create_person(&self, new: NewPerson, actor: Actor) -> Result<i64, StorageError> {
        let hsm = self.hsm().clone();
        self.write("persons.create", move |conn| {
            create(conn, hsm.as_ref(), &new, &actor)
        })
        .await
    }

    /// [`get`] on the blocking pool.
    pub async fn get_person(&self, id: i64) -> Result<Person, StorageError> {
        let hsm = self.hsm().clone();
        self.run("persons.get", move |conn| get(conn, hsm.as_ref(), id))
            .await
    }

    /// [`find_by_document_number`] on the blocking pool.
    pub async fn find_person_by_document_number(
        &self,
        number: String,
    ) -> Result<Option<Person>, StorageError> {
        let hsm = self.hsm().clone();
        self.run("persons.find_by_document_number", move |conn| {
            find_by_document_number(conn, hsm.as_ref(), &number)
        })
        .await
    }

    /// [`find_by_phone`] on the blocking pool.
    pub async fn find_persons_by_phone(&self, phone: String) -> Result<Vec<Person>, StorageError> {
        let hsm = self.hsm().clone();
        self.run("persons.find_by_phone", move |conn| {
            find_by_phone(conn, hsm.as_ref(), &phone)
        })
        .await
    }
}
