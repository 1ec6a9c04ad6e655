//! An ID card reader on the terminal: the serial driver
//! ([`SerialIdReader`]) behind the link's `id_reader` commands. Probed by
//! opening its line and asking the SAM's self-test; while idle, asked
//! every `poll_ms` whether a card lies on it (find card), which gives the
//! hub `card_present` / `card_removed`; reopened every
//! [`REOPEN_EVERY`] while it cannot be reached.
//!
//! A read answers the raw blocks (`id_card`): the text block re-encoded
//! from the decoded card ([`IdCard::encode`], the same 256 bytes the
//! reader sent for the three card types the driver decodes), the WLT photo
//! as read, and the fingerprints when configured. The hub decodes and
//! checks them.

use std::time::Duration;

use cardhub_devices::id_reader::{self, IdCardReader, IdReaderConfig, SerialIdReader};
use cardhub_devices::printer::SerialTransport;
use cardhub_protocols::terminal::{
    CommandError, CommandErrorCode, CommandOutput, CommandResult, DeviceCommand, DeviceEvent,
    DeviceState, IdReaderCommand,
};

use super::{Driver, Health, id_reader_error, unsupported};

/// How often a reader that cannot be reached is opened again: an
/// operator plugging the cable back sees it come back within seconds.
pub const REOPEN_EVERY: Duration = Duration::from_secs(2);

/// The terminal's ID card reader.
pub struct IdReaderDriver {
    name: String,
    config: IdReaderConfig,
    reader: Option<SerialIdReader<SerialTransport>>,
    poll: Option<Duration>,
    /// Whether a card was on the reader at the last look (`None`: not
    /// known, as after start or a lost line).
    card: Option<bool>,
    health: Health,
}

impl IdReaderDriver {
    /// A reader on the line `config` names, asked for a card every `poll`.
    pub fn new(name: &str, config: IdReaderConfig, poll: Option<Duration>) -> Self {
        Self {
            name: name.to_owned(),
            config,
            reader: None,
            poll,
            card: None,
            health: Health::offline("not opened yet"),
        }
    }

    /// Opens the line and checks the SAM.
    fn open(&mut self) {
        let mut reader = match id_reader::open(&self.name, &self.config) {
            Ok(reader) => reader,
            Err(e) => {
                self.health = Health::offline(e.to_string());
                return;
            }
        };
        self.health = match reader.sam_status() {
            Ok(()) => Health::ready(),
            Err(e) if e.is_link_problem() => Health::offline(e.to_string()),
            Err(e) => Health::fault(e.to_string()),
        };
        if self.health.state != DeviceState::Offline {
            self.reader = Some(reader);
        }
    }

    /// Notes how a command went.
    fn observe(&mut self, error: Option<&id_reader::IdReaderError>) {
        self.health = match error {
            None => Health::ready(),
            Some(e @ id_reader::IdReaderError::Disconnected { .. }) => {
                self.reader = None;
                self.card = None;
                Health::offline(e.to_string())
            }
            Some(e) if e.is_link_problem() => Health::fault(e.to_string()),
            Some(
                e @ id_reader::IdReaderError::Refused {
                    status: id_reader::Status::SamSelfTestFailed,
                    ..
                },
            ) => Health::fault(e.to_string()),
            // The card's doing (none, lifted, unreadable): the reader works.
            Some(_) => Health::ready(),
        };
    }

    fn execute(&mut self, command: &IdReaderCommand) -> Result<CommandOutput, CommandError> {
        if self.reader.is_none() {
            self.open();
        }
        let Some(reader) = self.reader.as_mut() else {
            return Err(CommandError::new(
                CommandErrorCode::DeviceOffline,
                self.health
                    .detail
                    .clone()
                    .unwrap_or_else(|| format!("ID reader {} cannot be opened", self.name)),
            ));
        };
        let outcome = match command {
            IdReaderCommand::FindCard {} => reader.find_card().map(|()| CommandOutput::Done {}),
            IdReaderCommand::SelectCard {} => reader.select_card().map(|()| CommandOutput::Done {}),
            IdReaderCommand::SamStatus {} => reader.sam_status().map(|()| CommandOutput::Done {}),
            IdReaderCommand::ReadCard {} => {
                return match reader.read_card(crate::time::shanghai_today()) {
                    Ok(read) => {
                        self.observe(None);
                        read_output(&self.name, read)
                    }
                    Err(e) => {
                        self.observe(Some(&e));
                        Err(id_reader_error(&e))
                    }
                };
            }
            _ => {
                return Err(CommandError::new(
                    CommandErrorCode::Unsupported,
                    format!(
                        "{command:?} is not an ID reader command this terminal knows: update cardhub on the branch PC"
                    ),
                ));
            }
        };
        self.observe(outcome.as_ref().err());
        outcome.map_err(|e| id_reader_error(&e))
    }
}

/// The `id_card` answer for a read.
fn read_output(name: &str, read: id_reader::CardRead) -> Result<CommandOutput, CommandError> {
    let text = read.card.encode().map_err(|e| {
        CommandError::new(
            CommandErrorCode::BadData,
            format!("ID reader {name} read a card whose text this terminal cannot pass on: {e}"),
        )
    })?;
    Ok(CommandOutput::IdCard {
        text: text.to_vec().into(),
        photo: read.photo.as_bytes().to_vec().into(),
        fingerprints: read.fingerprints.map(Into::into),
    })
}

impl Driver for IdReaderDriver {
    fn probe(&mut self) -> Health {
        self.open();
        self.health.clone()
    }

    fn run(&mut self, command: DeviceCommand) -> CommandResult {
        match &command {
            DeviceCommand::IdReader(c) => match self.execute(c) {
                Ok(output) => CommandResult::Ok(output),
                Err(error) => CommandResult::Error(error),
            },
            _ => unsupported(&self.name, &command),
        }
    }

    fn health(&self) -> Health {
        self.health.clone()
    }

    fn idle_every(&self) -> Option<Duration> {
        match (&self.reader, self.poll) {
            (None, poll) => Some(poll.map_or(REOPEN_EVERY, |p| p.max(REOPEN_EVERY))),
            (Some(_), poll) => poll,
        }
    }

    fn idle(&mut self) -> Vec<DeviceEvent> {
        if self.reader.is_none() {
            self.open();
        }
        let (Some(reader), Some(_)) = (self.reader.as_mut(), self.poll) else {
            return Vec::new();
        };
        let now = match reader.find_card() {
            Ok(()) => Some(true),
            Err(e) if e.is_no_card() => Some(false),
            Err(e) => {
                self.observe(Some(&e));
                return Vec::new();
            }
        };
        self.health = Health::ready();
        let before = std::mem::replace(&mut self.card, now);
        match (before, now) {
            (Some(false) | None, Some(true)) => vec![DeviceEvent::CardPresent { atr: None }],
            (Some(true), Some(false)) => vec![DeviceEvent::CardRemoved {}],
            _ => Vec::new(),
        }
    }
}
