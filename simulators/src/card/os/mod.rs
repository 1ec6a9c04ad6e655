//! The card operating system (芯片操作系统, COS) as a pure state machine:
//! [`CardOs::process`] takes a command APDU's bytes and returns the response
//! APDU's bytes (data ‖ SW1 SW2). No I/O, no clock; randomness (challenges)
//! comes from a seedable generator so tests are reproducible.
//!
//! It implements every command of docs/chip-profile.md with the status
//! words listed there, over a [`CardMemory`] (persistent) and a session
//! (volatile: selected DF and EF, the last challenge, the security status,
//! response data waiting for GET RESPONSE). The byte constants, APDU
//! parsing, TLV and MAC computations come from `cardhub_protocols`.
//!
//! # Layout
//! - this file: dispatch, the challenge rule (a challenge is consumed by
//!   whatever command follows it, except GET RESPONSE which only fetches
//!   the previous answer), Le handling (`6Cxx`), GET RESPONSE (`61xx`).
//! - `files`: SELECT, READ RECORD, UPDATE RECORD, CREATE FILE.
//! - `security`: GET CHALLENGE, EXTERNAL/INTERNAL AUTHENTICATE and the
//!   command-MAC check shared by every MAC-protected command.
//! - `pin`: VERIFY, CHANGE PIN, RESET PIN, UNBLOCK PIN.
//! - `admin`: GET DATA, WRITE KEY, SET STATUS.
//!
//! The transport around it (vpcd, persistence, faults) is in
//! [`super::simulator`].

mod admin;
mod files;
mod pin;
mod security;
#[cfg(test)]
mod tests;

use cardhub_protocols::apdu::{Command, Response, StatusWord};
use cardhub_protocols::chip::profile::{LifeCycle, cla, ins};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::memory::{CardMemory, DfPath};

/// The most data one short response carries (Le = 00 asks for up to 256).
const SHORT_WINDOW: usize = 256;

/// What a command handler returns: the response data, or the status word
/// of its refusal.
type Outcome = Result<Vec<u8>, StatusWord>;

/// Behaviour switches of the card that are not part of its memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OsConfig {
    /// Answer every response that carries data with `61xx` and hand the
    /// data out through GET RESPONSE (`00 C0 00 00 xx`), as a T=0 card
    /// does for case-4 commands.
    pub t0_get_response: bool,
}

/// The volatile state: lost on reset, power-off and removal.
#[derive(Clone, Debug, Default)]
struct Session {
    /// The current DF (empty: the MF).
    df: DfPath,
    /// The current EF within it, by file id.
    ef: Option<u16>,
    /// The last GET CHALLENGE answer, until the next command consumes it.
    challenge: Option<[u8; 8]>,
    /// Keys and PINs successfully presented: (DF holding it, key id).
    verified: Vec<(DfPath, u8)>,
    /// Response data not yet fetched by GET RESPONSE.
    pending: Vec<u8>,
}

/// The card operating system over one card's memory.
#[derive(Debug)]
pub struct CardOs {
    memory: CardMemory,
    revision: u64,
    session: Session,
    config: OsConfig,
    rng: StdRng,
}

impl CardOs {
    /// A powered card over `memory`, with fresh challenges from the
    /// operating system's generator.
    pub fn new(memory: CardMemory, config: OsConfig) -> Self {
        Self::with_rng(memory, config, rand::make_rng())
    }

    /// A card whose challenges come from a seeded generator (tests).
    pub fn with_seed(memory: CardMemory, config: OsConfig, seed: u64) -> Self {
        Self::with_rng(memory, config, StdRng::seed_from_u64(seed))
    }

    fn with_rng(memory: CardMemory, config: OsConfig, rng: StdRng) -> Self {
        Self {
            memory,
            revision: 0,
            session: Session::default(),
            config,
            rng,
        }
    }

