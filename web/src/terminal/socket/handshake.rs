//! A connection's handshake: `hello`, the registration it names (unknown
//! or disabled: fatal `auth_failed`), a fresh `challenge`, and the one
//! `auth_response` it accepts, checked with `verify_challenge` under the
//! registered key on the blocking pool. Anything else before that is
//! answered with `unexpected_message`; the whole handshake has
//! `hello_timeout_secs`.

use std::sync::Arc;
use std::time::Duration;

use cardhub_protocols::terminal::{
    Challenge, Correlated, Envelope, ErrorCode, HexBytes, RegisteredTerminal, Resume,
    TerminalMessage, verify_challenge,
};
use cardhub_storage::terminals::{Terminal, TerminalStatus};
use futures_util::StreamExt;

use super::{Connection, End, Stream, fatal, now_ms};

/// A connection that authenticated: what its `hello` said and the
/// registration it proved.
pub(super) struct Authenticated {
    pub(super) terminal: Terminal,
    pub(super) software_version: String,
    pub(super) resume: Option<Resume>,
    /// The `auth_response`'s id, which the `welcome` answers.
    pub(super) auth_id: String,
}

/// A `hello` answered with a challenge, waiting for its `auth_response`.
struct Challenged {
    terminal: Terminal,
    registered: Arc<RegisteredTerminal>,
    hello_branch: String,
    software_version: String,
    resume: Option<Resume>,
    challenge: Challenge,
    challenge_id: String,
}

impl Connection {
    /// `hello` → `challenge` → `auth_response`, within
    /// `hello_timeout_secs`.
    pub(super) async fn authenticate(&mut self, stream: &mut Stream) -> Result<Authenticated, End> {
        let limit = Duration::from_secs(self.config.hello_timeout_secs.max(1));
        let deadline = tokio::time::sleep(limit);
        tokio::pin!(deadline);
        let mut challenged: Option<Challenged> = None;
        loop {
            let msg = tokio::select! {
                _ = &mut deadline => return Err(fatal(
                    ErrorCode::Timeout,
                    format!(
                        "not authenticated within {} s of connecting: send hello, then answer the challenge with auth_response",
                        limit.as_secs()
                    ),
                    None,
                )),
                msg = stream.next() => msg,
            };
            let Some(envelope) = self.next_message(msg).await? else {
                continue;
            };
            let Envelope {
                id,
                in_reply_to,
                message,
                ..
            } = envelope;
            match message {
                TerminalMessage::Hello {
                    terminal_id,
                    branch,
                    software_version,
                    resume,
                } if challenged.is_none() => {
                    let terminal = self.registration(&terminal_id, &id).await?;
                    let registered = self.sessions.registered(&terminal).await.map_err(|e| {
                        fatal(
                            ErrorCode::AuthFailed,
                            format!(
                                "the key registered for terminal `{terminal_id}` cannot be used ({e}): the centre re-registers the terminal"
                            ),
                            Some(id.clone()),
                        )
                    })?;
                    let challenge = Challenge::random(now_ms());
                    let challenge_id = self.ids.next_id();
                    self.send(Envelope::reply(
                        challenge_id.clone(),
                        id,
                        challenge.to_message(),
                    ))
                    .await?;
                    challenged = Some(Challenged {
                        terminal,
                        registered,
                        hello_branch: branch,
                        software_version,
                        resume,
                        challenge,
                        challenge_id,
                    });
                }
                TerminalMessage::AuthResponse { signature } if challenged.is_some() => {
                    let c = challenged.take().expect("checked by the guard");
                    return self.check_answer(c, id, in_reply_to, signature).await;
                }
                TerminalMessage::Heartbeat => {}
                TerminalMessage::Hello { .. } => {
                    self.error(
                        ErrorCode::UnexpectedMessage,
                        "hello was received already: answer the challenge with auth_response",
                        Some(id),
                    )
                    .await?;
                }
                other => {
                    self.error(
                        ErrorCode::UnexpectedMessage,
                        format!(
                            "`{}` before authentication: send hello first, then answer the hub's challenge with auth_response",
                            other.type_name()
                        ),
                        Some(id),
                    )
                    .await?;
                }
            }
        }
    }

    /// The registration a `hello` names: fatal `auth_failed` when there is
    /// none or it is disabled.
    async fn registration(&self, terminal_id: &str, hello_id: &str) -> Result<Terminal, End> {
        let found = self
            .sessions
            .store()
            .find_terminal(terminal_id.to_owned())
            .await
            .map_err(|e| {
                fatal(
                    ErrorCode::Internal,
                    format!("the hub cannot read its terminal registry ({e}): try again later"),
                    Some(hello_id.to_owned()),
                )
            })?;
        match found {
            None => Err(fatal(
                ErrorCode::AuthFailed,
                format!(
                    "terminal `{terminal_id}` is not registered at this hub: the centre registers it with `cardhub terminals register --id {terminal_id} --branch BRANCH --public-key HEX`"
                ),
                Some(hello_id.to_owned()),
            )),
            Some(t) if t.status == TerminalStatus::Disabled => Err(fatal(
                ErrorCode::AuthFailed,
                format!(
                    "terminal `{terminal_id}` is disabled at this hub: the centre enables it again (`cardhub terminals enable --id {terminal_id}`) or registers a new one"
                ),
                Some(hello_id.to_owned()),
            )),
            Some(t) => Ok(t),
        }
    }

    /// Checks the one `auth_response` a challenge gets.
    async fn check_answer(
        &mut self,
        c: Challenged,
        id: String,
        in_reply_to: Option<String>,
        signature: HexBytes,
    ) -> Result<Authenticated, End> {
        if in_reply_to.as_deref() != Some(c.challenge_id.as_str()) {
            return Err(fatal(
                ErrorCode::AuthFailed,
                format!(
                    "the auth_response answers `{}`, not this connection's challenge `{}`: sign the challenge just received",
                    in_reply_to.unwrap_or_default(),
                    c.challenge_id
                ),
                Some(id),
            ));
        }
        let terminal_id = c.terminal.terminal_id.clone();
        let registered = c.registered.clone();
        let branch = c.hello_branch.clone();
        let challenge = c.challenge.clone();
        // A verification is a few hundred microseconds of arithmetic: on
        // the blocking pool, so a reconnect storm does not stall the
        // workers' other connections.
        let verified = tokio::task::spawn_blocking(move || {
            verify_challenge(
                &registered,
                &terminal_id,
                &branch,
                &challenge,
                signature.as_bytes(),
                now_ms(),
            )
        })
        .await;
        match verified {
            Ok(Ok(())) => Ok(Authenticated {
                terminal: c.terminal,
                software_version: c.software_version,
                resume: c.resume,
                auth_id: id,
            }),
            Ok(Err(e)) => Err(fatal(ErrorCode::AuthFailed, e.to_string(), Some(id))),
            Err(_) => Err(fatal(
                ErrorCode::Internal,
                "the hub failed while checking the signature: try again",
                Some(id),
            )),
        }
    }
}
