//! The self-service machine register (自助机备案): each machine's id, the
//! branch it stands at, where, its SM2 public key and whether it may
//! upload. Registering, changing and deregistering are audited
//! (`machine.register`, `machine.update`, `machine.deregister`).
//!
//! A machine uploads the holder's photo for an application of its branch,
//! signed with its key; the web crate checks the signature against the key
//! read here, then [`accept_photo`] stores the photo
//! ([`crate::photos::put_photo`], the photo rules included) in one
//! transaction that also checks the key is still the one verified against,
//! the application is of the machine's branch, and the signed time is
//! after the last one accepted from the machine (so a captured upload
//! cannot be replayed).
//!
//! Not here: the signed message's layout and the signature check (the web
//! crate's machine routes), the photo rules ([`crate::photos`]).

use cardhub_protocols::crypto::Hsm;
use cardhub_protocols::crypto::sm2::{PUBLIC_KEY_LEN, VerifyingKey};
use cardhub_protocols::roles::Role;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditEntry};
use crate::branches;
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, conflict_or_db, db, parse_column};
use crate::photos::{self, NewPhoto};
use crate::schema::{applications, branches as branch_rows, self_service_machines as machines};
use crate::{Actor, Store, utc_now};

/// Longest machine id accepted: the centre's asset numbers are far shorter.
const MAX_MACHINE_ID_CHARS: usize = 64;

/// Whether a registered machine may upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MachineStatus {
    /// In service: its signed uploads are accepted.
    Active,
    /// Taken out of service (moved, repaired, suspected compromised): its
    /// uploads are refused until it is made active again.
    Suspended,
}

stable_names!(MachineStatus, "machine status", {
    Active => "active",
    Suspended => "suspended",
});

/// A machine to register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMachine {
    /// The machine's id (its asset number), unique.
    pub machine_id: String,
    /// The branch it stands at (code).
    pub branch_code: String,
    /// Where in the branch ("lobby, left of the entrance").
    pub location: String,
    /// Its SM2 public key, SEC1 uncompressed (65 bytes, `04 || x || y`).
    pub public_key: Vec<u8>,
}

/// What to change about a machine; `None` keeps a field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MachineChange {
    /// Moved to another branch (code).
    pub branch_code: Option<String>,
    /// Moved within the branch.
    pub location: Option<String>,
    /// A new key (the machine was re-keyed).
    pub public_key: Option<Vec<u8>>,
    /// Taken out of or back into service.
    pub status: Option<MachineStatus>,
}

/// A registered machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// Row id.
    pub id: i64,
    /// The machine's id.
    pub machine_id: String,
    /// Its branch's id.
    pub branch_id: i64,
    /// Its branch's code.
    pub branch_code: String,
    /// Where in the branch.
    pub location: String,
    /// Its SM2 public key (SEC1 uncompressed).
    #[serde(serialize_with = "as_hex")]
    pub public_key: Vec<u8>,
    /// Whether it may upload.
    pub status: MachineStatus,
    /// The signed time (Unix ms) of the last upload accepted from it.
    pub last_signed_ms: Option<i64>,
    /// When registered (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

fn as_hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = machines)]
struct MachineRow {
    id: i64,
    machine_id: String,
    branch_id: i64,
    location: String,
    public_key: Vec<u8>,
    status: String,
    last_signed_ms: Option<i64>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl MachineRow {
    fn into_machine(self, branch_code: String) -> Result<Machine, StorageError> {
        Ok(Machine {
            id: self.id,
            status: parse_column("self_service_machines.status", &self.status)?,
            machine_id: self.machine_id,
            branch_id: self.branch_id,
            branch_code,
            location: self.location,
            public_key: self.public_key,
            last_signed_ms: self.last_signed_ms,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Why a signed upload from a registered machine is refused (a machine
/// that is not registered is [`StorageError::NotFound`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MachineRefusal {
    /// The machine is suspended.
    #[error(
        "self-service machine `{machine_id}` is suspended: the centre must make it active again (PATCH its registration) before it uploads"
    )]
    Suspended {
        /// The machine.
        machine_id: String,
    },
    /// The key changed between the signature check and the store.
    #[error(
        "self-service machine `{machine_id}` was re-keyed while its upload was checked: sign the upload again with the registered key"
    )]
    KeyChanged {
        /// The machine.
        machine_id: String,
    },
    /// The signed time is not after the last accepted one.
    #[error(
        "the upload from `{machine_id}` is signed at {signed_ms} ms, not after the last accepted upload ({last_ms} ms): it was replayed, or the machine's clock went back; sign it again with the current time"
    )]
    Replayed {
        /// The machine.
        machine_id: String,
        /// The upload's signed time.
        signed_ms: i64,
        /// The last accepted signed time.
        last_ms: i64,
    },
    /// The application belongs to another branch.
    #[error(
        "application {application_id} was accepted for branch {application_branch}, not for {machine_branch} where `{machine_id}` stands: take the photo at the holder's branch"
    )]
    OtherBranch {
        /// The machine.
        machine_id: String,
        /// The application.
        application_id: i64,
        /// Its branch (code, or `the centre`).
        application_branch: String,
        /// The machine's branch code.
        machine_branch: String,
    },
}

