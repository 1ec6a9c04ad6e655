//! The simulated branch counter `make run` shows (`[simulators] branch`,
//! development mode): a community branch of that code, a `clerk` branch
//! operator (password in `data/dev-clerk-password`), a simulated ID reader
//! holding a 2023 permanent-residence card on a pseudo-terminal and a
//! simulated camera over TCP (`cardhub sim id-reader`, `cardhub sim
//! camera`), and a `cardhub terminal` child, registered with a key of its
//! own, that carries them to the hub over `/ws/terminal`, as a branch PC
//! does. The children are this executable started again, so they share no
//! memory with the hub; they stop with it ([`Simulators::stop`]).
//!
//! Their files are under `<[simulators] dir>/branch/`: each child's log,
//! the terminal's config and key. A branch that cannot be simulated is
//! logged and left out: the hub works without it.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cardhub_protocols::roles::Role;
use cardhub_storage::branches::{BranchKind, NewBranch};
use cardhub_storage::terminals::NewTerminal;
use cardhub_storage::{Actor, StorageError, Store, operators};

use crate::config::{Config, Mode};
use crate::simulate::{SimulateError, Simulators, spawn};

/// The simulated counter's operator.
pub const CLERK: &str = "clerk";

/// Where the clerk's password is written, under `data/`.
pub const CLERK_PASSWORD_FILE: &str = "data/dev-clerk-password";

