//! The workshop (制卡车间): card printers and production lines as actors.
//!
//! ```text
//! Workshop subtree
//! ├─ printer:<name> ── PrinterActor: one printer and its encoder, on a thread of its own
//! ├─ printer:<name> ...
//! ├─ line:<name>    ── LineActor: one lane per printer, card by card through the program
//! └─ line:<name> ...
//! ```
//!
//! - [`config`]: the `[workshop]` settings and their checks.
//! - [`program`]: the steps of a line (the four programs), where a card in
//!   production resumes.
//! - [`station`]: the blocking device work of one step (printer commands,
//!   chip jobs at the encoder, the card face).
//! - [`face`]: the card face's data, checked before a card is taken, and
//!   the envelope page.
//! - [`printer`]: [`PrinterActor`], its link supervision with back-off.
//! - [`line`]: [`LineActor`], its lanes, waste and recovery.
//! - [`registry`]: the running printer actors by name.
//!
//! The making-card records themselves (tasks, steps, waste, boxes,
//! dispatch) are `cardhub_storage::workshop`; every step is persisted
//! there before the line goes on.

pub mod config;
pub mod face;
pub mod line;
pub mod printer;
pub mod program;
pub mod registry;
pub mod station;

use crate::status::{Scope, StatusBus};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use cardhub_storage::workshop::LineState;
use cardhub_storage::{Actor, StorageError, Store};

use crate::chip::ChipRuntime;
use crate::supervision::{ChildSpec, SupervisionError, SupervisorHandle};

pub use config::{LineConfig, PrinterConfig, WorkshopConfig, WorkshopConfigError};
pub use face::Faces;
pub use line::{LaneView, LineActor, LineCommand, LineView};
pub use printer::{PrinterActor, PrinterView};
pub use program::{Program, Step};
pub use registry::Registry;
pub use station::StepError;

/// What every line and printer of the workshop shares.
pub struct WorkshopRuntime {
    /// The settings.
    pub config: WorkshopConfig,
    /// The database.
    pub store: Store,
    /// The chip work (personalisation and card check at the encoders).
    pub chip: Arc<ChipRuntime>,
    /// The card face and envelope renderers.
    pub faces: Faces,
    /// The running printer actors.
    pub registry: Registry,
    /// Where printers and lines publish their status.
    pub bus: StatusBus,
}

impl WorkshopRuntime {
    /// The status bus scope of this workshop's entities (on `line`).
    pub fn scope(&self, line: Option<&str>) -> Scope {
        Scope {
            workshop: Some(self.config.name.clone()),
            line: line.map(str::to_owned),
            branch: None,
        }
    }
}

