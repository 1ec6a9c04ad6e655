//! What the status bus holds: one [`Entity`] per device, line, terminal,
//! channel, counter set and alert, keyed by [`EntityKey`] (kind and id).
//!
//! Publishers send an [`Update`] (the state they are in now); the bus turns
//! it into an [`Entity`] by adding the sequence number, the time the state
//! began and the time of the change. The JSON shapes are the wire format of
//! `/ws/monitor` (`docs/monitor-protocol.md`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What kind of thing an entity is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// A card printer (制卡机), in the workshop or at a branch.
    Printer,
    /// A PC/SC card reader.
    Reader,
    /// A photo camera at a branch.
    Camera,
    /// An ID / permanent-residence card reader (身份证阅读器).
    IdReader,
    /// A production line (产线).
    Line,
    /// A branch terminal (网点终端) linked over `/ws/terminal`.
    Terminal,
    /// A link to an outside party (bank, SMS carrier, logistics, ...), or
    /// the hub's outbox towards them.
    Channel,
    /// Job counters: tasks queued, made, failed.
    Counter,
    /// An alert raised by a rule.
    Alert,
}

impl EntityKind {
    /// Every kind, in display order.
    pub const ALL: [EntityKind; 9] = [
        Self::Printer,
        Self::Reader,
        Self::Camera,
        Self::IdReader,
        Self::Line,
        Self::Terminal,
        Self::Channel,
        Self::Counter,
        Self::Alert,
    ];

    /// The wire name (`id_reader`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Printer => "printer",
            Self::Reader => "reader",
            Self::Camera => "camera",
            Self::IdReader => "id_reader",
            Self::Line => "line",
            Self::Terminal => "terminal",
            Self::Channel => "channel",
            Self::Counter => "counter",
            Self::Alert => "alert",
        }
    }

    /// Devices (printers, readers, cameras, ID readers): what the
    /// device-error rule watches.
    pub fn is_device(self) -> bool {
        matches!(
            self,
            Self::Printer | Self::Reader | Self::Camera | Self::IdReader
        )
    }
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Names one entity: its kind and its id among that kind
/// (`printer` / `line-1/printer-1`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityKey {
    /// The kind.
    pub kind: EntityKind,
    /// The id, unique within the kind.
    pub id: String,
}

impl EntityKey {
    /// A key.
    pub fn new(kind: EntityKind, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }
}

impl fmt::Display for EntityKey {
    /// `kind:id`, as alerts name their subject.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.id)
    }
}

/// How an entity is, for the colour of its tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Ready, online, connected.
    Ok,
    /// Working.
    Busy,
    /// Paused, stopped, nothing to do.
    Idle,
    /// Needs attention soon (ribbon low, waiting for an operator).
    Warning,
    /// Card jam, ribbon out, cover open, channel down; a raised alert.
    Error,
    /// The link to it is lost.
    Offline,
}

impl Health {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Busy => "busy",
            Self::Idle => "idle",
            Self::Warning => "warning",
            Self::Error => "error",
            Self::Offline => "offline",
        }
    }
}

/// Where an entity belongs, for filters and grouping.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct Scope {
    /// The workshop (制卡车间) it is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workshop: Option<String>,
    /// The production line it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// The branch (网点) code it is at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

impl Scope {
    /// Nothing set.
    pub fn is_empty(&self) -> bool {
        self.workshop.is_none() && self.line.is_none() && self.branch.is_none()
    }
}

/// What a device reports beyond its state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeviceDetail {
    /// Blank cards left in the input hopper, as last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hopper: Option<u32>,
    /// Prints left on the ribbon, as last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ribbon_left: Option<u32>,
    /// A card is in the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_present: Option<bool>,
    /// What it is doing (a chip job, a task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// Reconnection attempts since the link was lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconnect_attempts: Option<u32>,
}

/// One printer's lane on a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LaneDetail {
    /// The printer.
    pub printer: String,
    /// What the lane does: idle, working, held, waiting-printer,
    /// waiting-operator, encoder-fault, stopped.
    pub activity: String,
    /// The making-card task it works on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<i64>,
}

/// What a production line reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LineDetail {
    /// running, paused or stopped.
    pub line_state: String,
    /// The program it runs (full, no-contactless, ...).
    pub program: String,
    /// One lane per printer.
    pub lanes: Vec<LaneDetail>,
    /// Cards made since the hub started.
    pub cards_made: u64,
    /// Cards wasted since the hub started.
    pub cards_wasted: u64,
    /// Cards made in each of the last minutes, oldest first, the current
    /// minute last.
    pub per_minute: Vec<u32>,
    /// Wasted / (made + wasted) since the hub started; `None` before the
    /// first card.
    pub waste_rate: Option<f64>,
    /// When a step of a card was last persisted (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_progress_ms: Option<i64>,
}

/// What a branch terminal reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TerminalDetail {
    /// The branch's name.
    pub branch_name: String,
    /// Devices linked through it.
    pub devices: u32,
    /// When it connected (Unix milliseconds).
    pub connected_ms: i64,
}

