//! [`CardChannel`]: one card session in a reader, as a job sees it. It
//! sends [`Command`]s through [`transceive`] (GET RESPONSE on `61xx`,
//! re-issue on `6Cxx`), counts APDUs, fetches challenges and adds command
//! MACs through the `Hsm`, and turns every failure into a [`JobFailure`]
//! that says whether the job can resume (the card left, the reader went)
//! or must stop (the card refused, the data is wrong).

use cardhub_devices::reader::{CardReader, ProtocolPreference, ReaderError};
use cardhub_protocols::apdu::{Command, Response, StatusWord, TransceiveError, transceive};
use cardhub_protocols::chip::commands;
use cardhub_protocols::chip::sm::{self, CardAlgorithm};
use cardhub_protocols::crypto::{Hsm, KeyLabel};

/// Why a job stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobFailure {
    /// The card or reader went away; the job resumes when the chip is
    /// presented again.
    #[error("{0}")]
    Interrupted(String),
    /// The card refused, or the data cannot be written; a person must look.
    #[error("{0}")]
    Failed(String),
}

impl JobFailure {
    /// A failure for a card answer that is not what the step needs.
    pub fn refused(step: &str, sw: StatusWord) -> Self {
        JobFailure::Failed(format!("the card refused {step}: {sw}"))
    }
}

impl From<ReaderError> for JobFailure {
    fn from(e: ReaderError) -> Self {
        match e {
            ReaderError::NoCard { .. }
            | ReaderError::CardRemoved { .. }
            | ReaderError::ReaderGone { .. }
            | ReaderError::CardMute { .. }
            | ReaderError::Timeout { .. }
            | ReaderError::ServiceUnavailable
            | ReaderError::ServiceRestarted { .. }
            | ReaderError::NotConnected { .. }
            | ReaderError::LinkLost { .. } => JobFailure::Interrupted(e.to_string()),
            other => JobFailure::Failed(other.to_string()),
        }
    }
}

impl From<cardhub_protocols::crypto::HsmError> for JobFailure {
    fn from(e: cardhub_protocols::crypto::HsmError) -> Self {
        JobFailure::Failed(format!("the key store refused: {e}"))
    }
}

impl From<cardhub_storage::StorageError> for JobFailure {
    fn from(e: cardhub_storage::StorageError) -> Self {
        JobFailure::Failed(format!("storage: {e}"))
    }
}

/// A card session: the reader, the APDU count, the card's cipher.
pub struct CardChannel<'r> {
    reader: &'r mut dyn CardReader,
    apdus: u32,
}

impl<'r> CardChannel<'r> {
    /// Connects to the card in `reader` (T=0 or T=1), or keeps the session
    /// already open with it.
    pub fn open(reader: &'r mut dyn CardReader) -> Result<Self, JobFailure> {
        if !reader.is_connected() {
            reader.connect(ProtocolPreference::Any)?;
        }
        Ok(Self { reader, apdus: 0 })
    }

    /// APDUs exchanged so far (GET RESPONSE and re-issues included).
    pub fn apdus(&self) -> u32 {
        self.apdus
    }

    /// Sends `cmd`; returns the card's answer whatever its status word.
    pub fn exchange(&mut self, cmd: &Command) -> Result<Response, JobFailure> {
        let name = self.reader.name().to_owned();
        let reader = &mut *self.reader;
        let apdus = &mut self.apdus;
        let mut transmit = |bytes: &[u8]| {
            *apdus += 1;
            reader.transmit(bytes)
        };
        transceive(&mut transmit, cmd).map_err(|e| match e {
            TransceiveError::Transport(r) => JobFailure::from(r),
            // vpcd and some readers answer nothing at all when the card
            // leaves during the command.
            TransceiveError::Malformed { len: 0 } => JobFailure::Interrupted(format!(
                "card removed from reader {name} during command {}: no answer came back; put the card back to resume",
                hex::encode_upper(cmd.header())
            )),
            other => JobFailure::Failed(format!(
                "command {}: {other}",
                hex::encode_upper(cmd.header())
            )),
        })
    }

    /// Sends `cmd` and requires `9000`; `step` names it in the error.
    pub fn expect_ok(&mut self, cmd: &Command, step: &str) -> Result<Vec<u8>, JobFailure> {
        let response = self.exchange(cmd)?;
        if response.sw.is_ok() {
            Ok(response.data)
        } else {
            Err(JobFailure::refused(step, response.sw))
        }
    }

    /// GET CHALLENGE: 8 fresh bytes from the card.
    pub fn challenge(&mut self) -> Result<[u8; 8], JobFailure> {
        let cmd = commands::get_challenge();
        let data = self.expect_ok(&cmd, "GET CHALLENGE")?;
        data.try_into().map_err(|d: Vec<u8>| {
            JobFailure::Failed(format!(
                "the card answered GET CHALLENGE with {} bytes instead of 8",
                d.len()
            ))
        })
    }

    /// Fetches a challenge and sends `cmd` with its command MAC under
    /// `key`; returns the answer whatever its status word.
    pub fn exchange_with_mac(
        &mut self,
        hsm: &dyn Hsm,
        alg: CardAlgorithm,
        key: &KeyLabel,
        cmd: Command,
    ) -> Result<Response, JobFailure> {
        let challenge = self.challenge()?;
        let cmd = sm::mac_command(hsm, alg, key, &challenge, cmd)?;
        self.exchange(&cmd)
    }

    /// Ends the job's use of the session. The session stays open for the
    /// next job on the same card; it is dropped when the card leaves.
    pub fn close(self) {}
}