/// Why the workshop cannot start, or a request to it failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkshopError {
    /// No such line in `[workshop]`.
    #[error("no production line called `{line}`; lines: {}", if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    UnknownLine {
        /// The name asked for.
        line: String,
        /// The lines there are.
        known: Vec<String>,
    },
    /// The line's actor is being restarted.
    #[error("line `{0}` is restarting: ask again in a moment")]
    Unavailable(String),
    /// The settings are unusable.
    #[error(transparent)]
    Config(#[from] WorkshopConfigError),
    /// The layouts or fonts are unusable.
    #[error("workshop faces: {0}")]
    Faces(#[from] face::FacesError),
    /// The supervision tree refused a child.
    #[error("cannot start workshop actors: {0}")]
    Supervision(#[from] SupervisionError),
    /// Storage refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The workshop's handle: its lines by name, for the HTTP front.
#[derive(Clone)]
pub struct Workshop {
    runtime: Arc<WorkshopRuntime>,
    supervisor: SupervisorHandle,
    lines: Arc<BTreeMap<String, LineConfig>>,
}

impl Workshop {
    /// Starts one printer actor per printer and one line actor per line in
    /// the workshop supervisor. A line's state is the one persisted, or
    /// `running` when it never had one and `autostart` is set.
    pub async fn start(
        config: WorkshopConfig,
        store: Store,
        chip: Arc<ChipRuntime>,
        supervisor: SupervisorHandle,
        bus: StatusBus,
    ) -> Result<Workshop, WorkshopError> {
        config.validate()?;
        let faces = Faces::load(&config)?;
        let runtime = Arc::new(WorkshopRuntime {
            config: config.clone(),
            store: store.clone(),
            chip,
            faces,
            registry: Registry::default(),
            bus,
        });
        let mut lines = BTreeMap::new();
        let reconnect = (
            Duration::from_millis(config.reconnect_initial_ms),
            Duration::from_millis(config.reconnect_max_ms),
        );
        for line in &config.lines {
            for printer in &line.printers {
                supervisor
                    .start_child(printer_spec(&runtime, &line.name, printer, reconnect))
                    .await?;
            }
        }
        for line in &config.lines {
            let program = line.program().map_err(|e| WorkshopConfigError {
                key: format!("workshop.lines.{}.program", line.name),
                reason: e.to_string(),
            })?;
            let persisted = store.line_state(line.name.clone()).await?;
            let initial = match persisted {
                Some(record) => record.state,
                None if line.autostart => LineState::Running,
                None => LineState::Stopped,
            };
            let (rt, cfg) = (Arc::clone(&runtime), line.clone());
            supervisor
                .start_child(ChildSpec::new(line_child(&line.name), move |_| {
                    LineActor::new(cfg.clone(), program.clone(), Arc::clone(&rt), initial)
                }))
                .await?;
            tracing::info!(line = %line.name, state = %initial.as_str(), printers = line.printers.len(),
                program = %line.program, "production line started");
            lines.insert(line.name.clone(), line.clone());
        }
        Ok(Workshop {
            runtime,
            supervisor,
            lines: Arc::new(lines),
        })
    }

    /// The workshop's shared runtime (faces, store, registry).
    pub fn runtime(&self) -> &Arc<WorkshopRuntime> {
        &self.runtime
    }

    /// The configured lines' names.
    pub fn line_names(&self) -> Vec<String> {
        self.lines.keys().cloned().collect()
    }

    /// The instant-issue line at branch `branch` (即时补换), if it has one.
    pub fn instant_line(&self, branch: &str) -> Option<&LineConfig> {
        self.lines
            .values()
            .find(|line| line.branch.as_deref() == Some(branch))
    }

    async fn line(&self, name: &str) -> Result<actix::Addr<LineActor>, WorkshopError> {
        if !self.lines.contains_key(name) {
            return Err(WorkshopError::UnknownLine {
                line: name.to_owned(),
                known: self.line_names(),
            });
        }
        self.supervisor
            .child_address::<LineActor>(&line_child(name))
            .await
            .map_err(|_| WorkshopError::Unavailable(name.to_owned()))
    }

    /// How line `name` and its printers are.
    pub async fn describe(
        &self,
        name: &str,
    ) -> Result<(LineView, Vec<PrinterView>), WorkshopError> {
        let line = self.line(name).await?;
        let view = line
            .send(line::DescribeLine)
            .await
            .map_err(|_| WorkshopError::Unavailable(name.to_owned()))?;
        let mut printers = Vec::new();
        for p in &self.lines[name].printers {
            if let Some(addr) = self.runtime.registry.printer(&p.name)
                && let Ok(v) = addr.send(printer::DescribePrinter).await
            {
                printers.push(v);
            }
        }
        Ok((view, printers))
    }

    /// Starts, pauses or stops line `name`; the state is persisted first.
    pub async fn control(
        &self,
        name: &str,
        command: LineCommand,
        actor: Actor,
    ) -> Result<LineState, WorkshopError> {
        let line = self.line(name).await?;
        Ok(line
            .send(line::ControlLine { command, actor })
            .await
            .map_err(|_| WorkshopError::Unavailable(name.to_owned()))??)
    }

    /// The envelope page of a finished card, as a PNG.
    pub async fn envelope_png(&self, card_id: i64) -> Result<Vec<u8>, EnvelopeError> {
        let envelope = self.runtime.store.envelope_data(card_id).await?;
        let runtime = Arc::clone(&self.runtime);
        tokio::task::spawn_blocking(move || face::envelope_png(&runtime.faces.envelope, &envelope))
            .await
            .map_err(|e| EnvelopeError::Render(e.to_string()))?
            .map_err(|e| EnvelopeError::Render(e.to_string()))
    }
}

/// Why an envelope page cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// No envelope for the card (not finished), or storage refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The page cannot be drawn.
    #[error("the envelope page cannot be drawn: {0}")]
    Render(String),
}

fn line_child(name: &str) -> String {
    format!("line:{name}")
}

fn printer_spec(
    runtime: &Arc<WorkshopRuntime>,
    line: &str,
    printer: &PrinterConfig,
    reconnect: (Duration, Duration),
) -> ChildSpec {
    let name = printer.name.clone();
    let rt = Arc::clone(runtime);
    let config = printer.clone();
    let make: Arc<dyn Fn() -> station::Devices + Send + Sync> = Arc::new(move || {
        station::Devices::new(
            config.name.clone(),
            config
                .address
                .parse()
                .expect("checked by WorkshopConfig::validate"),
            config.encoder.clone(),
            Arc::clone(&rt.chip),
            Arc::clone(&rt.faces.card),
            rt.config.chip_attempts,
        )
    });
    let registry = runtime.registry.clone();
    let bus = runtime.bus.clone();
    let scope = runtime.scope(Some(line));
    ChildSpec::new(format!("printer:{name}"), move |_| {
        PrinterActor::new(
            name.clone(),
            Arc::clone(&make),
            registry.clone(),
            reconnect,
            bus.clone(),
            scope.clone(),
        )
    })
}