fn checked_machine_id(machine_id: &str) -> Result<&str, StorageError> {
    let id = machine_id.trim();
    if id.is_empty()
        || id.chars().any(char::is_whitespace)
        || id.chars().count() > MAX_MACHINE_ID_CHARS
    {
        return Err(StorageError::Invalid {
            what: "machine id",
            reason: format!(
                "`{machine_id}` is empty, contains spaces or is longer than {MAX_MACHINE_ID_CHARS} characters: use the machine's asset number"
            ),
        });
    }
    Ok(id)
}

fn checked_key(public_key: &[u8]) -> Result<(), StorageError> {
    if public_key.len() != PUBLIC_KEY_LEN {
        return Err(StorageError::Invalid {
            what: "machine public key",
            reason: format!(
                "{} bytes; register the uncompressed SEC1 form, {PUBLIC_KEY_LEN} bytes (130 hex digits starting 04)",
                public_key.len()
            ),
        });
    }
    VerifyingKey::from_sec1(public_key).map_err(|e| StorageError::Invalid {
        what: "machine public key",
        reason: e.to_string(),
    })?;
    Ok(())
}

fn checked_location(location: &str) -> Result<&str, StorageError> {
    let location = location.trim();
    if location.is_empty() {
        return Err(StorageError::Invalid {
            what: "machine location",
            reason: "it is empty: say where in the branch the machine stands".to_owned(),
        });
    }
    Ok(location)
}

/// Registers a machine. A machine id already registered is a
/// [`StorageError::Conflict`]; an unknown branch [`StorageError::NotFound`];
/// a key that is not an SM2 point [`StorageError::Invalid`]. Audited as
/// `machine.register`.
pub fn register(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    new: &NewMachine,
    actor: &Actor,
) -> Result<Machine, StorageError> {
    let machine_id = checked_machine_id(&new.machine_id)?;
    let location = checked_location(&new.location)?;
    checked_key(&new.public_key)?;
    write_tx(conn, |conn| {
        let branch = branches::get_by_code(conn, new.branch_code.trim())?;
        let now = utc_now();
        diesel::insert_into(machines::table)
            .values((
                machines::machine_id.eq(machine_id),
                machines::branch_id.eq(branch.id),
                machines::location.eq(location),
                machines::public_key.eq(&new.public_key),
                machines::status.eq(MachineStatus::Active.as_str()),
                machines::created_at.eq(now),
                machines::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(conflict_or_db("register a self-service machine", || {
                format!("self-service machine `{machine_id}` is already registered")
            }))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "machine.register",
                format!("machine:{machine_id}"),
                serde_json::json!({
                    "branch": branch.code,
                    "location": location,
                    "public_key": hex::encode(&new.public_key),
                }),
            ),
        )?;
        get(conn, machine_id)
    })
}

/// The registered machines, of one branch or (with `None`) all, by id.
pub fn list(conn: &mut DbConnection, branch_id: Option<i64>) -> Result<Vec<Machine>, StorageError> {
    let mut query = machines::table
        .inner_join(branch_rows::table)
        .order(machines::machine_id.asc())
        .select((MachineRow::as_select(), branch_rows::code))
        .into_boxed();
    if let Some(branch_id) = branch_id {
        query = query.filter(machines::branch_id.eq(branch_id));
    }
    query
        .load::<(MachineRow, String)>(conn)
        .map_err(db("list self-service machines"))?
        .into_iter()
        .map(|(row, code)| row.into_machine(code))
        .collect()
}

