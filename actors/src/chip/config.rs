//! Chip settings as an operator writes them in the hub's `[chip]` config
//! section: which readers to drive, what to write to the card records that
//! do not come from the holder, the initial PIN and the centre's
//! substitution table for rare characters. The web crate embeds
//! [`ChipConfig`] in the hub config, so unknown keys are rejected.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the hub drives card readers and what it writes to chips.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChipConfig {
    /// Watch PC/SC readers and run personalisation and card checks. With no
    /// pcscd running the hub says so in its log and keeps retrying; nothing
    /// else is affected. Default: true.
    pub enabled: bool,
    /// Only readers whose PC/SC name starts with one of these are driven
    /// (empty: every reader). Default: empty.
    pub readers: Vec<String>,
    /// Cipher of the chips' keys: `sm4` (third-generation cards) or `3des`.
    /// Default: `sm4`.
    pub algorithm: String,
    /// 卡类别 written to EF05: `1` social security card, `2` residence-permit
    /// B card, `3` senior card. Default: `1`.
    pub card_type: String,
    /// 规范版本 written to EF05. Default: `3.00`.
    pub spec_version: String,
    /// 初始化机构编号: the centre's 12-byte institution code, 24 hex digits.
    pub institution: String,
    /// Years from the issue date to the expiry date. Default: 10.
    pub validity_years: u32,
    /// The PIN set at personalisation, 6 digits; the holder changes it at a
    /// branch. Default: `123456`.
    pub initial_pin: String,
    /// Resume an interrupted personalisation as soon as the same chip is
    /// presented to a reader again. Default: true.
    pub auto_resume: bool,
    /// Seconds between attempts to reach pcscd when it is not running.
    /// Default: 5.
    pub retry_secs: u64,
    /// Seconds one job (personalisation or check) may take before it is
    /// abandoned as interrupted. Default: 60.
    pub job_timeout_secs: u64,
    /// The centre's substitution table (`[chip.substitutions]`): a character
    /// the chip's GBK set cannot hold, mapped to what is written instead,
    /// e.g. `"𠮷" = "吉"`. A name with a character that is neither in GBK nor
    /// here is refused, never written garbled. Default: empty.
    pub substitutions: BTreeMap<String, String>,
}

impl Default for ChipConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            readers: Vec::new(),
            algorithm: "sm4".to_owned(),
            card_type: "1".to_owned(),
            spec_version: "3.00".to_owned(),
            institution: "310000000000000000000000".to_owned(),
            validity_years: 10,
            initial_pin: "123456".to_owned(),
            auto_resume: true,
            retry_secs: 5,
            job_timeout_secs: 60,
            substitutions: BTreeMap::new(),
        }
    }
}

impl ChipConfig {
    /// The pause between attempts to reach pcscd.
    pub fn retry_interval(&self) -> Duration {
        Duration::from_secs(self.retry_secs.max(1))
    }

    /// The time one job may take.
    pub fn job_timeout(&self) -> Duration {
        Duration::from_secs(self.job_timeout_secs.max(1))
    }
}
