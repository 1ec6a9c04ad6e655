//! `GET /ws/terminal`: one branch terminal's connection
//! (`docs/terminal-protocol.md`), one task per connection.
//!
//! ```text
//! upgrade ─► hello ─► challenge ─► auth_response ─► welcome (+ resume_refused)
//!         ─► pushes re-sent ─► link registered in cardhub_devices::remote::links()
//!         ─► loop: frames in (device_list, device_event → ack, response, ack,
//!                  heartbeat), send queue out (requests, pushes),
//!                  heartbeat tick, close requests (replaced, overloaded,
//!                  disabled)
//!         ─► link removed, waiting requests failed, session cut
//! ```
//!
//! Every frame is read in two steps: its `v` first (another version is a
//! fatal `unsupported_version`), then the whole envelope (a frame that is
//! not a valid message gets a non-fatal `malformed` naming what is wrong).
//! A frame larger than `[terminal] max_message_bytes` is fatal. Messages in
//! the wrong order get a non-fatal `unexpected_message`.
//!
//! Layout: this file (the endpoint, the linked loop, the end);
//! `handshake` (hello, challenge, auth_response); `frames` (reading,
//! parsing and writing frames).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, get, web};
use actix_ws::{CloseCode, CloseReason, Session};
use cardhub_devices::remote::{RemoteLink, links};
use cardhub_protocols::terminal::{Correlated, Envelope, ErrorCode, HubMessage, TerminalMessage};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::config::TerminalConfig;
use super::link::{Fatal, Ids, Outgoing, TerminalLink, frame};
use super::sessions::{STOPPING, TerminalSessions};
use super::table::{EventOutcome, Hello};
use crate::state::AppState;

mod frames;
mod handshake;

use handshake::Authenticated;

/// Opens a branch terminal's link.
///
/// The terminal authenticates inside the protocol (an SM2 signature over
/// the hub's challenge), so the upgrade itself needs no credentials. Frames
/// are envelopes of `TerminalLinkTerminalMessage` (in) and
/// `TerminalLinkHubMessage` (out); the protocol is in
/// `docs/terminal-protocol.md`.
#[utoipa::path(
    get,
    path = "/ws/terminal",
    tag = "terminals",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; frames are envelopes of TerminalLinkTerminalMessage (in) and TerminalLinkHubMessage (out)"),
        (status = 400, description = "Not a WebSocket upgrade request"),
    ),
)]
#[get("/ws/terminal")]
pub async fn connect(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let (response, ws, stream) = actix_ws::handle(&req, body)?;
    let sessions = state.terminals.clone();
    let config = sessions.config().clone();
    let stream = stream
        .max_frame_size(config.max_message_bytes)
        .aggregate_continuations()
        .max_continuation_size(config.max_message_bytes);
    let peer = req
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".to_owned());
    actix_web::rt::spawn(async move {
        let mut connection = Connection {
            conn: sessions.next_conn(),
            sessions,
            config,
            ws,
            peer,
            ids: Arc::new(Ids::default()),
            last_heard: Instant::now(),
            last_sent: Instant::now(),
            linked: None,
        };
        let end = match connection.serve(stream).await {
            Ok(never) => match never {},
            Err(end) => end,
        };
        connection.finish(end).await;
    });
    Ok(response)
}

type Stream = actix_ws::AggregatedMessageStream;

/// Why a connection ends.
enum End {
    /// The terminal closed it, or went away.
    Gone,
    /// The hub closes it after a fatal `error`.
    Fatal {
        fatal: Fatal,
        /// The frame that caused it, if one did.
        reply_to: Option<String>,
    },
}

fn fatal(code: ErrorCode, message: impl Into<String>, reply_to: Option<String>) -> End {
    End::Fatal {
        fatal: Fatal {
            code,
            message: message.into(),
        },
        reply_to,
    }
}

/// The linked state, kept so the end can undo it.
struct Linked {
    terminal_id: String,
    link: Arc<TerminalLink>,
    /// The same link as registered in `links()` (removal compares it).
    registered: Option<Arc<dyn RemoteLink>>,
}

