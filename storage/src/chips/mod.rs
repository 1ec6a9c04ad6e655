//! Chips (芯片): the chip bound to a card at personalisation
//! ([`CardChip`]) and every operation on a chip in a reader ([`ChipJob`]:
//! personalisation, card check 验卡, PIN change, reset and unblock).
//!
//! A job is written `running` before the first APDU goes to the card, moves
//! through phases (`observe`, `format`, then `done`) as
//! each completes, and ends `done`, `failed` (the card or the data refused:
//! a person must look) or `interrupted` (the card left the reader or the
//! hub stopped: it resumes when the same chip is presented again). The
//! start and the end of every job append an audit entry in the same
//! transaction; phase changes are progress only.
//!
//! Single rows are read by unique key with diesel's `get_result`, never
//! `first`: `first` binds its `LIMIT 1` as a parameter, and SQLite (3.45
//! and later, built with STAT4 as libsqlite3-sys bundles it) compiles such
//! a statement afresh on every run because its plan may depend on the
//! bound limit. That recompilation was most of a chip job's database time.
//! A row just written is returned as built, not read back (`RETURNING`
//! with more than the new id is compiled afresh on every run too).
//!
//! Not here: the chip profile and the script (`cardhub_protocols::chip`),
//! talking to readers (`cardhub_devices`), driving a job (`cardhub_actors`).
//!
//! - this module: [`CardChip`], the binding of a chip to its card.
//! - the `jobs` submodule (re-exported here): [`ChipJob`] and its life.

mod jobs;

use cardhub_protocols::crypto::Hsm;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::audit::{self, AuditEntry};
use crate::connection::{DbConnection, on_backend, write_tx};
use crate::error::{StorageError, db, parse_column};
use crate::fixed::fixed_statement;
use crate::schema::{card_chips, cards};
use crate::{Actor, Store, utc_now};

pub use jobs::*;

/// The cipher of a chip's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChipAlgorithm {
    /// SM4 (third-generation cards).
    Sm4,
    /// Two-key triple DES (older cards).
    #[serde(rename = "3des")]
    Tdes,
}

stable_names!(ChipAlgorithm, "chip algorithm", { Sm4 => "sm4", Tdes => "3des" });

/// The chip bound to a card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CardChip {
    /// The card.
    pub card_id: i64,
    /// 卡识别码: the chip's card identification code (16 hex characters).
    pub chip_id: String,
    /// The cipher of its keys.
    pub algorithm: ChipAlgorithm,
    /// 卡类别 as written (one character).
    pub card_type: String,
    /// 规范版本 as written.
    pub spec_version: String,
    /// 初始化机构编号 as written, hex.
    pub institution: String,
    /// 发卡日期.
    pub issued_on: NaiveDate,
    /// 卡有效期.
    pub expires_on: NaiveDate,
    /// The name as written to the chip (after the centre's substitutions).
    pub chip_name: String,
    /// The substitutions applied to the name, `[{"from": "𠮷", "to": "吉"}]`.
    pub substitutions: serde_json::Value,
    /// When personalisation finished; `None` while it is under way.
    pub personalised_at: Option<NaiveDateTime>,
    /// When bound (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

/// A chip to bind to a card.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCardChip {
    /// The card.
    pub card_id: i64,
    /// 卡识别码.
    pub chip_id: String,
    /// The cipher of its keys.
    pub algorithm: ChipAlgorithm,
    /// 卡类别.
    pub card_type: String,
    /// 规范版本.
    pub spec_version: String,
    /// 初始化机构编号, hex.
    pub institution: String,
    /// 发卡日期.
    pub issued_on: NaiveDate,
    /// 卡有效期.
    pub expires_on: NaiveDate,
    /// The name as written to the chip.
    pub chip_name: String,
    /// The substitutions applied to the name.
    pub substitutions: serde_json::Value,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = card_chips)]
