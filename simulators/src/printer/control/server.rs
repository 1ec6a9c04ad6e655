//! The control listener inside the simulated printer: one thread per
//! connection, one JSON request per line, one JSON reply per request. All
//! connections are closed and joined when the simulator stops.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::{ControlReply, ControlRequest, MAX_SLOW_MS, PrinterSnapshot};
use crate::printer::faults::{DropAfter, LinkFaults};
use crate::printer::shared::Shared;

/// The longest request line accepted.
const MAX_LINE: u64 = 64 * 1024;

/// Accepts control connections until the simulator stops.
pub(crate) fn serve(shared: &Arc<Shared>, listener: TcpListener) {
    let mut connections: Vec<(TcpStream, JoinHandle<()>)> = Vec::new();
    for stream in listener.incoming() {
        if shared.lock().stopping {
            break;
        }
        let Ok(stream) = stream else {
            continue;
        };
        connections.retain(|(_, handle)| !handle.is_finished());
        let Ok(handle_side) = stream.try_clone() else {
            continue;
        };
        let shared = Arc::clone(shared);
        match thread::Builder::new()
            .name("printersim-control".into())
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

fn serve_connection(shared: &Shared, stream: TcpStream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
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
            // After the reply: stopping closes this connection.
            apply(shared, ControlRequest::Shutdown);
        }
        if sent.is_err() {
            return;
        }
    }
}

/// Parses strictly: keys a request does not have are refused (serde
/// would ignore them beside the tag of a request without fields).
fn parse_request(text: &str) -> Result<ControlRequest, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let request: ControlRequest =
        serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let known = serde_json::to_value(&request).expect("requests always serialise");
    if let (Some(given), Some(known)) = (value.as_object(), known.as_object())
        && let Some(extra) = given
            .keys()
            .find(|k| !known.contains_key(*k) && !is_optional_field(&request, k))
    {
        return Err(format!("unknown field `{extra}` for this request"));
    }
    Ok(request)
}

/// Fields a request may carry but does not echo when they are absent.
fn is_optional_field(request: &ControlRequest, key: &str) -> bool {
    matches!(request, ControlRequest::Refill { .. }) && matches!(key, "hopper" | "ribbon")
}

fn send(writer: &mut TcpStream, reply: &ControlReply) -> io::Result<()> {
    let mut line = serde_json::to_vec(reply).expect("replies always serialise");
    line.push(b'\n');
    writer.write_all(&line)?;
    writer.flush()
}

/// Carries out one request.
fn apply(shared: &Shared, request: ControlRequest) -> ControlReply {
    if let ControlRequest::WaitCoupler {
        connected,
        timeout_ms,
    } = request
    {
        let timeout = Duration::from_millis(timeout_ms);
        return if shared.wait_for(timeout, |i| i.coupler.connected == connected || i.stopping) {
            ControlReply::with_state(PrinterSnapshot::of(&shared.lock()))
        } else {
            ControlReply::error(format!(
                "the coupler did not become {} within {timeout_ms} ms: is vpcd (pcscd with the rig's readers) running?",
                if connected {
                    "connected"
                } else {
                    "disconnected"
                }
            ))
        };
    }
    let mut inner = shared.lock();
    let reply = match request {
        ControlRequest::State => ControlReply::with_state(PrinterSnapshot::of(&inner)),
        ControlRequest::Jam => {
            inner.machine.jam();
            ControlReply::ok()
        }
        ControlRequest::RibbonOut => {
            inner.machine.ribbon_out();
            ControlReply::ok()
        }
        ControlRequest::HopperEmpty => {
            inner.machine.hopper_empty();
            ControlReply::ok()
        }
        ControlRequest::CoverOpen => {
            inner.machine.open_cover();
            ControlReply::ok()
        }
        ControlRequest::CoverClose => {
            inner.machine.close_cover();
            ControlReply::ok()
        }
        ControlRequest::Clear => {
            let effects = inner.machine.operator_clear();
            inner.apply(effects);
            ControlReply::ok()
        }
        ControlRequest::Refill { hopper, ribbon } => {
            inner.machine.refill(hopper, ribbon);
            ControlReply::ok()
        }
        ControlRequest::DropConnection => {
            inner.drop_host();
            ControlReply::ok()
        }
        ControlRequest::DropAfter {
            commands,
            apply_last,
        } => {
            inner.link_faults.drop_after = Some(DropAfter {
                commands,
                apply_last,
            });
            ControlReply::ok()
        }
        ControlRequest::GarbleNext => {
            inner.link_faults.garble_next = true;
            ControlReply::ok()
        }
        ControlRequest::Slow { ms } if ms > MAX_SLOW_MS => ControlReply::error(format!(
            "slow: {ms} ms is more than the {MAX_SLOW_MS} ms allowed"
        )),
        ControlRequest::Slow { ms } => {
            inner.link_faults.slow_ms = ms;
            ControlReply::ok()
        }
        ControlRequest::ClearLinkFaults => {
            inner.link_faults = LinkFaults::default();
            ControlReply::ok()
        }
        ControlRequest::Shutdown => {
            inner.shutdown_requested = true;
            ControlReply::ok()
        }
        ControlRequest::WaitCoupler { .. } => {
            unreachable!("wait_coupler is answered above, without holding the lock")
        }
    };
    inner.persist();
    drop(inner);
    shared.changed.notify_all();
    reply
}
