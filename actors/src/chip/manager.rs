//! [`ReaderManager`]: watches the PC/SC readers and keeps one
//! [`ReaderActor`] per reader in the device supervisor, started when the
//! reader appears and stopped when it goes.
//!
//! The manager owns the [`ReaderMonitor`] (a thread of its own blocked in
//! SCardGetStatusChange); its events arrive here as a stream. When pcscd is
//! not running the manager says so once in the log and its status, and tries
//! again every `[chip] retry_secs`. Requests for a reader (`RunJob`,
//! `ListReaders`) come from HTTP handlers and are forwarded to that reader's
//! actor. Readers that are the contact encoders of workshop printers are
//! left to their printers' actors (`excluded`): a reader has one driver.
//!
//! Each reader is a `reader` entity on the status bus (card present or
//! not, a card that does not answer); while pcscd cannot be reached, the
//! `reader` entity `pcscd` says so.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use actix::prelude::*;
use cardhub_devices::reader::{MonitorConfig, ReaderEvent, ReaderMonitor};
use tokio::sync::mpsc;

use super::reader::{CardArrived, CardLeft, ReaderActor, ReaderInfo, Run};
use super::{ChipError, ChipRuntime, JobRequest, JobTicket};
use crate::status::{Detail, DeviceDetail, EntityKey, EntityKind, Health, StatusBus, Update};
use crate::supervision::{ChildSpec, RestartPolicy, SupervisorHandle};

/// The status bus entity that stands for pcscd while it cannot be reached.
const PCSCD_ENTITY: &str = "pcscd";

/// The manager's name in the device supervisor.
pub const CHILD_NAME: &str = "reader-manager";

/// Name prefix of reader children in the device supervisor.
const CHILD_PREFIX: &str = "reader:";

/// The actor that follows readers as they come and go.
pub struct ReaderManager {
    runtime: Arc<ChipRuntime>,
    devices: SupervisorHandle,
    monitor: Option<ReaderMonitor>,
    readers: BTreeMap<String, Addr<ReaderActor>>,
    excluded: Arc<BTreeSet<String>>,
    service_error: Option<String>,
    bus: StatusBus,
}

impl ReaderManager {
    /// A manager that starts reader actors under `devices` for every
    /// reader but the `excluded` ones (printers' encoders).
    pub fn new(
        runtime: Arc<ChipRuntime>,
        devices: SupervisorHandle,
        excluded: Arc<BTreeSet<String>>,
        bus: StatusBus,
    ) -> Self {
        Self {
            runtime,
            devices,
            monitor: None,
            readers: BTreeMap::new(),
            excluded,
            service_error: None,
            bus,
        }
    }

    /// Tells the status bus how a reader is. A branch terminal's reader is
    /// left to the terminal's session, which publishes its devices.
    fn publish(&self, reader: &str, health: Health, reason: Option<&str>, card: Option<bool>) {
        if reader.starts_with(cardhub_devices::remote::SCHEME) {
            return;
        }
        let update =
            Update::new(EntityKind::Reader, reader, health).detail(Detail::Device(DeviceDetail {
                card_present: card,
                ..DeviceDetail::default()
            }));
        self.bus.publish(update.maybe_reason(reason));
    }

    /// The child spec that runs a manager in the device supervisor.
    pub fn child_spec(
        runtime: Arc<ChipRuntime>,
        devices: SupervisorHandle,
        excluded: BTreeSet<String>,
        bus: StatusBus,
    ) -> ChildSpec {
        let excluded = Arc::new(excluded);
        ChildSpec::new(CHILD_NAME, move |_| {
            ReaderManager::new(
                Arc::clone(&runtime),
                devices.clone(),
                Arc::clone(&excluded),
                bus.clone(),
            )
        })
    }

    fn start_monitor(&mut self, ctx: &mut Context<Self>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let config = MonitorConfig::with_prefixes(self.runtime.config.readers.clone())
            .excluding(self.excluded.iter().cloned());
        match ReaderMonitor::spawn(config, move |event| {
            // The manager stopped: nobody wants the events any more.
            let _ = tx.send(event);
        }) {
            Ok(monitor) => {
                if self.service_error.take().is_some() {
                    tracing::info!("pcscd is reachable again; watching card readers");
                }
                self.bus
                    .remove(EntityKey::new(EntityKind::Reader, PCSCD_ENTITY));
                self.monitor = Some(monitor);
                ctx.add_stream(tokio_stream(rx));
            }
            Err(e) => {
                if self.service_error.is_none() {
                    tracing::warn!(error = %e, retry_secs = self.runtime.config.retry_secs,
                        "cannot watch card readers; retrying");
                }
                self.service_error = Some(e.to_string());
                self.publish(
                    PCSCD_ENTITY,
                    Health::Offline,
                    Some(&format!("cannot watch card readers: {e}")),
                    None,
                );
                ctx.run_later(self.runtime.config.retry_interval(), |act, ctx| {
                    act.start_monitor(ctx)
                });
            }
        }
    }

    fn reader_added(&mut self, name: String, ctx: &mut Context<Self>) {
        if self.readers.contains_key(&name) || self.excluded.contains(&name) {
            return;
        }
        let runtime = Arc::clone(&self.runtime);
        let devices = self.devices.clone();
        let child = format!("{CHILD_PREFIX}{name}");
        let reader = name.clone();
        let spec = ChildSpec::new(child.clone(), move |_| {
            ReaderActor::new(reader.clone(), Arc::clone(&runtime))
        })
        .restart(RestartPolicy::Transient);
        async move {
            devices.start_child(spec).await?;
            devices.child_address::<ReaderActor>(&child).await
        }
        .into_actor(self)
        .map(move |started, act, _| match started {
            Ok(addr) => {
                tracing::info!(reader = %name, "card reader added");
                metrics::gauge!("cardhub_card_readers").increment(1.0);
                act.publish(&name, Health::Ok, None, Some(false));
                act.readers.insert(name, addr);
            }
            Err(e) => {
                tracing::error!(reader = %name, error = %e, "cannot start the reader's actor")
            }
        })
        .wait(ctx);
    }

