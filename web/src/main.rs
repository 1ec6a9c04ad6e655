//! The `cardhub` binary: the hub (`serve`) and its administration commands
//! (`db migrate`, `token`, `operator`, `terminals`, `audit verify`, `bench`) and the
//! simulated devices and parties (`sim card`, `sim printer`, `sim
//! portal`). Each command reads the same configuration as the hub
//! (embedded default, `--config`, `CARDHUB_*` variables). The work is in
//! the `cardhub_web` library; this file only parses arguments and maps
//! outcomes to exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use cardhub_protocols::roles::Role;
use cardhub_storage::terminals::TerminalStatus;
use clap::{Parser, Subcommand};

use cardhub_web::cli;
use cardhub_web::config::Config;

/// cardhub: the device and integration hub of a social security card centre.
#[derive(Debug, Parser)]
#[command(name = "cardhub", version, about)]
struct Args {
    /// A TOML file read on top of the embedded default configuration.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the hub (HTTP API, WebSockets, actor tree).
    Serve,
    /// Database administration.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Bearer tokens for outside systems and screens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Operator accounts (people who log in).
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// Branch terminals allowed on /ws/terminal: register a branch PC's
    /// SM2 key, list, disable, enable.
    Terminals {
        #[command(subcommand)]
        command: TerminalsCommand,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Benchmarks that print figures (never run as tests).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Simulated devices, each on the far side of a real transport.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
    /// The branch agent: finds this PC's devices (ID card reader, camera,
    /// PC/SC readers, card printer) and carries their commands and events
    /// over one WebSocket to the hub's /ws/terminal. `--config` is the
    /// terminal's own file (config/terminal.example.toml), not the hub's.
    /// With `--new-key` it makes the terminal's key, prints the
    /// registration command for the centre, and exits.
    Terminal(cardhub_web::agent::TerminalArgs),
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// A social security card behind a vsmartcard vpcd reader of pcscd. It
    /// prints `cardsim control on HOST:PORT` (a line-based JSON control
    /// channel: insert, remove, faults, state) and runs until told to shut
    /// down or killed; its memory is saved to the card file after every
    /// change.
    Card(cli::SimCardOptions),
    /// A card printer with a contact encoder, served over TCP (`--listen`)
    /// or a pseudo-terminal (`--pty`), its encoder behind a vpcd reader
    /// (`--vpcd`). It prints one `key: value` line per address (listen or
    /// pty, address, control, vpcd, state-dir, out) and then `cardhub sim
    /// printer ready`, and runs until SIGINT, SIGTERM or a `shutdown`
    /// control request; its state is saved after every change.
    Printer(cli::SimPrinterOptions),
    /// The government portal: sends `--count` approved first-issue
    /// applications with photos (residents, one in ten a
    /// permanent-residence holder, one in eight with a CJK extension B
    /// character in the name; the same people for the same `--seed`), then
    /// extracts them into making-card tasks, and exits.
    Portal(cli::SimPortalOptions),
    /// An ID / permanent-residence card reader (GA 467 frames) on a
    /// pseudo-terminal, holding a sample card. It prints `pty: PATH` (the
    /// serial device to open) and then `cardhub sim id-reader ready`, and
    /// runs until SIGINT or SIGTERM.
    IdReader(cli::SimIdReaderOptions),
    /// A PTP still-image camera served over TCP (cardhub's carriage of PTP
    /// containers), taking the centre's 358 x 441 ID photos. It prints
    /// `address: HOST:PORT` and then `cardhub sim camera ready`, and runs
    /// until SIGINT or SIGTERM.
    Camera(cli::SimCameraOptions),
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Apply the embedded migrations (the hub also does this at start).
    Migrate,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token; it is printed once and stored only as a digest.
    Create {
        /// A unique name (e.g. `icbc-channel`, `wall-screen-1`).
        #[arg(long)]
        name: String,
        /// The token's role (admin, centre-staff, workshop-operator,
        /// branch-operator, outside-system, screen).
        #[arg(long)]
        role: Role,
    },
    /// List tokens (names, roles, dates; never the secret).
    List,
    /// Revoke a token by name.
    Revoke {
        /// The token's name.
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum OperatorCommand {
    /// Create an operator; the password is read from standard input (one
    /// line), or generated and printed once when standard input is a terminal
    /// or empty.
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// Name shown in the console and the watermark.
        #[arg(long)]
        display_name: Option<String>,
        /// The operator's role.
        #[arg(long)]
        role: Role,
        /// Branch code, for branch operators.
        #[arg(long)]
        branch: Option<String>,
        /// Allow the operator to accept applications without an ID card
        /// read (手工录入), e.g. when the reader is out of order.
        #[arg(long)]
        manual_entry: bool,
    },
    /// List operators.
    List,
}

#[derive(Debug, Subcommand)]
enum TerminalsCommand {
    /// Register a branch terminal; it may connect at once.
    Register {
        /// Its id (`T-0001`): letters, digits, `-`, `_`, `.`.
        #[arg(long)]
        id: String,
        /// The code of the branch it serves.
        #[arg(long)]
        branch: String,
        /// Its SM2 public key, SEC1 hex (130 digits starting 04, as
        /// `cardhub terminal --new-key` prints it).
        #[arg(long, value_name = "HEX")]
        public_key: String,
        /// Where it stands, in words.
        #[arg(long)]
        description: Option<String>,
    },
    /// List terminals (ids, branches, status, when last seen).
    List,
    /// Disable a terminal: it is refused at its next connection (a running
    /// hub closes its link when disabled over HTTP).
    Disable {
        /// The terminal's id.
        #[arg(long)]
        id: String,
    },
    /// Enable a disabled terminal.
    Enable {
        /// The terminal's id.
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit 0 when intact, 1 naming the first broken
    /// entry otherwise.
    Verify,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// cardhub's SM2/SM3/SM4 against `openssl speed` on this machine, as
    /// ratios.
    Crypto {
        /// Seconds each operation is measured for (each side).
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Personalisation and card check of simulated cards through pcscd +
    /// vpcd (the PC/SC test rig must be running: `scripts/pcsc-rig.sh
    /// start`), beside a bare PC/SC transmit loop of the same APDUs.
    Chip {
        /// Cards to personalise and check.
        #[arg(long, default_value_t = 20)]
        cards: usize,
        /// Also list the largest gaps between the hub's PC/SC calls
        /// (medians over the cards): where its own time a card goes.
        #[arg(long, value_name = "N")]
        gaps: Option<usize>,
    },
    /// Production lines of simulated printers and cards through TCP and
    /// pcscd + vpcd, driven by a hub process: cards per second and the
    /// hub's CPU per card (the PC/SC test rig must be running).
    Workshop {
        /// Line counts to run, one run each, e.g. `1,8`.
        #[arg(long, value_delimiter = ',', default_value = "1,8")]
        lines: Vec<usize>,
        /// Printers on each line.
        #[arg(long, default_value_t = 2)]
        printers_per_line: usize,
        /// Cards queued per printer.
        #[arg(long, default_value_t = 40)]
        cards_per_printer: usize,
        /// Printer timing: `zero` or `realistic`.
        #[arg(long, default_value = "zero")]
        timing: String,
        /// Stop after this many seconds of production (for realistic
        /// timings) instead of when every card is done.
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Branch terminals' sessions held over /ws/terminal (heartbeats
    /// only) while branch operators send information queries over HTTP,
    /// driven by a hub process: query p50/p99 and the hub's memory per
    /// idle session.
    Terminals {
        /// Terminal sessions held.
        #[arg(long, default_value_t = 10_000)]
        sessions: usize,
        /// Information queries a second.
        #[arg(long, default_value_t = 2_000)]
        rate: u32,
        /// Seconds of queries.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Seconds the sessions idle before the hub's memory is read.
        #[arg(long, default_value_t = 20)]
        idle_secs: u64,
        /// Holders the queries look up.
        #[arg(long, default_value_t = 1_000)]
        persons: usize,
        /// Sessions linking at once.
        #[arg(long, default_value_t = 64)]
        connect_concurrency: usize,
    },
    /// Change-to-screen latency of the monitoring wall's WebSocket under a
    /// synthetic status load, driven by a hub process: p50/p99, the hub's
    /// memory and CPU, without and then with screens that stop reading.
    Monitor {
        /// Simulated devices publishing their status.
        #[arg(long, default_value_t = 1000)]
        devices: u32,
        /// Status changes a second, all devices together.
        #[arg(long, default_value_t = 5000)]
        rate: u32,
        /// Screens that read their socket (one thread each).
        #[arg(long, default_value_t = 200)]
        screens: usize,
        /// Seconds each of the two phases lasts.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Screens that stop reading, added in the second phase.
        #[arg(long, default_value_t = 1)]
        stalled: usize,
        /// The hub's coalescing tick (`[monitor] tick_ms`).
        #[arg(long, default_value_t = 100)]
        tick_ms: u64,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    // The terminal reads its own configuration, not the hub's.
    let command = match args.command {
        Command::Terminal(options) => return cardhub_web::agent::main(args.config, options),
        command => command,
    };
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cardhub: {e}");
            return ExitCode::from(2);
        }
    };
    cardhub_web::telemetry::init_logging(&config.log);
    let system = actix_rt::System::new();
    system.block_on(async move {
        match command {
            Command::Serve => cli::serve(config).await,
            Command::Db {
                command: DbCommand::Migrate,
            } => cli::db_migrate(&config).await,
            Command::Token { command } => match command {
                TokenCommand::Create { name, role } => {
                    cli::token_create(&config, &name, role).await
                }
                TokenCommand::List => cli::token_list(&config).await,
                TokenCommand::Revoke { name } => cli::token_revoke(&config, &name).await,
            },
            Command::Operator { command } => match command {
                OperatorCommand::Create {
                    username,
                    display_name,
                    role,
                    branch,
                    manual_entry,
                } => {
                    cli::operator_create(
                        &config,
                        &username,
                        display_name.as_deref(),
                        role,
                        branch.as_deref(),
                        manual_entry,
                    )
                    .await
                }
                OperatorCommand::List => cli::operator_list(&config).await,
            },
            Command::Terminals { command } => match command {
                TerminalsCommand::Register {
                    id,
                    branch,
                    public_key,
                    description,
                } => {
                    cli::terminals_register(
                        &config,
                        &id,
                        &branch,
                        &public_key,
                        description.as_deref(),
                    )
                    .await
                }
                TerminalsCommand::List => cli::terminals_list(&config).await,
                TerminalsCommand::Disable { id } => {
                    cli::terminals_set_status(&config, &id, TerminalStatus::Disabled).await
                }
                TerminalsCommand::Enable { id } => {
                    cli::terminals_set_status(&config, &id, TerminalStatus::Active).await
                }
            },
            Command::Audit {
                command: AuditCommand::Verify,
            } => cli::audit_verify(&config).await,
            Command::Bench {
                command: BenchCommand::Crypto { seconds },
            } => cli::bench_crypto(seconds),
            Command::Bench {
                command: BenchCommand::Chip { cards, gaps },
            } => cli::bench_chip(cardhub_web::bench::chip::ChipBenchOptions { cards, gaps }),
            Command::Bench {
                command:
                    BenchCommand::Workshop {
                        lines,
                        printers_per_line,
                        cards_per_printer,
                        timing,
                        seconds,
                    },
            } => cli::bench_workshop(cardhub_web::bench::workshop::WorkshopBenchOptions {
                lines,
                printers_per_line,
                cards_per_printer,
                timing,
                seconds,
            }),
            Command::Bench {
                command:
                    BenchCommand::Monitor {
                        devices,
                        rate,
                        screens,
                        seconds,
                        stalled,
                        tick_ms,
                    },
            } => cli::bench_monitor(cardhub_web::bench::monitor::MonitorBenchOptions {
                devices,
                rate,
                screens,
                seconds,
                stalled,
                tick_ms,
            }),
            Command::Bench {
                command:
                    BenchCommand::Terminals {
                        sessions,
                        rate,
                        seconds,
                        idle_secs,
                        persons,
                        connect_concurrency,
                    },
            } => cli::bench_terminals(cardhub_web::bench::terminals::TerminalBenchOptions {
                sessions,
                rate,
                seconds,
                idle_secs,
                persons,
                connect_concurrency,
            }),
            Command::Sim {
                command: SimCommand::Card(options),
            } => cli::sim_card(options),
            Command::Sim {
                command: SimCommand::Printer(options),
            } => cli::sim_printer(options).await,
            Command::Sim {
                command: SimCommand::Portal(options),
            } => cli::sim_portal(options),
            Command::Sim {
                command: SimCommand::IdReader(options),
            } => cli::sim_id_reader(options).await,
            Command::Sim {
                command: SimCommand::Camera(options),
            } => cli::sim_camera(options).await,
            Command::Terminal(_) => unreachable!("handled before the hub's configuration is read"),
        }
    })
}
