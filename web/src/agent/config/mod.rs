//! The branch terminal's configuration: one TOML file naming the terminal,
//! its key and the devices attached to the branch PC. `cardhub terminal
//! --config FILE` reads it; `config/terminal.example.toml` shows every
//! key. It is not the hub's configuration (`config/default.toml`): a
//! branch PC runs no database and no HTTP server.
//!
//! ```toml
//! [terminal]
//! id = "T-0101-01"                 # registered at the centre (cardhub terminals register)
//! key_file = "terminal-key.toml"   # the SM2 key, made with --new-key
//!
//! [link]                           # optional; the defaults suit a branch line
//! connect_timeout_secs = 10
//! handshake_timeout_secs = 15
//! reconnect_initial_ms = 500
//! reconnect_max_secs = 30
//! event_buffer = 1024
//!
//! [log]                            # optional
//! filter = "info"
//! format = "text"
//!
//! [[id_readers]]
//! name = "id-reader"
//! port = "/dev/ttyUSB0"            # the reader's serial device
//! baud = 115200
//! fingerprints = false
//! poll_ms = 500                    # card placed / lifted events; 0: none
//!
//! [[cameras]]
//! name = "camera"
//! address = "usb://04a9:32d9"      # usb://VID:PID, usb:auto, or tcp://HOST:PORT (simulator)
//!
//! [[card_readers]]
//! name = "card-reader"
//! reader = "pcsc:auto"             # or the PC/SC reader's name as pcscd lists it
//!
//! [[printers]]
//! name = "printer"
//! address = "tcp://10.1.2.3:9100"  # or serial:///dev/ttyUSB1?baud=115200
//! status_secs = 5
//! ```
//!
//! Relative paths (`key_file`) are taken from the configuration file's
//! directory. Unknown keys are refused, and every error names the file,
//! the key and what to write instead. Device names become
//! `terminal://TERMINAL/NAME` at the hub, so they are letters, digits and
//! `-_.`, unique on the terminal. A `pcsc:auto` entry makes one device
//! per PC/SC reader, named `NAME-1`, `NAME-2`... in the order pcscd lists
//! them (a reader plugged in again gets its old name back).
//!
//! Layout: this file (the sections, [`Settings`], [`ConfigError`]);
//! `address` (device names and the address forms); `tests`.
//! Neighbours: [`super::discovery`] turns the entries into devices;
//! [`super::key`] reads `key_file`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cardhub_devices::id_reader::{DEFAULT_BAUD, IdReaderConfig, Timeouts};
use serde::Deserialize;

use crate::config::{LogConfig, LogFormat};

mod address;
#[cfg(test)]
mod tests;

pub use address::{CameraAddress, DeviceName, LocalPrinterAddress, ReaderChoice, valid_name};

/// The key file's name when the configuration does not give one.
pub const DEFAULT_KEY_FILE: &str = "terminal-key.toml";

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalConfig {
    /// `[terminal]`: who this terminal is.
    #[serde(default)]
    pub terminal: TerminalSection,
    /// `[link]`: the WebSocket to the hub.
    #[serde(default)]
    pub link: LinkSettings,
    /// `[log]`: the log on standard error.
    #[serde(default)]
    pub log: LogSettings,
    /// `[[id_readers]]`: ID / permanent-residence card readers.
    #[serde(default)]
    pub id_readers: Vec<IdReaderEntry>,
    /// `[[cameras]]`: PTP cameras.
    #[serde(default)]
    pub cameras: Vec<CameraEntry>,
    /// `[[card_readers]]`: PC/SC smart-card readers.
    #[serde(default)]
    pub card_readers: Vec<CardReaderEntry>,
    /// `[[printers]]`: card printers.
    #[serde(default)]
    pub printers: Vec<PrinterEntry>,
}

/// `[terminal]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalSection {
    /// The terminal's id as registered at the centre; `--id` overrides it.
    #[serde(default)]
    pub id: Option<String>,
    /// The terminal's SM2 key in cardhub's key file format (one `sm2` key
    /// labelled `terminal`); `--new-key` makes it. Default
    /// `terminal-key.toml` beside the configuration file.
    #[serde(default = "default_key_file")]
    pub key_file: PathBuf,
}

impl Default for TerminalSection {
    fn default() -> Self {
        Self {
            id: None,
            key_file: default_key_file(),
        }
    }
}

fn default_key_file() -> PathBuf {
    PathBuf::from(DEFAULT_KEY_FILE)
}

