//! The simulated reader as a pure state machine: a decoded request (or
//! the reason it did not decode) in, the answer's bytes out, with the
//! card on the reader and the faults armed. No I/O, no clock; the pty
//! serving is [`super::simulator`].
//!
//! | request | answer |
//! | --- | --- |
//! | find card | 9F with a card on the reader (it is then found), 80 without |
//! | select card | 90 when the card was found (it is then selected), 81 otherwise |
//! | read (30 01 / 30 10) | 90 + text, photo (and fingerprints for 30 10) when selected, 41 otherwise |
//! | SAM status | 90, or 60 when the SAM is set to fail |
//! | a frame with a bad checksum | 10 |
//! | a frame with an impossible length | 11 |
//! | an unknown command | 21 |
//! | bytes that are not a frame | nothing |
//!
//! A card stays selected after a read (reading again works); placing or
//! removing a card starts over from find card.

use cardhub_protocols::id_reader::{
    CardKind, Command, FrameError, ReadAnswer, ReadMode, Response, Status,
};

use super::card::SimCard;

/// A fault armed for the next command (each fires once).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The next answer goes out with one byte flipped: its checksum no
    /// longer matches.
    GarbleNextAnswer,
    /// These bytes go out before the next answer (itself intact): the
    /// host has to resynchronise on the preamble.
    NoiseBeforeNextAnswer(Vec<u8>),
    /// The next command gets no answer at all.
    DropNextAnswer,
    /// The next command is answered with SW3 10, as though its frame had
    /// arrived corrupted.
    ChecksumErrorOnNextCommand,
    /// The card is lifted while the next read runs: the read answers 41
    /// and the reader is left empty.
    RemoveCardDuringNextRead,
}

/// How far the card on the reader is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CardState {
    /// No card.
    Absent,
    /// A card lies there, not found yet.
    Present,
    /// Found (find card answered 9F).
    Found,
    /// Selected: ready to read.
    Selected,
}

/// The faults armed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Faults {
    garble: bool,
    noise: Vec<u8>,
    drop: bool,
    checksum_error: bool,
    remove_during_read: bool,
}

/// The simulated reader's state.
#[derive(Clone, Debug)]
pub struct ReaderMachine {
    card: Option<SimCard>,
    state: CardState,
    sam_ok: bool,
    faults: Faults,
}

impl ReaderMachine {
    /// A reader holding `card` (or none), its SAM healthy.
    pub fn new(card: Option<SimCard>) -> Self {
        let state = if card.is_some() {
            CardState::Present
        } else {
            CardState::Absent
        };
        Self {
            card,
            state,
            sam_ok: true,
            faults: Faults::default(),
        }
    }

    /// Puts `card` on the reader (replacing any).
    pub fn place(&mut self, card: SimCard) {
        self.card = Some(card);
        self.state = CardState::Present;
    }

    /// Lifts the card off the reader.
    pub fn remove(&mut self) {
        self.card = None;
        self.state = CardState::Absent;
    }

    /// Sets whether the SAM passes its self-test.
    pub fn set_sam_ok(&mut self, ok: bool) {
        self.sam_ok = ok;
    }

    /// Arms a fault for the next command.
    pub fn arm(&mut self, fault: Fault) {
        match fault {
            Fault::GarbleNextAnswer => self.faults.garble = true,
            Fault::NoiseBeforeNextAnswer(bytes) => self.faults.noise = bytes,
            Fault::DropNextAnswer => self.faults.drop = true,
            Fault::ChecksumErrorOnNextCommand => self.faults.checksum_error = true,
            Fault::RemoveCardDuringNextRead => self.faults.remove_during_read = true,
        }
    }

    /// How far the card is.
    pub fn state(&self) -> CardState {
        self.state
    }

    /// Whether a card lies on the reader.
    pub fn has_card(&self) -> bool {
        self.card.is_some()
    }

    /// The kind of the card on the reader (`None`: no card, or a marker
    /// nobody knows).
    pub fn card_kind(&self) -> Option<CardKind> {
        self.card.as_ref().and_then(SimCard::kind)
    }

    /// Whether any fault is still armed.
    pub fn faults_pending(&self) -> bool {
        self.faults != Faults::default()
    }

