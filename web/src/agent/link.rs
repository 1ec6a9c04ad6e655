//! The WebSocket to the hub: connects (awc), feeds every frame to the
//! [`Session`] and does what it says, carries the devices' events and
//! answers the other way, keeps the heartbeat and the silence timeout the
//! hub's `welcome` gave, and reconnects with exponential back-off and
//! jitter when the link drops.
//!
//! Each change is one line on standard output, for operators and tests:
//!
//! ```text
//! linked session=S-17 resumed=false
//! link down: no frame from the hub for 60 s (reconnecting in 0.4 s)
//! auth failed: terminal T-0101-01 is not registered
//! outcome OP-9 card_check completed: the card is genuine
//! notice: the counter closes at 17:00
//! card_ready APP-123
//! terminal stopped
//! ```
//!
//! SIGINT and SIGTERM close the socket with a normal close frame and end
//! the loop. Requests in flight when the link drops are not answered on
//! the next connection (the hub failed them).

use std::sync::Arc;
use std::time::Duration;

use awc::ws::{CloseCode, CloseReason, Frame, Message};
use cardhub_actors::supervision::{Backoff, BackoffPolicy, Jitter};
use cardhub_protocols::terminal::{CommandResult, Envelope, Outcome, PushEvent, TerminalMessage};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::config::LinkSettings;
use super::devices::{AgentEvent, Registry};
use super::session::{Action, LinkDown, Session, code_name};

/// How long a link must have stayed up for its cut to count as a first
/// failure again (the next attempt comes after the shortest delay): a hub
/// that welcomes and then drops every connection is still backed off.
const STABLE_LINK: Duration = Duration::from_secs(30);

/// The largest frame accepted from the hub: a request carrying a colour
/// panel (a 1016 x 648 PNG, base64) is a few MB.
const MAX_FRAME: usize = 32 * 1024 * 1024;

/// How a connection ended.
enum Ended {
    /// SIGINT or SIGTERM.
    Shutdown,
    /// The link dropped; `slow`: wait the longest delay (the hub refused
    /// the terminal, which a quick retry does not change).
    Down { reason: String, slow: bool },
}

impl Ended {
    fn down(reason: impl Into<String>) -> Self {
        Self::Down {
            reason: reason.into(),
            slow: false,
        }
    }
}

/// The reconnecting link.
pub struct Link {
    url: String,
    settings: LinkSettings,
    session: Session,
    registry: Arc<Registry>,
    events: UnboundedReceiver<AgentEvent>,
    /// Counts connections; answers carry the one their request came on.
    connection: u64,
    /// When the current connection's `welcome` came.
    linked_at: Option<Instant>,
    shutdown: watch::Receiver<bool>,
}

