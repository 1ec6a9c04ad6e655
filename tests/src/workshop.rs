//! Workshop test support: simulated printers in their own processes
//! (`cardhub sim printer`, each with its encoder on a leased vpcd reader of
//! the PC/SC rig), a hub directory with its key file made before the hub
//! starts, the `[workshop]` config for given lines, and applicants sent
//! through the HTTP API.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cardhub_devices::rig::ReaderLease;
use cardhub_simulators::printer::{PrinterControl, PrinterSnapshot};
use serde_json::{Value, json};

use crate::{CONFIG_FILE, Http, cardhub_bin, run_cli};

/// How long the workshop gets for a card at zero device delay on a loaded
/// machine.
pub const CARD_TIMEOUT: Duration = Duration::from_secs(90);

/// The hub's key file, relative to its directory.
pub const KEY_FILE: &str = "data/dev-keys.toml";

/// A fresh hub directory whose database and development key file exist
/// (`cardhub db migrate`), so printers can be started with the hub's
/// transport key before the hub.
pub fn hub_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = run_cli(dir.path(), &[], &["db", "migrate"], None);
    assert!(
        out.status.success(),
        "cardhub db migrate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.path().join(KEY_FILE).exists(),
        "the key file was written"
    );
    dir
}

/// How a simulated printer's host link is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// TCP on 127.0.0.1.
    Tcp,
    /// A pseudo-terminal the hub opens as a serial line.
    Pty,
}

/// A simulated printer in its own process, its encoder on a leased reader.
pub struct SimPrinter {
    child: Option<Child>,
    /// Its name in the hub's config.
    pub name: String,
    /// What the hub's config names (`tcp://…` or `serial://…`).
    pub address: String,
    /// The encoder's PC/SC reader.
    pub encoder: String,
    /// Its control channel.
    pub control: PrinterControl,
    /// Printed faces and finished cards.
    pub out: PathBuf,
    /// Held for the printer's life: its encoder's reader is this test's.
    _lease: ReaderLease,
}

impl SimPrinter {
    /// Starts printer `name` with its state under `dir`, blank chips keyed
    /// from the hub's key file in `hub`.
    pub fn start(hub: &Path, dir: &Path, name: &str, link: Link) -> SimPrinter {
        let lease = ReaderLease::acquire().unwrap_or_else(|e| panic!("no rig reader: {e}"));
        let state_dir = dir.join(name);
        let key_file = hub.join(KEY_FILE);
        let mut cmd = Command::new(cardhub_bin());
        cmd.args(["sim", "printer", "--timing", "zero"])
            .arg("--vpcd")
            .arg(format!("127.0.0.1:{}", lease.port()))
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--key-file")
            .arg(&key_file)
            .args(["--chip-prefix", &chip_prefix(lease.port())])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        match link {
            Link::Tcp => cmd.args(["--listen", "127.0.0.1:0"]),
            Link::Pty => cmd.arg("--pty"),
        };
        let mut child = cmd.spawn().expect("cardhub sim printer starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut fields = std::collections::BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("printer {name} did not start: {fields:?}"));
            if line == "cardhub sim printer ready" {
                break;
            }
            if let Some((k, v)) = line.split_once(": ") {
                fields.insert(k.to_owned(), v.to_owned());
            }
        }
        std::thread::spawn(move || while rx.recv().is_ok() {});
        let control: std::net::SocketAddr = fields["control"].parse().expect("control address");
        let control = PrinterControl::connect(control).expect("the control channel answers");
        SimPrinter {
            child: Some(child),
            name: name.to_owned(),
            address: fields["address"].clone(),
            encoder: lease.reader_name().to_owned(),
            out: PathBuf::from(&fields["out"]),
            control,
            _lease: lease,
        }
    }

    /// The printer's state.
    pub fn state(&mut self) -> PrinterSnapshot {
        self.control
            .state()
            .expect("the printer answers its control channel")
    }
}

impl Drop for SimPrinter {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Chip ids unique per reader, so cards of concurrent tests never share
/// one.
fn chip_prefix(port: u16) -> String {
    format!("31{port:05}")
}

/// One line of the hub's config.
pub struct LineSpec<'a> {
    /// Its name.
    pub name: &'a str,
    /// Its program (`full`, `no-contactless`, `no-overlay`, `basic`).
    pub program: &'a str,
    /// Whether it starts producing with the hub.
    pub autostart: bool,
    /// Its printers.
    pub printers: Vec<&'a SimPrinter>,
}

