//! The device registry: every device the hub drives (card printers,
//! readers, cameras, ID-card readers, verifiers), by unique name, with its
//! kind, location and driver configuration (JSON). Device supervisors read
//! it at start; the registry records what exists, not live state.
//!
//! Not here: live status (the StatusBus), drivers (`cardhub_devices`).

use cardhub_protocols::crypto::Hsm;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::audit::{self, AuditEntry};
use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, db};
use crate::schema::devices;
use crate::{Actor, Store, utc_now};

/// A device to register or update.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceRegistration {
    /// Device kind's stable name (`card-printer`, `card-reader`, ...).
    pub kind: String,
    /// Unique name (`line-1-printer`, `branch-310101-id-reader`).
    pub name: String,
    /// Where it stands, in words.
    pub location: Option<String>,
    /// Driver configuration.
    pub config: serde_json::Value,
}

/// A registered device.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Device {
    /// Row id.
    pub id: i64,
    /// Kind's stable name.
    pub kind: String,
    /// Unique name.
    pub name: String,
    /// Location.
    pub location: Option<String>,
    /// Driver configuration.
    pub config: serde_json::Value,
    /// When registered (UTC).
    pub created_at: NaiveDateTime,
    /// Last change (UTC).
    pub updated_at: NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = devices)]
struct DeviceRow {
    id: i64,
    kind: String,
    name: String,
    location: Option<String>,
    config: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl TryFrom<DeviceRow> for Device {
    type Error = StorageError;

    fn try_from(row: DeviceRow) -> Result<Self, StorageError> {
        let config = serde_json::from_str(&row.config).map_err(|e| StorageError::Corrupt {
            column: "devices.config",
            value: row.config.clone(),
            reason: format!("not JSON: {e}"),
        })?;
        Ok(Device {
            id: row.id,
            kind: row.kind,
            name: row.name,
            location: row.location,
            config,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Registers a device, or updates the one with the same name. Audited as
/// `device.register` or `device.update`.
pub fn upsert(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    device: &DeviceRegistration,
    actor: &Actor,
) -> Result<Device, StorageError> {
    let name = device.name.trim();
    if name.is_empty() {
        return Err(StorageError::Invalid {
            what: "device name",
            reason: "it is empty".to_owned(),
        });
    }
    let config =
        serde_json::to_string(&device.config).expect("a serde_json::Value always serialises");
    write_tx(conn, |conn| {
        let now = utc_now();
        let existing = get_by_name(conn, name)?;
        let action = match &existing {
            Some(found) => {
                diesel::update(devices::table.find(found.id))
                    .set((
                        devices::kind.eq(&device.kind),
                        devices::location.eq(&device.location),
                        devices::config.eq(&config),
                        devices::updated_at.eq(now),
                    ))
                    .execute(conn)
                    .map_err(db("update a device"))?;
                "device.update"
            }
            None => {
                diesel::insert_into(devices::table)
                    .values((
                        devices::kind.eq(&device.kind),
                        devices::name.eq(name),
                        devices::location.eq(&device.location),
                        devices::config.eq(&config),
                        devices::created_at.eq(now),
                        devices::updated_at.eq(now),
                    ))
                    .execute(conn)
                    .map_err(db("insert a device"))?;
                "device.register"
            }
        };
        audit::append(
            conn,
            hsm,
            &AuditEntry::new(
                actor,
                action,
                format!("device:{name}"),
                serde_json::json!({ "kind": device.kind, "location": device.location }),
            ),
        )?;
        get_by_name(conn, name)?.ok_or_else(|| StorageError::NotFound {
            what: "device",
            key: name.to_owned(),
        })
    })
}

/// The device with this name.
pub fn get_by_name(conn: &mut DbConnection, name: &str) -> Result<Option<Device>, StorageError> {
    devices::table
        .filter(devices::name.eq(name))
        .select(DeviceRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read a device"))?
        .map(Device::try_from)
        .transpose()
}

/// Every device, by name.
pub fn list(conn: &mut DbConnection) -> Result<Vec<Device>, StorageError> {
    devices::table
        .order(devices::name.asc())
        .select(DeviceRow::as_select())
        .load(conn)
        .map_err(db("list devices"))?
        .into_iter()
        .map(Device::try_from)
        .collect()
}

impl Store {
    /// [`upsert`] on the blocking pool.
    pub async fn upsert_device(
        &self,
        device: DeviceRegistration,
        actor: Actor,
    ) -> Result<Device, StorageError> {
        let hsm = self.hsm().clone();
        self.write("devices.upsert", move |conn| {
            upsert(conn, hsm.as_ref(), &device, &actor)
        })
        .await
    }

    /// [`list`] on the blocking pool.
    pub async fn list_devices(&self) -> Result<Vec<Device>, StorageError> {
        self.run("devices.list", list).await
    }
}
