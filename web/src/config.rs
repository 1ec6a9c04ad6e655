//! The hub's configuration: the embedded default (`config/default.toml`,
//! compiled in), an optional file read on top of it, and `CARDHUB_*`
//! environment variables that override single keys.
//!
//! Every struct here rejects unknown keys; the doc comments of the fields are
//! repeated as comments in `config/default.toml`, which shows every option
//! with its default. Errors name the source (file or variable), the key and
//! the reason. Loading does the file I/O; [`Config::from_sources`] is the pure
//! part and is what the tests drive.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Value;

pub use crate::monitor::MonitorConfig;
pub use crate::simulate::SimulatorsConfig;
pub use crate::terminal::TerminalConfig;
pub use cardhub_actors::SupervisionConfig;
pub use cardhub_actors::chip::ChipConfig;
pub use cardhub_actors::workshop::WorkshopConfig;

/// The embedded default configuration, as text.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// Environment variables that start with `CARDHUB_` but are not configuration
/// keys (test and CI switches, the PC/SC test rig's size, pcscd and where
/// `scripts/pcsc-wide.sh` installs it); they are left alone.
const NON_CONFIG_VARS: &[&str] = &[
    "CARDHUB_REQUIRE_PG",
    "CARDHUB_BIN",
    "CARDHUB_PCSC_RIG_ENTRIES",
    "CARDHUB_PCSCD",
    "CARDHUB_PCSC_WIDE_PREFIX",
];

/// How the hub runs: with development conveniences, or strictly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Creates a development key file, API token and admin operator on first
    /// start (the embedded default, for a laptop).
    Development,
    /// Creates none of them; refuses to start without a real key file.
    Production,
}

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `development` or `production`.
    pub mode: Mode,
    /// HTTP listener.
    pub http: HttpConfig,
    /// The database.
    pub database: DatabaseConfig,
    /// Key material.
    pub crypto: CryptoConfig,
    /// Authentication.
    pub auth: AuthConfig,
    /// Logging.
    pub log: LogConfig,
    /// Restart intensity and back-off of the actor tree.
    pub supervision: SupervisionConfig,
    /// Card readers, personalisation and the card check.
    pub chip: ChipConfig,
    /// The workshop: card numbers, faces, production lines and printers.
    #[serde(default)]
    pub workshop: WorkshopConfig,
    /// The monitoring wall: the status bus, screens and alert rules.
    pub monitor: MonitorConfig,
    /// Simulated printers and applications for a laptop with no hardware
    /// (development only).
    pub simulators: SimulatorsConfig,
    /// The branch terminals' link (`/ws/terminal`).
    #[serde(default)]
    pub terminal: TerminalConfig,
}

/// `[http]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address the HTTP API, the WebSockets and the wall page listen on.
    pub bind: SocketAddr,
    /// HTTP worker threads; 0 means one per CPU core.
    pub workers: usize,
    /// Seconds in-flight requests get to finish on SIGINT/SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Serve /metrics without a token.
    pub metrics_public: bool,
}

/// `[database]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://<path>` or `postgres://...`.
    pub url: String,
    /// Connections in the pool.
    pub pool_size: u32,
    /// Seconds to wait for a free connection.
    pub connect_timeout_secs: u64,
}

/// `[crypto]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoConfig {
    /// The key file holding the hub's SM4 and HMAC-SM3 keys.
    pub key_file: PathBuf,
}

/// `[auth]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Development only: where the first start writes an admin bearer token.
    pub dev_token_file: PathBuf,
    /// Development only: where the first start writes the admin's password.
    pub dev_admin_password_file: PathBuf,
    /// Operator session lifetime in seconds.
    pub session_ttl_secs: u64,
    /// Failed logins in a row before an operator account is locked.
    pub max_failed_logins: u32,
    /// Seconds an account stays locked; also the window of the per-address
    /// limit.
    pub lockout_secs: u64,
    /// Failed logins from one client address, across all usernames, within
    /// `lockout_secs` before that address is refused.
    pub max_failed_logins_per_address: u32,
}

