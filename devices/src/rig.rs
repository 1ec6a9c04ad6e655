//! The PC/SC test rig, for tests (feature `rig`): a real pcscd whose
//! readers are vpcd virtual readers (`scripts/pcsc-rig.sh`), and
//! [`ReaderLease`], which gives a test one of those readers to itself.
//!
//! pcscd serves the whole machine through one socket, so every test process
//! shares its readers. A lease is an exclusive lock on
//! `/tmp/cardhub-pcsc-rig/port-P.lock` (P the reader's card port), held
//! until the lease is dropped; the lock goes with the process, so a test
//! that dies frees its reader. A test's simulated card connects to
//! `127.0.0.1:`[`ReaderLease::port`] and appears in
//! [`ReaderLease::reader_name`] (naming in `reader::vpcd_reader_name`).
//!
//! Not for production code: the hub finds its readers through
//! `reader::PcscContext` and `reader::ReaderMonitor`.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pcsc::State;

use crate::reader::{PcscContext, ReaderError, ReaderState, vpcd_card_port, vpcd_reader_name};

/// Where the rig keeps its reader.conf, pcscd's log and the lease locks.
pub const RIG_DIR: &str = "/tmp/cardhub-pcsc-rig";

/// vpcd entries in the rig's reader.conf when `CARDHUB_PCSC_RIG_ENTRIES` is
/// not set (the script's default); each entry is two readers.
pub const DEFAULT_ENTRIES: usize = 8;

/// How long to wait for pcscd to list every rig reader after the script
/// started it.
const READERS_TIMEOUT: Duration = Duration::from_secs(15);

/// How often a caller finding every rig reader leased tries again.
const LEASE_RETRY: Duration = Duration::from_millis(25);

/// How long a caller waits for a free rig reader before giving up.
const LEASE_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a leased reader may take to report the previous test's card
/// gone (pcscd polls vpcd every 400 ms).
const EMPTY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the rig could not give a test a reader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RigError {
    /// `scripts/pcsc-rig.sh start` failed.
    #[error("scripts/pcsc-rig.sh start failed ({status}): {output}")]
    Script {
        /// The exit status, or why it could not run.
        status: String,
        /// What the script printed.
        output: String,
    },
    /// pcscd runs but does not list every rig reader.
    #[error(
        "pcscd does not list the rig readers {missing:?} after {waited:?}: \
         run scripts/pcsc-rig.sh status and read /tmp/cardhub-pcsc-rig/pcscd.log \
         (Debian's pcscd serves 16 readers: more need scripts/pcsc-wide.sh)"
    )]
    ReadersMissing {
        /// The rig readers not listed.
        missing: Vec<String>,
        /// How long it waited.
        waited: Duration,
    },
    /// A leased reader still holds a card.
    #[error(
        "reader {reader} still holds a card {waited:?} after it was leased: \
         something outside the lease system is connected to 127.0.0.1:{port}"
    )]
    ReaderNotEmpty {
        /// The reader.
        reader: String,
        /// Its card port.
        port: u16,
        /// How long it waited.
        waited: Duration,
    },
    /// Every rig reader stayed leased.
    #[error(
        "all {readers} rig readers stayed leased for {waited:?}: a test holds its lease \
         too long, or give the rig more readers with CARDHUB_PCSC_RIG_ENTRIES (more than 8 \
         entries, 16 readers, need the pcscd of scripts/pcsc-wide.sh)"
    )]
    AllLeased {
        /// How many readers the rig has.
        readers: usize,
        /// How long it waited.
        waited: Duration,
    },
    /// A lease lock file could not be opened or locked.
    #[error("cannot lock {path}: {reason}: check that {RIG_DIR} is writable", path = path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The operating system's error.
        reason: String,
    },
    /// A PC/SC call failed.
    #[error(transparent)]
    Reader(#[from] ReaderError),
}

