//! `cardhub serve`: opens the key store and the database (running
//! migrations), creates the development credentials on the embedded default,
//! starts the actor tree and the HTTP server, and shuts all of it down in
//! order on SIGINT/SIGTERM: stop accepting, let in-flight requests finish,
//! stop the actor tree, close the database, exit 0. In development the
//! `[simulators]` ([`crate::simulate`]) come and go around them: the
//! simulated printers start before the workshop, the portal once the HTTP
//! server is bound, and both stop after the actor tree.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use actix_web::{HttpServer, web};
use cardhub_actors::chip::{ChipRuntime, ReaderManager};
use cardhub_actors::status::{StatusBus, StatusBusActor, StatusLoad};
use cardhub_actors::workshop::Workshop;
use cardhub_actors::{Hub, HubHandle, Subtree, TreeExit};
use cardhub_storage::{Store, StoreOptions};

use crate::bootstrap::{self, BootstrapError};
use crate::config::Config;
use crate::login_limit::LoginLimiter;
use crate::routes;
use crate::simulate::{SimulateError, Simulators};
use crate::state::AppState;
use crate::telemetry;

/// Why the hub could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Keys or development credentials could not be prepared.
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Storage(#[from] cardhub_storage::StorageError),
    /// The HTTP listener could not be bound.
    #[error(
        "cannot listen on {addr}: {source}; is another process using the port? Change [http] bind or CARDHUB_HTTP__BIND"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The HTTP server failed while running.
    #[error("HTTP server failed: {0}")]
    Http(std::io::Error),
    /// SIGINT/SIGTERM handlers could not be installed.
    #[error("cannot listen for SIGINT/SIGTERM: {0}")]
    Signals(std::io::Error),
    /// The `[chip]` settings or the chip keys are unusable.
    #[error("chip: {0}")]
    Chip(#[from] cardhub_actors::chip::ChipConfigError),
    /// The card reader manager could not be started.
    #[error("cannot start the card reader manager: {0}")]
    Readers(String),
    /// The workshop's settings, layouts or actors are unusable.
    #[error("workshop: {0}")]
    Workshop(#[from] cardhub_actors::workshop::WorkshopError),
    /// The simulated printers of `[simulators]` could not start.
    #[error("simulators: {0}")]
    Simulators(#[from] SimulateError),
    /// The actor tree gave up (a supervisor escalated to the root).
    #[error("the actor tree stopped: {0}; see the log lines before this one for the failing child")]
    Escalated(String),
}

/// Opens the store named in config with the given HSM and runs migrations.
pub async fn open_store(
    config: &Config,
    hsm: Arc<dyn cardhub_protocols::crypto::Hsm>,
) -> Result<Store, ServeError> {
    let options = StoreOptions {
        pool_size: config.database.pool_size,
        connect_timeout_secs: config.database.connect_timeout_secs,
        ..StoreOptions::default()
    };
    let url = config.database.url.clone();
    let store = web::block(move || {
        let store = Store::open(&url, hsm, options)?;
        let applied = store.migrate()?;
        for m in &applied {
            tracing::info!(migration = %m, "applied database migration");
        }
        Ok::<_, cardhub_storage::StorageError>(store)
    })
    .await
    .map_err(|e| cardhub_storage::StorageError::Task(e.to_string()))??;
    Ok(store)
}

/// Runs the hub until SIGINT/SIGTERM (then returns `Ok`) or until the actor
/// tree escalates (then returns the error).
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let started = Instant::now();
    let mut signals = ShutdownSignals::install().map_err(ServeError::Signals)?;
    let prometheus = telemetry::prometheus();
    let hsm = bootstrap::load_hsm(&config)?;
    let store = open_store(&config, hsm.clone()).await?;
    let credentials = bootstrap::development_credentials(&config, &store).await?;

    let bus = StatusBus::new(config.monitor.bus());
    let hub = start_hub(&config, &store, &bus).await?;
    let chip = if config.chip.enabled {
        Some(start_readers(&config, &store, &hub, &bus).await?)
    } else {
        None
    };
    let mut simulators = Simulators::start_printers(&config).await?;
    let workshop = start_workshop(&config, &store, &hub, chip, &bus).await?;
    let state = AppState {
        config: Arc::new(config.clone()),
        store: store.clone(),
        hub: hub.clone(),
        prometheus,
        started,
        workshop,
        login_limiter: Arc::new(LoginLimiter::new(
            config.auth.max_failed_logins_per_address,
            chrono::TimeDelta::seconds(config.auth.lockout_secs as i64),
        )),
        terminals: crate::terminal::TerminalSessions::new(
            config.terminal.clone(),
            store.clone(),
            bus.clone(),
        ),
        bus,
    };
    tokio::spawn(state.terminals.clone().run_sweeper());
    if config.chip.enabled {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        state.terminals.feed_readers(tx);
        tokio::spawn(forward_branch_readers(state.clone(), rx));
    }

    let app_state = state.clone();
    let workers = if config.http.workers == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        config.http.workers
    };
    let server = HttpServer::new(move || routes::app(app_state.clone()))
        .workers(workers)
        .shutdown_timeout(config.http.shutdown_timeout_secs)
        .disable_signals()
        .bind(config.http.bind)
        .map_err(|source| ServeError::Bind {
            addr: config.http.bind,
            source,
        })?;
    let addrs = server.addrs();
    let server = server.run();
    let handle = server.handle();

    let base = addrs
        .first()
        .map(|a| format!("http://{a}"))
        .unwrap_or_else(|| format!("http://{}", config.http.bind));
    if let Some(c) = &credentials {
        println!(
            "development API token (role admin): {}",
            c.token_file.display()
        );
        println!(
            "development operator `admin`, password in: {}",
            c.password_file.display()
        );
    }
    match &credentials {
        // The token rides in the fragment: browsers never send it to the
        // server, so it stays out of access logs.
        Some(c) => match std::fs::read_to_string(&c.token_file) {
            Ok(token) => println!("  monitoring wall: {base}/#token={}", token.trim()),
            Err(_) => println!("  monitoring wall: {base}/"),
        },
        None => println!("  monitoring wall: {base}/ (log in, or add #token=<screen token>)"),
    }
    println!("  branch console: {base}/console");
    println!("  health:   {base}/healthz");
    println!("  metrics:  {base}/metrics");
    println!("  API docs: {base}/api/v1/openapi.json (needs a token)");
    // This line is read by people and by the end-to-end tests (which bind
    // port 0 and learn the real port from it): keep its shape, and keep it
    // last.
    println!("cardhub listening on {base}/");

    let server_task = tokio::spawn(server);
    if let Some(addr) = addrs.first() {
        simulators.start_portal(&config, &store, *addr).await;
        simulators.start_branch(&config, &store, *addr).await;
    }
    let outcome = tokio::select! {
        signal = signals.recv() => {
            tracing::info!(%signal, "shutting down: no new connections, finishing in-flight requests");
            Ok(())
        }
        exit = hub.wait_exit() => Err(ServeError::Escalated(match exit {
            TreeExit::Escalated(reason) => reason,
            other => format!("{other:?}"),
        })),
    };
    let stopped = handle.stop(true);
    // Terminals' links are responses that never end: closed now, or the
    // graceful stop would wait its whole timeout for them.
    state.terminals.shut_down();
    stopped.await;
    if let Ok(Err(e)) = server_task.await {
        return Err(ServeError::Http(e));
    }
    let exit = hub.shutdown().await;
    tracing::info!(?exit, "actor tree stopped");
    simulators.stop().await;
    drop(state);
    drop(store);
    tracing::info!("database closed; cardhub stopped");
    outcome
}

/// Starts the actor tree with the status bus's worker (and, when
/// `[simulators] status_devices` asks for it, the synthetic status load),
/// after clearing the alerts a previous run left open: the rules raise
/// again what still holds.
async fn start_hub(
    config: &Config,
    store: &Store,
    bus: &StatusBus,
) -> Result<HubHandle, ServeError> {
    let cleared = store
        .clear_open_alerts(
            "the hub restarted; raised again if it still holds".to_owned(),
            cardhub_storage::utc_now(),
        )
        .await?;
    if cleared > 0 {
        tracing::info!(cleared, "alerts left open by the last run are cleared");
    }
    let mut builder = Hub::builder(&config.supervision).worker(StatusBusActor::child_spec(
        bus.clone(),
        store.clone(),
        config.monitor.settings(),
    ));
    let sim = &config.simulators;
    if sim.status_devices > 0 {
        if config.mode == crate::config::Mode::Production {
            return Err(SimulateError::Production.into());
        }
        builder = builder.worker(StatusLoad::child_spec(
            bus.clone(),
            sim.status_devices,
            sim.status_changes_per_sec,
        ));
    }
    Ok(builder.start())
}

/// Starts the card reader manager in the device supervisor, after marking
/// the chip jobs a previous run left `running` as interrupted (they resume
/// when their chip is presented again). The readers that are printers'
/// encoders are left to the workshop. Returns the chip runtime the
/// workshop shares.
async fn start_readers(
    config: &Config,
    store: &Store,
    hub: &HubHandle,
    bus: &StatusBus,
) -> Result<Arc<ChipRuntime>, ServeError> {
    let runtime = Arc::new(ChipRuntime::new(config.chip.clone(), store.clone())?);
    let interrupted = store
        .interrupt_running_chip_jobs(
            "the hub stopped while the job ran: present the card again to resume".to_owned(),
            cardhub_actors::chip::engine::hub_actor(),
        )
        .await?;
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "chip jobs left running by the last run are marked interrupted"
        );
    }
    let devices = hub
        .running_subtree(Subtree::Devices, std::time::Duration::from_secs(10))
        .await
        .map_err(|e| ServeError::Readers(e.to_string()))?;
    devices
        .start_child(ReaderManager::child_spec(
            Arc::clone(&runtime),
            devices.clone(),
            config.workshop.encoder_readers(),
            bus.clone(),
        ))
        .await
        .map_err(|e| ServeError::Readers(e.to_string()))?;
    Ok(runtime)
}

