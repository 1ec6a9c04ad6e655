//! Terminal authentication: the hub proves a terminal holds the SM2 key
//! registered for it by having it sign a fresh challenge.
//!
//! 1. After `hello`, the hub sends `challenge { nonce, hub_time_ms }`: 32
//!    bytes from the operating system's generator ([`Challenge::random`])
//!    and the hub's clock.
//! 2. The terminal signs `SM3(auth_message(...))` ([`auth_message`]) with
//!    its SM2 key, through [`crate::crypto::Hsm::sign`] (SM2 with SM3 and
//!    the distinguishing ID [`crate::crypto::sm2::DIST_ID`]), and answers
//!    `auth_response { signature }` ([`sign_challenge`]).
//! 3. The hub checks the terminal and branch match the registration, that
//!    the challenge is no older than [`CHALLENGE_WINDOW_MS`], and the
//!    signature under the registered public key ([`verify_challenge`]).
//!
//! The signed bytes name the protocol ([`AUTH_CONTEXT`]), so the signature
//! is worth nothing to any other cardhub protocol; the terminal and branch
//! strings are length-prefixed, so `("ab", "c")` and `("a", "bc")` sign
//! differently. The hub must issue a new challenge for every connection and
//! accept one answer to it; this module cannot see connections, so that
//! rule is the caller's.

use crate::crypto::sm2::{Sm2Error, VerifyingKey};
use crate::crypto::{Hsm, HsmError, KeyLabel, sm3};

use super::bytes::{NONCE_LEN, Nonce};
use super::messages::HubMessage;

/// The domain-separation prefix of the signed message (version 1).
pub const AUTH_CONTEXT: &[u8] = b"cardhub-terminal-auth-v1";

/// How old a challenge may be when its answer is checked. A terminal answers
/// within one round trip and one signature; 30 s covers a slow branch line
/// and a busy HSM, and bounds how long a captured challenge is worth
/// anything.
pub const CHALLENGE_WINDOW_MS: i64 = 30_000;

/// A challenge the hub issued: what it sent, kept until the answer comes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// The random bytes.
    pub nonce: Nonce,
    /// The hub's clock when it was made (Unix ms).
    pub hub_time_ms: i64,
}

impl Challenge {
    /// A challenge with a fresh nonce from the operating system's generator.
    pub fn random(hub_time_ms: i64) -> Self {
        let mut nonce = [0u8; NONCE_LEN];
        crate::crypto::os_random(&mut nonce);
        Self {
            nonce: Nonce(nonce),
            hub_time_ms,
        }
    }

    /// The `challenge` message that carries it.
    pub fn to_message(&self) -> HubMessage {
        HubMessage::Challenge {
            nonce: self.nonce,
            hub_time_ms: self.hub_time_ms,
        }
    }
}

/// What a terminal is registered as at the hub: its id, its branch and its
/// SM2 public key (prepared once, see [`VerifyingKey`]).
#[derive(Debug)]
pub struct RegisteredTerminal {
    /// The terminal's id.
    pub terminal_id: String,
    /// The branch it belongs to.
    pub branch: String,
    /// Its public key.
    pub key: VerifyingKey,
}

/// Why a terminal was not let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The `hello` names another terminal than the registration checked.
    #[error(
        "the terminal says it is `{claimed}` but the key checked is registered to `{registered}`: look the registration up by the hello's terminal_id"
    )]
    WrongTerminal {
        /// The id in the `hello`.
        claimed: String,
        /// The id of the registration.
        registered: String,
    },
    /// The terminal is registered to another branch.
    #[error(
        "terminal `{terminal_id}` says it serves branch `{claimed}` but is registered to `{registered}`: fix the terminal's config or re-register it"
    )]
    WrongBranch {
        /// The terminal.
        terminal_id: String,
        /// The branch in the `hello`.
        claimed: String,
        /// The branch of the registration.
        registered: String,
    },
    /// The challenge is older than the window (or from the future, when
    /// the hub's clock stepped back): the terminal must reconnect.
    #[error(
        "the challenge is {age_ms} ms old, outside the {window_ms} ms window: the terminal answered too late; it should reconnect"
    )]
    StaleChallenge {
        /// `now_ms - hub_time_ms` (negative when from the future).
        age_ms: i64,
        /// The window allowed.
        window_ms: i64,
    },
    /// The signature is not 64 bytes `r || s` in range.
    #[error("the terminal's auth_response is malformed: {0}")]
    MalformedSignature(Sm2Error),
    /// The signature does not verify: another key, or other signed bytes.
    #[error(
        "the terminal's signature does not verify under its registered key: it holds another key (re-register it) or signed another challenge"
    )]
    BadSignature,
}

