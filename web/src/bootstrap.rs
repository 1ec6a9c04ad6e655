//! First-start preparation: the key store and, on the embedded default
//! (`mode = "development"`), the development credentials.
//!
//! - The key file named by `[crypto] key_file` is loaded into a `SoftHsm`. In
//!   development a missing file is generated (mode 0600); production refuses
//!   a missing file, a file marked `development = true`, and a file lacking
//!   any of the hub's keys.
//! - In development only, a bearer token (role admin) is written to
//!   `[auth] dev_token_file` and an `admin` operator is created with a random
//!   password written to `[auth] dev_admin_password_file`. Production creates
//!   neither.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::web;
use cardhub_protocols::crypto::{Hsm, KeyFile, KeyKind, SoftHsm, password};
use cardhub_protocols::roles::Role;
use cardhub_storage::{Actor, StorageError, Store, operators};

use crate::auth::{TOKEN_PREFIX, new_secret};
use crate::config::{Config, Mode};

/// The token name and operator username the development set-up uses.
pub const DEV_TOKEN_NAME: &str = "development";
/// The development administrator's username.
pub const DEV_ADMIN: &str = "admin";

/// What could not be prepared.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// Production with no key file.
    #[error("key file {} does not exist; production never generates keys: install the centre's key file there or set [crypto] key_file", path.display())]
    MissingKeyFile {
        /// The configured path.
        path: PathBuf,
    },
    /// Production with a development key file.
    #[error("key file {} is a development key file (development = true); production needs the centre's real keys", path.display())]
    DevelopmentKeysInProduction {
        /// The configured path.
        path: PathBuf,
    },
    /// The key file lacks some of the hub's keys.
    #[error("key file {} lacks the keys {missing:?}; add them (see the key file format in the README)", path.display())]
    MissingKeys {
        /// The file.
        path: PathBuf,
        /// Labels that are missing.
        missing: Vec<&'static str>,
    },
    /// The key file is malformed.
    #[error("key file {}: {source}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: cardhub_protocols::crypto::KeyFileError,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database refused the development credentials.
    #[error("cannot create the development credentials: {0}")]
    Storage(#[from] StorageError),
}

/// Where the development credentials were written.
#[derive(Debug, Clone)]
pub struct DevCredentials {
    /// The file holding the admin bearer token.
    pub token_file: PathBuf,
    /// The file holding the `admin` operator's password.
    pub password_file: PathBuf,
}

/// Loads (in development: creates if missing) the key file into a software
/// HSM.
pub fn load_hsm(config: &Config) -> Result<Arc<dyn Hsm>, BootstrapError> {
    let path = &config.crypto.key_file;
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match config.mode {
            Mode::Production => return Err(BootstrapError::MissingKeyFile { path: path.clone() }),
            Mode::Development => {
                let generated = KeyFile::generate_development().to_toml();
                write_private(path, &generated)?;
                tracing::warn!(path = %path.display(), "generated a development key file; production refuses such a file");
                generated
            }
        },
        Err(source) => {
            return Err(BootstrapError::Io {
                action: "read the key file",
                path: path.clone(),
                source,
            });
        }
    };
    let mut file = KeyFile::parse(&text).map_err(|source| BootstrapError::KeyFile {
        path: path.clone(),
        source,
    })?;
    if config.mode == Mode::Development && file.is_development() {
        add_missing_chip_masters(path, &mut file)?;
    }
    if config.mode == Mode::Production && file.is_development() {
        return Err(BootstrapError::DevelopmentKeysInProduction { path: path.clone() });
    }
    let missing = file.missing_hub_keys();
    if !missing.is_empty() {
        return Err(BootstrapError::MissingKeys {
            path: path.clone(),
            missing,
        });
    }
    let hsm = SoftHsm::from_key_file(&file).map_err(|source| BootstrapError::KeyFile {
        path: path.clone(),
        source,
    })?;
    Ok(Arc::new(hsm))
}

