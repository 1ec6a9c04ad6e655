//! [`Devices`]: one printer with its encoder, driven step by step as plain
//! blocking code on the printer actor's own thread. Every move of the card
//! to a station is followed by a reset of the encoder's reader: the
//! encoder's session belongs to the card that was there before.
//!
//! A step's failure is a [`StepError`], whose kind tells the line what to
//! do with the card: wait for the link or an operator and go on, waste it
//! and make it again, or give the task up until its data is fixed.

use std::sync::Arc;

use cardhub_devices::face::{PageData, Renderer};
use cardhub_devices::printer::{
    self, CardPosition, CardPrinter, Panel, PrinterAddress, PrinterError, PrinterStatus, Station,
};
use cardhub_devices::reader::{ProtocolPreference, ReaderError, open_reader};
use cardhub_storage::chips::ChipJobStatus;
use cardhub_storage::{Actor, StorageError};
use serde_json::{Value, json};

use super::program::Step;
use crate::chip::engine::{self, ReaderSlot};
use crate::chip::{ChipError, ChipRuntime, JobRequest};

/// How long a reset waits for the encoder's reader to see the card that
/// was moved to its station.
const ENCODER_CARD_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Why a step did not complete, by what the line must do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The link to the printer is lost (or in doubt after a timeout): the
    /// printer is offline until it answers again; where the card is must
    /// be asked before going on.
    #[error("printer link lost: {0}")]
    Link(String),
    /// The link was lost before the command went out: the printer never
    /// saw it, so it may be sent again once the printer answers.
    #[error("printer link lost before the command was sent: {0}")]
    Unsent(String),
    /// A person must act at the printer (jam, ribbon out, hopper empty,
    /// cover open); the text is the printer's advice.
    #[error("{0}")]
    Operator(String),
    /// The printer's hopper is empty: no card was taken.
    #[error("input hopper empty: {0}")]
    HopperEmpty(String),
    /// The encoder or its PC/SC reader failed, not the card.
    #[error("encoder: {0}")]
    Encoder(String),
    /// This card failed (refused by its chip, a check mismatch, a printer
    /// refusal of this card): waste it and make another.
    #[error("{0}")]
    Card(String),
    /// The task's data cannot be made into a card (a name the fonts or the
    /// chip cannot hold, no photo): no remake helps until it is fixed.
    #[error("{0}")]
    Data(String),
    /// The database refused; the card waits where it is.
    #[error("storage: {0}")]
    Storage(String),
}

impl StepError {
    fn from_printer(e: PrinterError) -> Self {
        if let PrinterError::Disconnected {
            mid_command: false, ..
        } = &e
        {
            StepError::Unsent(e.to_string())
        } else if e.is_connection_lost() {
            StepError::Link(e.to_string())
        } else if e.is_hopper_empty() {
            StepError::HopperEmpty(e.to_string())
        } else if e.needs_operator() {
            StepError::Operator(e.to_string())
        } else {
            StepError::Card(e.to_string())
        }
    }

    /// A short name for the kind, for metrics and the API.
    pub fn kind(&self) -> &'static str {
        match self {
            StepError::Link(_) => "link",
            StepError::Unsent(_) => "unsent",
            StepError::Operator(_) => "operator",
            StepError::HopperEmpty(_) => "hopper-empty",
            StepError::Encoder(_) => "encoder",
            StepError::Card(_) => "card",
            StepError::Data(_) => "data",
            StepError::Storage(_) => "storage",
        }
    }
}

impl From<PrinterError> for StepError {
    fn from(e: PrinterError) -> Self {
        StepError::from_printer(e)
    }
}

impl From<StorageError> for StepError {
    fn from(e: StorageError) -> Self {
        StepError::Storage(e.to_string())
    }
}

/// What a step works on.
#[derive(Clone, Debug)]
pub struct CardWork {
    /// The task.
    pub task_id: i64,
    /// The card.
    pub card_id: i64,
    /// The card face (for `print`).
    pub face: Option<Arc<PageData>>,
    /// Who the work is recorded under.
    pub actor: Actor,
}

/// A printer, its encoder and what its steps need.
pub struct Devices {
    name: String,
    address: PrinterAddress,
    printer: Option<Box<dyn CardPrinter>>,
    encoder: String,
    slot: ReaderSlot,
    chip: Arc<ChipRuntime>,
    face: Arc<Renderer>,
    chip_attempts: u32,
}

