//! kill -9 of the hub in the middle of production, many times, at random
//! points: after every restart each card in flight resumes from its last
//! persisted step, no card number is issued twice, no task is lost, and
//! every finished card passed its check. The points come from a seed,
//! printed so a failure can be replayed with `CARDHUB_RECOVERY_SEED`.

use std::collections::BTreeSet;
use std::time::Duration;

use cardhub_tests::HubProcess;
use cardhub_tests::workshop::{
    Applicant, LineSpec, Link, SimPrinter, apply, extract, hub_dir, wait_done, write_config,
};
use diesel::prelude::*;

/// Kills of the hub during the run.
const KILLS: u32 = 8;
/// Applications made.
const CARDS: u32 = 14;

/// A small deterministic generator (xorshift64*), enough for kill points.
struct Points(u64);

impl Points {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        lo + self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % (hi - lo)
    }
}

#[derive(QueryableByName)]
struct NumberRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    card_number: Option<String>,
}

#[test]
fn killed_at_random_points_the_hub_loses_no_task_and_reissues_no_number() {
    let seed = std::env::var("CARDHUB_RECOVERY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("kill points from CARDHUB_RECOVERY_SEED={seed}");
    let mut points = Points(seed);

    let dir = hub_dir();
    let sims = tempfile::tempdir().unwrap();
    let p1 = SimPrinter::start(dir.path(), sims.path(), "wp-kill-1", Link::Tcp);
    let p2 = SimPrinter::start(dir.path(), sims.path(), "wp-kill-2", Link::Tcp);
    write_config(
        dir.path(),
        &[LineSpec {
            name: "line-k",
            program: "full",
            autostart: true,
            printers: vec![&p1, &p2],
        }],
    );
    let env = [("RUST_LOG", "warn,cardhub_actors::workshop=info")];
    let mut hub = HubProcess::start_in(dir, &env);
    let mut http = hub.http(Some(&hub.dev_token()));
    for n in 0..CARDS {
        apply(&http, 100 + n, Applicant::Resident("冯一"));
    }
    let extraction = extract(&http, "normal");
    let ids: Vec<i64> = extraction["task_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(ids.len() as u32, CARDS);

    for kill in 0..KILLS {
        let after = points.next_ms(150, 1_500);
        std::thread::sleep(Duration::from_millis(after));
        hub.stop(nix::sys::signal::Signal::SIGKILL);
        println!("kill {kill}: after {after} ms");
        hub = HubProcess::start_in(hub.into_dir(), &env);
        http = hub.http(Some(&hub.dev_token()));
    }
    let tasks = wait_done(&http, &ids, Duration::from_secs(240));
    for t in &tasks {
        assert_eq!(t["task"]["status"], "done", "seed {seed}: {t}");
        let card = t["task"]["card_id"].as_i64().unwrap();
        let status = http.get(&format!("/api/v1/cards/{card}")).json()["status"].clone();
        assert_eq!(status, "qc-passed", "seed {seed}: {t}");
    }
    let store = hub.open_store();
    let numbers: Vec<NumberRow> = store
        .with_conn(|conn| {
            diesel::sql_query("SELECT card_number FROM cards WHERE card_number IS NOT NULL")
                .load(conn)
                .map_err(|e| cardhub_storage::StorageError::Task(e.to_string()))
        })
        .unwrap();
    let unique: BTreeSet<_> = numbers.iter().map(|r| r.card_number.clone()).collect();
    assert_eq!(
        unique.len(),
        numbers.len(),
        "seed {seed}: a card number was issued twice"
    );
    // Every physical card used is a finished card or a registered waste.
    let attempts: i64 = tasks
        .iter()
        .map(|t| t["task"]["attempts"].as_i64().unwrap())
        .sum();
    let wasted: usize = tasks
        .iter()
        .map(|t| t["waste"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        attempts as usize,
        tasks.len() + wasted,
        "seed {seed}: cards used = cards made + cards wasted"
    );
    println!(
        "seed {seed}: {} cards made, {wasted} wasted over {KILLS} kills",
        tasks.len()
    );
    hub.assert_audit_intact();
}