/// `[link]`: timing of the WebSocket to the hub. Heartbeats and the
/// silence timeout come from the hub's `welcome`, not from here.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkSettings {
    /// Seconds the TCP connection and WebSocket upgrade may take: 10.
    pub connect_timeout_secs: u64,
    /// Seconds from the upgrade to the hub's `welcome`: 15 (a round trip,
    /// one signature, and the hub's registration look-up).
    pub handshake_timeout_secs: u64,
    /// The first reconnection delay's cap, in ms: 500. It doubles with each
    /// failed attempt, with jitter.
    pub reconnect_initial_ms: u64,
    /// The largest reconnection delay, in seconds: 30. After an
    /// `auth_failed` the terminal waits this long every time.
    pub reconnect_max_secs: u64,
    /// Device events kept while the hub has not acknowledged them: 1024.
    /// Beyond that new events are dropped (and logged); the hub still gets
    /// every device's state in the `device_list` of the next connection.
    pub event_buffer: usize,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            connect_timeout_secs: 10,
            handshake_timeout_secs: 15,
            reconnect_initial_ms: 500,
            reconnect_max_secs: 30,
            event_buffer: 1024,
        }
    }
}

impl LinkSettings {
    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }
}

/// `[log]`: what goes to standard error (the one-line state reports go to
/// standard output whatever this says).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// tracing filter, `RUST_LOG` syntax (`RUST_LOG` wins): `info`.
    pub filter: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            filter: "info".to_owned(),
            format: LogFormat::Text,
        }
    }
}

impl LogSettings {
    /// The hub's log settings type, which does the initialisation.
    pub fn to_log_config(&self) -> LogConfig {
        LogConfig {
            filter: self.filter.clone(),
            format: self.format,
        }
    }
}

/// `[[id_readers]]`: a GA 467-style reader on a serial line.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdReaderEntry {
    /// The device's name on the terminal.
    pub name: DeviceName,
    /// The serial device (`/dev/ttyUSB0`, or a simulator's pty).
    pub port: PathBuf,
    /// Baud rate: 115200.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Also read fingerprints (command `30 10`): false.
    #[serde(default)]
    pub fingerprints: bool,
    /// How often an idle reader is asked whether a card lies on it, in ms,
    /// to report `card_present` / `card_removed`: 500. 0 turns it off.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
}

fn default_baud() -> u32 {
    DEFAULT_BAUD
}

fn default_poll_ms() -> u64 {
    500
}

impl IdReaderEntry {
    /// The driver's configuration.
    pub fn driver_config(&self) -> IdReaderConfig {
        IdReaderConfig {
            device: self.port.clone(),
            baud: self.baud,
            timeouts: Timeouts::default(),
            fingerprints: self.fingerprints,
        }
    }
}

/// `[[cameras]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraEntry {
    /// The device's name on the terminal.
    pub name: DeviceName,
    /// Where the camera is.
    pub address: CameraAddress,
}

/// `[[card_readers]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardReaderEntry {
    /// The device's name on the terminal (with `pcsc:auto`, the stem of
    /// the names: `NAME-1`, `NAME-2`...).
    pub name: DeviceName,
    /// Which PC/SC reader.
    pub reader: ReaderChoice,
}

/// `[[printers]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterEntry {
    /// The device's name on the terminal.
    pub name: DeviceName,
    /// `tcp://HOST:PORT` or `serial:///DEVICE?baud=N`.
    pub address: LocalPrinterAddress,
    /// Seconds an idle printer is left before its status is asked again
    /// (a jam or a cut cable shows as a state change): 5.
    #[serde(default = "default_status_secs")]
    pub status_secs: u64,
}

fn default_status_secs() -> u64 {
    5
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error(
        "cannot read the terminal configuration {path}: {source}; check the path given with --config"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key is unknown or its value is invalid.
    #[error("{path}: key `{key}`: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// The dotted key path (`cameras[0].address`).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two devices have the same name.
    #[error(
        "{path}: device name `{name}` is used twice: give every device its own name (the hub addresses devices by name)"
    )]
    DuplicateName {
        /// The file.
        path: PathBuf,
        /// The name.
        name: String,
    },
    /// Two `[[card_readers]]` name the same PC/SC reader, or two say
    /// `pcsc:auto`.
    #[error(
        "{path}: PC/SC reader `{reader}` is taken by two [[card_readers]] entries: a reader has one driver; keep one entry"
    )]
    DuplicateReader {
        /// The file.
        path: PathBuf,
        /// The reader (`pcsc:auto` for two automatic entries).
        reader: String,
    },
    /// Neither `[terminal] id` nor `--id`.
    #[error(
        "no terminal id: set `id` in the [terminal] section of the configuration, or pass --id (the id registered at the centre)"
    )]
    NoTerminalId,
    /// The terminal id has characters it may not have.
    #[error(
        "terminal id `{0}`: use 1 to 64 letters, digits, `-`, `_` or `.`, as registered at the centre"
    )]
    BadTerminalId(String),
}