impl Devices {
    /// The devices of printer `name` at `address` with the encoder reader
    /// `encoder`; nothing is opened until first used.
    pub fn new(
        name: String,
        address: PrinterAddress,
        encoder: String,
        chip: Arc<ChipRuntime>,
        face: Arc<Renderer>,
        chip_attempts: u32,
    ) -> Self {
        Self {
            name,
            address,
            printer: None,
            encoder,
            slot: None,
            chip,
            face,
            chip_attempts,
        }
    }

    fn printer(&mut self) -> Result<&mut dyn CardPrinter, StepError> {
        if self.printer.is_none() {
            self.printer = Some(printer::open(&self.name, &self.address)?);
        }
        Ok(self.printer.as_mut().expect("opened above").as_mut())
    }

    /// Asks the printer how it is (connecting first if needed).
    pub fn status(&mut self) -> Result<PrinterStatus, StepError> {
        let status = self.printer()?.status();
        status.map_err(|e| self.forget_on_link_loss(e))
    }

    /// Where the card is.
    pub fn card_position(&mut self) -> Result<CardPosition, StepError> {
        let position = self.printer()?.card_position();
        position.map_err(|e| self.forget_on_link_loss(e))
    }

    /// Clears a latched error whose cause was removed.
    pub fn clear_error(&mut self) -> Result<(), StepError> {
        let cleared = self.printer()?.clear_error();
        cleared.map_err(|e| self.forget_on_link_loss(e))
    }

    /// Puts the card in the printer (if any) into the reject bin.
    pub fn reject(&mut self) -> Result<(), StepError> {
        match self.card_position()? {
            CardPosition::None => Ok(()),
            _ => {
                let rejected = self.printer()?.reject();
                rejected.map_err(|e| self.forget_on_link_loss(e))
            }
        }
    }

    fn forget_on_link_loss(&mut self, e: PrinterError) -> StepError {
        if e.is_connection_lost() {
            // A fresh connection (and its setup) at the next command.
            self.printer = None;
        }
        StepError::from_printer(e)
    }

    /// Runs one step on the card; the detail is what the step's record
    /// keeps.
    pub fn run_step(&mut self, step: Step, work: &CardWork) -> Result<Value, StepError> {
        let result = match step {
            Step::Feed => self.printer()?.feed().map(|()| json!({})),
            Step::Chip => return self.chip(work),
            Step::Contactless => return self.contactless(work),
            Step::Print => return self.print(work),
            Step::Overlay => self.printer()?.overlay().map(|()| json!({})),
            Step::Qc => return self.qc(work),
            Step::Eject => self.printer()?.eject().map(|()| json!({})),
        };
        result.map_err(|e| self.forget_on_link_loss(e))
    }

    fn move_to(&mut self, station: Station) -> Result<(), StepError> {
        let moved = self.printer()?.move_to(station);
        moved.map_err(|e| self.forget_on_link_loss(e))?;
        // The encoder's session belonged to the card there before.
        self.reset_encoder()
    }

