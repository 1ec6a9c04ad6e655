//! [`SerialIdReader`]: the frames of `cardhub_protocols::id_reader` over a
//! byte [`Transport`] (a serial line in service, anything in tests), one
//! command and one answer at a time, each command with its own timeout
//! ([`Timeouts`]).
//!
//! Bytes before an answer's preamble are skipped (noise on the line); a
//! corrupted answer, or none in time, is an error, and the driver reopens
//! the line before the next command so that a late answer is never read
//! as the next command's.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cardhub_protocols::id_reader::{
    Command, FrameDecoder, FrameError, IdCard, NaiveDate, ReadAnswer, ReadMode, Response,
};
use serde::Deserialize;

use super::{CardRead, IdCardReader, IdReaderError};
use crate::printer::{SerialTransport, Transport};

/// The baud rate when the configuration does not give one: what GA 467
/// readers' serial ports default to.
pub const DEFAULT_BAUD: u32 = 115_200;

/// The read buffer: the largest answer is 2,321 bytes.
const READ_CHUNK: usize = 4096;

/// How long each command may take, in milliseconds. A reader answers find
/// and select in tens of milliseconds; a read moves 1.3 kB from the card
/// over the air and through the SAM, about a second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Sending a command: the longest wait for the line to take it.
    pub send_ms: u64,
    /// Find card.
    pub find_ms: u64,
    /// Select card.
    pub select_ms: u64,
    /// Read (text and photo, or with fingerprints).
    pub read_ms: u64,
    /// SAM status.
    pub sam_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            send_ms: 1_000,
            find_ms: 1_000,
            select_ms: 1_000,
            read_ms: 5_000,
            sam_ms: 2_000,
        }
    }
}

impl Timeouts {
    /// Every timeout set to `ms` (tests that want short waits).
    pub fn all(ms: u64) -> Self {
        Self {
            send_ms: ms,
            find_ms: ms,
            select_ms: ms,
            read_ms: ms,
            sam_ms: ms,
        }
    }

    /// How long the answer to `command` may take.
    pub fn for_command(&self, command: Command) -> Duration {
        Duration::from_millis(match command {
            Command::FindCard => self.find_ms,
            Command::SelectCard => self.select_ms,
            Command::Read(_) => self.read_ms,
            Command::SamStatus => self.sam_ms,
        })
    }
}

/// An ID card reader in the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdReaderConfig {
    /// The serial device: `/dev/ttyUSB0`, or a simulator's pty slave.
    pub device: PathBuf,
    /// Baud rate; 115200 when not given.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Per-command timeouts.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Also read the fingerprint templates (command `30 10`); only where
    /// the centre compares fingerprints. Off by default.
    #[serde(default)]
    pub fingerprints: bool,
}

fn default_baud() -> u32 {
    DEFAULT_BAUD
}

impl IdReaderConfig {
    /// A reader on `device` with the defaults.
    pub fn new(device: impl Into<PathBuf>) -> Self {
        Self {
            device: device.into(),
            baud: DEFAULT_BAUD,
            timeouts: Timeouts::default(),
            fingerprints: false,
        }
    }
}

/// Opens the reader's serial line.
pub fn open(
    name: &str,
    config: &IdReaderConfig,
) -> Result<SerialIdReader<SerialTransport>, IdReaderError> {
    let transport = SerialTransport::open(&config.device, config.baud).map_err(|e| {
        IdReaderError::Disconnected {
            reader: name.to_owned(),
            command: "open",
            reason: format!("{} at {} baud ({e})", config.device.display(), config.baud),
        }
    })?;
    let mode = if config.fingerprints {
        ReadMode::WithFingerprints
    } else {
        ReadMode::TextAndPhoto
    };
    Ok(SerialIdReader::new(name, transport, config.timeouts, mode))
}

/// An ID card reader driven over a transport.
pub struct SerialIdReader<T: Transport> {
    name: String,
    transport: T,
    link_up: bool,
    decoder: FrameDecoder,
    timeouts: Timeouts,
    mode: ReadMode,
    chunk: Box<[u8; READ_CHUNK]>,
}

impl<T: Transport> std::fmt::Debug for SerialIdReader<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialIdReader")
            .field("name", &self.name)
            .field("peer", &self.transport.peer())
            .field("link_up", &self.link_up)
            .field("mode", &self.mode)
            .finish()
    }
}

impl<T: Transport> SerialIdReader<T> {
    /// A driver over an open transport, reading with `mode`.
    pub fn new(name: &str, transport: T, timeouts: Timeouts, mode: ReadMode) -> Self {
        Self {
            name: name.to_owned(),
            transport,
            link_up: true,
            decoder: FrameDecoder::new(),
            timeouts,
            mode,
            chunk: Box::new([0; READ_CHUNK]),
        }
    }

    /// The transport (tests, diagnostics).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Sends `command` and returns its answer if it is the command's
    /// success status.
    fn expect_success(&mut self, command: Command) -> Result<Response, IdReaderError> {
        let response = self.exchange(command)?;
        if response.status() == command.success() {
            Ok(response)
        } else {
            Err(IdReaderError::from_status(
                &self.name,
                command.name(),
                response.status(),
            ))
        }
    }

