//! [`RemoteIdReader`]: an ID / permanent-residence card reader on a branch
//! terminal, behind the [`IdCardReader`] trait. The terminal sends the
//! card's raw text block; the hub decodes it here with the same decoder as
//! the serial driver, so every branch reads a card the same way.

use std::time::Duration;

use cardhub_protocols::id_reader::{IdCard, PHOTO_LEN, WltPhoto};
use cardhub_protocols::terminal::{
    CommandErrorCode, CommandOutput, DeviceCommand, IdReaderCommand,
};
use chrono::NaiveDate;

use super::{Links, RemoteAddress, RemoteError, command_name, links, unexpected};
use crate::id_reader::{CardRead, IdCardReader, IdReaderError};

/// How long one ID reader command may take end to end.
const TIMEOUT: Duration = Duration::from_secs(10);

/// An ID card reader on a branch terminal.
pub struct RemoteIdReader {
    address: RemoteAddress,
    name: String,
    links: &'static Links,
}

impl RemoteIdReader {
    /// The reader at `address` (nothing is sent until first used).
    pub fn new(address: RemoteAddress) -> Self {
        Self::with_links(address, links())
    }

    /// The reader through `links` (tests use their own).
    pub fn with_links(address: RemoteAddress, links: &'static Links) -> Self {
        Self {
            name: address.to_string(),
            address,
            links,
        }
    }

    fn call(&mut self, command: IdReaderCommand) -> Result<CommandOutput, IdReaderError> {
        let command = DeviceCommand::IdReader(command);
        let name = command_name(&command);
        self.links
            .request(&self.address, command, TIMEOUT)
            .map_err(|e| self.error(e, name))
    }

    fn done(&mut self, command: IdReaderCommand) -> Result<(), IdReaderError> {
        let probe = DeviceCommand::IdReader(command.clone());
        match self.call(command)? {
            CommandOutput::Done {} => Ok(()),
            other => Err(IdReaderError::Unexpected {
                reader: self.name.clone(),
                command: command_name(&probe),
                reason: unexpected(&probe, &other).to_string(),
            }),
        }
    }

    fn error(&self, e: RemoteError, command: &'static str) -> IdReaderError {
        let reader = self.name.clone();
        match e {
            RemoteError::Command(c) => match c.code {
                CommandErrorCode::NoCard => IdReaderError::NoCard { reader },
                CommandErrorCode::CardRemoved => IdReaderError::ReadFailed { reader },
                CommandErrorCode::CardMute => IdReaderError::SelectFailed { reader },
                CommandErrorCode::Timeout => IdReaderError::NoReply {
                    reader,
                    command,
                    waited: TIMEOUT,
                    received: 0,
                },
                CommandErrorCode::DeviceOffline
                | CommandErrorCode::UnknownDevice
                | CommandErrorCode::LinkLost => IdReaderError::Disconnected {
                    reader,
                    command,
                    reason: c.message,
                },
                _ => IdReaderError::Unexpected {
                    reader,
                    command,
                    reason: c.message,
                },
            },
            other => IdReaderError::Disconnected {
                reader,
                command,
                reason: other.to_string(),
            },
        }
    }
}

impl IdCardReader for RemoteIdReader {
    fn name(&self) -> &str {
        &self.name
    }

    fn find_card(&mut self) -> Result<(), IdReaderError> {
        self.done(IdReaderCommand::FindCard {})
    }

    fn select_card(&mut self) -> Result<(), IdReaderError> {
        self.done(IdReaderCommand::SelectCard {})
    }

    fn read_card(&mut self, today: NaiveDate) -> Result<CardRead, IdReaderError> {
        let probe = DeviceCommand::IdReader(IdReaderCommand::ReadCard {});
        match self.call(IdReaderCommand::ReadCard {})? {
            CommandOutput::IdCard {
                text,
                photo,
                fingerprints,
            } => {
                let card = IdCard::decode(&text.0).map_err(|source| IdReaderError::Text {
                    reader: self.name.clone(),
                    source,
                })?;
                let photo =
                    WltPhoto::from_bytes(&photo.0).ok_or_else(|| IdReaderError::Unexpected {
                        reader: self.name.clone(),
                        command: "read_card",
                        reason: format!(
                            "the photo block is {} bytes, not {PHOTO_LEN}",
                            photo.0.len()
                        ),
                    })?;
                let number = card.check_number(today);
                Ok(CardRead {
                    card,
                    number,
                    photo,
                    fingerprints: fingerprints.map(|f| f.0),
                })
            }
            other => Err(IdReaderError::Unexpected {
                reader: self.name.clone(),
                command: "read_card",
                reason: unexpected(&probe, &other).to_string(),
            }),
        }
    }

    fn sam_status(&mut self) -> Result<(), IdReaderError> {
        self.done(IdReaderCommand::SamStatus {})
    }
}
