//! The card check (验卡): observe the chip, compare every record with
//! what the database says and, last, ask it for INTERNAL AUTHENTICATE (a
//! copied chip answers wrongly). A check changes nothing on the card: the
//! card, its holder and the bound chip are read with the job's recording
//! (or on its lane) while the chip is observed, and the job's recording
//! may finish any time before its outcome.
//!
//! Not here: the comparison rules (`cardhub_protocols::chip::compare`).

use cardhub_protocols::chip::commands;
use cardhub_protocols::chip::compare::{self, Mismatch};
use cardhub_protocols::chip::data::{CardRecords, RecordValues};
use cardhub_protocols::chip::personalise::CardKeyLabels;
use cardhub_protocols::chip::profile::{self, CardKey, key_id};
use cardhub_protocols::chip::sm;
use serde_json::{Value, json};

use super::expected::expected;
use super::{Job, observe};
use crate::chip::ChipRuntime;
use crate::chip::channel::{CardChannel, JobFailure};

/// Checks the chip of card `card_id`; with `presented_chinese_name`, also
/// the permanent-residence record's Chinese name.
pub(super) fn check_card(
    chan: &mut CardChannel<'_>,
    job: &Job<'_>,
    card_id: i64,
    presented_chinese_name: Option<&str>,
) -> Result<Value, JobFailure> {
    let runtime = job.runtime;
    let on_record = job.card(card_id, true);
    let seen = observe(chan);
    let on_record = on_record.wait()?;
    let expected = expected(runtime, &on_record, false)?;
    let seen = seen?;
    let chip_id = seen.card_id_code.clone();
    let Some(binding) = on_record.binding else {
        return Err(JobFailure::Failed(format!(
            "card {card_id} has no chip bound to it: personalise it first"
        )));
    };
    let mut mismatches: Vec<Mismatch> = Vec::new();
    if binding.chip_id != chip_id {
        mismatches.push(Mismatch {
            field: "card_id_code",
            expected: binding.chip_id.clone(),
            found: chip_id.clone(),
        });
    }
    if !seen.ssse {
        return Err(JobFailure::Failed(format!(
            "chip {chip_id} has no social security application: it was never personalised"
        )));
    }

    let values = |sfi: u8| -> RecordValues {
        seen.records
            .iter()
            .filter(|((s, _), _)| *s == sfi)
            .map(|((_, tag), value)| (*tag, value.clone()))
            .collect()
    };
    let (card_values, holder_values) = (values(profile::sfi::EF05), values(profile::sfi::EF06));
    let expected_card = CardRecords {
        card_id_code: binding.chip_id.clone(),
        card_type: runtime.card_type,
        spec_version: binding.spec_version.clone(),
        institution: hex::decode(&binding.institution)
            .ok()
            .and_then(|b| b.try_into().ok())
            .unwrap_or(runtime.institution),
        issue_date: binding.issued_on,
        expiry_date: binding.expires_on,
        card_number: expected.card_number.clone(),
    };
    let data = |e: cardhub_protocols::chip::data::DataError| JobFailure::Failed(e.to_string());
    mismatches.extend(compare::compare_card(&expected_card, &card_values).map_err(data)?);
    mismatches.extend(compare::compare_holder(&expected.holder, &holder_values).map_err(data)?);
    if let Some(presented) = presented_chinese_name {
        let on_record = expected.permit_chinese_name.as_deref().unwrap_or("");
        if presented.trim() != on_record {
            mismatches.push(Mismatch {
                field: "chinese_name",
                expected: on_record.to_owned(),
                found: presented.trim().to_owned(),
            });
        }
    }
    let all_match = mismatches.is_empty();
    let mismatches = json!(mismatches);
    // A copied chip answers INTERNAL AUTHENTICATE wrongly. Observing left
    // the SSSE selected. The comparison is done by now: after the card's
    // last answer only its verification and the outcome are left.
    let hsm = runtime.store.hsm().as_ref();
    let keys = CardKeyLabels::derive(hsm, &chip_id)?;
    let authentic = internal_authenticate(chan, runtime, &keys);
    if let Err(e) = keys.destroy(hsm) {
        tracing::warn!(error = %e, "cannot destroy the card's derived keys");
    }
    let authentic = authentic?;
    Ok(json!({
        "chip_id": chip_id,
        "authentic": authentic,
        "mismatches": mismatches,
        "passed": authentic && all_match,
    }))
}

fn internal_authenticate(
    chan: &mut CardChannel<'_>,
    runtime: &ChipRuntime,
    keys: &CardKeyLabels,
) -> Result<bool, JobFailure> {
    let data: [u8; 8] = rand::random();
    let answer = chan.exchange(&commands::internal_authenticate(
        key_id::INTERNAL_AUTH,
        &data,
    ))?;
    if !answer.sw.is_ok() {
        return Ok(false);
    }
    Ok(sm::check_internal_auth(
        runtime.store.hsm().as_ref(),
        runtime.algorithm,
        keys.label(CardKey::InternalAuth),
        &data,
        &answer.data,
    )?)
}
