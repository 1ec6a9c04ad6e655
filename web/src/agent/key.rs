//! The terminal's SM2 key: the one secret a branch PC holds. It lives in
//! cardhub's key file format (`cardhub_protocols::crypto::keyfile`) as a
//! single `sm2` key labelled [`KEY_LABEL`], is loaded into a
//! [`SoftHsm`], and signs the hub's challenge on every connection
//! ([`cardhub_protocols::terminal::sign_challenge`]). The centre holds
//! only its public key (`cardhub terminals register --public-key`).
//!
//! [`create`] writes a fresh key with owner-only permissions and never
//! replaces an existing file; [`load`] refuses a missing file with the
//! command that makes one.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cardhub_protocols::crypto::{Hsm, KeyFile, KeyFileError, KeyKind, KeyLabel, SoftHsm};

/// The label of the terminal's key inside its key file.
pub const KEY_LABEL: &str = "terminal";

/// Why the key cannot be used or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file does not exist.
    #[error(
        "no key file at {path}: make the terminal's key once with `cardhub terminal --new-key` (same --hub, --branch and --config), \
         then have the centre register the public key it prints"
    )]
    Missing {
        /// The file looked for.
        path: PathBuf,
    },
    /// The key file could not be read or written.
    #[error(
        "key file {path}: {source}; check the path and its permissions (the file is the terminal's, mode 0600)"
    )]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file is not a valid key file.
    #[error("key file {path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: KeyFileError,
    },
    /// The key file holds no SM2 key labelled `terminal`.
    #[error(
        "key file {path} holds no sm2 key `{KEY_LABEL}`: it is not a terminal's key file; point [terminal] key_file at the terminal's key, \
         or move this file away and make a new key with --new-key (and register it again)"
    )]
    NoTerminalKey {
        /// The file.
        path: PathBuf,
    },
}

/// The terminal's key, loaded.
#[derive(Clone)]
pub struct TerminalKey {
    /// The key store holding it.
    pub hsm: Arc<SoftHsm>,
    /// Its label in the store.
    pub label: KeyLabel,
    /// The public key, SEC1 uncompressed (65 bytes, `04 || X || Y`).
    pub public_key: Vec<u8>,
}

impl std::fmt::Debug for TerminalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalKey")
            .field("label", &self.label)
            .field("public_key", &hex::encode(&self.public_key))
            .finish_non_exhaustive()
    }
}

impl TerminalKey {
    /// The public key as lowercase hex (130 digits), as registered.
    pub fn public_hex(&self) -> String {
        hex::encode(&self.public_key)
    }

    fn from_file(path: &Path, file: &KeyFile) -> Result<Self, KeyError> {
        let label = KeyLabel::new(KEY_LABEL);
        if !file
            .labels()
            .any(|(l, kind)| *l == label && kind == KeyKind::Sm2)
        {
            return Err(KeyError::NoTerminalKey {
                path: path.to_owned(),
            });
        }
        let hsm = SoftHsm::from_key_file(file).map_err(|source| KeyError::Invalid {
            path: path.to_owned(),
            source,
        })?;
        let public_key = hsm
            .public_key(&label)
            .map_err(|_| KeyError::NoTerminalKey {
                path: path.to_owned(),
            })?;
        Ok(Self {
            hsm: Arc::new(hsm),
            label,
            public_key,
        })
    }
}

/// Loads the key at `path`.
pub fn load(path: &Path) -> Result<TerminalKey, KeyError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyError::Missing {
                path: path.to_owned(),
            });
        }
        Err(source) => {
            return Err(KeyError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let file = KeyFile::parse(&text).map_err(|source| KeyError::Invalid {
        path: path.to_owned(),
        source,
    })?;
    TerminalKey::from_file(path, &file)
}

/// What [`create`] did.
#[derive(Debug)]
pub struct Created {
    /// The key (new, or the one already there).
    pub key: TerminalKey,
    /// False when the file already existed and was kept.
    pub new: bool,
}

/// Makes a new key at `path` (mode 0600, its directory created), or loads
/// the one already there: an existing key is never replaced, since the
/// centre may have registered it.
pub fn create(path: &Path) -> Result<Created, KeyError> {
    let io = |source| KeyError::Io {
        path: path.to_owned(),
        source,
    };
    if path.exists() {
        return load(path).map(|key| Created { key, new: false });
    }
    let mut file = KeyFile::parse("version = 1\n").map_err(|source| KeyError::Invalid {
        path: path.to_owned(),
        source,
    })?;
    file.add_generated(KeyLabel::new(KEY_LABEL), KeyKind::Sm2)
        .map_err(|source| KeyError::Invalid {
            path: path.to_owned(),
            source,
        })?;
    let key = TerminalKey::from_file(path, &file)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    let text = format!(
        "# cardhub terminal key: the branch PC's SM2 key. Keep it secret; the centre holds its public key.\n{}",
        file.to_toml()
    );
    out.write_all(text.as_bytes()).map_err(io)?;
    out.sync_all().map_err(io)?;
    Ok(Created { key, new: true })
}

/// The command the centre runs to register the key.
pub fn register_command(terminal_id: &str, branch: &str, key: &TerminalKey) -> String {
    format!(
        "cardhub terminals register --id {terminal_id} --branch {branch} --public-key {}",
        key.public_hex()
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use cardhub_protocols::crypto::sm2::VerifyingKey;
    use cardhub_protocols::terminal::{
        Challenge, RegisteredTerminal, sign_challenge, verify_challenge,
    };

    use super::*;

    #[test]
    fn a_new_key_is_private_signs_challenges_and_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/terminal-key.toml");
        let created = create(&path).expect("created");
        assert!(created.new);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(created.key.public_key.len(), 65);
        assert_eq!(created.key.public_key[0], 0x04);
        assert_eq!(created.key.public_hex().len(), 130);

        let again = create(&path).expect("kept");
        assert!(!again.new);
        assert_eq!(again.key.public_key, created.key.public_key);
        let loaded = load(&path).expect("loads");
        assert_eq!(loaded.public_key, created.key.public_key);

        let challenge = Challenge::random(1_000);
        let signature =
            sign_challenge(&*loaded.hsm, &loaded.label, "T-1", "0101", &challenge).unwrap();
        let registered = RegisteredTerminal {
            terminal_id: "T-1".into(),
            branch: "0101".into(),
            key: VerifyingKey::from_sec1(&created.key.public_key).unwrap(),
        };
        verify_challenge(&registered, "T-1", "0101", &challenge, &signature, 2_000)
            .expect("the registered key verifies the signature");

        let command = register_command("T-1", "0101", &loaded);
        assert_eq!(
            command,
            format!(
                "cardhub terminals register --id T-1 --branch 0101 --public-key {}",
                loaded.public_hex()
            )
        );
    }

    #[test]
    fn a_missing_key_says_how_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let e = load(&dir.path().join("nope.toml")).unwrap_err();
        assert!(matches!(e, KeyError::Missing { .. }));
        assert!(e.to_string().contains("--new-key"), "{e}");
    }

    #[test]
    fn a_key_file_without_the_terminal_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hub-keys.toml");
        std::fs::write(&path, KeyFile::generate_development().to_toml()).unwrap();
        let e = load(&path).unwrap_err();
        assert!(matches!(e, KeyError::NoTerminalKey { .. }), "{e}");
        std::fs::write(&path, "version = 7\n").unwrap();
        assert!(matches!(load(&path).unwrap_err(), KeyError::Invalid { .. }));
    }
}