/// How long a simulator gets to print its address.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the simulated branch did not start.
#[derive(Debug, thiserror::Error)]
enum BranchSimError {
    #[error(transparent)]
    Spawn(#[from] SimulateError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("{0}")]
    Other(String),
}

impl Simulators {
    /// Starts the simulated branch of `[simulators] branch` (development
    /// mode, a non-empty code) against the hub at `hub`. Failures are
    /// logged, not fatal.
    pub async fn start_branch(&mut self, config: &Config, store: &Store, hub: SocketAddr) {
        let code = config.simulators.branch.trim();
        if config.mode != Mode::Development || code.is_empty() {
            return;
        }
        let hub = SocketAddr::new(crate::simulate::loopback_of(hub.ip()), hub.port());
        match start(self, config, store, code, hub).await {
            Ok(terminal) => tracing::info!(branch = code, terminal = %terminal,
                "the simulated branch is up: log in at /console as `clerk` (password in {CLERK_PASSWORD_FILE})"),
            Err(e) => {
                tracing::warn!(branch = code, error = %e, "the simulated branch does not run")
            }
        }
    }
}

async fn start(
    sims: &mut Simulators,
    config: &Config,
    store: &Store,
    code: &str,
    hub: SocketAddr,
) -> Result<String, BranchSimError> {
    let dir = config.simulators.dir.join("branch");
    std::fs::create_dir_all(&dir)
        .map_err(|e| BranchSimError::Other(format!("{}: {e}", dir.display())))?;
    // The terminal's config names its files relative to itself: absolute
    // paths keep them where the hub put them.
    let dir = std::path::absolute(&dir)
        .map_err(|e| BranchSimError::Other(format!("{}: {e}", dir.display())))?;
    let system = Actor::new("simulators", Role::Admin);
    ensure_branch_and_clerk(store, code, &system).await?;

    let exe = std::env::current_exe().map_err(SimulateError::CurrentExe)?;
    let id_log = dir.join("id-reader.log");
    sims.branch.push(spawn(
        "the simulated ID reader",
        &exe,
        &args(&["sim", "id-reader", "--card", "permanent-2023"]),
        &id_log,
    )?);
    let pty = printed(&id_log, "pty: ").await?;
    let camera_log = dir.join("camera.log");
    sims.branch.push(spawn(
        "the simulated camera",
        &exe,
        &args(&["sim", "camera", "--listen", "127.0.0.1:0"]),
        &camera_log,
    )?);
    let camera = printed(&camera_log, "address: ").await?;

    let terminal_id = format!("T-{code}-SIM");
    let key_file = dir.join("terminal-key.toml");
    let key = crate::agent::key::create(&key_file)
        .map_err(|e| BranchSimError::Other(e.to_string()))?
        .key;
    match store.find_terminal(terminal_id.clone()).await? {
        Some(t) if t.public_key == key.public_key => {}
        Some(_) => {
            return Err(BranchSimError::Other(format!(
                "terminal {terminal_id} is registered with another key than {}: remove that file's registration or the file",
                key_file.display()
            )));
        }
        None => {
            store
                .register_terminal(
                    NewTerminal {
                        terminal_id: terminal_id.clone(),
                        branch_code: code.to_owned(),
                        public_key: key.public_key.clone(),
                        description: Some("simulated branch counter (make run)".to_owned()),
                    },
                    system.clone(),
                )
                .await?;
        }
    }
    let terminal_config = dir.join("terminal.toml");
    let toml = format!(
        "# Written by cardhub serve for the simulated branch; rewritten at every start.\n\
         [terminal]\nid = \"{terminal_id}\"\nkey_file = \"{}\"\n\n\
         [[id_readers]]\nname = \"id-reader-1\"\nport = \"{pty}\"\n\n\
         [[cameras]]\nname = \"camera-1\"\naddress = \"tcp://{camera}\"\n",
        key_file.display()
    );
    std::fs::write(&terminal_config, toml)
        .map_err(|e| BranchSimError::Other(format!("{}: {e}", terminal_config.display())))?;
    let mut terminal_args: Vec<OsString> = vec!["--config".into(), terminal_config.into()];
    terminal_args.extend(args(&[
        "terminal",
        "--hub",
        &format!("ws://{hub}/ws/terminal"),
        "--branch",
        code,
    ]));
    sims.branch.push(spawn(
        "the simulated branch terminal",
        &exe,
        &terminal_args,
        &dir.join("terminal.log"),
    )?);
    Ok(terminal_id)
}

fn args(list: &[&str]) -> Vec<OsString> {
    list.iter().map(OsString::from).collect()
}

/// The community branch `code` and its `clerk`, made if missing; the
/// clerk's password is (re)written to [`CLERK_PASSWORD_FILE`] when made.
async fn ensure_branch_and_clerk(
    store: &Store,
    code: &str,
    system: &Actor,
) -> Result<(), BranchSimError> {
    match store.branch_by_code(code.to_owned()).await {
        Ok(_) => {}
        Err(StorageError::NotFound { .. }) => {
            store
                .create_branch(
                    NewBranch {
                        code: code.to_owned(),
                        name: "模拟社区事务受理服务中心".to_owned(),
                        kind: BranchKind::Community,
                    },
                    system.clone(),
                )
                .await?;
        }
        Err(e) => return Err(e.into()),
    }
    let password_file = PathBuf::from(CLERK_PASSWORD_FILE);
    if store.find_operator(CLERK.to_owned()).await?.is_some() && password_file.exists() {
        return Ok(());
    }
    let password = crate::auth::new_secret("");
    let hash = cardhub_protocols::crypto::password::hash_password(&password);
    if store.find_operator(CLERK.to_owned()).await?.is_some() {
        store
            .set_operator_password(CLERK.to_owned(), hash, system.clone())
            .await?;
    } else {
        store
            .create_operator(
                operators::NewOperator {
                    username: CLERK.to_owned(),
                    display_name: "模拟柜员".to_owned(),
                    role: Role::BranchOperator,
                    branch_code: Some(code.to_owned()),
                    password_hash: hash,
                },
                system.clone(),
            )
            .await?;
    }
    write_private(&password_file, &format!("{password}\n"))
}

fn write_private(path: &Path, text: &str) -> Result<(), BranchSimError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| BranchSimError::Other(format!("{}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .map_err(|e| BranchSimError::Other(format!("{}: {e}", path.display())))
}

/// Waits for a `prefix...` line in a child's `log` (written since it
/// started) and returns the rest of it.
async fn printed(log: &Path, prefix: &str) -> Result<String, BranchSimError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        // The log is appended to across runs: only this run's part counts.
        let run = text
            .rsplit("--- started by cardhub serve")
            .next()
            .unwrap_or("");
        if let Some(value) = run.lines().find_map(|l| l.strip_prefix(prefix)) {
            return Ok(value.trim().to_owned());
        }
        if Instant::now() > deadline {
            return Err(BranchSimError::Other(format!(
                "no `{prefix}` line in {} within {READY_TIMEOUT:?}",
                log.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
