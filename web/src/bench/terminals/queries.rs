//! The information queries of `cardhub bench terminals`: a branch
//! operator's `GET /api/v1/branch/persons?document_number=...`, sent open
//! loop at a fixed rate from an actix system of their own, each latency
//! measured from when the query was due (so a hub that falls behind is
//! not hidden by a sender that waits for it).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The query the counters send.
pub(super) const QUERY_PATH: &str = "/api/v1/branch/persons";

/// Queries in flight at most; beyond it a due query is counted failed
/// (the hub is not keeping up).
const MAX_IN_FLIGHT: usize = 1024;

/// HTTP connections the sender keeps to the hub.
const CONNECTIONS: usize = 64;

/// What the query phase measured.
#[derive(Clone, Debug, Default)]
pub struct QueryFigures {
    /// Queries that came due.
    pub due: u64,
    /// Answered 200.
    pub answered: u64,
    /// Failed (status, transport, or too many in flight).
    pub failed: u64,
    /// The first failure.
    pub first_failure: Option<String>,
    /// Median latency of the answered ones.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The slowest.
    pub max: Duration,
}

/// Logs `username` in; returns the session token.
pub(super) fn login(base: &str, username: &str, password: &str) -> Result<String, String> {
    let body = serde_json::json!({"username": username, "password": password});
    let url = format!("{base}/api/v1/session");
    actix_rt::System::new().block_on(async move {
        let mut reply = awc::Client::new()
            .post(&url)
            .send_json(&body)
            .await
            .map_err(|e| format!("log the bench operator in: {e}"))?;
        let reply: serde_json::Value = reply
            .json()
            .await
            .map_err(|e| format!("the login answer: {e}"))?;
        reply["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the login answer has no token: {reply}"))
    })
}

/// A few queries, checked, before anything is measured.
pub(super) fn warm_up(base: &str, token: &str, numbers: &[String]) -> Result<(), String> {
    let urls: Vec<String> = numbers
        .iter()
        .take(20)
        .map(|n| format!("{base}{QUERY_PATH}?document_number={n}"))
        .collect();
    let token = token.to_owned();
    actix_rt::System::new().block_on(async move {
        let client = awc::Client::builder().bearer_auth(&token).finish();
        for url in urls {
            let mut reply = client
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("the warm-up query {url}: {e}"))?;
            if reply.status() != 200 {
                let body = reply.body().await.unwrap_or_default();
                return Err(format!(
                    "the warm-up query {url} answered {}: {}",
                    reply.status(),
                    String::from_utf8_lossy(&body)
                ));
            }
        }
        Ok(())
    })
}

/// Sends `rate` queries a second for `seconds`, cycling over `numbers`.
pub(super) fn send(
    base: &str,
    token: &str,
    numbers: &[String],
    rate: u32,
    seconds: u64,
) -> QueryFigures {
    let figures = Arc::new(Mutex::new((
        QueryFigures::default(),
        Vec::<Duration>::new(),
    )));
    let (base, token, numbers) = (base.to_owned(), token.to_owned(), numbers.to_vec());
    let shared = figures.clone();
    actix_rt::System::new().block_on(async move {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().limit(CONNECTIONS))
            .timeout(Duration::from_secs(10))
            .bearer_auth(&token)
            .finish();
        let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let total = u64::from(rate) * seconds;
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..total {
            let due = t0 + Duration::from_secs_f64(i as f64 / f64::from(rate));
            tokio::time::sleep_until(due.into()).await;
            let number = &numbers[i as usize % numbers.len()];
            let url = format!("{base}{QUERY_PATH}?document_number={number}");
            let (client, shared, in_flight) = (client.clone(), shared.clone(), in_flight.clone());
            if in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= MAX_IN_FLIGHT {
                in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                record(
                    &shared,
                    Err(format!("more than {MAX_IN_FLIGHT} queries in flight")),
                );
                continue;
            }
            tasks.push(actix_rt::spawn(async move {
                let outcome = match client.get(&url).send().await {
                    Ok(mut reply) if reply.status() == 200 => {
                        let _ = reply.body().await;
                        Ok(due.elapsed())
                    }
                    Ok(mut reply) => {
                        let body = reply.body().await.unwrap_or_default();
                        Err(format!(
                            "{} {}",
                            reply.status(),
                            String::from_utf8_lossy(&body)
                        ))
                    }
                    Err(e) => Err(e.to_string()),
                };
                in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                record(&shared, outcome);
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
    let (mut out, mut latencies) = Arc::try_unwrap(figures)
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .unwrap_or_default();
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default()
    };
    out.p50 = at(0.50);
    out.p99 = at(0.99);
    out.max = latencies.last().copied().unwrap_or_default();
    out
}

fn record(shared: &Mutex<(QueryFigures, Vec<Duration>)>, outcome: Result<Duration, String>) {
    let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
    let (figures, latencies) = &mut *guard;
    figures.due += 1;
    match outcome {
        Ok(latency) => {
            figures.answered += 1;
            latencies.push(latency);
        }
        Err(e) => {
            figures.failed += 1;
            figures.first_failure.get_or_insert(e);
        }
    }
}
