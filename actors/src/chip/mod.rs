//! Chips in card readers: personalisation (个人化), the card check (验卡)
//! and PIN operations, driven by actors.
//!
//! ```text
//! DeviceSupervisor
//! ├─ reader-manager ── ReaderMonitor thread (SCardGetStatusChange)
//! ├─ reader:<name>  ── ReaderActor: one job at a time on its card
//! └─ reader:<name>  ...
//! ```
//!
//! - [`manager`]: [`ReaderManager`] follows readers as they come and go and
//!   routes requests to them.
//! - [`reader`]: [`ReaderActor`] owns one reader and runs jobs on its card.
//! - [`engine`]: the jobs themselves, as plain blocking code over a
//!   [`cardhub_devices::reader::CardReader`]: the personalisation script
//!   (resumed from what the card says), the card check, PIN operations.
//! - `storage_lane`: a job's storage work that runs beside its APDUs.
//! - [`config`]: the `[chip]` settings.
//!
//! Every job is recorded in storage (`cardhub_storage::chips`) before its
//! first APDU that changes the card, and audited at its start and end.

mod channel;
pub mod config;
pub mod engine;
pub mod manager;
pub mod reader;
mod storage_lane;

use cardhub_protocols::chip::data::CardType;
use cardhub_protocols::chip::sm::CardAlgorithm;
use cardhub_protocols::chip::text::SubstitutionTable;
use cardhub_protocols::crypto::{Hsm, KeyKind, labels};
use cardhub_storage::chips::{ChipJob, ChipJobKind};
use cardhub_storage::{Actor, StorageError, Store};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

pub use channel::JobFailure;
pub use config::ChipConfig;
pub use manager::{BranchReaderEvent, ListReaders, ReaderManager, RunJob};
pub use reader::{ReaderActor, ReaderInfo};

/// The parsed `[chip]` settings and the handles every job needs.
pub struct ChipRuntime {
    /// The settings as written.
    pub config: ChipConfig,
    /// The database (its `Hsm` holds the chip master keys).
    pub store: Store,
    /// The cipher of the chips' keys.
    pub algorithm: CardAlgorithm,
    /// 卡类别 written to EF05.
    pub card_type: CardType,
    /// 初始化机构编号.
    pub institution: [u8; 12],
    /// The centre's substitution table for rare characters.
    pub substitutions: SubstitutionTable,
    /// The PIN set at personalisation.
    pub initial_pin: Zeroizing<String>,
    /// Threads for jobs' storage work, kept between jobs.
    lanes: storage_lane::StorageLanes,
}

impl std::fmt::Debug for ChipRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChipRuntime")
            .field("algorithm", &self.algorithm)
            .field("card_type", &self.card_type)
            .field("substitutions", &self.substitutions.len())
            .finish_non_exhaustive()
    }
}

impl ChipRuntime {
    /// Checks the `[chip]` settings and that the key store holds the chip
    /// master keys for the configured cipher.
    pub fn new(config: ChipConfig, store: Store) -> Result<Self, ChipConfigError> {
        let algorithm = match config.algorithm.as_str() {
            "sm4" => CardAlgorithm::Sm4,
            "3des" => CardAlgorithm::Tdes,
            other => {
                return Err(ChipConfigError::Invalid {
                    key: "chip.algorithm",
                    reason: format!("`{other}` is not a chip cipher: use `sm4` or `3des`"),
                });
            }
        };
        let card_type = match config.card_type.as_bytes() {
            [byte] => CardType::from_byte(*byte),
            _ => None,
        }
        .ok_or_else(|| ChipConfigError::Invalid {
            key: "chip.card_type",
            reason: format!(
                "`{}` is not a card type: use 1 (social security card), 2 (residence-permit B card) or 3 (senior card)",
                config.card_type
            ),
        })?;
        let institution = hex::decode(&config.institution)
            .ok()
            .and_then(|b| <[u8; 12]>::try_from(b).ok())
            .ok_or_else(|| ChipConfigError::Invalid {
                key: "chip.institution",
                reason: format!(
                    "`{}` is not 12 bytes of hex (24 hex digits)",
                    config.institution
                ),
            })?;
        cardhub_protocols::chip::pin::encode_pin(&config.initial_pin).map_err(|e| {
            ChipConfigError::Invalid {
                key: "chip.initial_pin",
                reason: e.to_string(),
            }
        })?;
        let substitutions = SubstitutionTable::from_config(&config.substitutions).map_err(|e| {
            ChipConfigError::Invalid {
                key: "chip.substitutions",
                reason: e.to_string(),
            }
        })?;
        let kind = match algorithm {
            CardAlgorithm::Sm4 => KeyKind::Sm4,
            CardAlgorithm::Tdes => KeyKind::Tdes,
        };
        let hsm: &dyn Hsm = store.hsm().as_ref();
        let missing: Vec<&str> = labels::CHIP_MASTERS
            .iter()
            .copied()
            .filter(|label| hsm.key_kind(&(*label).into()) != Some(kind))
            .collect();
        if !missing.is_empty() {
            return Err(ChipConfigError::MissingKeys {
                kind,
                labels: missing.join(", "),
            });
        }
        Ok(Self {
            initial_pin: Zeroizing::new(config.initial_pin.clone()),
            algorithm,
            card_type,
            institution,
            substitutions,
            store,
            config,
            lanes: storage_lane::StorageLanes::default(),
        })
    }
}

