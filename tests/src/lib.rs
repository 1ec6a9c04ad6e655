//! cardhub-tests: helpers for the end-to-end tests in `tests/tests/`, which
//! start the real `cardhub` binary in its own temporary directory and talk to
//! it over real sockets (HTTP on a port the OS picks).
//!
//! [`HubProcess`] starts and stops a hub; [`Http`] is a small blocking HTTP
//! client that returns every status (4xx and 5xx included) to the test.
//! The binary must be built first (`make test` does: `cargo build -p
//! cardhub-web`); `CARDHUB_BIN` names another one.

pub mod branch;
pub mod browser;
pub mod monitor;
pub mod terminal;
pub mod workshop;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a hub gets to print its listening line: a cold start runs the
/// migrations and hashes the development admin password.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The configuration file [`HubProcess::start_in`] passes to the hub when
/// the test wrote one into the hub's directory.
pub const CONFIG_FILE: &str = "cardhub.toml";

/// How long a stopping hub gets before the test calls it hung.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The `cardhub` binary under test.
pub fn cardhub_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("CARDHUB_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test> -> target/<profile>/cardhub
    let exe = std::env::current_exe().expect("the test knows its own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let bin = profile_dir.join("cardhub");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build -p cardhub-web` (make test does)",
        bin.display()
    );
    bin
}

/// A running hub in its own temporary directory.
pub struct HubProcess {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The hub's working directory (its `data/` lives here).
    pub dir: tempfile::TempDir,
    /// Everything the hub printed on stdout so far.
    pub stdout_lines: Vec<String>,
    env: Vec<(String, String)>,
}

impl HubProcess {
    /// Starts a hub on the embedded default (SQLite under its own `data/`).
    pub fn start() -> HubProcess {
        HubProcess::start_with(&[])
    }

    /// Starts a hub with extra environment variables.
    pub fn start_with(env: &[(&str, &str)]) -> HubProcess {
        let dir = tempfile::tempdir().expect("a temporary directory");
        HubProcess::start_in(dir, env)
    }

