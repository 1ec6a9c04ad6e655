//! The control channel: how a test (or an operator) drives the simulated
//! card from outside, over a tiny line-based JSON protocol on a TCP
//! listener (normally 127.0.0.1, port 0 for any free one).
//!
//! One request per line, one reply line per request:
//!
//! ```text
//! → {"cmd":"remove_after","apdus":3,"apply_last":false}
//! ← {"ok":true}
//! → {"cmd":"state"}
//! ← {"ok":true,"state":{"inserted":true,"connected":true,"apdu_count":12,...}}
//! → {"cmd":"slow"}
//! ← {"ok":false,"error":"malformed request: missing field `ms` ..."}
//! ```
//!
//! Requests ([`ControlRequest`]): `remove`, `insert`, `remove_after`
//! (`apdus`, `apply_last`), `corrupt_next`, `slow` (`ms`), `clear_faults`,
//! `tamper_record` (`sfi`, `tag`, `value_hex`), `t0_get_response` (`on`),
//! `state`, `wait_connected` (`connected`, `timeout_ms`), `shutdown`. A
//! malformed line gets an error reply; the connection stays open.
//!
//! # Layout
//! - this file: the request, reply and state types (the wire format).
//! - `server`: the listener inside the simulator.
//! - `client`: [`CardControl`], typed methods for tests and other
//!   processes.

mod client;
pub(crate) mod server;

use cardhub_protocols::chip::profile::{LifeCycle, key_usage};
use cardhub_protocols::chip::sm::CardAlgorithm;
use serde::{Deserialize, Serialize};

pub use client::{CardControl, ControlError};
pub(crate) use server::{serve, wake};

use super::faults::Faults;
use super::memory::DedicatedFile;
use super::simulator::Slot;

/// The longest slow-card delay accepted, in milliseconds: a minute is
/// longer than any reader timeout worth testing.
pub const MAX_SLOW_MS: u64 = 60_000;

/// One control request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum ControlRequest {
    /// Pull the card out of the reader now.
    Remove,
    /// Put the card (back) into the reader.
    Insert,
    /// Pull the card out during the `apdus`-th APDU from now.
    RemoveAfter {
        /// How many more APDUs the card receives (the last is not answered).
        apdus: u32,
        /// Whether that last APDU takes effect before removal.
        #[serde(default)]
        apply_last: bool,
    },
    /// Flip a bit in the data of the next answer that carries data.
    CorruptNext,
    /// Delay every answer by `ms` milliseconds (0: normal speed).
    Slow {
        /// The delay per APDU, at most [`MAX_SLOW_MS`].
        ms: u64,
    },
    /// Disarm every fault (pending removal, corruption, slowness).
    ClearFaults,
    /// Overwrite a record directly, bypassing the card's security (to stage
    /// a card whose content differs from the database).
    TamperRecord {
        /// SFI of the EF (5 or 6).
        sfi: u8,
        /// Record tag.
        tag: u8,
        /// The new value in hex; shorter values are padded with 00.
        value_hex: String,
    },
    /// Switch T=0 style answers (`61xx` then GET RESPONSE) on or off.
    T0GetResponse {
        /// On or off.
        on: bool,
    },
    /// Report the card's state.
    State,
    /// Wait until the card is (or is not) connected to vpcd, then report
    /// its state; an error after `timeout_ms`.
    WaitConnected {
        /// The connection state to wait for.
        connected: bool,
        /// How long to wait at most.
        timeout_ms: u64,
    },
    /// Stop the simulator (its process exits when run from the CLI).
    Shutdown,
}

/// One reply line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlReply {
    /// Whether the request was carried out.
    pub ok: bool,
    /// Why not, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The card's state, for `state` and `wait_connected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<CardStatus>,
}

impl ControlReply {
    /// Success without a state.
    pub fn ok() -> Self {
        Self {
            ok: true,
            error: None,
            state: None,
        }
    }

    /// Success with the card's state.
    pub fn with_state(state: CardStatus) -> Self {
        Self {
            state: Some(state),
            ..Self::ok()
        }
    }

    /// A refusal.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(message.into()),
            state: None,
        }
    }
}

