//! Tests of the card operating system, driven by APDUs built the way the
//! hub builds them: MACs, cryptograms and wrapped keys come from the
//! protocols crate's hub-side functions through a `SoftHsm` holding the
//! centre's masters, so the card and the hub are checked against each
//! other, not against a copy of the same code.

mod admin;
mod files;
mod flow;
mod pin;
mod security;

use cardhub_protocols::apdu::{Command, Response, StatusWord, tlv};
use cardhub_protocols::chip::profile::{
    self, CardKey, SSSE_NAME, cla, fcp, fid, get_data, ins, key_id, key_usage, select,
};
use cardhub_protocols::chip::sm::{self, CardAlgorithm};
use cardhub_protocols::crypto::{Hsm, KeyLabel, SoftHsm};

use super::{CardOs, OsConfig};
use crate::card::memory::CardMemory;

/// The card identification code of the test card.
pub(super) const CARD_ID: &str = "1100000012345678";
/// The holder PIN the format step writes.
pub(super) const PIN: &str = "123456";

/// A test master for each card key. The bytes differ in more than the
/// low bit, which DES ignores (parity), so 3DES masters differ too.
fn master(key: CardKey) -> [u8; 16] {
    [0x10 + 0x22 * key.id(); 16]
}

/// The hub's side of the exchange: a key store with the masters and the
/// card's diversified keys, and the card it talks to.
pub(super) struct Terminal {
    pub os: CardOs,
    pub hsm: SoftHsm,
    pub alg: CardAlgorithm,
}

impl Terminal {
    /// A vendor-blank card and a key store holding the masters and this
    /// card's diversified keys (labels `card/<name>`).
    pub fn blank(alg: CardAlgorithm) -> Self {
        Self::blank_with(alg, OsConfig::default())
    }

    pub fn blank_with(alg: CardAlgorithm, config: OsConfig) -> Self {
        let memory = CardMemory::blank(CARD_ID, &master(CardKey::Transport), alg).unwrap();
        let hsm = SoftHsm::new();
        let d = memory.diversification_data().unwrap();
        for key in CardKey::ALL {
            let label = KeyLabel::new(key.master_label());
            match alg {
                CardAlgorithm::Sm4 => hsm.insert_sm4(label.clone(), master(key)).unwrap(),
                CardAlgorithm::Tdes => hsm.insert_tdes(label.clone(), master(key)).unwrap(),
            }
            hsm.diversify(&label, &d, &card_label(key)).unwrap();
        }
        Self {
            os: CardOs::with_seed(memory, config, 7),
            hsm,
            alg,
        }
    }

    /// A card formatted (SSSE, EF05, EF06, keys, PIN) and INITIALIZED.
    pub fn formatted(alg: CardAlgorithm) -> Self {
        let mut t = Self::blank(alg);
        t.format();
        t
    }

    /// A formatted card with one record written and SECURED.
    pub fn secured(alg: CardAlgorithm) -> Self {
        let mut t = Self::formatted(alg);
        t.ok(&select_ssse());
        let c = t.update_record(6, 0x0A, b"1");
        t.ok(&c);
        let c = t.set_status(profile::LifeCycle::Secured);
        t.ok(&c);
        t
    }

    /// Sends a command, returns the parsed response.
    pub fn send(&mut self, cmd: &Command) -> Response {
        Response::parse(&self.os.process(&cmd.to_bytes().unwrap())).unwrap()
    }

    /// Sends a command that must succeed; returns its data.
    pub fn ok(&mut self, cmd: &Command) -> Vec<u8> {
        let r = self.send(cmd);
        assert_eq!(r.sw, StatusWord::OK, "{cmd:?} answered {}", r.sw);
        r.data
    }

    /// Sends a command that must be refused with `sw`.
    pub fn refused(&mut self, cmd: &Command, sw: StatusWord) {
        let r = self.send(cmd);
        assert_eq!(r.sw, sw, "{cmd:?} answered {} instead of {sw}", r.sw);
        assert!(r.data.is_empty(), "a refusal carries no data: {r:?}");
    }

    /// GET CHALLENGE.
    pub fn challenge(&mut self) -> [u8; 8] {
        self.ok(&get_challenge()).try_into().unwrap()
    }

