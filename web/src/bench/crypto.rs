//! `cardhub bench crypto`: measures cardhub's SM2/SM3/SM4 primitives in
//! process and compares them with `openssl speed` on the same machine.
//!
//! What is measured (release build, one thread):
//! - SM3 over 16 KiB blocks and SM4-CBC encryption of 16 KiB buffers, in
//!   MB/s (10⁶ bytes per second, as `openssl speed` counts);
//! - SM2 signatures per second with a loaded key (its `Z` and `(1+d)⁻¹`
//!   cached, as the HSM holds it), over a 20-byte message as OpenSSL does;
//! - SM2 verifications per second with a prepared public key (its
//!   fixed-base table cached: how partners' and terminals' keys are used),
//!   and, for information, one-shot verification of a key seen once.
//!
//! Each operation runs in [`ROUNDS`] rounds, cardhub and OpenSSL taking
//! turns, and the best round of each side is reported. Rates are per
//! second of the measuring thread's CPU time (from
//! `/proc/thread-self/schedstat`, wall time where that is missing), because
//! `openssl speed` also divides by CPU time: a busy machine then slows both
//! sides alike. The OpenSSL side runs `openssl speed -mr` (machine-readable
//! output); the parsers below also read the human table.
//!
//! This module only measures and formats; the CLI in `main.rs` calls
//! [`run`] and prints the report.

use std::fmt;
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use cardhub_protocols::crypto::sm2::{SigningKey, VerifyingKey};
use cardhub_protocols::crypto::sm4::Sm4Key;
use cardhub_protocols::crypto::{Padding, Sm4Mode, sm2, sm3};

/// Buffer size of the throughput measurements: the size `openssl speed
/// -bytes 16384` uses, large enough that per-call overhead vanishes.
const BLOCK: usize = 16 * 1024;

/// Message length of the signature measurements: what `openssl speed sm2`
/// signs.
const SIGNED_MESSAGE_LEN: usize = 20;

/// Rounds per operation. cardhub and OpenSSL take turns, one measurement
/// each per round, and the best round of each side is reported: other work
/// on a shared machine only ever slows a round down, so the best round is
/// the fairest estimate for both.
const ROUNDS: usize = 3;

/// How long to run each operation.
#[derive(Debug, Clone)]
pub struct CryptoBenchOptions {
    /// Seconds per operation and round, for cardhub and for `openssl speed`
    /// (which takes whole seconds: rounded up). The whole run takes about
    /// 30 times this.
    pub seconds_per_op: f64,
}

impl Default for CryptoBenchOptions {
    fn default() -> Self {
        Self {
            seconds_per_op: 1.0,
        }
    }
}

/// The unit of a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    /// 10⁶ bytes per second.
    MegabytesPerSecond,
    /// Operations per second.
    PerSecond,
}

/// One operation's figures.
#[derive(Debug, Clone)]
pub struct BenchRow {
    /// What was measured.
    pub operation: &'static str,
    /// Unit of both rates.
    pub unit: RateUnit,
    /// cardhub's rate.
    pub cardhub: f64,
    /// OpenSSL's rate for the same operation.
    pub openssl: f64,
    /// The ratio cardhub / OpenSSL the project aims for, if any.
    pub goal: Option<f64>,
}

impl BenchRow {
    /// A row.
    pub fn new(
        operation: &'static str,
        unit: RateUnit,
        cardhub: f64,
        openssl: f64,
        goal: Option<f64>,
    ) -> Self {
        Self {
            operation,
            unit,
            cardhub,
            openssl,
            goal,
        }
    }

    /// cardhub's rate divided by OpenSSL's.
    pub fn ratio(&self) -> f64 {
        self.cardhub / self.openssl
    }

    /// Whether the goal is met (`None` for informational rows).
    pub fn goal_met(&self) -> Option<bool> {
        self.goal.map(|goal| self.ratio() >= goal)
    }
}

/// Which clock the cardhub rates were divided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchClock {
    /// CPU time of the measuring thread.
    ThreadCpu,
    /// Wall time (no per-thread CPU clock on this system).
    Wall,
}

/// The result of [`run`]; `Display` prints it as a table.
#[derive(Debug, Clone)]
pub struct CryptoBenchReport {
    /// One row per operation.
    pub rows: Vec<BenchRow>,
    /// The clock used for cardhub's rates.
    pub clock: BenchClock,
    /// `openssl version` output.
    pub openssl_version: String,
    /// Seconds per operation and round asked for.
    pub seconds_per_op: f64,
    /// Rounds per operation (the best is reported).
    pub rounds: usize,
}

