//! How long the chip jobs' own records take on SQLite, the statements a
//! card waits for in the chip and workshop benchmarks: a job's start
//! (`chips::start_job`, with its audit entry), its end (`chips::finish_job`
//! by id, read back; `chips::finish_recorded_job` by the runner that
//! recorded it, as the engine ends a job `done`; each with its audit
//! entry) and an audit entry on its own (`audit::append`, in
//! its own transaction). Each on a migrated SQLite file in `TMPDIR`, so
//! `TMPDIR=/dev/shm` leaves the disk out of it.
//!
//! `cargo bench -p cardhub-storage --bench chip_jobs`

use std::hint::black_box;

use cardhub_protocols::roles::Role;
use cardhub_storage::chips::{self, ChipJobKind, ChipJobStatus, JobOutcome};
use cardhub_storage::testing::{sqlite_store, test_hsm};
use cardhub_storage::{Actor, AuditEntry, DbConnection, audit};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench_jobs(c: &mut Criterion) {
    let store = sqlite_store(test_hsm());
    let hsm = store.hsm().clone();
    let actor = Actor::new("bench", Role::WorkshopOperator);
    let outcome = JobOutcome {
        status: ChipJobStatus::Done,
        result: Some(serde_json::json!({"pin_retries": 3})),
        error: None,
        apdus: 12,
        chip_id: Some("5EED000000000001".to_owned()),
    };
    let start = |conn: &mut DbConnection| {
        chips::start_job(
            conn,
            hsm.as_ref(),
            ChipJobKind::PinChange,
            None,
            "r",
            &actor,
        )
    };
    let mut group = c.benchmark_group("chip_jobs");
    group.bench_function("start_job", |b| {
        b.iter(|| store.with_writer(start).expect("start a job"))
    });
    group.bench_function("start_then_finish", |b| {
        b.iter(|| {
            store
                .with_writer(|conn| {
                    let job = start(conn)?;
                    chips::finish_job(conn, hsm.as_ref(), job.id, &outcome, &actor)
                })
                .expect("start and finish a job")
        })
    });
    group.bench_function("start_then_finish_recorded", |b| {
        b.iter(|| {
            store
                .with_writer(|conn| {
                    let job = start(conn)?;
                    chips::finish_recorded_job(conn, hsm.as_ref(), &job, &outcome, &actor)
                })
                .expect("start and finish a job")
        })
    });
    let entry = AuditEntry::new(
        &actor,
        "bench.entry",
        "bench:1",
        serde_json::json!({"card_id": 1, "reader": "r"}),
    );
    group.bench_function("audit_append", |b| {
        b.iter(|| {
            store
                .with_writer(|conn| audit::append(conn, hsm.as_ref(), black_box(&entry)))
                .expect("append an audit entry")
        })
    });
    group.finish();
}

criterion_group!(benches, bench_jobs);
criterion_main!(benches);
