//! Card administration: GET DATA (card identification code, life-cycle
//! state, key ids of the current DF), WRITE KEY (a key or the PIN wrapped
//! under the transport key KT, MAC under KT; refused once SECURED) and SET
//! STATUS (life cycle forward only, MAC under KT).

use cardhub_protocols::apdu::{Command, StatusWord};
use cardhub_protocols::chip::profile::{self, LifeCycle, cla, get_data, key_id, key_usage};
use cardhub_protocols::chip::sm::{CardAlgorithm, raw};

use super::pin::pin_digits;
use super::security::without_mac;
use super::{CardOs, Outcome, expect_cla};
use crate::card::memory::StoredKey;

/// Bytes of a wrapped key (one SM4 block, two 3DES blocks).
const WRAPPED_LEN: usize = 16;
/// WRITE KEY data before the MAC: usage, algorithm, tries, wrapped key.
const WRITE_KEY_DATA_LEN: usize = 3 + WRAPPED_LEN;
/// The usage bytes WRITE KEY accepts.
const USAGES: [u8; 6] = [
    key_usage::EXTERNAL_AUTH,
    key_usage::INTERNAL_AUTH,
    key_usage::MAINTENANCE,
    key_usage::PIN_RESET,
    key_usage::PIN_UNBLOCK,
    key_usage::PIN,
];

impl CardOs {
    /// GET DATA `80 CA P1 P2 00` (P1 P2 = DF01, DF02 or DF03).
    pub(super) fn get_data(&mut self, cmd: &Command) -> Outcome {
        expect_cla(cmd, cla::PROPRIETARY)?;
        match u16::from_be_bytes([cmd.p1, cmd.p2]) {
            get_data::CARD_ID_CODE => Ok(self.memory.card_id_code.as_bytes().to_vec()),
            get_data::LIFE_CYCLE => Ok(vec![self.memory.life_cycle.to_byte()]),
            get_data::KEY_IDS => Ok(self.current_df().keys.iter().map(|k| k.id).collect()),
            _ => Err(StatusWord::REF_DATA_NOT_FOUND),
        }
    }

    /// WRITE KEY `84 D4 01 KID Lc usage alg tries wrapped(16) MAC4`: the key
    /// (or, usage 3A, the F-padded BCD PIN) is unwrapped with ECB under KT
    /// and stored in the current DF, replacing a key with the same id.
    pub(super) fn write_key(&mut self, cmd: &Command, challenge: Option<[u8; 8]>) -> Outcome {
        expect_cla(cmd, cla::PROPRIETARY_SM)?;
        if cmd.p1 != profile::WRITE_KEY_P1 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        if self.memory.life_cycle >= LifeCycle::Secured {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        self.check_mac(cmd, challenge, key_id::TRANSPORT)?;
        let data = without_mac(cmd);
        if data.len() != WRITE_KEY_DATA_LEN {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let (usage, alg, tries, wrapped) = (data[0], data[1], data[2], &data[3..]);
        let algorithm = CardAlgorithm::from_byte(alg).ok_or(StatusWord::INCORRECT_DATA)?;
        if !USAGES.contains(&usage) || !(1..=profile::KEY_TRIES).contains(&tries) {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let kt = self
            .memory
            .key(&self.session.df, key_id::TRANSPORT)
            .expect("the MAC was checked under KT");
        let kt_bytes = kt
            .key_bytes()
            .expect("the MAC was checked with these bytes");
        let value = raw::ecb_decrypt(kt.algorithm, &kt_bytes, wrapped)
            .map_err(|_| StatusWord::INCORRECT_DATA)?;
        if usage == key_usage::PIN && pin_digits(&value).is_none() {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let key = StoredKey {
            id: cmd.p2,
            usage,
            algorithm,
            value,
            max_tries: tries,
            tries_left: tries,
        };
        let path = self.session.df.clone();
        self.memory
            .df_mut(&path)
            .expect("the current DF exists in memory")
            .put_key(key);
        self.changed();
        Ok(Vec::new())
    }

    /// SET STATUS `84 F0 80 state 04 MAC4`: moves the life cycle forward
    /// (01 → 07 → 0F → 7F); the same or an earlier state is refused with
    /// 6985, a byte outside the profile with 6A86.
    pub(super) fn set_status(&mut self, cmd: &Command, challenge: Option<[u8; 8]>) -> Outcome {
        expect_cla(cmd, cla::PROPRIETARY_SM)?;
        if cmd.p1 != profile::SET_STATUS_P1 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let target = LifeCycle::from_byte(cmd.p2).ok_or(StatusWord::INCORRECT_P1P2)?;
        if target <= self.memory.life_cycle {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        self.check_mac(cmd, challenge, key_id::TRANSPORT)?;
        if cmd.data.len() != profile::MAC_LEN {
            return Err(StatusWord::WRONG_LENGTH);
        }
        self.memory.life_cycle = target;
        self.changed();
        Ok(Vec::new())
    }
}
