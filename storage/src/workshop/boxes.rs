//! Boxes (卡盒): finished cards sorted by destination branch. A box opens
//! `packing`, is `sealed` when full (or by hand), goes `in-warehouse` (入库),
//! then travels with a dispatch batch ([`super::dispatch`]) until its
//! branch signs for it. Box numbers are `<YYYYMMDD>-<branch code>-<NNN>`,
//! `CENTRE` standing for the centre's own counter.

use std::collections::BTreeMap;

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::{exists, not};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::history::{NewChange, StatusChange, TrackedEntity, history_of, record_change};
use super::{TaskStatus, page};
use crate::audit::{self, AuditEntry};
use crate::cards::{Card, CardRow};
use crate::connection::{DbConnection, snapshot_tx, write_tx};
use crate::error::{StorageError, conflict_or_db, db, parse_column};
use crate::schema::{applications, box_cards, boxes, cards, making_card_tasks};
use crate::{Actor, Store, branches, utc_now};

/// The code in the number of a box for the centre's own counter (cards of
/// applications without a branch).
pub const CENTRE_CODE: &str = "CENTRE";

/// Most cards a box may be opened for (the largest carton the dispatch
/// desk uses holds 500 cards; this leaves room without allowing nonsense).
const MAX_BOX_CAPACITY: i32 = 1_000;

/// Where a box stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BoxStatus {
    /// 装盒中: cards are being added.
    Packing,
    /// 已封盒: sealed, waiting to be checked into the warehouse.
    Sealed,
    /// 已入库: in the warehouse, ready for a dispatch batch.
    InWarehouse,
    /// 已发运: on its way with a dispatch batch.
    Dispatched,
    /// 区已签收: signed for by the district.
    DistrictSigned,
    /// 网点已签收: signed for by its branch; its cards are at the branch.
    BranchSigned,
}

stable_names!(BoxStatus, "box status", {
    Packing => "packing",
    Sealed => "sealed",
    InWarehouse => "in-warehouse",
    Dispatched => "dispatched",
    DistrictSigned => "district-signed",
    BranchSigned => "branch-signed",
});

/// A box of cards for one branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CardBox {
    /// Row id.
    pub id: i64,
    /// `<YYYYMMDD>-<branch code>-<NNN>`, unique.
    pub box_number: String,
    /// The destination branch; `None`: the centre's own counter.
    pub branch_id: Option<i64>,
    /// Where it stands.
    pub status: BoxStatus,
    /// Cards it holds when full.
    pub capacity: i32,
    /// Cards in it.
    pub card_count: i32,
    /// The dispatch batch it travels with.
    pub dispatch_id: Option<i64>,
    /// When opened (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = boxes)]
