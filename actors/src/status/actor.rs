//! [`StatusBusActor`]: the hub's worker that drives the [`StatusBus`]. It
//! ticks the bus (coalesced deltas to every screen), evaluates the alert
//! rules every second, and samples the database's queues (making-card
//! tasks, the outbox) into `counter` and `channel` entities.
//!
//! Alerts go through one writer task, in order: each raise and clear is
//! persisted (`alerts` table) before it is published as an `alert` entity.
//! The bus's state lives outside the actor, so a restarted actor carries on
//! with the same entities and screens, and adopts the alerts it shows.

use std::time::Duration;

use actix::prelude::*;
use cardhub_storage::Store;
use cardhub_storage::alerts::AlertSeverity;
use tokio::sync::mpsc;

use super::alerts::{AlertEngine, AlertRules, Severity, Transition, alert_id};
use super::bus::{StatusBus, now_ms};
use super::entity::{
    AlertDetail, ChannelDetail, CounterDetail, Detail, EntityKey, EntityKind, Health, Update,
};
use super::wire::Filter;
use crate::supervision::ChildSpec;

/// The child's name under the hub.
pub const CHILD_NAME: &str = "status-bus";

/// How often the alert rules are evaluated: their thresholds are in seconds.
const EVALUATE_EVERY: Duration = Duration::from_secs(1);

/// Alert transitions waiting for the writer; a burst beyond this (thousands
/// of devices failing in one second) is evaluated again next second.
const ALERT_QUEUE: usize = 4_096;

/// What the actor needs besides the bus.
#[derive(Clone, Debug)]
pub struct MonitorSettings {
    /// The alert thresholds.
    pub rules: AlertRules,
    /// How often the task queue and the outbox are counted; zero: never.
    pub sample_every: Duration,
}

/// Drives the bus: ticks, alert rules, queue sampling.
pub struct StatusBusActor {
    bus: StatusBus,
    store: Store,
    engine: AlertEngine,
    settings: MonitorSettings,
    alerts: Option<mpsc::Sender<Transition>>,
    sampling: bool,
}

impl StatusBusActor {
    /// The hub's `status-bus` worker.
    pub fn child_spec(bus: StatusBus, store: Store, settings: MonitorSettings) -> ChildSpec {
        ChildSpec::new(CHILD_NAME, move |_| StatusBusActor {
            bus: bus.clone(),
            store: store.clone(),
            engine: AlertEngine::new(settings.rules.clone()),
            settings: settings.clone(),
            alerts: None,
            sampling: false,
        })
    }

    fn evaluate(&mut self) {
        // Evaluated on the entities in place: a wall of hundreds of devices
        // is not copied every second.
        let engine = &mut self.engine;
        let transitions = self
            .bus
            .with_entities(|entities| engine.evaluate(entities, now_ms()));
        let Some(tx) = &self.alerts else { return };
        let mut transitions = transitions.into_iter();
        while let Some(t) = transitions.next() {
            if let Err(e) = tx.try_send(t) {
                tracing::warn!(error = %e, "alert writer is behind; the alerts are evaluated again next second");
                // Undone, so the next evaluation produces them again.
                let t = match e {
                    mpsc::error::TrySendError::Full(t) | mpsc::error::TrySendError::Closed(t) => t,
                };
                for t in std::iter::once(t).chain(transitions) {
                    self.engine.undo(&t);
                }
                return;
            }
        }
    }

    fn sample(&mut self, ctx: &mut Context<Self>) {
        if self.sampling {
            return;
        }
        self.sampling = true;
        let store = self.store.clone();
        let bus = self.bus.clone();
        let work = async move {
            publish_queues(&store, &bus).await;
        };
        ctx.spawn(
            work.into_actor(self)
                .map(|(), actor, _| actor.sampling = false),
        );
    }
}

impl Actor for StatusBusActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let (_, _, entities) = self.bus.snapshot(&Filter {
            kinds: Some(vec![EntityKind::Alert]),
            ..Filter::default()
        });
        self.engine.adopt(&entities);
        let (tx, rx) = mpsc::channel(ALERT_QUEUE);
        self.alerts = Some(tx);
        actix::spawn(write_alerts(
            self.bus.clone(),
            self.store.clone(),
            self.settings.rules.cleared_keep_secs,
            rx,
        ));

        ctx.run_interval(self.bus.config().tick, |actor, _| {
            let started = std::time::Instant::now();
            let report = actor.bus.tick();
            if report.changes > 0 {
                metrics::histogram!("cardhub_monitor_tick_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
        });
        ctx.run_interval(EVALUATE_EVERY, |actor, _| actor.evaluate());
        if !self.settings.sample_every.is_zero() {
            self.sample(ctx);
            ctx.run_interval(self.settings.sample_every, |actor, ctx| actor.sample(ctx));
        }
    }
}