/// Starts the production lines and their printers in the workshop
/// supervisor (`None` with no lines, or the workshop switched off). The
/// lines need the chip runtime: lines with chip work switched off are a
/// configuration error.
async fn start_workshop(
    config: &Config,
    store: &Store,
    hub: &HubHandle,
    chip: Option<Arc<ChipRuntime>>,
    bus: &StatusBus,
) -> Result<Option<Workshop>, ServeError> {
    let settings = &config.workshop;
    settings
        .validate()
        .map_err(cardhub_actors::workshop::WorkshopError::from)?;
    if !settings.enabled || settings.lines.is_empty() {
        return Ok(None);
    }
    let Some(chip) = chip else {
        return Err(cardhub_actors::workshop::WorkshopError::Config(
            cardhub_actors::workshop::WorkshopConfigError {
                key: "chip.enabled".into(),
                reason: "production lines personalise chips: set `chip.enabled = true`, or `workshop.enabled = false`".into(),
            },
        )
        .into());
    };
    let supervisor = hub
        .running_subtree(Subtree::Workshop, std::time::Duration::from_secs(10))
        .await
        .map_err(cardhub_actors::workshop::WorkshopError::from)?;
    Ok(Some(
        Workshop::start(
            settings.clone(),
            store.clone(),
            chip,
            supervisor,
            bus.clone(),
        )
        .await?,
    ))
}