    /// Fetches a challenge and adds the MAC under `key` to `cmd`.
    pub fn mac(&mut self, key: CardKey, cmd: Command) -> Command {
        let challenge = self.challenge();
        self.mac_with(key, &challenge, cmd)
    }

    /// Adds the MAC under `key` for a given challenge.
    pub fn mac_with(&self, key: CardKey, challenge: &[u8; 8], cmd: Command) -> Command {
        sm::mac_command(&self.hsm, self.alg, &card_label(key), challenge, cmd).unwrap()
    }

    /// GET CHALLENGE then EXTERNAL AUTHENTICATE with `key` (id `kid`).
    pub fn external_auth(&mut self, key: CardKey) -> Response {
        let challenge = self.challenge();
        let cryptogram =
            sm::external_auth_cryptogram(&self.hsm, self.alg, &card_label(key), &challenge)
                .unwrap();
        self.send(&external_authenticate(key.id(), cryptogram))
    }

    /// A MAC'd UPDATE RECORD of `tag` in EF `sfi` (value padded with 00 to
    /// the template length).
    pub fn update_record(&mut self, sfi: u8, tag: u8, value: &[u8]) -> Command {
        let (_, field) = profile::record_field(tag).unwrap();
        let mut value = value.to_vec();
        value.resize(usize::from(field.len), 0);
        let cmd = Command::new(cla::SM, ins::UPDATE_RECORD, tag, sfi << 3)
            .with_data(tlv::encode_record(tag, &value).unwrap());
        self.mac(CardKey::Maintenance, cmd)
    }

    /// A MAC'd SET STATUS.
    pub fn set_status(&mut self, state: profile::LifeCycle) -> Command {
        let cmd = Command::new(
            cla::PROPRIETARY_SM,
            ins::SET_STATUS,
            profile::SET_STATUS_P1,
            state.to_byte(),
        );
        self.mac(CardKey::Transport, cmd)
    }

    /// A MAC'd WRITE KEY of a card key, wrapped under KT in the key store.
    pub fn write_key(&mut self, key: CardKey) -> Command {
        let mut data = vec![key.usage(), self.alg.algorithm_byte(), profile::KEY_TRIES];
        data.extend(
            self.hsm
                .wrap_key(&card_label(key), &card_label(CardKey::Transport))
                .unwrap(),
        );
        let cmd = Command::new(
            cla::PROPRIETARY_SM,
            ins::WRITE_KEY,
            profile::WRITE_KEY_P1,
            key.id(),
        )
        .with_data(data);
        self.mac(CardKey::Transport, cmd)
    }

    /// A MAC'd WRITE KEY of the PIN.
    pub fn write_pin(&mut self, digits: &str) -> Command {
        let block = pin_block(digits, 16);
        let wrapped = self
            .hsm
            .ecb_encrypt(&card_label(CardKey::Transport), &block)
            .unwrap();
        let mut data = vec![
            key_usage::PIN,
            self.alg.algorithm_byte(),
            profile::DEFAULT_PIN_TRIES,
        ];
        data.extend(wrapped);
        let cmd = Command::new(
            cla::PROPRIETARY_SM,
            ins::WRITE_KEY,
            profile::WRITE_KEY_P1,
            key_id::PIN,
        )
        .with_data(data);
        self.mac(CardKey::Transport, cmd)
    }

    /// A MAC'd CREATE FILE with the given FCP.
    pub fn create_file(&mut self, fcp_bytes: Vec<u8>) -> Command {
        let cmd = Command::new(cla::PROPRIETARY_SM, ins::CREATE_FILE, 0, 0).with_data(fcp_bytes);
        self.mac(CardKey::Transport, cmd)
    }