/// A `[chip]` setting the hub cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum ChipConfigError {
    /// A value is out of range.
    #[error("config key `{key}`: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// The key store lacks chip master keys.
    #[error(
        "the key store has no {kind:?} key for {labels}: add them to the key file (`crypto.key_file`), or set `chip.enabled = false`"
    )]
    MissingKeys {
        /// The kind needed.
        kind: KeyKind,
        /// The labels missing, comma-separated.
        labels: String,
    },
}

/// A PIN operation on the card in a reader.
#[derive(Clone, Debug)]
pub enum PinOperation {
    /// 修改密码: the holder changes the PIN (the old one is checked by the
    /// card).
    Change {
        /// The current PIN.
        old: Zeroizing<String>,
        /// The new PIN.
        new: Zeroizing<String>,
    },
    /// 密码重置: a new PIN without the old one (the holder proved who they
    /// are at the counter); also restores the retry counter.
    Reset {
        /// The new PIN.
        new: Zeroizing<String>,
    },
    /// 解锁: restores the retry counter, keeping the PIN.
    Unblock,
}

impl PinOperation {
    fn kind(&self) -> ChipJobKind {
        match self {
            Self::Change { .. } => ChipJobKind::PinChange,
            Self::Reset { .. } => ChipJobKind::PinReset,
            Self::Unblock => ChipJobKind::PinUnblock,
        }
    }
}

/// What a job is asked to do.
#[derive(Clone, Debug)]
pub enum JobRequest {
    /// Format the chip and write the card's data to it.
    Personalise {
        /// The card.
        card_id: i64,
        /// Who asks.
        actor: Actor,
    },
    /// Read the chip back and compare it with the database.
    Check {
        /// The card.
        card_id: i64,
        /// For a permanent-residence holder: the Chinese name on the
        /// permanent-residence card presented at the counter, compared with
        /// the permanent-residence record (the chip carries the English
        /// name only).
        permit_chinese_name: Option<String>,
        /// Who asks.
        actor: Actor,
    },
    /// A PIN operation.
    Pin {
        /// Which.
        operation: PinOperation,
        /// Who asks.
        actor: Actor,
    },
    /// Take an interrupted job up again.
    Resume {
        /// The job.
        job_id: i64,
        /// Who resumes it.
        actor: Actor,
    },
}

impl JobRequest {
    /// Who asks.
    pub fn actor(&self) -> &Actor {
        match self {
            Self::Personalise { actor, .. }
            | Self::Check { actor, .. }
            | Self::Pin { actor, .. }
            | Self::Resume { actor, .. } => actor,
        }
    }
}

/// A started job: the job as first recorded, and the job as finally
/// recorded once it ends.
#[derive(Debug)]
pub struct JobTicket {
    /// The job, `running`.
    pub job: ChipJob,
    /// Receives the job when it is `done`, `failed` or `interrupted`.
    pub done: oneshot::Receiver<ChipJob>,
}

/// Why a job could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ChipError {
    /// No such reader is driven.
    #[error("no reader called `{reader}` is connected; connected readers: {}", list(.known))]
    UnknownReader {
        /// The name asked for.
        reader: String,
        /// The readers there are.
        known: Vec<String>,
    },
    /// Readers cannot be reached at all.
    #[error("card readers are not available: {0}")]
    ReadersUnavailable(String),
    /// The reader is running another job.
    #[error("reader `{reader}` is busy with chip job {job}: wait for it to finish")]
    ReaderBusy {
        /// The reader.
        reader: String,
        /// The job running (0 while it is being recorded).
        job: i64,
    },
    /// The reader's actor stopped (the reader was unplugged).
    #[error("reader `{reader}` stopped while the request was on its way: pick a reader again")]
    ReaderStopped {
        /// The reader.
        reader: String,
    },
    /// Chip work is switched off in config.
    #[error("chip work is switched off (`chip.enabled = false`)")]
    Disabled,
    /// Storage refused (unknown card, job not interrupted ...).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}
