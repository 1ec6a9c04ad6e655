//! Reading and writing a connection's frames: a frame's `v` first
//! (another version is a fatal `unsupported_version`), then the whole
//! envelope (anything else wrong is a non-fatal `malformed` naming it);
//! control frames answered here; every write bounded by `timeout_secs`, so
//! a terminal that takes nothing is closed rather than waited for.

use std::time::{Duration, Instant};

use actix_ws::AggregatedMessage;
use bytestring::ByteString;
use cardhub_protocols::terminal::{
    Envelope, ErrorCode, HubMessage, TerminalMessage, VERSION, VersionProbe,
};
use serde::Deserialize;

use super::{Connection, End, fatal};
use crate::terminal::link::frame;

impl Connection {
    /// The next message; `None` for control frames and for frames answered
    /// with a non-fatal error.
    pub(super) async fn next_message(
        &mut self,
        msg: Option<Result<AggregatedMessage, actix_ws::ProtocolError>>,
    ) -> Result<Option<Envelope<TerminalMessage>>, End> {
        let msg = match msg {
            None => return Err(End::Gone),
            Some(Err(e)) => {
                return Err(fatal(
                    ErrorCode::Malformed,
                    format!(
                        "unreadable frame: {e}; frames are JSON text of at most {} bytes",
                        self.config.max_message_bytes
                    ),
                    None,
                ));
            }
            Some(Ok(msg)) => msg,
        };
        self.last_heard = Instant::now();
        match msg {
            AggregatedMessage::Text(text) => self.parse(&text).await,
            AggregatedMessage::Binary(_) => {
                self.error(
                    ErrorCode::Malformed,
                    "binary frames are not part of this protocol: send each message as JSON text",
                    None,
                )
                .await?;
                Ok(None)
            }
            AggregatedMessage::Ping(bytes) => {
                timed(self.config.timeout(), self.ws.pong(&bytes)).await?;
                Ok(None)
            }
            AggregatedMessage::Pong(_) => Ok(None),
            AggregatedMessage::Close(_) => Err(End::Gone),
        }
    }

    /// A text frame: its version first, then the envelope.
    async fn parse(&mut self, text: &str) -> Result<Option<Envelope<TerminalMessage>>, End> {
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.error(ErrorCode::Malformed, format!("not JSON: {e}"), None)
                    .await?;
                return Ok(None);
            }
        };
        let id = value
            .get("id")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        match VersionProbe::deserialize(&value) {
            Err(e) => {
                self.error(
                    ErrorCode::Malformed,
                    format!("every frame carries `v`, the protocol version ({VERSION}): {e}"),
                    id,
                )
                .await?;
                return Ok(None);
            }
            Ok(probe) if probe.check().is_err() => {
                return Err(fatal(
                    ErrorCode::UnsupportedVersion,
                    format!(
                        "this hub speaks /ws/terminal version {VERSION}, the frame is version {}: update the terminal's software or point it at a hub of its version",
                        probe.v
                    ),
                    id,
                ));
            }
            Ok(_) => {}
        }
        match Envelope::<TerminalMessage>::deserialize(value) {
            Ok(envelope) => Ok(Some(envelope)),
            Err(e) => {
                self.error(
                    ErrorCode::Malformed,
                    format!(
                        "not a valid message: {e}; a terminal sends hello, auth_response, device_list, device_event, response, heartbeat and ack (docs/terminal-protocol.md)"
                    ),
                    id,
                )
                .await?;
                Ok(None)
            }
        }
    }

    /// A non-fatal `error`, answering `reply_to` when given.
    pub(super) async fn error(
        &mut self,
        code: ErrorCode,
        message: impl Into<String>,
        reply_to: Option<String>,
    ) -> Result<(), End> {
        let message = HubMessage::Error {
            code,
            message: message.into(),
            fatal: false,
        };
        let id = self.ids.next_id();
        self.send(match reply_to {
            Some(to) => Envelope::reply(id, to, message),
            None => Envelope::new(id, message),
        })
        .await
    }

    pub(super) async fn send(&mut self, envelope: Envelope<HubMessage>) -> Result<(), End> {
        self.write(frame(&envelope)).await
    }

    pub(super) async fn write(&mut self, text: ByteString) -> Result<(), End> {
        timed(self.config.timeout(), self.ws.text(text)).await?;
        self.last_sent = Instant::now();
        Ok(())
    }
}

/// Runs a send on the socket, giving up after `limit`: a terminal that
/// takes nothing is closed rather than waited for.
async fn timed(
    limit: Duration,
    send: impl std::future::Future<Output = Result<(), actix_ws::Closed>>,
) -> Result<(), End> {
    match tokio::time::timeout(limit, send).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(actix_ws::Closed)) => Err(End::Gone),
        Err(_) => Err(fatal(
            ErrorCode::Timeout,
            format!(
                "this terminal took nothing for {} s: closing",
                limit.as_secs()
            ),
            None,
        )),
    }
}
