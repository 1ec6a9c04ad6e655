//! Monitoring-wall alerts (告警): every alert a rule raises (a device in
//! error for too long, a stalled line, a channel down, a queue too deep, a
//! waste rate too high) and its clearing, so the wall shows the same open
//! alerts after a restart and keeps their history.
//!
//! An alert is open until cleared; at most one alert per rule and subject
//! is open at a time (a unique partial index), so raising an open alert
//! again is a no-op that returns it. Clearing keeps the row, with when and
//! why. Alerts are the hub's own observations, not operator actions: they
//! are not written to the audit log; this table is their record.
//!
//! Not here: the rules themselves and the wall (the monitor in
//! `cardhub_actors` evaluates the rules and calls these functions), live
//! device and line status (the StatusBus).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::connection::{DbConnection, write_tx};
use crate::error::{StorageError, conflict_or_db, db, parse_column};
use crate::schema::alerts;
use crate::{Store, to_stored_precision};

/// The most alerts one [`list_alerts`] call returns: more than a wall
/// shows, few enough for one response.
pub const MAX_ALERTS_PER_PAGE: i64 = 1_000;

/// How urgent an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertSeverity {
    /// 警告: needs attention soon (queue building up, waste rate rising).
    Warning,
    /// 严重: production or delivery is stopped (line stalled, channel down).
    Critical,
}

stable_names!(AlertSeverity, "alert severity", {
    Warning => "warning",
    Critical => "critical",
});

/// An alert to raise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewAlert<'a> {
    /// The rule that fired (`device-error`, `line-stalled`, `channel-down`,
    /// `queue-depth`, `waste-rate`).
    pub rule: &'a str,
    /// What it fired on (`printer:line-1/printer-1`, `channel:cmpp`).
    pub subject: &'a str,
    /// How urgent.
    pub severity: AlertSeverity,
    /// What the operator reads on the wall, in words.
    pub message: &'a str,
}

/// A stored alert, open or cleared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Row id.
    pub id: i64,
    /// The rule that raised it.
    pub rule: String,
    /// What it is about.
    pub subject: String,
    /// How urgent.
    pub severity: AlertSeverity,
    /// The operator-facing words.
    pub message: String,
    /// When raised (UTC).
    pub raised_at: NaiveDateTime,
    /// When cleared (UTC); `None` while open.
    pub cleared_at: Option<NaiveDateTime>,
    /// Why it cleared ("device back to ready", "the hub restarted").
    pub clear_reason: Option<String>,
}

impl Alert {
    /// Whether the alert is still open.
    pub fn is_open(&self) -> bool {
        self.cleared_at.is_none()
    }
}

/// Which alerts [`list_alerts`] returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertQuery {
    /// Only alerts not yet cleared.
    pub open_only: bool,
    /// Only alerts of this rule.
    pub rule: Option<String>,
    /// Only alerts about this subject.
    pub subject: Option<String>,
    /// Most alerts returned (clamped to 1..=[`MAX_ALERTS_PER_PAGE`]).
    pub limit: i64,
}

impl Default for AlertQuery {
    /// The 100 newest alerts, open or cleared.
    fn default() -> Self {
        Self {
            open_only: false,
            rule: None,
            subject: None,
            limit: 100,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = alerts)]
struct AlertRow {
    id: i64,
    rule: String,
    subject: String,
    severity: String,
    message: String,
    raised_at: NaiveDateTime,
    cleared_at: Option<NaiveDateTime>,
    clear_reason: Option<String>,
}

impl TryFrom<AlertRow> for Alert {
    type Error = StorageError;