    /// The format script of the profile, steps 1 to 5.
    pub fn format(&mut self) {
        self.ok(&select_mf());
        assert_eq!(
            self.ok(&get_data_cmd(get_data::CARD_ID_CODE)),
            CARD_ID.as_bytes()
        );
        assert_eq!(self.ok(&get_data_cmd(get_data::LIFE_CYCLE)), [0x01]);
        let r = self.external_auth(CardKey::Transport);
        assert_eq!(r.sw, StatusWord::OK);
        let c = self.create_file(ssse_fcp());
        self.ok(&c);
        self.ok(&select_ssse());
        for (fid, sfi, fields) in [
            (fid::EF05, profile::sfi::EF05, &profile::EF05_RECORDS),
            (fid::EF06, profile::sfi::EF06, &profile::EF06_RECORDS),
        ] {
            let c = self.create_file(ef_fcp(fid, sfi, fields));
            self.ok(&c);
        }
        for key in CardKey::DF_KEYS {
            let c = self.write_key(key);
            self.ok(&c);
        }
        let c = self.write_pin(PIN);
        self.ok(&c);
        let c = self.set_status(profile::LifeCycle::Initialized);
        self.ok(&c);
    }
}

/// The key store label of this card's diversified `key`.
pub(super) fn card_label(key: CardKey) -> KeyLabel {
    KeyLabel::new(format!("card/{}", key.name()))
}

/// BCD digits F-padded to `len` bytes.
pub(super) fn pin_block(digits: &str, len: usize) -> Vec<u8> {
    let mut nibbles: Vec<u8> = digits.bytes().map(|d| d - b'0').collect();
    nibbles.resize(len * 2, 0x0F);
    nibbles.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

/// A PIN as VERIFY sends it: the fewest bytes that hold the digits.
pub(super) fn wire_pin(digits: &str) -> Vec<u8> {
    pin_block(digits, digits.len().div_ceil(2))
}

pub(super) fn select_mf() -> Command {
    Command::new(cla::PLAIN, ins::SELECT, select::BY_FID, 0).with_data(fid::MF.to_be_bytes())
}

pub(super) fn select_ssse() -> Command {
    Command::new(cla::PLAIN, ins::SELECT, select::BY_NAME, 0).with_data(SSSE_NAME)
}

pub(super) fn select_ef(id: u16) -> Command {
    Command::new(cla::PLAIN, ins::SELECT, select::EF_BY_FID, 0).with_data(id.to_be_bytes())
}

pub(super) fn get_challenge() -> Command {
    Command::new(cla::PLAIN, ins::GET_CHALLENGE, 0, 0).with_le(8)
}

pub(super) fn get_data_cmd(tag: u16) -> Command {
    let [p1, p2] = tag.to_be_bytes();
    Command::new(cla::PROPRIETARY, ins::GET_DATA, p1, p2).with_le(256)
}

pub(super) fn external_authenticate(kid: u8, cryptogram: Vec<u8>) -> Command {
    Command::new(cla::PLAIN, ins::EXTERNAL_AUTHENTICATE, 0, kid).with_data(cryptogram)
}

pub(super) fn read_by_tag(sfi: u8, tag: u8, le: usize) -> Command {
    Command::new(cla::PLAIN, ins::READ_RECORD, tag, sfi << 3).with_le(le)
}

pub(super) fn verify(digits: &str) -> Command {
    Command::new(cla::PLAIN, ins::VERIFY, 0, key_id::PIN).with_data(wire_pin(digits))
}

/// The FCP of the SSSE DF.
pub(super) fn ssse_fcp() -> Vec<u8> {
    let mut body = tlv::encode(fcp::DESCRIPTOR, &[fcp::TYPE_DF]);
    body.extend(tlv::encode(fcp::FILE_ID, &fid::SSSE.to_be_bytes()));
    body.extend(tlv::encode(fcp::DF_NAME, SSSE_NAME));
    tlv::encode(fcp::TEMPLATE, &body)
}

/// The FCP of a record EF with the template of `fields`.
pub(super) fn ef_fcp(id: u16, sfi: u8, fields: &[profile::RecordField]) -> Vec<u8> {
    let mut body = tlv::encode(fcp::DESCRIPTOR, &[fcp::TYPE_RECORD_EF]);
    body.extend(tlv::encode(fcp::FILE_ID, &id.to_be_bytes()));
    body.extend(tlv::encode(fcp::SFI, &[sfi]));
    let template: Vec<u8> = fields.iter().flat_map(|f| [f.tag, f.len]).collect();
    body.extend(tlv::encode(fcp::RECORD_TEMPLATE, &template));
    tlv::encode(fcp::TEMPLATE, &body)
}
