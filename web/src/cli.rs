//! The administration commands behind `cardhub db|token|operator|terminals|audit|bench`.
//! Each opens the same key store and database the hub uses (from the same
//! configuration), does one thing, prints the outcome for a person, and
//! returns the process exit code: 0 done, 1 the check failed (audit), 2 the
//! command could not run (bad config, database down, bad input).

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use cardhub_protocols::crypto::password;
use cardhub_protocols::roles::Role;
use cardhub_storage::{Actor, Store, operators, terminals};

use crate::auth::{TOKEN_PREFIX, new_secret};
use crate::bootstrap;
use crate::config::Config;
use crate::server;

/// Shortest password an operator may be given: 12 characters, the length at
/// which a random-looking password resists offline guessing of a leaked
/// PBKDF2 hash for years.
const MIN_PASSWORD_CHARS: usize = 12;

/// The audit actor of commands run from a shell.
fn shell_actor() -> Actor {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
    Actor::new(format!("cli:{user}"), Role::Admin)
}

fn fail(what: &str, e: impl std::fmt::Display) -> ExitCode {
    eprintln!("cardhub: {what}: {e}");
    ExitCode::from(2)
}

async fn open(config: &Config) -> Result<Store, ExitCode> {
    let hsm = bootstrap::load_hsm(config).map_err(|e| fail("keys", e))?;
    server::open_store(config, hsm)
        .await
        .map_err(|e| fail("database", e))
}

/// `cardhub serve`.
pub async fn serve(config: Config) -> ExitCode {
    match server::serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail("stopped", e),
    }
}