impl CryptoBenchReport {
    /// Whether every row with a goal meets it.
    pub fn all_goals_met(&self) -> bool {
        self.rows.iter().all(|row| row.goal_met() != Some(false))
    }
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoBenchError {
    /// The options make no sense.
    #[error("seconds per operation must be a positive number of seconds up to 600, not {0}")]
    InvalidSeconds(f64),
    /// `openssl` is not installed or not on `PATH`.
    #[error(
        "could not run `openssl` ({0}): install OpenSSL 3 (e.g. `apt install openssl`) and make sure it is on PATH"
    )]
    OpensslMissing(std::io::Error),
    /// `openssl` ran but failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    OpensslFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of its standard error.
        stderr: String,
    },
    /// `openssl` printed something this parser does not understand.
    #[error(
        "could not read the output of `{command}`: {reason}; is this OpenSSL 3 with SM2/SM3/SM4 enabled?"
    )]
    UnexpectedOutput {
        /// The command line.
        command: String,
        /// What was missing.
        reason: String,
    },
}

/// Runs every measurement and the matching `openssl speed` commands.
pub fn run(opts: &CryptoBenchOptions) -> Result<CryptoBenchReport, CryptoBenchError> {
    let seconds = opts.seconds_per_op;
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 600.0) {
        return Err(CryptoBenchError::InvalidSeconds(seconds));
    }
    let openssl_version = openssl(&["version"])?.trim().to_owned();
    let openssl_seconds = (seconds.ceil() as u64).max(1).to_string();
    let mut clock = BenchClock::ThreadCpu;
    let mut timed = |op: &mut dyn FnMut() -> u64| {
        let (rate, used) = measure(seconds, op);
        if used == BenchClock::Wall {
            clock = BenchClock::Wall;
        }
        rate
    };

    let data = vec![0x5au8; BLOCK];
    let [sm3_rate, openssl_sm3] = best_of_rounds(|| {
        let ours = timed(&mut || {
            black_box(sm3::digest(black_box(&data)));
            BLOCK as u64
        });
        Ok([ours, openssl_bytes_rate(&openssl_seconds, "sm3")?])
    })?;

    let key = Sm4Key::new(&[0x42; 16]);
    let cbc = Sm4Mode::Cbc { iv: [0x24; 16] };
    let [sm4_rate, openssl_sm4] = best_of_rounds(|| {
        let ours = timed(&mut || {
            let ct = key
                .encrypt(cbc, Padding::None, black_box(&data))
                .expect("16 KiB is whole blocks");
            black_box(ct);
            BLOCK as u64
        });
        Ok([ours, openssl_bytes_rate(&openssl_seconds, "sm4-cbc")?])
    })?;

    let signer = SigningKey::generate();
    let message = [0x33u8; SIGNED_MESSAGE_LEN];
    let signature = signer.sign(&message);
    let public = signer.public_key();
    let prepared = VerifyingKey::from_sec1(&public).expect("own public key is valid");
    let [
        sign_rate,
        verify_rate,
        one_shot_rate,
        openssl_sign,
        openssl_verify,
    ] = best_of_rounds(|| {
        let sign = timed(&mut || {
            black_box(signer.sign(black_box(&message)));
            1
        });
        let verify = timed(&mut || {
            let ok = prepared.verify(black_box(&message), black_box(&signature));
            assert_eq!(ok, Ok(true), "benchmark signature must verify");
            1
        });
        let one_shot = timed(&mut || {
            let ok = sm2::verify(
                black_box(&public),
                black_box(&message),
                black_box(&signature),
            );
            assert_eq!(ok, Ok(true), "benchmark signature must verify");
            1
        });
        let (openssl_sign, openssl_verify) = openssl_sm2_rates(&openssl_seconds)?;
        Ok([sign, verify, one_shot, openssl_sign, openssl_verify])
    })?;

    use RateUnit::{MegabytesPerSecond as Mb, PerSecond};
    let rows = vec![
        BenchRow::new(
            "SM3, 16 KiB blocks",
            Mb,
            sm3_rate / 1e6,
            openssl_sm3 / 1e6,
            Some(1.0),
        ),
        BenchRow::new(
            "SM4-CBC encrypt, 16 KiB",
            Mb,
            sm4_rate / 1e6,
            openssl_sm4 / 1e6,
            Some(1.0),
        ),
        BenchRow::new(
            "SM2 sign (loaded key)",
            PerSecond,
            sign_rate,
            openssl_sign,
            Some(2.0),
        ),
        BenchRow::new(
            "SM2 verify (cached key table)",
            PerSecond,
            verify_rate,
            openssl_verify,
            Some(2.0),
        ),
        BenchRow::new(
            "SM2 verify (one-shot, new key)",
            PerSecond,
            one_shot_rate,
            openssl_verify,
            None,
        ),
    ];
    Ok(CryptoBenchReport {
        rows,
        clock,
        openssl_version,
        seconds_per_op: seconds,
        rounds: ROUNDS,
    })
}

