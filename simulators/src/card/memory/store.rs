//! The card file: [`CardMemory`] as pretty JSON on disk, replaced whole
//! ([`crate::files::replace`]) so a simulator killed mid-write leaves the
//! previous card intact, never half a card.

use std::fs;
use std::path::{Path, PathBuf};

use super::{CardMemory, FORMAT_VERSION};

/// Why a card file could not be created, read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The card identification code is not 16 hex characters.
    #[error(
        "card identification code `{0}` is not 16 hex characters (8 bytes): give one like 1100000012345678"
    )]
    CardIdCode(String),
    /// The file could not be read or written.
    #[error("card file {path}: {source}; check the path and its directory's permissions")]
    Io {
        /// The card file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a card file this simulator understands.
    #[error(
        "card file {path} is not a valid card: {source}; fix it by hand or delete it and start again with --blank"
    )]
    Parse {
        /// The card file.
        path: PathBuf,
        /// The decoding failure.
        #[source]
        source: serde_json::Error,
    },
    /// The file was written by another layout version.
    #[error(
        "card file {path} has layout version {found}, this simulator reads version {FORMAT_VERSION}: recreate it with --blank"
    )]
    Version {
        /// The card file.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
}

impl CardMemory {
    /// Reads a card file.
    pub fn load(path: &Path) -> Result<Self, MemoryError> {
        let text = fs::read_to_string(path).map_err(|source| MemoryError::Io {
            path: path.to_owned(),
            source,
        })?;
        let memory: CardMemory =
            serde_json::from_str(&text).map_err(|source| MemoryError::Parse {
                path: path.to_owned(),
                source,
            })?;
        if memory.format != FORMAT_VERSION {
            return Err(MemoryError::Version {
                path: path.to_owned(),
                found: memory.format,
            });
        }
        Ok(memory)
    }

    /// Writes the card file with [`crate::files::replace`]: a reader (or
    /// the next start) sees the old memory or the new, never half of one.
    /// The card saves after every command that changed it, before it
    /// answers, so what it acknowledged outlives the simulator process.
    pub fn save(&self, path: &Path) -> Result<(), MemoryError> {
        let json = serde_json::to_vec_pretty(self).expect("card memory always serialises to JSON");
        crate::files::replace(path, &json).map_err(|source| MemoryError::Io {
            path: path.to_owned(),
            source,
        })
    }
}
