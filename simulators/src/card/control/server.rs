//! The control listener inside the simulator: accepts connections, reads
//! one JSON request per line, applies it to the card and answers one JSON
//! line. Each connection has its own thread; all are closed and joined when
//! the simulator stops.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::{CardStatus, ControlReply, ControlRequest, MAX_SLOW_MS};
use crate::card::faults::{Faults, RemoveAfter};
use crate::card::os::OsConfig;
use crate::card::simulator::{Shared, Slot};

/// The longest request line accepted; a request is a few hundred bytes.
const MAX_LINE: u64 = 64 * 1024;

/// Accepts control connections until the simulator stops.
pub(crate) fn serve(shared: &Arc<Shared>, listener: TcpListener) {
    let mut connections: Vec<(TcpStream, JoinHandle<()>)> = Vec::new();
    for stream in listener.incoming() {
        if shared.lock().stopping {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "control connection failed");
                continue;
            }
        };
        connections.retain(|(_, handle)| !handle.is_finished());
        let Ok(handle_side) = stream.try_clone() else {
            continue;
        };
        let shared = Arc::clone(shared);
        match thread::Builder::new()
            .name("cardsim-control-conn".into())
            .spawn(move || serve_connection(&shared, stream))
        {
            Ok(handle) => connections.push((handle_side, handle)),
            Err(e) => tracing::error!(error = %e, "no thread for a control connection"),
        }
    }
    for (stream, handle) in connections {
        let _ = stream.shutdown(Shutdown::Both);
        let _ = handle.join();
    }
}

/// Unblocks [`serve`]'s accept so it sees the simulator stopping.
pub(crate) fn wake(addr: SocketAddr) {
    let target = if addr.ip().is_unspecified() {
        SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
    } else {
        addr
    };
    if let Err(e) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) {
        tracing::warn!(error = %e, "could not wake the control listener");
    }
}

fn serve_connection(shared: &Shared, stream: TcpStream) {
    let Ok(write_side) = stream.try_clone() else {
        return;
    };
    let mut writer = write_side;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !line.ends_with(b"\n") && line.len() as u64 == MAX_LINE {
            let reply = ControlReply::error(format!(
                "request longer than {MAX_LINE} bytes; closing the connection"
            ));
            let _ = send(&mut writer, &reply);
            return;
        }
        let mut shutdown = false;
        let reply = match std::str::from_utf8(&line) {
            Err(_) => ControlReply::error("malformed request: not UTF-8 text"),
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => match parse_request(text.trim()) {
                Ok(ControlRequest::Shutdown) => {
                    shutdown = true;
                    ControlReply::ok()
                }
                Ok(request) => apply(shared, request),
                Err(e) => ControlReply::error(format!(
                    "malformed request: {e}; send one JSON object per line, such as {{\"cmd\":\"state\"}}"
                )),
            },
        };
        let sent = send(&mut writer, &reply);
        if shutdown {
            // Only after the reply: stopping closes this connection.
            apply(shared, ControlRequest::Shutdown);
        }
        if sent.is_err() {
            return;
        }
    }
}

/// Parses a request strictly: serde ignores extra keys beside the tag of a
/// request without fields (`{"cmd":"remove","now":true}`), so keys the
/// request does not have are refused here.
fn parse_request(text: &str) -> Result<ControlRequest, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let request: ControlRequest =
        serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let known = serde_json::to_value(&request).expect("requests always serialise");
    if let (Some(given), Some(known)) = (value.as_object(), known.as_object())
        && let Some(extra) = given.keys().find(|k| !known.contains_key(*k))
    {
        return Err(format!("unknown field `{extra}` for this request"));
    }
    Ok(request)
}

fn send(writer: &mut TcpStream, reply: &ControlReply) -> io::Result<()> {
    let mut line = serde_json::to_vec(reply).expect("replies always serialise");
    line.push(b'\n');
    writer.write_all(&line)?;
    writer.flush()
}

/// Carries out one request.
fn apply(shared: &Shared, request: ControlRequest) -> ControlReply {
    let reply = match request {
        ControlRequest::WaitConnected {
            connected,
            timeout_ms,
        } => {
            let timeout = Duration::from_millis(timeout_ms);
            return if shared.wait_for(timeout, |s| s.connected == connected) {
                ControlReply::with_state(CardStatus::of(&shared.lock()))
            } else {
                ControlReply::error(format!(
                    "the card did not become {} within {timeout_ms} ms: is vpcd (pcscd with the vpcd reader) running?",
                    if connected {
                        "connected"
                    } else {
                        "disconnected"
                    }
                ))
            };
        }
        ControlRequest::State => return ControlReply::with_state(CardStatus::of(&shared.lock())),
        ControlRequest::Shutdown => {
            shared.shutdown_requested.store(true, Ordering::SeqCst);
            ControlReply::ok()
        }
        ControlRequest::Remove => {
            shared.lock().remove();
            ControlReply::ok()
        }
        ControlRequest::Insert => {
            shared.lock().inserted = true;
            ControlReply::ok()
        }
        ControlRequest::RemoveAfter { apdus, apply_last } => {
            shared.lock().faults.remove_after = Some(RemoveAfter { apdus, apply_last });
            ControlReply::ok()
        }
        ControlRequest::CorruptNext => {
            shared.lock().faults.corrupt_next = true;
            ControlReply::ok()
        }
        ControlRequest::Slow { ms } if ms > MAX_SLOW_MS => ControlReply::error(format!(
            "slow: {ms} ms is more than the {MAX_SLOW_MS} ms allowed"
        )),
        ControlRequest::Slow { ms } => {
            shared.lock().faults.slow_ms = ms;
            ControlReply::ok()
        }
        ControlRequest::ClearFaults => {
            shared.lock().faults = Faults::default();
            ControlReply::ok()
        }
        ControlRequest::TamperRecord {
            sfi,
            tag,
            value_hex,
        } => tamper_record(&mut shared.lock(), sfi, tag, &value_hex),
        ControlRequest::T0GetResponse { on } => {
            shared.lock().os.set_config(OsConfig {
                t0_get_response: on,
            });
            ControlReply::ok()
        }
    };
    shared.changed.notify_all();
    reply
}

fn tamper_record(slot: &mut Slot, sfi: u8, tag: u8, value_hex: &str) -> ControlReply {
    let value = match hex::decode(value_hex) {
        Ok(v) => v,
        Err(e) => {
            return ControlReply::error(format!(
                "tamper_record: value_hex `{value_hex}` is not hex: {e}"
            ));
        }
    };
    if let Err(e) = slot.os.memory_mut().set_record(sfi, tag, &value) {
        return ControlReply::error(format!("tamper_record: {e}"));
    }
    slot.persist();
    ControlReply::ok()
}