/// A development key file written before chip work existed lacks the chip
/// master keys: generate them (SM4) and rewrite the file, so an existing
/// development database keeps working.
fn add_missing_chip_masters(path: &Path, file: &mut KeyFile) -> Result<(), BootstrapError> {
    let missing = file.missing_chip_keys(KeyKind::Sm4);
    if missing.is_empty() {
        return Ok(());
    }
    for label in &missing {
        file.add_generated((*label).into(), KeyKind::Sm4)
            .map_err(|source| BootstrapError::KeyFile {
                path: path.to_owned(),
                source,
            })?;
    }
    write_private(path, &file.to_toml())?;
    tracing::warn!(path = %path.display(), added = ?missing, "added development chip master keys to the key file");
    Ok(())
}

/// In development, makes sure the development token and `admin` operator
/// exist and their secrets are on disk; returns where. In production, does
/// nothing and returns `None`.
pub async fn development_credentials(
    config: &Config,
    store: &Store,
) -> Result<Option<DevCredentials>, BootstrapError> {
    if config.mode != Mode::Development {
        return Ok(None);
    }
    let token_file = config.auth.dev_token_file.clone();
    let password_file = config.auth.dev_admin_password_file.clone();
    let system = Actor::new("bootstrap", Role::Admin);

    // The token: keep the one on disk while the database still knows it.
    let existing = read_trimmed(&token_file)?;
    let known = match &existing {
        Some(t) if t.starts_with(TOKEN_PREFIX) => {
            let digest = store.token_digest(t)?;
            store
                .find_active_token(digest, cardhub_storage::utc_now())
                .await?
                .is_some()
        }
        _ => false,
    };
    if !known {
        // Token names stay taken after revocation, so a new development
        // token (the file was lost, or data/ was reset) gets a fresh name.
        let names: Vec<String> = store
            .list_tokens()
            .await?
            .into_iter()
            .map(|t| t.name)
            .collect();
        let name = (1..)
            .map(|n| {
                if n == 1 {
                    DEV_TOKEN_NAME.to_owned()
                } else {
                    format!("{DEV_TOKEN_NAME}-{n}")
                }
            })
            .find(|n| !names.contains(n))
            .expect("an unused name exists");
        for old in names.iter().filter(|n| n.starts_with(DEV_TOKEN_NAME)) {
            store.revoke_token(old.clone(), system.clone()).await?;
        }
        let secret = new_secret(TOKEN_PREFIX);
        let digest = store.token_digest(&secret)?;
        store
            .create_token(name, Role::Admin, digest, system.clone())
            .await?;
        write_private(&token_file, &format!("{secret}\n"))?;
        tracing::info!(path = %token_file.display(), "created the development API token");
    }

    // The admin operator: create once; keep the password file in step.
    let exists = store.find_operator(DEV_ADMIN.to_owned()).await?.is_some();
    if !exists || read_trimmed(&password_file)?.is_none() {
        let password = new_secret("");
        let (hash, password) = web::block(move || (password::hash_password(&password), password))
            .await
            .map_err(|e| BootstrapError::Io {
                action: "hash the development password for",
                path: password_file.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
        if exists {
            store
                .set_operator_password(DEV_ADMIN.to_owned(), hash, system.clone())
                .await?;
        } else {
            store
                .create_operator(
                    operators::NewOperator {
                        username: DEV_ADMIN.to_owned(),
                        display_name: "Development administrator".to_owned(),
                        role: Role::Admin,
                        branch_code: None,
                        password_hash: hash,
                    },
                    system.clone(),
                )
                .await?;
        }
        write_private(&password_file, &format!("{password}\n"))?;
        tracing::info!(path = %password_file.display(), "created the development admin operator");
    }
    Ok(Some(DevCredentials {
        token_file,
        password_file,
    }))
}

fn read_trimmed(path: &Path) -> Result<Option<String>, BootstrapError> {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BootstrapError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Writes a secret file readable by its owner only (0600), creating its
/// directory.
pub fn write_private(path: &Path, contents: &str) -> Result<(), BootstrapError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |action, source| BootstrapError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io("create the directory of", e))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("write", e))?;
    file.write_all(contents.as_bytes())
        .map_err(|e| io("write", e))?;
    file.sync_all().map_err(|e| io("write", e))
}