/// `[log]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// tracing filter, RUST_LOG syntax.
    pub filter: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file named with --config could not be read.
    #[error("cannot read config file {path}: {source}; check the path given with --config")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A source is not valid TOML.
    #[error("{source_name} is not valid TOML: {message}")]
    Syntax {
        /// The file or variable.
        source_name: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key is unknown or its value is invalid.
    #[error("{source_name}: key `{key}`: {reason}")]
    Key {
        /// Where the offending value came from (file or environment variable).
        source_name: String,
        /// The dotted key path.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `CARDHUB_*` variable names no key.
    #[error(
        "environment variable {var} names no configuration key ({key}); remove it or fix its name (CARDHUB_<SECTION>__<KEY>)"
    )]
    UnknownVariable {
        /// The variable.
        var: String,
        /// The key path it maps to.
        key: String,
    },
}

impl Config {
    /// Loads the embedded default, then `file` on top of it when given, then
    /// the `CARDHUB_*` variables of this process's environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let file_text = match file {
            Some(path) => Some((
                path.display().to_string(),
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?,
            )),
            None => None,
        };
        let env: Vec<(String, String)> = std::env::vars().collect();
        Config::from_sources(
            file_text.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
            &env,
        )
    }

    /// The pure part of [`Config::load`]: the default, an optional
    /// `(name, text)` file and environment pairs.
    pub fn from_sources(
        file: Option<(&str, &str)>,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut merged = parse_table("the embedded default config", DEFAULT_TOML)?;
        // Which source set each key, for error messages.
        let mut origins: Vec<(String, String)> = Vec::new();
        if let Some((name, text)) = file {
            let table = parse_table(name, text)?;
            collect_keys(&table, "", &mut |key| origins.push((key, name.to_owned())));
            merge(&mut merged, table);
        }
        for (var, value) in env {
            let Some(rest) = var.strip_prefix("CARDHUB_") else {
                continue;
            };
            if NON_CONFIG_VARS.contains(&var.as_str()) {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            let key = path.join(".");
            if !has_path(&merged, &path) {
                return Err(ConfigError::UnknownVariable {
                    var: var.clone(),
                    key,
                });
            }
            set_path(&mut merged, &path, parse_env_value(value));
            origins.push((key, format!("environment variable {var}")));
        }
        let de = Value::Table(merged);
        serde_path_to_error::deserialize::<_, Config>(de).map_err(|err| {
            let key = err.path().to_string();
            let source_name = origins
                .iter()
                .rev()
                .find(|(k, _)| {
                    *k == key
                        || key.starts_with(&format!("{k}."))
                        || k.starts_with(&format!("{key}."))
                })
                .map(|(_, s)| s.clone())
                .or_else(|| file.map(|(n, _)| n.to_owned()))
                .unwrap_or_else(|| "the embedded default config".to_owned());
            ConfigError::Key {
                source_name,
                key,
                reason: err.into_inner().to_string(),
            }
        })
    }

    /// Whether the database is SQLite (the embedded kind) rather than
    /// PostgreSQL.
    pub fn is_sqlite(&self) -> bool {
        self.database.url.starts_with("sqlite:")
    }
}

fn parse_table(name: &str, text: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            source_name: name.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
}

/// Deep-merges `over` into `base`: tables merge key by key, other values
/// replace.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn collect_keys(table: &toml::Table, prefix: &str, out: &mut dyn FnMut(String)) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Table(t) => collect_keys(t, &key, out),
            _ => out(key),
        }
    }
}

fn has_path(table: &toml::Table, path: &[String]) -> bool {
    match path {
        [] => false,
        [last] => table.contains_key(last),
        [first, rest @ ..] => {
            matches!(table.get(first), Some(Value::Table(t)) if has_path(t, rest))
        }
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            if let Some(Value::Table(t)) = table.get_mut(first) {
                set_path(t, rest, value);
            }
        }
    }
}

