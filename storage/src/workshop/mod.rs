//! The workshop's records (制卡车间): how approved applications become
//! cards and reach the branches.
//!
//! ```text
//! data-prepared card ──extract──▶ task queued ──claim──▶ in-production
//!   ──record_step…──▶ (card produced, qc-passed) ──complete──▶ done + envelope
//!   └─waste_and_requeue─▶ card waste, waste row; task queued on a new card
//!                          (or failed after max_attempts)
//!   └─fail_task─▶ failed (bad data) ──retry_task─▶ queued (same or new card)
//! done tasks' qc-passed cards ──sort_into_boxes──▶ boxes (packing → sealed)
//!   ──warehouse_in──▶ in-warehouse ──create_dispatch / dispatch──▶ cards mailed
//!   ──district_sign_off──▶ ──branch_sign_off──▶ cards at-branch; batch completed
//! ```
//!
//! Every function that changes state runs in one [`crate::write_tx`] and
//! appends an audit entry in it (`workshop.*`, `box.*`, `dispatch.*`); card
//! status changes go through [`crate::cards::transition_card`] in the same
//! transaction, so the card's history, audit entry and outbox message
//! commit with the workshop's rows or not at all.
//!
//! # Layout
//! - `tasks`: batches and making-card tasks and their queries
//!   ([`get_task`], [`list_tasks`], [`queue_counts`], [`in_flight_tasks`]);
//!   `extract`: extraction ([`extract`], [`PERMIT_REMINDER_TOPIC`]).
//! - `claim` and `numbers`: claiming and releasing ([`claim_next_task`],
//!   [`release_task`]), card numbers from `card_number_counters`.
//! - `steps`: steps and completion ([`record_step`],
//!   [`record_step_then_begin`], [`begin_step`] and the begun marker
//!   [`BEGUN_SUFFIX`], [`complete_task`], [`steps_of_task`]).
//! - `control`: production line states (产线状态: [`LineState`],
//!   [`set_line_state`], [`list_line_states`]) and tasks failed and
//!   retried by hand ([`fail_task`], [`retry_task`]).
//! - `waste` and `progress`: waste (废卡登记: [`waste_and_requeue`],
//!   [`list_waste`]) and a card's progress (制卡进度查询: [`card_progress`],
//!   [`card_by_number`], [`current_card_of_application`]).
//! - `stats`: workshop performance (生产车间绩效: [`statistics`]).
//! - `envelopes`: envelopes (邮封: [`envelope_data`],
//!   [`mark_envelope_printed`]).
//! - `boxes`, `dispatch` and `history`: boxes and dispatch batches
//!   ([`sort_into_boxes`], [`seal_box`], [`warehouse_in`],
//!   [`create_dispatch`], [`dispatch()`], [`district_sign_off`],
//!   [`branch_sign_off`]) and their status history ([`StatusChange`]).
//!
//! Not here: driving printers and lines (`cardhub_actors`), the card status
//! machine (`cardhub_protocols::card_status`), photos ([`crate::photos`]).

mod boxes;
mod claim;
mod control;
mod dispatch;
mod envelopes;
mod extract;
mod history;
mod numbers;
mod progress;
mod stats;
mod steps;
mod tasks;
mod waste;

pub use boxes::*;
pub use claim::*;
pub use control::*;
pub use dispatch::*;
pub use envelopes::*;
pub use extract::*;
pub use history::*;
pub use numbers::{CARD_NUMBER_LEN, format_card_number};
pub use progress::*;
pub use stats::*;
pub use steps::*;
pub use tasks::*;
pub use waste::*;

use crate::error::StorageError;

/// Longest line, printer, device or step name accepted: names are short
/// identifiers (`line-1`, `printer-3`, `contactless`), not prose.
const MAX_NAME_LEN: usize = 64;

/// Checks a short identifier given by a caller (line, printer, step).
fn check_name(what: &'static str, value: &str) -> Result<(), StorageError> {
    if value.trim().is_empty() {
        return Err(StorageError::Invalid {
            what,
            reason: "it is empty".to_owned(),
        });
    }
    if value.chars().count() > MAX_NAME_LEN {
        return Err(StorageError::Invalid {
            what,
            reason: format!("it is longer than {MAX_NAME_LEN} characters"),
        });
    }
    Ok(())
}

/// Parses a stored JSON column.
fn parse_json(column: &'static str, text: &str) -> Result<serde_json::Value, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError::Corrupt {
        column,
        value: text.chars().take(80).collect(),
        reason: e.to_string(),
    })
}

/// Clamps a caller's page size to what one query returns.
fn page(limit: i64) -> i64 {
    limit.clamp(1, 1_000)
}
