//! Branch business (网点业务) records: what a branch counter reads, accepts
//! and does, each change in one transaction with its audit entry, its
//! branch-operation row and its outbox notices.
//!
//! # Layout
//! - [`desk`]: the operator at a counter: account, branch and the
//!   manual-entry permission (`operators.manual_entry`).
//! - [`id_reads`]: identity card reads through a branch terminal
//!   ([`record_id_read`], [`get_id_read`]), the evidence applications
//!   refer to.
//! - [`evidence`]: how a branch application's applicant was identified
//!   (an ID read or a manual entry), and the branch's application list.
//! - [`operations`]: the `branch_operations` register the statistics
//!   count, the counter's card operations (loss, unlock, cancellation,
//!   activation, hand-over) and their notices (`sms.card-status`,
//!   `bank.card-status`; see `docs/outbox-topics.md`).
//! - [`lookups`]: audited look-ups of holders by document number or phone.
//! - [`machines`]: the self-service machine register (自助机备案) and the
//!   photos machines upload.
//!
//! Not here: the counter's rules (which branch kinds accept which
//! applications, how old an ID read may be, what a role sees masked) and
//! signature checks, which are the web crate's `routes::branch`; the card
//! status machine (`cardhub_protocols::card_status`).

pub mod desk;
pub mod evidence;
pub mod id_reads;
pub mod lookups;
pub mod machines;
pub mod operations;

pub use desk::Desk;
pub use evidence::{Entry, Evidence};
pub use id_reads::{IdRead, NewIdRead, get_id_read, record_id_read};
pub use lookups::{Holder, HolderKey, Lookup, LookupPurpose};
pub use machines::{Machine, MachineChange, MachineRefusal, MachineStatus, NewMachine};
pub use operations::{BranchOperation, BranchOperationKind, CardOperation, Counter};