    /// The bytes to answer a decoded request with; `None`: stay silent
    /// (noise from the host, or a dropped answer).
    pub fn answer(&mut self, request: Result<Command, FrameError>) -> Option<Vec<u8>> {
        let response = match request {
            Err(FrameError::Garbage { .. }) => return None,
            Err(FrameError::BadChecksum { .. }) => Response::status_only(Status::ChecksumError),
            Err(FrameError::BadLength { .. }) => Response::status_only(Status::LengthError),
            Err(_) => Response::status_only(Status::CommandError),
            Ok(_) if std::mem::take(&mut self.faults.checksum_error) => {
                Response::status_only(Status::ChecksumError)
            }
            Ok(command) => self.carry_out(command),
        };
        if std::mem::take(&mut self.faults.drop) {
            return None;
        }
        let mut bytes = std::mem::take(&mut self.faults.noise);
        let start = bytes.len();
        response.to_frame().encode(&mut bytes);
        if std::mem::take(&mut self.faults.garble) {
            // The first body byte (SW1): LEN stays intact, so the host
            // reads the whole frame and finds the checksum wrong.
            bytes[start + 7] ^= 0x01;
        }
        Some(bytes)
    }

    fn carry_out(&mut self, command: Command) -> Response {
        match command {
            Command::FindCard => {
                if self.card.is_none() {
                    return Response::status_only(Status::FindFailed);
                }
                if self.state == CardState::Present {
                    self.state = CardState::Found;
                }
                Response::status_only(Status::FindSucceeded)
            }
            Command::SelectCard => {
                if !matches!(self.state, CardState::Found | CardState::Selected) {
                    return Response::status_only(Status::SelectFailed);
                }
                self.state = CardState::Selected;
                Response::status_only(Status::Ok)
            }
            Command::Read(mode) => self.read(mode),
            Command::SamStatus => Response::status_only(if self.sam_ok {
                Status::Ok
            } else {
                Status::SamSelfTestFailed
            }),
        }
    }

    fn read(&mut self, mode: ReadMode) -> Response {
        if std::mem::take(&mut self.faults.remove_during_read) {
            self.remove();
            return Response::status_only(Status::ReadFailed);
        }
        let Some(card) = self
            .card
            .as_ref()
            .filter(|_| self.state == CardState::Selected)
        else {
            return Response::status_only(Status::ReadFailed);
        };
        let answer = ReadAnswer {
            text: card.text.clone(),
            photo: card.photo.clone(),
            fingerprints: card.fingerprints.clone(),
        };
        Response::new(Status::Ok, answer.to_data(mode))
            .expect("a read answer (fingerprints cut to 1024 bytes) fits a frame")
    }
}

#[cfg(test)]
mod tests {
    use cardhub_protocols::id_reader::{Frame, FrameDecoder, IdCard};

    use super::*;
    use crate::id_reader::card::sample_resident;

    fn machine() -> ReaderMachine {
        ReaderMachine::new(Some(SimCard::from_card(&sample_resident()).unwrap()))
    }

    /// The answer to `command` read back as the host reads it.
    fn ask(m: &mut ReaderMachine, command: Command) -> Result<Response, FrameError> {
        let bytes = m.answer(Ok(command)).expect("an answer");
        let mut decoder = FrameDecoder::new();
        decoder.push(&bytes);
        loop {
            match decoder.decode().expect("a whole frame") {
                Err(FrameError::Garbage { .. }) => continue,
                Err(e) => return Err(e),
                Ok(frame) => return Response::from_frame(&frame),
            }
        }
    }

    fn sw3(m: &mut ReaderMachine, command: Command) -> Status {
        ask(m, command).unwrap().status()
    }

