//! The chip jobs themselves, as plain blocking code over a
//! [`CardReader`]: personalisation (resumed from what the card says), the
//! card check (验卡) and PIN operations. A [`super::ReaderActor`] runs them
//! on tokio's blocking pool.
//!
//! What each job writes to the card comes from `cardhub_protocols::chip`
//! (the script builder, the record codecs, the PIN commands); the data
//! comes from storage (person, card, the chip bound to it); progress is
//! written to the job's row as each phase completes.

use cardhub_devices::reader::{CardReader, PcscReader, ReaderError};
use cardhub_protocols::apdu::Command;
use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::chip::commands;
use cardhub_protocols::chip::compare::{self, Mismatch};
use cardhub_protocols::chip::data::{CardRecords, HolderRecords, RecordValues, birthplace_for_ssn};
use cardhub_protocols::chip::personalise::{
    self as script, CardKeyLabels, CardObservation, PersonalisationTarget,
};
use cardhub_protocols::chip::pin::{self, PinStatus};
use cardhub_protocols::chip::profile::{self, CardKey, key_id};
use cardhub_protocols::chip::sm;
use cardhub_protocols::chip::text;
use cardhub_protocols::identity::Sex as ChipSex;
use cardhub_protocols::roles::Role;
use cardhub_storage::chips::{
    self, ChipAlgorithm, ChipJob, ChipJobKind, ChipJobStatus, JobOutcome, NewCardChip,
};
use cardhub_storage::persons::{Person, Sex};
use cardhub_storage::{Actor, cards, persons};
use chrono::{Months, NaiveDate};
use serde_json::{Value, json};

use super::channel::{CardChannel, JobFailure};
use super::{ChipRuntime, JobRequest, PinOperation};

/// The actor the hub's own chip work is recorded under (resumptions, jobs
/// interrupted by a restart).
pub fn hub_actor() -> Actor {
    Actor::new("hub:chip", Role::WorkshopOperator)
}

/// 民族 written when the record has none: 97, "other" (GB 3304).
const ETHNICITY_OTHER: i32 = 97;

/// Card statuses in which a chip may be personalised.
const PERSONALISABLE: [CardStatus; 2] = [CardStatus::DataPrepared, CardStatus::InProduction];

/// A reader kept open between jobs; `None` until first needed, and again
/// after its card left.
pub type ReaderSlot = Option<Box<dyn CardReader>>;

/// Opens a reader for a [`ReaderSlot`].
pub type OpenReader<'a> = dyn Fn() -> Result<Box<dyn CardReader>, ReaderError> + 'a;

/// Opens the PC/SC reader called `name`.
pub fn pcsc_opener(name: &str) -> impl Fn() -> Result<Box<dyn CardReader>, ReaderError> + '_ {
    move || PcscReader::open(name).map(|r| Box::new(r) as Box<dyn CardReader>)
}

/// Runs `request` (recorded as `job`) on the card in the reader of `slot`,
/// opening it with `open` if it is not open yet. Never panics on card
/// input; every failure becomes the job's outcome.
pub fn execute(
    slot: &mut ReaderSlot,
    open: &OpenReader<'_>,
    runtime: &ChipRuntime,
    job: &ChipJob,
    request: &JobRequest,
) -> JobOutcome {
    let (mut result, mut apdus) = attempt(slot, open, runtime, job, request);
    if result.is_err() && apdus <= 1 {
        // The kept session went stale (the card was swapped faster than
        // pcscd polls, pcscd restarted): nothing reached the card, so try
        // once more on a fresh session.
        slot.take();
        (result, apdus) = attempt(slot, open, runtime, job, request);
    }
    // Over all the job's attempts: `job.apdus` counts the earlier ones.
    let apdus = i32::try_from(apdus)
        .unwrap_or(i32::MAX)
        .saturating_add(job.apdus);
    match result {
        Ok(result) => JobOutcome {
            status: ChipJobStatus::Done,
            chip_id: result["chip_id"].as_str().map(str::to_owned),
            result: Some(result),
            error: None,
            apdus,
        },
        Err(JobFailure::Interrupted(e)) => {
            // The session is gone with the card; open afresh next time.
            slot.take();
            JobOutcome {
                status: ChipJobStatus::Interrupted,
                result: None,
                error: Some(e),
                apdus,
                chip_id: None,
            }
        }
        Err(JobFailure::Failed(e)) => {
            // A fresh session next time, whatever state this one is in.
            slot.take();
            JobOutcome {
                status: ChipJobStatus::Failed,
                result: None,
                error: Some(e),
                apdus,
                chip_id: None,
            }
        }
    }
}

