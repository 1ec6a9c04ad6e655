//! A headless Chromium page driven over the DevTools protocol (CDP), for
//! the end-to-end tests that look at the monitoring wall in a real browser.
//!
//! [`Browser::launch`] starts Debian's `/usr/bin/chromium` (or
//! `$CARDHUB_CHROMIUM`) in its own temporary profile, finds its one page
//! target and speaks CDP to it over a blocking WebSocket (`tungstenite`).
//! Commands are `{"id":N,"method":..,"params":..}`; the answer carries the
//! same `id`, and the events that arrive in between (no `id`) are kept for
//! [`Browser::goto`] (the load event) and for diagnostics (console lines and
//! uncaught exceptions, see [`Browser::console`]).
//!
//! This is not a general CDP client: one page, one command in flight, no
//! frames or network interception. The hub under test is started by
//! [`crate::HubProcess`]; `make test` installs chromium
//! (`scripts/ensure-packages.sh test`).

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// Where Debian's chromium package puts the browser.
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// How long chromium gets to print its DevTools line: a cold start on a
/// loaded 2-core machine creates the profile and the GPU-less compositor.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one CDP command may take to be answered before the browser is
/// called hung (a screenshot of a 1920x1080 page takes well under a second).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`Browser::goto`] waits for the page's load event.
const LOAD_TIMEOUT: Duration = Duration::from_secs(30);

/// How often [`Browser::wait_for`] evaluates its condition.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How many console lines [`Browser::console`] keeps (the newest).
const CONSOLE_KEEP: usize = 200;

/// How many chromium stderr lines a launch failure quotes.
const STDERR_KEEP: usize = 40;

/// What went wrong driving the browser.
#[derive(Debug)]
#[non_exhaustive]
pub enum BrowserError {
    /// The chromium binary is not there.
    NotFound(PathBuf),
    /// Chromium did not start or printed no DevTools address; carries what
    /// it printed on stderr.
    Launch(String),
    /// The DevTools connection failed (socket, WebSocket, unexpected
    /// message).
    Transport(String),
    /// Chromium answered a command with a CDP error.
    Command {
        /// The CDP method, e.g. `Page.navigate`.
        method: String,
        /// Chromium's error message.
        message: String,
    },
    /// The page threw: an exception from `Runtime.evaluate`.
    Script(String),
    /// Something did not happen in time.
    Timeout(String),
    /// Writing a file (a screenshot) failed.
    Io(String),
}

