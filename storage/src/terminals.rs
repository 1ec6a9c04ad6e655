//! Branch terminals (网点终端): the branch PCs allowed to link their devices
//! to the hub over `/ws/terminal`. Each is registered with its id (what its
//! `hello` names), the branch it serves and its SM2 public key; the hub
//! lets a terminal in when it signs a challenge with the matching secret
//! key (`cardhub_protocols::terminal::auth`). A terminal is disabled,
//! never deleted, so the audit trail keeps its id; a disabled terminal is
//! refused at its next `hello`.
//!
//! Registration, disabling and enabling are audited (`terminal.register`,
//! `terminal.disable`, `terminal.enable`); [`touch`] (when and from where
//! a terminal was last seen) is bookkeeping and is not.
//!
//! Not here: the live link, its sessions and devices (the web crate's
//! `terminal` module), the branches themselves ([`crate::branches`]).

use cardhub_protocols::crypto::Hsm;
use cardhub_protocols::crypto::sm2::{PUBLIC_KEY_LEN, VerifyingKey};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditEntry};
use crate::branches;
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, conflict_or_db, db, parse_column};
use crate::schema::{branches as branches_table, terminals};
use crate::{Actor, Store, to_stored_precision, utc_now};

/// The longest terminal id: ids appear in device addresses
/// (`terminal://ID/DEVICE`), entity ids and log lines; 64 characters is
/// room for any naming scheme a centre uses (`SH-310101-007-02`).
pub const MAX_TERMINAL_ID_LEN: usize = 64;

/// Whether a terminal may connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TerminalStatus {
    /// May connect.
    Active,
    /// Refused at its `hello` until enabled again.
    Disabled,
}

stable_names!(TerminalStatus, "terminal status", {
    Active => "active",
    Disabled => "disabled",
});

/// A terminal to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewTerminal {
    /// Its id: letters, digits, `-`, `_` and `.`, at most
    /// [`MAX_TERMINAL_ID_LEN`] characters (`T-0001`).
    pub terminal_id: String,
    /// The code of the branch it serves.
    pub branch_code: String,
    /// Its SM2 public key, SEC1 (uncompressed `04 || x || y`, or
    /// compressed); stored uncompressed.
    pub public_key: Vec<u8>,
    /// Where it stands, in words (`counter 3, ground floor`).
    pub description: Option<String>,
}

/// A registered terminal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Terminal {
    /// Row id.
    pub id: i64,
    /// Its id.
    pub terminal_id: String,
    /// The code of the branch it serves.
    pub branch_code: String,
    /// The branch's name.
    pub branch_name: String,
    /// Its SM2 public key, SEC1 uncompressed (65 bytes).
    pub public_key: Vec<u8>,
    /// Whether it may connect.
    pub status: TerminalStatus,
    /// Where it stands.
    pub description: Option<String>,
    /// When registered (UTC).
    pub registered_at: NaiveDateTime,
    /// When it last authenticated or its link last dropped (UTC).
    pub last_seen_at: Option<NaiveDateTime>,
    /// The address it last connected from.
    pub last_address: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = terminals)]
struct TerminalRow {
    id: i64,
    terminal_id: String,
    public_key: Vec<u8>,
    status: String,
    description: Option<String>,
    registered_at: NaiveDateTime,
    last_seen_at: Option<NaiveDateTime>,
    last_address: Option<String>,
}

type JoinedRow = (TerminalRow, String, String);

fn from_joined((row, branch_code, branch_name): JoinedRow) -> Result<Terminal, StorageError> {
    Ok(Terminal {
        id: row.id,
        status: parse_column("terminals.status", &row.status)?,
        terminal_id: row.terminal_id,
        branch_code,
        branch_name,
        public_key: row.public_key,
        description: row.description,
        registered_at: row.registered_at,
        last_seen_at: row.last_seen_at,
        last_address: row.last_address,
    })
}

