//! The card's memory (its EEPROM): files, records, keys with their
//! algorithm, usage and error counters, the holder PIN, the life-cycle state,
//! the card identification code (卡识别码) and the ATR.
//!
//! Everything a real card keeps across power cycles is here and nothing
//! else: the selected file, the last challenge and the security status are
//! volatile and live in [`super::os`]. The memory is a serde struct saved to
//! a JSON file ([`store`]) after every command that changes it, so a card
//! outlives the simulator process as a real card outlives the reader.
//!
//! The card is generic: it knows files, records and keys, not what tag 09
//! means. The shape of the social security environment arrives through
//! CREATE FILE and WRITE KEY, as on a real blank card.

mod hexfmt;
pub mod store;

use cardhub_protocols::chip::profile::{self, CardKey, LifeCycle};
use cardhub_protocols::chip::sm::{CardAlgorithm, raw};
use serde::{Deserialize, Serialize};

pub use store::MemoryError;

/// Version of the card file layout; a file of another version is refused.
pub const FORMAT_VERSION: u32 = 1;

/// The ATR of a simulated card: T=0 (no TD1), TB1 = TC1 = 00, and eight
/// historical bytes: category 00, card capabilities (compact TLV 73), status
/// 00 90 00. pcscd only needs it to be well formed.
pub const DEFAULT_ATR: [u8; 12] = [
    0x3B, 0x68, 0x00, 0x00, 0x00, 0x73, 0xC8, 0x40, 0x00, 0x00, 0x90, 0x00,
];

/// Path of a DF: the file ids below the MF (empty for the MF itself).
pub type DfPath = Vec<u16>;

/// The whole persistent state of one card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardMemory {
    /// Layout version of the file, [`FORMAT_VERSION`].
    pub format: u32,
    /// 卡识别码: the card identification code, 16 hex characters set by the
    /// chip vendor. Its 8 decoded bytes diversify the card's keys.
    pub card_id_code: String,
    /// The answer to reset pcscd reads when the card is inserted.
    #[serde(with = "hexfmt::bytes")]
    pub atr: Vec<u8>,
    /// Life-cycle state (GlobalPlatform byte in the file).
    #[serde(with = "life_cycle_byte")]
    pub life_cycle: LifeCycle,
    /// The master file and everything below it.
    pub mf: DedicatedFile,
}

/// A dedicated file (the MF or an application DF such as the SSSE).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedicatedFile {
    /// File id.
    #[serde(with = "hexfmt::fid")]
    pub fid: u16,
    /// DF name (SELECT by name), if it has one.
    #[serde(with = "hexfmt::opt_bytes", default)]
    pub name: Option<Vec<u8>>,
    /// Keys and the PIN held in this DF, by id.
    #[serde(default)]
    pub keys: Vec<StoredKey>,
    /// Record EFs directly below.
    #[serde(default)]
    pub efs: Vec<RecordFile>,
    /// DFs directly below.
    #[serde(default)]
    pub dfs: Vec<DedicatedFile>,
}

/// A record EF: fixed-length records `tag(1) len(1) value`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordFile {
    /// File id.
    #[serde(with = "hexfmt::fid")]
    pub fid: u16,
    /// Short file id (READ/UPDATE RECORD P2).
    pub sfi: u8,
    /// The records, in record-number order (record 1 first).
    pub records: Vec<Record>,
}

/// One record; its length is fixed at creation by the record template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The record's tag.
    #[serde(with = "hexfmt::byte")]
    pub tag: u8,
    /// The value; all 00 means "not written".
    #[serde(with = "hexfmt::bytes")]
    pub value: Vec<u8>,
}

/// A key (or the PIN) with its attributes and error counter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredKey {
    /// Key id within its DF.
    #[serde(with = "hexfmt::byte")]
    pub id: u8,
    /// Usage byte (`profile::key_usage`).
    #[serde(with = "hexfmt::byte")]
    pub usage: u8,
    /// Block cipher of the key.
    pub algorithm: CardAlgorithm,
    /// The key (SM4, or 2-key 3DES K1 ‖ K2); for the PIN, its BCD digits
    /// F-padded to 16 bytes.
    #[serde(with = "hexfmt::bytes")]
    pub value: Vec<u8>,
    /// Error-counter limit (`tries` of WRITE KEY).
    pub max_tries: u8,
    /// Attempts left before the key or PIN is blocked.
    pub tries_left: u8,
}

impl StoredKey {
    /// Whether the error counter has run out.
    pub fn is_blocked(&self) -> bool {
        self.tries_left == 0
    }

    /// Whether this is a PIN rather than a cryptographic key.
    pub fn is_pin(&self) -> bool {
        self.usage == profile::key_usage::PIN
    }