/// SIGINT and SIGTERM, listened for from start-up on: a signal that comes
/// while the hub is still starting must stop it cleanly too, not kill it.
struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for either and names which one came.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Hands the branch terminals' card readers to the card reader manager, so
/// each gets a reader actor like a local reader: the chip jobs (card
/// check, PIN) run on them unchanged. A manager the supervisor restarted
/// knows none of them: it is told of every reader still linked first.
async fn forward_branch_readers(
    state: AppState,
    mut events: tokio::sync::mpsc::UnboundedReceiver<cardhub_devices::reader::ReaderEvent>,
) {
    use cardhub_actors::chip::BranchReaderEvent;
    use cardhub_devices::reader::ReaderEvent;
    let mut linked = std::collections::BTreeSet::new();
    let mut manager = None;
    while let Some(event) = events.recv().await {
        match &event {
            ReaderEvent::ReaderAdded(name) => {
                linked.insert(name.clone());
            }
            ReaderEvent::ReaderRemoved(name) => {
                linked.remove(name);
            }
            _ => {}
        }
        let addr = match state.reader_manager().await {
            Ok(addr) => addr,
            Err(e) => {
                tracing::warn!(error = %e, "a branch card reader cannot be handed to the reader manager");
                continue;
            }
        };
        if manager.as_ref() != Some(&addr) {
            for name in &linked {
                if !matches!(&event, ReaderEvent::ReaderAdded(n) if n == name) {
                    addr.do_send(BranchReaderEvent(ReaderEvent::ReaderAdded(name.clone())));
                }
            }
            manager = Some(addr.clone());
        }
        addr.do_send(BranchReaderEvent(event));
    }
}