impl fmt::Display for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrowserError::NotFound(path) => write!(
                f,
                "chromium not found ({}): make test installs it (scripts/ensure-packages.sh test); \
                 CARDHUB_CHROMIUM names another binary",
                path.display()
            ),
            BrowserError::Launch(why) => write!(f, "chromium did not start: {why}"),
            BrowserError::Transport(why) => write!(f, "DevTools connection failed: {why}"),
            BrowserError::Command { method, message } => {
                write!(f, "chromium refused {method}: {message}")
            }
            BrowserError::Script(text) => write!(f, "the page threw: {text}"),
            BrowserError::Timeout(what) => write!(f, "timed out: {what}"),
            BrowserError::Io(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for BrowserError {}

/// A headless Chromium page driven over the DevTools protocol. The browser
/// process is killed when this is dropped.
pub struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    next_id: u64,
    /// Events that arrived while waiting for an answer, not yet looked at.
    events: VecDeque<Value>,
    console: VecDeque<String>,
    /// The profile directory; dropped (removed) after the child is killed.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// The chromium binary: `$CARDHUB_CHROMIUM` or `/usr/bin/chromium`.
    pub fn binary() -> PathBuf {
        std::env::var_os("CARDHUB_CHROMIUM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROMIUM))
    }

    /// Whether the chromium binary is installed.
    pub fn available() -> bool {
        Browser::binary().exists()
    }

    /// Launches chromium headless with a `width` x `height` window on
    /// `about:blank`, connects to that page and sets its viewport to exactly
    /// `width` x `height` CSS pixels (screenshots have that size).
    pub fn launch(width: u32, height: u32) -> Result<Browser, BrowserError> {
        let bin = Browser::binary();
        if !bin.exists() {
            return Err(BrowserError::NotFound(bin));
        }
        let profile = tempfile::tempdir()
            .map_err(|e| BrowserError::Launch(format!("no temporary profile directory: {e}")))?;
        let mut child = Command::new(&bin)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                // Containers often have a tiny /dev/shm; chromium crashes
                // tabs when it fills.
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| BrowserError::Launch(format!("{} did not run: {e}", bin.display())))?;
        match connect_page(&mut child) {
            Ok(socket) => {
                let mut browser = Browser {
                    child,
                    socket,
                    next_id: 1,
                    events: VecDeque::new(),
                    console: VecDeque::new(),
                    _profile: profile,
                };
                browser.call("Page.enable", json!({}))?;
                browser.call("Runtime.enable", json!({}))?;
                // Headless chromium keeps some of the window for its (absent)
                // toolbars; the page and its screenshots get the full size.
                browser.call(
                    "Emulation.setDeviceMetricsOverride",
                    json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
                )?;
                Ok(browser)
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    /// Navigates to `url` and waits for the page's load event.
    pub fn goto(&mut self, url: &str) -> Result<(), BrowserError> {
        self.events.retain(|e| !is_event(e, "Page.loadEventFired"));
        let answer = self.call("Page.navigate", json!({ "url": url }))?;
        if let Some(error) = answer.get("errorText").and_then(Value::as_str) {
            return Err(BrowserError::Command {
                method: "Page.navigate".into(),
                message: format!("{url}: {error}"),
            });
        }
        let deadline = Instant::now() + LOAD_TIMEOUT;
        loop {
            if let Some(at) = self
                .events
                .iter()
                .position(|e| is_event(e, "Page.loadEventFired"))
            {
                self.events.drain(..=at);
                return Ok(());
            }
            match self.receive(deadline)? {
                Some(message) => self.note_event(message),
                None => {
                    return Err(BrowserError::Timeout(format!(
                        "{url} did not finish loading within {LOAD_TIMEOUT:?}"
                    )));
                }
            }
        }
    }

    /// Evaluates `expression` in the page (promises are awaited) and returns
    /// its value as JSON (`null` for `undefined`).
    pub fn eval(&mut self, expression: &str) -> Result<Value, BrowserError> {
        let answer = self.call(
            "Runtime.evaluate",
            json!({
                "expression": expression,
                "returnByValue": true,
                "awaitPromise": true,
            }),
        )?;
        if let Some(details) = answer.get("exceptionDetails") {
            return Err(BrowserError::Script(exception_text(details)));
        }
        Ok(answer
            .get("result")
            .and_then(|r| r.get("value"))
            .cloned()
            .unwrap_or(Value::Null))
    }

    /// Evaluates `expression` every 50 ms until it is `true`, and returns
    /// how long that took. An exception (an element not there yet) counts
    /// as "not yet"; after `timeout` the error names the expression and the
    /// last value or exception seen.
    pub fn wait_for(
        &mut self,
        expression: &str,
        timeout: Duration,
    ) -> Result<Duration, BrowserError> {
        let start = Instant::now();
        loop {
            let last = match self.eval(expression) {
                Ok(Value::Bool(true)) => return Ok(start.elapsed()),
                Ok(value) => value.to_string(),
                // The page threw, or its context was replaced mid-navigation.
                Err(BrowserError::Script(text)) => format!("exception: {text}"),
                Err(BrowserError::Command { message, .. }) => format!("error: {message}"),
                Err(e) => return Err(e),
            };
            if start.elapsed() >= timeout {
                return Err(BrowserError::Timeout(format!(
                    "`{expression}` was not true after {timeout:?}; last value: {last}; \
                     console: {:?}",
                    self.console.iter().rev().take(10).collect::<Vec<_>>()
                )));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Captures the page as a PNG into `path`.
    pub fn screenshot(&mut self, path: &Path) -> Result<(), BrowserError> {
        let answer = self.call("Page.captureScreenshot", json!({ "format": "png" }))?;
        let data = answer
            .get("data")
            .and_then(Value::as_str)
            .ok_or_else(|| BrowserError::Transport("a screenshot without data".into()))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| {
                BrowserError::Transport(format!("a screenshot that is not base64: {e}"))
            })?;
        std::fs::write(path, png)
            .map_err(|e| BrowserError::Io(format!("{} not written: {e}", path.display())))
    }

    /// The page's console lines and uncaught exceptions so far (the newest
    /// 200), e.g. to print when a test fails.
    pub fn console(&self) -> Vec<String> {
        self.console.iter().cloned().collect()
    }

    /// Sends one command and waits for its answer's `result`.
    fn call(&mut self, method: &str, params: Value) -> Result<Value, BrowserError> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(Message::text(message.to_string()))
            .map_err(|e| BrowserError::Transport(format!("{method} not sent: {e}")))?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let Some(message) = self.receive(deadline)? else {
                return Err(BrowserError::Timeout(format!(
                    "chromium did not answer {method} within {COMMAND_TIMEOUT:?}"
                )));
            };
            if message.get("id").and_then(Value::as_u64) != Some(id) {
                self.note_event(message);
                continue;
            }
            if let Some(error) = message.get("error") {
                return Err(BrowserError::Command {
                    method: method.into(),
                    message: error
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("(no message)")
                        .into(),
                });
            }
            return Ok(message.get("result").cloned().unwrap_or(Value::Null));
        }
    }

    /// The next JSON message, or `None` once `deadline` has passed.
    fn receive(&mut self, deadline: Instant) -> Result<Option<Value>, BrowserError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.socket
                .get_mut()
                .set_read_timeout(Some(left))
                .map_err(|e| BrowserError::Transport(format!("read timeout not set: {e}")))?;
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str(text.as_str()).map(Some).map_err(|e| {
                        BrowserError::Transport(format!("a message that is not JSON ({e})"))
                    });
                }
                Ok(Message::Close(_)) => {
                    return Err(BrowserError::Transport(
                        "chromium closed the page's socket".into(),
                    ));
                }
                // Pings are answered by tungstenite; nothing else is sent.
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(BrowserError::Transport(format!("reading: {e}"))),
            }
        }
    }

    /// Keeps an event: console lines and exceptions in the console log,
    /// page events for [`Browser::goto`].
    fn note_event(&mut self, event: Value) {
        let method = event.get("method").and_then(Value::as_str).unwrap_or("");
        let params = event.get("params").cloned().unwrap_or(Value::Null);
        let line = match method {
            "Runtime.consoleAPICalled" => {
                let kind = params.get("type").and_then(Value::as_str).unwrap_or("log");
                let args: Vec<String> = params
                    .get("args")
                    .and_then(Value::as_array)
                    .map(|args| args.iter().map(remote_object_text).collect())
                    .unwrap_or_default();
                Some(format!("{kind}: {}", args.join(" ")))
            }
            "Runtime.exceptionThrown" => Some(format!(
                "uncaught: {}",
                params
                    .get("exceptionDetails")
                    .map(exception_text)
                    .unwrap_or_default()
            )),
            _ => None,
        };
        if let Some(line) = line {
            if self.console.len() == CONSOLE_KEEP {
                self.console.pop_front();
            }
            self.console.push_back(line);
        } else if method.starts_with("Page.") {
            self.events.push_back(event);
            // Only the load event is ever looked for; keep the queue short.
            while self.events.len() > 100 {
                self.events.pop_front();
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads chromium's DevTools address from its stderr, finds the page target
/// and opens its WebSocket.
fn connect_page(child: &mut Child) -> Result<WebSocket<TcpStream>, BrowserError> {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    // Reads stderr to the end so chromium never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + LAUNCH_TIMEOUT;
    let mut seen = VecDeque::new();
    let port = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(port) = devtools_port(&line) {
                    break port;
                }
                if seen.len() == STDERR_KEEP {
                    seen.pop_front();
                }
                seen.push_back(line);
            }
            Err(e) => {
                let status = child.try_wait().ok().flatten();
                let why = match (e, status) {
                    (_, Some(status)) => format!("it exited ({status})"),
                    (mpsc::RecvTimeoutError::Timeout, None) => {
                        format!("no DevTools address within {LAUNCH_TIMEOUT:?}")
                    }
                    (mpsc::RecvTimeoutError::Disconnected, None) => "it closed stderr".into(),
                };
                let printed: Vec<String> = seen.into_iter().collect();
                return Err(BrowserError::Launch(format!(
                    "{why}; stderr:\n{}",
                    printed.join("\n")
                )));
            }
        }
    };
    let url = page_socket_url(port, deadline)?;
    let address = format!("127.0.0.1:{port}");
    let stream = TcpStream::connect(&address)
        .map_err(|e| BrowserError::Transport(format!("{address}: {e}")))?;
    stream
        .set_read_timeout(Some(COMMAND_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(COMMAND_TIMEOUT)))
        .and_then(|()| stream.set_nodelay(true))
        .map_err(|e| BrowserError::Transport(format!("socket options: {e}")))?;
    let (socket, _) = tungstenite::client(url.as_str(), stream)
        .map_err(|e| BrowserError::Transport(format!("WebSocket handshake with {url}: {e}")))?;
    Ok(socket)
}