    #[test]
    fn find_select_read_in_order() {
        let mut m = machine();
        let read = Command::Read(ReadMode::TextAndPhoto);
        assert_eq!(sw3(&mut m, Command::SelectCard), Status::SelectFailed);
        assert_eq!(sw3(&mut m, read), Status::ReadFailed);
        assert_eq!(sw3(&mut m, Command::FindCard), Status::FindSucceeded);
        assert_eq!(sw3(&mut m, Command::SelectCard), Status::Ok);
        let answer = ask(&mut m, read).unwrap();
        assert_eq!(answer.status(), Status::Ok);
        let parsed = ReadAnswer::parse(answer.data(), ReadMode::TextAndPhoto).unwrap();
        assert_eq!(IdCard::decode(&parsed.text[..]).unwrap(), sample_resident());
        assert_eq!(sw3(&mut m, read), Status::Ok, "a second read works");
        m.remove();
        assert_eq!(sw3(&mut m, Command::FindCard), Status::FindFailed);
        assert_eq!(sw3(&mut m, Command::SamStatus), Status::Ok);
        m.set_sam_ok(false);
        assert_eq!(sw3(&mut m, Command::SamStatus), Status::SamSelfTestFailed);
    }

    #[test]
    fn frames_that_fail_get_the_reference_statuses() {
        let mut m = machine();
        let bad =
            |e| Response::from_frame(&Frame::parse(&m.clone().answer(Err(e)).unwrap()).unwrap());
        let status = |e| bad(e).unwrap().status();
        assert_eq!(
            status(FrameError::BadChecksum {
                expected: 1,
                found: 2
            }),
            Status::ChecksumError
        );
        assert_eq!(
            status(FrameError::BadLength { len: 0 }),
            Status::LengthError
        );
        assert_eq!(
            status(FrameError::UnknownCommand {
                cmd: 0x20,
                para: 0x09,
                data_len: 0
            }),
            Status::CommandError
        );
        let garbage = FrameError::Garbage {
            len: 3,
            preview: String::new(),
        };
        assert_eq!(m.answer(Err(garbage)), None);
    }

    #[test]
    fn each_fault_fires_once() {
        let mut m = machine();
        m.arm(Fault::GarbleNextAnswer);
        assert!(matches!(
            ask(&mut m, Command::FindCard),
            Err(FrameError::BadChecksum { .. })
        ));
        assert_eq!(sw3(&mut m, Command::FindCard), Status::FindSucceeded);
        m.arm(Fault::DropNextAnswer);
        assert_eq!(m.answer(Ok(Command::FindCard)), None);
        m.arm(Fault::NoiseBeforeNextAnswer(vec![0x00, 0xAA, 0x13]));
        let bytes = m.answer(Ok(Command::FindCard)).unwrap();
        assert_eq!(bytes[..3], [0x00, 0xAA, 0x13]);
        assert_eq!(sw3(&mut m, Command::FindCard), Status::FindSucceeded);
        m.arm(Fault::ChecksumErrorOnNextCommand);
        assert_eq!(sw3(&mut m, Command::FindCard), Status::ChecksumError);
        assert_eq!(sw3(&mut m, Command::SelectCard), Status::Ok);
        m.arm(Fault::RemoveCardDuringNextRead);
        assert!(m.faults_pending());
        let read = Command::Read(ReadMode::TextAndPhoto);
        assert_eq!(sw3(&mut m, read), Status::ReadFailed);
        assert_eq!(m.state(), CardState::Absent);
        assert_eq!(sw3(&mut m, Command::FindCard), Status::FindFailed);
        assert!(!m.faults_pending());
    }

    #[test]
    fn fingerprints_go_out_with_30_10_only() {
        let card = SimCard::from_card(&sample_resident())
            .unwrap()
            .with_fingerprints(vec![0xF1; 1024]);
        let mut m = ReaderMachine::new(Some(card));
        assert_eq!(sw3(&mut m, Command::FindCard), Status::FindSucceeded);
        assert_eq!(sw3(&mut m, Command::SelectCard), Status::Ok);
        let with = ask(&mut m, Command::Read(ReadMode::WithFingerprints)).unwrap();
        let parsed = ReadAnswer::parse(with.data(), ReadMode::WithFingerprints).unwrap();
        assert_eq!(parsed.fingerprints.as_deref(), Some(&[0xF1; 1024][..]));
        let without = ask(&mut m, Command::Read(ReadMode::TextAndPhoto)).unwrap();
        assert!(ReadAnswer::parse(without.data(), ReadMode::TextAndPhoto).is_ok());
    }
}
