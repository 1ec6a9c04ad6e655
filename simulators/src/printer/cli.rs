//! The entry behind `cardhub sim printer`: typed arguments in
//! ([`SimPrinterArgs`]; the `cardhub` binary parses the command line), a
//! running printer out. [`run`] prints one `key: value` line per address
//! and a final ready line, which is what scripts and tests wait for:
//!
//! ```text
//! listen: 127.0.0.1:40123          (or  pty: /dev/pts/7)
//! address: tcp://127.0.0.1:40123   (what the hub's configuration names)
//! control: 127.0.0.1:40125
//! vpcd: 127.0.0.1:35963            (or  vpcd: none)
//! state-dir: /var/lib/cardhub/printer-1
//! out: /var/lib/cardhub/printer-1/out
//! cardhub sim printer ready
//! ```

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use super::machine::Timing;
use super::simulator::{
    HostTransport, PrinterSimConfig, PrinterSimError, PrinterSimulator, RunningPrinter,
    ShutdownHandle,
};

/// Arguments of `cardhub sim printer`.
#[derive(Clone, PartialEq, Eq)]
pub struct SimPrinterArgs {
    /// `--listen HOST:PORT` or `--pty`.
    pub host: HostTransport,
    /// `--vpcd HOST:PORT`: the encoder's vpcd reader.
    pub vpcd: Option<SocketAddr>,
    /// `--state-dir DIR`.
    pub state_dir: PathBuf,
    /// `--out DIR` (default `<state-dir>/out`).
    pub out_dir: Option<PathBuf>,
    /// `--timing zero|realistic`.
    pub timing: Timing,
    /// `--faces png|none`.
    pub write_faces: bool,
    /// `--chip-prefix HEX`.
    pub chip_prefix: String,
    /// From `--key-file` or `--transport-key-hex`.
    pub transport_key: [u8; 16],
    /// `--hopper N`.
    pub hopper: Option<u32>,
    /// `--control HOST:PORT`.
    pub control: SocketAddr,
}

impl std::fmt::Debug for SimPrinterArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimPrinterArgs")
            .field("host", &self.host)
            .field("vpcd", &self.vpcd)
            .field("state_dir", &self.state_dir)
            .field("out_dir", &self.out_dir)
            .field("timing", &self.timing)
            .field("write_faces", &self.write_faces)
            .field("chip_prefix", &self.chip_prefix)
            .field("transport_key", &"<secret>")
            .field("hopper", &self.hopper)
            .field("control", &self.control)
            .finish()
    }
}

/// A command-line value that does not parse, or a failure to start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// `--timing` is neither `zero` nor `realistic`.
    #[error(
        "--timing `{0}` is not known: use zero (instant steps) or realistic (about 26 s a card)"
    )]
    Timing(String),
    /// `--faces` is neither `png` nor `none`.
    #[error("--faces `{0}` is not known: use png (write each face to --out) or none")]
    Faces(String),
    /// The transport key is not 32 hex digits.
    #[error("--transport-key-hex must be 32 hex digits (a 16-byte key)")]
    TransportKey,
    /// An address does not resolve.
    #[error("address `{addr}` does not resolve: {reason}; give host:port such as 127.0.0.1:0")]
    Address {
        /// The text given.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The printer did not start.
    #[error(transparent)]
    Sim(#[from] PrinterSimError),
    /// The start-up lines could not be printed.
    #[error("cannot write to standard output: {0}")]
    Stdout(#[source] std::io::Error),
}

/// `zero` or `realistic`.
pub fn parse_timing(text: &str) -> Result<Timing, CliError> {
    Timing::parse(&text.to_ascii_lowercase()).ok_or_else(|| CliError::Timing(text.to_owned()))
}

/// `png` (write faces) or `none`.
pub fn parse_faces(text: &str) -> Result<bool, CliError> {
    match text.to_ascii_lowercase().as_str() {
        "png" => Ok(true),
        "none" => Ok(false),
        _ => Err(CliError::Faces(text.to_owned())),
    }
}

/// A 16-byte key from 32 hex digits.
pub fn parse_transport_key(hex_text: &str) -> Result<[u8; 16], CliError> {
    hex::decode(hex_text.trim())
        .ok()
        .and_then(|k| <[u8; 16]>::try_from(k).ok())
        .ok_or(CliError::TransportKey)
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

/// Starts the printer.
pub fn start(args: SimPrinterArgs) -> Result<RunningPrinter, CliError> {
    let out_dir = args
        .out_dir
        .clone()
        .unwrap_or_else(|| args.state_dir.join("out"));
    let config = PrinterSimConfig {
        host: args.host,
        control: args.control,
        vpcd: args.vpcd,
        out_dir,
        timing: args.timing,
        write_faces: args.write_faces,
        chip_prefix: args.chip_prefix,
        transport_key: args.transport_key,
        hopper: args.hopper,
        ribbon: None,
        serial: None,
        state_dir: args.state_dir,
    };
    Ok(PrinterSimulator::start(config)?)
}

/// Writes the start-up lines (see the module documentation).
pub fn announce(printer: &RunningPrinter, out: &mut impl Write) -> std::io::Result<()> {
    let snapshot = printer.snapshot();
    match (printer.addr(), printer.pty_path()) {
        (Some(addr), _) => writeln!(out, "listen: {addr}")?,
        (None, Some(path)) => writeln!(out, "pty: {}", path.display())?,
        (None, None) => {}
    }
    writeln!(out, "address: {}", printer.host_address())?;
    writeln!(out, "control: {}", printer.control_addr())?;
    writeln!(
        out,
        "vpcd: {}",
        snapshot.coupler.vpcd.as_deref().unwrap_or("none")
    )?;
    writeln!(out, "state-dir: {}", snapshot.state_dir)?;
    writeln!(out, "out: {}", snapshot.out_dir)?;
    writeln!(out, "cardhub sim printer ready")?;
    out.flush()
}

/// Runs `cardhub sim printer`: starts the printer, prints its addresses,
/// hands `on_start` a [`ShutdownHandle`] (the binary wires SIGINT and
/// SIGTERM to it), and returns once a signal or a control client's
/// `shutdown` stopped it. Killing the process is also safe: the state is
/// saved after every change.
pub fn run(args: SimPrinterArgs, on_start: impl FnOnce(ShutdownHandle)) -> Result<(), CliError> {
    let printer = start(args)?;
    announce(&printer, &mut std::io::stdout().lock()).map_err(CliError::Stdout)?;
    on_start(printer.shutdown_handle());
    printer.wait_for_shutdown();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_or_say_what_is_accepted() {
        assert_eq!(parse_timing("zero").unwrap(), Timing::zero());
        assert_eq!(parse_timing("Realistic").unwrap(), Timing::realistic());
        assert!(
            parse_timing("fast")
                .unwrap_err()
                .to_string()
                .contains("zero")
        );
        assert!(parse_faces("png").unwrap());
        assert!(!parse_faces("none").unwrap());
        assert!(parse_faces("jpeg").is_err());
        assert_eq!(parse_transport_key(&"5a".repeat(16)).unwrap(), [0x5A; 16]);
        assert!(parse_transport_key("5a5a").is_err());
        assert!(resolve_addr("127.0.0.1:0").is_ok());
        assert!(resolve_addr("no port").is_err());
    }
}
