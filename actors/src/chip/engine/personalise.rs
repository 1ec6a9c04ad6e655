//! Personalisation (个人化): observe the card, bind its chip to the card,
//! then send the missing steps of the script (format, then personalise),
//! each under the keys the `Hsm` derives for this chip.
//!
//! Order, as the rules want it: the card and its holder are read with the
//! job's recording (or on its lane) while the card is observed (reads on
//! both sides); once the job is recorded, the chip is bound on the lane
//! while the card is formatted (the format is the same for every holder:
//! files, keys, the initial PIN), and the first step that writes the
//! holder's records waits for the binding; phase records follow the card
//! behind, on the lane.
//!
//! Not here: the script itself (`cardhub_protocols::chip::personalise`).

use cardhub_protocols::chip::data::CardRecords;
use cardhub_protocols::chip::personalise::{
    self as script, CardKeyLabels, CardObservation, PersonalisationTarget,
};
use cardhub_protocols::chip::sm;
use cardhub_storage::Actor;
use cardhub_storage::chips::{self, CardChip, ChipAlgorithm, NewCardChip};
use chrono::{Months, NaiveDate};
use serde_json::{Value, json};

use super::expected::expected;
use super::{Job, Pending, observe, wait};
use crate::chip::ChipRuntime;
use crate::chip::channel::{CardChannel, JobFailure};

fn algorithm_name(runtime: &ChipRuntime) -> ChipAlgorithm {
    match runtime.algorithm {
        sm::CardAlgorithm::Sm4 => ChipAlgorithm::Sm4,
        sm::CardAlgorithm::Tdes => ChipAlgorithm::Tdes,
    }
}

/// Personalises the card `card_id`'s chip, resuming from what it holds.
pub(super) fn personalise(
    chan: &mut CardChannel<'_>,
    job: &Job<'_>,
    card_id: i64,
    actor: &Actor,
) -> Result<Value, JobFailure> {
    let runtime = job.runtime;
    let on_record = job.card(card_id, false);
    let observation = observe(chan);
    // The database's refusals come first: they need a person, the card's
    // absence does not.
    let expected = expected(runtime, &on_record.wait()?, true)?;
    let observation = observation?;
    let chip_id = observation.card_id_code.clone();

    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let substitutions: Vec<Value> = expected
        .substitutions
        .iter()
        .map(|(from, to)| json!({"from": from.to_string(), "to": to}))
        .collect();
    // Waits for the job's recording: nothing has changed the card yet.
    let apdus = job.apdus(chan)?;
    let job_id = job.record.job()?.id;
    // 29 February falls back to the 28th in a common year.
    let expires_on = today
        .checked_add_months(Months::new(runtime.config.validity_years * 12))
        .unwrap_or(NaiveDate::MAX);
    let new_chip = NewCardChip {
        card_id,
        chip_id: chip_id.clone(),
        algorithm: algorithm_name(runtime),
        card_type: char::from(runtime.card_type.to_byte()).to_string(),
        spec_version: runtime.config.spec_version.clone(),
        institution: hex::encode_upper(runtime.institution),
        issued_on: today,
        expires_on,
        chip_name: expected.holder.name.clone(),
        substitutions: Value::Array(substitutions.clone()),
    };
    // The binding is written on the lane while the card is formatted: the
    // format is the same for every holder. Nothing of the holder's goes to
    // the card before it is stored (`run_script`).
    let (store, actor) = (runtime.store.clone(), actor.clone());
    let binding = job.lane.read(move || {
        store
            .with_writer(|conn| {
                chips::bind_chip_for_job(
                    conn,
                    store.hsm().as_ref(),
                    &new_chip,
                    job_id,
                    apdus,
                    &actor,
                )
            })
            .map_err(JobFailure::from)
    });
    // Until the binding says otherwise (a chip bound earlier keeps its
    // dates), the records carry today's.
    let target = PersonalisationTarget {
        algorithm: runtime.algorithm,
        card_records: CardRecords {
            card_id_code: chip_id.clone(),
            card_type: runtime.card_type,
            spec_version: runtime.config.spec_version.clone(),
            institution: runtime.institution,
            issue_date: today,
            expiry_date: expires_on,
            card_number: expected.card_number.clone(),
        },
        holder_records: expected.holder.clone(),
        initial_pin: runtime.initial_pin.to_string(),
    };
    let hsm = runtime.store.hsm().as_ref();
    let keys = CardKeyLabels::derive(hsm, &chip_id)?;
    let script = Script {
        target,
        observation: &observation,
        keys: &keys,
    };
    let result = run_script(chan, job, script, binding);
    if let Err(e) = keys.destroy(hsm) {
        tracing::warn!(error = %e, "cannot destroy the card's derived keys");
    }
    // The chip is marked personalised when the job is recorded done.
    let written = result?;
    Ok(json!({
        "chip_id": chip_id,
        "steps": written,
        "resumed_from": observation.life_cycle.map(|l| format!("{l:?}")),
        "substitutions": substitutions,
    }))
}

