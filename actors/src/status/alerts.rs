//! Alert rules: which entity states raise an alert and when it clears.
//!
//! [`AlertEngine::evaluate`] is pure: it looks at the bus's entities at a
//! given time and says which alerts to raise and which to clear. The
//! [`super::StatusBusActor`] calls it every second and hands the
//! [`Transition`]s to the alert writer, which persists each one before it
//! publishes it as an `alert` entity.
//!
//! The rules (`[monitor.alerts]` in config):
//! - `device-error`: a printer, reader, camera or ID reader in `error` or
//!   `offline` for `device_error_secs`;
//! - `line-stalled`: a running line with work in a lane and no step
//!   persisted for `line_stalled_secs`;
//! - `channel-down`: a channel not connected for `channel_down_secs`;
//! - `queue-depth`: a channel with more than `queue_depth_max` messages
//!   waiting;
//! - `waste-rate`: a line whose waste rate is over `waste_rate_max` once it
//!   has used `waste_min_cards` cards.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::entity::{Detail, Entity, EntityKey, EntityKind, Health, Scope};

/// The thresholds of the alert rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertRules {
    /// A device in error or offline this long raises `device-error`.
    pub device_error_secs: u64,
    /// A running line with work and no progress this long raises
    /// `line-stalled`.
    pub line_stalled_secs: u64,
    /// A channel disconnected this long raises `channel-down`.
    pub channel_down_secs: u64,
    /// More messages than this waiting in a channel raises `queue-depth`.
    pub queue_depth_max: u64,
    /// A line wasting more than this share of its cards raises `waste-rate`.
    pub waste_rate_max: f64,
    /// ... once it has used at least this many cards.
    pub waste_min_cards: u64,
    /// A cleared alert stays on the wall this long, then is removed.
    pub cleared_keep_secs: u64,
}

impl Default for AlertRules {
    fn default() -> Self {
        Self {
            device_error_secs: 30,
            line_stalled_secs: 120,
            channel_down_secs: 60,
            queue_depth_max: 1_000,
            waste_rate_max: 0.05,
            waste_min_cards: 20,
            cleared_keep_secs: 600,
        }
    }
}

/// How bad an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// Look at it soon.
    Warning,
    /// Production or a channel is stopped.
    Critical,
}

impl Severity {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    /// The alert entity's state.
    pub fn health(self) -> Health {
        match self {
            Self::Warning => Health::Warning,
            Self::Critical => Health::Error,
        }
    }
}

/// An alert to raise or clear.
#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    /// The condition holds: raise (once).
    Raise {
        /// The rule.
        rule: &'static str,
        /// What it is about.
        subject: EntityKey,
        /// The subject's scope (so filtered screens see its alerts).
        scope: Scope,
        /// How bad.
        severity: Severity,
        /// What happened and what to do.
        message: String,
    },
    /// The condition no longer holds.
    Clear {
        /// The rule.
        rule: &'static str,
        /// What it was about.
        subject: EntityKey,
        /// Why it cleared.
        reason: String,
    },
}

/// The alert entity's id: `rule/kind:id`.
pub fn alert_id(rule: &str, subject: &EntityKey) -> String {
    format!("{rule}/{subject}")
}

/// Which alerts are raised now; what [`AlertEngine::evaluate`] compares
/// the entities against.
#[derive(Debug, Default)]
pub struct AlertEngine {
    rules: AlertRules,
    raised: HashSet<(&'static str, EntityKey)>,
}

const RULES: [&str; 5] = [
    "device-error",
    "line-stalled",
    "channel-down",
    "queue-depth",
    "waste-rate",
];

impl AlertEngine {
    /// An engine with nothing raised.
    pub fn new(rules: AlertRules) -> Self {
        Self {
            rules,
            raised: HashSet::new(),
        }
    }

    /// The thresholds.
    pub fn rules(&self) -> &AlertRules {
        &self.rules
    }