/// The port in chromium's `DevTools listening on ws://127.0.0.1:PORT/...`.
fn devtools_port(line: &str) -> Option<u16> {
    let rest = line.trim().strip_prefix("DevTools listening on ws://")?;
    let host_port = rest.split('/').next()?;
    host_port.rsplit(':').next()?.parse().ok()
}

/// The `webSocketDebuggerUrl` of the first target of type `page`, asked
/// of `/json/list` until it appears (the page can lag the browser).
fn page_socket_url(port: u16, deadline: Instant) -> Result<String, BrowserError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let list = format!("http://127.0.0.1:{port}/json/list");
    loop {
        let answer = agent
            .get(&list)
            .call()
            .and_then(|mut res| res.body_mut().read_to_string());
        let last = match answer {
            Ok(body) => {
                let targets: Value = serde_json::from_str(&body)
                    .map_err(|e| BrowserError::Transport(format!("{list} is not JSON ({e})")))?;
                let page = targets.as_array().and_then(|targets| {
                    targets
                        .iter()
                        .find(|t| t.get("type").and_then(Value::as_str) == Some("page"))
                        .and_then(|t| t.get("webSocketDebuggerUrl"))
                        .and_then(Value::as_str)
                });
                if let Some(url) = page {
                    return Ok(url.to_owned());
                }
                format!("no page among {targets}")
            }
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(BrowserError::Launch(format!("{list}: {last}")));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

fn is_event(event: &Value, method: &str) -> bool {
    event.get("method").and_then(Value::as_str) == Some(method)
}

/// An exception's message: its description (with the stack) when there is
/// one, else the short text.
fn exception_text(details: &Value) -> String {
    details
        .get("exception")
        .and_then(|e| e.get("description").or_else(|| e.get("value")))
        .map(|d| {
            d.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| d.to_string())
        })
        .or_else(|| {
            details
                .get("text")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| details.to_string())
}

/// A console argument as text: its value, else its description.
fn remote_object_text(object: &Value) -> String {
    match object.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => object
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("undefined")
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devtools_port_is_read_from_the_banner() {
        assert_eq!(
            devtools_port("DevTools listening on ws://127.0.0.1:40213/devtools/browser/ab-12"),
            Some(40213)
        );
        assert_eq!(
            devtools_port("[1234:5678:ERROR:gpu_init.cc] whatever"),
            None
        );
    }

    #[test]
    fn drives_a_page() {
        if !Browser::available() && std::env::var_os("CARDHUB_REQUIRE_BROWSER").is_none() {
            eprintln!(
                "skipped: {} (set CARDHUB_REQUIRE_BROWSER to fail instead)",
                BrowserError::NotFound(Browser::binary())
            );
            return;
        }
        let mut browser = Browser::launch(800, 600).unwrap_or_else(|e| panic!("{e}"));
        let page = "data:text/html,<title>t</title><p id=p>waiting</p>\
                    <script>setTimeout(()=>{document.getElementById('p').dataset.state='done'},200)</script>";
        browser.goto(page).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            browser.eval("1+1").unwrap_or_else(|e| panic!("{e}")),
            json!(2)
        );
        assert_eq!(
            browser
                .eval("Promise.resolve(document.title)")
                .unwrap_or_else(|e| panic!("{e}")),
            json!("t")
        );
        match browser.eval("no_such_name.x") {
            Err(BrowserError::Script(text)) => assert!(text.contains("no_such_name"), "{text}"),
            other => panic!("an exception expected, got {other:?}"),
        }
        browser
            .wait_for(
                "document.getElementById('p').dataset.state === 'done'",
                Duration::from_secs(10),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        match browser.wait_for("false", Duration::from_millis(200)) {
            Err(BrowserError::Timeout(what)) => assert!(what.contains("`false`"), "{what}"),
            other => panic!("a timeout expected, got {other:?}"),
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let png = dir.path().join("page.png");
        browser.screenshot(&png).unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(&png).expect("the screenshot was written");
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "not a PNG: {:?}",
            &bytes[..bytes.len().min(16)]
        );
        // The IHDR chunk right after the signature: width, height (big-endian).
        let size = |at: usize| {
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        assert_eq!(
            (size(16), size(20)),
            (800, 600),
            "the screenshot has the window's size"
        );
    }
}