/// The bytes whose SM3 digest a terminal signs:
/// `AUTH_CONTEXT || len(terminal_id) || terminal_id || len(branch) ||
/// branch || nonce || hub_time_ms`, lengths and time as 8-byte big-endian
/// integers, strings as UTF-8.
pub fn auth_message(terminal_id: &str, branch: &str, nonce: &Nonce, hub_time_ms: i64) -> Vec<u8> {
    let mut message = Vec::with_capacity(
        AUTH_CONTEXT.len() + 16 + terminal_id.len() + branch.len() + NONCE_LEN + 8,
    );
    message.extend_from_slice(AUTH_CONTEXT);
    for field in [terminal_id, branch] {
        message.extend_from_slice(&(field.len() as u64).to_be_bytes());
        message.extend_from_slice(field.as_bytes());
    }
    message.extend_from_slice(&nonce.0);
    message.extend_from_slice(&hub_time_ms.to_be_bytes());
    message
}

/// What the SM2 signature is made over: `SM3(auth_message(...))`.
fn signed_digest(terminal_id: &str, branch: &str, challenge: &Challenge) -> [u8; sm3::DIGEST_LEN] {
    sm3::digest(&auth_message(
        terminal_id,
        branch,
        &challenge.nonce,
        challenge.hub_time_ms,
    ))
}

/// The terminal's answer to a challenge: the SM2 signature (`r || s`) by the
/// key `key` held in `hsm`, for the `auth_response`.
pub fn sign_challenge<H: Hsm + ?Sized>(
    hsm: &H,
    key: &KeyLabel,
    terminal_id: &str,
    branch: &str,
    challenge: &Challenge,
) -> Result<[u8; 64], HsmError> {
    hsm.sign(key, &signed_digest(terminal_id, branch, challenge))
}

/// The hub's check of an `auth_response`: the `hello`'s terminal id and
/// branch against the registration, the challenge's age at `now_ms`, and
/// the signature under the registered key.
pub fn verify_challenge(
    registered: &RegisteredTerminal,
    terminal_id: &str,
    branch: &str,
    challenge: &Challenge,
    signature: &[u8],
    now_ms: i64,
) -> Result<(), AuthError> {
    if terminal_id != registered.terminal_id {
        return Err(AuthError::WrongTerminal {
            claimed: terminal_id.to_owned(),
            registered: registered.terminal_id.clone(),
        });
    }
    if branch != registered.branch {
        return Err(AuthError::WrongBranch {
            terminal_id: terminal_id.to_owned(),
            claimed: branch.to_owned(),
            registered: registered.branch.clone(),
        });
    }
    let age_ms = now_ms.saturating_sub(challenge.hub_time_ms);
    if !(0..=CHALLENGE_WINDOW_MS).contains(&age_ms) {
        return Err(AuthError::StaleChallenge {
            age_ms,
            window_ms: CHALLENGE_WINDOW_MS,
        });
    }
    let digest = signed_digest(terminal_id, branch, challenge);
    match registered.key.verify(&digest, signature) {
        Ok(true) => Ok(()),
        Ok(false) => Err(AuthError::BadSignature),
        Err(e) => Err(AuthError::MalformedSignature(e)),
    }
}