    fn try_from(row: AlertRow) -> Result<Self, StorageError> {
        Ok(Alert {
            id: row.id,
            rule: row.rule,
            subject: row.subject,
            severity: parse_column("alerts.severity", &row.severity)?,
            message: row.message,
            raised_at: row.raised_at,
            cleared_at: row.cleared_at,
            clear_reason: row.clear_reason,
        })
    }
}

/// Raises an alert at `at`: inserts it open, or, if an alert of the same
/// rule and subject is already open, returns that one unchanged (its
/// severity and message are not updated). An empty rule or subject is
/// [`StorageError::Invalid`].
pub fn raise_alert(
    conn: &mut DbConnection,
    alert: &NewAlert<'_>,
    at: NaiveDateTime,
) -> Result<Alert, StorageError> {
    check_present("alert rule", alert.rule)?;
    check_present("alert subject", alert.subject)?;
    write_tx(conn, |conn| {
        if let Some(open) = open_alert(conn, alert.rule, alert.subject)? {
            return Ok(open);
        }
        // Another writer may raise the same alert between the read and the
        // insert (PostgreSQL; SQLite writers are serialised). The unique
        // partial index refuses the second insert, inside a savepoint so
        // the transaction survives, and the winner's row is returned.
        match write_tx(conn, |conn| insert_alert(conn, alert, at)) {
            Ok(id) => get_alert(conn, id),
            Err(StorageError::Conflict { what }) => {
                open_alert(conn, alert.rule, alert.subject)?.ok_or(StorageError::Conflict { what })
            }
            Err(e) => Err(e),
        }
    })
}

/// Inserts `alert` open; a unique violation (it is already open) is a
/// [`StorageError::Conflict`].
fn insert_alert(
    conn: &mut DbConnection,
    alert: &NewAlert<'_>,
    at: NaiveDateTime,
) -> Result<i64, StorageError> {
    diesel::insert_into(alerts::table)
        .values((
            alerts::rule.eq(alert.rule),
            alerts::subject.eq(alert.subject),
            alerts::severity.eq(alert.severity.as_str()),
            alerts::message.eq(alert.message),
            alerts::raised_at.eq(to_stored_precision(at)),
        ))
        .returning(alerts::id)
        .get_result(conn)
        .map_err(conflict_or_db("raise an alert", || {
            format!(
                "alert {} on {} was raised and cleared by another writer meanwhile; raise it again",
                alert.rule, alert.subject
            )
        }))
}

/// The alert with this id, open or cleared.
pub fn get_alert(conn: &mut DbConnection, id: i64) -> Result<Alert, StorageError> {
    alerts::table
        .find(id)
        .select(AlertRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read an alert"))?
        .ok_or_else(|| StorageError::NotFound {
            what: "alert",
            key: id.to_string(),
        })?
        .try_into()
}

/// The open alert of `rule` on `subject`, if there is one.
pub fn open_alert(
    conn: &mut DbConnection,
    rule: &str,
    subject: &str,
) -> Result<Option<Alert>, StorageError> {
    alerts::table
        .filter(alerts::rule.eq(rule))
        .filter(alerts::subject.eq(subject))
        .filter(alerts::cleared_at.is_null())
        .select(AlertRow::as_select())
        .first(conn)
        .optional()
        .map_err(db("read an open alert"))?
        .map(Alert::try_from)
        .transpose()
}

/// Clears open alert `id` at `at` for `reason`, returning it cleared;
/// `None` if it was already cleared (it keeps its first clearing). An
/// unknown id is [`StorageError::NotFound`].
pub fn clear_alert(
    conn: &mut DbConnection,
    id: i64,
    reason: &str,
    at: NaiveDateTime,
) -> Result<Option<Alert>, StorageError> {
    write_tx(conn, |conn| {
        let cleared = diesel::update(alerts::table.find(id))
            .filter(alerts::cleared_at.is_null())
            .set((
                alerts::cleared_at.eq(to_stored_precision(at)),
                alerts::clear_reason.eq(reason),
            ))
            .execute(conn)
            .map_err(db("clear an alert"))?;
        let alert = get_alert(conn, id)?;
        Ok((cleared == 1).then_some(alert))
    })
}

/// Clears every open alert at `at` for `reason` (at start-up: "the hub
/// restarted"; the rules raise again what still holds); returns how many.
pub fn clear_open_alerts(
    conn: &mut DbConnection,
    reason: &str,
    at: NaiveDateTime,
) -> Result<usize, StorageError> {
    diesel::update(alerts::table.filter(alerts::cleared_at.is_null()))
        .set((
            alerts::cleared_at.eq(to_stored_precision(at)),
            alerts::clear_reason.eq(reason),
        ))
        .execute(conn)
        .map_err(db("clear the open alerts"))
}

/// Alerts matching `query`, newest first (by raise time, then id).
pub fn list_alerts(
    conn: &mut DbConnection,
    query: &AlertQuery,
) -> Result<Vec<Alert>, StorageError> {
    let mut select = alerts::table
        .select(AlertRow::as_select())
        .order((alerts::raised_at.desc(), alerts::id.desc()))
        .limit(query.limit.clamp(1, MAX_ALERTS_PER_PAGE))
        .into_boxed();
    if query.open_only {
        select = select.filter(alerts::cleared_at.is_null());
    }
    if let Some(rule) = &query.rule {
        select = select.filter(alerts::rule.eq(rule.clone()));
    }
    if let Some(subject) = &query.subject {
        select = select.filter(alerts::subject.eq(subject.clone()));
    }
    select
        .load(conn)
        .map_err(db("list alerts"))?
        .into_iter()
        .map(Alert::try_from)
        .collect()
}

/// Refuses an empty identifying field.
fn check_present(what: &'static str, value: &str) -> Result<(), StorageError> {
    if value.trim().is_empty() {
        return Err(StorageError::Invalid {
            what,
            reason: "it is empty: name the rule and what it fired on".to_owned(),
        });
    }
    Ok(())
}

impl Store {
    /// [`raise_alert`] on the blocking pool.
    pub async fn raise_alert(
        &self,
        rule: String,
        subject: String,
        severity: AlertSeverity,
        message: String,
        at: NaiveDateTime,
    ) -> Result<Alert, StorageError> {
        self.write("alerts.raise", move |conn| {
            let alert = NewAlert {
                rule: &rule,
                subject: &subject,
                severity,
                message: &message,
            };
            raise_alert(conn, &alert, at)
        })
        .await
    }

    /// [`clear_alert`] on the blocking pool.
    pub async fn clear_alert(
        &self,
        id: i64,
        reason: String,
        at: NaiveDateTime,
    ) -> Result<Option<Alert>, StorageError> {
        self.write("alerts.clear", move |conn| {
            clear_alert(conn, id, &reason, at)
        })
        .await
    }

    /// [`clear_open_alerts`] on the blocking pool.
    pub async fn clear_open_alerts(
        &self,
        reason: String,
        at: NaiveDateTime,
    ) -> Result<usize, StorageError> {
        self.write("alerts.clear_open", move |conn| {
            clear_open_alerts(conn, &reason, at)
        })
        .await
    }

    /// [`list_alerts`] on the blocking pool.
    pub async fn list_alerts(&self, query: AlertQuery) -> Result<Vec<Alert>, StorageError> {
        self.run("alerts.list", move |conn| list_alerts(conn, &query))
            .await
    }
}