    /// Starts a hub in a given directory (to restart on the same data). A
    /// `cardhub.toml` in that directory is passed as `--config`.
    pub fn start_in(dir: tempfile::TempDir, env: &[(&str, &str)]) -> HubProcess {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut command = hub_command(dir.path(), &env);
        if dir.path().join(CONFIG_FILE).exists() {
            command.args(["--config", CONFIG_FILE]);
        } else if !env.iter().any(|(k, _)| k == "CARDHUB_WORKSHOP__LINES") {
            // No demo production line unless a test configures lines.
            command.env("CARDHUB_WORKSHOP__LINES", "[]");
        }
        let mut child = command
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cardhub starts");
        let rx = stdout_lines(&mut child);
        let deadline = Instant::now() + START_TIMEOUT;
        let mut lines = Vec::new();
        let base = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    let found = line
                        .strip_prefix("cardhub listening on ")
                        .map(|u| u.trim_end_matches('/').to_owned());
                    lines.push(line);
                    if let Some(base) = found {
                        break base;
                    }
                }
                Err(_) => {
                    let status = child.try_wait().ok().flatten();
                    let _ = child.kill();
                    panic!("cardhub did not start (exit: {status:?}); stdout: {lines:#?}");
                }
            }
        };
        // Keep draining stdout so the hub never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        HubProcess {
            child: Some(child),
            base,
            dir,
            stdout_lines: lines,
            env,
        }
    }

    /// Opens the hub's own database with the hub's own key file, as a
    /// second process would (the hub keeps running).
    pub fn open_store(&self) -> cardhub_storage::Store {
        use cardhub_protocols::crypto::{KeyFile, SoftHsm};
        let keys = std::fs::read_to_string(self.path("data/dev-keys.toml"))
            .expect("the hub wrote its key file");
        let hsm = SoftHsm::from_key_file(&KeyFile::parse(&keys).expect("a valid key file"))
            .expect("keys load");
        let url = format!("sqlite://{}", self.path("data/cardhub.db").display());
        cardhub_storage::Store::open(
            &url,
            std::sync::Arc::new(hsm),
            cardhub_storage::StoreOptions::default(),
        )
        .expect("the hub's database opens")
    }

    /// A path inside the hub's directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The development API token (role admin) the hub wrote on first start.
    pub fn dev_token(&self) -> String {
        read_secret(&self.path("data/dev-api-token"))
    }

    /// The development admin operator's password.
    pub fn dev_admin_password(&self) -> String {
        read_secret(&self.path("data/dev-admin-password"))
    }

    /// An HTTP client for this hub, authenticated with `token` if given.
    pub fn http(&self, token: Option<&str>) -> Http {
        Http {
            base: self.base.clone(),
            token: token.map(str::to_owned),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into(),
        }
    }

    /// Runs a `cardhub` command against this hub's configuration and data.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run_cli(self.dir.path(), &self.env, args, stdin)
    }

    /// Runs `cardhub audit verify` and fails the test unless the chain is
    /// intact.
    pub fn assert_audit_intact(&self) {
        let verify = self.cli(&["audit", "verify"], None);
        assert!(
            verify.status.success(),
            "audit verify failed ({}): {}\n{}",
            verify.status,
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
    }

    /// Sends a signal and waits for the exit status.
    pub fn stop(&mut self, signal: nix::sys::signal::Signal) -> ExitStatus {
        let mut child = self.child.take().expect("the hub is running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal delivered");
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("wait works") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("cardhub did not stop within {STOP_TIMEOUT:?} after {signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the hub and hands back its directory (to start again on it).
    pub fn into_dir(mut self) -> tempfile::TempDir {
        if self.child.is_some() {
            let status = self.stop(nix::sys::signal::Signal::SIGTERM);
            assert!(status.success(), "cardhub exited with {status}");
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::mem::replace(&mut self.dir, dir)
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn hub_command(dir: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(cardhub_bin());
    cmd.current_dir(dir)
        .env("CARDHUB_HTTP__BIND", "127.0.0.1:0")
        .env("CARDHUB_HTTP__WORKERS", "2")
        .env("CARDHUB_HTTP__SHUTDOWN_TIMEOUT_SECS", "5")
        // The demo's simulated printers and applicants stay out of tests.
        .env("CARDHUB_SIMULATORS__PRINTERS", "false")
        .env("CARDHUB_SIMULATORS__APPLICATIONS", "0")
        .env("CARDHUB_SIMULATORS__BRANCH", "")
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs a `cardhub` command in `dir` with `env`, feeding `stdin`.
pub fn run_cli(dir: &Path, env: &[(String, String)], args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = hub_command(dir, env)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cardhub runs");
    {
        let mut input = child.stdin.take().expect("stdin is piped");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("stdin written");
        }
    }
    child.wait_with_output().expect("cardhub finishes")
}

fn read_secret(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} unreadable: {e}", path.display()))
        .trim()
        .to_owned()
}

/// A directory under the workspace's `target/` for files people look at
/// after a test (rendered pages, screenshots).
pub fn artefact_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artefacts");
    std::fs::create_dir_all(&dir).expect("target/test-artefacts is writable");
    dir
}

/// A response: status and body (JSON when it parses).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The body as text (lossy for binary bodies).
    pub text: String,
    /// The body's bytes (images).
    pub bytes: Vec<u8>,
    /// Response headers that tests look at.
    pub content_type: Option<String>,
}

impl Reply {
    /// The body as JSON (panics with the body when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

/// A blocking HTTP client bound to one hub.
pub struct Http {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Http {
    /// GET a path.
    pub fn get(&self, path: &str) -> Reply {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        finish(req.call())
    }

    /// DELETE a path.
    pub fn delete(&self, path: &str) -> Reply {
        let mut req = self.agent.delete(format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        finish(req.call())
    }

    /// PATCH a JSON value.
    pub fn patch(&self, path: &str, body: &Value) -> Reply {
        let mut req = self
            .agent
            .patch(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        finish(req.send(body.to_string()))
    }

    /// POST a JSON value.
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, &body.to_string())
    }

    /// POST raw text as `application/json` (for malformed-body tests).
    pub fn post_raw(&self, path: &str, body: &str) -> Reply {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/json");
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        finish(req.send(body))
    }
}

fn finish(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut res = result.expect("the hub answers");
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = res
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .expect("a readable body");
    Reply {
        status,
        text: String::from_utf8_lossy(&bytes).into_owned(),
        bytes,
        content_type,
    }
}

/// The lines a child prints on its piped stdout, read on a thread of their
/// own so the child never blocks on a full pipe.
fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A simulated social security card in its own process (`cardhub sim
/// card`), connected to one vpcd reader of the pcscd test rig, with its
/// control channel.
pub struct SimCardProcess {
    child: Child,
    /// The card's control channel (insert, remove, faults, state).
    pub control: cardhub_simulators::card::control::CardControl,
    /// Its memory file.
    pub card_file: PathBuf,
}

impl SimCardProcess {
    /// Starts a card for the vpcd port `port`, blank with card
    /// identification code `card_id` (its transport key from the hub's
    /// development key file) unless `card_file` already holds a card.
    pub fn start(port: u16, card_file: &Path, card_id: &str, key_file: &Path) -> SimCardProcess {
        let mut child = Command::new(cardhub_bin())
            .args(["sim", "card", "--vpcd"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--card-file")
            .arg(card_file)
            .args(["--blank", card_id, "--key-file"])
            .arg(key_file)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cardhub sim card starts");
        let rx = stdout_lines(&mut child);
        let line = rx
            .recv_timeout(START_TIMEOUT)
            .unwrap_or_else(|_| panic!("the simulated card printed no control address"));
        let addr = line
            .strip_prefix("cardsim control on ")
            .unwrap_or_else(|| panic!("unexpected first line from the simulated card: {line}"))
            .trim()
            .parse()
            .expect("a socket address");
        std::thread::spawn(move || while rx.recv().is_ok() {});
        let control = cardhub_simulators::card::control::CardControl::connect(addr)
            .expect("the control channel answers");
        SimCardProcess {
            child,
            control,
            card_file: card_file.to_owned(),
        }
    }

    /// Waits until vpcd has taken the card (it is "in the reader").
    pub fn wait_inserted(&mut self) {
        if let Err(e) = self.control.wait_connected(true, Duration::from_secs(30)) {
            panic!("vpcd never took the simulated card: {e}");
        }
    }

    /// Stops the process (its memory is already on disk).
    pub fn stop(mut self) {
        let _ = self.control.shutdown();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SimCardProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
