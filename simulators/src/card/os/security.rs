//! Security commands: GET CHALLENGE, EXTERNAL AUTHENTICATE (the terminal
//! proves it holds a key; error counter per key, `63Cx`, blocked `6983`),
//! INTERNAL AUTHENTICATE (the card proves it is genuine), and the
//! command-MAC check every MAC-protected command goes through.

use cardhub_protocols::apdu::{Command, StatusWord};
use cardhub_protocols::chip::profile::{self, cla, key_usage};
use cardhub_protocols::chip::sm::{self, raw};
use rand::Rng;

use super::{CardOs, Outcome, expect_cla};

impl CardOs {
    /// GET CHALLENGE `00 84 00 00 08`: 8 random bytes, kept as the card's
    /// challenge for the next command only.
    pub(super) fn get_challenge(&mut self, cmd: &Command) -> Outcome {
        expect_cla(cmd, cla::PLAIN)?;
        if cmd.p1 != 0 || cmd.p2 != 0 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        if !cmd.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let mut challenge = [0u8; profile::CHALLENGE_LEN];
        self.rng.fill_bytes(&mut challenge);
        self.session.challenge = Some(challenge);
        Ok(challenge.to_vec())
    }

    /// EXTERNAL AUTHENTICATE `00 82 00 KID Lc cryptogram`: the cryptogram
    /// must be the challenge encrypted under key KID (SM4: challenge ‖ 00×8,
    /// 16 bytes; 3DES: 8 bytes). A wrong one costs a try (`63Cx`); a key
    /// with no tries left answers `6983`.
    pub(super) fn external_authenticate(
        &mut self,
        cmd: &Command,
        challenge: Option<[u8; 8]>,
    ) -> Outcome {
        expect_cla(cmd, cla::PLAIN)?;
        if cmd.p1 != 0 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let at = self
            .memory
            .find_key(&self.session.df, cmd.p2)
            .ok_or(StatusWord::REF_DATA_NOT_FOUND)?;
        let key = self
            .memory
            .key(&at, cmd.p2)
            .ok_or(StatusWord::REF_DATA_NOT_FOUND)?;
        if key.usage != key_usage::EXTERNAL_AUTH {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        let bytes = key.key_bytes().ok_or(StatusWord::REF_DATA_NOT_FOUND)?;
        if key.is_blocked() {
            return Err(StatusWord::AUTH_BLOCKED);
        }
        let challenge = challenge.ok_or(StatusWord::REF_DATA_NOT_USABLE)?;
        let alg = key.algorithm;
        if cmd.data.len() != alg.block_len() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let expected = raw::external_auth_cryptogram(alg, &bytes, &challenge);
        let right = expected == cmd.data;
        let key = self
            .memory
            .key_mut(&at, cmd.p2)
            .expect("the key was found just above");
        if right {
            let counter_was_used = key.tries_left != key.max_tries;
            key.record_success();
            if counter_was_used {
                self.changed();
            }
            self.mark_verified(at, cmd.p2);
            Ok(Vec::new())
        } else {
            let left = key.record_failure();
            self.changed();
            Err(StatusWord::verify_failed(left))
        }
    }

    /// INTERNAL AUTHENTICATE `00 88 00 KID 08 data 00`: the data encrypted
    /// under the internal-authentication key KID (SM4: data ‖ 00×8, 16
    /// bytes; 3DES: 8 bytes).
    pub(super) fn internal_authenticate(&mut self, cmd: &Command) -> Outcome {
        expect_cla(cmd, cla::PLAIN)?;
        if cmd.p1 != 0 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let key = self
            .memory
            .key(&self.session.df, cmd.p2)
            .ok_or(StatusWord::REF_DATA_NOT_FOUND)?;
        if key.usage != key_usage::INTERNAL_AUTH {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        let bytes = key.key_bytes().ok_or(StatusWord::REF_DATA_NOT_FOUND)?;
        let data: [u8; profile::CHALLENGE_LEN] = cmd
            .data
            .as_slice()
            .try_into()
            .map_err(|_| StatusWord::WRONG_LENGTH)?;
        Ok(raw::internal_auth_answer(key.algorithm, &bytes, &data))
    }

    /// Checks the command MAC (the last 4 data bytes) under the key `id`
    /// visible from the current DF, with the challenge the previous command
    /// left: no challenge `6984`, no such key `6A88`, blocked key `6983`,
    /// wrong MAC `6988`, data shorter than a MAC `6700`.
    pub(super) fn check_mac(
        &self,
        cmd: &Command,
        challenge: Option<[u8; 8]>,
        id: u8,
    ) -> Result<(), StatusWord> {
        if cmd.data.len() < profile::MAC_LEN {
            return Err(StatusWord::WRONG_LENGTH);
        }
        let challenge = challenge.ok_or(StatusWord::REF_DATA_NOT_USABLE)?;
        let key = self
            .memory
            .key(&self.session.df, id)
            .ok_or(StatusWord::REF_DATA_NOT_FOUND)?;
        let bytes = key.key_bytes().ok_or(StatusWord::REF_DATA_NOT_FOUND)?;
        if key.is_blocked() {
            return Err(StatusWord::AUTH_BLOCKED);
        }
        if sm::verify_command_mac(key.algorithm, &bytes, &challenge, cmd) {
            Ok(())
        } else {
            Err(StatusWord::SM_DATA_INCORRECT)
        }
    }
}

/// The data of a MAC-protected command without its 4 MAC bytes (call after
/// [`CardOs::check_mac`], which ensures they are there).
pub(super) fn without_mac(cmd: &Command) -> &[u8] {
    &cmd.data[..cmd.data.len().saturating_sub(profile::MAC_LEN)]
}