/// An environment value as TOML (`8`, `true`, `"x"`), else as a plain string.
fn parse_env_value(raw: &str) -> Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn embedded_default_loads() {
        let c = Config::from_sources(None, &[]).expect("default config is valid");
        assert_eq!(c.mode, Mode::Development);
        assert_eq!(c.http.bind.to_string(), "127.0.0.1:8080");
        assert!(c.is_sqlite());
        assert_eq!(c.database.url, "sqlite://data/cardhub.db");
    }

    #[test]
    fn file_overrides_only_what_it_names() {
        let c = Config::from_sources(
            Some((
                "prod.toml",
                "mode = \"production\"\n[http]\nbind = \"0.0.0.0:9000\"\n",
            )),
            &[],
        )
        .unwrap();
        assert_eq!(c.mode, Mode::Production);
        assert_eq!(c.http.bind.port(), 9000);
        assert_eq!(c.auth.max_failed_logins, 5);
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let err =
            Config::from_sources(Some(("site.toml", "[http]\nbnid = \"x\"\n")), &[]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("site.toml"), "{msg}");
        assert!(msg.contains("bnid"), "{msg}");
    }

    #[test]
    fn bad_value_names_file_key_and_reason() {
        let err = Config::from_sources(
            Some(("site.toml", "[http]\nbind = \"not an address\"\n")),
            &[],
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("site.toml: key `http.bind`"), "{msg}");
        assert!(msg.contains("invalid socket address"), "{msg}");
    }

    #[test]
    fn syntax_error_names_the_file() {
        let err = Config::from_sources(Some(("site.toml", "[http\n")), &[]).unwrap_err();
        assert!(
            matches!(err, ConfigError::Syntax { ref source_name, .. } if source_name == "site.toml")
        );
    }

    #[test]
    fn environment_overrides_single_keys() {
        let c = Config::from_sources(
            None,
            &env(&[
                ("CARDHUB_HTTP__BIND", "127.0.0.1:0"),
                ("CARDHUB_DATABASE__POOL_SIZE", "3"),
                ("CARDHUB_MODE", "production"),
                ("CARDHUB_REQUIRE_PG", "1"),
                ("CARDHUB_PCSC_RIG_ENTRIES", "50"),
                ("CARDHUB_PCSCD", "/opt/cardhub-pcsc-wide/sbin/pcscd"),
                ("CARDHUB_PCSC_WIDE_PREFIX", "/opt/cardhub-pcsc-wide"),
                ("PATH", "/usr/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.http.bind.port(), 0);
        assert_eq!(c.database.pool_size, 3);
        assert_eq!(c.mode, Mode::Production);
    }

    #[test]
    fn the_demo_workshop_is_switched_off_from_the_environment() {
        let demo = Config::from_sources(None, &[]).unwrap();
        assert_eq!(demo.workshop.lines.len(), 1);
        assert!(demo.simulators.printers);
        assert!(demo.simulators.applications > 0);
        // What the end-to-end tests set: an array of tables replaced by an
        // empty array, and the simulators off.
        let c = Config::from_sources(
            None,
            &env(&[
                ("CARDHUB_WORKSHOP__LINES", "[]"),
                ("CARDHUB_SIMULATORS__PRINTERS", "false"),
                ("CARDHUB_SIMULATORS__APPLICATIONS", "0"),
            ]),
        )
        .unwrap();
        assert!(c.workshop.lines.is_empty());
        assert!(!c.simulators.printers);
        assert_eq!(c.simulators.applications, 0);
        // A file's lines replace the default's rather than adding to them.
        let c = Config::from_sources(
            Some((
                "site.toml",
                "[[workshop.lines]]\nname = \"l9\"\n[[workshop.lines.printers]]\n\
                 name = \"p9\"\naddress = \"tcp://10.0.0.9:9100\"\nencoder = \"r9\"\n",
            )),
            &[],
        )
        .unwrap();
        let names: Vec<&str> = c.workshop.lines.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["l9"]);
    }

    #[test]
    fn environment_typo_is_refused() {
        let err = Config::from_sources(None, &env(&[("CARDHUB_HTTP__BINDD", "x")])).unwrap_err();
        assert!(
            matches!(err, ConfigError::UnknownVariable { ref key, .. } if key == "http.bindd"),
            "{err}"
        );
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let err = Config::from_sources(None, &env(&[("CARDHUB_DATABASE__POOL_SIZE", "many")]))
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("CARDHUB_DATABASE__POOL_SIZE"), "{msg}");
        assert!(msg.contains("database.pool_size"), "{msg}");
    }
}