/// The machine with this id ([`StorageError::NotFound`] when it is not
/// registered).
pub fn get(conn: &mut DbConnection, machine_id: &str) -> Result<Machine, StorageError> {
    machines::table
        .inner_join(branch_rows::table)
        .filter(machines::machine_id.eq(machine_id.trim()))
        .select((MachineRow::as_select(), branch_rows::code))
        .first::<(MachineRow, String)>(conn)
        .optional()
        .map_err(db("read a self-service machine"))?
        .ok_or_else(|| StorageError::NotFound {
            what: "self-service machine",
            key: machine_id.trim().to_owned(),
        })
        .and_then(|(row, code)| row.into_machine(code))
}

/// Changes a machine's branch, location, key or status. Audited as
/// `machine.update` with the fields changed.
pub fn update(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    machine_id: &str,
    change: &MachineChange,
    actor: &Actor,
) -> Result<Machine, StorageError> {
    let location = change
        .location
        .as_deref()
        .map(checked_location)
        .transpose()?;
    if let Some(key) = &change.public_key {
        checked_key(key)?;
    }
    write_tx(conn, |conn| {
        let machine = get(conn, machine_id)?;
        let branch = change
            .branch_code
            .as_deref()
            .map(|code| branches::get_by_code(conn, code.trim()))
            .transpose()?;
        let now = utc_now();
        diesel::update(machines::table.find(machine.id))
            .set((
                machines::branch_id.eq(branch.as_ref().map_or(machine.branch_id, |b| b.id)),
                machines::location.eq(location.unwrap_or(&machine.location)),
                machines::public_key.eq(change.public_key.as_ref().unwrap_or(&machine.public_key)),
                machines::status.eq(change.status.unwrap_or(machine.status).as_str()),
                machines::updated_at.eq(now),
            ))
            .execute(conn)
            .map_err(db("update a self-service machine"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "machine.update",
                format!("machine:{}", machine.machine_id),
                serde_json::json!({
                    "branch": branch.as_ref().map(|b| &b.code),
                    "location": location,
                    "public_key": change.public_key.as_ref().map(hex::encode),
                    "status": change.status.map(MachineStatus::as_str),
                }),
            ),
        )?;
        get(conn, &machine.machine_id)
    })
}

/// Removes a machine from the register (the audit log keeps its history).
/// Audited as `machine.deregister`.
pub fn deregister(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    machine_id: &str,
    actor: &Actor,
) -> Result<(), StorageError> {
    write_tx(conn, |conn| {
        let machine = get(conn, machine_id)?;
        diesel::delete(machines::table.find(machine.id))
            .execute(conn)
            .map_err(db("deregister a self-service machine"))?;
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                "machine.deregister",
                format!("machine:{}", machine.machine_id),
                serde_json::json!({ "branch": machine.branch_code }),
            ),
        )?;
        Ok(())
    })
}

/// A photo upload whose signature the caller verified under
/// `verified_key` (the machine's key as the caller read it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedPhoto<'a> {
    /// The machine.
    pub machine_id: &'a str,
    /// The key the signature verified under.
    pub verified_key: &'a [u8],
    /// The upload's signed time (Unix ms).
    pub signed_ms: i64,
    /// The application the photo is for.
    pub application_id: i64,
    /// The photo.
    pub photo: &'a NewPhoto,
}

