//! The host link: commands in, replies out, over TCP or a pseudo-terminal.
//!
//! - TCP: one host at a time. A new connection takes over from the old
//!   one, which is closed (a host that lost its link without the printer
//!   noticing must be able to come back); the printer's state carries on,
//!   the card stays where it was.
//! - pty: the simulator holds the master and keeps the slave open itself,
//!   so a host may open and close the slave path (as a serial device) as
//!   often as it likes; there is no connection to lose. A dropped link
//!   there means the line went dead for the command in flight: what was
//!   read is forgotten and its reply never sent.
//!
//! Each decoded command goes through [`answer`]: the link faults decide its
//! fate, the machine carries it out, its effects are applied, the step's
//! time passes (interrupted if the link drops or the simulator stops), and
//! the reply goes out.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use cardhub_protocols::printer::{Command, CommandDecoder, CommandError, Reply};
use serialport::{SerialPort, TTYPort};

use super::faults::CommandFate;
use super::shared::Shared;

/// Bytes read at a time: a 2 MB panel arrives in a few dozen reads.
const READ_CHUNK: usize = 64 * 1024;

/// How often the pty session looks whether the simulator stops (a pty
/// read cannot be interrupted from another thread).
const PTY_POLL: Duration = Duration::from_millis(100);

/// Accepts host connections until the simulator stops; each runs on a
/// thread of its own, the newest taking over.
pub(crate) fn serve_tcp(shared: &Arc<Shared>, listener: TcpListener) {
    let mut sessions: Vec<JoinHandle<()>> = Vec::new();
    for stream in listener.incoming() {
        if shared.lock().stopping {
            break;
        }
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "host connection failed");
                continue;
            }
        };
        let handle_side = match stream.set_nodelay(true).and_then(|()| stream.try_clone()) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "host connection unusable");
                continue;
            }
        };
        let generation = {
            let mut inner = shared.lock();
            if inner.host.stream.is_some() {
                tracing::info!("a new host connection takes over from the previous one");
            }
            inner.drop_host();
            inner.host.stream = Some(handle_side);
            inner.host.connected = true;
            inner.host.connections += 1;
            inner.host.generation
        };
        shared.changed.notify_all();
        sessions.retain(|h| !h.is_finished());
        let shared = Arc::clone(shared);
        match thread::Builder::new()
            .name("printersim-host".into())
            .spawn(move || tcp_session(&shared, stream, generation))
        {
            Ok(handle) => sessions.push(handle),
            Err(e) => tracing::error!(error = %e, "no thread for a host connection"),
        }
    }
    for handle in sessions {
        let _ = handle.join();
    }
}

fn tcp_session(shared: &Shared, mut stream: TcpStream, generation: u64) {
    tracing::info!(peer = ?stream.peer_addr().ok(), "host connected");
    let mut decoder = CommandDecoder::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    'link: loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        decoder.push(&chunk[..n]);
        while let Some(decoded) = decoder.decode() {
            let Some(reply) = answer(shared, decoded, generation) else {
                break 'link;
            };
            if stream.write_all(&reply).is_err() {
                break 'link;
            }
        }
    }
    let mut inner = shared.lock();
    if inner.host.generation == generation {
        inner.host.connected = false;
        inner.host.stream = None;
    }
    drop(inner);
    shared.changed.notify_all();
    tracing::info!("host disconnected");
}

/// Serves the pty master until the simulator stops. `_slave` is held open
/// so the line exists while no host has it open.
pub(crate) fn serve_pty(shared: &Shared, mut master: TTYPort, _slave: TTYPort) {
    if let Err(e) = master.set_timeout(PTY_POLL) {
        tracing::error!(error = %e, "cannot set the pty's read timeout; the pty is not served");
        return;
    }
    let mut decoder = CommandDecoder::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    let mut generation = shared.lock().host.generation;
    loop {
        let read = master.read(&mut chunk);
        {
            let inner = shared.lock();
            if inner.stopping {
                return;
            }
            if inner.host.generation != generation {
                // The line was dropped: what was in flight is lost.
                generation = inner.host.generation;
                decoder.clear();
            }
        }
        match read {
            Ok(0) => continue,
            Ok(n) => decoder.push(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "pty read failed; retrying");
                shared.wait_for(PTY_POLL, |i| i.stopping);
                continue;
            }
        }
        while let Some(decoded) = decoder.decode() {
            match answer(shared, decoded, generation) {
                Some(reply) => {
                    if let Err(e) = master.write_all(&reply) {
                        tracing::warn!(error = %e, "pty write failed; the reply is lost");
                    }
                }
                None => {
                    let inner = shared.lock();
                    if inner.stopping {
                        return;
                    }
                    generation = inner.host.generation;
                    decoder.clear();
                    break;
                }
            }
        }
    }
}

/// Carries out one decoded command and returns the reply's bytes, or
/// `None` when the link dropped instead (a fault, a takeover, a stop).
fn answer(
    shared: &Shared,
    decoded: Result<Command, CommandError>,
    generation: u64,
) -> Option<Vec<u8>> {
    let (mut reply, wait, name) = {
        let mut inner = shared.lock();
        if inner.stopping || inner.host.generation != generation {
            return None;
        }
        inner.host.commands += 1;
        let fate = inner.link_faults.on_command();
        let name = decoded.as_ref().map_or("(bad frame)", Command::name);
        if fate == CommandFate::DropUnapplied {
            tracing::info!(command = name, "link dropped before the command (fault)");
            inner.drop_host();
            drop(inner);
            shared.changed.notify_all();
            return None;
        }
        let (reply, duration) = match decoded {
            Ok(command) => {
                let outcome = inner.machine.handle(&command, Instant::now());
                inner.apply(outcome.effects);
                (outcome.reply, outcome.duration)
            }
            Err(e) => {
                tracing::info!(error = %e, "bad frame from the host");
                (Reply::error(e.code(), e.to_string()), Duration::ZERO)
            }
        };
        inner.persist();
        if fate == CommandFate::ApplyThenDrop {
            tracing::info!(command = name, "link dropped after the command (fault)");
            inner.drop_host();
            drop(inner);
            shared.changed.notify_all();
            return None;
        }
        let mut bytes = reply.to_bytes();
        inner.link_faults.garble(&mut bytes);
        let wait = duration + Duration::from_millis(inner.link_faults.slow_ms);
        (bytes, wait, name)
    };
    shared.changed.notify_all();
    if !wait.is_zero() && shared.wait_for(wait, |i| i.stopping || i.host.generation != generation) {
        tracing::info!(command = name, "link dropped while the step ran; no reply");
        return None;
    }
    tracing::debug!(command = name, reply = %reply.escape_ascii(), "reply");
    Some(std::mem::take(&mut reply))
}
