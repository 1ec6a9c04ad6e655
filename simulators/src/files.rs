//! How simulators write the files they keep (a card's memory, a printer's
//! state, a printed face): to a temporary file beside the target, then
//! renamed over it, so a simulator killed at any point leaves the old file
//! or the new one, never half of one. That is what "outlives the simulator
//! process" needs; the files are not synced to disk, since a simulated
//! device need not survive a power cut.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes` (see the module docs).
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    fs::write(&tmp, bytes)?;
    fs::rename(&tmp, path)
}
