//! The status bus (监控): the current status of every device, production
//! line, branch terminal, outside channel, job counter and alert, fed by the
//! actors that own them and read by the monitoring wall's screens.
//!
//! ```text
//! PrinterActor, LineActor, ReaderManager, ... ── publish(Update) ──┐
//!                                                                  ▼
//!   StatusBusActor ── tick ──► StatusBus ── Subscription ──► /ws/monitor
//!        │ every second                 (snapshot, then     (cardhub-web)
//!        ▼                               coalesced deltas)
//!   AlertEngine ── Transition ──► alert writer ── persist, then publish
//! ```
//!
//! # Layout
//! - [`entity`]: what is published and held ([`Update`], [`Entity`]).
//! - [`wire`]: the `/ws/monitor` messages and the subscription [`Filter`].
//! - [`bus`]: the state, coalescing, sequence numbers, retention, bounded
//!   screen queues ([`StatusBus`], [`Subscription`]).
//! - [`alerts`]: the alert rules ([`AlertEngine`]).
//! - [`actor`]: the supervised worker that ticks the bus, evaluates the rules
//!   and samples the database's queues ([`StatusBusActor`]).
//! - [`load`]: a synthetic status load for the wall's benchmark
//!   ([`StatusLoad`]).
//!
//! Not here: the WebSocket endpoint and the wall page (`cardhub-web`'s
//! `monitor` module); the persisted alerts (`cardhub-storage`'s `alerts`).

pub mod actor;
pub mod alerts;
pub mod bus;
pub mod entity;
pub mod load;
pub mod wire;

pub use actor::{MonitorSettings, StatusBusActor};
pub use alerts::{AlertEngine, AlertRules};
pub use bus::{BusConfig, Next, Resume, StatusBus, Subscription, TickReport};
pub use entity::{
    AlertDetail, ChannelDetail, CounterDetail, Detail, DeviceDetail, Entity, EntityKey, EntityKind,
    Health, LaneDetail, LineDetail, Scope, TerminalDetail, Update,
};
pub use load::StatusLoad;
pub use wire::{ClientMessage, Filter, ServerMessage, SnapshotReason};
