//! `GET /ws/monitor`: one monitoring screen's WebSocket
//! (`docs/monitor-protocol.md`).
//!
//! ```text
//! upgrade ─► hello (credentials, filter, resume point) ─► welcome
//!         ─► first frame (snapshot, or the changes missed) ─► deltas ...
//!            ▲ resync snapshot when the screen fell behind
//! ```
//!
//! The screen's task takes frames from its [`Subscription`] (a bounded
//! queue the bus fills every tick) and writes them to the socket; it never
//! holds more than that queue. A frame the socket does not take within
//! `timeout_secs`, or `timeout_secs` of silence from the screen, closes it.
//! Malformed messages are answered with an `error` message and the
//! connection stays open.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, get, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use cardhub_actors::status::wire::VERSION;
use cardhub_actors::status::{
    ClientMessage, Filter, Next, Resume, ServerMessage, SnapshotReason, Subscription,
};
use cardhub_protocols::roles::Role;
use futures_util::StreamExt;

use crate::auth::{self, Caller, CallerKind};
use crate::monitor::MonitorConfig;
use crate::state::AppState;

/// Opens a monitoring screen's WebSocket.
///
/// Credentials come on the upgrade request (`Authorization: Bearer`, or the
/// operator session cookie) or in the first `hello` message. The messages
/// are `MonitorClientMessage` and `MonitorServerMessage`; the protocol is in
/// `docs/monitor-protocol.md`.
#[utoipa::path(
    get,
    path = "/ws/monitor",
    tag = "monitor",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol; messages are MonitorClientMessage (in) and MonitorServerMessage (out)"),
        (status = 400, description = "Not a WebSocket upgrade request"),
        (status = 401, description = "Credentials were sent on the upgrade request and are not valid"),
    ),
)]
#[get("/ws/monitor")]
pub async fn monitor(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    // Credentials on the upgrade are checked before it: a wrong token gets
    // a plain 401. Without any, the screen authenticates in its `hello`.
    let caller = if auth::presents_credentials(&req) {
        Some(Caller::from_request_async(&req).await?)
    } else {
        None
    };
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let config = state.config.monitor.clone();
    let stream = stream
        .max_frame_size(config.max_message_bytes)
        .aggregate_continuations()
        .max_continuation_size(config.max_message_bytes);
    let peer = req
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "unknown".to_owned());
    actix_web::rt::spawn(async move {
        let mut screen = Screen {
            state: state.into_inner(),
            config,
            session,
            peer,
            last_heard: Instant::now(),
        };
        let end = match screen.serve(stream, caller).await {
            Ok(never) => match never {},
            Err(end) => end,
        };
        screen.close(end).await;
    });
    Ok(response)
}

/// One connected screen.
struct Screen {
    state: std::sync::Arc<AppState>,
    config: MonitorConfig,
    session: Session,
    peer: String,
    last_heard: Instant,
}

/// Why a screen's connection ends.
enum End {
    /// The screen closed it, or went away.
    Gone,
    /// The hub closes it after telling the screen why.
    Fatal { code: &'static str, message: String },
    /// The hub is shutting down.
    Shutdown,
}

type Stream = actix_ws::AggregatedMessageStream;

impl Screen {
    async fn serve(
        &mut self,
        mut stream: Stream,
        caller: Option<Caller>,
    ) -> Result<std::convert::Infallible, End> {
        let (caller, filter, resume) = self.hello(&mut stream, caller).await?;
        let filter = visible_to(&caller, filter);
        let bus = self.state.bus.clone();
        tracing::debug!(peer = %self.peer, caller = %caller.name, "monitoring screen subscribed");
        self.send_message(&ServerMessage::Welcome {
            v: VERSION,
            epoch: bus.epoch().to_owned(),
            tick_ms: bus.config().tick.as_millis() as u64,
            heartbeat_secs: self.config.heartbeat_secs,
            timeout_secs: self.config.timeout_secs,
            caller: caller.name.clone(),
            role: caller.role.as_str().to_owned(),
        })
        .await?;
        let mut sub = bus.subscribe(filter.clone(), resume, SnapshotReason::Initial);
        self.send_frame(sub.first.clone()).await?;

        let mut filter = filter;
        let mut resyncs: VecDeque<Instant> = VecDeque::new();
        let mut heartbeat =
            tokio::time::interval(Duration::from_secs(self.config.heartbeat_secs.max(1)));
        heartbeat.tick().await;
        loop {
            tokio::select! {
                next = sub.next() => match next {
                    Next::Frame(frame) => self.send_frame(frame).await?,
                    Next::Lagged => {
                        sub = self.resync(&mut resyncs, &filter)?;
                        self.send_frame(sub.first.clone()).await?;
                    }
                    Next::Closed => return Err(End::Shutdown),
                },
                msg = stream.next() => {
                    let Some(text) = self.receive(msg).await? else { continue };
                    match self.parse(&text).await? {
                        Some(ClientMessage::Subscribe { filter: wanted, .. }) => {
                            filter = visible_to(&caller, wanted.unwrap_or_default());
                            drop(sub);
                            sub = bus.subscribe(filter.clone(), None, SnapshotReason::Filter);
                            self.send_frame(sub.first.clone()).await?;
                        }
                        Some(ClientMessage::Ping { nonce, .. }) => {
                            self.send_message(&ServerMessage::Pong { v: VERSION, nonce }).await?;
                        }
                        Some(ClientMessage::Pong { .. }) | None => {}
                        Some(ClientMessage::Hello { .. }) => {
                            self.error("hello-twice", "this connection has said hello already; send `subscribe` to change the filter").await?;
                        }
                    }
                }
                _ = heartbeat.tick() => {
                    if self.last_heard.elapsed() > Duration::from_secs(self.config.timeout_secs) {
                        return Err(End::Fatal {
                            code: "heartbeat-timeout",
                            message: format!(
                                "nothing heard from this screen for {} s: closing; reconnect to carry on",
                                self.config.timeout_secs
                            ),
                        });
                    }
                    self.send_message(&ServerMessage::Heartbeat {
                        v: VERSION,
                        at_ms: chrono::Utc::now().timestamp_millis(),
                    })
                    .await?;
                    timed(self.limit(), self.session.ping(b"")).await?;
                }
            }
        }
    }

