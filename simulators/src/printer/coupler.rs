//! The coupler: the printer's contact encoder, seen by pcscd as a vpcd
//! reader of the PC/SC test rig.
//!
//! Each card fed is a new blank social security card (the card simulator's
//! [`crate::card::os::CardOs`]), but the coupler does NOT connect to vpcd
//! per card: pcscd polls vpcd for card presence only every 400 ms, so a
//! reconnection per card would cost up to 0.8 s. Instead one vpcd
//! connection lives as long as the simulator and answers for whichever
//! card is at the contact or contactless station:
//!
//! | from vpcd | the coupler |
//! | --- | --- |
//! | power on (`01`), reset (`02`) | binds to the card now at a station, with fresh volatile state |
//! | power off (`00`) | unbinds |
//! | get ATR (`04`) | the card's ATR; before any card, a blank card's, so pcscd sees the slot occupied |
//! | an APDU | the bound card's answer while it stays at its station; otherwise an empty payload, then the connection is closed and made again at once |
//!
//! So the hub, after moving a card to a station, reconnects the encoder
//! with a reset (`CardReader::reconnect(true)`), as it must with a real
//! encoder, whose session belongs to the card that was there before.
//! Moving the card (even away and back) ends the binding.
//!
//! Why the close after an empty payload: vpcd reads a response's body
//! with `recv(..., MSG_WAITALL)`, which for a zero length waits until at
//! least one more byte arrives (or the socket closes). Left open, pcscd
//! would hang inside that transmit. Closed, vpcd ends the transmit with no
//! response bytes (the hub's reader reports it) and drops the slot; the
//! coupler connects again at once, so only this error path pays a
//! reconnection, never a card that is where the hub expects it.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::shared::Shared;
use crate::card::vpcd::{Backoff, VpcdMessage, read_frame, write_frame};

/// How long one attempt to reach vpcd may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The coupler thread: connect to vpcd, serve, reconnect with back-off if
/// vpcd goes away, until the simulator stops.
pub(crate) fn run(shared: &Shared, vpcd: SocketAddr) {
    let mut backoff = Backoff::new();
    loop {
        if shared.lock().stopping {
            return;
        }
        let mut again_at_once = false;
        match TcpStream::connect_timeout(&vpcd, CONNECT_TIMEOUT) {
            Ok(stream) => {
                backoff.reset();
                match serve(shared, stream) {
                    Ok(Ended::NoCardAnswered) => again_at_once = true,
                    Ok(Ended::Closed) => tracing::info!("vpcd closed the coupler's connection"),
                    Err(e) => tracing::info!(error = %e, "coupler's vpcd connection ended"),
                }
                {
                    let mut inner = shared.lock();
                    inner.coupler.connected = false;
                    inner.coupler.stream = None;
                    inner.coupler_power_off();
                }
                shared.changed.notify_all();
            }
            Err(e) => tracing::debug!(error = %e, %vpcd, "vpcd not reachable yet"),
        }
        if !again_at_once {
            shared.wait_for(backoff.next_wait(), |i| i.stopping);
        }
    }
}

/// Why a vpcd connection ended without an error.
enum Ended {
    /// vpcd closed it (pcscd stopping), or the simulator stops.
    Closed,
    /// An APDU found no card: answered empty and closed (module docs).
    NoCardAnswered,
}

/// Serves one vpcd connection until it closes or the simulator stops.
fn serve(shared: &Shared, stream: TcpStream) -> io::Result<Ended> {
    stream.set_nodelay(true)?;
    let mut reader = stream.try_clone()?;
    let mut writer = stream.try_clone()?;
    let quick_ack = socket2::SockRef::from(&stream);
    {
        let mut inner = shared.lock();
        if inner.stopping {
            return Ok(Ended::Closed);
        }
        inner.coupler.stream = Some(stream.try_clone()?);
        inner.coupler.connections += 1;
    }
    let mut first_frame = true;
    loop {
        // vpcd sends a frame's length and body in two writes without
        // TCP_NODELAY; acknowledging at once saves a delayed ACK (about
        // 40 ms) per APDU. The flag does not stick: set before each read.
        quick_ack.set_tcp_quickack(true)?;
        let Some(payload) = read_frame(&mut reader)? else {
            return Ok(Ended::Closed);
        };
        if std::mem::take(&mut first_frame) {
            // vpcd accepts a connection only when pcscd next polls the
            // slot: the coupler counts as connected from vpcd's first word.
            shared.lock().coupler.connected = true;
            tracing::info!("coupler connected to vpcd");
        }
        match VpcdMessage::decode(payload) {
            VpcdMessage::PowerOn | VpcdMessage::Reset => shared.lock().coupler_reset(),
            VpcdMessage::PowerOff => shared.lock().coupler_power_off(),
            VpcdMessage::GetAtr => {
                let atr = shared.lock().coupler_atr();
                write_frame(&mut writer, &atr)?;
            }
            VpcdMessage::UnknownControl(byte) => {
                tracing::warn!(control = byte, "vpcd sent an unknown control byte; ignored");
            }
            VpcdMessage::Apdu(apdu) => {
                let response = shared.lock().coupler_apdu(&apdu);
                let Some(response) = response else {
                    write_frame(&mut writer, &[])?;
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    return Ok(Ended::NoCardAnswered);
                };
                write_frame(&mut writer, &response)?;
            }
        }
        shared.changed.notify_all();
    }
}
