//! Dispatch batches (发运批次): boxes in the warehouse go out together to one
//! district (区). Dispatching mails every card (`qc-passed → mailed`); the
//! district signs for the batch; each branch then signs for its own box,
//! which puts its cards `at-branch`, and the batch is completed when its
//! last box is signed. Batch numbers are `<YYYYMMDD>-<district>-<NNN>`.
//!
//! Boxes for the centre's own counter (no branch) travel in batches to the
//! district [`CENTRE_DISTRICT`]. Card statuses move through
//! [`cards::transition_card`], so the status machine decides who may sign:
//! a branch sign-off needs a branch operator.

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::boxes::{BoxRow, boxes_of, cards_in_box, move_box, read_box, wrong_box_status};
use super::history::{NewChange, StatusChange, TrackedEntity, history_of, record_change};
use super::{BoxStatus, CardBox};
use crate::connection::{DbConnection, snapshot_tx, write_tx};
use crate::error::{StorageError, conflict_or_db, db, parse_column};
use crate::schema::{boxes, dispatch_batches};
use crate::{Actor, Store, branches, cards, utc_now};

/// The district of boxes for the centre's own counter.
pub const CENTRE_DISTRICT: &str = "CENTRE";

/// Where a dispatch batch stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DispatchStatus {
    /// 已创建: boxes assigned, not yet gone.
    Created,
    /// 已发运: on its way; its cards are mailed.
    Dispatched,
    /// 区已签收: the district signed for it.
    DistrictSigned,
    /// 已完成: every box was signed for by its branch.
    Completed,
}

stable_names!(DispatchStatus, "dispatch status", {
    Created => "created",
    Dispatched => "dispatched",
    DistrictSigned => "district-signed",
    Completed => "completed",
});

/// A dispatch batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dispatch {
    /// Row id.
    pub id: i64,
    /// `<YYYYMMDD>-<district>-<NNN>`, unique.
    pub batch_number: String,
    /// The district it goes to.
    pub district: String,
    /// Where it stands.
    pub status: DispatchStatus,
    /// When created (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = dispatch_batches)]