    /// Waits for a valid `hello` (answering anything else with an error)
    /// until `hello_timeout_secs`.
    async fn hello(
        &mut self,
        stream: &mut Stream,
        mut caller: Option<Caller>,
    ) -> Result<(Caller, Filter, Option<Resume>), End> {
        let deadline = tokio::time::sleep(Duration::from_secs(self.config.hello_timeout_secs));
        tokio::pin!(deadline);
        loop {
            let msg = tokio::select! {
                _ = &mut deadline => return Err(End::Fatal {
                    code: "hello-first",
                    message: format!(
                        "no valid hello within {} s of connecting: send {{\"v\":1,\"type\":\"hello\",...}} first",
                        self.config.hello_timeout_secs
                    ),
                }),
                msg = stream.next() => msg,
            };
            let Some(text) = self.receive(msg).await? else {
                continue;
            };
            match self.parse(&text).await? {
                Some(ClientMessage::Hello {
                    token,
                    filter,
                    epoch,
                    since,
                    ..
                }) => {
                    if let Some(token) = token {
                        match auth::authenticate(&self.state, token).await {
                            Ok(c) => caller = Some(c),
                            Err(e) => {
                                self.error("unauthenticated", &e.to_string()).await?;
                                continue;
                            }
                        }
                    }
                    let Some(caller) = caller.clone() else {
                        self.error(
                            "unauthenticated",
                            "no credentials: put an API token (chb_...) or an operator session (chs_...) in hello's `token`, or log in (POST /api/v1/session) so the browser sends its session cookie",
                        )
                        .await?;
                        continue;
                    };
                    let resume = match (epoch, since) {
                        (Some(epoch), Some(seq)) => Some(Resume { epoch, seq }),
                        _ => None,
                    };
                    return Ok((caller, filter.unwrap_or_default(), resume));
                }
                Some(ClientMessage::Ping { nonce, .. }) => {
                    self.send_message(&ServerMessage::Pong { v: VERSION, nonce })
                        .await?;
                }
                Some(_) => {
                    self.error(
                        "hello-first",
                        "say hello first: {\"v\":1,\"type\":\"hello\",\"token\":...}",
                    )
                    .await?;
                }
                None => {}
            }
        }
    }

    /// A fresh snapshot for a screen the bus cut off, unless it keeps
    /// falling behind.
    fn resync(
        &mut self,
        resyncs: &mut VecDeque<Instant>,
        filter: &Filter,
    ) -> Result<Subscription, End> {
        let now = Instant::now();
        while resyncs
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            resyncs.pop_front();
        }
        resyncs.push_back(now);
        metrics::counter!("cardhub_monitor_resyncs_total").increment(1);
        if resyncs.len() > self.config.resyncs_per_minute {
            return Err(End::Fatal {
                code: "too-slow",
                message: format!(
                    "this screen fell behind {} times in a minute: closing it; a screen on a slow link can subscribe to fewer kinds",
                    resyncs.len()
                ),
            });
        }
        tracing::info!(peer = %self.peer, "monitoring screen fell behind: resyncing it with a snapshot");
        Ok(self
            .state
            .bus
            .subscribe(filter.clone(), None, SnapshotReason::Resync))
    }