    /// One command, one answer; on any link problem the line is reopened
    /// before the next command.
    fn exchange(&mut self, command: Command) -> Result<Response, IdReaderError> {
        if !self.link_up {
            self.transport
                .reconnect()
                .map_err(|e| self.disconnected(command, &e))?;
            self.link_up = true;
        }
        self.decoder.clear();
        let result = self.send_and_wait(command);
        if matches!(&result, Err(e) if e.is_link_problem()) {
            self.link_up = false;
        }
        result
    }

    fn send_and_wait(&mut self, command: Command) -> Result<Response, IdReaderError> {
        let name = command.name();
        let send_timeout = Duration::from_millis(self.timeouts.send_ms);
        self.transport
            .send(&command.to_bytes(), send_timeout)
            .map_err(|e| self.disconnected(command, &e))?;
        let timeout = self.timeouts.for_command(command);
        let deadline = Instant::now() + timeout;
        let mut noise = 0;
        loop {
            match self.decoder.decode() {
                Some(Ok(frame)) => {
                    return Response::from_frame(&frame).map_err(|source| IdReaderError::Garbled {
                        reader: self.name.clone(),
                        command: name,
                        source,
                    });
                }
                Some(Err(FrameError::Garbage { len, preview })) => {
                    tracing::debug!(reader = %self.name, command = name, len, %preview, "skipped noise before the answer");
                    noise += len;
                    continue;
                }
                Some(Err(source)) => {
                    return Err(IdReaderError::Garbled {
                        reader: self.name.clone(),
                        command: name,
                        source,
                    });
                }
                None => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(IdReaderError::NoReply {
                    reader: self.name.clone(),
                    command: name,
                    waited: timeout,
                    received: noise + self.decoder.garbage_pending() + self.decoder.buffered(),
                });
            }
            match self.transport.receive(&mut self.chunk[..], left) {
                Ok(0) => {
                    let closed =
                        io::Error::new(io::ErrorKind::ConnectionAborted, "the line was closed");
                    return Err(self.disconnected(command, &closed));
                }
                Ok(n) => self.decoder.push(&self.chunk[..n]),
                Err(e) if is_wait(&e) => {}
                Err(e) => return Err(self.disconnected(command, &e)),
            }
        }
    }

    fn disconnected(&self, command: Command, e: &io::Error) -> IdReaderError {
        IdReaderError::Disconnected {
            reader: self.name.clone(),
            command: command.name(),
            reason: format!("{} ({e})", self.transport.peer()),
        }
    }
}

