//! Every byte-level constant of the chip profile (docs/chip-profile.md), in
//! one place: application names, file ids, SFIs, class and instruction
//! bytes, key ids, key usage and algorithm bytes, life-cycle states, GET
//! DATA tags, and the record templates of EF05 and EF06. The hub's script
//! builder, the card check and the simulated card all read them from here.
//!
//! (field) marks values seen on issued cards; (cardhub) marks choices made
//! where the field is silent, as in the profile document.

use crate::crypto::labels;

/// Name of the social security environment DF (SSSE): "sx1.sh." followed
/// by 社会保障 in GBK (field).
pub const SSSE_NAME: &[u8] = b"sx1.sh.\xC9\xE7\xBB\xE1\xB1\xA3\xD5\xCF";

/// AID prefix of the sub-applications, followed by 00 (public) .. 04
/// (personnel) (field).
pub const SUB_APPLICATION_AID_PREFIX: [u8; 5] = [0xD1, 0x56, 0x00, 0x00, 0x05];

/// File identifiers.
pub mod fid {
    /// Master file.
    pub const MF: u16 = 0x3F00;
    /// The social security environment DF.
    pub const SSSE: u16 = 0x0001;
    /// Card records EF.
    pub const EF05: u16 = 0x0005;
    /// Holder records EF.
    pub const EF06: u16 = 0x0006;
}

/// Short file identifiers (READ/UPDATE RECORD P2 = SFI << 3 | mode).
pub mod sfi {
    /// EF05, card records.
    pub const EF05: u8 = 5;
    /// EF06, holder records.
    pub const EF06: u8 = 6;
}

/// Class bytes.
pub mod cla {
    /// ISO, plain.
    pub const PLAIN: u8 = 0x00;
    /// ISO with secure messaging (command MAC).
    pub const SM: u8 = 0x04;
    /// Proprietary (PBOC shapes), plain.
    pub const PROPRIETARY: u8 = 0x80;
    /// Proprietary with command MAC.
    pub const PROPRIETARY_SM: u8 = 0x84;
}

/// Instruction bytes.
pub mod ins {
    /// SELECT.
    pub const SELECT: u8 = 0xA4;
    /// READ RECORD.
    pub const READ_RECORD: u8 = 0xB2;
    /// UPDATE RECORD (CLA 04, MAC under UK).
    pub const UPDATE_RECORD: u8 = 0xDC;
    /// GET CHALLENGE.
    pub const GET_CHALLENGE: u8 = 0x84;
    /// EXTERNAL AUTHENTICATE.
    pub const EXTERNAL_AUTHENTICATE: u8 = 0x82;
    /// INTERNAL AUTHENTICATE.
    pub const INTERNAL_AUTHENTICATE: u8 = 0x88;
    /// VERIFY (PIN).
    pub const VERIFY: u8 = 0x20;
    /// CHANGE PIN (CLA 80, P1 01) and RESET PIN (CLA 84, P1 00).
    pub const CHANGE_OR_RESET_PIN: u8 = 0x5E;
    /// UNBLOCK PIN (CLA 84).
    pub const UNBLOCK_PIN: u8 = 0x24;
    /// GET DATA (CLA 80).
    pub const GET_DATA: u8 = 0xCA;
    /// CREATE FILE (CLA 84, MAC under KT).
    pub const CREATE_FILE: u8 = 0xE0;
    /// WRITE KEY (CLA 84, MAC under KT).
    pub const WRITE_KEY: u8 = 0xD4;
    /// SET STATUS (CLA 84, P1 80, MAC under KT).
    pub const SET_STATUS: u8 = 0xF0;
    /// GET RESPONSE.
    pub const GET_RESPONSE: u8 = 0xC0;
}

/// SELECT P1 values.
pub mod select {
    /// By file id: MF or DF.
    pub const BY_FID: u8 = 0x00;
    /// By file id: EF under the current DF.
    pub const EF_BY_FID: u8 = 0x02;
    /// By DF name.
    pub const BY_NAME: u8 = 0x04;
}

/// READ RECORD modes (low three bits of P2).
pub mod read_mode {
    /// P1 is a tag (field: P2 0x30 = SFI 6 by tag).
    pub const BY_TAG: u8 = 0;
    /// P1 is a record number (field: 0x2C, 0x34).
    pub const BY_NUMBER: u8 = 4;
}