/// The configuration resolved for running: the file's entries checked, the
/// terminal id chosen, paths made absolute.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The terminal's id.
    pub terminal_id: String,
    /// The key file.
    pub key_file: PathBuf,
    /// Link timing.
    pub link: LinkSettings,
    /// Logging.
    pub log: LogSettings,
    /// The device entries.
    pub devices: DeviceEntries,
}

/// The device entries of the file.
#[derive(Clone, Debug, Default)]
pub struct DeviceEntries {
    /// ID card readers.
    pub id_readers: Vec<IdReaderEntry>,
    /// Cameras.
    pub cameras: Vec<CameraEntry>,
    /// Smart-card readers.
    pub card_readers: Vec<CardReaderEntry>,
    /// Printers.
    pub printers: Vec<PrinterEntry>,
}

impl DeviceEntries {
    /// Whether no device is configured.
    pub fn is_empty(&self) -> bool {
        self.id_readers.is_empty()
            && self.cameras.is_empty()
            && self.card_readers.is_empty()
            && self.printers.is_empty()
    }
}

impl TerminalConfig {
    /// Parses `text`, read from `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let table = text
            .parse::<toml::Table>()
            .map_err(|e| ConfigError::Syntax {
                path: path.to_owned(),
                message: e.to_string().trim_end().to_owned(),
            })?;
        serde_path_to_error::deserialize::<_, Self>(toml::Value::Table(table)).map_err(|err| {
            ConfigError::Key {
                path: path.to_owned(),
                key: err.path().to_string(),
                reason: err.into_inner().to_string(),
            }
        })
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Checks what one entry cannot check alone and chooses the terminal
    /// id (`id_override`, from `--id`, before the file's). `path` is the
    /// file's (relative paths are taken from its directory; `None`: no
    /// file, the working directory).
    pub fn resolve(
        self,
        path: Option<&Path>,
        id_override: Option<&str>,
    ) -> Result<Settings, ConfigError> {
        let shown = path.map_or_else(|| PathBuf::from("(no --config)"), Path::to_owned);
        let terminal_id = id_override
            .map(str::to_owned)
            .or(self.terminal.id)
            .ok_or(ConfigError::NoTerminalId)?;
        if !valid_name(&terminal_id) {
            return Err(ConfigError::BadTerminalId(terminal_id));
        }
        let mut names = std::collections::BTreeSet::new();
        let all_names = self
            .id_readers
            .iter()
            .map(|e| &e.name)
            .chain(self.cameras.iter().map(|e| &e.name))
            .chain(self.card_readers.iter().map(|e| &e.name))
            .chain(self.printers.iter().map(|e| &e.name));
        for name in all_names {
            if !names.insert(name.as_str()) {
                return Err(ConfigError::DuplicateName {
                    path: shown,
                    name: name.to_string(),
                });
            }
        }
        let mut readers = std::collections::BTreeSet::new();
        for entry in &self.card_readers {
            let reader = match &entry.reader {
                ReaderChoice::Auto => "pcsc:auto",
                ReaderChoice::Named(name) => name.as_str(),
            };
            if !readers.insert(reader) {
                return Err(ConfigError::DuplicateReader {
                    path: shown,
                    reader: reader.to_owned(),
                });
            }
        }
        let base = path
            .and_then(Path::parent)
            .map(Path::to_owned)
            .unwrap_or_default();
        let key_file = if self.terminal.key_file.is_absolute() {
            self.terminal.key_file
        } else {
            base.join(self.terminal.key_file)
        };
        Ok(Settings {
            terminal_id,
            key_file,
            link: self.link,
            log: self.log,
            devices: DeviceEntries {
                id_readers: self.id_readers,
                cameras: self.cameras,
                card_readers: self.card_readers,
                printers: self.printers,
            },
        })
    }

    /// The configuration without a file: no devices, the key file in the
    /// working directory.
    pub fn empty() -> Self {
        Self {
            terminal: TerminalSection::default(),
            link: LinkSettings::default(),
            log: LogSettings::default(),
            id_readers: Vec::new(),
            cameras: Vec::new(),
            card_readers: Vec::new(),
            printers: Vec::new(),
        }
    }
}