/// The making-card queue as a `counter` entity and the outbox as a
/// `channel` entity (its queue depth is what the channels have yet to
/// deliver).
async fn publish_queues(store: &Store, bus: &StatusBus) {
    match store.queue_counts().await {
        Ok(q) => {
            let values = [
                ("queued", q.queued),
                ("in_production", q.in_production),
                ("done", q.done),
                ("failed", q.failed),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            bus.publish(
                Update::new(EntityKind::Counter, "making-card-tasks", Health::Ok)
                    .detail(Detail::Counter(CounterDetail { values })),
            );
        }
        Err(e) => tracing::warn!(error = %e, "cannot count making-card tasks for the wall"),
    }
    let (health, reason, connected, depth) = match store.outbox_depth().await {
        Ok(depth) if depth.retrying > 0 => (
            Health::Warning,
            Some(format!("{} messages are being retried", depth.retrying)),
            true,
            depth,
        ),
        Ok(depth) => (Health::Ok, None, true, depth),
        Err(e) => (
            Health::Offline,
            Some(format!("the database does not answer: {e}")),
            false,
            Default::default(),
        ),
    };
    let mut update =
        Update::new(EntityKind::Channel, "outbox", health).detail(Detail::Channel(ChannelDetail {
            peer: "outbox".into(),
            connected,
            queue_depth: depth.pending.max(0) as u64,
            sent: 0,
            failed: depth.retrying.max(0) as u64,
            success_rate: None,
        }));
    update.reason = reason;
    bus.publish(update);
}

/// Persists, then publishes, each alert transition in order; removes
/// cleared alerts from the wall once they have been shown `keep_secs`.
async fn write_alerts(
    bus: StatusBus,
    store: Store,
    keep_secs: u64,
    mut rx: mpsc::Receiver<Transition>,
) {
    let mut sweep = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            next = rx.recv() => match next {
                Some(t) => write_alert(&bus, &store, t).await,
                None => return,
            },
            _ = sweep.tick() => remove_old_alerts(&bus, keep_secs),
        }
    }
}

async fn write_alert(bus: &StatusBus, store: &Store, t: Transition) {
    let at = cardhub_storage::utc_now();
    match t {
        Transition::Raise {
            rule,
            subject,
            scope,
            severity,
            message,
        } => {
            let stored = store
                .raise_alert(
                    rule.to_owned(),
                    subject.to_string(),
                    match severity {
                        Severity::Warning => AlertSeverity::Warning,
                        Severity::Critical => AlertSeverity::Critical,
                    },
                    message.clone(),
                    at,
                )
                .await;
            let alert_id_in_db = match stored {
                Ok(alert) => alert.id,
                Err(e) => {
                    // Shown anyway: an operator must see it even when the
                    // database is the problem.
                    tracing::error!(error = %e, rule, %subject, "cannot persist an alert; showing it unpersisted");
                    0
                }
            };
            tracing::warn!(rule, %subject, %message, "alert raised");
            metrics::counter!("cardhub_alerts_raised_total", "rule" => rule).increment(1);
            bus.publish(
                Update::new(
                    EntityKind::Alert,
                    alert_id(rule, &subject),
                    severity.health(),
                )
                .reason(message.clone())
                .scope(scope)
                .detail(Detail::Alert(AlertDetail {
                    alert_id: alert_id_in_db,
                    rule: rule.to_owned(),
                    subject: subject.to_string(),
                    severity: severity.as_str().to_owned(),
                    message,
                    raised_ms: at.and_utc().timestamp_millis(),
                    cleared_ms: None,
                })),
            );
        }
        Transition::Clear {
            rule,
            subject,
            reason,
        } => {
            let key = EntityKey::new(EntityKind::Alert, alert_id(rule, &subject));
            let Some(shown) = bus.get(&key) else { return };
            let Detail::Alert(mut detail) = shown.detail else {
                return;
            };
            if detail.alert_id > 0
                && let Err(e) = store.clear_alert(detail.alert_id, reason.clone(), at).await
            {
                tracing::error!(error = %e, rule, %subject, "cannot persist an alert's clearing");
            }
            tracing::info!(rule, %subject, %reason, "alert cleared");
            detail.cleared_ms = Some(at.and_utc().timestamp_millis());
            bus.publish(
                Update::new(EntityKind::Alert, key.id, Health::Ok)
                    .reason(format!("cleared: {reason}"))
                    .scope(shown.scope)
                    .detail(Detail::Alert(detail)),
            );
        }
    }
}

fn remove_old_alerts(bus: &StatusBus, keep_secs: u64) {
    let (_, _, alerts) = bus.snapshot(&Filter {
        kinds: Some(vec![EntityKind::Alert]),
        ..Filter::default()
    });
    let cutoff = now_ms() - (keep_secs as i64) * 1000;
    for alert in alerts {
        if let Detail::Alert(AlertDetail {
            cleared_ms: Some(cleared),
            ..
        }) = alert.detail
            && cleared < cutoff
        {
            bus.remove(alert.key());
        }
    }
}