struct CardChipRow {
    card_id: i64,
    chip_id: String,
    algorithm: String,
    card_type: String,
    spec_version: String,
    institution: String,
    issued_on: NaiveDate,
    expires_on: NaiveDate,
    chip_name: String,
    substitutions: String,
    personalised_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<CardChipRow> for CardChip {
    type Error = StorageError;

    fn try_from(row: CardChipRow) -> Result<Self, StorageError> {
        Ok(CardChip {
            card_id: row.card_id,
            chip_id: row.chip_id,
            algorithm: parse_column("card_chips.algorithm", &row.algorithm)?,
            card_type: row.card_type,
            spec_version: row.spec_version,
            institution: row.institution,
            issued_on: row.issued_on,
            expires_on: row.expires_on,
            chip_name: row.chip_name,
            substitutions: parse_json("card_chips.substitutions", &row.substitutions)?,
            personalised_at: row.personalised_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn parse_json(column: &'static str, text: &str) -> Result<serde_json::Value, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError::Corrupt {
        column,
        value: text.chars().take(80).collect(),
        reason: e.to_string(),
    })
}

/// The chip bound to `card_id`, if any.
pub fn chip_of_card(
    conn: &mut DbConnection,
    card_id: i64,
) -> Result<Option<CardChip>, StorageError> {
    on_backend!(conn, |c| card_chips::table
        .find(card_id)
        .select(CardChipRow::as_select())
        .get_result(c))
    .optional()
    .map_err(db("read a card's chip"))?
    .map(CardChip::try_from)
    .transpose()
}

/// The binding of the chip with this card identification code, if any.
pub fn find_chip(conn: &mut DbConnection, chip_id: &str) -> Result<Option<CardChip>, StorageError> {
    card_chips::table
        .filter(card_chips::chip_id.eq(chip_id))
        .select(CardChipRow::as_select())
        .get_result(conn)
        .optional()
        .map_err(db("find a chip"))?
        .map(CardChip::try_from)
        .transpose()
}

/// A [`StorageError::NotFound`] unless the card exists (its id only: the
/// jobs need no more of the card row).
pub(crate) fn require_card(conn: &mut DbConnection, card_id: i64) -> Result<(), StorageError> {
    on_backend!(conn, |c| cards::table
        .find(card_id)
        .select(cards::id)
        .get_result::<i64>(c))
    .optional()
    .map_err(db("read a card"))?
    .map(|_| ())
    .ok_or(StorageError::NotFound {
        what: "card",
        key: card_id.to_string(),
    })
}

/// Binds a chip to a card before its personalisation starts. Binding the
/// same chip to the same card again returns the existing binding (a resumed
/// personalisation). A card already bound to another chip, or a chip bound
/// to another card, is a [`StorageError::Conflict`]: a chip belongs to one
/// card for life, and a spoilt chip is wasted, not reused. Audited as
/// `chip.bind`.
pub fn bind_chip(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    new: &NewCardChip,
    actor: &Actor,
) -> Result<CardChip, StorageError> {
    write_tx(conn, |conn| bind_in_tx(conn, hsm, new, actor))
}

/// [`bind_chip`]'s work inside the caller's write transaction; an error
/// must roll that transaction back.
fn bind_in_tx(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    new: &NewCardChip,
    actor: &Actor,
) -> Result<CardChip, StorageError> {
    require_card(conn, new.card_id)?;
    // The card's binding and the chip's, in one look-up (two rows at most:
    // both columns are unique).
    let bound: Vec<CardChip> = on_backend!(conn, |c| card_chips::table
        .filter(
            card_chips::card_id
                .eq(new.card_id)
                .or(card_chips::chip_id.eq(&new.chip_id)),
        )
        .select(CardChipRow::as_select())
        .load(c))
    .map_err(db("read the bindings of a card and a chip"))?
    .into_iter()
    .map(CardChip::try_from)
    .collect::<Result<_, _>>()?;
    if let Some(existing) = bound.iter().find(|c| c.card_id == new.card_id) {
        if existing.chip_id == new.chip_id {
            return Ok(existing.clone());
        }
        return Err(StorageError::Conflict {
            what: format!(
                "card {} is already bound to chip {}; register that chip as waste before personalising another one for this card",
                new.card_id, existing.chip_id
            ),
        });
    }
    if let Some(other) = bound.first() {
        return Err(StorageError::Conflict {
            what: format!(
                "chip {} already belongs to card {}; use a blank chip",
                new.chip_id, other.card_id
            ),
        });
    }
    let now = utc_now();
    let chip = CardChip {
        card_id: new.card_id,
        chip_id: new.chip_id.clone(),
        algorithm: new.algorithm,
        card_type: new.card_type.clone(),
        spec_version: new.spec_version.clone(),
        institution: new.institution.clone(),
        issued_on: new.issued_on,
        expires_on: new.expires_on,
        chip_name: new.chip_name.clone(),
        substitutions: new.substitutions.clone(),
        personalised_at: None,
        created_at: now,
        updated_at: now,
    };
    on_backend!(conn, |c| diesel::insert_into(card_chips::table)
        .values((
            card_chips::card_id.eq(chip.card_id),
            card_chips::chip_id.eq(&chip.chip_id),
            card_chips::algorithm.eq(chip.algorithm.as_str()),
            card_chips::card_type.eq(&chip.card_type),
            card_chips::spec_version.eq(&chip.spec_version),
            card_chips::institution.eq(&chip.institution),
            card_chips::issued_on.eq(chip.issued_on),
            card_chips::expires_on.eq(chip.expires_on),
            card_chips::chip_name.eq(&chip.chip_name),
            card_chips::substitutions.eq(chip.substitutions.to_string()),
            card_chips::created_at.eq(chip.created_at),
            card_chips::updated_at.eq(chip.updated_at),
        ))
        .execute(c))
    .map_err(db("bind a chip to a card"))?;
    audit::append(
        conn,
        hsm,
        &AuditEntry::new(
            actor,
            "chip.bind",
            format!("card:{}", new.card_id),
            serde_json::json!({
                "chip_id": new.chip_id,
                "algorithm": new.algorithm.as_str(),
                "substitutions": new.substitutions,
            }),
        ),
    )?;
    // The row as written (no second read).
    Ok(chip)
}

/// Binds the chip as [`bind_chip`] does and records it on the job (phase
/// `observe`), in one transaction.
pub fn bind_chip_for_job(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    new: &NewCardChip,
    job_id: i64,
    apdus: i32,
    actor: &Actor,
) -> Result<CardChip, StorageError> {
    write_tx(conn, |conn| {
        let chip = bind_in_tx(conn, hsm, new, actor)?;
        record_phase(conn, job_id, "observe", Some(&new.chip_id), apdus)?;
        Ok(chip)
    })
}

/// Records that personalisation of the card's chip finished.
pub fn mark_personalised(conn: &mut DbConnection, card_id: i64) -> Result<(), StorageError> {
    if set_personalised(conn, card_id, utc_now())? == 0 {
        return Err(StorageError::NotFound {
            what: "card chip",
            key: card_id.to_string(),
        });
    }
    Ok(())
}

fixed_statement! {
    /// The chip's personalisation finished at `now`.
    struct MarkPersonalised {
        "UPDATE card_chips SET personalised_at = ", now: NaiveDateTime => diesel::sql_types::Timestamp,
        ", updated_at = ", updated_at: NaiveDateTime => diesel::sql_types::Timestamp,
        " WHERE card_id = ", card_id: i64 => diesel::sql_types::BigInt,
        ""
    }
}

/// Marks the card's chip personalised at `now`; returns how many chips
/// were marked (0 when none is bound).
fn set_personalised(
    conn: &mut DbConnection,
    card_id: i64,
    now: NaiveDateTime,
) -> Result<usize, StorageError> {
    let mark = MarkPersonalised {
        now,
        updated_at: now,
        card_id,
    };
    on_backend!(conn, |c| mark.execute(c)).map_err(db("mark a chip personalised"))
}

impl Store {
    /// [`chip_of_card`] on the blocking pool.
    pub async fn chip_of_card(&self, card_id: i64) -> Result<Option<CardChip>, StorageError> {
        self.run("chips.of_card", move |conn| chip_of_card(conn, card_id))
            .await
    }
}