/// Checks a terminal id's shape; the message says what is allowed.
pub fn check_terminal_id(terminal_id: &str) -> Result<(), StorageError> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if terminal_id.is_empty()
        || terminal_id.len() > MAX_TERMINAL_ID_LEN
        || !terminal_id.chars().all(valid_char)
    {
        return Err(StorageError::Invalid {
            what: "terminal id",
            reason: format!(
                "`{terminal_id}` must be 1 to {MAX_TERMINAL_ID_LEN} letters, digits, `-`, `_` or `.` (it is part of device addresses such as terminal://T-0001/printer-1)"
            ),
        });
    }
    Ok(())
}

/// The key in the form stored: SEC1 uncompressed, checked to be a point of
/// the SM2 curve.
fn normalise_key(public_key: &[u8]) -> Result<[u8; PUBLIC_KEY_LEN], StorageError> {
    VerifyingKey::from_sec1(public_key)
        .map(|key| key.public_key())
        .map_err(|e| StorageError::Invalid {
            what: "terminal public key",
            reason: format!(
                "{e}: give the terminal's SM2 public key as SEC1 hex (130 digits starting 04, as `cardhub terminal` prints it)"
            ),
        })
}

/// Registers a terminal. An id already in use (also by a disabled terminal)
/// is a [`StorageError::Conflict`]; an unknown branch is
/// [`StorageError::NotFound`]; a malformed id or key is
/// [`StorageError::Invalid`]. Audited as `terminal.register`.
pub fn register(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    new: &NewTerminal,
    actor: &Actor,
) -> Result<Terminal, StorageError> {
    let terminal_id = new.terminal_id.trim();
    check_terminal_id(terminal_id)?;
    let public_key = normalise_key(&new.public_key)?;
    let description = new
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    write_tx(conn, |conn| {
        let branch = branches::get_by_code(conn, new.branch_code.trim())?;
        diesel::insert_into(terminals::table)
            .values((
                terminals::terminal_id.eq(terminal_id),
                terminals::branch_id.eq(branch.id),
                terminals::public_key.eq(&public_key[..]),
                terminals::status.eq(TerminalStatus::Active.as_str()),
                terminals::description.eq(description),
                terminals::registered_at.eq(utc_now()),
            ))
            .execute(conn)
            .map_err(conflict_or_db("insert a terminal", || {
                format!(
                    "terminal `{terminal_id}` is already registered (ids stay taken after disabling): register the new PC under a new id"
                )
            }))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "terminal.register",
                format!("terminal:{terminal_id}"),
                serde_json::json!({
                    "branch": branch.code,
                    "public_key": hex::encode(public_key),
                    "description": description,
                }),
            ),
        )?;
        get(conn, terminal_id)
    })
}

/// The terminal with this id, if registered.
pub fn find(conn: &mut DbConnection, terminal_id: &str) -> Result<Option<Terminal>, StorageError> {
    terminals::table
        .inner_join(branches_table::table)
        .filter(terminals::terminal_id.eq(terminal_id))
        .select((
            TerminalRow::as_select(),
            branches_table::code,
            branches_table::name,
        ))
        .first::<JoinedRow>(conn)
        .optional()
        .map_err(db("read a terminal"))?
        .map(from_joined)
        .transpose()
}

/// The terminal with this id; [`StorageError::NotFound`] when there is none.
pub fn get(conn: &mut DbConnection, terminal_id: &str) -> Result<Terminal, StorageError> {
    find(conn, terminal_id)?.ok_or_else(|| StorageError::NotFound {
        what: "terminal",
        key: terminal_id.to_owned(),
    })
}

/// Every terminal, disabled ones included, by id.
pub fn list(conn: &mut DbConnection) -> Result<Vec<Terminal>, StorageError> {
    terminals::table
        .inner_join(branches_table::table)
        .order(terminals::terminal_id.asc())
        .select((
            TerminalRow::as_select(),
            branches_table::code,
            branches_table::name,
        ))
        .load::<JoinedRow>(conn)
        .map_err(db("list terminals"))?
        .into_iter()
        .map(from_joined)
        .collect()
}