/// What the card looks like from outside: slot, memory and faults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardStatus {
    /// Whether the card is in the reader.
    pub inserted: bool,
    /// Whether it is connected to vpcd right now.
    pub connected: bool,
    /// APDUs received since the simulator started.
    pub apdu_count: u64,
    /// The card identification code.
    pub card_id_code: String,
    /// Life-cycle state, GlobalPlatform byte in hex ("01", "07", "0F", "7F").
    pub life_cycle: String,
    /// Every record of every EF.
    pub records: Vec<RecordStatus>,
    /// Every key and PIN with its error counter (not its value).
    pub keys: Vec<KeyStatus>,
    /// The armed faults.
    pub faults: Faults,
    /// Whether T=0 style answers are on.
    pub t0_get_response: bool,
}

/// One record in [`CardStatus`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordStatus {
    /// Path of the DF holding the EF ("3F00/0001").
    pub df: String,
    /// SFI of the EF.
    pub sfi: u8,
    /// Record tag.
    pub tag: u8,
    /// Value in hex.
    pub value_hex: String,
}

/// One key or PIN in [`CardStatus`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyStatus {
    /// Path of the DF holding it ("3F00" for KT).
    pub df: String,
    /// Key id.
    pub id: u8,
    /// Usage byte.
    pub usage: u8,
    /// Algorithm.
    pub algorithm: CardAlgorithm,
    /// Error-counter limit.
    pub max_tries: u8,
    /// Tries left (0: blocked).
    pub tries_left: u8,
}

impl CardStatus {
    /// A snapshot of the card in its slot.
    pub(crate) fn of(slot: &Slot) -> Self {
        let memory = slot.os.memory();
        let mut records = Vec::new();
        let mut keys = Vec::new();
        collect(&memory.mf, "3F00", &mut records, &mut keys);
        Self {
            inserted: slot.inserted,
            connected: slot.connected,
            apdu_count: slot.apdu_count,
            card_id_code: memory.card_id_code.clone(),
            life_cycle: format!("{:02X}", memory.life_cycle.to_byte()),
            records,
            keys,
            faults: slot.faults.clone(),
            t0_get_response: slot.os.config().t0_get_response,
        }
    }

    /// The life-cycle state (`None` for a value outside the profile).
    pub fn life_cycle(&self) -> Option<LifeCycle> {
        let byte = u8::from_str_radix(&self.life_cycle, 16).ok()?;
        LifeCycle::from_byte(byte)
    }

    /// The value of the record `tag` in the EF with SFI `sfi`.
    pub fn record(&self, sfi: u8, tag: u8) -> Option<Vec<u8>> {
        self.records
            .iter()
            .find(|r| r.sfi == sfi && r.tag == tag)
            .and_then(|r| hex::decode(&r.value_hex).ok())
    }

    /// Tries left of the key (or PIN) `id`, searched in every DF.
    pub fn tries_left(&self, id: u8) -> Option<u8> {
        self.keys.iter().find(|k| k.id == id).map(|k| k.tries_left)
    }

    /// Tries left of the holder PIN, if one is written.
    pub fn pin_tries_left(&self) -> Option<u8> {
        self.keys
            .iter()
            .find(|k| k.usage == key_usage::PIN)
            .map(|k| k.tries_left)
    }
}

fn collect(
    df: &DedicatedFile,
    path: &str,
    records: &mut Vec<RecordStatus>,
    keys: &mut Vec<KeyStatus>,
) {
    for key in &df.keys {
        keys.push(KeyStatus {
            df: path.to_owned(),
            id: key.id,
            usage: key.usage,
            algorithm: key.algorithm,
            max_tries: key.max_tries,
            tries_left: key.tries_left,
        });
    }
    for ef in &df.efs {
        for record in &ef.records {
            records.push(RecordStatus {
                df: path.to_owned(),
                sfi: ef.sfi,
                tag: record.tag,
                value_hex: hex::encode_upper(&record.value),
            });
        }
    }
    for child in &df.dfs {
        collect(child, &format!("{path}/{:04X}", child.fid), records, keys);
    }
}
