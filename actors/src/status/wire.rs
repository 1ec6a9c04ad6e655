//! The messages of `/ws/monitor`, protocol version [`VERSION`]
//! (`docs/monitor-protocol.md`): what a screen sends ([`ClientMessage`]),
//! what the hub sends ([`ServerMessage`]) and the [`Filter`] a screen
//! subscribes with.
//!
//! The bus writes snapshot and delta frames itself, by joining entities it
//! serialised once ([`super::bus`]); a test there checks those frames parse
//! as the [`ServerMessage`] variants here, so the two cannot drift. The
//! OpenAPI document takes its schemas from these types.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::entity::{Entity, EntityKind, Scope};

/// The protocol version every message carries in `v`.
pub const VERSION: u32 = 1;

/// Which entities a screen wants. Absent fields match everything.
/// Centre-wide entities (those with no workshop and no branch in their
/// scope: channels, counters) match every workshop and branch filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MonitorFilter)]
pub struct Filter {
    /// Only these kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kinds: Option<Vec<EntityKind>>,
    /// Only this workshop's entities (and centre-wide ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workshop: Option<String>,
    /// Only this branch's entities (and centre-wide ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
}

impl Filter {
    /// Whether an entity of this kind and scope passes.
    pub fn matches(&self, kind: EntityKind, scope: &Scope) -> bool {
        if let Some(kinds) = &self.kinds
            && !kinds.contains(&kind)
        {
            return false;
        }
        let centre_wide = scope.workshop.is_none() && scope.branch.is_none();
        let within = |wanted: &Option<String>, have: &Option<String>| match wanted {
            None => true,
            Some(w) => centre_wide || have.as_ref() == Some(w),
        };
        within(&self.workshop, &scope.workshop) && within(&self.branch, &scope.branch)
    }
}

/// Why a snapshot was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotReason {
    /// The first one on a connection.
    Initial,
    /// The screen fell behind and was cut off from the deltas.
    Resync,
    /// The changes since the screen's `since` are no longer retained.
    ResumeTooOld,
    /// The screen's `epoch` is an earlier run of the hub.
    NewEpoch,
    /// The screen changed its filter.
    Filter,
}

impl SnapshotReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::Resync => "resync",
            Self::ResumeTooOld => "resume-too-old",
            Self::NewEpoch => "new-epoch",
            Self::Filter => "filter",
        }
    }
}

/// What a screen sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[schema(as = MonitorClientMessage)]
pub enum ClientMessage {
    /// The first message: credentials (unless sent on the upgrade request),
    /// the filter, and where to resume from.
    Hello {
        /// Protocol version, [`VERSION`].
        v: u32,
        /// An API token (`chb_...`) or an operator session (`chs_...`).
        #[serde(default)]
        token: Option<String>,
        /// Which entities.
        #[serde(default)]
        filter: Option<Filter>,
        /// The epoch of the last message applied, to resume.
        #[serde(default)]
        epoch: Option<String>,
        /// The sequence number of the last change applied, to resume.
        #[serde(default)]
        since: Option<u64>,
    },
    /// A new filter; answered with a snapshot.
    Subscribe {
        /// Protocol version.
        v: u32,
        /// Which entities.
        #[serde(default)]
        filter: Option<Filter>,
    },
    /// Asks for a `pong`.
    Ping {
        /// Protocol version.
        v: u32,
        /// Echoed back.
        #[serde(default)]
        nonce: Option<String>,
    },
    /// Answers a `heartbeat`.
    Pong {
        /// Protocol version.
        v: u32,
        /// Free text.
        #[serde(default)]
        nonce: Option<String>,
    },
}

impl ClientMessage {
    /// The `v` it carries.
    pub fn version(&self) -> u32 {
        match self {
            Self::Hello { v, .. }
            | Self::Subscribe { v, .. }
            | Self::Ping { v, .. }
            | Self::Pong { v, .. } => *v,
        }
    }
}