    /// The 16 key bytes (`None` for a malformed entry in a hand-edited
    /// file, which the card treats as an absent key).
    pub fn key_bytes(&self) -> Option<[u8; 16]> {
        self.value.as_slice().try_into().ok()
    }

    /// Counts a failed attempt; returns the tries left.
    pub fn record_failure(&mut self) -> u8 {
        self.tries_left = self.tries_left.saturating_sub(1);
        self.tries_left
    }

    /// Restores the error counter after a success.
    pub fn record_success(&mut self) {
        self.tries_left = self.max_tries;
    }
}

impl DedicatedFile {
    /// An empty DF.
    pub fn new(fid: u16, name: Option<Vec<u8>>) -> Self {
        Self {
            fid,
            name,
            keys: Vec::new(),
            efs: Vec::new(),
            dfs: Vec::new(),
        }
    }

    /// The key with this id held directly in this DF.
    pub fn key(&self, id: u8) -> Option<&StoredKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// The key with this id, mutable.
    pub fn key_mut(&mut self, id: u8) -> Option<&mut StoredKey> {
        self.keys.iter_mut().find(|k| k.id == id)
    }

    /// Adds a key or replaces the one with the same id; keys stay in id
    /// order.
    pub fn put_key(&mut self, key: StoredKey) {
        self.keys.retain(|k| k.id != key.id);
        self.keys.push(key);
        self.keys.sort_by_key(|k| k.id);
    }

    /// The record EF with this file id.
    pub fn ef(&self, fid: u16) -> Option<&RecordFile> {
        self.efs.iter().find(|ef| ef.fid == fid)
    }

    /// The record EF with this file id, mutable.
    pub fn ef_mut(&mut self, fid: u16) -> Option<&mut RecordFile> {
        self.efs.iter_mut().find(|ef| ef.fid == fid)
    }

    /// The record EF with this short file id.
    pub fn ef_by_sfi(&self, sfi: u8) -> Option<&RecordFile> {
        self.efs.iter().find(|ef| ef.sfi == sfi)
    }

    /// The child DF with this file id.
    pub fn child(&self, fid: u16) -> Option<&DedicatedFile> {
        self.dfs.iter().find(|df| df.fid == fid)
    }

    /// Whether a file (EF or DF) with this id is directly below.
    pub fn has_file(&self, fid: u16) -> bool {
        self.ef(fid).is_some() || self.child(fid).is_some()
    }
}

impl RecordFile {
    /// The record with this tag.
    pub fn record_by_tag(&self, tag: u8) -> Option<&Record> {
        self.records.iter().find(|r| r.tag == tag)
    }

    /// The record with this tag, mutable.
    pub fn record_by_tag_mut(&mut self, tag: u8) -> Option<&mut Record> {
        self.records.iter_mut().find(|r| r.tag == tag)
    }

    /// The record with this number (1 is the first).
    pub fn record_by_number(&self, number: u8) -> Option<&Record> {
        usize::from(number)
            .checked_sub(1)
            .and_then(|i| self.records.get(i))
    }
}

impl CardMemory {
    /// A vendor-blank card: the MF holding the transport key KT =
    /// diversify(transport master, D) with D the decoded card
    /// identification code, life cycle OP_READY, the default ATR.
    pub fn blank(
        card_id_code: &str,
        transport_master: &[u8; 16],
        alg: CardAlgorithm,
    ) -> Result<Self, MemoryError> {
        let d = parse_card_id_code(card_id_code)?;
        let mut mf = DedicatedFile::new(profile::fid::MF, None);
        mf.put_key(StoredKey {
            id: CardKey::Transport.id(),
            usage: CardKey::Transport.usage(),
            algorithm: alg,
            value: raw::diversify(alg, transport_master, &d).to_vec(),
            max_tries: profile::KEY_TRIES,
            tries_left: profile::KEY_TRIES,
        });
        Ok(Self {
            format: FORMAT_VERSION,
            card_id_code: card_id_code.to_ascii_uppercase(),
            atr: DEFAULT_ATR.to_vec(),
            life_cycle: LifeCycle::OpReady,
            mf,
        })
    }

    /// The 8 bytes D the card's keys are diversified with.
    pub fn diversification_data(&self) -> Result<[u8; 8], MemoryError> {
        parse_card_id_code(&self.card_id_code)
    }

    /// The DF at `path` (empty path: the MF).
    pub fn df(&self, path: &[u16]) -> Option<&DedicatedFile> {
        path.iter().try_fold(&self.mf, |df, fid| df.child(*fid))
    }

    /// The DF at `path`, mutable.
    pub fn df_mut(&mut self, path: &[u16]) -> Option<&mut DedicatedFile> {
        path.iter().try_fold(&mut self.mf, |df, fid| {
            df.dfs.iter_mut().find(|child| child.fid == *fid)
        })
    }