    /// Processes one command APDU and returns the response APDU
    /// (data ‖ SW1 SW2). Never fails: every problem is a status word.
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let response = match Command::parse(apdu) {
            Ok(cmd) if cmd.cla == cla::PLAIN && cmd.ins == ins::GET_RESPONSE => {
                self.get_response(&cmd)
            }
            Ok(cmd) => {
                self.session.pending.clear();
                let challenge = self.session.challenge.take();
                match self.dispatch(&cmd, challenge) {
                    Ok(data) => self.deliver(data, cmd.le),
                    Err(sw) => Response::status(sw),
                }
            }
            Err(_) => {
                self.session.pending.clear();
                self.session.challenge = None;
                Response::status(StatusWord::WRONG_LENGTH)
            }
        };
        response.to_bytes()
    }

    /// Forgets the volatile state, as a reset or power cycle does: the MF is
    /// selected, no challenge, no security status, no pending response.
    pub fn reset(&mut self) {
        self.session = Session::default();
    }

    /// The card's memory.
    pub fn memory(&self) -> &CardMemory {
        &self.memory
    }

    /// The card's memory for a direct edit (a fault injected by a test);
    /// counts as a change for [`CardOs::revision`].
    pub fn memory_mut(&mut self) -> &mut CardMemory {
        self.changed();
        &mut self.memory
    }

    /// A counter that grows whenever the memory changes: the simulator saves
    /// the card file when it differs from the revision last saved.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The ATR the card answers to reset.
    pub fn atr(&self) -> &[u8] {
        &self.memory.atr
    }

    /// The behaviour switches.
    pub fn config(&self) -> OsConfig {
        self.config
    }

    /// Changes the behaviour switches (takes effect with the next command).
    pub fn set_config(&mut self, config: OsConfig) {
        self.config = config;
    }

    fn changed(&mut self) {
        self.revision += 1;
    }

    fn dispatch(&mut self, cmd: &Command, challenge: Option<[u8; 8]>) -> Outcome {
        if !matches!(
            cmd.cla,
            cla::PLAIN | cla::SM | cla::PROPRIETARY | cla::PROPRIETARY_SM
        ) {
            return Err(StatusWord::CLA_NOT_SUPPORTED);
        }
        match cmd.ins {
            ins::SELECT => return self.select(cmd),
            ins::GET_DATA => return self.get_data(cmd),
            _ => {}
        }
        if !is_known(cmd.ins) {
            return Err(StatusWord::INS_NOT_SUPPORTED);
        }
        if self.memory.life_cycle == LifeCycle::CardLocked {
            return Err(StatusWord::FUNCTION_NOT_SUPPORTED);
        }
        match cmd.ins {
            ins::READ_RECORD => self.read_record(cmd),
            ins::UPDATE_RECORD => self.update_record(cmd, challenge),
            ins::CREATE_FILE => self.create_file(cmd, challenge),
            ins::GET_CHALLENGE => self.get_challenge(cmd),
            ins::EXTERNAL_AUTHENTICATE => self.external_authenticate(cmd, challenge),
            ins::INTERNAL_AUTHENTICATE => self.internal_authenticate(cmd),
            ins::VERIFY => self.verify(cmd),
            ins::CHANGE_OR_RESET_PIN => self.change_or_reset_pin(cmd, challenge),
            ins::UNBLOCK_PIN => self.unblock_pin(cmd, challenge),
            ins::WRITE_KEY => self.write_key(cmd, challenge),
            ins::SET_STATUS => self.set_status(cmd, challenge),
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        }
    }

    /// Turns a handler's data into the response: `6Cxx` when a non-zero Le
    /// does not match, `61xx` when the data is held for GET RESPONSE (T=0
    /// mode, or more than one short window), else data ‖ 9000.
    fn deliver(&mut self, data: Vec<u8>, le: Option<usize>) -> Response {
        if data.is_empty() {
            return Response::status(StatusWord::OK);
        }
        if let Some(le) = le
            && le != SHORT_WINDOW
            && le != data.len()
            && data.len() <= SHORT_WINDOW
        {
            return Response::status(StatusWord::wrong_le(data.len() as u8));
        }
        if self.config.t0_get_response || data.len() > SHORT_WINDOW {
            self.session.pending = data;
            return self.hand_out(0);
        }
        Response::ok(data)
    }

    /// GET RESPONSE `00 C0 00 00 Le`: the next `Le` bytes of the pending
    /// data (Le 00: up to 256), `61xx` while more remains. It does not
    /// consume the challenge: on a T=0 card GET CHALLENGE's answer itself
    /// arrives through GET RESPONSE.
    fn get_response(&mut self, cmd: &Command) -> Response {
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Response::status(StatusWord::INCORRECT_P1P2);
        }
        if self.session.pending.is_empty() {
            return Response::status(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        let available = self.session.pending.len().min(SHORT_WINDOW);
        match cmd.le {
            None | Some(SHORT_WINDOW) => self.hand_out(available),
            Some(le) if le <= available => self.hand_out(le),
            Some(_) => Response::status(StatusWord::wrong_le(available as u8)),
        }
    }

    /// Hands out `n` pending bytes (0: none, just announce) and announces
    /// what remains with `61xx`.
    fn hand_out(&mut self, n: usize) -> Response {
        let data: Vec<u8> = self.session.pending.drain(..n).collect();
        match self.session.pending.len() {
            0 => Response::ok(data),
            // 61 00 announces 256 or more.
            left => Response::new(data, StatusWord::more_data(left.min(SHORT_WINDOW) as u8)),
        }
    }

    /// Selecting `path` as the current DF: the security status of DFs no
    /// longer on the path is lost (the MF's stays while inside the SSSE).
    fn enter_df(&mut self, path: DfPath) {
        self.session.verified.retain(|(df, _)| path.starts_with(df));
        self.session.df = path;
        self.session.ef = None;
    }

    /// Whether the key or PIN `id` held in the DF at `at` has been presented
    /// in this session.
    fn is_verified(&self, at: &[u16], id: u8) -> bool {
        self.session
            .verified
            .iter()
            .any(|(df, k)| df.as_slice() == at && *k == id)
    }

    fn mark_verified(&mut self, at: DfPath, id: u8) {
        if !self.is_verified(&at, id) {
            self.session.verified.push((at, id));
        }
    }
}

/// Whether the instruction is one this card implements.
fn is_known(ins: u8) -> bool {
    matches!(
        ins,
        ins::READ_RECORD
            | ins::UPDATE_RECORD
            | ins::CREATE_FILE
            | ins::GET_CHALLENGE
            | ins::EXTERNAL_AUTHENTICATE
            | ins::INTERNAL_AUTHENTICATE
            | ins::VERIFY
            | ins::CHANGE_OR_RESET_PIN
            | ins::UNBLOCK_PIN
            | ins::WRITE_KEY
            | ins::SET_STATUS
    )
}

/// Refuses a command sent with another class than `expected`: a plain
/// class where a MAC-protected one is needed lacks the MAC (6982); any
/// other class is unsupported (6E00).
fn expect_cla(cmd: &Command, expected: u8) -> Result<(), StatusWord> {
    if cmd.cla == expected {
        Ok(())
    } else if expected & 0x04 != 0 && cmd.cla == expected & !0x04 {
        Err(StatusWord::SECURITY_NOT_SATISFIED)
    } else {
        Err(StatusWord::CLA_NOT_SUPPORTED)
    }
}