/// What [`run_script`] takes the card to, and with which keys.
struct Script<'a> {
    /// The records to write, dated today until the binding is stored.
    target: PersonalisationTarget,
    observation: &'a CardObservation,
    keys: &'a CardKeyLabels,
}

/// The binding, waited for before the first step that writes the holder's
/// data; the records take its dates (a chip bound by an earlier attempt
/// keeps the dates it was bound with).
fn bound(
    binding: Pending<Result<CardChip, JobFailure>>,
    script: &mut Script<'_>,
) -> Result<bool, JobFailure> {
    let chip = wait(binding)?;
    let records = &mut script.target.card_records;
    let redated = (records.issue_date, records.expiry_date) != (chip.issued_on, chip.expires_on);
    records.issue_date = chip.issued_on;
    records.expiry_date = chip.expires_on;
    Ok(redated)
}

/// Sends the steps the card still lacks; returns how many. The format
/// steps go out while the binding is written; the first personalisation
/// step waits for it.
fn run_script(
    chan: &mut CardChannel<'_>,
    job: &Job<'_>,
    mut script: Script<'_>,
    binding: Pending<Result<CardChip, JobFailure>>,
) -> Result<usize, JobFailure> {
    let runtime = job.runtime;
    let hsm = runtime.store.hsm().as_ref();
    let built = |script: &Script<'_>| {
        script::build(&script.target, script.observation)
            .map_err(|e| JobFailure::Failed(e.to_string()))
    };
    let mut steps = built(&script)?;
    let mut binding = Some(binding);
    let mut current = None;
    let mut index = 0;
    loop {
        // The binding is waited for at the first step that writes the
        // holder's records, or at the end if none does.
        let holders_next = steps
            .get(index)
            .is_none_or(|s| s.phase == script::Phase::Personalise);
        if holders_next
            && let Some(binding) = binding.take()
            && bound(binding, &mut script)?
        {
            // Dated otherwise than today: the holder's steps from here on
            // come from the binding's dates.
            let rest = built(&script)?
                .into_iter()
                .filter(|s| s.phase == script::Phase::Personalise);
            steps.truncate(index);
            steps.extend(rest);
        }
        let Some(step) = steps.get(index) else {
            break;
        };
        if current != Some(step.phase) {
            if let Some(done) = current {
                let chip = &script.target.card_records.card_id_code;
                job.phase(script::Phase::name(done), Some(chip), chan)?;
            }
            current = Some(step.phase);
        }
        let challenge = if step.needs_challenge() {
            Some(chan.challenge()?)
        } else {
            None
        };
        let cmd = script::prepare(
            step,
            hsm,
            runtime.algorithm,
            script.keys,
            challenge.as_ref(),
        )?;
        let response = chan.exchange(&cmd)?;
        if !response.sw.is_ok() {
            return Err(JobFailure::refused(&step.description, response.sw));
        }
        index += 1;
    }
    // The last phase is recorded by the job's end (`done`).
    Ok(steps.len())
}