/// What the hub sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schema(as = MonitorServerMessage)]
pub enum ServerMessage {
    /// After a valid `hello`.
    Welcome {
        /// Protocol version.
        v: u32,
        /// This run of the hub.
        epoch: String,
        /// The coalescing tick.
        tick_ms: u64,
        /// How often the hub sends `heartbeat`.
        heartbeat_secs: u64,
        /// Silence from the screen longer than this closes it.
        timeout_secs: u64,
        /// Who the screen authenticated as.
        caller: String,
        /// Its role.
        role: String,
    },
    /// Every entity the filter passes, as of `seq`.
    Snapshot {
        /// Protocol version.
        v: u32,
        /// This run of the hub.
        epoch: String,
        /// The last change included.
        seq: u64,
        /// Why it was sent.
        reason: SnapshotReason,
        /// The entities.
        entities: Vec<Entity>,
    },
    /// Changes since the previous message, in `seq` order.
    Deltas {
        /// Protocol version.
        v: u32,
        /// This run of the hub.
        epoch: String,
        /// The last change included.
        seq: u64,
        /// A replay after a reconnect.
        resumed: bool,
        /// The changed entities.
        changes: Vec<Entity>,
    },
    /// The hub is alive; answer with anything.
    Heartbeat {
        /// Protocol version.
        v: u32,
        /// The hub's clock (Unix milliseconds).
        at_ms: i64,
    },
    /// Answers a `ping`.
    Pong {
        /// Protocol version.
        v: u32,
        /// The ping's nonce.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
    },
    /// Something the screen sent was refused, or the hub closes the screen.
    Error {
        /// Protocol version.
        v: u32,
        /// Machine-readable: bad-json, bad-message, unsupported-version,
        /// hello-first, unauthenticated, too-large, hello-twice, too-slow,
        /// heartbeat-timeout.
        code: String,
        /// What was wrong and what to do.
        message: String,
        /// The hub closes the connection after this message.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        fatal: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(workshop: Option<&str>, branch: Option<&str>) -> Scope {
        Scope {
            workshop: workshop.map(str::to_owned),
            line: None,
            branch: branch.map(str::to_owned),
        }
    }

    #[test]
    fn filters_pass_their_kinds_and_scopes_and_centre_wide_entities() {
        let all = Filter::default();
        assert!(all.matches(EntityKind::Printer, &scope(Some("main"), None)));

        let printers = Filter {
            kinds: Some(vec![EntityKind::Printer]),
            ..Filter::default()
        };
        assert!(printers.matches(EntityKind::Printer, &Scope::default()));
        assert!(!printers.matches(EntityKind::Line, &Scope::default()));

        let branch = Filter {
            branch: Some("310101001".into()),
            ..Filter::default()
        };
        assert!(branch.matches(EntityKind::Terminal, &scope(None, Some("310101001"))));
        assert!(!branch.matches(EntityKind::Terminal, &scope(None, Some("310101002"))));
        assert!(!branch.matches(EntityKind::Printer, &scope(Some("main"), None)));
        assert!(branch.matches(EntityKind::Channel, &Scope::default()));

        let workshop = Filter {
            workshop: Some("main".into()),
            ..Filter::default()
        };
        assert!(workshop.matches(EntityKind::Line, &scope(Some("main"), None)));
        assert!(!workshop.matches(EntityKind::Line, &scope(Some("east"), None)));
    }

    #[test]
    fn client_messages_parse_and_unknown_fields_are_refused() {
        let hello: ClientMessage = serde_json::from_str(
            r#"{"v":1,"type":"hello","token":"chb_x","since":7,"epoch":"e","filter":{"kinds":["printer","id_reader"]}}"#,
        )
        .unwrap();
        assert_eq!(
            hello,
            ClientMessage::Hello {
                v: 1,
                token: Some("chb_x".into()),
                filter: Some(Filter {
                    kinds: Some(vec![EntityKind::Printer, EntityKind::IdReader]),
                    ..Filter::default()
                }),
                epoch: Some("e".into()),
                since: Some(7),
            }
        );
        assert!(
            serde_json::from_str::<ClientMessage>(r#"{"v":1,"type":"hello","tokn":"x"}"#).is_err()
        );
        assert!(
            serde_json::from_str::<ClientMessage>(
                r#"{"v":1,"type":"subscribe","filter":{"kind":["printer"]}}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"v":1,"type":"launch"}"#).is_err());
    }
}