/// One run of a job on the reader's current session; returns the APDUs
/// exchanged with the result.
fn attempt(
    slot: &mut ReaderSlot,
    open: &OpenReader<'_>,
    runtime: &ChipRuntime,
    job: &ChipJob,
    request: &JobRequest,
) -> (Result<Value, JobFailure>, u32) {
    let reader = match open_slot(slot, open) {
        Ok(reader) => reader,
        Err(e) => return (Err(e), 0),
    };
    let mut chan = match CardChannel::open(reader) {
        Ok(chan) => chan,
        Err(e) => return (Err(e), 0),
    };
    let result = dispatch(&mut chan, runtime, job, request);
    let apdus = chan.apdus();
    chan.close();
    (result, apdus)
}

/// The card identification code of the card in the reader.
pub fn read_chip_id(slot: &mut ReaderSlot, open: &OpenReader<'_>) -> Result<String, JobFailure> {
    let reader = open_slot(slot, open)?;
    let mut chan = CardChannel::open(reader)?;
    let id = read_card_id_code(&mut chan);
    chan.close();
    id
}

fn open_slot<'s>(
    slot: &'s mut ReaderSlot,
    open: &OpenReader<'_>,
) -> Result<&'s mut dyn CardReader, JobFailure> {
    if slot.is_none() {
        *slot = Some(open()?);
    }
    Ok(slot.as_mut().expect("opened above").as_mut())
}

/// What the card has: identification code, life cycle, files, keys and
/// every record ([`script::observe`]).
fn observe(chan: &mut CardChannel<'_>) -> Result<CardObservation, JobFailure> {
    script::observe(&mut |cmd: &Command| chan.exchange(cmd)).map_err(|e| match e {
        script::ObserveError::Exchange(failure) => failure,
        other => JobFailure::Failed(other.to_string()),
    })
}

fn read_card_id_code(chan: &mut CardChannel<'_>) -> Result<String, JobFailure> {
    chan.expect_ok(&commands::select_mf(), "SELECT MF")?;
    let get = commands::get_data(profile::get_data::CARD_ID_CODE);
    let data = chan.expect_ok(&get, "GET DATA (card identification code)")?;
    text::decode_ascii("card identification code", &data).map_err(|e| {
        JobFailure::Failed(format!("the card's identification code is unreadable: {e}"))
    })
}

fn dispatch(
    chan: &mut CardChannel<'_>,
    runtime: &ChipRuntime,
    job: &ChipJob,
    request: &JobRequest,
) -> Result<Value, JobFailure> {
    match request {
        JobRequest::Personalise { card_id, actor } => {
            personalise(chan, runtime, job, *card_id, actor)
        }
        JobRequest::Check {
            card_id,
            permit_chinese_name,
            ..
        } => check_card(chan, runtime, *card_id, permit_chinese_name.as_deref()),
        JobRequest::Pin { operation, .. } => pin_operation(chan, runtime, job, operation),
        JobRequest::Resume { actor, .. } => match (job.kind, job.card_id) {
            (ChipJobKind::Personalise, Some(card_id)) => {
                personalise(chan, runtime, job, card_id, actor)
            }
            (ChipJobKind::Check, Some(card_id)) => check_card(chan, runtime, card_id, None),
            (kind, _) => Err(JobFailure::Failed(format!(
                "a {kind} job cannot be resumed: start it again"
            ))),
        },
    }
}

/// APDUs of this job so far, over all its attempts.
fn job_apdus(job: &ChipJob, chan: &CardChannel<'_>) -> i32 {
    i32::try_from(chan.apdus())
        .unwrap_or(i32::MAX)
        .saturating_add(job.apdus)
}

