//! `cardhub bench ...`: benchmarks that print figures for people. Speed is
//! measured here, never asserted in tests.
//!
//! - [`crypto`]: cardhub's SM2/SM3/SM4 beside `openssl speed`, as ratios.
//! - [`chip`]: personalisation and card check through pcscd + vpcd beside
//!   a bare PC/SC transmit loop of the same APDUs.
//! - [`workshop`]: production lines of simulated printers, cards per
//!   second and the hub's CPU per card.
//! - [`terminals`]: branch terminals' sessions held while counters query
//!   personal information: query latency and memory per idle session.
//! - [`monitor`]: change-to-screen latency of the monitoring wall's
//!   WebSocket under a synthetic status load, with stalled screens.
//!
//! Shared by them: `procfs.rs`, a process's CPU time and resident memory
//! from Linux's `/proc`; `hub.rs`, the hub under measurement as a child
//! process; and `seed_applicant` below.

pub mod chip;
pub mod crypto;
mod hub;
pub mod monitor;
mod procfs;
pub mod terminals;
pub mod workshop;

use cardhub_protocols::crypto::Hsm;
use cardhub_storage::applications::{self, Application, ApplicationKind, NewApplication};
use cardhub_storage::cards::Card;
use cardhub_storage::persons::{self, NewPerson, Sex};
use cardhub_storage::{Actor, DbConnection, StorageError};

/// Benchmark applicant `n` (document number `BENCH<n>`, a resident born
/// 1980) called `name`, with a first-issue application and its card.
fn seed_applicant(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    n: usize,
    name: &str,
    actor: &Actor,
) -> Result<(Application, Card), StorageError> {
    let person = persons::create(
        conn,
        hsm,
        &NewPerson {
            document_type: "resident-id".to_owned(),
            document_number: format!("BENCH{n:013}"),
            name: name.to_owned(),
            english_name: None,
            permit_chinese_name: None,
            nationality: 156,
            sex: Sex::Male,
            ethnicity: Some(1),
            birth_date: chrono::NaiveDate::from_ymd_opt(1980, 1, 1).expect("a date"),
            phone: None,
            address: None,
        },
        actor,
    )?;
    applications::create_application(
        conn,
        hsm,
        &NewApplication {
            person_id: person,
            kind: ApplicationKind::FirstIssue,
            branch_id: None,
        },
        actor,
    )
}