/// Runs `round` [`ROUNDS`] times and keeps the best of each figure.
fn best_of_rounds<const N: usize>(
    mut round: impl FnMut() -> Result<[f64; N], CryptoBenchError>,
) -> Result<[f64; N], CryptoBenchError> {
    let mut best = [0.0f64; N];
    for _ in 0..ROUNDS {
        for (best, rate) in best.iter_mut().zip(round()?) {
            *best = best.max(rate);
        }
    }
    Ok(best)
}

/// Runs `op` repeatedly for `seconds` of wall time; returns units per
/// second of thread CPU time (or wall time) and the clock used.
fn measure(seconds: f64, op: &mut dyn FnMut() -> u64) -> (f64, BenchClock) {
    // Warm-up: tables built, caches and branch predictors trained.
    for _ in 0..3 {
        op();
    }
    let wall = Instant::now();
    let cpu = thread_cpu_time();
    let deadline = wall + Duration::from_secs_f64(seconds);
    let mut units = 0u64;
    while Instant::now() < deadline {
        units += op();
    }
    let wall_elapsed = wall.elapsed().as_secs_f64();
    match (cpu, thread_cpu_time()) {
        (Some(start), Some(end)) if end > start => (
            units as f64 / (end - start).as_secs_f64(),
            BenchClock::ThreadCpu,
        ),
        _ => (units as f64 / wall_elapsed, BenchClock::Wall),
    }
}

/// CPU time of the calling thread, from Linux's scheduler statistics.
fn thread_cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    parse_schedstat(&text)
}

/// The first field of `/proc/*/schedstat`: nanoseconds spent on a CPU.
fn parse_schedstat(text: &str) -> Option<Duration> {
    text.split_whitespace()
        .next()?
        .parse()
        .ok()
        .map(Duration::from_nanos)
}

