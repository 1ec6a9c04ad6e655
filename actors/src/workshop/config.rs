//! The `[workshop]` settings: the card number prefix, the retry limit, the
//! card face and envelope layouts, the fonts, and the production lines with
//! their printers. Read from the hub's TOML (`config/default.toml`
//! documents every key); [`WorkshopConfig::validate`] says what is wrong
//! with the key's name.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use cardhub_devices::printer::PrinterAddress;
use serde::{Deserialize, Serialize};

use super::program::{Program, Step};

/// `[workshop]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkshopConfig {
    /// Whether the lines are started at all.
    pub enabled: bool,
    /// The workshop's name on the monitoring wall (its screens can filter
    /// on it).
    pub name: String,
    /// Leading characters of every card number issued (1 to 8 of the 9).
    pub number_prefix: String,
    /// Physical cards a task may use before it fails (1..=10).
    pub max_attempts: i32,
    /// The card face layout (TOML); empty: the stock layout.
    pub card_face: Option<PathBuf>,
    /// The envelope inner page layout (TOML); empty: the stock layout.
    pub envelope: Option<PathBuf>,
    /// Font files, searched in order for each character (rare characters
    /// need a font that has them: HanaMin A and B by default).
    pub fonts: Vec<PathBuf>,
    /// How long an idle printer waits before it looks at the queue again.
    pub idle_poll_ms: u64,
    /// First wait before a printer whose link is lost is tried again; it
    /// doubles up to `reconnect_max_ms`.
    pub reconnect_initial_ms: u64,
    /// Longest wait between reconnection attempts.
    pub reconnect_max_ms: u64,
    /// How often a printer that needs an operator (jam, ribbon out, hopper
    /// empty, cover open) is asked whether the cause was removed.
    pub fault_poll_ms: u64,
    /// Times the chip step is tried on one card when the encoder (not the
    /// card) fails.
    pub chip_attempts: u32,
    /// The production lines.
    pub lines: Vec<LineConfig>,
}

impl Default for WorkshopConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            name: "main".to_owned(),
            number_prefix: "A".to_owned(),
            max_attempts: 3,
            card_face: None,
            envelope: None,
            fonts: cardhub_devices::face::HANAMIN_FONTS
                .iter()
                .map(PathBuf::from)
                .collect(),
            idle_poll_ms: 500,
            reconnect_initial_ms: 200,
            reconnect_max_ms: 10_000,
            fault_poll_ms: 1_000,
            chip_attempts: 3,
            lines: Vec::new(),
        }
    }
}

/// `[[workshop.lines]]`: one production line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// Its name (`line-1`).
    pub name: String,
    /// `full`, `no-contactless`, `no-overlay` or `basic`; ignored when
    /// `steps` is given.
    #[serde(default = "default_program")]
    pub program: String,
    /// The steps, when the line runs none of the four programs.
    #[serde(default)]
    pub steps: Option<Vec<Step>>,
    /// Whether the line starts producing when the hub starts (a line an
    /// operator paused or stopped stays so across restarts).
    #[serde(default)]
    pub autostart: bool,
    /// The operator production is recorded under.
    #[serde(default = "default_operator")]
    pub operator: String,
    /// The line's card number prefix, when not the workshop's.
    #[serde(default)]
    pub number_prefix: Option<String>,
    /// The branch code of an instant-issue line (即时补换): its printer
    /// stands at that branch's counter, driven over the terminal's link
    /// (`terminal://TERMINAL/DEVICE` addresses). It makes only the cards
    /// queued for it, never the workshop's queue.
    #[serde(default)]
    pub branch: Option<String>,
    /// The line's printers.
    pub printers: Vec<PrinterConfig>,
}

fn default_program() -> String {
    "full".to_owned()
}

fn default_operator() -> String {
    "workshop".to_owned()
}

/// `[[workshop.lines.printers]]`: one card printer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrinterConfig {
    /// Its name, unique in the workshop.
    pub name: String,
    /// `tcp://host:port` or `serial:///dev/ttyUSB0?baud=115200`.
    pub address: String,
    /// The PC/SC reader name of its contact encoder (also used at the
    /// contactless station).
    pub encoder: String,
}

/// A `[workshop]` setting the hub cannot work with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key `{key}`: {reason}")]
pub struct WorkshopConfigError {
    /// The key.
    pub key: String,
    /// Why, and what to write instead.
    pub reason: String,
}