/// Records that the job completed phase `name` (written before the next
/// phase's first APDU).
fn phase(
    runtime: &ChipRuntime,
    job: &ChipJob,
    name: &'static str,
    chip: Option<&str>,
    chan: &CardChannel<'_>,
) -> Result<(), JobFailure> {
    let apdus = job_apdus(job, chan);
    runtime
        .store
        .with_conn(|conn| chips::record_phase(conn, job.id, name, chip, apdus))?;
    Ok(())
}

/// What the database says the chip must carry, before the card is asked
/// anything: a name the chip cannot hold is refused here, with the chip
/// untouched.
struct Expected {
    card_number: String,
    holder: HolderRecords,
    /// The permanent-residence record's Chinese name, compared at the check.
    permit_chinese_name: Option<String>,
    substitutions: Vec<(char, String)>,
}

fn expected(
    runtime: &ChipRuntime,
    card_id: i64,
    for_personalisation: bool,
) -> Result<Expected, JobFailure> {
    let hsm = runtime.store.hsm().clone();
    let (card, person): (cards::Card, Person) = runtime.store.with_conn(|conn| {
        let card = cards::get_card(conn, card_id)?;
        let person = persons::get(conn, hsm.as_ref(), card.person_id)?;
        Ok((card, person))
    })?;
    if for_personalisation && !PERSONALISABLE.contains(&card.status) {
        return Err(JobFailure::Failed(format!(
            "card {card_id} is {}: only a card in data-prepared or in-production is personalised",
            card.status.as_str()
        )));
    }
    let card_number = card.card_number.ok_or_else(|| {
        JobFailure::Failed(format!(
            "card {card_id} has no card number yet: production assigns one before personalisation"
        ))
    })?;
    let permanent_resident = person.document_type == "permanent-residence";
    let name = match (&person.english_name, permanent_resident) {
        (Some(english), true) => english.clone(),
        _ => person.name.clone(),
    };
    let chip_name = text::to_chip_text("name", &name, &runtime.substitutions)
        .map_err(|e| JobFailure::Failed(e.to_string()))?;
    let substitutions = name
        .chars()
        .filter_map(|c| runtime.substitutions.get(c).map(|to| (c, to.to_owned())))
        .collect();
    let sex = match person.sex {
        Sex::Male => ChipSex::Male,
        Sex::Female => ChipSex::Female,
        other => {
            return Err(JobFailure::Failed(format!(
                "person {} has sex `{other:?}`: the chip holds male or female; correct the record",
                person.id
            )));
        }
    };
    let ethnicity = person.ethnicity.unwrap_or(ETHNICITY_OTHER);
    let ethnicity = u8::try_from(ethnicity)
        .ok()
        .filter(|e| *e > 0)
        .ok_or_else(|| {
            JobFailure::Failed(format!(
                "person {}: ethnicity code {ethnicity} is not a GB 3304 code",
                person.id
            ))
        })?;
    let birthplace = birthplace_for_ssn(&person.document_number)
        .map_err(|e| JobFailure::Failed(e.to_string()))?;
    Ok(Expected {
        card_number,
        holder: HolderRecords {
            ssn: person.document_number.clone(),
            name: chip_name,
            sex,
            ethnicity,
            birthplace,
            birth_date: person.birth_date,
        },
        permit_chinese_name: person.permit_chinese_name.filter(|_| permanent_resident),
        substitutions,
    })
}

fn algorithm_name(runtime: &ChipRuntime) -> ChipAlgorithm {
    match runtime.algorithm {
        sm::CardAlgorithm::Sm4 => ChipAlgorithm::Sm4,
        sm::CardAlgorithm::Tdes => ChipAlgorithm::Tdes,
    }
}