    fn reader_removed(&mut self, name: &str, ctx: &mut Context<Self>) {
        if self.readers.remove(name).is_none() {
            return;
        }
        tracing::info!(reader = %name, "card reader removed");
        metrics::gauge!("cardhub_card_readers").decrement(1.0);
        if !name.starts_with(cardhub_devices::remote::SCHEME) {
            self.bus.remove(EntityKey::new(EntityKind::Reader, name));
        }
        let devices = self.devices.clone();
        let child = format!("{CHILD_PREFIX}{name}");
        ctx.spawn(
            async move {
                if let Err(e) = devices.terminate_child(&child).await {
                    tracing::warn!(child, error = %e, "reader actor was already gone");
                }
            }
            .into_actor(self),
        );
    }

    fn reader(&self, name: &str) -> Result<Addr<ReaderActor>, ChipError> {
        self.readers
            .get(name)
            .cloned()
            .ok_or_else(|| match &self.service_error {
                Some(e) => ChipError::ReadersUnavailable(e.clone()),
                None => ChipError::UnknownReader {
                    reader: name.to_owned(),
                    known: self.readers.keys().cloned().collect(),
                },
            })
    }
}

/// The monitor's channel as a stream the actor can consume.
fn tokio_stream(
    mut rx: mpsc::UnboundedReceiver<ReaderEvent>,
) -> impl futures_util::Stream<Item = ReaderEvent> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

impl Actor for ReaderManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.start_monitor(ctx);
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        // Joins the monitor thread.
        self.monitor.take();
    }
}

impl StreamHandler<ReaderEvent> for ReaderManager {
    fn handle(&mut self, event: ReaderEvent, ctx: &mut Context<Self>) {
        match event {
            ReaderEvent::ReaderAdded(name) => self.reader_added(name, ctx),
            ReaderEvent::ReaderRemoved(name) => self.reader_removed(&name, ctx),
            ReaderEvent::CardInserted { reader, atr } => {
                if let Some(addr) = self.readers.get(&reader) {
                    addr.do_send(CardArrived { atr });
                    self.publish(&reader, Health::Busy, Some("card present"), Some(true));
                }
            }
            ReaderEvent::CardMute { reader } => {
                tracing::warn!(reader = %reader, "the card in this reader does not answer");
                if self.readers.contains_key(&reader) {
                    self.publish(
                        &reader,
                        Health::Warning,
                        Some("the card does not answer: take it out and insert it again"),
                        Some(true),
                    );
                }
            }
            ReaderEvent::CardRemoved { reader } => {
                if let Some(addr) = self.readers.get(&reader) {
                    addr.do_send(CardLeft);
                    self.publish(&reader, Health::Ok, None, Some(false));
                }
            }
            ReaderEvent::ServiceLost(e) => {
                tracing::warn!(error = %e, "lost pcscd; the monitor reconnects by itself");
            }
            _ => {}
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The monitor thread ended (it only does when stopped): start anew.
        self.monitor.take();
        ctx.run_later(self.runtime.config.retry_interval(), |act, ctx| {
            act.start_monitor(ctx)
        });
    }
}

/// A reader event from outside the PC/SC monitor: a branch terminal's
/// reader appearing, going, or seeing a card come and go (the terminal
/// link reports them). The reader is named `terminal://TERMINAL/DEVICE`
/// and driven through the link like any other reader.
#[derive(Message)]
#[rtype(result = "()")]
pub struct BranchReaderEvent(pub ReaderEvent);

impl Handler<BranchReaderEvent> for ReaderManager {
    type Result = ();

    fn handle(&mut self, msg: BranchReaderEvent, ctx: &mut Context<Self>) {
        StreamHandler::handle(self, msg.0, ctx);
    }
}

/// Lists the readers the manager drives, with what each holds.
#[derive(Message)]
#[rtype(result = "Result<Vec<ReaderInfo>, ChipError>")]
pub struct ListReaders;

impl Handler<ListReaders> for ReaderManager {
    type Result = ResponseFuture<Result<Vec<ReaderInfo>, ChipError>>;

    fn handle(&mut self, _: ListReaders, _: &mut Context<Self>) -> Self::Result {
        if self.readers.is_empty()
            && let Some(e) = &self.service_error
        {
            let e = e.clone();
            return Box::pin(async move { Err(ChipError::ReadersUnavailable(e)) });
        }
        let readers: Vec<_> = self.readers.values().cloned().collect();
        Box::pin(async move {
            let mut infos = Vec::with_capacity(readers.len());
            for addr in readers {
                if let Ok(info) = addr.send(super::reader::Describe).await {
                    infos.push(info);
                }
            }
            Ok(infos)
        })
    }
}

/// Runs a job on the card in one reader.
#[derive(Message)]
#[rtype(result = "Result<JobTicket, ChipError>")]
pub struct RunJob {
    /// The reader's name.
    pub reader: String,
    /// What to do.
    pub request: JobRequest,
}

impl Handler<RunJob> for ReaderManager {
    type Result = ResponseFuture<Result<JobTicket, ChipError>>;

    fn handle(&mut self, msg: RunJob, _: &mut Context<Self>) -> Self::Result {
        let reader = self.reader(&msg.reader);
        let name = msg.reader;
        Box::pin(async move {
            reader?
                .send(Run(msg.request))
                .await
                .map_err(|_| ChipError::ReaderStopped { reader: name })?
        })
    }
}