fn openssl(args: &[&str]) -> Result<String, CryptoBenchError> {
    let command = format!("openssl {}", args.join(" "));
    let output = Command::new("openssl")
        .args(args)
        .output()
        .map_err(CryptoBenchError::OpensslMissing)?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr
            .lines()
            .rev()
            .take(3)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" / ");
        return Err(CryptoBenchError::OpensslFailed {
            command,
            status: output.status.to_string(),
            stderr: tail,
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn openssl_bytes_rate(seconds: &str, algorithm: &str) -> Result<f64, CryptoBenchError> {
    let args = [
        "speed", "-mr", "-seconds", seconds, "-bytes", "16384", "-evp", algorithm,
    ];
    let output = openssl(&args)?;
    parse_bytes_rate(&output, algorithm).ok_or_else(|| CryptoBenchError::UnexpectedOutput {
        command: format!("openssl {}", args.join(" ")),
        reason: format!("no {algorithm} rate for 16384-byte blocks"),
    })
}

fn openssl_sm2_rates(seconds: &str) -> Result<(f64, f64), CryptoBenchError> {
    let args = ["speed", "-mr", "-seconds", seconds, "sm2"];
    let output = openssl(&args)?;
    parse_sm2_rates(&output).ok_or_else(|| CryptoBenchError::UnexpectedOutput {
        command: format!("openssl {}", args.join(" ")),
        reason: "no SM2 sign/verify rates".to_owned(),
    })
}

/// Bytes per second for `algorithm` at 16384-byte blocks, from `openssl
/// speed` output: the machine-readable `+H:` / `+F:` lines, or else the
/// human table (`type 16384 bytes` then `sm3 189554.26k`, in 1000s of
/// bytes per second).
fn parse_bytes_rate(output: &str, algorithm: &str) -> Option<f64> {
    let wanted = |name: &str| name.eq_ignore_ascii_case(algorithm);
    // Machine-readable: "+H:16384" names the sizes, "+F:25:sm3:167251463.01" the rates.
    let sizes: Option<Vec<&str>> = output
        .lines()
        .find_map(|l| l.strip_prefix("+H:"))
        .map(|h| h.split(':').collect());
    for line in output.lines() {
        let Some(rest) = line.strip_prefix("+F:") else {
            continue;
        };
        let fields: Vec<&str> = rest.split(':').collect();
        if fields.len() >= 3 && wanted(fields[1]) {
            let column = sizes
                .as_ref()
                .and_then(|s| s.iter().position(|size| *size == "16384"))
                .unwrap_or(0);
            return fields.get(2 + column)?.parse().ok();
        }
    }
    // Human table.
    let header = output
        .lines()
        .find(|l| l.trim_start().starts_with("type "))?;
    let column = header
        .split_whitespace()
        .skip(1)
        .filter(|w| *w != "bytes")
        .position(|w| w == "16384")?;
    let row = output
        .lines()
        .find(|l| l.split_whitespace().next().is_some_and(wanted))?;
    let value = row.split_whitespace().nth(1 + column)?;
    let thousands: f64 = value.strip_suffix('k').unwrap_or(value).parse().ok()?;
    Some(thousands * 1000.0)
}

/// (signatures per second, verifications per second) from `openssl speed
/// sm2`: the `+F7:0:256:CurveSM2:1568.0:1877.3` line, or else the human
/// line ` 256 bits SM2 (CurveSM2)   0.0007s   0.0006s   1534.1   1572.6`.
fn parse_sm2_rates(output: &str) -> Option<(f64, f64)> {
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("+F7:") {
            let fields: Vec<&str> = rest.split(':').collect();
            if fields.len() >= 5 && fields[2].eq_ignore_ascii_case("CurveSM2") {
                return Some((fields[3].parse().ok()?, fields[4].parse().ok()?));
            }
        }
    }
    let line = output.lines().find(|l| {
        l.contains("SM2") && l.contains("bits") && !l.trim_start().starts_with("Doing")
    })?;
    let numbers: Vec<f64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    // bits, then sign/s and verify/s last (the seconds columns end in "s").
    match numbers.as_slice() {
        [.., sign, verify] if numbers.len() >= 3 => Some((*sign, *verify)),
        _ => None,
    }
}

impl fmt::Display for CryptoBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clock = match self.clock {
            BenchClock::ThreadCpu => "thread CPU time",
            BenchClock::Wall => "wall time",
        };
        writeln!(
            f,
            "cardhub crypto benchmark: best of {} rounds of {} s per operation, rates per second of {clock}",
            self.rounds, self.seconds_per_op
        )?;
        writeln!(
            f,
            "compared with `openssl speed` from {}",
            self.openssl_version
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<32} {:>14} {:>14} {:>7} {:>6}  result",
            "operation", "cardhub", "OpenSSL", "ratio", "goal"
        )?;
        for row in &self.rows {
            let (cardhub, openssl) = match row.unit {
                RateUnit::MegabytesPerSecond => (
                    format!("{:.1} MB/s", row.cardhub),
                    format!("{:.1} MB/s", row.openssl),
                ),
                RateUnit::PerSecond => (
                    format!("{:.0} /s", row.cardhub),
                    format!("{:.0} /s", row.openssl),
                ),
            };
            let goal = row
                .goal
                .map_or_else(|| "-".to_owned(), |g| format!(">={g}x"));
            let result = match row.goal_met() {
                Some(true) => "met",
                Some(false) => "NOT MET",
                None => "(information)",
            };
            writeln!(
                f,
                "{:<32} {:>14} {:>14} {:>6.2}x {:>6}  {}",
                row.operation,
                cardhub,
                openssl,
                row.ratio(),
                goal,
                result
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl speed -mr -seconds 1 -bytes 16384 -evp sm3` from OpenSSL 3.0.19.
    const MR_SM3: &str =
        "+DT:sm3:1:16384\n+R:10208:sm3:1.000000\n+H:16384\n+F:25:sm3:167251463.01\n";

    /// `openssl speed -mr -seconds 1 -bytes 16384 -evp sm4-cbc` (tail).
    const MR_SM4: &str =
        "+DT:SM4-CBC:1:16384\n+R:6118:SM4-CBC:0.980000\n+H:16384\n+F:25:SM4-CBC:102282971.43\n";

    /// `openssl speed -mr -seconds 1 sm2`.
    const MR_SM2: &str = "+DTP:256:sign:CurveSM2:1\n+R10:1176:256:CurveSM2:0.75\n+DTP:256:verify:CurveSM2:1\n\
                          +R11:1821:256:CurveSM2:0.97\n+F7:0:256:CurveSM2:1568.000000:1877.319588\n";

    /// The human-readable forms of the same commands.
    const HUMAN_SM3: &str = "Doing sm3 for 1s on 16384 size blocks: 10991 sm3's in 0.95s\nversion: 3.0.19\n\
        built on: Fri Apr  3 12:29:32 2026 UTC\noptions: bn(64,64)\n\
        The 'numbers' are in 1000s of bytes per second processed.\ntype          16384 bytes\nsm3             189554.26k\n";
    const HUMAN_SM4_TWO_SIZES: &str = "The 'numbers' are in 1000s of bytes per second processed.\n\
        type             16 bytes     16384 bytes\nSM4-CBC          90001.00k    95532.66k\n";
    const HUMAN_SM2: &str = "version: 3.0.19\n                              sign    verify    sign/s verify/s\n \
        256 bits SM2 (CurveSM2)   0.0007s   0.0006s   1534.1   1572.6\n\
        Doing 256 bits sign CurveSM2's for 1s: 1304 256 bits CurveSM2 signs in 0.85s \n";

    #[test]
    fn reads_machine_readable_byte_rates() {
        assert_eq!(parse_bytes_rate(MR_SM3, "sm3"), Some(167_251_463.01));
        assert_eq!(parse_bytes_rate(MR_SM4, "sm4-cbc"), Some(102_282_971.43));
        assert_eq!(parse_bytes_rate(MR_SM3, "sm4-cbc"), None);
    }

    #[test]
    fn reads_human_byte_rates_in_the_16384_column() {
        assert_eq!(parse_bytes_rate(HUMAN_SM3, "sm3"), Some(189_554_260.0));
        assert_eq!(
            parse_bytes_rate(HUMAN_SM4_TWO_SIZES, "sm4-cbc"),
            Some(95_532_660.0)
        );
        assert_eq!(parse_bytes_rate("no table here", "sm3"), None);
    }

    #[test]
    fn reads_sm2_rates_in_both_forms() {
        assert_eq!(parse_sm2_rates(MR_SM2), Some((1568.0, 1877.319588)));
        assert_eq!(parse_sm2_rates(HUMAN_SM2), Some((1534.1, 1572.6)));
        assert_eq!(parse_sm2_rates("+F7:0:256:CurveSM2:x:1\n"), None);
    }

    #[test]
    fn reads_schedstat() {
        assert_eq!(
            parse_schedstat("2015700 0 1\n"),
            Some(Duration::from_nanos(2_015_700))
        );
        assert_eq!(parse_schedstat(""), None);
    }

    #[test]
    fn report_marks_goals() {
        let report = CryptoBenchReport {
            rows: vec![
                BenchRow::new(
                    "SM2 verify (cached key table)",
                    RateUnit::PerSecond,
                    6000.0,
                    2000.0,
                    Some(2.0),
                ),
                BenchRow::new(
                    "SM4-CBC encrypt, 16 KiB",
                    RateUnit::MegabytesPerSecond,
                    80.0,
                    100.0,
                    Some(1.0),
                ),
            ],
            clock: BenchClock::ThreadCpu,
            openssl_version: "OpenSSL 3.0.19".to_owned(),
            seconds_per_op: 1.0,
            rounds: 3,
        };
        let text = report.to_string();
        assert!(text.contains("3.00x") && text.contains("met"), "{text}");
        assert!(text.contains("0.80x") && text.contains("NOT MET"), "{text}");
        assert!(text.contains("best of 3 rounds"), "{text}");
        assert!(!report.all_goals_met());
    }

    #[test]
    fn refuses_nonsense_durations() {
        for seconds in [0.0, -1.0, f64::NAN, 1e9] {
            assert!(matches!(
                run(&CryptoBenchOptions {
                    seconds_per_op: seconds
                }),
                Err(CryptoBenchError::InvalidSeconds(_))
            ));
        }
    }
}