/// What a link to an outside party reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChannelDetail {
    /// Who is on the other side: bank, sms, logistics, cardholder-db,
    /// government, outbox.
    pub peer: String,
    /// The link is up.
    pub connected: bool,
    /// Messages waiting to be sent.
    pub queue_depth: u64,
    /// Messages delivered since the hub started.
    pub sent: u64,
    /// Delivery failures since the hub started.
    pub failed: u64,
    /// sent / (sent + failed); `None` before the first attempt.
    pub success_rate: Option<f64>,
}

/// A set of named counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CounterDetail {
    /// Counter name → value.
    pub values: BTreeMap<String, i64>,
}

/// An alert's particulars.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AlertDetail {
    /// The persisted alert's id.
    pub alert_id: i64,
    /// The rule that raised it (`device-error`, `line-stalled`, ...).
    pub rule: String,
    /// What it is about (`printer:line-1/printer-1`).
    pub subject: String,
    /// warning or critical.
    pub severity: String,
    /// What happened and what to do, for the operator.
    pub message: String,
    /// When raised (Unix milliseconds).
    pub raised_ms: i64,
    /// When cleared, once it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_ms: Option<i64>,
}

/// The kind-specific part of an entity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Detail {
    /// Nothing beyond the state.
    None {},
    /// A device's counters.
    Device(DeviceDetail),
    /// A production line.
    Line(LineDetail),
    /// A branch terminal.
    Terminal(TerminalDetail),
    /// A channel.
    Channel(ChannelDetail),
    /// Counters.
    Counter(CounterDetail),
    /// An alert.
    Alert(AlertDetail),
}

/// What a publisher says of one entity: the state it is in now.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// Which entity.
    pub key: EntityKey,
    /// How it is.
    pub health: Health,
    /// Why, in the operator's words; `None` when there is nothing to say.
    pub reason: Option<String>,
    /// Where it belongs.
    pub scope: Scope,
    /// Its particulars.
    pub detail: Detail,
}

impl Update {
    /// An update with no reason, scope or detail.
    pub fn new(kind: EntityKind, id: impl Into<String>, health: Health) -> Self {
        Self {
            key: EntityKey::new(kind, id),
            health,
            reason: None,
            scope: Scope::default(),
            detail: Detail::None {},
        }
    }

    /// With a reason.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// With a reason when there is one.
    pub fn maybe_reason(mut self, reason: Option<impl Into<String>>) -> Self {
        self.reason = reason.map(Into::into);
        self
    }

    /// With a scope.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = scope;
        self
    }

    /// With a detail.
    pub fn detail(mut self, detail: Detail) -> Self {
        self.detail = detail;
        self
    }
}

/// One entity as the bus holds it and screens receive it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = MonitorEntity)]
pub struct Entity {
    /// The kind.
    pub kind: EntityKind,
    /// The id, unique within the kind.
    pub id: String,
    /// The sequence number of its latest change.
    pub seq: u64,
    /// How it is.
    pub state: Health,
    /// Why, in the operator's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it entered this state (Unix milliseconds).
    pub since_ms: i64,
    /// When this change was published (Unix milliseconds).
    pub at_ms: i64,
    /// Where it belongs.
    #[serde(default, skip_serializing_if = "Scope::is_empty")]
    pub scope: Scope,
    /// Its particulars, by kind.
    pub detail: Detail,
    /// The entity is gone: drop it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

impl Entity {
    /// Its key.
    pub fn key(&self) -> EntityKey {
        EntityKey::new(self.kind, self.id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entity_serialises_to_the_documented_shape() {
        let entity = Entity {
            kind: EntityKind::Printer,
            id: "line-1/printer-1".into(),
            seq: 42,
            state: Health::Error,
            reason: Some("card jam".into()),
            since_ms: 1_000,
            at_ms: 2_000,
            scope: Scope {
                workshop: Some("main".into()),
                line: Some("line-1".into()),
                branch: None,
            },
            detail: Detail::Device(DeviceDetail {
                hopper: Some(180),
                ribbon_left: Some(420),
                ..DeviceDetail::default()
            }),
            removed: false,
        };
        let json = serde_json::to_value(&entity).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "printer", "id": "line-1/printer-1", "seq": 42,
                "state": "error", "reason": "card jam",
                "since_ms": 1000, "at_ms": 2000,
                "scope": {"workshop": "main", "line": "line-1"},
                "detail": {"hopper": 180, "ribbon_left": 420}
            })
        );
        let removed = Entity {
            removed: true,
            detail: Detail::None {},
            scope: Scope::default(),
            reason: None,
            ..entity
        };
        let json = serde_json::to_value(&removed).unwrap();
        assert_eq!(json["removed"], true);
        assert_eq!(json["detail"], serde_json::json!({}));
        assert!(json.get("scope").is_none());
    }

    #[test]
    fn kinds_have_their_wire_names() {
        for kind in EntityKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
        }
    }
}