/// Disables or enables the terminal and returns it. Setting the status it
/// already has changes nothing (and is not audited); an unknown id is
/// [`StorageError::NotFound`]. Audited as `terminal.disable` or
/// `terminal.enable`.
pub fn set_status(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    terminal_id: &str,
    status: TerminalStatus,
    actor: &Actor,
) -> Result<Terminal, StorageError> {
    write_tx(conn, |conn| {
        let terminal = get(conn, terminal_id)?;
        if terminal.status == status {
            return Ok(terminal);
        }
        diesel::update(terminals::table.find(terminal.id))
            .set(terminals::status.eq(status.as_str()))
            .execute(conn)
            .map_err(db("set a terminal's status"))?;
        let action = match status {
            TerminalStatus::Active => "terminal.enable",
            TerminalStatus::Disabled => "terminal.disable",
        };
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                action,
                format!("terminal:{terminal_id}"),
                serde_json::json!({ "branch": terminal.branch_code }),
            ),
        )?;
        Ok(Terminal { status, ..terminal })
    })
}

/// Records that the terminal was seen at `at` from `address` (it
/// authenticated, or its link dropped). Not audited. An unknown id changes
/// nothing.
pub fn touch(
    conn: &mut DbConnection,
    terminal_id: &str,
    at: NaiveDateTime,
    address: Option<&str>,
) -> Result<(), StorageError> {
    diesel::update(terminals::table.filter(terminals::terminal_id.eq(terminal_id)))
        .set((
            terminals::last_seen_at.eq(to_stored_precision(at)),
            terminals::last_address.eq(address),
        ))
        .execute(conn)
        .map_err(db("record when a terminal was seen"))?;
    Ok(())
}

impl Store {
    /// [`register`] on the blocking pool.
    pub async fn register_terminal(
        &self,
        new: NewTerminal,
        actor: Actor,
    ) -> Result<Terminal, StorageError> {
        let hsm = self.hsm().clone();
        self.write("terminals.register", move |conn| {
            register(conn, hsm.as_ref(), &new, &actor)
        })
        .await
    }

    /// [`find`] on the blocking pool.
    pub async fn find_terminal(
        &self,
        terminal_id: String,
    ) -> Result<Option<Terminal>, StorageError> {
        self.run("terminals.find", move |conn| find(conn, &terminal_id))
            .await
    }

    /// [`get`] on the blocking pool.
    pub async fn terminal(&self, terminal_id: String) -> Result<Terminal, StorageError> {
        self.run("terminals.get", move |conn| get(conn, &terminal_id))
            .await
    }

    /// [`list`] on the blocking pool.
    pub async fn list_terminals(&self) -> Result<Vec<Terminal>, StorageError> {
        self.run("terminals.list", list).await
    }

    /// [`set_status`] on the blocking pool.
    pub async fn set_terminal_status(
        &self,
        terminal_id: String,
        status: TerminalStatus,
        actor: Actor,
    ) -> Result<Terminal, StorageError> {
        let hsm = self.hsm().clone();
        self.write("terminals.set_status", move |conn| {
            set_status(conn, hsm.as_ref(), &terminal_id, status, &actor)
        })
        .await
    }

