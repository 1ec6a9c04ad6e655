//! `cardhub terminal`: the branch agent. It runs on a branch PC, finds the
//! devices attached to it (ID card reader, camera, smart-card readers, card
//! printer) and carries their commands and events over one WebSocket to
//! the hub's `/ws/terminal` (link protocol v1,
//! `cardhub_protocols::terminal`). The hub then drives them through the
//! same traits as its own devices (`cardhub_devices::remote`).
//!
//! ```text
//! cardhub terminal --hub ws://HUB:8080/ws/terminal --branch 0101 --config terminal.toml [--id T-0101-01]
//! cardhub terminal ... --new-key      # once: make the SM2 key, print what the centre registers
//! ```
//!
//! On start it prints `terminal ID branch CODE hub URL`, then one `device
//! NAME KIND STATE` line per device, then the link's state changes
//! (`linked session=.. resumed=..`, `link down: ..`) and what the hub
//! pushes (`outcome ..`, `notice: ..`); SIGINT or SIGTERM close the link
//! cleanly and exit 0. The configuration is documented in [`config`]
//! (example: `config/terminal.example.toml`).
//!
//! This is not the hub: it opens no database and serves no HTTP. It does
//! not check photos or decode ID cards either; it sends what the devices
//! gave, and the hub applies the centre's rules.
//!
//! # Layout
//! - [`config`]: the TOML file and its checks.
//! - [`key`]: the terminal's SM2 key file (`--new-key`, loading).
//! - [`session`]: the link protocol's terminal side as a state machine
//!   (handshake, resume, at-least-once delivery), without I/O.
//! - [`link`]: the WebSocket (awc), timers, reconnection, the printed lines.
//! - [`devices`]: one thread per device running its blocking driver, the
//!   registry requests are dispatched through, the error mapping.
//! - [`discovery`]: devices from the configuration, the PC/SC monitor,
//!   the USB hot-plug watch.

pub mod config;
pub mod devices;
pub mod discovery;
pub mod key;
pub mod link;
pub mod session;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use config::{Settings, TerminalConfig};
use devices::Registry;
use session::{Identity, Session};

/// The options of `cardhub terminal`, as typed (`--config` is the
/// binary's global option).
#[derive(Debug, clap::Args)]
pub struct TerminalArgs {
    /// The hub's terminal endpoint, `ws://HOST:PORT/ws/terminal`.
    #[arg(long, value_name = "URL")]
    pub hub: String,
    /// The branch this terminal serves (its code at the centre).
    #[arg(long, value_name = "CODE")]
    pub branch: String,
    /// The terminal's id, instead of the configuration's `[terminal] id`.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Make the terminal's key file (mode 0600) if it does not exist,
    /// print its public key and the `cardhub terminals register` command
    /// for the centre, and exit. An existing key is never replaced.
    #[arg(long)]
    pub new_key: bool,
}

/// Why `cardhub terminal` cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The key is missing or unusable.
    #[error(transparent)]
    Key(#[from] key::KeyError),
    /// `--hub` is not a `ws://` URL.
    #[error(
        "--hub `{0}` is not a ws://HOST:PORT/ws/terminal URL: give the hub's terminal endpoint (this build speaks plain ws://; reach the hub over the branch network or VPN)"
    )]
    HubUrl(String),
    /// `--branch` is empty or has characters a branch code has not.
    #[error(
        "--branch `{0}`: give the branch's code at the centre (letters, digits, `-`, `_`, `.`)"
    )]
    Branch(String),
    /// Signals cannot be listened for.
    #[error("cannot listen for SIGINT/SIGTERM: {0}")]
    Signals(std::io::Error),
}

/// `cardhub terminal`: runs the agent until SIGINT or SIGTERM. Exit codes:
/// 0 stopped by a signal (or `--new-key` done), 2 could not start.
pub fn main(config_path: Option<PathBuf>, args: TerminalArgs) -> ExitCode {
    let settings = match settings(config_path, &args) {
        Ok(settings) => settings,
        Err(e) => return fail(&e),
    };
    crate::telemetry::init_logging(&settings.log.to_log_config());
    if args.new_key {
        return match new_key(&settings, &args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    let key = match key::load(&settings.key_file) {
        Ok(key) => key,
        Err(e) => return fail(&StartError::Key(e)),
    };
    let system = actix_rt::System::new();
    match system.block_on(run(settings, args, key)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

fn fail(e: &StartError) -> ExitCode {
    eprintln!("cardhub terminal: {e}");
    ExitCode::from(2)
}

/// The configuration and the options, checked.
fn settings(config_path: Option<PathBuf>, args: &TerminalArgs) -> Result<Settings, StartError> {
    let config = match &config_path {
        Some(path) => TerminalConfig::load(path)?,
        None => TerminalConfig::empty(),
    };
    let settings = config.resolve(config_path.as_deref(), args.id.as_deref())?;
    if !args.hub.starts_with("ws://") || args.hub.len() <= "ws://".len() {
        return Err(StartError::HubUrl(args.hub.clone()));
    }
    let branch_ok = !args.branch.is_empty()
        && args.branch.len() <= 64
        && args
            .branch
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !branch_ok {
        return Err(StartError::Branch(args.branch.clone()));
    }
    Ok(settings)
}

/// `--new-key`: makes (or shows) the key and the registration command.
fn new_key(settings: &Settings, args: &TerminalArgs) -> Result<(), StartError> {
    let created = key::create(&settings.key_file)?;
    if created.new {
        println!(
            "created key file {} (mode 0600): keep it on this PC only",
            settings.key_file.display()
        );
    } else {
        eprintln!(
            "cardhub terminal: key file {} already exists; it is kept (a registered key is never replaced)",
            settings.key_file.display()
        );
    }
    println!("public key: {}", created.key.public_hex());
    println!("register it at the centre with:");
    println!(
        "{}",
        key::register_command(&settings.terminal_id, &args.branch, &created.key)
    );
    Ok(())
}

/// The agent itself, on the actix system.
async fn run(
    settings: Settings,
    args: TerminalArgs,
    key: key::TerminalKey,
) -> Result<(), StartError> {
    use tokio::signal::unix::{SignalKind, signal};
    // Before anything slow, so a signal during discovery is ours.
    let mut term = signal(SignalKind::terminate()).map_err(StartError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(StartError::Signals)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    actix_rt::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("signal received: closing the link");
        let _ = stop_tx.send(true);
        // Keep the sender: the link watches it until it has closed.
        std::future::pending::<()>().await;
    });

    println!(
        "terminal {} branch {} hub {}",
        settings.terminal_id, args.branch, args.hub
    );
    let (sink, events) = tokio::sync::mpsc::unbounded_channel();
    let registry = Arc::new(Registry::new(&settings.terminal_id, sink));
    if settings.devices.is_empty() {
        tracing::warn!("no devices configured: the hub will see an empty device list");
    }
    let found = {
        let registry = Arc::clone(&registry);
        let entries = settings.devices.clone();
        tokio::task::spawn_blocking(move || discovery::start(&entries, &registry))
    };
    if let Err(e) = found.await {
        tracing::error!(error = %e, "device discovery failed");
    }
    registry.print_devices();

    let identity = Identity {
        terminal_id: settings.terminal_id.clone(),
        branch: args.branch.clone(),
        software_version: format!("cardhub {}", env!("CARGO_PKG_VERSION")),
    };
    let session = Session::new(identity, key, settings.link.event_buffer);
    link::Link::new(args.hub, settings.link, session, registry, events, stop_rx)
        .run()
        .await;
    Ok(())
}