impl WorkshopConfig {
    /// Checks every value; the first problem is the error.
    pub fn validate(&self) -> Result<(), WorkshopConfigError> {
        let bad = |key: String, reason: String| Err(WorkshopConfigError { key, reason });
        if !(1..=10).contains(&self.max_attempts) {
            return bad(
                "workshop.max_attempts".into(),
                format!("{} is not in 1..=10", self.max_attempts),
            );
        }
        check_prefix("workshop.number_prefix", &self.number_prefix)?;
        if self.chip_attempts == 0 {
            return bad("workshop.chip_attempts".into(), "must be at least 1".into());
        }
        if self.fonts.is_empty() {
            return bad(
                "workshop.fonts".into(),
                "no font files: list at least one (HanaMin A and B draw rare characters)".into(),
            );
        }
        for (key, value) in [
            ("workshop.idle_poll_ms", self.idle_poll_ms),
            ("workshop.reconnect_initial_ms", self.reconnect_initial_ms),
            ("workshop.fault_poll_ms", self.fault_poll_ms),
        ] {
            if value == 0 {
                return bad(key.into(), "must be at least 1".into());
            }
        }
        if self.reconnect_max_ms < self.reconnect_initial_ms {
            return bad(
                "workshop.reconnect_max_ms".into(),
                "is below workshop.reconnect_initial_ms".into(),
            );
        }
        let mut lines = BTreeSet::new();
        let mut printers = BTreeSet::new();
        let mut encoders = BTreeSet::new();
        for (i, line) in self.lines.iter().enumerate() {
            let key = |k: &str| format!("workshop.lines[{i}].{k}");
            if !is_identifier(&line.name) {
                return bad(key("name"), identifier_rule(&line.name));
            }
            if !lines.insert(line.name.as_str()) {
                return bad(key("name"), format!("`{}` names two lines", line.name));
            }
            line.program().map_err(|e| WorkshopConfigError {
                key: key(if line.steps.is_some() {
                    "steps"
                } else {
                    "program"
                }),
                reason: e.to_string(),
            })?;
            if let Some(prefix) = &line.number_prefix {
                check_prefix(&key("number_prefix"), prefix)?;
            }
            if line.operator.trim().is_empty() {
                return bad(key("operator"), "is empty".into());
            }
            if line.printers.is_empty() {
                return bad(key("printers"), "a line needs at least one printer".into());
            }
            for (j, printer) in line.printers.iter().enumerate() {
                let key = |k: &str| format!("workshop.lines[{i}].printers[{j}].{k}");
                if !is_identifier(&printer.name) {
                    return bad(key("name"), identifier_rule(&printer.name));
                }
                if !printers.insert(printer.name.as_str()) {
                    return bad(
                        key("name"),
                        format!("`{}` names two printers", printer.name),
                    );
                }
                if let Err(e) = printer.address.parse::<PrinterAddress>() {
                    return bad(key("address"), e.to_string());
                }
                if printer.encoder.trim().is_empty() {
                    return bad(
                        key("encoder"),
                        "is empty: name the encoder's PC/SC reader".into(),
                    );
                }
                if !encoders.insert(printer.encoder.as_str()) {
                    return bad(
                        key("encoder"),
                        format!(
                            "reader `{}` is the encoder of two printers",
                            printer.encoder
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    /// The PC/SC readers that are printers' encoders: the card reader
    /// manager leaves them to their lines.
    pub fn encoder_readers(&self) -> BTreeSet<String> {
        self.lines
            .iter()
            .flat_map(|l| l.printers.iter().map(|p| p.encoder.clone()))
            .collect()
    }

    pub(crate) fn idle_poll(&self) -> Duration {
        Duration::from_millis(self.idle_poll_ms)
    }

    pub(crate) fn fault_poll(&self) -> Duration {
        Duration::from_millis(self.fault_poll_ms)
    }
}

impl LineConfig {
    /// The line's program.
    pub fn program(&self) -> Result<Program, super::program::ProgramError> {
        match &self.steps {
            Some(steps) => Program::custom(steps),
            None => Program::named(&self.program),
        }
    }
}

fn check_prefix(key: &str, prefix: &str) -> Result<(), WorkshopConfigError> {
    cardhub_storage::workshop::format_card_number(prefix, 1)
        .map(|_| ())
        .map_err(|e| WorkshopConfigError {
            key: key.to_owned(),
            reason: e.to_string(),
        })
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn identifier_rule(name: &str) -> String {
    format!("`{name}` is not a name: use 1 to 64 letters, digits, `-` or `_`")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, printer: &str, encoder: &str) -> LineConfig {
        LineConfig {
            name: name.into(),
            program: "full".into(),
            steps: None,
            autostart: false,
            operator: "op".into(),
            number_prefix: None,
            branch: None,
            printers: vec![PrinterConfig {
                name: printer.into(),
                address: "tcp://127.0.0.1:9101".into(),
                encoder: encoder.into(),
            }],
        }
    }

    #[test]
    fn a_good_config_passes() {
        let config = WorkshopConfig {
            lines: vec![line("line-1", "p1", "r1"), line("line-2", "p2", "r2")],
            ..Default::default()
        };
        config.validate().unwrap();
        assert_eq!(config.encoder_readers().len(), 2);
    }

    #[test]
    fn mistakes_name_their_key() {
        let mut config = WorkshopConfig {
            lines: vec![line("line-1", "p1", "r1"), line("line-2", "p1", "r2")],
            ..Default::default()
        };
        assert_eq!(
            config.validate().unwrap_err().key,
            "workshop.lines[1].printers[0].name"
        );
        config.lines[1].printers[0].name = "p2".into();
        config.lines[1].printers[0].encoder = "r1".into();
        assert_eq!(
            config.validate().unwrap_err().key,
            "workshop.lines[1].printers[0].encoder"
        );
        config.lines[1].printers[0].encoder = "r2".into();
        config.lines[1].program = "fastest".into();
        assert_eq!(
            config.validate().unwrap_err().key,
            "workshop.lines[1].program"
        );
        config.lines[1].program = "basic".into();
        config.lines[0].printers[0].address = "udp://x".into();
        assert_eq!(
            config.validate().unwrap_err().key,
            "workshop.lines[0].printers[0].address"
        );
        config.lines[0].printers[0].address = "tcp://127.0.0.1:1".into();
        config.max_attempts = 0;
        assert_eq!(config.validate().unwrap_err().key, "workshop.max_attempts");
        config.max_attempts = 3;
        config.number_prefix = "TOOLONGPREFIX".into();
        assert_eq!(config.validate().unwrap_err().key, "workshop.number_prefix");
    }
}