pub(super) struct BoxRow {
    id: i64,
    box_number: String,
    branch_id: Option<i64>,
    status: String,
    capacity: i32,
    card_count: i32,
    dispatch_id: Option<i64>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<BoxRow> for CardBox {
    type Error = StorageError;

    fn try_from(row: BoxRow) -> Result<Self, StorageError> {
        Ok(CardBox {
            id: row.id,
            box_number: row.box_number,
            branch_id: row.branch_id,
            status: parse_column("boxes.status", &row.status)?,
            capacity: row.capacity,
            card_count: row.card_count,
            dispatch_id: row.dispatch_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

pub(super) fn boxes_of(rows: Vec<BoxRow>) -> Result<Vec<CardBox>, StorageError> {
    rows.into_iter().map(CardBox::try_from).collect()
}

/// The box with this id, without its cards.
pub(super) fn read_box(conn: &mut DbConnection, box_id: i64) -> Result<CardBox, StorageError> {
    boxes::table
        .find(box_id)
        .select(BoxRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read a box"))?
        .ok_or_else(|| StorageError::NotFound {
            what: "box",
            key: box_id.to_string(),
        })?
        .try_into()
}

/// The cards in a box, in packing order.
pub(super) fn cards_in_box(
    conn: &mut DbConnection,
    box_id: i64,
) -> Result<Vec<Card>, StorageError> {
    box_cards::table
        .inner_join(cards::table)
        .filter(box_cards::box_id.eq(box_id))
        .order(box_cards::position.asc())
        .select(CardRow::as_select())
        .load(conn)
        .map_err(db("read a box's cards"))?
        .into_iter()
        .map(Card::try_from)
        .collect()
}

/// The refusal of a box in the wrong status.
pub(super) fn wrong_box_status(b: &CardBox, needed: BoxStatus, hint: &str) -> StorageError {
    StorageError::Conflict {
        what: format!("box {} is {}, not {needed}: {hint}", b.box_number, b.status),
    }
}

/// Moves a box to `to`, with its history row and audit entry.
pub(super) fn move_box(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    b: &CardBox,
    to: BoxStatus,
    verb: &str,
    actor: &Actor,
) -> Result<CardBox, StorageError> {
    let now = utc_now();
    diesel::update(boxes::table.find(b.id))
        .set((boxes::status.eq(to.as_str()), boxes::updated_at.eq(now)))
        .execute(conn)
        .map_err(db("change a box's status"))?;
    record_change(
        conn,
        hsm,
        NewChange {
            entity: TrackedEntity::Box,
            entity_id: b.id,
            number: &b.box_number,
            from: Some(b.status.as_str()),
            to: to.as_str(),
            verb,
            detail: serde_json::json!({ "cards": b.card_count, "dispatch_id": b.dispatch_id }),
            at: now,
        },
        actor,
    )?;
    read_box(conn, b.id)
}

/// Sorts every `qc-passed` card of a `done` task that is not yet in a box
/// into boxes by destination branch (the application's branch; none: the
/// centre's own counter), appending to the branch's `packing` box and
/// opening new ones (of `capacity` cards) as boxes fill; a full box is
/// sealed at once. Returns the boxes that received cards, by id. Audited
/// as `box.open`, `box.pack` (the cards added) and `box.seal`; opening and
/// sealing also write the box's history.
pub fn sort_into_boxes(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    capacity: i32,
    today: NaiveDate,
    actor: &Actor,
) -> Result<Vec<CardBox>, StorageError> {
    if !(1..=MAX_BOX_CAPACITY).contains(&capacity) {
        return Err(StorageError::Invalid {
            what: "box capacity",
            reason: format!("{capacity} is outside 1..={MAX_BOX_CAPACITY} cards"),
        });
    }
    write_tx(conn, |conn| {
        let mut by_branch: BTreeMap<Option<i64>, Vec<i64>> = BTreeMap::new();
        for (card_id, branch_id) in unboxed_finished_cards(conn)? {
            by_branch.entry(branch_id).or_default().push(card_id);
        }
        let mut touched = Vec::new();
        for (branch_id, card_ids) in by_branch {
            let code = match branch_id {
                Some(id) => branches::get(conn, id)?.code,
                None => CENTRE_CODE.to_owned(),
            };
            let mut current = packing_box(conn, branch_id)?;
            let mut added: Vec<i64> = Vec::new();
            for card_id in card_ids {
                let b = match current.take() {
                    Some(b) => b,
                    None => open_box(conn, hsm, branch_id, &code, capacity, today, actor)?,
                };
                let b = add_card(conn, &b, card_id)?;
                added.push(card_id);
                if b.card_count >= b.capacity {
                    audit_pack(conn, hsm, &b, &added, actor)?;
                    added.clear();
                    touched.push(move_box(conn, hsm, &b, BoxStatus::Sealed, "seal", actor)?.id);
                } else {
                    current = Some(b);
                }
            }
            if let Some(b) = current
                && !added.is_empty()
            {
                audit_pack(conn, hsm, &b, &added, actor)?;
                touched.push(b.id);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        touched.into_iter().map(|id| read_box(conn, id)).collect()
    })
}

/// `(card, destination branch)` of every finished card not yet boxed,
/// oldest card first.
fn unboxed_finished_cards(
    conn: &mut DbConnection,
) -> Result<Vec<(i64, Option<i64>)>, StorageError> {
    cards::table
        .inner_join(making_card_tasks::table)
        .inner_join(applications::table)
        .filter(cards::status.eq(CardStatus::QcPassed.as_str()))
        .filter(making_card_tasks::status.eq(TaskStatus::Done.as_str()))
        .filter(not(exists(
            box_cards::table.filter(box_cards::card_id.eq(cards::id)),
        )))
        .order(cards::id.asc())
        .select((cards::id, applications::branch_id))
        .load(conn)
        .map_err(db("find finished cards to box"))
}

/// The branch's box that is packing and not full, if any.
fn packing_box(
    conn: &mut DbConnection,
    branch_id: Option<i64>,
) -> Result<Option<CardBox>, StorageError> {
    let mut query = boxes::table
        .filter(boxes::status.eq(BoxStatus::Packing.as_str()))
        .filter(boxes::card_count.lt(boxes::capacity))
        .order(boxes::id.asc())
        .select(BoxRow::as_select())
        .into_boxed();
    query = match branch_id {
        Some(id) => query.filter(boxes::branch_id.eq(id)),
        None => query.filter(boxes::branch_id.is_null()),
    };
    query
        .first(conn)
        .optional()
        .map_err(db("find a branch's packing box"))?
        .map(CardBox::try_from)
        .transpose()
}

/// Opens a new box for the branch, numbered after the day's last one.
fn open_box(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    branch_id: Option<i64>,
    code: &str,
    capacity: i32,
    today: NaiveDate,
    actor: &Actor,
) -> Result<CardBox, StorageError> {
    let prefix = format!("{}-{code}-", today.format("%Y%m%d"));
    let taken: Vec<String> = boxes::table
        .filter(boxes::box_number.like(format!("{prefix}%")))
        .select(boxes::box_number)
        .load(conn)
        .map_err(db("read the day's box numbers"))?;
    let last = taken
        .iter()
        .filter_map(|n| n.strip_prefix(&prefix)?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    let number = format!("{prefix}{:03}", last + 1);
    let now = utc_now();
    let box_id: i64 = diesel::insert_into(boxes::table)
        .values((
            boxes::box_number.eq(&number),
            boxes::branch_id.eq(branch_id),
            boxes::status.eq(BoxStatus::Packing.as_str()),
            boxes::capacity.eq(capacity),
            boxes::card_count.eq(0),
            boxes::created_at.eq(now),
            boxes::updated_at.eq(now),
        ))
        .returning(boxes::id)
        .get_result(conn)
        .map_err(conflict_or_db("open a box", || {
            format!("box number {number} was taken by another sorting at the same time: sort again")
        }))?;
    record_change(
        conn,
        hsm,
        NewChange {
            entity: TrackedEntity::Box,
            entity_id: box_id,
            number: &number,
            from: None,
            to: BoxStatus::Packing.as_str(),
            verb: "open",
            detail: serde_json::json!({ "branch_id": branch_id, "capacity": capacity }),
            at: now,
        },
        actor,
    )?;
    read_box(conn, box_id)
}

/// Puts a card in a box (the next position).
fn add_card(conn: &mut DbConnection, b: &CardBox, card_id: i64) -> Result<CardBox, StorageError> {
    let now = utc_now();
    diesel::insert_into(box_cards::table)
        .values((
            box_cards::card_id.eq(card_id),
            box_cards::box_id.eq(b.id),
            box_cards::position.eq(b.card_count + 1),
            box_cards::added_at.eq(now),
        ))
        .execute(conn)
        .map_err(conflict_or_db("put a card in a box", || {
            format!(
                "card {card_id} or place {} of box {} was taken by another sorting at the same time: sort again",
                b.card_count + 1,
                b.box_number
            )
        }))?;
    diesel::update(boxes::table.find(b.id))
        .set((
            boxes::card_count.eq(b.card_count + 1),
            boxes::updated_at.eq(now),
        ))
        .execute(conn)
        .map_err(db("count a box's cards"))?;
    Ok(CardBox {
        card_count: b.card_count + 1,
        updated_at: now,
        ..b.clone()
    })
}

fn audit_pack(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    b: &CardBox,
    cards: &[i64],
    actor: &Actor,
) -> Result<(), StorageError> {
    audit::append(
        conn,
        hsm,
        &AuditEntry::new(
            actor,
            "box.pack",
            format!("box:{}", b.box_number),
            serde_json::json!({ "id": b.id, "cards": cards, "card_count": b.card_count }),
        ),
    )?;
    Ok(())
}

/// Seals a packing box by hand (a part-filled box at the end of a shift).
/// An empty box or one not packing is a [`StorageError::Conflict`].
/// Audited as `box.seal`.
pub fn seal_box(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    box_id: i64,
    actor: &Actor,
) -> Result<CardBox, StorageError> {
    write_tx(conn, |conn| {
        let b = read_box(conn, box_id)?;
        if b.status != BoxStatus::Packing {
            return Err(wrong_box_status(
                &b,
                BoxStatus::Packing,
                "only a packing box is sealed",
            ));
        }
        if b.card_count == 0 {
            return Err(StorageError::Conflict {
                what: format!(
                    "box {} is empty: put cards in it before sealing",
                    b.box_number
                ),
            });
        }
        move_box(conn, hsm, &b, BoxStatus::Sealed, "seal", actor)
    })
}

/// Checks a sealed box into the warehouse (入库). Audited as
/// `box.warehouse-in`.
pub fn warehouse_in(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    box_id: i64,
    actor: &Actor,
) -> Result<CardBox, StorageError> {
    write_tx(conn, |conn| {
        let b = read_box(conn, box_id)?;
        if b.status != BoxStatus::Sealed {
            return Err(wrong_box_status(
                &b,
                BoxStatus::Sealed,
                "seal the box before checking it into the warehouse",
            ));
        }
        move_box(conn, hsm, &b, BoxStatus::InWarehouse, "warehouse-in", actor)
    })
}

/// A box with its cards (packing order) and status history.
pub fn get_box(
    conn: &mut DbConnection,
    box_id: i64,
) -> Result<(CardBox, Vec<Card>, Vec<StatusChange>), StorageError> {
    snapshot_tx(conn, |conn| {
        let b = read_box(conn, box_id)?;
        let cards = cards_in_box(conn, box_id)?;
        let history = history_of(conn, TrackedEntity::Box, box_id)?;
        Ok((b, cards, history))
    })
}

/// The most recent boxes, newest first, optionally only those in `status`.
pub fn list_boxes(
    conn: &mut DbConnection,
    status: Option<BoxStatus>,
    limit: i64,
) -> Result<Vec<CardBox>, StorageError> {
    let mut query = boxes::table
        .order(boxes::id.desc())
        .limit(page(limit))
        .select(BoxRow::as_select())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(boxes::status.eq(status.as_str()));
    }
    boxes_of(query.load(conn).map_err(db("list boxes"))?)
}

impl Store {
    /// [`sort_into_boxes`] on the blocking pool.
    pub async fn sort_into_boxes(
        &self,
        capacity: i32,
        today: NaiveDate,
        actor: Actor,
    ) -> Result<Vec<CardBox>, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.sort_into_boxes", move |conn| {
            sort_into_boxes(conn, hsm.as_ref(), capacity, today, &actor)
        })
        .await
    }

    /// [`seal_box`] on the blocking pool.
    pub async fn seal_box(&self, box_id: i64, actor: Actor) -> Result<CardBox, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.seal_box", move |conn| {
            seal_box(conn, hsm.as_ref(), box_id, &actor)
        })
        .await
    }

    /// [`warehouse_in`] on the blocking pool.
    pub async fn warehouse_in(&self, box_id: i64, actor: Actor) -> Result<CardBox, StorageError> {
        let hsm = self.hsm().clone();
        self.write("workshop.warehouse_in", move |conn| {
            warehouse_in(conn, hsm.as_ref(), box_id, &actor)
        })
        .await
    }

    /// [`get_box`] on the blocking pool.
    pub async fn get_box(
        &self,
        box_id: i64,
    ) -> Result<(CardBox, Vec<Card>, Vec<StatusChange>), StorageError> {
        self.run("workshop.get_box", move |conn| get_box(conn, box_id))
            .await
    }

    /// [`list_boxes`] on the blocking pool.
    pub async fn list_boxes(
        &self,
        status: Option<BoxStatus>,
        limit: i64,
    ) -> Result<Vec<CardBox>, StorageError> {
        self.run("workshop.list_boxes", move |conn| {
            list_boxes(conn, status, limit)
        })
        .await
    }
}