    /// Takes over the alerts the bus shows as raised (after the actor
    /// restarted), so they are cleared rather than raised again.
    pub fn adopt(&mut self, entities: &[Entity]) {
        for e in entities {
            if let (EntityKind::Alert, Detail::Alert(a)) = (e.kind, &e.detail)
                && a.cleared_ms.is_none()
                && let Some(rule) = RULES.iter().find(|r| **r == a.rule)
                && let Some((kind, id)) = a.subject.split_once(':')
                && let Some(kind) = EntityKind::ALL.iter().find(|k| k.as_str() == kind)
            {
                self.raised.insert((rule, EntityKey::new(*kind, id)));
            }
        }
    }

    /// Takes back a transition [`AlertEngine::evaluate`] gave but that could
    /// not be carried out, so the next evaluation gives it again.
    pub fn undo(&mut self, transition: &Transition) {
        match transition {
            Transition::Raise { rule, subject, .. } => {
                self.raised.remove(&(*rule, subject.clone()));
            }
            Transition::Clear { rule, subject, .. } => {
                self.raised.insert((*rule, subject.clone()));
            }
        }
    }

    /// What to raise and clear, given every entity at `now_ms`.
    pub fn evaluate<'e>(
        &mut self,
        entities: impl IntoIterator<Item = &'e Entity>,
        now_ms: i64,
    ) -> Vec<Transition> {
        let mut holding: HashMap<(&'static str, EntityKey), (Scope, Severity, String)> =
            HashMap::new();
        // References only: the wall's entities are not copied.
        let entities: Vec<&Entity> = entities.into_iter().collect();
        for e in &entities {
            for (rule, severity, message) in self.conditions(e, now_ms) {
                holding.insert((rule, e.key()), (e.scope.clone(), severity, message));
            }
        }
        let mut out = Vec::new();
        let mut cleared: Vec<_> = self
            .raised
            .iter()
            .filter(|k| !holding.contains_key(*k))
            .cloned()
            .collect();
        cleared.sort();
        for (rule, subject) in cleared {
            self.raised.remove(&(rule, subject.clone()));
            let gone = !entities.iter().any(|e| e.key() == subject);
            out.push(Transition::Clear {
                rule,
                reason: if gone {
                    format!("{subject} is no longer monitored")
                } else {
                    format!("{subject} recovered")
                },
                subject,
            });
        }
        let mut raised: Vec<_> = holding
            .into_iter()
            .filter(|(k, _)| !self.raised.contains(k))
            .collect();
        raised.sort_by(|a, b| a.0.cmp(&b.0));
        for ((rule, subject), (scope, severity, message)) in raised {
            self.raised.insert((rule, subject.clone()));
            out.push(Transition::Raise {
                rule,
                subject,
                scope,
                severity,
                message,
            });
        }
        out
    }

    /// The rules an entity breaks at `now_ms`.
    fn conditions(&self, e: &Entity, now_ms: i64) -> Vec<(&'static str, Severity, String)> {
        let r = &self.rules;
        let held_secs = (now_ms - e.since_ms).max(0) / 1000;
        let reason = e.reason.as_deref().unwrap_or("no reason given");
        let mut out = Vec::new();
        if e.kind.is_device()
            && matches!(e.state, Health::Error | Health::Offline)
            && held_secs >= r.device_error_secs as i64
        {
            let what = if e.state == Health::Offline {
                "offline"
            } else {
                "in error"
            };
            out.push((
                "device-error",
                Severity::Critical,
                format!(
                    "{} {} {what} for {held_secs} s: {reason}; see to the device, or take it out of service",
                    e.kind, e.id
                ),
            ));
        }
        match &e.detail {
            Detail::Line(line) => {
                let working = line
                    .lanes
                    .iter()
                    .any(|l| !matches!(l.activity.as_str(), "idle" | "stopped"));
                let last = line.last_progress_ms.unwrap_or(e.since_ms);
                let quiet_secs = (now_ms - last).max(0) / 1000;
                if line.line_state == "running"
                    && working
                    && quiet_secs >= r.line_stalled_secs as i64
                {
                    out.push((
                        "line-stalled",
                        Severity::Warning,
                        format!(
                            "line {} has work but made no progress for {quiet_secs} s; check its printers and encoders",
                            e.id
                        ),
                    ));
                }
                let used = line.cards_made + line.cards_wasted;
                if let Some(rate) = line.waste_rate
                    && used >= r.waste_min_cards
                    && rate > r.waste_rate_max
                {
                    out.push((
                        "waste-rate",
                        Severity::Warning,
                        format!(
                            "line {} wasted {} of {used} cards ({:.1}%, over {:.1}%); look at the waste list for a common step or printer",
                            e.id,
                            line.cards_wasted,
                            rate * 100.0,
                            r.waste_rate_max * 100.0
                        ),
                    ));
                }
            }
            Detail::Channel(channel) => {
                if !channel.connected && held_secs >= r.channel_down_secs as i64 {
                    out.push((
                        "channel-down",
                        Severity::Critical,
                        format!(
                            "channel {} ({}) down for {held_secs} s: {reason}",
                            e.id, channel.peer
                        ),
                    ));
                }
                if channel.queue_depth > r.queue_depth_max {
                    out.push((
                        "queue-depth",
                        Severity::Warning,
                        format!(
                            "channel {} has {} messages waiting (over {}); delivery is falling behind",
                            e.id, channel.queue_depth, r.queue_depth_max
                        ),
                    ));
                }
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::entity::{ChannelDetail, LaneDetail, LineDetail};

    fn entity(kind: EntityKind, id: &str, state: Health, since_ms: i64, detail: Detail) -> Entity {
        Entity {
            kind,
            id: id.into(),
            seq: 1,
            state,
            reason: Some("card jam".into()),
            since_ms,
            at_ms: since_ms,
            scope: Scope::default(),
            detail,
            removed: false,
        }
    }

    fn line(state: &str, activity: &str, made: u64, wasted: u64, last: i64) -> Detail {
        Detail::Line(LineDetail {
            line_state: state.into(),
            program: "full".into(),
            lanes: vec![LaneDetail {
                printer: "p1".into(),
                activity: activity.into(),
                task: None,
            }],
            cards_made: made,
            cards_wasted: wasted,
            per_minute: vec![],
            waste_rate: (made + wasted > 0).then(|| wasted as f64 / (made + wasted) as f64),
            last_progress_ms: Some(last),
        })
    }

    fn channel(connected: bool, queue_depth: u64) -> Detail {
        Detail::Channel(ChannelDetail {
            peer: "sms".into(),
            connected,
            queue_depth,
            sent: 0,
            failed: 0,
            success_rate: None,
        })
    }

    fn rules(t: &[Transition]) -> Vec<(&'static str, bool)> {
        t.iter()
            .map(|t| match t {
                Transition::Raise { rule, .. } => (*rule, true),
                Transition::Clear { rule, .. } => (*rule, false),
            })
            .collect()
    }

    #[test]
    fn a_device_in_error_raises_after_the_threshold_once_and_clears_on_recovery() {
        let mut engine = AlertEngine::new(AlertRules::default());
        let jam = entity(EntityKind::Printer, "p1", Health::Error, 0, Detail::None {});
        assert!(
            engine
                .evaluate(std::slice::from_ref(&jam), 29_999)
                .is_empty()
        );
        let raised = engine.evaluate(std::slice::from_ref(&jam), 30_000);
        assert_eq!(rules(&raised), vec![("device-error", true)]);
        let Transition::Raise { message, .. } = &raised[0] else {
            unreachable!()
        };
        assert!(message.contains("card jam"), "{message}");
        assert!(
            engine
                .evaluate(std::slice::from_ref(&jam), 60_000)
                .is_empty()
        );
        let ok = Entity {
            state: Health::Ok,
            ..jam
        };
        assert_eq!(
            rules(&engine.evaluate(&[ok], 61_000)),
            vec![("device-error", false)]
        );
    }

    #[test]
    fn a_running_line_with_work_and_no_progress_is_stalled_but_an_idle_one_is_not() {
        let mut engine = AlertEngine::new(AlertRules::default());
        let busy = entity(
            EntityKind::Line,
            "l1",
            Health::Busy,
            0,
            line("running", "working", 5, 0, 0),
        );
        let idle = entity(
            EntityKind::Line,
            "l2",
            Health::Idle,
            0,
            line("running", "idle", 5, 0, 0),
        );
        let paused = entity(
            EntityKind::Line,
            "l3",
            Health::Idle,
            0,
            line("paused", "held", 5, 0, 0),
        );
        let got = engine.evaluate(&[busy.clone(), idle, paused], 120_000);
        assert_eq!(rules(&got), vec![("line-stalled", true)]);
        let moving = Entity {
            detail: line("running", "working", 6, 0, 119_000),
            ..busy
        };
        assert_eq!(
            rules(&engine.evaluate(&[moving], 121_000)),
            vec![("line-stalled", false)]
        );
    }

    #[test]
    fn waste_rate_needs_enough_cards_and_a_rate_over_the_limit() {
        let mut engine = AlertEngine::new(AlertRules::default());
        let few = entity(
            EntityKind::Line,
            "l1",
            Health::Busy,
            0,
            line("running", "idle", 5, 5, 0),
        );
        assert!(engine.evaluate(&[few], 1_000).is_empty());
        let many = entity(
            EntityKind::Line,
            "l1",
            Health::Busy,
            0,
            line("running", "idle", 90, 10, 0),
        );
        assert_eq!(
            rules(&engine.evaluate(&[many], 1_000)),
            vec![("waste-rate", true)]
        );
        let fine = entity(
            EntityKind::Line,
            "l1",
            Health::Busy,
            0,
            line("running", "idle", 990, 10, 0),
        );
        assert_eq!(
            rules(&engine.evaluate(&[fine], 2_000)),
            vec![("waste-rate", false)]
        );
    }

    #[test]
    fn channels_raise_when_down_long_enough_and_when_their_queue_is_deep() {
        let mut engine = AlertEngine::new(AlertRules::default());
        let down = entity(
            EntityKind::Channel,
            "cmpp",
            Health::Offline,
            0,
            channel(false, 1_001),
        );
        assert_eq!(
            rules(&engine.evaluate(std::slice::from_ref(&down), 10_000)),
            vec![("queue-depth", true)]
        );
        assert_eq!(
            rules(&engine.evaluate(std::slice::from_ref(&down), 60_000)),
            vec![("channel-down", true)]
        );
        let up = Entity {
            state: Health::Ok,
            detail: channel(true, 3),
            ..down
        };
        let mut cleared = rules(&engine.evaluate(&[up], 61_000));
        cleared.sort();
        assert_eq!(
            cleared,
            vec![("channel-down", false), ("queue-depth", false)]
        );
    }

    #[test]
    fn an_entity_that_disappears_clears_its_alerts_and_adopted_alerts_are_not_raised_twice() {
        let mut engine = AlertEngine::new(AlertRules::default());
        let jam = entity(EntityKind::Printer, "p1", Health::Error, 0, Detail::None {});
        engine.evaluate(std::slice::from_ref(&jam), 40_000);
        let got = engine.evaluate(&[], 41_000);
        assert!(
            matches!(&got[0], Transition::Clear { reason, .. } if reason.contains("no longer monitored"))
        );

        let mut restarted = AlertEngine::new(AlertRules::default());
        let alert = Entity {
            kind: EntityKind::Alert,
            id: alert_id("device-error", &jam.key()),
            detail: Detail::Alert(crate::status::entity::AlertDetail {
                alert_id: 1,
                rule: "device-error".into(),
                subject: jam.key().to_string(),
                severity: "critical".into(),
                message: "m".into(),
                raised_ms: 30_000,
                cleared_ms: None,
            }),
            ..jam.clone()
        };
        restarted.adopt(&[alert]);
        assert!(
            restarted
                .evaluate(std::slice::from_ref(&jam), 50_000)
                .is_empty()
        );
    }

    #[test]
    fn an_undone_transition_is_given_again_at_the_next_evaluation() {
        let mut engine = AlertEngine::new(AlertRules::default());
        let jam = entity(EntityKind::Printer, "p1", Health::Error, 0, Detail::None {});
        let raised = engine.evaluate(std::slice::from_ref(&jam), 30_000);
        engine.undo(&raised[0]);
        assert_eq!(
            rules(&engine.evaluate(std::slice::from_ref(&jam), 31_000)),
            rules(&raised)
        );
        let ok = Entity {
            state: Health::Ok,
            ..jam
        };
        let cleared = engine.evaluate(std::slice::from_ref(&ok), 32_000);
        engine.undo(&cleared[0]);
        assert_eq!(rules(&engine.evaluate(&[ok], 33_000)), rules(&cleared));
    }
}