/// A receive that timed out or was interrupted: keep waiting.
fn is_wait(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

impl<T: Transport> IdCardReader for SerialIdReader<T> {
    fn name(&self) -> &str {
        &self.name
    }

    fn find_card(&mut self) -> Result<(), IdReaderError> {
        self.expect_success(Command::FindCard).map(drop)
    }

    fn select_card(&mut self) -> Result<(), IdReaderError> {
        self.expect_success(Command::SelectCard).map(drop)
    }

    fn read_card(&mut self, today: NaiveDate) -> Result<CardRead, IdReaderError> {
        let command = Command::Read(self.mode);
        let response = self.expect_success(command)?;
        let answer = ReadAnswer::parse(response.data(), self.mode).map_err(|e| {
            IdReaderError::Unexpected {
                reader: self.name.clone(),
                command: command.name(),
                reason: e.to_string(),
            }
        })?;
        let card = IdCard::decode(&answer.text[..]).map_err(|source| IdReaderError::Text {
            reader: self.name.clone(),
            source,
        })?;
        let number = card.check_number(today);
        // The holder's data stays out of the log: the kind and the
        // verdict are enough to follow a counter's day.
        tracing::info!(
            reader = %self.name,
            kind = %card.kind(),
            number_ok = number.is_ok(),
            "card read"
        );
        Ok(CardRead {
            card,
            number,
            photo: answer.photo,
            fingerprints: answer.fingerprints,
        })
    }

    fn sam_status(&mut self) -> Result<(), IdReaderError> {
        self.expect_success(Command::SamStatus).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use cardhub_protocols::id_reader::{Status, ValidUntil, WltPhoto};
    use cardhub_protocols::identity::Sex;

    use super::*;

    /// A line whose far end answers each request with the next script
    /// entry, delivered in the given pieces.
    #[derive(Default)]
    struct Scripted {
        answers: VecDeque<Vec<Vec<u8>>>,
        pending: VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
        reconnects: usize,
    }

    impl Scripted {
        fn answering(answers: Vec<Vec<Vec<u8>>>) -> Self {
            Self {
                answers: answers.into(),
                ..Self::default()
            }
        }
    }

    impl Transport for Scripted {
        fn send(&mut self, bytes: &[u8], _timeout: Duration) -> io::Result<()> {
            self.sent.push(bytes.to_vec());
            self.pending = self.answers.pop_front().unwrap_or_default().into();
            Ok(())
        }

        fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
            let Some(piece) = self.pending.pop_front() else {
                std::thread::sleep(timeout.min(Duration::from_millis(2)));
                return Err(io::ErrorKind::TimedOut.into());
            };
            buf[..piece.len()].copy_from_slice(&piece);
            Ok(piece.len())
        }

        fn reconnect(&mut self) -> io::Result<()> {
            self.reconnects += 1;
            self.pending.clear();
            Ok(())
        }

        fn peer(&self) -> String {
            "scripted".into()
        }
    }

    fn reader(answers: Vec<Vec<Vec<u8>>>) -> SerialIdReader<Scripted> {
        SerialIdReader::new(
            "R1",
            Scripted::answering(answers),
            Timeouts::all(30),
            ReadMode::TextAndPhoto,
        )
    }

    fn status(status: Status) -> Vec<u8> {
        Response::status_only(status).to_bytes()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn read_answer(number: &str) -> Vec<u8> {
        let card = IdCard::Resident {
            name: "李华".into(),
            sex: Sex::Female,
            ethnicity: 1,
            birth_date: day(1949, 12, 31),
            address: "北京市西城区复兴门外大街1号".into(),
            number: number.into(),
            authority: "北京市西城区公安分局".into(),
            valid_from: day(2015, 3, 1),
            valid_to: ValidUntil::LongTerm,
        };
        let answer = ReadAnswer {
            text: Box::new(card.encode().unwrap()),
            photo: WltPhoto::from_bytes(&[0x57; 1024]).unwrap(),
            fingerprints: None,
        };
        Response::new(Status::Ok, answer.to_data(ReadMode::TextAndPhoto))
            .unwrap()
            .to_bytes()
    }

    #[test]
    fn commands_go_out_as_the_reference_frames_and_statuses_map() {
        let mut r = reader(vec![
            vec![status(Status::FindSucceeded)],
            vec![status(Status::FindFailed)],
            vec![status(Status::SamSelfTestFailed)],
        ]);
        r.find_card().unwrap();
        assert!(matches!(r.find_card(), Err(IdReaderError::NoCard { .. })));
        assert!(matches!(
            r.sam_status(),
            Err(IdReaderError::Refused {
                status: Status::SamSelfTestFailed,
                ..
            })
        ));
        assert_eq!(r.transport().sent[0], Command::FindCard.to_bytes());
        assert_eq!(r.transport().sent[2], Command::SamStatus.to_bytes());
        assert_eq!(r.transport().reconnects, 0);
    }

    #[test]
    fn an_answer_split_anywhere_after_noise_is_read() {
        let mut bytes = b"\x00\xff\x13".to_vec();
        bytes.extend(read_answer("11010519491231002X"));
        let pieces: Vec<Vec<u8>> = bytes.chunks(97).map(<[u8]>::to_vec).collect();
        let mut r = reader(vec![pieces]);
        let read = r.read_card(day(2025, 6, 1)).unwrap();
        assert_eq!(read.card.name(), "李华");
        assert!(read.number.is_ok());
        assert_eq!(read.photo.as_bytes()[0], 0x57);
    }

    #[test]
    fn a_failing_number_comes_back_flagged_beside_the_card() {
        let mut r = reader(vec![vec![read_answer("110105194912310021")]]);
        let read = r.read_card(day(2025, 6, 1)).unwrap();
        assert_eq!(read.card.number(), "110105194912310021");
        assert!(read.number.is_err());
    }

    #[test]
    fn a_corrupted_answer_is_garbled_and_the_line_is_reopened() {
        let mut bad = status(Status::FindSucceeded);
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        let mut r = reader(vec![vec![bad], vec![status(Status::FindSucceeded)]]);
        let error = r.find_card().unwrap_err();
        assert!(matches!(
            error,
            IdReaderError::Garbled {
                source: FrameError::BadChecksum { .. },
                ..
            }
        ));
        r.find_card().unwrap();
        assert_eq!(r.transport().reconnects, 1);
    }

    #[test]
    fn silence_and_noise_are_no_reply_with_what_arrived() {
        let mut r = reader(vec![vec![], vec![b"\x01\x02\x03\x04".to_vec()]]);
        assert!(matches!(
            r.find_card(),
            Err(IdReaderError::NoReply { received: 0, .. })
        ));
        assert!(matches!(
            r.find_card(),
            Err(IdReaderError::NoReply { received: 4, .. })
        ));
    }

    #[test]
    fn the_configuration_reads_from_toml_and_refuses_unknown_keys() {
        let config: IdReaderConfig =
            toml::from_str("device = \"/dev/ttyUSB0\"\n[timeouts]\nread_ms = 8000\n").unwrap();
        assert_eq!(config.baud, DEFAULT_BAUD);
        assert_eq!(config.timeouts.read_ms, 8000);
        assert_eq!(config.timeouts.find_ms, Timeouts::default().find_ms);
        assert!(!config.fingerprints);
        assert!(toml::from_str::<IdReaderConfig>("device = \"/x\"\nbaud_rate = 9600\n").is_err());
    }
}