    /// The text of a client frame; `None` for control frames (answered
    /// here) and refused binary frames.
    async fn receive(
        &mut self,
        msg: Option<Result<AggregatedMessage, actix_ws::ProtocolError>>,
    ) -> Result<Option<String>, End> {
        let msg = match msg {
            None => return Err(End::Gone),
            Some(Err(e)) => {
                return Err(End::Fatal {
                    code: "too-large",
                    message: format!(
                        "unreadable frame: {e}; messages are JSON text of at most {} bytes",
                        self.config.max_message_bytes
                    ),
                });
            }
            Some(Ok(msg)) => msg,
        };
        self.last_heard = Instant::now();
        match msg {
            AggregatedMessage::Text(text) => Ok(Some(text.to_string())),
            AggregatedMessage::Binary(_) => {
                self.error(
                    "bad-message",
                    "binary frames are not part of this protocol: send JSON text",
                )
                .await?;
                Ok(None)
            }
            AggregatedMessage::Ping(bytes) => {
                timed(self.limit(), self.session.pong(&bytes)).await?;
                Ok(None)
            }
            AggregatedMessage::Pong(_) => Ok(None),
            AggregatedMessage::Close(_) => Err(End::Gone),
        }
    }

    /// A client message, or `None` after answering a malformed one.
    async fn parse(&mut self, text: &str) -> Result<Option<ClientMessage>, End> {
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                self.error("bad-json", &format!("not JSON: {e}")).await?;
                return Ok(None);
            }
        };
        let v = value.get("v").and_then(serde_json::Value::as_u64);
        if v != Some(u64::from(VERSION)) {
            self.error(
                "unsupported-version",
                &format!(
                    "`v` must be {VERSION} (this hub speaks monitor protocol version {VERSION}); got {}",
                    value.get("v").map_or("nothing".to_owned(), |v| v.to_string())
                ),
            )
            .await?;
            return Ok(None);
        }
        match serde_json::from_value::<ClientMessage>(value) {
            Ok(m) => Ok(Some(m)),
            Err(e) => {
                self.error(
                    "bad-message",
                    &format!(
                        "not a monitor message: {e}; the types are hello, subscribe, ping, pong"
                    ),
                )
                .await?;
                Ok(None)
            }
        }
    }

    async fn error(&mut self, code: &str, message: &str) -> Result<(), End> {
        self.send_message(&ServerMessage::Error {
            v: VERSION,
            code: code.to_owned(),
            message: message.to_owned(),
            fatal: false,
        })
        .await
    }

    async fn send_message(&mut self, message: &ServerMessage) -> Result<(), End> {
        let text = serde_json::to_string(message).expect("server messages always serialise");
        self.send_frame(text.into()).await
    }

    async fn send_frame(&mut self, frame: bytestring::ByteString) -> Result<(), End> {
        timed(self.limit(), self.session.text(frame)).await
    }

    /// How long a send may wait for the socket.
    fn limit(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs.max(1))
    }

    async fn close(mut self, end: End) {
        let reason = match end {
            End::Gone => None,
            End::Shutdown => Some(CloseReason {
                code: CloseCode::Away,
                description: Some("the hub is shutting down".into()),
            }),
            End::Fatal { code, message } => {
                tracing::info!(peer = %self.peer, code, %message, "closing a monitoring screen");
                let text = serde_json::to_string(&ServerMessage::Error {
                    v: VERSION,
                    code: code.to_owned(),
                    message,
                    fatal: true,
                })
                .expect("server messages always serialise");
                // Best effort: a stalled screen may not take even this.
                let _ = tokio::time::timeout(Duration::from_secs(1), self.session.text(text)).await;
                Some(CloseReason {
                    code: CloseCode::Policy,
                    description: Some(code.to_owned()),
                })
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), self.session.close(reason)).await;
    }
}

/// The filter a caller may have: branch operators see their own branch
/// (and centre-wide entities) whatever they ask for.
pub fn visible_to(caller: &Caller, mut filter: Filter) -> Filter {
    if caller.role == Role::BranchOperator
        && let CallerKind::Operator { branch, .. } = &caller.kind
    {
        filter.branch = Some(branch.clone().unwrap_or_default());
    }
    filter
}

/// Runs a send on the session, giving up after `limit`: a screen that
/// takes nothing is closed rather than waited for.
async fn timed(
    limit: Duration,
    send: impl std::future::Future<Output = Result<(), actix_ws::Closed>>,
) -> Result<(), End> {
    match tokio::time::timeout(limit, send).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(actix_ws::Closed)) => Err(End::Gone),
        Err(_) => Err(End::Fatal {
            code: "too-slow",
            message: format!(
                "this screen took nothing for {} s: closing it",
                limit.as_secs()
            ),
        }),
    }
}