/// P1 of CHANGE PIN.
pub const CHANGE_PIN_P1: u8 = 0x01;
/// P1 of RESET PIN.
pub const RESET_PIN_P1: u8 = 0x00;
/// Separator between old and new PIN in CHANGE PIN.
pub const CHANGE_PIN_SEPARATOR: u8 = 0xFF;
/// P1 of WRITE KEY.
pub const WRITE_KEY_P1: u8 = 0x01;
/// P1 of SET STATUS.
pub const SET_STATUS_P1: u8 = 0x80;

/// GET DATA tags (P1 P2 of `80 CA`) (cardhub).
pub mod get_data {
    /// Card identification code, 16 bytes.
    pub const CARD_ID_CODE: u16 = 0xDF01;
    /// Life-cycle state, 1 byte.
    pub const LIFE_CYCLE: u16 = 0xDF02;
    /// Key ids present in the current DF, one byte each.
    pub const KEY_IDS: u16 = 0xDF03;
}

/// Key ids.
pub mod key_id {
    /// Transport key KT under the MF (vendor loaded).
    pub const TRANSPORT: u8 = 0x00;
    /// Maintenance key UK.
    pub const MAINTENANCE: u8 = 0x01;
    /// Internal authentication key IAK.
    pub const INTERNAL_AUTH: u8 = 0x02;
    /// External authentication key EAK.
    pub const EXTERNAL_AUTH: u8 = 0x03;
    /// PIN reset key RPK.
    pub const PIN_RESET: u8 = 0x04;
    /// PIN unblock key PUK.
    pub const PIN_UNBLOCK: u8 = 0x05;
    /// The holder PIN (cardhub).
    pub const PIN: u8 = 0x10;
}

/// Key usage bytes of WRITE KEY.
pub mod key_usage {
    /// External authentication.
    pub const EXTERNAL_AUTH: u8 = 0x39;
    /// Internal authentication.
    pub const INTERNAL_AUTH: u8 = 0x30;
    /// Maintenance (MAC).
    pub const MAINTENANCE: u8 = 0x36;
    /// PIN reset.
    pub const PIN_RESET: u8 = 0x3C;
    /// PIN unblock.
    pub const PIN_UNBLOCK: u8 = 0x3D;
    /// PIN.
    pub const PIN: u8 = 0x3A;
}

/// Algorithm bytes of WRITE KEY.
pub mod algorithm {
    /// SM4.
    pub const SM4: u8 = 0x04;
    /// 2-key 3DES.
    pub const TDES: u8 = 0x00;
}

/// Error-counter limit of the holder PIN.
pub const DEFAULT_PIN_TRIES: u8 = 3;
/// Error-counter limit written with the DF keys (cardhub): the largest a
/// `63Cx` can report.
pub const KEY_TRIES: u8 = 15;
/// PIN length on the wire: 2 to 6 BCD bytes (4 to 12 digits), F-padded.
pub const PIN_BYTES: std::ops::RangeInclusive<usize> = 2..=6;
/// Bytes of a command MAC.
pub const MAC_LEN: usize = 4;
/// Bytes of a GET CHALLENGE answer and of INTERNAL AUTHENTICATE data.
pub const CHALLENGE_LEN: usize = 8;
/// Bytes of the card identification code.
pub const CARD_ID_CODE_LEN: usize = 16;

/// FCP of CREATE FILE (ISO 7816-4 tags) (cardhub).
pub mod fcp {
    /// FCP template.
    pub const TEMPLATE: u32 = 0x62;
    /// File descriptor (type byte).
    pub const DESCRIPTOR: u32 = 0x82;
    /// File id.
    pub const FILE_ID: u32 = 0x83;
    /// DF name.
    pub const DF_NAME: u32 = 0x84;
    /// Short file id (EF).
    pub const SFI: u32 = 0x88;
    /// Record template of an EF: `(tag len)*`.
    pub const RECORD_TEMPLATE: u32 = 0xA1;
    /// File type: DF.
    pub const TYPE_DF: u8 = 0x38;
    /// File type: record EF.
    pub const TYPE_RECORD_EF: u8 = 0x04;
}

/// Card life-cycle state (GlobalPlatform values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LifeCycle {
    /// 01: blank, as delivered by the chip vendor.
    OpReady,
    /// 07: formatted, SSSE with EFs and keys present.
    Initialized,
    /// 0F: personalised, records written and PIN set.
    Secured,
    /// 7F: locked; everything but SELECT and GET DATA is refused.
    CardLocked,
}

impl LifeCycle {
    /// The state byte.
    pub const fn to_byte(self) -> u8 {
        match self {
            LifeCycle::OpReady => 0x01,
            LifeCycle::Initialized => 0x07,
            LifeCycle::Secured => 0x0F,
            LifeCycle::CardLocked => 0x7F,
        }
    }