/// The config file text for `lines`: chip work on, no other reader
/// driven, the test substitution table (𠮷 → 吉), quick reconnects.
pub fn config_toml(lines: &[LineSpec<'_>]) -> String {
    let mut toml = String::from(
        "[chip]\nreaders = [\"cardhub-tests: no stand-alone reader\"]\n\
         [chip.substitutions]\n\"𠮷\" = \"吉\"\n\n\
         [workshop]\nidle_poll_ms = 100\nreconnect_initial_ms = 50\nreconnect_max_ms = 500\nfault_poll_ms = 100\n",
    );
    for line in lines {
        toml.push_str(&format!(
            "\n[[workshop.lines]]\nname = \"{}\"\nprogram = \"{}\"\nautostart = {}\noperator = \"op-{}\"\n",
            line.name, line.program, line.autostart, line.name
        ));
        for p in &line.printers {
            toml.push_str(&format!(
                "[[workshop.lines.printers]]\nname = \"{}\"\naddress = \"{}\"\nencoder = \"{}\"\n",
                p.name, p.address, p.encoder
            ));
        }
    }
    toml
}

/// Writes the hub's config file into its directory.
pub fn write_config(hub: &Path, lines: &[LineSpec<'_>]) {
    std::fs::write(hub.join(CONFIG_FILE), config_toml(lines)).expect("config written");
}

/// A valid resident ID number for applicant `n` (born 1980-1999).
pub fn resident_number(n: u32) -> String {
    let body = format!(
        "310104{:04}{:02}{:02}{:03}",
        1980 + n % 20,
        1 + n % 12,
        1 + n % 28,
        n % 1000
    );
    let check = cardhub_protocols::identity::check_char(&body).expect("17 digits");
    format!("{body}{check}")
}

/// A valid 2023 permanent-residence number for applicant `n` (USA).
pub fn permit_number(n: u32) -> String {
    let body = format!("931840{:04}0101{:03}", 1970 + n % 30, n % 1000);
    let check = cardhub_protocols::identity::check_char(&body).expect("17 digits");
    format!("{body}{check}")
}

/// The sex an 18-character number encodes (its 17th digit: odd is male).
fn sex_of(number: &str) -> &'static str {
    let digit = number.as_bytes()[16] - b'0';
    if digit % 2 == 1 { "male" } else { "female" }
}

/// Who applies.
pub enum Applicant<'a> {
    /// A resident with this name.
    Resident(&'a str),
    /// A permanent-residence holder with an English and a Chinese name.
    Permit {
        /// The English name (on the chip).
        english: &'a str,
        /// The Chinese name on the permanent-residence card.
        chinese: &'a str,
    },
}

/// Sends an approved application with a photo through the API; returns
/// the answer (`person_id`, `application`, `card`).
pub fn apply(http: &Http, n: u32, who: Applicant<'_>) -> Value {
    apply_at(http, n, who, None)
}

/// [`apply`] at the branch with `branch_code` (where the card is
/// collected).
pub fn apply_at(http: &Http, n: u32, who: Applicant<'_>, branch_code: Option<&str>) -> Value {
    let person = match who {
        Applicant::Resident(name) => {
            let number = resident_number(n);
            json!({
                "document_type": "resident-id",
                "document_number": number,
                "name": name,
                "nationality": 156,
                "sex": sex_of(&number),
                "ethnicity": 1,
                "birth_date": format!("{}-{}-{}", &number[6..10], &number[10..12], &number[12..14]),
            })
        }
        Applicant::Permit { english, chinese } => {
            let number = permit_number(n);
            json!({
                "document_type": "permanent-residence",
                "document_number": number,
                "name": english,
                "english_name": english,
                "permit_chinese_name": chinese,
                "nationality": 840,
                "sex": sex_of(&number),
                "birth_date": format!("{}-01-01", &number[6..10]),
            })
        }
    };
    use base64::Engine as _;
    let photo = base64::engine::general_purpose::STANDARD
        .encode(cardhub_simulators::photo::id_photo(u64::from(n)));
    let reply = http.post(
        "/api/v1/applications",
        &json!({
            "person": person,
            "kind": "first-issue",
            "photo_base64": photo,
            "branch_code": branch_code,
            "approve": true,
        }),
    );
    assert_eq!(reply.status, 201, "application {n}: {}", reply.text);
    reply.json()
}

/// Extracts the waiting cards into tasks; returns the answer.
pub fn extract(http: &Http, kind: &str) -> Value {
    let reply = http.post("/api/v1/workshop/extractions", &json!({ "kind": kind }));
    assert!(
        reply.status == 201 || reply.status == 200,
        "extraction {kind}: {} {}",
        reply.status,
        reply.text
    );
    reply.json()
}

/// Polls `check` until it returns `Some`, failing after `timeout` with
/// what the last look saw.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(v) => return v,
            Err(seen) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}; last seen: {seen}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The task with `id`, through the API.
pub fn task(http: &Http, id: i64) -> Value {
    let reply = http.get(&format!("/api/v1/workshop/tasks/{id}"));
    assert_eq!(reply.status, 200, "task {id}: {}", reply.text);
    reply.json()
}

/// Waits until every task in `ids` is `done` (or `failed`); returns them.
pub fn wait_done(http: &Http, ids: &[i64], timeout: Duration) -> Vec<Value> {
    wait_for("tasks to finish", timeout, || {
        let tasks: Vec<Value> = ids.iter().map(|id| task(http, *id)).collect();
        let finished = tasks.iter().all(|t| {
            let status = t["task"]["status"].as_str().unwrap_or_default();
            status == "done" || status == "failed"
        });
        if finished {
            Ok(tasks)
        } else {
            Err(tasks
                .iter()
                .map(|t| {
                    format!(
                        "{}:{}:{}",
                        t["task"]["id"], t["task"]["status"], t["task"]["step"]
                    )
                })
                .collect::<Vec<_>>()
                .join(" "))
        }
    })
}