/// `cardhub db migrate`: opening the store applies pending migrations.
pub async fn db_migrate(config: &Config) -> ExitCode {
    match open(config).await {
        Ok(store) => {
            println!("database {} is up to date", store.backend().as_str());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `cardhub token create`.
pub async fn token_create(config: &Config, name: &str, role: Role) -> ExitCode {
    let store = match open(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let secret = new_secret(TOKEN_PREFIX);
    let digest = match store.token_digest(&secret) {
        Ok(d) => d,
        Err(e) => return fail("token", e),
    };
    match store
        .create_token(name.to_owned(), role, digest, shell_actor())
        .await
    {
        Ok(_) => {
            eprintln!("created token `{name}` with role {role}; it is shown once, store it now:");
            println!("{secret}");
            ExitCode::SUCCESS
        }
        Err(e) => fail("token create", e),
    }
}

/// `cardhub token list`.
pub async fn token_list(config: &Config) -> ExitCode {
    let store = match open(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store.list_tokens().await {
        Ok(list) => {
            println!(
                "{:<24} {:<18} {:<20} {:<20} state",
                "name", "role", "created (UTC)", "last used (UTC)"
            );
            for t in list {
                let last = t
                    .last_used_at
                    .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string());
                let state = match t.revoked_at {
                    Some(at) => format!("revoked {}", at.format("%Y-%m-%d %H:%M:%S")),
                    None => "active".to_owned(),
                };
                println!(
                    "{:<24} {:<18} {:<20} {:<20} {state}",
                    t.name,
                    t.role.as_str(),
                    t.created_at.format("%Y-%m-%d %H:%M:%S"),
                    last.as_deref().unwrap_or("never"),
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail("token list", e),
    }
}

/// `cardhub token revoke`.
pub async fn token_revoke(config: &Config, name: &str) -> ExitCode {
    let store = match open(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store.revoke_token(name.to_owned(), shell_actor()).await {
        Ok(_) => {
            println!("revoked token `{name}`");
            ExitCode::SUCCESS
        }
        Err(e) => fail("token revoke", e),
    }
}

/// `cardhub operator create`: the password comes from one line of standard
/// input, or is generated and printed when standard input is a terminal.
/// With `manual_entry` the account may accept applications without an ID
/// card read (granted in the same transaction).
pub async fn operator_create(
    config: &Config,
    username: &str,
    display_name: Option<&str>,
    role: Role,
    branch: Option<&str>,
    manual_entry: bool,
) -> ExitCode {
    let (password, generated) = if std::io::stdin().is_terminal() {
        (new_secret(""), true)
    } else {
        let mut line = String::new();
        if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
            return fail("reading the password from standard input", e);
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            (new_secret(""), true)
        } else {
            (line, false)
        }
    };
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return fail(
            "operator create",
            format!("the password must have at least {MIN_PASSWORD_CHARS} characters"),
        );
    }
    let store = match open(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let hash = password::hash_password(&password);
    let new = operators::NewOperator {
        username: username.to_owned(),
        display_name: display_name.unwrap_or(username).to_owned(),
        role,
        branch_code: branch.map(str::to_owned),
        password_hash: hash,
    };
    match store
        .create_operator_with_permissions(new, manual_entry, shell_actor())
        .await
    {
        Ok(_) => {
            let manual = if manual_entry {
                ", manual entry allowed"
            } else {
                ""
            };
            println!("created operator `{username}` with role {role}{manual}");
            if generated {
                println!("password (shown once): {password}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail("operator create", e),
    }
}

/// `cardhub operator list`.
pub async fn operator_list(config: &Config) -> ExitCode {
    let store = match open(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store.list_operators().await {
        Ok(list) => {
            println!(
                "{:<20} {:<28} {:<18} {:<10} state",
                "username", "name", "role", "branch"
            );
            for o in list {
                let state = if !o.active {
                    "inactive".to_owned()
                } else if let Some(until) = o.locked_until {
                    format!("locked until {}", until.format("%Y-%m-%d %H:%M:%S"))
                } else {
                    "active".to_owned()
                };
                println!(
                    "{:<20} {:<28} {:<18} {:<10} {state}",
                    o.username,
                    o.display_name,
                    o.role.as_str(),
                    o.branch_code.as_deref().unwrap_or("-"),
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail("operator list", e),
    }
}

/// `cardhub terminals register`.
pub async fn terminals_register(
    config: &Config,
    id: &str,
    branch: &str,
    public_key_hex: &str,
    description: Option<&str>,
) -> ExitCode {
    let public_key = match hex::decode(public_key_hex.trim()) {
        Ok(k) => k,
        Err(e) => {
            return fail(
                "terminals register",
                format!("--public-key is not hex ({e}): give 130 hex digits starting 04"),
            );
        }
    };
    let store = match open(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let new = terminals::NewTerminal {
        terminal_id: id.to_owned(),
        branch_code: branch.to_owned(),
        public_key,
        description: description.map(str::to_owned),
    };
    match store.register_terminal(new, shell_actor()).await {
        Ok(t) => {
            println!(
                "registered terminal `{}` for branch {} ({}); it may connect now",
                t.terminal_id, t.branch_code, t.branch_name
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail("terminals register", e),
    }
}

/// `cardhub terminals list`.
pub async fn terminals_list(config: &Config) -> ExitCode {
    let store = match open(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store.list_terminals().await {
        Ok(list) => {
            println!(
                "{:<20} {:<10} {:<9} {:<20} {:<22} description",
                "terminal", "branch", "status", "last seen (UTC)", "from"
            );
            for t in list {
                let seen = t
                    .last_seen_at
                    .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string());
                println!(
                    "{:<20} {:<10} {:<9} {:<20} {:<22} {}",
                    t.terminal_id,
                    t.branch_code,
                    t.status.as_str(),
                    seen.as_deref().unwrap_or("never"),
                    t.last_address.as_deref().unwrap_or("-"),
                    t.description.as_deref().unwrap_or(""),
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail("terminals list", e),
    }
}

/// `cardhub terminals disable` and `enable`.
pub async fn terminals_set_status(
    config: &Config,
    id: &str,
    status: terminals::TerminalStatus,
) -> ExitCode {
    let store = match open(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store
        .set_terminal_status(id.to_owned(), status, shell_actor())
        .await
    {
        Ok(t) => {
            match t.status {
                terminals::TerminalStatus::Disabled => println!(
                    "terminal `{id}` is disabled: it is refused at its next connection (POST /api/v1/terminals/{id}/disable also closes a running link)"
                ),
                terminals::TerminalStatus::Active => {
                    println!("terminal `{id}` is active: it may connect")
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("terminals {}", status_verb(status)), e),
    }
}

fn status_verb(status: terminals::TerminalStatus) -> &'static str {
    match status {
        terminals::TerminalStatus::Active => "enable",
        terminals::TerminalStatus::Disabled => "disable",
    }
}

/// `cardhub audit verify`: 0 when the chain is intact, 1 naming the first
/// broken entry.
pub async fn audit_verify(config: &Config) -> ExitCode {
    let store = match open(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store.verify_audit().await {
        Ok(report) => match report.first_broken {
            None => {
                println!("audit log intact: {} entries verified", report.entries);
                ExitCode::SUCCESS
            }
            Some(broken) => {
                println!(
                    "audit log BROKEN at entry {}: {} ({} entries before it verified)",
                    broken.seq, broken.reason, report.entries
                );
                ExitCode::from(1)
            }
        },
        Err(e) => fail("audit verify", e),
    }
}

/// `cardhub bench chip`.
pub fn bench_chip(opts: crate::bench::chip::ChipBenchOptions) -> ExitCode {
    match crate::bench::chip::run(&opts) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => fail("bench chip", e),
    }
}

/// `cardhub bench workshop`.
pub fn bench_workshop(opts: crate::bench::workshop::WorkshopBenchOptions) -> ExitCode {
    match crate::bench::workshop::run(&opts) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => fail("bench workshop", e),
    }
}

/// `cardhub bench monitor`.
pub fn bench_monitor(opts: crate::bench::monitor::MonitorBenchOptions) -> ExitCode {
    match crate::bench::monitor::run(&opts) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => fail("bench monitor", e),
    }
}

/// `cardhub bench terminals`. Runs on a thread of its own: the load
/// generator starts actix systems of its own, which cannot nest in the
/// command's runtime.
pub fn bench_terminals(opts: crate::bench::terminals::TerminalBenchOptions) -> ExitCode {
    let run = std::thread::spawn(move || crate::bench::terminals::run(&opts));
    match run.join() {
        Ok(Ok(report)) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => fail("bench terminals", e),
        Err(_) => fail("bench terminals", "the load generator panicked"),
    }
}

/// `cardhub bench crypto`.
pub fn bench_crypto(seconds: f64) -> ExitCode {
    let opts = crate::bench::crypto::CryptoBenchOptions {
        seconds_per_op: seconds,
    };
    match crate::bench::crypto::run(&opts) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => fail("bench crypto", e),
    }
}

/// The options of `cardhub sim card`, as typed.
#[derive(Debug, clap::Args)]
pub struct SimCardOptions {
    /// vpcd's listening address (a `DEVICENAME /dev/null:PORT` entry of
    /// pcscd's reader.conf).
    #[arg(long, value_name = "HOST:PORT")]
    pub vpcd: String,
    /// The card's memory (JSON); created blank with `--blank` when missing.
    #[arg(long, value_name = "FILE")]
    pub card_file: PathBuf,
    /// Where the control channel listens (port 0: any free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:0")]
    pub control: String,
    /// Create a vendor-blank card with this card identification code (16
    /// hex characters) if the card file does not exist.
    #[arg(long, value_name = "CARD_ID")]
    pub blank: Option<String>,
    /// The centre's transport master key (32 hex digits), for `--blank`.
    #[arg(long, value_name = "HEX", conflicts_with = "key_file")]
    pub transport_key_hex: Option<String>,
    /// Take the transport master key (`chip/transport`) from a development
    /// key file instead, for `--blank`.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// The blank card's cipher: sm4 or 3des.
    #[arg(long, default_value = "sm4")]
    pub algorithm: String,
    /// Start with the card out of the reader.
    #[arg(long)]
    pub removed: bool,
    /// Answer data with 61xx and GET RESPONSE, as a T=0 card does.
    #[arg(long)]
    pub t0: bool,
}

/// `cardhub sim card`: runs a simulated card until it is told to shut down.
pub fn sim_card(opts: SimCardOptions) -> ExitCode {
    match sim_card_args(opts)
        .and_then(|args| cardhub_simulators::card::cli::run(args).map_err(|e| e.to_string()))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cardhub sim card: {e}");
            ExitCode::from(2)
        }
    }
}

fn sim_card_args(
    opts: SimCardOptions,
) -> Result<cardhub_simulators::card::cli::SimCardArgs, String> {
    use cardhub_simulators::card::cli::{BlankCard, SimCardArgs, resolve_addr};
    let blank = match &opts.blank {
        None => None,
        Some(card_id) => {
            let key_hex = match (&opts.transport_key_hex, &opts.key_file) {
                (Some(hex), _) => hex.clone(),
                (None, Some(path)) => transport_key_from_file(path, &opts.algorithm)?,
                (None, None) => {
                    return Err(
                        "--blank needs --transport-key-hex or --key-file to load the card's transport key"
                            .to_owned(),
                    );
                }
            };
            Some(BlankCard::parse(card_id, &key_hex, &opts.algorithm).map_err(|e| e.to_string())?)
        }
    };
    Ok(SimCardArgs {
        vpcd: resolve_addr(&opts.vpcd).map_err(|e| e.to_string())?,
        card_file: opts.card_file,
        control: resolve_addr(&opts.control).map_err(|e| e.to_string())?,
        blank,
        inserted: !opts.removed,
        t0_get_response: opts.t0,
    })
}

/// The options of `cardhub sim printer`, as typed.
#[derive(Debug, clap::Args)]
pub struct SimPrinterOptions {
    /// Where the host link listens (port 0: any free port; the chosen one
    /// is printed as `listen: HOST:PORT`). The default without `--pty`.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "pty")]
    pub listen: Option<String>,
    /// Serve the host link on a pseudo-terminal instead: its slave path is
    /// printed (`pty: /dev/pts/N`) for the hub to open as a serial device.
    #[arg(long)]
    pub pty: bool,
    /// vpcd's address for the printer's contact encoder (a reader of the
    /// PC/SC test rig, e.g. 127.0.0.1:35963); without it the printer has no
    /// encoder.
    #[arg(long, value_name = "HOST:PORT")]
    pub vpcd: Option<String>,
    /// The printer's own state (counters, the card inside, hopper, ribbon);
    /// restarted with the same directory, the printer continues.
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,
    /// Where faces and finished cards' chips go (default `<state-dir>/out`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Step durations: `zero` (instant) or `realistic` (about 26 s a card).
    #[arg(long, default_value = "zero")]
    pub timing: String,
    /// `png`: write each printed face to `--out`; `none`: do not.
    #[arg(long, default_value = "png")]
    pub faces: String,
    /// The leading hex digits of each fed chip's card identification code;
    /// a counter kept in the state directory fills it to 16.
    #[arg(long, value_name = "HEX", default_value = cardhub_simulators::printer::DEFAULT_CHIP_PREFIX)]
    pub chip_prefix: String,
    /// The centre's transport master key (32 hex digits) the blank chips'
    /// transport keys are diversified from.
    #[arg(long, value_name = "HEX", conflicts_with = "key_file")]
    pub transport_key_hex: Option<String>,
    /// Take the transport master key (`chip/transport`) from a development
    /// key file instead.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Blank cards in the hopper at start (default: a new printer's hopper
    /// is full, a restarted one keeps its count).
    #[arg(long, value_name = "N")]
    pub hopper: Option<u32>,
    /// Where the control channel listens (port 0: any free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:0")]
    pub control: String,
}

/// `cardhub sim printer`: runs a simulated card printer until SIGINT,
/// SIGTERM or a `shutdown` control request.
pub async fn sim_printer(opts: SimPrinterOptions) -> ExitCode {
    use tokio::signal::unix::{SignalKind, signal};
    let fail = |e: String| {
        eprintln!("cardhub sim printer: {e}");
        ExitCode::from(2)
    };
    let args = match sim_printer_args(opts) {
        Ok(args) => args,
        Err(e) => return fail(e),
    };
    // Installed before the printer starts, so a signal during start-up is
    // not the default (killing) one.
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        (Err(e), _) | (_, Err(e)) => return fail(format!("cannot listen for signals: {e}")),
    };
    let (started, handle) = tokio::sync::oneshot::channel();
    let runner = tokio::task::spawn_blocking(move || {
        cardhub_simulators::printer::cli::run(args, move |h| {
            let _ = started.send(h);
        })
    });
    let signals = tokio::spawn(async move {
        let Ok(handle) = handle.await else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("signal received: stopping the simulated printer");
        handle.request();
    });
    let outcome = runner.await;
    signals.abort();
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => fail(e.to_string()),
        Err(e) => fail(format!("the simulator's thread failed: {e}")),
    }
}

fn sim_printer_args(
    opts: SimPrinterOptions,
) -> Result<cardhub_simulators::printer::cli::SimPrinterArgs, String> {
    use cardhub_simulators::printer::HostTransport;
    use cardhub_simulators::printer::cli::{
        SimPrinterArgs, parse_faces, parse_timing, parse_transport_key, resolve_addr,
    };
    let key_hex = match (&opts.transport_key_hex, &opts.key_file) {
        (Some(hex), _) => hex.clone(),
        (None, Some(path)) => transport_key_from_file(path, "sm4")?,
        (None, None) => {
            return Err(
                "give --key-file or --transport-key-hex: each blank chip fed gets a transport key diversified from it"
                    .to_owned(),
            );
        }
    };
    let host = if opts.pty {
        HostTransport::Pty
    } else {
        let listen = opts.listen.as_deref().unwrap_or("127.0.0.1:0");
        HostTransport::Tcp(resolve_addr(listen).map_err(|e| e.to_string())?)
    };
    let vpcd = match &opts.vpcd {
        Some(addr) => Some(resolve_addr(addr).map_err(|e| e.to_string())?),
        None => None,
    };
    Ok(SimPrinterArgs {
        host,
        vpcd,
        state_dir: opts.state_dir,
        out_dir: opts.out,
        timing: parse_timing(&opts.timing).map_err(|e| e.to_string())?,
        write_faces: parse_faces(&opts.faces).map_err(|e| e.to_string())?,
        chip_prefix: opts.chip_prefix,
        transport_key: parse_transport_key(&key_hex).map_err(|e| e.to_string())?,
        hopper: opts.hopper,
        control: resolve_addr(&opts.control).map_err(|e| e.to_string())?,
    })
}

/// The options of `cardhub sim portal`, as typed.
#[derive(Debug, clap::Args)]
pub struct SimPortalOptions {
    /// The hub's base URL.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub hub: String,
    /// A file holding a bearer token that may apply, approve and extract
    /// (the development admin token).
    #[arg(long, value_name = "FILE", default_value = "data/dev-api-token")]
    pub token_file: PathBuf,
    /// Applicants to send.
    #[arg(long, value_name = "N", default_value_t = 24)]
    pub count: u64,
    /// The applicants' seed: the same seed sends the same people.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
}

/// `cardhub sim portal`: sends the applicants, extracts them, exits: 0
/// when every application was accepted, 1 when some were refused, 2 when
/// it could not run.
pub fn sim_portal(opts: SimPortalOptions) -> ExitCode {
    use cardhub_simulators::portal::{self, PortalArgs};
    let token = match std::fs::read_to_string(&opts.token_file) {
        Ok(t) => t.trim().to_owned(),
        Err(e) => {
            eprintln!(
                "cardhub sim portal: cannot read the token file {}: {e}; give the hub's development token (data/dev-api-token) with --token-file",
                opts.token_file.display()
            );
            return ExitCode::from(2);
        }
    };
    let args = PortalArgs {
        hub: opts.hub,
        token,
        count: opts.count,
        seed: opts.seed,
    };
    match portal::run(&args, &mut std::io::stdout().lock()) {
        Ok(report) if report.refused.is_empty() => {
            println!(
                "cardhub sim portal: {} applications accepted, {} + {} making-card tasks (normal + permanent-residence)",
                report.accepted, report.normal_tasks, report.permit_tasks
            );
            ExitCode::SUCCESS
        }
        Ok(report) => {
            println!(
                "cardhub sim portal: {} applications accepted, {} refused",
                report.accepted,
                report.refused.len()
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("cardhub sim portal: {e}");
            ExitCode::from(2)
        }
    }
}

/// The `chip/transport` master of a development key file, hex. A
/// production key file is refused: its keys never leave the key store.
fn transport_key_from_file(path: &std::path::Path, algorithm: &str) -> Result<String, String> {
    use cardhub_protocols::crypto::{KeyFile, labels};
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
    let file = KeyFile::parse(&text).map_err(|e| format!("key file {}: {e}", path.display()))?;
    if !file.is_development() {
        return Err(format!(
            "{} is not a development key file: give the simulated card its transport key with --transport-key-hex",
            path.display()
        ));
    }
    let key = if algorithm.eq_ignore_ascii_case("sm4") {
        file.sm4_key_bytes(labels::CHIP_TRANSPORT)
    } else {
        file.tdes_key_bytes(labels::CHIP_TRANSPORT)
    };
    key.map(hex::encode).ok_or_else(|| {
        format!(
            "key file {} has no {algorithm} key `{}`",
            path.display(),
            labels::CHIP_TRANSPORT
        )
    })
}

/// Which sample card the simulated ID card reader holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SimIdCard {
    /// A resident identity card.
    Resident,
    /// A 2017 permanent-residence card ('I').
    #[value(name = "permanent-2017")]
    Permanent2017,
    /// A 2023 permanent-residence card ('Y').
    #[value(name = "permanent-2023")]
    Permanent2023,
    /// No card on the reader.
    None,
}

/// `cardhub sim id-reader`.
#[derive(Debug, clap::Args)]
pub struct SimIdReaderOptions {
    /// The card on the reader at start.
    #[arg(long, value_enum, default_value = "resident")]
    pub card: SimIdCard,
}

/// `cardhub sim camera`.
#[derive(Debug, clap::Args)]
pub struct SimCameraOptions {
    /// Where it listens (port 0: any free port).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// The first photo's seed (each capture draws the next).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// Waits for SIGINT or SIGTERM.
async fn until_signalled() -> Result<(), String> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot listen for SIGTERM: {e}"))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot listen for SIGINT: {e}"))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

/// `cardhub sim id-reader`: a simulated ID card reader on a pty until
/// SIGINT or SIGTERM.
pub async fn sim_id_reader(opts: SimIdReaderOptions) -> ExitCode {
    use cardhub_simulators::id_reader::{
        SimCard, sample_permanent_2017, sample_permanent_2023, sample_resident,
    };
    let fail = |e: String| {
        eprintln!("cardhub sim id-reader: {e}");
        ExitCode::from(2)
    };
    let card = match opts.card {
        SimIdCard::Resident => Some(sample_resident()),
        SimIdCard::Permanent2017 => Some(sample_permanent_2017()),
        SimIdCard::Permanent2023 => Some(sample_permanent_2023()),
        SimIdCard::None => None,
    };
    let card = match card.map(|c| SimCard::from_card(&c)).transpose() {
        Ok(card) => card,
        Err(e) => return fail(format!("cannot make the sample card: {e}")),
    };
    let running = match cardhub_simulators::id_reader::start(card) {
        Ok(running) => running,
        Err(e) => return fail(e.to_string()),
    };
    println!("pty: {}", running.path().display());
    println!("cardhub sim id-reader ready");
    let waited = until_signalled().await;
    running.stop();
    match waited {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// `cardhub sim camera`: a simulated PTP camera over TCP until SIGINT or
/// SIGTERM.
pub async fn sim_camera(opts: SimCameraOptions) -> ExitCode {
    use cardhub_simulators::camera::{CameraSimConfig, SimPhoto};
    let fail = |e: String| {
        eprintln!("cardhub sim camera: {e}");
        ExitCode::from(2)
    };
    let running = match cardhub_simulators::camera::start(CameraSimConfig {
        listen: opts.listen,
        photo: SimPhoto::IdPhoto { seed: opts.seed },
    }) {
        Ok(running) => running,
        Err(e) => return fail(format!("cannot listen on {}: {e}", opts.listen)),
    };
    println!("address: {}", running.address());
    println!("cardhub sim camera ready");
    let waited = until_signalled().await;
    running.stop();
    match waited {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}