    /// The state of a byte, `None` for a value outside the profile.
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x01 => Some(LifeCycle::OpReady),
            0x07 => Some(LifeCycle::Initialized),
            0x0F => Some(LifeCycle::Secured),
            0x7F => Some(LifeCycle::CardLocked),
            _ => None,
        }
    }
}

/// The keys of a card, named by role (the PIN is not a key here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CardKey {
    /// KT, 传输密钥: under the MF; MACs structure commands.
    Transport,
    /// UK, 维护密钥: MACs UPDATE RECORD.
    Maintenance,
    /// IAK, 内部认证密钥: the card proves itself genuine.
    InternalAuth,
    /// EAK, 外部认证密钥: the terminal proves itself to the card.
    ExternalAuth,
    /// RPK, 重置密钥: MACs RESET PIN.
    PinReset,
    /// PUK, 解锁密钥: MACs UNBLOCK PIN.
    PinUnblock,
}

impl CardKey {
    /// Every card key, KT first.
    pub const ALL: [CardKey; 6] = [
        CardKey::Transport,
        CardKey::Maintenance,
        CardKey::InternalAuth,
        CardKey::ExternalAuth,
        CardKey::PinReset,
        CardKey::PinUnblock,
    ];

    /// The keys written into the SSSE by WRITE KEY (all but KT), in id
    /// order.
    pub const DF_KEYS: [CardKey; 5] = [
        CardKey::Maintenance,
        CardKey::InternalAuth,
        CardKey::ExternalAuth,
        CardKey::PinReset,
        CardKey::PinUnblock,
    ];

    /// The key id on the card.
    pub const fn id(self) -> u8 {
        match self {
            CardKey::Transport => key_id::TRANSPORT,
            CardKey::Maintenance => key_id::MAINTENANCE,
            CardKey::InternalAuth => key_id::INTERNAL_AUTH,
            CardKey::ExternalAuth => key_id::EXTERNAL_AUTH,
            CardKey::PinReset => key_id::PIN_RESET,
            CardKey::PinUnblock => key_id::PIN_UNBLOCK,
        }
    }

    /// The card key of an id (`None` for the PIN and unknown ids).
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            key_id::TRANSPORT => Some(CardKey::Transport),
            key_id::MAINTENANCE => Some(CardKey::Maintenance),
            key_id::INTERNAL_AUTH => Some(CardKey::InternalAuth),
            key_id::EXTERNAL_AUTH => Some(CardKey::ExternalAuth),
            key_id::PIN_RESET => Some(CardKey::PinReset),
            key_id::PIN_UNBLOCK => Some(CardKey::PinUnblock),
            _ => None,
        }
    }

    /// The usage byte WRITE KEY gives it (KT, loaded by the vendor, is
    /// written with the external-authentication usage by convention).
    pub const fn usage(self) -> u8 {
        match self {
            CardKey::Transport | CardKey::ExternalAuth => key_usage::EXTERNAL_AUTH,
            CardKey::Maintenance => key_usage::MAINTENANCE,
            CardKey::InternalAuth => key_usage::INTERNAL_AUTH,
            CardKey::PinReset => key_usage::PIN_RESET,
            CardKey::PinUnblock => key_usage::PIN_UNBLOCK,
        }
    }

    /// The label of the centre's master key it is diversified from.
    pub const fn master_label(self) -> &'static str {
        match self {
            CardKey::Transport => labels::CHIP_TRANSPORT,
            CardKey::Maintenance => labels::CHIP_MAINTENANCE,
            CardKey::InternalAuth => labels::CHIP_INTERNAL_AUTH,
            CardKey::ExternalAuth => labels::CHIP_EXTERNAL_AUTH,
            CardKey::PinReset => labels::CHIP_PIN_RESET,
            CardKey::PinUnblock => labels::CHIP_PIN_UNBLOCK,
        }
    }

    /// A short name for labels and logs ("maintenance").
    pub const fn name(self) -> &'static str {
        match self {
            CardKey::Transport => "transport",
            CardKey::Maintenance => "maintenance",
            CardKey::InternalAuth => "internal-auth",
            CardKey::ExternalAuth => "external-auth",
            CardKey::PinReset => "pin-reset",
            CardKey::PinUnblock => "pin-unblock",
        }
    }
}

/// How a record's value is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldEncoding {
    /// ASCII alphanumerics, 00-padded.
    Alphanumeric,
    /// Binary.
    Binary,
    /// Packed BCD digits.
    Bcd,
    /// GBK text, 00-padded.
    Gbk,
}

