//! Where the simulated printer keeps things on disk ([`Layout`]) and the
//! state file ([`MachineState`] as JSON, replaced whole with
//! [`crate::files::replace`]).
//!
//! ```text
//! <state-dir>/printer.json              the printer: hopper, ribbon, card inside, fault, counters
//! <state-dir>/card-in-printer.json      the chip of the card inside, saved after every change
//! <out>/<seq>-<chip id>-face.png        each face printed (unless faces are off)
//! <out>/<seq>-<chip id>.card.json       each card ejected (Se, Seb): its chip's final memory
//! <out>/reject/<seq>-<chip id>.card.json  each card rejected (Ser) or taken out jammed
//! ```
//!
//! `<seq>` is the card's number in the printer's life, six digits.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::machine::{Exit, MachineState, STATE_FORMAT};

/// Why the printer's files could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}; check the path and its directory's permissions")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The state file is not one this simulator wrote.
    #[error(
        "printer state file {path} is not valid: {source}; fix it or delete the state directory to start a new printer"
    )]
    Parse {
        /// The state file.
        path: PathBuf,
        /// The decoding failure.
        #[source]
        source: serde_json::Error,
    },
    /// The state file has another layout version.
    #[error(
        "printer state file {path} has layout version {found}, this simulator reads {STATE_FORMAT}: delete the state directory to start a new printer"
    )]
    Version {
        /// The state file.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
}

/// The simulator's directories.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The printer's own state.
    pub state_dir: PathBuf,
    /// What comes out: faces and finished cards.
    pub out_dir: PathBuf,
}

impl Layout {
    /// Creates both directories (and `<out>/reject`).
    pub fn create(&self) -> Result<(), StoreError> {
        for dir in [
            self.state_dir.clone(),
            self.out_dir.clone(),
            self.out_dir.join("reject"),
        ] {
            fs::create_dir_all(&dir).map_err(|source| StoreError::Io { path: dir, source })?;
        }
        Ok(())
    }

    /// The state file.
    pub fn state_file(&self) -> PathBuf {
        self.state_dir.join("printer.json")
    }

    /// The memory of the chip of the card inside.
    pub fn card_file(&self) -> PathBuf {
        self.state_dir.join("card-in-printer.json")
    }

    /// Where the face of card `seq` goes.
    pub fn face_file(&self, seq: u64, chip_id: &str) -> PathBuf {
        self.out_dir.join(format!("{seq:06}-{chip_id}-face.png"))
    }

    /// Where the memory of card `seq` goes when it leaves by `exit`.
    pub fn finished_card_file(&self, seq: u64, chip_id: &str, exit: Exit) -> PathBuf {
        let name = format!("{seq:06}-{chip_id}.card.json");
        match exit {
            Exit::Output | Exit::Bezel => self.out_dir.join(name),
            Exit::Reject | Exit::Removed => self.out_dir.join("reject").join(name),
        }
    }

    /// Reads the state file; `None` when there is none yet.
    pub fn load_state(&self) -> Result<Option<MachineState>, StoreError> {
        let path = self.state_file();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StoreError::Io { path, source }),
        };
        let state: MachineState =
            serde_json::from_str(&text).map_err(|source| StoreError::Parse {
                path: path.clone(),
                source,
            })?;
        if state.format != STATE_FORMAT {
            return Err(StoreError::Version {
                path,
                found: state.format,
            });
        }
        Ok(Some(state))
    }

    /// Writes the state file atomically.
    pub fn save_state(&self, state: &MachineState) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(state).expect("the printer state serialises to JSON");
        write_atomic(&self.state_file(), &json)
    }
}

/// Writes `bytes` to `path` with [`crate::files::replace`]: a killed
/// simulator leaves the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    crate::files::replace(path, bytes).map_err(|source| StoreError::Io {
        path: path.to_owned(),
        source,
    })
}