/// One terminal's connection.
struct Connection {
    sessions: TerminalSessions,
    config: TerminalConfig,
    ws: Session,
    peer: String,
    conn: u64,
    ids: Arc<Ids>,
    last_heard: Instant,
    last_sent: Instant,
    linked: Option<Linked>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Connection {
    async fn serve(&mut self, mut stream: Stream) -> Result<std::convert::Infallible, End> {
        if self.sessions.stopping() {
            return Err(fatal(ErrorCode::Internal, STOPPING, None));
        }
        let auth = self.authenticate(&mut stream).await?;
        let terminal_id = auth.terminal.terminal_id.clone();
        let (link, mut outgoing) = self.link_up(auth).await?;
        // Often enough that a heartbeat is never much later than due.
        let mut tick =
            tokio::time::interval((self.config.heartbeat() / 3).max(Duration::from_millis(100)));
        tick.tick().await;
        loop {
            tokio::select! {
                fatal = link.closed() => return Err(End::Fatal { fatal, reply_to: None }),
                out = outgoing.recv() => {
                    // The link holds the sender for as long as this task runs.
                    let Some(Outgoing { text, request }) = out else { return Err(End::Gone) };
                    self.write(text).await?;
                    if let Some(n) = request {
                        link.mark_sent(n);
                    }
                }
                msg = stream.next() => {
                    if let Some(envelope) = self.next_message(msg).await? {
                        self.on_message(&terminal_id, &link, envelope).await?;
                    }
                }
                _ = tick.tick() => self.beat().await?,
            }
        }
    }

    /// Attaches the authenticated connection to its session, sends the
    /// `welcome` (and `resume_refused`) and the pushes to re-send, then
    /// registers the link for the remote device drivers. Returns the link
    /// and its send queue.
    async fn link_up(
        &mut self,
        auth: Authenticated,
    ) -> Result<(Arc<TerminalLink>, mpsc::Receiver<Outgoing>), End> {
        let terminal_id = auth.terminal.terminal_id.clone();
        let (queue, outgoing) = mpsc::channel(self.config.send_queue.max(1));
        let link = Arc::new(TerminalLink::new(
            &terminal_id,
            self.conn,
            self.ids.clone(),
            queue,
            self.config.max_in_flight,
        ));
        let attached = self.sessions.attach(
            &Hello {
                terminal_id: &terminal_id,
                branch: &auth.terminal.branch_code,
                branch_name: &auth.terminal.branch_name,
                software_version: &auth.software_version,
                resume: auth.resume.as_ref(),
                peer: &self.peer,
                now: Instant::now(),
                now_ms: now_ms(),
            },
            &link,
        );
        self.linked = Some(Linked {
            terminal_id: terminal_id.clone(),
            link: link.clone(),
            registered: None,
        });
        if self.sessions.stopping() {
            // Authenticated while the hub began to stop: not kept.
            link.close(ErrorCode::Internal, STOPPING);
        }
        self.send(Envelope::reply(
            self.ids.next_id(),
            auth.auth_id,
            HubMessage::Welcome {
                session: attached.session.clone(),
                heartbeat_secs: self.config.heartbeat().as_secs(),
                timeout_secs: self.config.timeout().as_secs(),
                resumed: attached.resumed,
                last_seq: attached.last_seq,
            },
        ))
        .await?;
        if let Some(why) = attached.refused {
            self.error(ErrorCode::ResumeRefused, why, None).await?;
        }
        for (seq, event) in attached.resend {
            self.send(Envelope::new(
                self.ids.next_id(),
                HubMessage::Push { seq, event },
            ))
            .await?;
        }
        let registered: Arc<dyn RemoteLink> = link.clone();
        links().insert(registered.clone());
        if let Some(linked) = &mut self.linked {
            linked.registered = Some(registered);
        }
        self.touch(&terminal_id).await;
        tracing::info!(
            terminal = %terminal_id,
            peer = %self.peer,
            session = %attached.session,
            resumed = attached.resumed,
            "terminal linked"
        );
        Ok((link, outgoing))
    }

    /// Records when and from where the terminal was seen (a failure is
    /// logged: it is bookkeeping, not the link).
    async fn touch(&self, terminal_id: &str) {
        if let Err(e) = self
            .sessions
            .store()
            .touch_terminal(
                terminal_id.to_owned(),
                cardhub_storage::utc_now(),
                Some(self.peer.clone()),
            )
            .await
        {
            tracing::warn!(terminal = %terminal_id, error = %e, "cannot record when the terminal was seen");
        }
    }

    /// One message of a linked terminal.
    async fn on_message(
        &mut self,
        terminal_id: &str,
        link: &TerminalLink,
        envelope: Envelope<TerminalMessage>,
    ) -> Result<(), End> {
        let Envelope {
            id,
            in_reply_to,
            message,
            ..
        } = envelope;
        match message {
            TerminalMessage::Heartbeat => {}
            TerminalMessage::DeviceList { devices } => {
                self.sessions.device_list(terminal_id, self.conn, devices);
            }
            TerminalMessage::DeviceEvent { seq, device, event } => {
                match self
                    .sessions
                    .device_event(terminal_id, self.conn, seq, &device, &event)
                {
                    Some(EventOutcome::Applied { ack, .. } | EventOutcome::Duplicate { ack }) => {
                        self.send(Envelope::new(
                            self.ids.next_id(),
                            HubMessage::Ack { seq: ack },
                        ))
                        .await?;
                    }
                    Some(EventOutcome::Gap { expected, got }) => {
                        return Err(fatal(
                            ErrorCode::UnexpectedMessage,
                            format!(
                                "device_event seq {got} came when {expected} was due: events were lost on the way; reconnect and resume, re-sending from seq {expected}"
                            ),
                            Some(id),
                        ));
                    }
                    // Replaced by another connection: its events count.
                    None => {}
                }
            }
            TerminalMessage::Response { result } => {
                let answers = in_reply_to.unwrap_or_default();
                if !link.complete(&answers, result) {
                    tracing::warn!(
                        terminal = %terminal_id,
                        in_reply_to = %answers,
                        "a response to no waiting request (it timed out, or was never asked): dropped"
                    );
                }
            }
            TerminalMessage::Ack { seq } => {
                if let Err(e) = self.sessions.ack(terminal_id, self.conn, seq) {
                    self.error(ErrorCode::UnexpectedMessage, e.to_string(), Some(id))
                        .await?;
                }
            }
            TerminalMessage::Hello { .. } | TerminalMessage::AuthResponse { .. } => {
                self.error(
                    ErrorCode::UnexpectedMessage,
                    "this connection is authenticated already: to start again, close it and connect anew",
                    Some(id),
                )
                .await?;
            }
            other => {
                self.error(
                    ErrorCode::UnexpectedMessage,
                    format!(
                        "this hub does not take `{}` from a terminal",
                        other.type_name()
                    ),
                    Some(id),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// The heartbeat tick: closes a silent terminal, sends a heartbeat when
    /// nothing else went out for `heartbeat_secs`.
    async fn beat(&mut self) -> Result<(), End> {
        if self.last_heard.elapsed() > self.config.timeout() {
            return Err(fatal(
                ErrorCode::Timeout,
                format!(
                    "nothing heard from this terminal for {} s: closing; reconnect and resume",
                    self.config.timeout().as_secs()
                ),
                None,
            ));
        }
        if self.last_sent.elapsed() >= self.config.heartbeat() {
            self.send(Envelope::new(self.ids.next_id(), HubMessage::Heartbeat))
                .await?;
        }
        Ok(())
    }

    /// Undoes the link (registry, waiting requests, session) and closes
    /// the socket, after the fatal error if there is one.
    async fn finish(mut self, end: End) {
        let why = match &end {
            End::Gone => "the connection closed".to_owned(),
            End::Fatal { fatal, .. } => fatal.message.clone(),
        };
        if let Some(linked) = self.linked.take() {
            if let Some(registered) = &linked.registered {
                links().remove(registered);
            }
            linked.link.fail_all();
            self.sessions.detach(&linked.terminal_id, self.conn, &why);
            tracing::info!(terminal = %linked.terminal_id, peer = %self.peer, reason = %why, "terminal link down");
            self.touch(&linked.terminal_id).await;
        }
        let reason = match end {
            End::Gone => None,
            End::Fatal { fatal, reply_to } => {
                tracing::info!(peer = %self.peer, code = ?fatal.code, message = %fatal.message, "closing a terminal connection");
                let message = HubMessage::Error {
                    code: fatal.code,
                    message: fatal.message,
                    fatal: true,
                };
                let id = self.ids.next_id();
                let envelope = match reply_to {
                    Some(to) => Envelope::reply(id, to, message),
                    None => Envelope::new(id, message),
                };
                // Best effort: a stalled terminal may not take even this.
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), self.ws.text(frame(&envelope)))
                        .await;
                Some(CloseReason {
                    code: CloseCode::Policy,
                    description: Some(
                        serde_json::to_value(fatal.code)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                    ),
                })
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.close(reason)).await;
    }
}
