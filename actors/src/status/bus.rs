//! The status bus's state: the current entity of every key, the pending
//! changes of this tick, the changes retained for resuming screens, and the
//! screens subscribed.
//!
//! ```text
//! publishers ── publish(Update) ──► pending (latest per key)
//!                                        │ every tick
//!                                        ▼
//!             entities + seq ◄── apply ── tick ── frames ──► each screen's
//!             retained changes                               bounded queue
//! ```
//!
//! - Publishing only records the latest update per key (a lock and a map
//!   insert): a flood of changes to one entity costs one change per tick.
//! - A tick gives each effective change the next sequence number, serialises
//!   it once, and sends each screen one frame of the changes its filter
//!   passes. Screens with the same filter share the frame's bytes.
//! - A screen's queue is bounded in frames and bytes. A screen whose queue
//!   is full is cut off ([`Next::Lagged`]) and resubscribes for a fresh
//!   snapshot; nothing waits on it and nothing grows for it.
//! - [`StatusBus::subscribe`] takes the snapshot (or the retained changes to
//!   resume from) and registers the screen under the same lock a tick applies
//!   changes under: the first frame holds every change up to `seq`, the queue
//!   every change after it.
//!
//! The ticking is done by the [`super::StatusBusActor`]; the state lives
//! here, outside the actor, so it survives the actor's restarts.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use bytestring::ByteString;
use tokio::sync::Notify;

use super::entity::{Detail, Entity, EntityKey, EntityKind, Scope, Update};
use super::wire::{Filter, SnapshotReason, VERSION};

/// How the bus coalesces, retains and queues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusConfig {
    /// Changes are coalesced per entity and sent once per tick.
    pub tick: Duration,
    /// Changes kept for screens that resume after a reconnect.
    pub retain: usize,
    /// Frames a screen's queue holds before the screen is cut off.
    pub queue_frames: usize,
    /// Bytes a screen's queue holds before the screen is cut off.
    pub queue_bytes: usize,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(100),
            retain: 20_000,
            // 64 ticks: six seconds of falling behind at 100 ms.
            queue_frames: 64,
            queue_bytes: 8 * 1024 * 1024,
        }
    }
}

/// The status bus: clone it into every publisher and every screen.
#[derive(Clone)]
pub struct StatusBus {
    core: Arc<Core>,
}

impl std::fmt::Debug for StatusBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusBus")
            .field("epoch", &self.core.epoch)
            .finish_non_exhaustive()
    }
}

struct Core {
    config: BusConfig,
    epoch: String,
    pending: Mutex<HashMap<EntityKey, Pending>>,
    state: Mutex<State>,
}

enum Pending {
    Set { update: Box<Update>, at_ms: i64 },
    Remove { at_ms: i64 },
}

struct Stored {
    entity: Entity,
    json: Arc<str>,
}

struct Retained {
    seq: u64,
    kind: EntityKind,
    scope: Scope,
    json: Arc<str>,
}

#[derive(Default)]
struct State {
    seq: u64,
    entities: BTreeMap<EntityKey, Stored>,
    retained: VecDeque<Retained>,
    /// Every change after this one is in `retained`.
    floor: u64,
    screens: HashMap<u64, Screen>,
    next_screen: u64,
}

struct Screen {
    filter: Filter,
    shared: Arc<ScreenShared>,
}

impl Drop for Screen {
    /// Unsubscribed, cut off or the bus gone: the screen's task is told.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_one();
    }
}

/// A screen's queue, between the bus (which fills it at each tick) and the
/// screen's task (which empties it). The bus can empty it too: a screen cut
/// off holds no stale frames while its socket is blocked.
#[derive(Default)]
struct ScreenShared {
    queue: Mutex<ScreenQueue>,
    /// Wakes the task: a frame was queued, or the screen was cut off.
    ready: Notify,
}

#[derive(Default)]
struct ScreenQueue {
    frames: VecDeque<ByteString>,
    bytes: usize,
    lagged: bool,
    closed: bool,
}

impl ScreenShared {
    fn lock(&self) -> MutexGuard<'_, ScreenQueue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What one tick did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Changes given a sequence number.
    pub changes: usize,
    /// Frames queued to screens.
    pub frames: usize,
    /// Screens cut off because their queue was full.
    pub lagged: usize,
}

/// Where a screen resumes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resume {
    /// The epoch of the last message it applied.
    pub epoch: String,
    /// The last change it applied.
    pub seq: u64,
}