/// The number of vpcd entries in the rig: `CARDHUB_PCSC_RIG_ENTRIES`, or
/// [`DEFAULT_ENTRIES`].
pub fn rig_entries() -> usize {
    std::env::var("CARDHUB_PCSC_RIG_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_ENTRIES)
}

/// The names of every rig reader, in card-port order.
pub fn rig_reader_names() -> Vec<String> {
    (0..2 * rig_entries()).map(vpcd_reader_name).collect()
}

/// Starts the rig (`scripts/pcsc-rig.sh start`, which does nothing when it
/// already runs) and waits until pcscd lists every rig reader. Runs once per
/// process; later calls return the first outcome.
pub fn ensure_running() -> Result<(), RigError> {
    static STARTED: OnceLock<Result<(), RigError>> = OnceLock::new();
    STARTED.get_or_init(start_rig).clone()
}

fn start_rig() -> Result<(), RigError> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pcsc-rig.sh");
    let output = Command::new(&script)
        .arg("start")
        .output()
        .map_err(|e| RigError::Script {
            status: format!("cannot run {}: {e}", script.display()),
            output: String::new(),
        })?;
    if !output.status.success() {
        return Err(RigError::Script {
            status: output.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    wait_for_readers(&rig_reader_names())
}

/// Waits, on PC/SC's reader-list notification, until every name in
/// `expected` is listed.
fn wait_for_readers(expected: &[String]) -> Result<(), RigError> {
    let context = PcscContext::establish()?;
    let started = Instant::now();
    let mut pnp = [pcsc::ReaderState::new(
        pcsc::PNP_NOTIFICATION(),
        State::UNAWARE,
    )];
    loop {
        let listed = context.list_readers()?;
        let missing: Vec<String> = expected
            .iter()
            .filter(|name| !listed.contains(name))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let left = READERS_TIMEOUT.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(RigError::ReadersMissing {
                missing,
                waited: READERS_TIMEOUT,
            });
        }
        pnp[0].sync_current_state();
        match context.raw().get_status_change(left, &mut pnp) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(e) => return Err(ReaderError::from_pcsc(e, "", "wait for readers", None).into()),
        }
    }
}

/// One rig reader, leased to the caller until dropped.
#[derive(Debug)]
pub struct ReaderLease {
    index: usize,
    reader_name: String,
    _lock: File,
}

impl ReaderLease {
    /// Starts the rig if needed ([`ensure_running`]), takes a free rig
    /// reader (waiting up to two minutes for one when every reader is
    /// leased) and waits until it is empty.
    pub fn acquire() -> Result<Self, RigError> {
        ensure_running()?;
        let (index, lock) = lock_a_reader(2 * rig_entries())?;
        let lease = Self {
            index,
            reader_name: vpcd_reader_name(index),
            _lock: lock,
        };
        lease.wait_until_empty()?;
        Ok(lease)
    }

    /// The TCP port on 127.0.0.1 a simulated card connects to, to appear in
    /// this reader.
    pub fn port(&self) -> u16 {
        vpcd_card_port(self.index)
    }

    /// The reader's PC/SC name.
    pub fn reader_name(&self) -> &str {
        &self.reader_name
    }

    /// The reader's index in the rig (0-based, card port 35963 + index).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The previous holder's simulated card may still be seen for one
    /// pcscd poll after it disconnected: wait for the reader to report
    /// empty.
    fn wait_until_empty(&self) -> Result<(), RigError> {
        let context = PcscContext::establish()?;
        let started = Instant::now();
        let name = std::ffi::CString::new(self.reader_name.clone()).map_err(|_| {
            ReaderError::ReaderGone {
                reader: self.reader_name.clone(),
            }
        })?;
        let mut state = [pcsc::ReaderState::new(name, State::UNAWARE)];
        loop {
            let left = EMPTY_TIMEOUT.saturating_sub(started.elapsed());
            match context.raw().get_status_change(left, &mut state) {
                Ok(()) | Err(pcsc::Error::Timeout) => {}
                Err(e) => {
                    let op = "wait for an empty reader";
                    return Err(ReaderError::from_pcsc(e, &self.reader_name, op, None).into());
                }
            }
            match crate::reader::reader_state_of(&state[0]) {
                ReaderState::Empty => return Ok(()),
                ReaderState::Unavailable => {
                    return Err(ReaderError::ReaderGone {
                        reader: self.reader_name.clone(),
                    }
                    .into());
                }
                ReaderState::Present { .. } | ReaderState::Mute if left.is_zero() => {
                    return Err(RigError::ReaderNotEmpty {
                        reader: self.reader_name.clone(),
                        port: self.port(),
                        waited: EMPTY_TIMEOUT,
                    });
                }
                ReaderState::Present { .. } | ReaderState::Mute => state[0].sync_current_state(),
            }
        }
    }
}

/// Locks the lock file of a free reader. When every reader is leased it
/// tries them all again every [`LEASE_RETRY`]: waiting on one particular
/// file could deadlock two tests that each hold one reader and wait for a
/// second.
fn lock_a_reader(count: usize) -> Result<(usize, File), RigError> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(RIG_DIR);
    std::fs::create_dir_all(dir).map_err(|e| RigError::Lock {
        path: dir.to_owned(),
        reason: e.to_string(),
    })?;
    // Callers in one process start at different readers, so they do not all
    // contend for the first one.
    let start = NEXT.fetch_add(1, Ordering::Relaxed) % count;
    let started = Instant::now();
    loop {
        for index in (start..count).chain(0..start) {
            let (path, file) = open_lock(index)?;
            match file.try_lock() {
                Ok(()) => return Ok((index, file)),
                Err(TryLockError::WouldBlock) => continue,
                Err(TryLockError::Error(e)) => {
                    return Err(RigError::Lock {
                        path,
                        reason: e.to_string(),
                    });
                }
            }
        }
        if started.elapsed() >= LEASE_TIMEOUT {
            return Err(RigError::AllLeased {
                readers: count,
                waited: LEASE_TIMEOUT,
            });
        }
        std::thread::sleep(LEASE_RETRY);
    }
}

fn open_lock(index: usize) -> Result<(PathBuf, File), RigError> {
    let path = Path::new(RIG_DIR).join(format!("port-{}.lock", vpcd_card_port(index)));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| RigError::Lock {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    Ok((path, file))
}
