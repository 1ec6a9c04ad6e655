//! Shared pieces of the simulator's integration tests: a fake vpcd (a
//! `TcpListener` playing the reader driver's side of the protocol), a blank
//! card file, and the card-side keys a test terminal needs.

#![allow(dead_code)]

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use cardhub_protocols::apdu::{Command, Response};
use cardhub_protocols::chip::profile::{CardKey, cla, ins, key_id};
use cardhub_protocols::chip::sm::{self, CardAlgorithm, raw};
use cardhub_simulators::card::vpcd::{read_frame, write_frame};
use cardhub_simulators::card::{CardMemory, CardSimulator, RunningCard, SimConfig};

/// How long a test waits for anything the simulator should do at once.
pub const WAIT: Duration = Duration::from_secs(10);

pub const CARD_ID: &str = "1100000012345678";
pub const TRANSPORT_MASTER: [u8; 16] = [0x5A; 16];

/// vpcd's side: listens where the card connects.
pub struct FakeVpcd {
    listener: TcpListener,
}

impl FakeVpcd {
    pub fn bind() -> Self {
        Self::bind_at("127.0.0.1:0".parse().unwrap())
    }

    pub fn bind_at(addr: SocketAddr) -> Self {
        Self {
            listener: TcpListener::bind(addr).unwrap(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// Waits for the card to connect.
    pub fn accept(&self) -> Peer {
        let listener = self.listener.try_clone().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(listener.accept().map(|(s, _)| s));
        });
        let stream = rx
            .recv_timeout(WAIT)
            .expect("the card did not connect to vpcd in time")
            .unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Peer { stream }
    }
}

/// One card connection, seen from vpcd.
pub struct Peer {
    stream: TcpStream,
}

impl Peer {
    fn send(&mut self, payload: &[u8]) {
        write_frame(&mut self.stream, payload).unwrap();
    }

    pub fn power_on(&mut self) {
        self.send(&[0x01]);
    }

    pub fn power_off(&mut self) {
        self.send(&[0x00]);
    }

    pub fn reset(&mut self) {
        self.send(&[0x02]);
    }

    pub fn atr(&mut self) -> Vec<u8> {
        self.send(&[0x04]);
        read_frame(&mut self.stream).unwrap().expect("an ATR")
    }

    /// Sends an APDU and reads the answer (`None`: the card went away).
    pub fn try_transmit(&mut self, apdu: &[u8]) -> io::Result<Option<Vec<u8>>> {
        self.send(apdu);
        read_frame(&mut self.stream)
    }

    pub fn transmit(&mut self, cmd: &Command) -> Response {
        let bytes = self
            .try_transmit(&cmd.to_bytes().unwrap())
            .unwrap()
            .expect("the card answered");
        Response::parse(&bytes).unwrap()
    }

    /// Asserts the card closes the connection (removal).
    pub fn expect_closed(&mut self) {
        match read_frame(&mut self.stream) {
            Ok(None) => {}
            Err(e)
                if e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::TimedOut => {
            }
            other => panic!("expected the card to close the connection, got {other:?}"),
        }
    }

    /// Sends an APDU that the card must not answer (closing instead).
    pub fn transmit_expecting_removal(&mut self, cmd: &Command) {
        self.send(&cmd.to_bytes().unwrap());
        self.expect_closed();
    }
}

/// A blank SM4 card file in `dir`.
pub fn blank_card(dir: &Path) -> PathBuf {
    let path = dir.join("card.json");
    CardMemory::blank(CARD_ID, &TRANSPORT_MASTER, CardAlgorithm::Sm4)
        .unwrap()
        .save(&path)
        .unwrap();
    path
}

pub fn config(vpcd: SocketAddr, card_file: &Path) -> SimConfig {
    SimConfig {
        vpcd,
        card_file: card_file.to_owned(),
        control: "127.0.0.1:0".parse().unwrap(),
        inserted: true,
        t0_get_response: false,
        seed: None,
    }
}

/// Starts the simulator on a card file and accepts its vpcd connection.
pub fn start_connected(vpcd: &FakeVpcd, card_file: &Path) -> (RunningCard, Peer) {
    let card = CardSimulator::start(config(vpcd.addr(), card_file)).unwrap();
    let mut peer = vpcd.accept();
    peer.power_on();
    (card, peer)
}

/// The card's transport key, as the vendor diversified it.
pub fn kt() -> [u8; 16] {
    let d: [u8; 8] = hex::decode(CARD_ID).unwrap().try_into().unwrap();
    raw::diversify(CardAlgorithm::Sm4, &TRANSPORT_MASTER, &d)
}

pub fn get_challenge(peer: &mut Peer) -> [u8; 8] {
    let r = peer.transmit(&Command::new(0, ins::GET_CHALLENGE, 0, 0).with_le(8));
    assert!(r.sw.is_ok(), "{}", r.sw);
    r.data.try_into().unwrap()
}

pub fn external_auth_kt(challenge: &[u8; 8], right: bool) -> Command {
    let mut cryptogram = raw::external_auth_cryptogram(CardAlgorithm::Sm4, &kt(), challenge);
    if !right {
        cryptogram[0] ^= 0xFF;
    }
    Command::new(
        cla::PLAIN,
        ins::EXTERNAL_AUTHENTICATE,
        0,
        CardKey::Transport.id(),
    )
    .with_data(cryptogram)
}

/// Appends the command MAC under KT for `challenge`.
pub fn mac_kt(challenge: &[u8; 8], mut cmd: Command) -> Command {
    let input = sm::command_mac_input(&cmd, 4);
    let mac = raw::command_mac(CardAlgorithm::Sm4, &kt(), challenge, &input);
    cmd.data.extend_from_slice(&mac);
    cmd
}

pub fn select_mf() -> Command {
    Command::new(cla::PLAIN, ins::SELECT, 0, 0).with_data([0x3F, 0x00])
}

pub fn get_data(p2: u8) -> Command {
    Command::new(cla::PROPRIETARY, ins::GET_DATA, 0xDF, p2).with_le(256)
}

/// KT's tries left, as the card's memory says.
pub fn kt_tries(card: &RunningCard) -> u8 {
    card.status().tries_left(key_id::TRANSPORT).unwrap()
}
