//! Branch test support: the branch's simulated devices in their own
//! processes (`cardhub sim id-reader` on a pty, `cardhub sim camera` over
//! TCP), a `cardhub terminal` process carrying them to the hub over
//! `/ws/terminal` (its key made with `--new-key` and registered with
//! `cardhub terminals register`), and what the terminal prints.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{HubProcess, cardhub_bin};

/// How long a simulator or the terminal gets to come up.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A simulator child process (`cardhub sim ...`), with the `key: value`
/// lines it printed before it was ready; stopped on drop.
pub struct Sim {
    child: Child,
    /// What it printed (`pty`, `address`, ...).
    pub fields: std::collections::BTreeMap<String, String>,
}

impl Sim {
    /// Runs `cardhub sim <args>` until it prints the line `ready`.
    pub fn start(args: &[&str], ready: &str) -> Sim {
        let mut child = Command::new(cardhub_bin())
            .arg("sim")
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the simulator starts");
        let stdout = child.stdout.take().expect("piped");
        let mut fields = std::collections::BTreeMap::new();
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if line == ready {
                // Keep reading so the simulator never blocks on its pipe.
                std::thread::spawn(move || lines.for_each(drop));
                return Sim { child, fields };
            }
            if let Some((k, v)) = line.split_once(": ") {
                fields.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = child.wait();
        panic!("`cardhub sim {args:?}` ended before it was ready ({status:?}): {fields:?}");
    }

    /// A field it printed.
    pub fn field(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("the simulator printed no `{key}:` ({:?})", self.fields))
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

/// A simulated ID reader holding `card` (`resident`, `permanent-2017`,
/// `permanent-2023`, `none`); its pty is `field("pty")`.
pub fn sim_id_reader(card: &str) -> Sim {
    Sim::start(
        &["id-reader", "--card", card],
        "cardhub sim id-reader ready",
    )
}

/// A simulated camera on TCP; its address is `field("address")`.
pub fn sim_camera() -> Sim {
    Sim::start(&["camera"], "cardhub sim camera ready")
}

/// A branch terminal's devices, as its config names them.
#[derive(Clone, Debug, Default)]
pub struct TerminalDevices {
    /// `(name, pty)` of ID readers.
    pub id_readers: Vec<(String, String)>,
    /// `(name, host:port)` of TCP cameras.
    pub cameras: Vec<(String, String)>,
    /// `(name, PC/SC reader name)` of card readers.
    pub card_readers: Vec<(String, String)>,
    /// `(name, tcp://...)` of printers.
    pub printers: Vec<(String, String)>,
}

impl TerminalDevices {
    /// The terminal's config file text.
    pub fn config_toml(&self, terminal_id: &str, key_file: &Path) -> String {
        let mut toml = format!(
            "[terminal]\nid = \"{terminal_id}\"\nkey_file = \"{}\"\n\n[link]\nreconnect_initial_ms = 100\nreconnect_max_secs = 2\n",
            key_file.display()
        );
        for (name, port) in &self.id_readers {
            toml +=
                &format!("\n[[id_readers]]\nname = \"{name}\"\nport = \"{port}\"\npoll_ms = 200\n");
        }
        for (name, address) in &self.cameras {
            toml += &format!("\n[[cameras]]\nname = \"{name}\"\naddress = \"tcp://{address}\"\n");
        }
        for (name, reader) in &self.card_readers {
            toml += &format!("\n[[card_readers]]\nname = \"{name}\"\nreader = \"{reader}\"\n");
        }
        for (name, address) in &self.printers {
            toml += &format!("\n[[printers]]\nname = \"{name}\"\naddress = \"{address}\"\n");
        }
        toml
    }
}

/// A `cardhub terminal` process linked to a hub; its standard output
/// lines arrive on [`TerminalProcess::lines`].
pub struct TerminalProcess {
    child: Option<Child>,
    /// The terminal's id.
    pub id: String,
    /// Its config file.
    pub config: PathBuf,
    /// The hub's `/ws/terminal` URL.
    pub hub_url: String,
    /// The branch.
    pub branch: String,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
    /// Lines before this one were passed over by a wait.
    cursor: usize,
}

impl TerminalProcess {
    /// Writes the terminal's config under `dir`, makes its key
    /// (`--new-key`), registers it at `hub` for `branch`, and starts it.
    pub fn register_and_start(
        hub: &HubProcess,
        dir: &Path,
        id: &str,
        branch: &str,
        devices: &TerminalDevices,
    ) -> TerminalProcess {
        let key_file = dir.join(format!("{id}-key.toml"));
        let config = dir.join(format!("{id}.toml"));
        std::fs::write(&config, devices.config_toml(id, &key_file)).expect("write the config");
        let hub_url = format!(
            "ws://{}/ws/terminal",
            hub.base.trim_start_matches("http://")
        );
        let out = Command::new(cardhub_bin())
            .args(["--config"])
            .arg(&config)
            .args([
                "terminal",
                "--hub",
                &hub_url,
                "--branch",
                branch,
                "--new-key",
            ])
            .output()
            .expect("cardhub terminal --new-key runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "--new-key: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let public = stdout
            .lines()
            .find_map(|l| l.strip_prefix("public key: "))
            .unwrap_or_else(|| panic!("no public key printed: {stdout}"))
            .trim()
            .to_owned();
        let registered = hub.cli(
            &[
                "terminals",
                "register",
                "--id",
                id,
                "--branch",
                branch,
                "--public-key",
                &public,
            ],
            None,
        );
        assert!(
            registered.status.success(),
            "cardhub terminals register: {}",
            String::from_utf8_lossy(&registered.stderr)
        );
        Self::start(id, &config, &hub_url, branch)
    }

    /// Starts the terminal with an existing config and key.
    pub fn start(id: &str, config: &Path, hub_url: &str, branch: &str) -> TerminalProcess {
        let mut child = Command::new(cardhub_bin())
            .arg("--config")
            .arg(config)
            .args(["terminal", "--hub", hub_url, "--branch", branch])
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cardhub terminal starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        TerminalProcess {
            child: Some(child),
            id: id.to_owned(),
            config: config.to_owned(),
            hub_url: hub_url.to_owned(),
            branch: branch.to_owned(),
            lines,
            seen: Vec::new(),
            cursor: 0,
        }
    }

    /// Waits up to `timeout` for a line `pred` accepts, after the line the
    /// last wait returned; returns it. Each line is returned at most once,
    /// so waiting three times for `device ` gives three devices.
    pub fn wait_line(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        if let Some(i) = self.seen[self.cursor..].iter().position(|l| pred(l)) {
            self.cursor += i + 1;
            return self.seen[self.cursor - 1].clone();
        }
        self.cursor = self.seen.len();
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    self.cursor = self.seen.len();
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "terminal {} printed no such line within {timeout:?}; it printed:\n{}",
                    self.id,
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits until the terminal is linked (`linked session=...`).
    pub fn wait_linked(&mut self) -> String {
        self.wait_line(START_TIMEOUT, |l| l.starts_with("linked session="))
    }

    /// Stops the process with `signal`; its exit status (none if it was
    /// stopped before) and every line it printed.
    pub fn stop(
        &mut self,
        signal: nix::sys::signal::Signal,
    ) -> (Option<std::process::ExitStatus>, Vec<String>) {
        let status = self.child.take().map(|mut child| {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal);
            child.wait().expect("the terminal is waited for")
        });
        // The reader thread ends with the pipe: everything printed is in.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status, std::mem::take(&mut self.seen))
    }
}

impl Drop for TerminalProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = child.wait();
        }
    }
}
