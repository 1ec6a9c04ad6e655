//! What the database says a chip must carry: the card (its number, its
//! status), its holder (decrypted) and, for a check, the chip bound to it,
//! read in one go while the card is observed (in the job's recording
//! transaction, [`read_card_in`], or on its lane, [`read_card`]) and
//! turned into the records the chip must hold ([`expected`]). A name the chip cannot hold is refused here, before any
//! APDU that changes the card.
//!
//! Not here: the records' byte forms (`cardhub_protocols::chip::data`),
//! the comparison (`super::check`).

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::chip::data::{HolderRecords, birthplace_for_ssn};
use cardhub_protocols::chip::text;
use cardhub_protocols::crypto::Hsm;
use cardhub_protocols::identity::Sex as ChipSex;
use cardhub_storage::chips::{self, CardChip};
use cardhub_storage::persons::{Person, Sex};
use cardhub_storage::{DbConnection, StorageError, Store, cards, persons, snapshot_tx};

use crate::chip::ChipRuntime;
use crate::chip::channel::JobFailure;

/// 民族 written when the record has none: 97, "other" (GB 3304).
const ETHNICITY_OTHER: i32 = 97;

/// Card statuses in which a chip may be personalised.
const PERSONALISABLE: [CardStatus; 2] = [CardStatus::DataPrepared, CardStatus::InProduction];

/// What the database says the chip must carry, before the card is asked
/// anything: a name the chip cannot hold is refused here, with the chip
/// untouched.
pub(super) struct Expected {
    /// 社会保障卡卡号.
    pub(super) card_number: String,
    /// The holder's records as the chip must carry them.
    pub(super) holder: HolderRecords,
    /// The permanent-residence record's Chinese name, compared at the check.
    pub(super) permit_chinese_name: Option<String>,
    /// The centre's substitutions applied to the name.
    pub(super) substitutions: Vec<(char, String)>,
}

/// A card as stored: the card, its holder and (when asked for) the chip
/// bound to it.
pub(super) struct CardOnRecord {
    card: cards::Card,
    person: Person,
    /// The chip bound to the card, if it was asked for and there is one.
    pub(super) binding: Option<CardChip>,
}

/// Reads the card, its holder and (with `binding`) the chip bound to it,
/// in one read transaction (one snapshot, and one look at the write-ahead
/// log rather than one a statement), on a connection of the pool: for a job
/// whose recording did not read them ([`read_card_in`]).
pub(super) fn read_card(
    store: &Store,
    card_id: i64,
    binding: bool,
) -> Result<CardOnRecord, JobFailure> {
    let hsm = store.hsm().as_ref();
    Ok(store
        .with_conn(|conn| snapshot_tx(conn, |conn| read_card_in(conn, hsm, card_id, binding)))?)
}

/// [`read_card`]'s reads inside the caller's transaction: a job's
/// recording reads its card in the same transaction, on the writer's
/// connection, whose pages are still cached from the writes before (a
/// pooled connection finds its cache stale after every write).
pub(super) fn read_card_in(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    card_id: i64,
    binding: bool,
) -> Result<CardOnRecord, StorageError> {
    let card = cards::get_card(conn, card_id)?;
    let person = persons::get(conn, hsm, card.person_id)?;
    let binding = if binding {
        chips::chip_of_card(conn, card_id)?
    } else {
        None
    };
    Ok(CardOnRecord {
        card,
        person,
        binding,
    })
}

/// What the chip must carry for `record`; for a personalisation the card
/// must be in a status that allows one.
pub(super) fn expected(
    runtime: &ChipRuntime,
    record: &CardOnRecord,
    for_personalisation: bool,
) -> Result<Expected, JobFailure> {
    let CardOnRecord { card, person, .. } = record;
    let card_id = card.id;
    if for_personalisation && !PERSONALISABLE.contains(&card.status) {
        return Err(JobFailure::Failed(format!(
            "card {card_id} is {}: only a card in data-prepared or in-production is personalised",
            card.status.as_str()
        )));
    }
    let card_number = card.card_number.clone().ok_or_else(|| {
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
        permit_chinese_name: person
            .permit_chinese_name
            .clone()
            .filter(|_| permanent_resident),
        substitutions,
    })
}
