//! Branches (网点): the places cards are applied for and handed out —
//! community affairs centres, bank branches, and the card centre itself.
//! Operators and applications refer to a branch. A branch belongs to a
//! district (区, [`set_district`]): the workshop's dispatch batches go to a
//! district first, then each box to its branch.
//!
//! Not here: a branch's live connection (the terminal session actor) or its
//! devices ([`crate::devices`]).

use cardhub_protocols::crypto::Hsm;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditEntry};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, conflict_or_db, db, parse_column};
use crate::schema::branches;
use crate::{Actor, Store, utc_now};

/// What kind of place a branch is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BranchKind {
    /// 社区事务受理服务中心: community affairs acceptance centre.
    Community,
    /// 银行网点: a partner bank's branch.
    Bank,
    /// 卡中心: the card centre.
    Centre,
}

stable_names!(BranchKind, "branch kind", {
    Community => "community",
    Bank => "bank",
    Centre => "centre",
});

/// A branch to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBranch {
    /// Unique code (the centre's branch number).
    pub code: String,
    /// Display name.
    pub name: String,
    /// Kind.
    pub kind: BranchKind,
}

/// A stored branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Branch {
    /// Row id.
    pub id: i64,
    /// Unique code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Kind.
    pub kind: BranchKind,
    /// When registered (UTC).
    pub created_at: NaiveDateTime,
    /// 区: the district its cards are dispatched through; `None` until set.
    pub district: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = branches)]
struct BranchRow {
    id: i64,
    code: String,
    name: String,
    kind: String,
    created_at: NaiveDateTime,
    district: Option<String>,
}

impl TryFrom<BranchRow> for Branch {
    type Error = StorageError;

    fn try_from(row: BranchRow) -> Result<Self, StorageError> {
        Ok(Branch {
            id: row.id,
            kind: parse_column("branches.kind", &row.kind)?,
            code: row.code,
            name: row.name,
            created_at: row.created_at,
            district: row.district,
        })
    }
}

/// Registers a branch. A code already in use is a [`StorageError::Conflict`].
pub fn create(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    new: &NewBranch,
    actor: &Actor,
) -> Result<Branch, StorageError> {
    let code = new.code.trim();
    if code.is_empty() {
        return Err(StorageError::Invalid {
            what: "branch code",
            reason: "it is empty".to_owned(),
        });
    }
    write_tx(conn, |conn| {
        let row: BranchRow = diesel::insert_into(branches::table)
            .values((
                branches::code.eq(code),
                branches::name.eq(&new.name),
                branches::kind.eq(new.kind.as_str()),
                branches::created_at.eq(utc_now()),
            ))
            .returning(branches::all_columns)
            .get_result(conn)
            .map_err(conflict_or_db("insert a branch", || {
                format!("branch code `{code}` already exists")
            }))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "branch.create",
                format!("branch:{code}"),
                serde_json::json!({ "name": new.name, "kind": new.kind.as_str() }),
            ),
        )?;
        row.try_into()
    })
}

/// Sets (or with `None` clears) the district of the branch with this
/// code. An empty district is [`StorageError::Invalid`]. Audited as
/// `branch.set-district`.
pub fn set_district(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    code: &str,
    district: Option<&str>,
    actor: &Actor,
) -> Result<Branch, StorageError> {
    let district = district.map(str::trim);
    if district.is_some_and(str::is_empty) {
        return Err(StorageError::Invalid {
            what: "district",
            reason: "it is empty: give the district's name, or none to clear it".to_owned(),
        });
    }
    write_tx(conn, |conn| {
        let branch = get_by_code(conn, code)?;
        diesel::update(branches::table.find(branch.id))
            .set(branches::district.eq(district))
            .execute(conn)
            .map_err(db("set a branch's district"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "branch.set-district",
                format!("branch:{}", branch.code),
                serde_json::json!({ "from": branch.district, "to": district }),
            ),
        )?;
        Ok(Branch {
            district: district.map(str::to_owned),
            ..branch
        })
    })
}

/// The branches of a district, by code.
pub fn list_in_district(
    conn: &mut DbConnection,
    district: &str,
) -> Result<Vec<Branch>, StorageError> {
    branches::table
        .filter(branches::district.eq(district))
        .order(branches::code.asc())
        .select(BranchRow::as_select())
        .load(conn)
        .map_err(db("list a district's branches"))?
        .into_iter()
        .map(Branch::try_from)
        .collect()
}

/// The branch with this code.
pub fn get_by_code(conn: &mut DbConnection, code: &str) -> Result<Branch, StorageError> {
    branches::table
        .filter(branches::code.eq(code))
        .select(BranchRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read a branch"))?
        .ok_or_else(|| StorageError::NotFound {
            what: "branch",
            key: code.to_owned(),
        })?
        .try_into()
}

/// The branch with this id.
pub fn get(conn: &mut DbConnection, id: i64) -> Result<Branch, StorageError> {
    branches::table
        .find(id)
        .select(BranchRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read a branch"))?
        .ok_or_else(|| StorageError::NotFound {
            what: "branch",
            key: id.to_string(),
        })?
        .try_into()
}

/// Every branch, by code.
pub fn list(conn: &mut DbConnection) -> Result<Vec<Branch>, StorageError> {
    branches::table
        .order(branches::code.asc())
        .select(BranchRow::as_select())
        .load(conn)
        .map_err(db("list branches"))?
        .into_iter()
        .map(Branch::try_from)
        .collect()
}

impl Store {
    /// [`create`] on the blocking pool.
    pub async fn create_branch(
        &self,
        new: NewBranch,
        actor: Actor,
    ) -> Result<Branch, StorageError> {
        let hsm = self.hsm().clone();
        self.write("branches.create", move |conn| {
            create(conn, hsm.as_ref(), &new, &actor)
        })
        .await
    }

    /// [`get_by_code`] on the blocking pool.
    pub async fn branch_by_code(&self, code: String) -> Result<Branch, StorageError> {
        self.run("branches.get_by_code", move |conn| get_by_code(conn, &code))
            .await
    }

    /// [`set_district`] on the blocking pool.
    pub async fn set_branch_district(
        &self,
        code: String,
        district: Option<String>,
        actor: Actor,
    ) -> Result<Branch, StorageError> {
        let hsm = self.hsm().clone();
        self.write("branches.set_district", move |conn| {
            set_district(conn, hsm.as_ref(), &code, district.as_deref(), &actor)
        })
        .await
    }

    /// [`list`] on the blocking pool.
    pub async fn list_branches(&self) -> Result<Vec<Branch>, StorageError> {
        self.run("branches.list", list).await
    }
}
