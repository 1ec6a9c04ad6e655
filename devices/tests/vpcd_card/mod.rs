//! A minimal card on the far side of a vpcd reader, for these tests only: a
//! TCP client of vpcd that answers GET ATR with a fixed ATR and every APDU
//! with what its `answer` function returns. The chip simulator proper lives
//! in `cardhub-simulators`.
//!
//! vpcd framing: a 2-byte big-endian length, then the payload. A 1-byte
//! payload is a control: 00 power off, 01 power on, 02 reset (no reply), 04
//! get ATR (reply: the ATR). Anything else is an APDU (reply: the response).
//! Closing the connection removes the card.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the card was sent, apart from the GET ATR polls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A control byte: 00 power off, 01 power on, 02 reset.
    Control(u8),
    /// A command APDU.
    Apdu(Vec<u8>),
}

/// A card connected to a vpcd port; removed when dropped.
pub struct VirtualCard {
    stream: TcpStream,
    thread: Option<JoinHandle<()>>,
    received: mpsc::Receiver<Received>,
}

impl VirtualCard {
    /// Connects to vpcd on 127.0.0.1:`port` (inserting the card).
    pub fn insert(
        port: u16,
        atr: &[u8],
        answer: impl Fn(&[u8]) -> Vec<u8> + Send + 'static,
    ) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("vpcd does not listen on port {port}: {e}"));
        let (tx, received) = mpsc::channel();
        let mut reader = stream.try_clone().expect("clone the card socket");
        let atr = atr.to_vec();
        let thread = std::thread::spawn(move || {
            // The loop ends when vpcd or the test closes the connection.
            let _ = serve(&mut reader, &atr, &answer, &tx);
        });
        Self {
            stream,
            thread: Some(thread),
            received,
        }
    }

    /// Waits up to `timeout` for the next thing the card receives.
    pub fn next_received(&self, timeout: Duration) -> Option<Received> {
        self.received.recv_timeout(timeout).ok()
    }

    /// Everything received so far and not yet taken.
    pub fn drain(&self) -> Vec<Received> {
        self.received.try_iter().collect()
    }

    /// Pulls the card out: closes the connection.
    pub fn remove(self) {}
}

impl Drop for VirtualCard {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    stream: &mut TcpStream,
    atr: &[u8],
    answer: &dyn Fn(&[u8]) -> Vec<u8>,
    seen: &mpsc::Sender<Received>,
) -> io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len)?;
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut payload)?;
        match payload.as_slice() {
            [0x04] => send(stream, atr)?,
            [control] => {
                let _ = seen.send(Received::Control(*control));
            }
            apdu => {
                let _ = seen.send(Received::Apdu(apdu.to_vec()));
                send(stream, &answer(apdu))?;
            }
        }
    }
}

fn send(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len()).expect("vpcd frames are at most 65535 bytes");
    let mut frame = Vec::with_capacity(payload.len() + 2);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame)
}