    /// [`touch`] on the blocking pool.
    pub async fn touch_terminal(
        &self,
        terminal_id: String,
        at: NaiveDateTime,
        address: Option<String>,
    ) -> Result<(), StorageError> {
        self.write("terminals.touch", move |conn| {
            touch(conn, &terminal_id, at, address.as_deref())
        })
        .await
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use cardhub_protocols::crypto::SoftHsm;
    use cardhub_protocols::roles::Role;

    use super::*;
    use crate::branches::{BranchKind, NewBranch};
    use crate::testing::{test_hsm, test_stores};

    fn admin() -> Actor {
        Actor::new("root", Role::Admin)
    }

    fn public_key() -> Vec<u8> {
        SoftHsm::new()
            .generate_sm2("terminal-auth")
            .expect("a fresh key")
    }

    fn new_terminal(id: &str, key: &[u8]) -> NewTerminal {
        NewTerminal {
            terminal_id: id.to_owned(),
            branch_code: "B001".to_owned(),
            public_key: key.to_vec(),
            description: Some(" counter 3 ".to_owned()),
        }
    }

    /// Runs `body` on each backend with branch B001 registered.
    fn with_branch(body: impl Fn(&mut DbConnection, &dyn Hsm) -> Result<(), StorageError>) {
        for store in test_stores(test_hsm()) {
            let hsm = store.hsm().clone();
            store
                .with_conn(|conn| {
                    let branch = NewBranch {
                        code: "B001".into(),
                        name: "黄浦区社区事务受理服务中心".into(),
                        kind: BranchKind::Community,
                    };
                    branches::create(conn, hsm.as_ref(), &branch, &admin())?;
                    body(conn, hsm.as_ref())
                })
                .unwrap_or_else(|e| panic!("on {}: {e}", store.backend()));
        }
    }

    #[test]
    fn a_terminal_is_registered_listed_disabled_and_enabled() {
        with_branch(|conn, hsm| {
            let key = public_key();
            let t = register(conn, hsm, &new_terminal("T-0001", &key), &admin())?;
            assert_eq!(t.terminal_id, "T-0001");
            assert_eq!(t.branch_code, "B001");
            assert_eq!(t.branch_name, "黄浦区社区事务受理服务中心");
            assert_eq!(t.public_key, key);
            assert_eq!(t.status, TerminalStatus::Active);
            assert_eq!(t.description.as_deref(), Some("counter 3"));
            assert_eq!(t.last_seen_at, None);
            assert_eq!(find(conn, "T-0001")?, Some(t.clone()));
            assert_eq!(find(conn, "T-0002")?, None);

            let disabled = set_status(conn, hsm, "T-0001", TerminalStatus::Disabled, &admin())?;
            assert_eq!(disabled.status, TerminalStatus::Disabled);
            assert_eq!(get(conn, "T-0001")?.status, TerminalStatus::Disabled);
            set_status(conn, hsm, "T-0001", TerminalStatus::Active, &admin())?;

            let seen = utc_now();
            touch(conn, "T-0001", seen, Some("10.1.2.3:50000"))?;
            let t = get(conn, "T-0001")?;
            assert_eq!(t.last_seen_at, Some(seen));
            assert_eq!(t.last_address.as_deref(), Some("10.1.2.3:50000"));
            assert_eq!(list(conn)?.len(), 1);
            Ok(())
        });
    }

    #[test]
    fn bad_registrations_are_refused_with_the_reason() {
        with_branch(|conn, hsm| {
            let key = public_key();
            register(conn, hsm, &new_terminal("T-0001", &key), &admin())?;
            let dup = register(conn, hsm, &new_terminal("T-0001", &key), &admin()).unwrap_err();
            assert!(matches!(dup, StorageError::Conflict { .. }), "{dup}");

            let mut other_branch = new_terminal("T-0002", &key);
            other_branch.branch_code = "B999".into();
            let missing = register(conn, hsm, &other_branch, &admin()).unwrap_err();
            assert!(
                matches!(missing, StorageError::NotFound { what: "branch", .. }),
                "{missing}"
            );

            let bad_id = register(conn, hsm, &new_terminal("T 0003", &key), &admin()).unwrap_err();
            assert!(bad_id.to_string().contains("letters, digits"), "{bad_id}");

            let mut not_a_point = key.clone();
            not_a_point[64] ^= 1;
            let bad_key =
                register(conn, hsm, &new_terminal("T-0004", &not_a_point), &admin()).unwrap_err();
            assert!(
                matches!(
                    bad_key,
                    StorageError::Invalid {
                        what: "terminal public key",
                        ..
                    }
                ),
                "{bad_key}"
            );
            let unknown = set_status(conn, hsm, "T-9", TerminalStatus::Disabled, &admin());
            assert!(matches!(unknown, Err(StorageError::NotFound { .. })));
            assert_eq!(list(conn)?.len(), 1);
            Ok(())
        });
    }
}
