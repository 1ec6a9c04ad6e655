//! The screens of `cardhub bench monitor`, each a real WebSocket client
//! of the hub's `/ws/monitor` (`docs/monitor-protocol.md`) on a socket of
//! its own: the reading screens, one thread each, that time every change
//! they receive, and the stalled screens, which say hello and then do not
//! read until phase B is over.
//!
//! Neighbours: the driver that starts them and moves the phase counter is
//! [`super`] (`mod.rs`); the frames are read by [`super::scan`], the
//! latencies counted in [`super::figures::Histogram`].

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tungstenite::{Message, WebSocket};

use super::STOP;
use super::figures::Histogram;
use super::scan::scan_frame;

/// How soon a screen thread notices that a phase is over.
const READ_TIMEOUT: Duration = Duration::from_millis(200);

/// How long a stalled screen reads, after phase B, what reached it.
pub(super) const DRAIN: Duration = Duration::from_secs(3);

const PONG: &str = r#"{"v":1,"type":"pong"}"#;

/// A connected, greeted screen; `rcvbuf` shrinks its receive buffer
/// before it connects.
pub(super) fn connect(
    addr: SocketAddr,
    token: &str,
    rcvbuf: Option<usize>,
) -> Result<WebSocket<TcpStream>, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| format!("a socket: {e}"))?;
    if let Some(size) = rcvbuf {
        socket
            .set_recv_buffer_size(size)
            .map_err(|e| format!("SO_RCVBUF: {e}"))?;
    }
    socket
        .connect(&addr.into())
        .map_err(|e| format!("connect to {addr}: {e}"))?;
    let stream: TcpStream = socket.into();
    let _ = stream.set_nodelay(true);
    // The upgrade's answer is waited for this long, then reads time out
    // every READ_TIMEOUT.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let (mut ws, _) = tungstenite::client(format!("ws://{addr}/ws/monitor"), stream)
        .map_err(|e| format!("the WebSocket upgrade: {e}"))?;
    let _ = ws.get_ref().set_read_timeout(Some(READ_TIMEOUT));
    let hello = serde_json::json!({"v": 1, "type": "hello", "token": token}).to_string();
    ws.send(Message::text(hello))
        .map_err(|e| format!("send hello: {e}"))?;
    Ok(ws)
}

/// What one reading screen saw in one phase.
#[derive(Clone, Debug, Default)]
pub(super) struct ScreenPhase {
    pub(super) latency: Histogram,
    pub(super) frames: u64,
    pub(super) resyncs: u32,
    /// Why the connection ended during this phase.
    pub(super) ended: Option<String>,
}

/// What one reading screen saw, phase by phase.
#[derive(Debug, Default)]
pub(super) struct ScreenReport {
    pub(super) phases: [ScreenPhase; 2],
}

/// A screen that reads every frame until the phase counter says stop;
/// says on `subscribed` when its first snapshot came (or why it failed).
pub(super) fn reading_screen(
    screen: usize,
    addr: SocketAddr,
    token: &str,
    phase: &AtomicUsize,
    seen: &AtomicU64,
    subscribed: &mpsc::Sender<Result<(), (usize, String)>>,
) -> ScreenReport {
    let mut report = ScreenReport::default();
    let mut ws = match connect(addr, token, None) {
        Ok(ws) => ws,
        Err(e) => {
            let _ = subscribed.send(Err((screen, e)));
            return report;
        }
    };
    let mut first = true;
    let mut at_ms = Vec::with_capacity(1024);
    loop {
        let read = ws.read();
        let p = phase.load(Ordering::Acquire);
        if p >= STOP {
            break;
        }
        let slot = p.checked_sub(1).map(|i| &mut report.phases[i]);
        let end = match read {
            Ok(Message::Text(text)) => {
                let now = chrono::Utc::now().timestamp_millis();
                at_ms.clear();
                let frame = scan_frame(text.as_str(), &mut at_ms);
                match frame.kind {
                    Some("deltas") => {
                        seen.fetch_add(at_ms.len() as u64, Ordering::Relaxed);
                        if let Some(s) = slot {
                            s.frames += 1;
                            for &at in &at_ms {
                                s.latency.record(now.saturating_sub(at).max(0) as u64);
                            }
                        }
                        None
                    }
                    Some("snapshot") => {
                        if first {
                            first = false;
                            let _ = subscribed.send(Ok(()));
                        }
                        if let (Some(s), Some("resync")) = (slot, frame.reason) {
                            s.resyncs += 1;
                        }
                        None
                    }
                    Some("heartbeat") => ws.send(Message::text(PONG)).err().map(|e| e.to_string()),
                    Some("error") if frame.fatal || first => Some(format!(
                        "the hub sent error `{}`",
                        frame.code.unwrap_or("?")
                    )),
                    _ => None,
                }
            }
            Ok(Message::Close(close)) => Some(format!("the hub closed the socket: {close:?}")),
            Ok(_) => None,
            Err(e) if read_timed_out(&e) => None,
            Err(e) => Some(e.to_string()),
        };
        if let Some(why) = end {
            if first {
                let _ = subscribed.send(Err((screen, why)));
            } else if let Some(i) = p.checked_sub(1) {
                report.phases[i].ended = Some(why);
            }
            return report;
        }
    }
    let _ = ws.close(None);
    let _ = ws.flush();
    report
}

/// What a stalled screen found when it read again after phase B.
#[derive(Clone, Debug, Default)]
pub struct StalledOutcome {
    /// Frames read in [`DRAIN`].
    pub frames: u64,
    /// Snapshot reasons, in order.
    pub snapshots: Vec<String>,
    /// A fatal error code, or how the socket ended.
    pub ended: Option<String>,
}

pub(super) fn drain(mut ws: WebSocket<TcpStream>) -> StalledOutcome {
    let mut out = StalledOutcome::default();
    let deadline = Instant::now() + DRAIN;
    let mut at_ms = Vec::new();
    while Instant::now() < deadline {
        match ws.read() {
            Ok(Message::Text(text)) => {
                out.frames += 1;
                let frame = scan_frame(text.as_str(), &mut at_ms);
                match frame.kind {
                    Some("snapshot") => out.snapshots.push(frame.reason.unwrap_or("?").to_owned()),
                    Some("error") if frame.fatal => {
                        out.ended = Some(format!("error `{}`", frame.code.unwrap_or("?")));
                    }
                    _ => {}
                }
            }
            Ok(Message::Close(_)) => {
                out.ended.get_or_insert_with(|| "closed".into());
                break;
            }
            Ok(_) => {}
            Err(e) if read_timed_out(&e) => {}
            Err(e) => {
                out.ended.get_or_insert_with(|| e.to_string());
                break;
            }
        }
    }
    out
}

/// Whether a read ended only because the socket's read timeout passed
/// (nothing came): the socket is still good.
fn read_timed_out(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(e) if matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ))
}
