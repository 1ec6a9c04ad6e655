//! The hub under measurement, as a child process: `cardhub serve` (this
//! executable) in a directory of its own with the settings a benchmark
//! gives as `CARDHUB_*` variables, its address read from the `cardhub
//! listening on` line, its log kept in `hub.log`, and its CPU and memory
//! sampled from `/proc` while a phase runs. Stopped (SIGTERM, then SIGKILL)
//! when dropped. Shared by the monitor and terminal benchmarks.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::procfs;

/// How long the hub gets to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the hub child did not serve the measurement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// A step of the set-up failed (the log file, /proc).
    #[error("{0}")]
    Setup(String),
    /// The hub did not print its address in time, or exited first.
    #[error("the hub did not start: {reason}; the end of its log:\n{log}")]
    Start {
        /// What happened.
        reason: String,
        /// The last lines of its log.
        log: String,
    },
    /// The hub exited during the measurement.
    #[error("the hub exited during the run ({status}); the end of its log:\n{log}")]
    Exited {
        /// Its exit status.
        status: String,
        /// The last lines of its log.
        log: String,
    },
}

fn setup<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> HubError {
    move |e| HubError::Setup(format!("{what}: {e}"))
}

/// CPU and memory of the hub and of this process over one phase.
#[derive(Clone, Debug)]
pub struct ProcessFigures {
    /// How long the phase ran.
    pub elapsed: Duration,
    /// The hub's CPU, percent of one core.
    pub hub_cpu_pct: f64,
    /// This process's CPU, percent of one core.
    pub bench_cpu_pct: f64,
    /// `(seconds into the phase, hub RSS in KB)` every second.
    pub rss_kb: Vec<(f64, u64)>,
}

/// The hub child process.
pub struct HubProcess {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    log_path: PathBuf,
}

impl HubProcess {
    /// Starts `cardhub serve` in `dir` in development mode on a free
    /// loopback port, with `env` on top (`CARDHUB_...` settings), and waits
    /// for its address.
    pub fn start(dir: &Path, env: &[(&str, String)]) -> Result<Self, HubError> {
        let exe = std::env::current_exe().map_err(setup("find the cardhub binary"))?;
        let log_path = dir.join("hub.log");
        let log = std::fs::File::create(&log_path).map_err(setup("create the hub's log"))?;
        let mut command = Command::new(exe);
        command
            .current_dir(dir)
            .arg("serve")
            .env("RUST_LOG", "warn")
            .env("CARDHUB_MODE", "development")
            .env("CARDHUB_HTTP__BIND", "127.0.0.1:0");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(setup("start the hub"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        // Reads the address, then keeps draining so the hub never blocks
        // on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_address(&line) {
                    let _ = tx.send(addr);
                }
            }
        });
        let mut hub = HubProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_path,
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(addr) => {
                hub.addr = addr;
                Ok(hub)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Its stdout closed: it is exiting.
                let status = hub.child.wait().map_or("?".into(), |s| s.to_string());
                Err(HubError::Start {
                    reason: format!("it exited ({status}) before it listened"),
                    log: hub.log_tail(),
                })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(HubError::Start {
                reason: format!("no `cardhub listening on` line within {START_TIMEOUT:?}"),
                log: hub.log_tail(),
            }),
        }
    }

    /// The hub's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The hub's resident memory now, in KB.
    pub fn rss_kb(&self) -> Result<u64, HubError> {
        procfs::rss_kb(self.pid()).map_err(setup("the hub's memory"))
    }

    /// The last lines of the hub's log, without colours.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(without_colours).collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// A file the hub wrote in its directory (its development token), trimmed.
    pub fn read_secret(&self, dir: &Path, rel: &str) -> Result<String, HubError> {
        let path = dir.join(rel);
        std::fs::read_to_string(&path)
            .map(|s| s.trim().to_owned())
            .map_err(|e| HubError::Start {
                reason: format!("no {} from the hub: {e}", path.display()),
                log: self.log_tail(),
            })
    }

    /// Runs `at_start` once the phase's clock has started, then samples the
    /// hub and this process every second for `seconds`.
    pub fn sample_phase<E: From<HubError>>(
        &mut self,
        seconds: u64,
        at_start: impl FnOnce() -> Result<(), E>,
    ) -> Result<ProcessFigures, E> {
        let (hub, me) = (self.pid(), std::process::id());
        let cpu_time = |pid| procfs::cpu_time(pid).map_err(setup("the CPU time"));
        let t0 = Instant::now();
        let (hub_cpu0, self_cpu0) = (cpu_time(hub)?, cpu_time(me)?);
        let mut rss = vec![(0.0, self.rss_kb()?)];
        at_start()?;
        for s in 1..=seconds {
            std::thread::sleep(
                (t0 + Duration::from_secs(s)).saturating_duration_since(Instant::now()),
            );
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(HubError::Exited {
                    status: status.to_string(),
                    log: self.log_tail(),
                }
                .into());
            }
            rss.push((t0.elapsed().as_secs_f64(), self.rss_kb()?));
        }
        let elapsed = t0.elapsed();
        let share = |cpu: Duration| cpu.as_secs_f64() / elapsed.as_secs_f64() * 100.0;
        Ok(ProcessFigures {
            elapsed,
            hub_cpu_pct: share(cpu_time(hub)?.saturating_sub(hub_cpu0)),
            bench_cpu_pct: share(cpu_time(me)?.saturating_sub(self_cpu0)),
            rss_kb: rss,
        })
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A log line without its ANSI colour sequences (`ESC [ ... m`).
fn without_colours(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

/// The address in the hub's `cardhub listening on http://ADDR/` line.
fn listening_address(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("cardhub listening on http://")?
        .trim_end_matches('/')
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_lose_their_colours() {
        assert_eq!(
            without_colours("\u{1b}[2m2026\u{1b}[0m \u{1b}[33m WARN\u{1b}[0m x"),
            "2026  WARN x"
        );
    }

    #[test]
    fn the_listening_line_parses() {
        assert_eq!(
            listening_address("cardhub listening on http://127.0.0.1:8080/"),
            Some(SocketAddr::from(([127, 0, 0, 1], 8080)))
        );
        assert_eq!(listening_address("something else"), None);
    }
}