    /// The path of the DF with this name, searched through the whole tree.
    pub fn find_df_by_name(&self, name: &[u8]) -> Option<DfPath> {
        fn walk(df: &DedicatedFile, path: &mut DfPath, name: &[u8]) -> bool {
            for child in &df.dfs {
                path.push(child.fid);
                if child.name.as_deref() == Some(name) || walk(child, path, name) {
                    return true;
                }
                path.pop();
            }
            false
        }
        let mut path = DfPath::new();
        walk(&self.mf, &mut path, name).then_some(path)
    }

    /// Where the key `id` visible from the DF at `path` lives: that DF first,
    /// then its ancestors up to the MF (so KT is visible inside the SSSE).
    pub fn find_key(&self, path: &[u16], id: u8) -> Option<DfPath> {
        (0..=path.len())
            .rev()
            .map(|depth| &path[..depth])
            .find(|p| self.df(p).and_then(|df| df.key(id)).is_some())
            .map(<[u16]>::to_vec)
    }

    /// The key `id` visible from `path` (see [`CardMemory::find_key`]).
    pub fn key(&self, path: &[u16], id: u8) -> Option<&StoredKey> {
        let at = self.find_key(path, id)?;
        self.df(&at)?.key(id)
    }

    /// The key `id` visible from `path`, mutable.
    pub fn key_mut(&mut self, path: &[u16], id: u8) -> Option<&mut StoredKey> {
        let at = self.find_key(path, id)?;
        self.df_mut(&at)?.key_mut(id)
    }
}

impl CardMemory {
    /// Writes a record directly, bypassing the card's commands (a test
    /// staging a card whose content differs from the database). The EF is
    /// the first with short file id `sfi` anywhere in the tree; a shorter
    /// value is padded with 00 to the record's length.
    pub fn set_record(&mut self, sfi: u8, tag: u8, value: &[u8]) -> Result<(), RecordEditError> {
        fn find(df: &mut DedicatedFile, sfi: u8) -> Option<&mut RecordFile> {
            if df.efs.iter().any(|ef| ef.sfi == sfi) {
                return df.efs.iter_mut().find(|ef| ef.sfi == sfi);
            }
            df.dfs.iter_mut().find_map(|child| find(child, sfi))
        }
        let ef = find(&mut self.mf, sfi).ok_or(RecordEditError::NoFile { sfi })?;
        let record = ef
            .record_by_tag_mut(tag)
            .ok_or(RecordEditError::NoRecord { sfi, tag })?;
        let max = record.value.len();
        if value.len() > max {
            return Err(RecordEditError::TooLong {
                sfi,
                tag,
                len: value.len(),
                max,
            });
        }
        record.value = value.to_vec();
        record.value.resize(max, 0);
        Ok(())
    }
}

/// Why [`CardMemory::set_record`] could not write a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordEditError {
    /// No EF with this SFI (the card may not be formatted yet).
    #[error("the card has no EF with SFI {sfi}: format the card first")]
    NoFile {
        /// The SFI asked for.
        sfi: u8,
    },
    /// The EF has no record with this tag.
    #[error("EF with SFI {sfi} has no record with tag {tag:02X}")]
    NoRecord {
        /// The SFI asked for.
        sfi: u8,
        /// The tag asked for.
        tag: u8,
    },
    /// The value does not fit the record.
    #[error("record {tag:02X} of SFI {sfi} holds {max} bytes, not {len}")]
    TooLong {
        /// The SFI asked for.
        sfi: u8,
        /// The tag asked for.
        tag: u8,
        /// Bytes given.
        len: usize,
        /// The record's length.
        max: usize,
    },
}

/// Decodes a card identification code: exactly 16 hex characters.
pub fn parse_card_id_code(code: &str) -> Result<[u8; 8], MemoryError> {
    let bad = || MemoryError::CardIdCode(code.to_owned());
    if code.len() != profile::CARD_ID_CODE_LEN {
        return Err(bad());
    }
    let bytes = hex::decode(code).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

/// Serde of [`LifeCycle`] as its GlobalPlatform byte in hex (`"0F"`).
mod life_cycle_byte {
    use cardhub_protocols::chip::profile::LifeCycle;
    use serde::de::Error as _;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &LifeCycle, s: S) -> Result<S::Ok, S::Error> {
        super::hexfmt::byte::serialize(&value.to_byte(), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<LifeCycle, D::Error> {
        let b = super::hexfmt::byte::deserialize(d)?;
        LifeCycle::from_byte(b).ok_or_else(|| {
            D::Error::custom(format!(
                "life cycle {b:02X} is not one of 01, 07, 0F, 7F (chip profile)"
            ))
        })
    }
}

#[cfg(test)]
mod tests;
