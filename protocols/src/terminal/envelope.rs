//! The envelope every `/ws/terminal` frame is: one JSON object
//! `{ "v": 1, "id": "...", "in_reply_to": "...", "type": "...", "payload": {...} }`.
//!
//! - `v` is the link protocol version ([`super::VERSION`]); see the version
//!   rules in [`super`].
//! - `id` names this message, unique per sender and connection (a counter
//!   string such as `"t-17"` or a UUID; opaque to the receiver).
//! - `in_reply_to` (absent when not a reply) is the `id` of the message this
//!   one answers: a `challenge` answers a `hello`, an `auth_response` the
//!   `challenge`, a `welcome` the `auth_response`, a `response` a
//!   `request`, an `error` whatever caused it (if anything). Those four
//!   replies are refused without it ([`Correlated::needs_reply_to`]).
//! - `type` and `payload` are the message itself ([`super::TerminalMessage`]
//!   or [`super::HubMessage`]); `payload` is absent for messages without
//!   fields (`heartbeat`).
//!
//! Unknown top-level keys are refused, as are unknown keys inside payloads.
//! Decoding is two steps, like the frame parsers elsewhere in this crate:
//! read the `v` alone with [`VersionProbe`] (it ignores every other key),
//! and only when it is [`super::VERSION`] decode the whole [`Envelope`].
//! That way a peer speaking another version gets `unsupported_version`
//! rather than a confusing field error.

use std::collections::BTreeMap;

use serde::de::{Error as _, IgnoredAny};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::VERSION;

/// The keys an envelope may carry (for error messages).
const ENVELOPE_KEYS: &[&str] = &["v", "id", "in_reply_to", "type", "payload"];

/// One frame of the link: the version, the message's id, what it answers,
/// and the message. `M` is [`super::TerminalMessage`] or
/// [`super::HubMessage`].
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Envelope<M> {
    /// Protocol version, [`VERSION`].
    pub v: u32,
    /// This message's id, unique per sender and connection.
    pub id: String,
    /// The id of the message this one answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// The message: `type` and `payload`.
    #[serde(flatten)]
    pub message: M,
}

impl<M: Correlated> Envelope<M> {
    /// A message that answers nothing, at the current [`VERSION`].
    pub fn new(id: impl Into<String>, message: M) -> Self {
        Self {
            v: VERSION,
            id: id.into(),
            in_reply_to: None,
            message,
        }
    }

    /// A message answering the message `to`, at the current [`VERSION`].
    pub fn reply(id: impl Into<String>, to: impl Into<String>, message: M) -> Self {
        Self {
            v: VERSION,
            id: id.into(),
            in_reply_to: Some(to.into()),
            message,
        }
    }
}

/// What the envelope needs to know about a message enum.
pub trait Correlated {
    /// The `type` on the wire.
    fn type_name(&self) -> &'static str;
    /// Whether this message is only valid as a reply (`in_reply_to` set).
    fn needs_reply_to(&self) -> bool;
}

/// The shape an envelope is read through: the known keys, the message, and
/// whatever keys are left, which must be none.
#[derive(Deserialize)]
struct RawEnvelope<M> {
    v: u32,
    id: String,
    #[serde(default)]
    in_reply_to: Option<String>,
    #[serde(flatten)]
    message: M,
    #[serde(flatten)]
    unknown: BTreeMap<String, IgnoredAny>,
}

impl<'de, M> Deserialize<'de> for Envelope<M>
where
    M: Deserialize<'de> + Correlated,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawEnvelope::<M>::deserialize(deserializer)?;
        if let Some(key) = raw.unknown.keys().next() {
            return Err(D::Error::unknown_field(key, ENVELOPE_KEYS));
        }
        if raw.message.needs_reply_to() && raw.in_reply_to.is_none() {
            return Err(D::Error::custom(format_args!(
                "a `{}` must carry `in_reply_to`, the id of the message it answers",
                raw.message.type_name()
            )));
        }
        Ok(Self {
            v: raw.v,
            id: raw.id,
            in_reply_to: raw.in_reply_to,
            message: raw.message,
        })
    }
}

/// The first decoding step: the `v` of a frame, every other key ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct VersionProbe {
    /// The version the sender speaks.
    pub v: u32,
}

impl VersionProbe {
    /// `Ok` when the frame is of the version this crate speaks; otherwise
    /// the error to send back (fatal: the link is closed after it).
    pub fn check(self) -> Result<(), super::ErrorCode> {
        if self.v == VERSION {
            Ok(())
        } else {
            Err(super::ErrorCode::UnsupportedVersion)
        }
    }
}