/// What [`Subscription::next`] gives.
#[derive(Debug)]
pub enum Next {
    /// A frame to send as one WebSocket text message.
    Frame(ByteString),
    /// The screen fell behind and was cut off: resubscribe for a snapshot.
    Lagged,
    /// The bus is gone.
    Closed,
}

/// One screen's subscription: the first frame (a snapshot, or the changes
/// to resume with), then [`Subscription::next`] for every later frame.
/// Dropping it unsubscribes.
pub struct Subscription {
    /// Sent before anything from [`Subscription::next`].
    pub first: ByteString,
    /// The sequence number the first frame is complete up to.
    pub seq: u64,
    shared: Arc<ScreenShared>,
    id: u64,
    core: Weak<Core>,
}

impl Subscription {
    /// The next frame for this screen (cancel-safe: a frame is taken only
    /// when it is returned).
    pub async fn next(&mut self) -> Next {
        loop {
            {
                let mut queue = self.shared.lock();
                if queue.lagged {
                    return Next::Lagged;
                }
                if let Some(frame) = queue.frames.pop_front() {
                    queue.bytes -= frame.len();
                    return Next::Frame(frame);
                }
                if queue.closed {
                    return Next::Closed;
                }
            }
            // A notification sent between the look and here is kept.
            self.shared.ready.notified().await;
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(core) = self.core.upgrade() {
            let mut state = core.lock_state();
            state.screens.remove(&self.id);
            metrics::gauge!("cardhub_monitor_screens").set(state.screens.len() as f64);
        }
    }
}

impl StatusBus {
    /// An empty bus with a fresh epoch.
    pub fn new(config: BusConfig) -> Self {
        let mut epoch = [0u8; 8];
        rand::fill(&mut epoch);
        Self {
            core: Arc::new(Core {
                config,
                epoch: hex::encode(epoch),
                pending: Mutex::new(HashMap::new()),
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// This run's epoch.
    pub fn epoch(&self) -> &str {
        &self.core.epoch
    }

    /// The settings.
    pub fn config(&self) -> &BusConfig {
        &self.core.config
    }

    /// Records the entity's current state; screens get it at the next tick
    /// (only the latest of several updates in one tick).
    pub fn publish(&self, update: Update) {
        let at_ms = now_ms();
        self.core.lock_pending().insert(
            update.key.clone(),
            Pending::Set {
                update: Box::new(update),
                at_ms,
            },
        );
    }

    /// The entity is gone (a reader unplugged, a terminal disconnected).
    pub fn remove(&self, key: EntityKey) {
        let at_ms = now_ms();
        self.core
            .lock_pending()
            .insert(key, Pending::Remove { at_ms });
    }

    /// Calls `f` with every current entity, in place (the bus's state is
    /// locked meanwhile: keep `f` short).
    pub fn with_entities<T>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &Entity>) -> T) -> T {
        let state = self.core.lock_state();
        f(&mut state.entities.values().map(|s| &s.entity))
    }

    /// The current entities the filter passes, the sequence number they are
    /// complete up to, and the epoch.
    pub fn snapshot(&self, filter: &Filter) -> (String, u64, Vec<Entity>) {
        let state = self.core.lock_state();
        let entities = state
            .entities
            .values()
            .filter(|s| filter.matches(s.entity.kind, &s.entity.scope))
            .map(|s| s.entity.clone())
            .collect();
        (self.core.epoch.clone(), state.seq, entities)
    }

    /// The current entity of one key.
    pub fn get(&self, key: &EntityKey) -> Option<Entity> {
        self.core
            .lock_state()
            .entities
            .get(key)
            .map(|s| s.entity.clone())
    }

    /// Subscribes a screen. With `resume` from this epoch and still
    /// retained, the first frame is the changes after it; otherwise a
    /// snapshot (`reason`, or why the resume was refused).
    pub fn subscribe(
        &self,
        filter: Filter,
        resume: Option<Resume>,
        reason: SnapshotReason,
    ) -> Subscription {
        let core = &self.core;
        let mut state = core.lock_state();
        let first = match resume {
            Some(r) if r.epoch == core.epoch && r.seq >= state.floor && r.seq <= state.seq => {
                let start = state.retained.partition_point(|c| c.seq <= r.seq);
                let changes = state
                    .retained
                    .range(start..)
                    .filter(|c| filter.matches(c.kind, &c.scope))
                    .map(|c| &*c.json);
                deltas_frame(&core.epoch, state.seq, true, changes)
            }
            Some(r) => {
                let why = if r.epoch == core.epoch {
                    SnapshotReason::ResumeTooOld
                } else {
                    SnapshotReason::NewEpoch
                };
                snapshot_frame(&core.epoch, &state, &filter, why)
            }
            None => snapshot_frame(&core.epoch, &state, &filter, reason),
        };
        let shared = Arc::new(ScreenShared::default());
        let id = state.next_screen;
        state.next_screen += 1;
        state.screens.insert(
            id,
            Screen {
                filter,
                shared: Arc::clone(&shared),
            },
        );
        metrics::gauge!("cardhub_monitor_screens").set(state.screens.len() as f64);
        Subscription {
            first,
            seq: state.seq,
            shared,
            id,
            core: Arc::downgrade(core),
        }
    }

    /// Screens subscribed now.
    pub fn screens(&self) -> usize {
        self.core.lock_state().screens.len()
    }

    /// Applies this tick's changes and sends each screen its frame.
    pub fn tick(&self) -> TickReport {
        let pending = std::mem::take(&mut *self.core.lock_pending());
        if pending.is_empty() {
            return TickReport::default();
        }
        let mut pending: Vec<_> = pending.into_iter().collect();
        pending.sort_unstable_by(|a, b| a.0.cmp(&b.0));

        let core = &self.core;
        let mut state = core.lock_state();
        let mut changes: Vec<(EntityKind, Scope, Arc<str>)> = Vec::with_capacity(pending.len());
        for (key, change) in pending {
            let Some(entity) = state.apply(key, change) else {
                continue;
            };
            let json: Arc<str> = serde_json::to_string(&entity)
                .expect("an entity always serialises")
                .into();
            let (kind, scope, seq) = (entity.kind, entity.scope.clone(), entity.seq);
            if entity.removed {
                state.entities.remove(&entity.key());
            } else {
                state.entities.insert(
                    entity.key(),
                    Stored {
                        entity,
                        json: Arc::clone(&json),
                    },
                );
            }
            state.retained.push_back(Retained {
                seq,
                kind,
                scope: scope.clone(),
                json: Arc::clone(&json),
            });
            changes.push((kind, scope, json));
        }
        while state.retained.len() > core.config.retain {
            if let Some(oldest) = state.retained.pop_front() {
                state.floor = oldest.seq;
            }
        }
        let mut report = TickReport {
            changes: changes.len(),
            ..TickReport::default()
        };
        if changes.is_empty() {
            return report;
        }
        metrics::counter!("cardhub_monitor_changes_total").increment(changes.len() as u64);

        // One frame per distinct filter; screens sharing a filter share it.
        let seq = state.seq;
        let mut frames: HashMap<Filter, Option<ByteString>> = HashMap::new();
        let mut gone = Vec::new();
        for (&id, screen) in &state.screens {
            let frame = frames.entry(screen.filter.clone()).or_insert_with(|| {
                let mut passing = changes
                    .iter()
                    .filter(|(kind, scope, _)| screen.filter.matches(*kind, scope))
                    .map(|(_, _, json)| &**json)
                    .peekable();
                passing.peek()?;
                Some(deltas_frame(&core.epoch, seq, false, passing))
            });
            let Some(frame) = frame else { continue };
            let mut queue = screen.shared.lock();
            // A frame bigger than the whole budget still goes to a screen
            // that has caught up: otherwise it could never get one.
            let full = queue.frames.len() >= core.config.queue_frames
                || (queue.bytes > 0 && queue.bytes + frame.len() > core.config.queue_bytes);
            if full {
                // Cut off: its stale frames are dropped now, not when its
                // socket moves again.
                queue.frames.clear();
                queue.bytes = 0;
                queue.lagged = true;
                report.lagged += 1;
                gone.push(id);
            } else {
                queue.bytes += frame.len();
                queue.frames.push_back(frame.clone());
                report.frames += 1;
            }
            drop(queue);
            screen.shared.ready.notify_one();
        }
        for id in gone {
            state.screens.remove(&id);
        }
        if report.lagged > 0 {
            metrics::counter!("cardhub_monitor_screens_lagged_total")
                .increment(report.lagged as u64);
            metrics::gauge!("cardhub_monitor_screens").set(state.screens.len() as f64);
        }
        report
    }
}

impl Core {
    fn lock_pending(&self) -> MutexGuard<'_, HashMap<EntityKey, Pending>> {
        // A publisher that panicked mid-insert leaves a valid map.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// The entity a change makes, with the next sequence number; `None` for
    /// a change that changes nothing (the same state again, or removing an
    /// entity the bus does not hold).
    fn apply(&mut self, key: EntityKey, change: Pending) -> Option<Entity> {
        let current = self.entities.get(&key).map(|s| &s.entity);
        let entity = match change {
            Pending::Set { update, at_ms } => {
                if let Some(c) = current
                    && c.state == update.health
                    && c.reason == update.reason
                    && c.scope == update.scope
                    && c.detail == update.detail
                {
                    return None;
                }
                let since_ms = match current {
                    Some(c) if c.state == update.health => c.since_ms,
                    _ => at_ms,
                };
                Entity {
                    kind: key.kind,
                    id: key.id,
                    seq: 0,
                    state: update.health,
                    reason: update.reason,
                    since_ms,
                    at_ms,
                    scope: update.scope,
                    detail: update.detail,
                    removed: false,
                }
            }
            Pending::Remove { at_ms } => {
                let c = current?;
                Entity {
                    kind: key.kind,
                    id: key.id,
                    seq: 0,
                    state: c.state,
                    reason: None,
                    since_ms: at_ms,
                    at_ms,
                    scope: c.scope.clone(),
                    detail: Detail::None {},
                    removed: true,
                }
            }
        };
        self.seq += 1;
        Some(Entity {
            seq: self.seq,
            ..entity
        })
    }
}

/// `{"v":1,"type":"deltas",...,"changes":[...]}` from serialised entities.
fn deltas_frame<'a>(
    epoch: &str,
    seq: u64,
    resumed: bool,
    changes: impl Iterator<Item = &'a str>,
) -> ByteString {
    let mut frame = format!(
        r#"{{"v":{VERSION},"type":"deltas","epoch":"{epoch}","seq":{seq},"resumed":{resumed},"changes":["#
    );
    join_into(&mut frame, changes);
    frame.push_str("]}");
    ByteString::from(frame)
}

/// `{"v":1,"type":"snapshot",...,"entities":[...]}` of the entities the
/// filter passes.
fn snapshot_frame(
    epoch: &str,
    state: &State,
    filter: &Filter,
    reason: SnapshotReason,
) -> ByteString {
    let mut frame = format!(
        r#"{{"v":{VERSION},"type":"snapshot","epoch":"{epoch}","seq":{},"reason":"{}","entities":["#,
        state.seq,
        reason.as_str()
    );
    join_into(
        &mut frame,
        state
            .entities
            .values()
            .filter(|s| filter.matches(s.entity.kind, &s.entity.scope))
            .map(|s| &*s.json),
    );
    frame.push_str("]}");
    ByteString::from(frame)
}

fn join_into<'a>(out: &mut String, parts: impl Iterator<Item = &'a str>) {
    for (i, part) in parts.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(part);
    }
}