/// Stores a verified upload's photo, in one transaction: the machine must
/// still be active with the key verified against, the application must be
/// of the machine's branch, and the signed time after the last accepted
/// one (then recorded as the last). The photo goes through
/// [`photos::put_photo`] (its rules; audited `photo.put` with the machine
/// as actor, role outside-system). The outer `Err` is a storage failure
/// (an unregistered machine: [`StorageError::NotFound`]); the inner one a
/// [`MachineRefusal`]. A refusal writes nothing.
pub fn accept_photo(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    upload: &SignedPhoto<'_>,
) -> Result<Result<(), MachineRefusal>, StorageError> {
    write_tx(conn, |conn| {
        let machine = get(conn, upload.machine_id)?;
        let machine_id = machine.machine_id.clone();
        if machine.status != MachineStatus::Active {
            return Ok(Err(MachineRefusal::Suspended { machine_id }));
        }
        if machine.public_key != upload.verified_key {
            return Ok(Err(MachineRefusal::KeyChanged { machine_id }));
        }
        if let Some(last_ms) = machine.last_signed_ms
            && upload.signed_ms <= last_ms
        {
            return Ok(Err(MachineRefusal::Replayed {
                machine_id,
                signed_ms: upload.signed_ms,
                last_ms,
            }));
        }
        let application_branch: Option<i64> = applications::table
            .find(upload.application_id)
            .select(applications::branch_id)
            .first(conn)
            .optional()
            .map_err(db("read an application's branch"))?
            .ok_or_else(|| StorageError::NotFound {
                what: "application",
                key: upload.application_id.to_string(),
            })?;
        if application_branch != Some(machine.branch_id) {
            let application_branch = match application_branch {
                Some(id) => branches::get(conn, id)?.code,
                None => "the centre".to_owned(),
            };
            return Ok(Err(MachineRefusal::OtherBranch {
                machine_id,
                application_id: upload.application_id,
                application_branch,
                machine_branch: machine.branch_code,
            }));
        }
        diesel::update(machines::table.find(machine.id))
            .set(machines::last_signed_ms.eq(upload.signed_ms))
            .execute(conn)
            .map_err(db("record a machine's last signed upload"))?;
        let actor = Actor::new(format!("machine:{machine_id}"), Role::OutsideSystem);
        photos::put_photo(conn, hsm, upload.application_id, upload.photo, &actor)?;
        Ok(Ok(()))
    })
}

impl Store {
    /// [`register`] on the blocking pool.
    pub async fn register_machine(
        &self,
        new: NewMachine,
        actor: Actor,
    ) -> Result<Machine, StorageError> {
        let hsm = self.hsm().clone();
        self.write("machines.register", move |conn| {
            register(conn, hsm.as_ref(), &new, &actor)
        })
        .await
    }

    /// [`list`] on the blocking pool.
    pub async fn list_machines(
        &self,
        branch_id: Option<i64>,
    ) -> Result<Vec<Machine>, StorageError> {
        self.run("machines.list", move |conn| list(conn, branch_id))
            .await
    }

    /// [`get`] on the blocking pool.
    pub async fn get_machine(&self, machine_id: String) -> Result<Machine, StorageError> {
        self.run("machines.get", move |conn| get(conn, &machine_id))
            .await
    }

    /// [`update`] on the blocking pool.
    pub async fn update_machine(
        &self,
        machine_id: String,
        change: MachineChange,
        actor: Actor,
    ) -> Result<Machine, StorageError> {
        let hsm = self.hsm().clone();
        self.write("machines.update", move |conn| {
            update(conn, hsm.as_ref(), &machine_id, &change, &actor)
        })
        .await
    }

    /// [`accept_photo`] on the blocking pool.
    pub async fn accept_machine_photo(
        &self,
        machine_id: String,
        verified_key: Vec<u8>,
        signed_ms: i64,
        application_id: i64,
        photo: NewPhoto,
    ) -> Result<Result<(), MachineRefusal>, StorageError> {
        let hsm = self.hsm().clone();
        self.write("machines.accept_photo", move |conn| {
            accept_photo(
                conn,
                hsm.as_ref(),
                &SignedPhoto {
                    machine_id: &machine_id,
                    verified_key: &verified_key,
                    signed_ms,
                    application_id,
                    photo: &photo,
                },
            )
        })
        .await
    }

    /// [`deregister`] on the blocking pool.
    pub async fn deregister_machine(
        &self,
        machine_id: String,
        actor: Actor,
    ) -> Result<(), StorageError> {
        let hsm = self.hsm().clone();
        self.write("machines.deregister", move |conn| {
            deregister(conn, hsm.as_ref(), &machine_id, &actor)
        })
        .await
    }
}