impl Link {
    /// A link to `url` that has not connected yet.
    pub fn new(
        url: String,
        settings: LinkSettings,
        session: Session,
        registry: Arc<Registry>,
        events: UnboundedReceiver<AgentEvent>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            url,
            settings,
            session,
            registry,
            events,
            connection: 0,
            linked_at: None,
            shutdown,
        }
    }

    /// Connects, serves, reconnects, until shut down.
    pub async fn run(mut self) {
        let policy = BackoffPolicy {
            initial: Duration::from_millis(self.settings.reconnect_initial_ms.max(1)),
            max: Duration::from_secs(self.settings.reconnect_max_secs.max(1)),
            jitter: Jitter::Equal,
            stable_after: STABLE_LINK,
        };
        let mut backoff = Backoff::new(policy);
        loop {
            self.connection += 1;
            self.linked_at = None;
            let ended = self.connect_and_serve().await;
            self.session.disconnected();
            if let Some(at) = self.linked_at {
                backoff.child_ran_for(at.elapsed());
            }
            let (reason, slow) = match ended {
                Ended::Shutdown => break,
                Ended::Down { reason, slow } => (reason, slow),
            };
            let delay = if slow {
                policy.max
            } else {
                backoff.next_delay(&mut rand::rng())
            };
            println!(
                "link down: {reason} (reconnecting in {:.1} s)",
                delay.as_secs_f64()
            );
            tracing::warn!(%reason, ?delay, unacked = self.session.unacked(), "link down");
            if self.wait(delay).await {
                break;
            }
        }
        println!("terminal stopped");
    }

    /// Waits `delay` before the next attempt, keeping the device events;
    /// true when shut down meanwhile.
    async fn wait(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                _ = sleep_until(until) => return false,
                _ = self.shutdown.changed() => return true,
                Some(event) = self.events.recv() => {
                    // Nothing to send while down: events are kept, answers
                    // dropped (the hub failed their requests).
                    let _ = self.on_event(event);
                }
            }
        }
    }

    async fn connect_and_serve(&mut self) -> Ended {
        if *self.shutdown.borrow() {
            return Ended::Shutdown;
        }
        let connect_timeout = self.settings.connect_timeout();
        let client = awc::Client::builder().timeout(connect_timeout).finish();
        let connecting = client
            .ws(self.url.as_str())
            .max_frame_size(MAX_FRAME)
            .connect();
        let mut ws = tokio::select! {
            _ = self.shutdown.changed() => return Ended::Shutdown,
            connected = tokio::time::timeout(connect_timeout, connecting) => match connected {
                Err(_) => return Ended::down(format!("no answer from {} within {connect_timeout:?}", self.url)),
                Ok(Err(e)) => return Ended::down(format!("cannot connect to {}: {e}", self.url)),
                Ok(Ok((_, ws))) => ws,
            },
        };
        let hello = self.session.connect();
        if let Err(e) = ws.send(text(&hello)).await {
            return Ended::down(format!("cannot send hello: {e}"));
        }
        let mut last_sent = Instant::now();
        let mut last_received = Instant::now();
        // Until welcome, the handshake's deadline; after it, the hub's.
        let mut silence = Some(self.settings.handshake_timeout());
        let mut heartbeat: Option<Duration> = None;
        loop {
            let silent_until = silence.map(|s| last_received + s);
            let beat_at = heartbeat.map(|h| last_sent + h);
            let mut out: Vec<Envelope<TerminalMessage>> = Vec::new();
            tokio::select! {
                _ = self.shutdown.changed() => {
                    let close = Message::Close(Some(CloseReason {
                        code: CloseCode::Normal,
                        description: Some("terminal stopping".to_owned()),
                    }));
                    let _ = ws.send(close).await;
                    return Ended::Shutdown;
                }
                _ = sleep_until(silent_until.unwrap_or_else(far_future)), if silent_until.is_some() => {
                    let waited = silence.unwrap_or_default();
                    return Ended::down(if heartbeat.is_some() {
                        format!("no frame from the hub for {} s", waited.as_secs())
                    } else {
                        format!("the hub did not complete the handshake within {} s", waited.as_secs())
                    });
                }
                _ = sleep_until(beat_at.unwrap_or_else(far_future)), if beat_at.is_some() => {
                    out.push(self.session.heartbeat());
                }
                Some(event) = self.events.recv() => {
                    out.extend(self.on_event(event));
                }
                frame = ws.next() => {
                    last_received = Instant::now();
                    let text = match frame {
                        None => return Ended::down("the hub closed the connection"),
                        Some(Err(e)) => return Ended::down(format!("WebSocket error: {e}")),
                        Some(Ok(Frame::Text(bytes))) => bytes,
                        Some(Ok(Frame::Ping(payload))) => {
                            if let Err(e) = ws.send(Message::Pong(payload)).await {
                                return Ended::down(format!("cannot answer the hub's ping: {e}"));
                            }
                            continue;
                        }
                        Some(Ok(Frame::Pong(_))) => continue,
                        Some(Ok(Frame::Close(reason))) => {
                            let _ = ws.send(Message::Close(None)).await;
                            return Ended::down(match reason {
                                Some(CloseReason { code, description }) => format!(
                                    "the hub closed the link ({code:?}{})",
                                    description.map(|d| format!(": {d}")).unwrap_or_default()
                                ),
                                None => "the hub closed the link".to_owned(),
                            });
                        }
                        Some(Ok(other)) => {
                            tracing::warn!(?other, "a non-text frame from the hub was dropped");
                            continue;
                        }
                    };
                    let Ok(text) = std::str::from_utf8(&text) else {
                        tracing::warn!("a text frame from the hub that is not UTF-8 was dropped");
                        continue;
                    };
                    let registry = Arc::clone(&self.registry);
                    let actions = match self.session.receive(text, || registry.list()) {
                        Ok(actions) => actions,
                        Err(down) => return self.dropped(down),
                    };
                    for action in actions {
                        match action {
                            Action::Send(envelope) => out.push(envelope),
                            Action::Linked { session, resumed, heartbeat: beat, timeout } => {
                                println!("linked session={session} resumed={resumed}");
                                tracing::info!(%session, resumed, "linked to the hub");
                                self.linked_at = Some(Instant::now());
                                heartbeat = beat;
                                silence = timeout;
                            }
                            Action::Run { request_id, device, command } => {
                                if let Err(error) = self.registry.dispatch(
                                    self.connection,
                                    request_id.clone(),
                                    &device,
                                    command,
                                ) {
                                    out.extend(self.session.response(request_id, CommandResult::Error(error)));
                                }
                            }
                            Action::Pushed(event) => print_push(&event),
                            Action::HubError { code, message } => {
                                println!("hub error {}: {message}", code_name(code));
                                tracing::warn!(code = %code_name(code), %message, "error from the hub");
                            }
                        }
                    }
                }
            }
            for envelope in out {
                if let Err(e) = ws.send(text(&envelope)).await {
                    return Ended::down(format!("cannot send to the hub: {e}"));
                }
                last_sent = Instant::now();
            }
        }
    }

    /// What to do with a device's news; the frames to send (none when the
    /// link is down).
    fn on_event(&mut self, event: AgentEvent) -> Vec<Envelope<TerminalMessage>> {
        match event {
            AgentEvent::Device { device, event } => {
                match self.session.event(device.clone(), event) {
                    Ok(frame) => frame.into_iter().collect(),
                    Err(e) => {
                        tracing::warn!(%device, error = %e, "a device event was dropped");
                        Vec::new()
                    }
                }
            }
            AgentEvent::DevicesChanged => self
                .session
                .device_list(self.registry.list())
                .into_iter()
                .collect(),
            AgentEvent::Answer {
                connection,
                request_id,
                result,
            } => {
                if connection != self.connection {
                    tracing::info!(%request_id, "an answer to a request of an earlier connection was dropped");
                    return Vec::new();
                }
                self.session
                    .response(request_id, result)
                    .into_iter()
                    .collect()
            }
        }
    }

    /// The session dropped the link.
    fn dropped(&self, down: LinkDown) -> Ended {
        // Two PCs with one terminal's key would take the link from each
        // other at once: the one replaced comes back slowly.
        let slow = matches!(
            down,
            LinkDown::AuthFailed(_) | LinkDown::Replaced(_) | LinkDown::Version(_)
        );
        match &down {
            LinkDown::AuthFailed(message) => println!("auth failed: {message}"),
            LinkDown::Replaced(message) => println!("replaced: {message}"),
            _ => {}
        }
        Ended::Down {
            reason: down.to_string(),
            slow,
        }
    }
}

/// A frame's text.
fn text(envelope: &Envelope<TerminalMessage>) -> Message {
    Message::Text(
        serde_json::to_string(envelope)
            .expect("terminal messages always serialise")
            .into(),
    )
}

/// A deadline for a `select!` branch that is disabled.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}

/// Prints and logs something the hub pushed.
fn print_push(event: &PushEvent) {
    match event {
        PushEvent::OperationOutcome {
            operation_id,
            operation,
            outcome,
            detail,
        } => {
            let outcome = match outcome {
                Outcome::Completed => "completed",
                Outcome::RolledBack => "rolled_back",
            };
            println!("outcome {operation_id} {operation} {outcome}: {detail}");
            tracing::info!(%operation_id, %operation, outcome, %detail, "operation outcome");
        }
        PushEvent::Notice { text } => {
            println!("notice: {text}");
            tracing::info!(%text, "notice from the hub");
        }
        PushEvent::CardReady { application_id } => {
            println!("card_ready {application_id}");
            tracing::info!(%application_id, "a card is ready for pickup");
        }
        other => tracing::info!(?other, "a push this terminal does not show"),
    }
}
