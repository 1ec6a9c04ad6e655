//! PIN operations on the card in a reader: 修改密码 (change, the card
//! checks the old PIN), 密码重置 (reset, under a MAC of the PIN-reset key)
//! and 解锁 (unblock, under a MAC of the PIN-unblock key). The card's
//! identification code is read first (read-only); the job's recording is
//! waited for before the PIN command, which changes the card.
//!
//! Not here: the PIN commands' bytes (`cardhub_protocols::chip::pin`).

use cardhub_protocols::chip::commands;
use cardhub_protocols::chip::personalise::CardKeyLabels;
use cardhub_protocols::chip::pin::{self, PinStatus};
use cardhub_protocols::chip::profile::CardKey;
use serde_json::{Value, json};

use super::{Job, read_card_id_code};
use crate::chip::PinOperation;
use crate::chip::channel::{CardChannel, JobFailure};

/// Runs `operation` on the card in the reader.
pub(super) fn pin_operation(
    chan: &mut CardChannel<'_>,
    job: &Job<'_>,
    operation: &PinOperation,
) -> Result<Value, JobFailure> {
    let runtime = job.runtime;
    let chip_id = read_card_id_code(chan)?;
    // Waits for the job's recording: the PIN command changes the card.
    job.phase("observe", Some(&chip_id), chan)?;
    chan.expect_ok(&commands::select_ssse(), "SELECT SSSE")?;
    let hsm = runtime.store.hsm().as_ref();
    let format = |e: pin::PinError| JobFailure::Failed(e.to_string());
    let response = match operation {
        PinOperation::Change { old, new } => {
            chan.exchange(&pin::change(old, new).map_err(format)?)?
        }
        PinOperation::Reset { new } => {
            let keys = CardKeyLabels::derive(hsm, &chip_id)?;
            let sent = pin::reset(new).map_err(format).and_then(|cmd| {
                chan.exchange_with_mac(hsm, runtime.algorithm, keys.label(CardKey::PinReset), cmd)
            });
            let _ = keys.destroy(hsm);
            sent?
        }
        PinOperation::Unblock => {
            let keys = CardKeyLabels::derive(hsm, &chip_id)?;
            let sent = chan.exchange_with_mac(
                hsm,
                runtime.algorithm,
                keys.label(CardKey::PinUnblock),
                pin::unblock(),
            );
            let _ = keys.destroy(hsm);
            sent?
        }
    };
    let status = PinStatus::from_sw(response.sw);
    // The counter as the card reports it now.
    let tries = PinStatus::from_sw(chan.exchange(&pin::query_tries())?.sw);
    let tries_left = match tries {
        PinStatus::Wrong { tries_left } => Some(tries_left),
        PinStatus::Blocked => Some(0),
        _ => None,
    };
    // A refused PIN is an answer, not a failure of the job: the operator
    // tells the holder how many tries are left.
    let (accepted, message) = match status {
        PinStatus::Accepted => (true, "done".to_owned()),
        PinStatus::Wrong { tries_left } => (
            false,
            format!("wrong PIN: {tries_left} tries left before the PIN blocks"),
        ),
        PinStatus::Blocked => (
            false,
            "the PIN is blocked: unblock or reset it after checking the holder's identity"
                .to_owned(),
        ),
        PinStatus::Other(sw) => return Err(JobFailure::refused("the PIN operation", sw)),
    };
    Ok(json!({
        "chip_id": chip_id,
        "accepted": accepted,
        "message": message,
        "tries_left": tries_left,
    }))
}