fn personalise(
    chan: &mut CardChannel<'_>,
    runtime: &ChipRuntime,
    job: &ChipJob,
    card_id: i64,
    actor: &Actor,
) -> Result<Value, JobFailure> {
    let expected = expected(runtime, card_id, true)?;
    let observation = observe(chan)?;
    let chip_id = observation.card_id_code.clone();

    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let substitutions: Vec<Value> = expected
        .substitutions
        .iter()
        .map(|(from, to)| json!({"from": from.to_string(), "to": to}))
        .collect();
    let apdus = job_apdus(job, chan);
    let binding = runtime.store.with_conn(|conn| {
        chips::bind_chip_for_job(
            conn,
            runtime.store.hsm().as_ref(),
            &NewCardChip {
                card_id,
                chip_id: chip_id.clone(),
                algorithm: algorithm_name(runtime),
                card_type: char::from(runtime.card_type.to_byte()).to_string(),
                spec_version: runtime.config.spec_version.clone(),
                institution: hex::encode_upper(runtime.institution),
                issued_on: today,
                // 29 February falls back to the 28th in a common year.
                expires_on: today
                    .checked_add_months(Months::new(runtime.config.validity_years * 12))
                    .unwrap_or(NaiveDate::MAX),
                chip_name: expected.holder.name.clone(),
                substitutions: Value::Array(substitutions.clone()),
            },
            job.id,
            apdus,
            actor,
        )
    })?;
    let target = PersonalisationTarget {
        algorithm: runtime.algorithm,
        card_records: CardRecords {
            card_id_code: chip_id.clone(),
            card_type: runtime.card_type,
            spec_version: runtime.config.spec_version.clone(),
            institution: runtime.institution,
            issue_date: binding.issued_on,
            expiry_date: binding.expires_on,
            card_number: expected.card_number.clone(),
        },
        holder_records: expected.holder.clone(),
        initial_pin: runtime.initial_pin.to_string(),
    };
    let hsm = runtime.store.hsm().as_ref();
    let keys = CardKeyLabels::derive(hsm, &chip_id)?;
    let result = run_script(chan, runtime, job, &target, &observation, &keys, &chip_id);
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

fn run_script(
    chan: &mut CardChannel<'_>,
    runtime: &ChipRuntime,
    job: &ChipJob,
    target: &PersonalisationTarget,
    observation: &CardObservation,
    keys: &CardKeyLabels,
    chip_id: &str,
) -> Result<usize, JobFailure> {
    let hsm = runtime.store.hsm().as_ref();
    let steps =
        script::build(target, observation).map_err(|e| JobFailure::Failed(e.to_string()))?;
    let mut current = None;
    for step in &steps {
        if current != Some(step.phase) {
            if let Some(done) = current {
                phase(runtime, job, script::Phase::name(done), Some(chip_id), chan)?;
            }
            current = Some(step.phase);
        }
        let challenge = if step.needs_challenge() {
            Some(chan.challenge()?)
        } else {
            None
        };
        let cmd = script::prepare(step, hsm, runtime.algorithm, keys, challenge.as_ref())?;
        let response = chan.exchange(&cmd)?;
        if !response.sw.is_ok() {
            return Err(JobFailure::refused(&step.description, response.sw));
        }
    }
    // The last phase is recorded by the job's end (`done`).
    Ok(steps.len())
}

fn check_card(
    chan: &mut CardChannel<'_>,
    runtime: &ChipRuntime,
    card_id: i64,
    presented_chinese_name: Option<&str>,
) -> Result<Value, JobFailure> {
    let expected = expected(runtime, card_id, false)?;
    let seen = observe(chan)?;
    let chip_id = seen.card_id_code.clone();
    let binding = runtime
        .store
        .with_conn(|conn| chips::chip_of_card(conn, card_id))?;
    let Some(binding) = binding else {
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

    // A copied chip answers INTERNAL AUTHENTICATE wrongly. Observing left
    // the SSSE selected.
    let hsm = runtime.store.hsm().as_ref();
    let keys = CardKeyLabels::derive(hsm, &chip_id)?;
    let authentic = internal_authenticate(chan, runtime, &keys);
    if let Err(e) = keys.destroy(hsm) {
        tracing::warn!(error = %e, "cannot destroy the card's derived keys");
    }
    let authentic = authentic?;

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
    Ok(json!({
        "chip_id": chip_id,
        "authentic": authentic,
        "mismatches": mismatches,
        "passed": authentic && mismatches.is_empty(),
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

fn pin_operation(
    chan: &mut CardChannel<'_>,
    runtime: &ChipRuntime,
    job: &ChipJob,
    operation: &PinOperation,
) -> Result<Value, JobFailure> {
    let chip_id = read_card_id_code(chan)?;
    phase(runtime, job, "observe", Some(&chip_id), chan)?;
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