    /// Opens the encoder's reader if needed and resets it, so its session
    /// is the card now at the station's. A stale session (the reader was
    /// reopened, pcscd restarted) is dropped and opened afresh once.
    fn reset_encoder(&mut self) -> Result<(), StepError> {
        let mut last = None;
        let mut stale = 0;
        let waited = std::time::Instant::now();
        while stale < 2 {
            if self.slot.is_none() {
                match open_reader(&self.encoder) {
                    Ok(reader) => self.slot = Some(reader),
                    Err(e) => {
                        stale += 1;
                        last = Some(e);
                        continue;
                    }
                }
            }
            let reader = self.slot.as_mut().expect("opened above");
            let reset = if reader.is_connected() {
                reader.reconnect(true).map(drop)
            } else {
                reader
                    .connect(ProtocolPreference::Any)
                    .and_then(|_| reader.reconnect(true))
                    .map(drop)
            };
            match reset {
                Ok(()) => return Ok(()),
                // pcscd sees a card arrive at the station on its next poll
                // of the reader (vpcd: every 400 ms): wait for it.
                Err(e @ ReaderError::NoCard { .. }) if waited.elapsed() < ENCODER_CARD_WAIT => {
                    last = Some(e);
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => {
                    self.slot = None;
                    stale += 1;
                    last = Some(e);
                }
            }
        }
        Err(StepError::Encoder(format!(
            "cannot reset encoder `{}`: {}",
            self.encoder,
            last.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    fn chip(&mut self, work: &CardWork) -> Result<Value, StepError> {
        self.move_to(Station::Contact)?;
        let request = JobRequest::Personalise {
            card_id: work.card_id,
            actor: work.actor.clone(),
        };
        let job = self.chip_job(&request)?;
        Ok(json!({ "chip_job": job.id, "chip_id": job.chip_id, "apdus": job.apdus }))
    }

    fn qc(&mut self, work: &CardWork) -> Result<Value, StepError> {
        self.move_to(Station::Contact)?;
        let request = JobRequest::Check {
            card_id: work.card_id,
            permit_chinese_name: None,
            actor: work.actor.clone(),
        };
        let job = self.chip_job(&request)?;
        let result = job.result.clone().unwrap_or(Value::Null);
        if result.get("passed").and_then(Value::as_bool) != Some(true) {
            return Err(StepError::Card(format!(
                "the card check (chip job {}) did not pass: {}",
                job.id, result
            )));
        }
        Ok(json!({ "chip_job": job.id, "check": result }))
    }

    /// Runs a chip job, again while the encoder (not the card) fails.
    fn chip_job(
        &mut self,
        request: &JobRequest,
    ) -> Result<cardhub_storage::chips::ChipJob, StepError> {
        let mut last = String::new();
        for attempt in 1..=self.chip_attempts {
            if attempt > 1 {
                // A fresh reader session for the retry.
                self.slot = None;
                self.reset_encoder()?;
            }
            let opener = engine::pcsc_opener(&self.encoder);
            let job = match engine::run_job(
                &mut self.slot,
                &opener,
                &self.chip,
                &self.encoder,
                request,
                |_| {},
            ) {
                Ok(job) => job,
                Err(ChipError::Storage(e)) => return Err(e.into()),
                Err(e) => return Err(StepError::Encoder(e.to_string())),
            };
            match job.status {
                ChipJobStatus::Done => return Ok(job),
                ChipJobStatus::Interrupted => {
                    last = job.error.unwrap_or_default();
                    tracing::warn!(printer = %self.name, encoder = %self.encoder, attempt,
                        error = %last, "chip job interrupted at the encoder");
                }
                _ => {
                    return Err(StepError::Card(format!(
                        "chip job {} failed: {}",
                        job.id,
                        job.error.unwrap_or_default()
                    )));
                }
            }
        }
        Err(StepError::Encoder(format!(
            "encoder `{}` failed {} times: {last}",
            self.encoder, self.chip_attempts
        )))
    }

    fn contactless(&mut self, work: &CardWork) -> Result<Value, StepError> {
        self.move_to(Station::Contactless)?;
        let expected = self
            .chip
            .store
            .with_conn(|conn| cardhub_storage::chips::chip_of_card(conn, work.card_id))?
            .map(|c| c.chip_id);
        let opener = engine::pcsc_opener(&self.encoder);
        let read = engine::read_chip_id(&mut self.slot, &opener).map_err(|e| {
            self.slot = None;
            StepError::Encoder(format!("reading the chip at the contactless station: {e}"))
        })?;
        match expected {
            Some(expected) if expected == read => Ok(json!({ "chip_id": read })),
            Some(expected) => Err(StepError::Card(format!(
                "the contactless station reads chip {read}, but card {} was personalised on chip {expected}",
                work.card_id
            ))),
            None => Err(StepError::Card(format!(
                "card {} has no chip bound: it was not personalised",
                work.card_id
            ))),
        }
    }

    fn print(&mut self, work: &CardWork) -> Result<Value, StepError> {
        let data = work.face.as_deref().ok_or_else(|| {
            StepError::Data(format!("task {}: no card face data to print", work.task_id))
        })?;
        let png = self
            .face
            .render_png(data)
            .map_err(|e| StepError::Data(format!("the card face cannot be drawn: {e}")))?;
        let bytes = png.len();
        let printed = self
            .printer()?
            .download_panel(Panel::Colour, &png)
            .and_then(|()| self.printer.as_mut().expect("open").print());
        printed.map_err(|e| self.forget_on_link_loss(e))?;
        Ok(json!({ "face_png_bytes": bytes }))
    }
}