/// One record of EF05/EF06: `tag(1) len(1) value`, fixed length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordField {
    /// The record tag.
    pub tag: u8,
    /// The fixed value length.
    pub len: u8,
    /// English name, as used in mismatch reports.
    pub name: &'static str,
    /// The Chinese name on the specification.
    pub zh_name: &'static str,
    /// The encoding.
    pub encoding: FieldEncoding,
}

const fn field(
    tag: u8,
    len: u8,
    name: &'static str,
    zh_name: &'static str,
    encoding: FieldEncoding,
) -> RecordField {
    RecordField {
        tag,
        len,
        name,
        zh_name,
        encoding,
    }
}

use FieldEncoding::{Alphanumeric as An, Bcd, Binary, Gbk};

/// EF05, card records (field).
pub const EF05_RECORDS: [RecordField; 7] = [
    field(0x01, 16, "card_id_code", "卡识别码", An),
    field(0x02, 1, "card_type", "卡类别", An),
    field(0x03, 4, "spec_version", "规范版本", An),
    field(0x04, 12, "institution", "初始化机构编号", Binary),
    field(0x05, 4, "issue_date", "发卡日期", Bcd),
    field(0x06, 4, "expiry_date", "卡有效期", Bcd),
    field(0x07, 9, "card_number", "卡号", An),
];

/// EF06, holder records (field; 4E name extension: cardhub rule for long
/// names).
pub const EF06_RECORDS: [RecordField; 7] = [
    field(0x08, 18, "ssn", "社会保障号码", An),
    field(0x09, 30, "name", "姓名", Gbk),
    field(0x4E, 20, "name_extension", "姓名扩展", Gbk),
    field(0x0A, 1, "sex", "性别", An),
    field(0x0B, 1, "ethnicity", "民族", Binary),
    field(0x0C, 3, "birthplace", "出生地", Bcd),
    field(0x0D, 4, "birth_date", "出生日期", Bcd),
];

/// The template of a record tag and the SFI of its EF.
pub fn record_field(tag: u8) -> Option<(u8, &'static RecordField)> {
    EF05_RECORDS
        .iter()
        .map(|f| (sfi::EF05, f))
        .chain(EF06_RECORDS.iter().map(|f| (sfi::EF06, f)))
        .find(|(_, f)| f.tag == tag)
}

/// Card type byte: social security card (field).
pub const CARD_TYPE_SOCIAL_SECURITY: u8 = b'1';
/// Card type byte: residence-permit B card (field).
pub const CARD_TYPE_RESIDENCE_PERMIT_B: u8 = b'2';
/// Card type byte: senior card (cardhub).
pub const CARD_TYPE_SENIOR: u8 = b'3';
/// The spec version cardhub writes.
pub const SPEC_VERSION: &[u8; 4] = b"3.00";
/// Sex byte: male.
pub const SEX_MALE: u8 = b'1';
/// Sex byte: female.
pub const SEX_FEMALE: u8 = b'2';

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssse_name_is_the_gbk_of_the_application_name() {
        let (text, _, bad) = encoding_rs::GBK.decode(SSSE_NAME);
        assert!(!bad);
        assert_eq!(text, "sx1.sh.社会保障");
        assert_eq!(SSSE_NAME.len(), 0x0F);
    }

    #[test]
    fn life_cycle_bytes_round_trip() {
        for s in [
            LifeCycle::OpReady,
            LifeCycle::Initialized,
            LifeCycle::Secured,
            LifeCycle::CardLocked,
        ] {
            assert_eq!(LifeCycle::from_byte(s.to_byte()), Some(s));
        }
        assert_eq!(LifeCycle::from_byte(0x03), None);
        assert!(LifeCycle::OpReady < LifeCycle::Initialized);
        assert!(LifeCycle::Initialized < LifeCycle::Secured);
    }

    #[test]
    fn keys_ids_and_templates_are_consistent() {
        for key in CardKey::ALL {
            assert_eq!(CardKey::from_id(key.id()), Some(key));
            assert!(key.master_label().ends_with(key.name()));
        }
        assert_eq!(CardKey::from_id(key_id::PIN), None);
        let tags: Vec<u8> = EF05_RECORDS
            .iter()
            .chain(EF06_RECORDS.iter())
            .map(|f| f.tag)
            .collect();
        assert_eq!(
            tags,
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 0x4E, 0x0A, 0x0B, 0x0C, 0x0D]
        );
        assert_eq!(record_field(0x4E).map(|(s, f)| (s, f.len)), Some((6, 20)));
        assert_eq!(record_field(0x07).map(|(s, f)| (s, f.len)), Some((5, 9)));
        assert_eq!(record_field(0x0E), None);
    }
}