/// The wall clock in Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::entity::Health;
    use crate::status::wire::ServerMessage;

    fn bus() -> StatusBus {
        StatusBus::new(BusConfig {
            retain: 8,
            queue_frames: 4,
            ..BusConfig::default()
        })
    }

    fn printer(id: &str, health: Health) -> Update {
        Update::new(EntityKind::Printer, id, health)
    }

    fn parse(frame: &ByteString) -> ServerMessage {
        serde_json::from_str(frame).expect("frames parse as server messages")
    }

    fn changes(frame: &ByteString) -> Vec<Entity> {
        match parse(frame) {
            ServerMessage::Deltas { changes, .. } => changes,
            other => panic!("expected deltas, got {other:?}"),
        }
    }

    async fn frame(sub: &mut Subscription) -> ByteString {
        match tokio::time::timeout(Duration::from_secs(1), sub.next()).await {
            Ok(Next::Frame(f)) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_screen_gets_the_snapshot_then_coalesced_deltas() {
        let bus = bus();
        bus.publish(printer("p1", Health::Ok));
        bus.publish(printer("p2", Health::Ok));
        bus.tick();
        let mut sub = bus.subscribe(Filter::default(), None, SnapshotReason::Initial);
        match parse(&sub.first) {
            ServerMessage::Snapshot {
                seq,
                reason,
                entities,
                epoch,
                ..
            } => {
                assert_eq!((seq, reason), (2, SnapshotReason::Initial));
                assert_eq!(epoch, bus.epoch());
                assert_eq!(entities.len(), 2);
            }
            other => panic!("expected a snapshot, got {other:?}"),
        }
        // A flood of changes to p1 in one tick arrives as its latest state.
        bus.publish(printer("p1", Health::Busy));
        bus.publish(printer("p1", Health::Error).reason("card jam"));
        bus.publish(printer("p1", Health::Offline).reason("connection refused"));
        let report = bus.tick();
        assert_eq!(report.changes, 1);
        let got = changes(&frame(&mut sub).await);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].seq, 3);
        assert_eq!(got[0].state, Health::Offline);
        assert_eq!(got[0].reason.as_deref(), Some("connection refused"));
    }

    #[tokio::test]
    async fn the_same_state_again_is_no_change_and_keeps_its_since() {
        let bus = bus();
        bus.publish(printer("p1", Health::Error).reason("card jam"));
        bus.tick();
        let since = bus
            .get(&EntityKey::new(EntityKind::Printer, "p1"))
            .unwrap()
            .since_ms;
        bus.publish(printer("p1", Health::Error).reason("card jam"));
        assert_eq!(bus.tick().changes, 0);
        std::thread::sleep(Duration::from_millis(5));
        bus.publish(printer("p1", Health::Error).reason("cover open"));
        assert_eq!(bus.tick().changes, 1);
        let now = bus.get(&EntityKey::new(EntityKind::Printer, "p1")).unwrap();
        assert_eq!(now.since_ms, since, "still in error: since is kept");
        assert_eq!(now.seq, 2);
    }

    #[tokio::test]
    async fn a_resuming_screen_gets_exactly_the_changes_it_missed() {
        let bus = bus();
        for i in 0..3 {
            bus.publish(printer(&format!("p{i}"), Health::Ok));
            bus.tick();
        }
        // The screen saw up to seq 1; 2 and 3 are retained.
        let sub = bus.subscribe(
            Filter::default(),
            Some(Resume {
                epoch: bus.epoch().to_owned(),
                seq: 1,
            }),
            SnapshotReason::Initial,
        );
        match parse(&sub.first) {
            ServerMessage::Deltas {
                resumed,
                changes,
                seq,
                ..
            } => {
                assert!(resumed);
                assert_eq!(seq, 3);
                let seqs: Vec<u64> = changes.iter().map(|c| c.seq).collect();
                assert_eq!(seqs, vec![2, 3]);
            }
            other => panic!("expected a resume, got {other:?}"),
        }
        assert_eq!(sub.seq, 3);
    }

    #[tokio::test]
    async fn a_resume_too_old_or_from_another_run_gets_a_snapshot() {
        let bus = bus();
        for i in 0..20 {
            bus.publish(printer(&format!("p{i}"), Health::Ok));
            bus.tick();
        }
        let old = bus.subscribe(
            Filter::default(),
            Some(Resume {
                epoch: bus.epoch().to_owned(),
                seq: 3,
            }),
            SnapshotReason::Initial,
        );
        assert!(matches!(
            parse(&old.first),
            ServerMessage::Snapshot { reason: SnapshotReason::ResumeTooOld, ref entities, .. } if entities.len() == 20
        ));
        let other_run = bus.subscribe(
            Filter::default(),
            Some(Resume {
                epoch: "0000".into(),
                seq: 19,
            }),
            SnapshotReason::Initial,
        );
        assert!(matches!(
            parse(&other_run.first),
            ServerMessage::Snapshot {
                reason: SnapshotReason::NewEpoch,
                ..
            }
        ));
        // The oldest resumable point: everything after 12 is retained.
        let edge = bus.subscribe(
            Filter::default(),
            Some(Resume {
                epoch: bus.epoch().to_owned(),
                seq: 12,
            }),
            SnapshotReason::Initial,
        );
        assert!(
            matches!(parse(&edge.first), ServerMessage::Deltas { ref changes, .. } if changes.len() == 8)
        );
    }

    #[tokio::test]
    async fn a_screen_that_falls_behind_is_cut_off_and_others_carry_on() {
        let bus = bus();
        let mut slow = bus.subscribe(Filter::default(), None, SnapshotReason::Initial);
        let mut fast = bus.subscribe(Filter::default(), None, SnapshotReason::Initial);
        for round in 0..10 {
            bus.publish(printer("p1", Health::Ok).reason(format!("round {round}")));
            let report = bus.tick();
            assert!(report.frames >= 1);
            let got = changes(&frame(&mut fast).await);
            assert_eq!(
                got[0].reason.as_deref(),
                Some(format!("round {round}").as_str())
            );
        }
        {
            let queue = slow.shared.lock();
            assert!(queue.lagged);
            assert_eq!(
                (queue.frames.len(), queue.bytes),
                (0, 0),
                "a screen cut off holds no stale frames"
            );
        }
        assert!(matches!(slow.next().await, Next::Lagged));
        assert_eq!(bus.screens(), 1, "the slow screen no longer holds a queue");
        // Resubscribing gives the latest state.
        let again = bus.subscribe(Filter::default(), None, SnapshotReason::Resync);
        assert!(matches!(
            parse(&again.first),
            ServerMessage::Snapshot { reason: SnapshotReason::Resync, ref entities, .. }
                if entities[0].reason.as_deref() == Some("round 9")
        ));
    }

    #[tokio::test]
    async fn filters_pick_what_each_screen_receives_and_removals_are_sent() {
        let bus = bus();
        let mut lines = bus.subscribe(
            Filter {
                kinds: Some(vec![EntityKind::Line]),
                ..Filter::default()
            },
            None,
            SnapshotReason::Initial,
        );
        let mut all = bus.subscribe(Filter::default(), None, SnapshotReason::Initial);
        bus.publish(printer("p1", Health::Ok));
        bus.publish(Update::new(EntityKind::Line, "line-1", Health::Busy));
        bus.tick();
        let got = changes(&frame(&mut lines).await);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].kind, EntityKind::Line);
        assert_eq!(changes(&frame(&mut all).await).len(), 2);

        bus.remove(EntityKey::new(EntityKind::Printer, "p1"));
        bus.remove(EntityKey::new(EntityKind::Printer, "never-there"));
        assert_eq!(bus.tick().changes, 1);
        let got = changes(&frame(&mut all).await);
        assert!(got[0].removed);
        assert!(
            bus.get(&EntityKey::new(EntityKind::Printer, "p1"))
                .is_none()
        );
        let (_, seq, entities) = bus.snapshot(&Filter::default());
        assert_eq!((seq, entities.len()), (3, 1));
    }

    #[tokio::test]
    async fn no_change_is_lost_or_repeated_between_snapshot_and_deltas() {
        // Publishers and subscribers race; every screen must see each
        // entity's seq strictly increase from its snapshot on, and end on
        // the bus's final state.
        let bus = StatusBus::new(BusConfig {
            queue_frames: 1_000,
            ..BusConfig::default()
        });
        let publisher = {
            let bus = bus.clone();
            std::thread::spawn(move || {
                for i in 0..2_000u32 {
                    bus.publish(printer(&format!("p{}", i % 7), Health::Ok).reason(i.to_string()));
                    if i % 10 == 0 {
                        bus.tick();
                    }
                }
                bus.tick();
            })
        };
        let mut screens = Vec::new();
        for _ in 0..20 {
            screens.push(bus.subscribe(Filter::default(), None, SnapshotReason::Initial));
            std::thread::yield_now();
        }
        publisher.join().unwrap();
        let (_, final_seq, finals) = bus.snapshot(&Filter::default());
        for mut screen in screens {
            let mut seen: HashMap<String, (u64, Option<String>)> = HashMap::new();
            let ServerMessage::Snapshot { seq, entities, .. } = parse(&screen.first) else {
                panic!("snapshot first");
            };
            let mut last = seq;
            for e in entities {
                seen.insert(e.id, (e.seq, e.reason));
            }
            while last < final_seq {
                let next = match screen.next().await {
                    Next::Frame(f) => f,
                    Next::Lagged => break,
                    Next::Closed => panic!("bus closed"),
                };
                let ServerMessage::Deltas { seq, changes, .. } = parse(&next) else {
                    panic!("deltas after the snapshot");
                };
                assert!(seq > last, "frames move forward");
                for c in changes {
                    assert!(c.seq > last, "no change before the snapshot is repeated");
                    seen.insert(c.id, (c.seq, c.reason));
                }
                last = seq;
            }
            assert_eq!(
                last, final_seq,
                "a screen with room in its queue is never cut off"
            );
            {
                for f in &finals {
                    assert_eq!(seen[&f.id], (f.seq, f.reason.clone()), "no change is lost");
                }
            }
        }
    }
}
