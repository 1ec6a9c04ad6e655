//! The entry behind `cardhub sim card`: parsed arguments in
//! ([`SimCardArgs`]), a running card out. The `cardhub` binary parses the
//! command line (clap lives there); this module turns strings into typed
//! values ([`BlankCard::parse`], [`parse_algorithm`], [`resolve_addr`]),
//! creates a vendor-blank card file when asked and none exists, starts the
//! simulator and prints the one line tests wait for:
//!
//! ```text
//! cardsim control on 127.0.0.1:PORT
//! ```

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use cardhub_protocols::chip::sm::CardAlgorithm;

use super::memory::{CardMemory, MemoryError};
use super::simulator::{CardSimulator, RunningCard, SimConfig, SimError};

/// Arguments of `cardhub sim card`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimCardArgs {
    /// vpcd's listening address (`--vpcd 127.0.0.1:35963`).
    pub vpcd: SocketAddr,
    /// The card file (`--card-file card.json`).
    pub card_file: PathBuf,
    /// The control listener (`--control 127.0.0.1:0`).
    pub control: SocketAddr,
    /// `--blank <cardid> --transport-key-hex <hex> [--algorithm sm4|3des]`:
    /// create a vendor-blank card file if `card_file` does not exist.
    pub blank: Option<BlankCard>,
    /// Whether the card starts inserted (`--removed` makes it false).
    pub inserted: bool,
    /// `--t0`: answer data with `61xx` and GET RESPONSE.
    pub t0_get_response: bool,
}

/// A vendor-blank card to create.
#[derive(Clone, PartialEq, Eq)]
pub struct BlankCard {
    /// The card identification code, 16 hex characters.
    pub card_id_code: String,
    /// The centre's transport master key, from which KT is diversified.
    pub transport_master: [u8; 16],
    /// SM4 or 3DES.
    pub algorithm: CardAlgorithm,
}

impl std::fmt::Debug for BlankCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlankCard")
            .field("card_id_code", &self.card_id_code)
            .field("transport_master", &"<secret>")
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// A command-line value that does not parse, or a failure to start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// `--transport-key-hex` is not 32 hex digits.
    #[error("--transport-key-hex must be 32 hex digits (a 16-byte key)")]
    TransportKey,
    /// `--algorithm` is neither sm4 nor 3des.
    #[error("--algorithm `{0}` is not known: use sm4 or 3des")]
    Algorithm(String),
    /// An address does not resolve.
    #[error("address `{addr}` does not resolve: {reason}; give host:port such as 127.0.0.1:35963")]
    Address {
        /// The text given.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The blank card could not be created.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The simulator did not start.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The start-up line could not be printed.
    #[error("cannot write to standard output: {0}")]
    Stdout(#[source] std::io::Error),
}

impl BlankCard {
    /// Parses `--blank`, `--transport-key-hex` and `--algorithm`.
    pub fn parse(
        card_id_code: &str,
        transport_key_hex: &str,
        algorithm: &str,
    ) -> Result<Self, CliError> {
        super::memory::parse_card_id_code(card_id_code)?;
        let transport_master = hex::decode(transport_key_hex)
            .ok()
            .and_then(|k| <[u8; 16]>::try_from(k).ok())
            .ok_or(CliError::TransportKey)?;
        Ok(Self {
            card_id_code: card_id_code.to_owned(),
            transport_master,
            algorithm: parse_algorithm(algorithm)?,
        })
    }
}

/// `sm4`, or `3des`/`tdes` (case-insensitive).
pub fn parse_algorithm(text: &str) -> Result<CardAlgorithm, CliError> {
    match text.to_ascii_lowercase().as_str() {
        "sm4" => Ok(CardAlgorithm::Sm4),
        "3des" | "tdes" => Ok(CardAlgorithm::Tdes),
        _ => Err(CliError::Algorithm(text.to_owned())),
    }
}

/// Resolves `host:port` to its first address.
pub fn resolve_addr(text: &str) -> Result<SocketAddr, CliError> {
    let error = |reason: String| CliError::Address {
        addr: text.to_owned(),
        reason,
    };
    text.to_socket_addrs()
        .map_err(|e| error(e.to_string()))?
        .next()
        .ok_or_else(|| error("no address found".into()))
}

/// Creates the blank card file if asked and absent, and starts the card.
pub fn start(args: SimCardArgs) -> Result<RunningCard, CliError> {
    if let Some(blank) = &args.blank {
        if args.card_file.exists() {
            let existing = CardMemory::load(&args.card_file)?;
            if !existing
                .card_id_code
                .eq_ignore_ascii_case(&blank.card_id_code)
            {
                tracing::warn!(
                    file = %args.card_file.display(),
                    existing = %existing.card_id_code,
                    asked = %blank.card_id_code,
                    "the card file exists with another card identification code; it is kept as it is"
                );
            }
        } else {
            CardMemory::blank(
                &blank.card_id_code,
                &blank.transport_master,
                blank.algorithm,
            )?
            .save(&args.card_file)?;
            tracing::info!(file = %args.card_file.display(), "blank card created");
        }
    }
    Ok(CardSimulator::start(SimConfig {
        vpcd: args.vpcd,
        card_file: args.card_file,
        control: args.control,
        inserted: args.inserted,
        t0_get_response: args.t0_get_response,
        seed: None,
    })?)
}

/// Runs `cardhub sim card`: starts the card, prints `cardsim control on
/// ADDR`, and returns when a control client sends `shutdown` (killing the
/// process is also safe: the card file is saved after every change).
pub fn run(args: SimCardArgs) -> Result<(), CliError> {
    let card = start(args)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "cardsim control on {}", card.control_addr()).map_err(CliError::Stdout)?;
    stdout.flush().map_err(CliError::Stdout)?;
    drop(stdout);
    card.wait_for_shutdown();
    Ok(())
}
