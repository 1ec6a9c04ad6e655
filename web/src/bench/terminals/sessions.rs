//! The load generator's terminals: one task per session on one actix
//! system, each a real `/ws/terminal` client (hello, the SM2-signed answer
//! to the hub's challenge, welcome, an empty device list), then idle but
//! for a heartbeat every `heartbeat_secs` and whatever the hub sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use awc::ws;
use cardhub_protocols::crypto::{KeyLabel, SoftHsm};
use cardhub_protocols::terminal::{
    Challenge, Envelope, HexBytes, HubMessage, TerminalMessage, sign_challenge,
};
use futures_util::{SinkExt, StreamExt};

/// What every session shares.
pub(super) struct Fleet {
    /// `ws://HOST:PORT/ws/terminal`.
    pub url: String,
    /// The branch every terminal serves.
    pub branch: String,
    /// The key every terminal signs with (registered for each).
    pub hsm: Arc<SoftHsm>,
    /// Its label.
    pub label: KeyLabel,
    /// Sessions that reached `welcome`.
    pub linked: AtomicUsize,
    /// Sessions whose link ended (or never came up), with the last reason.
    pub failed: AtomicUsize,
    /// Heartbeats sent, all sessions.
    pub heartbeats: AtomicU64,
    /// The last failure, for the report.
    pub last_error: std::sync::Mutex<Option<String>>,
    /// Set when the run is over: sessions close.
    pub stop: tokio::sync::watch::Receiver<bool>,
}

impl Fleet {
    fn failed(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
    }
}

/// The id of terminal `n` of the fleet.
pub(super) fn terminal_id(n: usize) -> String {
    format!("BENCH-T{n:05}")
}

fn text(envelope: &Envelope<TerminalMessage>) -> ws::Message {
    ws::Message::Text(
        serde_json::to_string(envelope)
            .expect("a terminal message serialises")
            .into(),
    )
}

/// Runs terminal `n` until the fleet stops; counts itself linked or
/// failed, and lets `linking` go when it is one or the other.
pub(super) async fn session(
    fleet: Arc<Fleet>,
    n: usize,
    linking: tokio::sync::OwnedSemaphorePermit,
) {
    let mut linking = Some(linking);
    if let Err(e) = run(&fleet, n, &mut linking).await {
        fleet.failed(format!("terminal {n}: {e}"));
    }
}

async fn run(
    fleet: &Fleet,
    n: usize,
    linking: &mut Option<tokio::sync::OwnedSemaphorePermit>,
) -> Result<(), String> {
    let id = terminal_id(n);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(60))
        .finish();
    let (_, mut ws) = client
        .ws(fleet.url.as_str())
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut ids = 0u64;
    let mut next_id = || {
        ids += 1;
        format!("b-{ids}")
    };
    let hello = Envelope::new(
        next_id(),
        TerminalMessage::Hello {
            terminal_id: id.clone(),
            branch: fleet.branch.clone(),
            software_version: concat!("cardhub-bench ", env!("CARGO_PKG_VERSION")).to_owned(),
            resume: None,
        },
    );
    ws.send(text(&hello)).await.map_err(|e| e.to_string())?;
    let mut heartbeat_every = Duration::from_secs(15);
    let mut stop = fleet.stop.clone();
    let mut linked = false;
    let mut tick = tokio::time::interval(heartbeat_every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let _ = ws.close().await;
                return Ok(());
            }
            _ = tick.tick(), if linked => {
                let beat = Envelope::new(next_id(), TerminalMessage::Heartbeat);
                ws.send(text(&beat)).await.map_err(|e| format!("heartbeat: {e}"))?;
                fleet.heartbeats.fetch_add(1, Ordering::Relaxed);
            }
            frame = ws.next() => {
                let frame = match frame {
                    Some(Ok(frame)) => frame,
                    Some(Err(e)) => return Err(format!("read: {e}")),
                    None => return Err("the hub closed the link".into()),
                };
                let bytes = match frame {
                    ws::Frame::Text(bytes) => bytes,
                    ws::Frame::Ping(p) => {
                        ws.send(ws::Message::Pong(p)).await.map_err(|e| e.to_string())?;
                        continue;
                    }
                    ws::Frame::Close(reason) => return Err(format!("closed by the hub: {reason:?}")),
                    _ => continue,
                };
                let envelope: Envelope<HubMessage> = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("an unreadable hub frame: {e}"))?;
                match envelope.message {
                    HubMessage::Challenge { nonce, hub_time_ms } => {
                        let challenge = Challenge { nonce, hub_time_ms };
                        let signature = sign_challenge(fleet.hsm.as_ref(), &fleet.label, &id, &fleet.branch, &challenge)
                            .map_err(|e| format!("sign: {e}"))?;
                        let answer = Envelope::reply(next_id(), envelope.id, TerminalMessage::AuthResponse {
                            signature: HexBytes(signature.to_vec()),
                        });
                        ws.send(text(&answer)).await.map_err(|e| e.to_string())?;
                    }
                    HubMessage::Welcome { heartbeat_secs, .. } => {
                        heartbeat_every = Duration::from_secs(heartbeat_secs.max(1));
                        tick = tokio::time::interval(heartbeat_every);
                        tick.tick().await;
                        let list = Envelope::new(next_id(), TerminalMessage::DeviceList { devices: Vec::new() });
                        ws.send(text(&list)).await.map_err(|e| e.to_string())?;
                        linked = true;
                        fleet.linked.fetch_add(1, Ordering::Relaxed);
                        linking.take();
                    }
                    HubMessage::Error { code, message, fatal: true } => {
                        return Err(format!("fatal {code:?}: {message}"));
                    }
                    _ => {}
                }
            }
        }
    }
}