struct DispatchRow {
    id: i64,
    batch_number: String,
    district: String,
    status: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<DispatchRow> for Dispatch {
    type Error = StorageError;

    fn try_from(row: DispatchRow) -> Result<Self, StorageError> {
        Ok(Dispatch {
            id: row.id,
            batch_number: row.batch_number,
            district: row.district,
            status: parse_column("dispatch_batches.status", &row.status)?,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn read_dispatch(conn: &mut DbConnection, id: i64) -> Result<Dispatch, StorageError> {
    dispatch_batches::table
        .find(id)
        .select(DispatchRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read a dispatch batch"))?
        .ok_or_else(|| StorageError::NotFound {
            what: "dispatch batch",
            key: id.to_string(),
        })?
        .try_into()
}

fn boxes_of_dispatch(conn: &mut DbConnection, id: i64) -> Result<Vec<CardBox>, StorageError> {
    boxes_of(
        boxes::table
            .filter(boxes::dispatch_id.eq(id))
            .order(boxes::id.asc())
            .select(BoxRow::as_select())
            .load(conn)
            .map_err(db("read a dispatch batch's boxes"))?,
    )
}

fn wrong_dispatch_status(d: &Dispatch, needed: DispatchStatus, hint: &str) -> StorageError {
    StorageError::Conflict {
        what: format!(
            "dispatch batch {} is {}, not {needed}: {hint}",
            d.batch_number, d.status
        ),
    }
}

fn move_dispatch(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    d: &Dispatch,
    to: DispatchStatus,
    verb: &str,
    detail: serde_json::Value,
    actor: &Actor,
) -> Result<Dispatch, StorageError> {
    let now = utc_now();
    diesel::update(dispatch_batches::table.find(d.id))
        .set((
            dispatch_batches::status.eq(to.as_str()),
            dispatch_batches::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(db("change a dispatch batch's status"))?;
    record_change(
        conn,
        hsm,
        NewChange {
            entity: TrackedEntity::Dispatch,
            entity_id: d.id,
            number: &d.batch_number,
            from: Some(d.status.as_str()),
            to: to.as_str(),
            verb,
            detail,
            at: now,
        },
        actor,
    )?;
    read_dispatch(conn, d.id)
}

/// The district a box goes to, or why it has none.
fn district_of(conn: &mut DbConnection, b: &CardBox) -> Result<String, StorageError> {
    let Some(branch_id) = b.branch_id else {
        return Ok(CENTRE_DISTRICT.to_owned());
    };
    let branch = branches::get(conn, branch_id)?;
    branch.district.ok_or_else(|| StorageError::Conflict {
        what: format!(
            "box {} goes to branch {} ({}), which has no district: set the branch's district first",
            b.box_number, branch.code, branch.name
        ),
    })
}

/// Creates a dispatch batch to `district` with the given boxes: each must
/// be `in-warehouse`, in no other batch, and bound for a branch of that
/// district ([`StorageError::Conflict`] naming the box otherwise). Audited
/// as `dispatch.create`, with the batch's first history row.
pub fn create_dispatch(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    district: &str,
    box_ids: &[i64],
    today: NaiveDate,
    actor: &Actor,
) -> Result<Dispatch, StorageError> {
    let district = district.trim();
    if district.is_empty() {
        return Err(StorageError::Invalid {
            what: "district",
            reason: "it is empty: name the district the batch goes to".to_owned(),
        });
    }
    let mut ids = box_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Err(StorageError::Invalid {
            what: "dispatch boxes",
            reason: "no box given: a batch carries at least one box".to_owned(),
        });
    }
    write_tx(conn, |conn| {
        let mut numbers = Vec::with_capacity(ids.len());
        for &box_id in &ids {
            let b = read_box(conn, box_id)?;
            if b.status != BoxStatus::InWarehouse {
                return Err(wrong_box_status(
                    &b,
                    BoxStatus::InWarehouse,
                    "only boxes checked into the warehouse are dispatched",
                ));
            }
            if let Some(other) = b.dispatch_id {
                return Err(StorageError::Conflict {
                    what: format!("box {} is already in dispatch batch {other}", b.box_number),
                });
            }
            let box_district = district_of(conn, &b)?;
            if box_district != district {
                return Err(StorageError::Conflict {
                    what: format!(
                        "box {} goes to district {box_district}, not {district}: put it in a batch for {box_district}",
                        b.box_number
                    ),
                });
            }
            numbers.push(b.box_number);
        }
        let prefix = format!("{}-{district}-", today.format("%Y%m%d"));
        let taken: Vec<String> = dispatch_batches::table
            .filter(dispatch_batches::batch_number.like(format!("{prefix}%")))
            .select(dispatch_batches::batch_number)
            .load(conn)
            .map_err(db("read the day's dispatch batch numbers"))?;
        let last = taken
            .iter()
            .filter_map(|n| n.strip_prefix(&prefix)?.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        let number = format!("{prefix}{:03}", last + 1);
        let now = utc_now();
        let id: i64 = diesel::insert_into(dispatch_batches::table)
            .values((
                dispatch_batches::batch_number.eq(&number),
                dispatch_batches::district.eq(district),
                dispatch_batches::status.eq(DispatchStatus::Created.as_str()),
                dispatch_batches::created_by.eq(&actor.name),
                dispatch_batches::created_at.eq(now),
                dispatch_batches::updated_at.eq(now),
            ))
            .returning(dispatch_batches::id)
            .get_result(conn)
            .map_err(conflict_or_db("create a dispatch batch", || {
                format!(
                    "dispatch batch number {number} was taken at the same time: create it again"
                )
            }))?;
        let assigned = diesel::update(
            boxes::table
                .filter(boxes::id.eq_any(&ids))
                .filter(boxes::dispatch_id.is_null()),
        )
        .set((boxes::dispatch_id.eq(id), boxes::updated_at.eq(now)))
        .execute(conn)
        .map_err(db("assign boxes to a dispatch batch"))?;
        if assigned != ids.len() {
            return Err(StorageError::Conflict {
                what: "some of the boxes were put in another dispatch batch at the same time: reload the warehouse and try again".to_owned(),
            });
        }
        record_change(
            conn,
            hsm,
            NewChange {
                entity: TrackedEntity::Dispatch,
                entity_id: id,
                number: &number,
                from: None,
                to: DispatchStatus::Created.as_str(),
                verb: "create",
                detail: serde_json::json!({ "district": district, "boxes": numbers }),
                at: now,
            },
            actor,
        )?;
        read_dispatch(conn, id)
    })
}

/// Sends a created batch: every card in its boxes `qc-passed → mailed`
/// (through the status machine: a centre or workshop role), every box
/// `dispatched`, the batch `dispatched`. Audited as `dispatch.dispatch`
/// and `box.dispatch` per box (with the cards' own `card.transition`).
pub fn dispatch(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    dispatch_id: i64,
    actor: &Actor,
) -> Result<Dispatch, StorageError> {
    write_tx(conn, |conn| {
        let d = read_dispatch(conn, dispatch_id)?;
        if d.status != DispatchStatus::Created {
            return Err(wrong_dispatch_status(
                &d,
                DispatchStatus::Created,
                "a batch is dispatched once, right after it is created",
            ));
        }
        let boxes = boxes_of_dispatch(conn, dispatch_id)?;
        let mut mailed = 0_usize;
        for b in &boxes {
            if b.status != BoxStatus::InWarehouse {
                return Err(wrong_box_status(
                    b,
                    BoxStatus::InWarehouse,
                    "every box of a batch must be in the warehouse when it leaves",
                ));
            }
            for card in cards_in_box(conn, b.id)? {
                mail_card(conn, hsm, &card, b, &d, actor)?;
                mailed += 1;
            }
            move_box(conn, hsm, b, BoxStatus::Dispatched, "dispatch", actor)?;
        }
        move_dispatch(
            conn,
            hsm,
            &d,
            DispatchStatus::Dispatched,
            "dispatch",
            serde_json::json!({ "boxes": boxes.len(), "cards": mailed }),
            actor,
        )
    })
}

fn mail_card(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    card: &cards::Card,
    b: &CardBox,
    d: &Dispatch,
    actor: &Actor,
) -> Result<(), StorageError> {
    if card.status != CardStatus::QcPassed {
        return Err(StorageError::Conflict {
            what: format!(
                "card {} in box {} is {} ({}), not qc-passed: take it out of the box before the batch leaves",
                card.id,
                b.box_number,
                card.status,
                card.status.label_zh()
            ),
        });
    }
    cards::transition_card(
        conn,
        hsm,
        card.id,
        Some(card.version),
        CardStatus::Mailed,
        actor,
        &format!("box {} in dispatch batch {}", b.box_number, d.batch_number),
    )?;
    Ok(())
}

/// Records the district's signature for a dispatched batch: the batch and
/// its boxes `district-signed`. Audited as `dispatch.district-sign` and
/// `box.district-sign`.
pub fn district_sign_off(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    dispatch_id: i64,
    actor: &Actor,
) -> Result<Dispatch, StorageError> {
    write_tx(conn, |conn| {
        let d = read_dispatch(conn, dispatch_id)?;
        if d.status != DispatchStatus::Dispatched {
            return Err(wrong_dispatch_status(
                &d,
                DispatchStatus::Dispatched,
                "the district signs for a batch once it was dispatched",
            ));
        }
        let boxes = boxes_of_dispatch(conn, dispatch_id)?;
        for b in &boxes {
            move_box(
                conn,
                hsm,
                b,
                BoxStatus::DistrictSigned,
                "district-sign",
                actor,
            )?;
        }
        move_dispatch(
            conn,
            hsm,
            &d,
            DispatchStatus::DistrictSigned,
            "district-sign",
            serde_json::json!({ "boxes": boxes.len() }),
            actor,
        )
    })
}

/// Records a branch's signature for its box: every card `mailed →
/// at-branch` (the status machine wants a branch operator), the box
/// `branch-signed`, and the batch `completed` once its last box is signed.
/// The batch must be district-signed first. Audited as `box.branch-sign`
/// (and `dispatch.complete`).
pub fn branch_sign_off(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    box_id: i64,
    actor: &Actor,
) -> Result<CardBox, StorageError> {
    write_tx(conn, |conn| {
        let b = read_box(conn, box_id)?;
        if b.status != BoxStatus::DistrictSigned {
            return Err(wrong_box_status(
                &b,
                BoxStatus::DistrictSigned,
                "a branch signs for its box after the district signed for the batch",
            ));
        }
        let dispatch_id = b.dispatch_id.ok_or_else(|| StorageError::Corrupt {
            column: "boxes.dispatch_id",
            value: "(none)".to_owned(),
            reason: format!(
                "box {} was signed by a district without a batch",
                b.box_number
            ),
        })?;
        for card in cards_in_box(conn, b.id)? {
            cards::transition_card(
                conn,
                hsm,
                card.id,
                Some(card.version),
                CardStatus::AtBranch,
                actor,
                &format!("box {} signed for", b.box_number),
            )?;
        }
        let signed = move_box(conn, hsm, &b, BoxStatus::BranchSigned, "branch-sign", actor)?;
        let open = boxes::table
            .filter(boxes::dispatch_id.eq(dispatch_id))
            .filter(boxes::status.ne(BoxStatus::BranchSigned.as_str()))
            .count()
            .get_result::<i64>(conn)
            .map_err(db("count a batch's unsigned boxes"))?;
        if open == 0 {
            let d = read_dispatch(conn, dispatch_id)?;
            move_dispatch(
                conn,
                hsm,
                &d,
                DispatchStatus::Completed,
                "complete",
                serde_json::json!({ "last_box": b.box_number }),
                actor,
            )?;
        }
        Ok(signed)
    })
}

/// A dispatch batch with its boxes and status history.
pub fn get_dispatch(
    conn: &mut DbConnection,
    dispatch_id: i64,
) -> Result<(Dispatch, Vec<CardBox>, Vec<StatusChange>), StorageError> {
    snapshot_tx(conn, |conn| {
        let d = read_dispatch(conn, dispatch_id)?;
        let boxes = boxes_of_dispatch(conn, dispatch_id)?;
        let history = history_of(conn, TrackedEntity::Dispatch, dispatch_id)?;
        Ok((d, boxes, history))
    })
}

impl Store {
    /// [`create_dispatch`] on the blocking pool.
    pub async fn create_dispatch(
        &self,
        district: String,
        box_ids: Vec<i64>,
        today: NaiveDate,
        actor: Actor,
    ) -> Result<Dispatch, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.create_dispatch", move |conn| {
            create_dispatch(conn, hsm.as_ref(), &district, &box_ids, today, &actor)
        })
        .await
    }

    /// [`dispatch`] on the blocking pool.
    pub async fn dispatch(&self, dispatch_id: i64, actor: Actor) -> Result<Dispatch, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.dispatch", move |conn| {
            dispatch(conn, hsm.as_ref(), dispatch_id, &actor)
        })
        .await
    }

    /// [`district_sign_off`] on the blocking pool.
    pub async fn district_sign_off(
        &self,
        dispatch_id: i64,
        actor: Actor,
    ) -> Result<Dispatch, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.district_sign_off", move |conn| {
            district_sign_off(conn, hsm.as_ref(), dispatch_id, &actor)
        })
        .await
    }

    /// [`branch_sign_off`] on the blocking pool.
    pub async fn branch_sign_off(
        &self,
        box_id: i64,
        actor: Actor,
    ) -> Result<CardBox, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.branch_sign_off", move |conn| {
            branch_sign_off(conn, hsm.as_ref(), box_id, &actor)
        })
        .await
    }

    /// [`get_dispatch`] on the blocking pool.
    pub async fn get_dispatch(
        &self,
        dispatch_id: i64,
    ) -> Result<(Dispatch, Vec<CardBox>, Vec<StatusChange>), StorageError> {
        self.run("workshop.get_dispatch", move |conn| {
            get_dispatch(conn, dispatch_id)
        })
        .await
    }
}
