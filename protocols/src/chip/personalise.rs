//! The personalisation script (个人化脚本): from the target (the card's and
//! the holder's records, the initial PIN) and what the card says about
//! itself ([`CardObservation`]), the ordered [`Step`]s that format the chip
//! (file structure, keys wrapped under the transport key inside the `Hsm`)
//! and personalise it (records under MAC, life cycle). A half-personalised
//! card is resumed from its observation: files, keys and records it already
//! has are skipped, never rewritten blindly.
//!
//! Pure: [`observe`] talks to the card through a caller-supplied exchange
//! function; [`prepare`] turns a step into its final command with the
//! card's challenge and the `Hsm`. The order follows docs/chip-profile.md
//! ("Personalisation script").

use std::collections::BTreeMap;

use super::commands;
use super::data::{CardRecords, DataError, HolderRecords};
use super::profile::{self, CardKey, LifeCycle, cla, fid, get_data, ins, key_id, key_usage, sfi};
use super::sm::{self, CardAlgorithm};
use super::text;
use crate::apdu::{Command, Response, StatusWord, tlv};
use crate::crypto::{Hsm, HsmError, KeyLabel};

/// What the chip must carry once personalised.
#[derive(Clone, Debug)]
pub struct PersonalisationTarget {
    /// The cipher of the card's keys.
    pub algorithm: CardAlgorithm,
    /// EF05.
    pub card_records: CardRecords,
    /// EF06.
    pub holder_records: HolderRecords,
    /// The PIN written at personalisation (digits).
    pub initial_pin: String,
}

/// What the card said about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CardObservation {
    /// 卡识别码 (GET DATA DF01).
    pub card_id_code: String,
    /// Life-cycle state (GET DATA DF02); `None` if the byte is unknown.
    pub life_cycle: Option<LifeCycle>,
    /// Whether the SSSE DF exists.
    pub ssse: bool,
    /// Whether EF05 exists.
    pub ef05: bool,
    /// Whether EF06 exists.
    pub ef06: bool,
    /// Key ids present in the SSSE DF (GET DATA DF03).
    pub keys: Vec<u8>,
    /// Record values by (SFI, tag) as read.
    pub records: BTreeMap<(u8, u8), Vec<u8>>,
}

/// Why the card could not be observed.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError<E> {
    /// The exchange failed (card removed, reader gone).
    #[error(transparent)]
    Exchange(E),
    /// The card answered something the profile does not allow.
    #[error(
        "the card answered {step} with {sw}: it is not a card of this profile, or it is faulty"
    )]
    Refused {
        /// The command.
        step: &'static str,
        /// Its status word.
        sw: StatusWord,
    },
    /// An answer could not be decoded.
    #[error("the card's answer to {step} is malformed: {reason}")]
    Malformed {
        /// The command.
        step: &'static str,
        /// Why.
        reason: String,
    },
}

/// Why a script cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The target records cannot be encoded (a name the chip cannot hold,
    /// a value out of range).
    #[error(transparent)]
    Data(#[from] DataError),
    /// The PIN is not 4 to 12 digits.
    #[error(transparent)]
    Pin(#[from] super::pin::PinError),
    /// The card belongs to another chip than the target names.
    #[error(
        "the card in the reader is chip {found}, but the target is chip {expected}: present the right card"
    )]
    WrongChip {
        /// The chip of the target.
        expected: String,
        /// The chip in the reader.
        found: String,
    },
    /// A record value does not fit the record form.
    #[error("record {tag:02X} cannot be encoded: {reason}")]
    Record {
        /// The tag.
        tag: u8,
        /// Why.
        reason: String,
    },
    /// The card is locked or in a state personalisation cannot leave.
    #[error("the card's life cycle is {0:?}: it cannot be personalised")]
    LifeCycle(Option<LifeCycle>),
    /// A SECURED card lacks files or keys, which can no longer be created.
    #[error(
        "the card is already personalised (SECURED) but lacks {missing}: it cannot be repaired; set it aside as faulty"
    )]
    CannotRepair {
        /// What is missing ("EF06, key 04").
        missing: String,
    },
}

/// Which half of the script a step belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Creating files, loading keys, life cycle INITIALIZED.
    Format,
    /// Writing records, life cycle SECURED.
    Personalise,
}

impl Phase {
    /// The name recorded as a job's progress.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Format => "format",
            Phase::Personalise => "personalise",
        }
    }
}

/// How a step's command is finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finish {
    /// Sent as it is.
    Plain,
    /// EXTERNAL AUTHENTICATE with this key: the data is the cryptogram over
    /// a fresh challenge.
    ExternalAuth(CardKey),
    /// A command MAC under this key over a fresh challenge.
    Mac(CardKey),
    /// WRITE KEY of a card key: the key wrapped under KT, then a MAC under
    /// KT.
    WriteKey(CardKey),
    /// WRITE KEY of the PIN: the F-padded BCD PIN encrypted under KT, then
    /// a MAC under KT.
    WritePin(Vec<u8>),
}

/// One step of the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Format or personalise.
    pub phase: Phase,
    /// What it does, for people ("CREATE FILE EF05").
    pub description: String,
    /// The command before its cryptogram, wrapped key or MAC.
    pub command: Command,
    /// How to finish it.
    pub finish: Finish,
}

impl Step {
    /// Whether [`prepare`] needs a fresh GET CHALLENGE for this step.
    pub fn needs_challenge(&self) -> bool {
        self.finish != Finish::Plain
    }
}

/// The `Hsm` labels of one card's diversified keys.
#[derive(Clone, Debug)]
pub struct CardKeyLabels {
    labels: BTreeMap<u8, KeyLabel>,
}

impl CardKeyLabels {
    /// Diversifies every card key from its master (`chip/...`) for the card
    /// with this identification code, under labels
    /// `card/<code>/<key name>`; labels already present are reused.
    pub fn derive(hsm: &dyn Hsm, card_id_code: &str) -> Result<Self, HsmError> {
        let d = diversification_data(card_id_code)?;
        let mut labels = BTreeMap::new();
        for key in CardKey::ALL {
            let label = KeyLabel::new(format!("card/{card_id_code}/{}", key.name()));
            if hsm.key_kind(&label).is_none() {
                match hsm.diversify(&KeyLabel::new(key.master_label()), &d, &label) {
                    Ok(()) | Err(HsmError::Exists(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            labels.insert(key.id(), label);
        }
        Ok(Self { labels })
    }

    /// The label of one card key.
    pub fn label(&self, key: CardKey) -> &KeyLabel {
        &self.labels[&key.id()]
    }

    /// Destroys the derived keys (once the job is over).
    pub fn destroy(self, hsm: &dyn Hsm) -> Result<(), HsmError> {
        for label in self.labels.values() {
            match hsm.destroy_key(label) {
                Ok(()) | Err(HsmError::UnknownKey(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The 8 bytes of diversification data: the hex value of the 16-character
/// card identification code.
pub fn diversification_data(card_id_code: &str) -> Result<[u8; 8], HsmError> {
    hex::decode(card_id_code)
        .ok()
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .ok_or_else(|| HsmError::Malformed {
            what: "card identification code",
            reason: format!("`{card_id_code}` is not 16 hex characters"),
        })
}

/// Asks the card what it has: identification code, life cycle, SSSE, EFs,
/// keys and records. `6A82`/`6A83`/`6A88` mean absent; anything else that
/// is not `9000` is refused.
pub fn observe<E>(
    exchange: &mut dyn FnMut(&Command) -> Result<Response, E>,
) -> Result<CardObservation, ObserveError<E>> {
    let mut send =
        |cmd: &Command, step: &'static str| -> Result<Option<Vec<u8>>, ObserveError<E>> {
            let r = exchange(cmd).map_err(ObserveError::Exchange)?;
            match r.sw {
                sw if sw.is_ok() => Ok(Some(r.data)),
                StatusWord::FILE_NOT_FOUND
                | StatusWord::RECORD_NOT_FOUND
                | StatusWord::REF_DATA_NOT_FOUND => Ok(None),
                sw => Err(ObserveError::Refused { step, sw }),
            }
        };
    let mut seen = CardObservation::default();
    send(&commands::select_mf(), "SELECT MF")?.ok_or(ObserveError::Refused {
        step: "SELECT MF",
        sw: StatusWord::FILE_NOT_FOUND,
    })?;
    let id =
        send(&commands::get_data(get_data::CARD_ID_CODE), "GET DATA DF01")?.unwrap_or_default();
    seen.card_id_code = text::decode_ascii("card identification code", &id).map_err(|e| {
        ObserveError::Malformed {
            step: "GET DATA DF01",
            reason: e.to_string(),
        }
    })?;
    let life =
        send(&commands::get_data(get_data::LIFE_CYCLE), "GET DATA DF02")?.unwrap_or_default();
    seen.life_cycle = life.first().and_then(|b| LifeCycle::from_byte(*b));
    if send(&commands::select_ssse(), "SELECT SSSE")?.is_none() {
        return Ok(seen);
    }
    seen.ssse = true;
    seen.keys = send(&commands::get_data(get_data::KEY_IDS), "GET DATA DF03")?.unwrap_or_default();
    for (ef, sfi_value, fields) in [
        (fid::EF05, sfi::EF05, &profile::EF05_RECORDS[..]),
        (fid::EF06, sfi::EF06, &profile::EF06_RECORDS[..]),
    ] {
        if send(&commands::select_ef(ef), "SELECT EF")?.is_none() {
            continue;
        }
        if ef == fid::EF05 {
            seen.ef05 = true;
        } else {
            seen.ef06 = true;
        }
        for field in fields {
            if let Some(answer) = send(&commands::read_record(sfi_value, field.tag), "READ RECORD")?
            {
                let (tag, value) =
                    tlv::parse_record(&answer).map_err(|e| ObserveError::Malformed {
                        step: "READ RECORD",
                        reason: e.to_string(),
                    })?;
                if tag == field.tag {
                    seen.records.insert((sfi_value, tag), value.to_vec());
                }
            }
        }
    }
    Ok(seen)
}

fn write_key_header(id: u8) -> Command {
    Command::new(
        cla::PROPRIETARY_SM,
        ins::WRITE_KEY,
        profile::WRITE_KEY_P1,
        id,
    )
}

/// The PIN as WRITE KEY carries it before encryption: packed BCD, `F`
/// padded to 16 bytes.
fn pin_block(pin: &str) -> Result<Vec<u8>, super::pin::PinError> {
    let mut block = super::pin::encode_pin(pin)?.to_vec();
    block.resize(16, 0xFF);
    Ok(block)
}

/// The ordered steps that take the observed card to the target. Refuses a
/// target whose records cannot be encoded before any step is produced.
///
/// Format steps (SSSE, EF05, EF06, keys, PIN) are produced for what the
/// card lacks while it is not yet SECURED, and SET STATUS INITIALIZED while
/// it is OP_READY; a SECURED card lacking any of them cannot be repaired
/// ([`ScriptError::CannotRepair`]). Then UPDATE RECORD for each record that
/// differs from the target, and SET STATUS SECURED unless it is. A SECURED
/// card with the right records gets no steps: it is done.
pub fn build(
    target: &PersonalisationTarget,
    seen: &CardObservation,
) -> Result<Vec<Step>, ScriptError> {
    if seen.card_id_code != target.card_records.card_id_code {
        return Err(ScriptError::WrongChip {
            expected: target.card_records.card_id_code.clone(),
            found: seen.card_id_code.clone(),
        });
    }
    let mut records: Vec<(u8, u8, Vec<u8>)> = Vec::new();
    for (tag, value) in target.card_records.encode()? {
        records.push((sfi::EF05, tag, value));
    }
    for (tag, value) in target.holder_records.encode()? {
        records.push((sfi::EF06, tag, value));
    }
    let pin = pin_block(&target.initial_pin)?;
    let life = match seen.life_cycle {
        Some(l @ (LifeCycle::OpReady | LifeCycle::Initialized | LifeCycle::Secured)) => l,
        other => return Err(ScriptError::LifeCycle(other)),
    };
    let missing = missing_structure(seen);
    if life == LifeCycle::Secured && !missing.is_empty() {
        return Err(ScriptError::CannotRepair {
            missing: missing.join(", "),
        });
    }

    let mut steps = Vec::new();
    let mut step = |phase, description: String, command, finish| {
        steps.push(Step {
            phase,
            description,
            command,
            finish,
        })
    };
    use Phase::{Format, Personalise};
    if life == LifeCycle::OpReady || !missing.is_empty() {
        step(
            Format,
            "SELECT MF".into(),
            commands::select_mf(),
            Finish::Plain,
        );
        step(
            Format,
            "EXTERNAL AUTHENTICATE with the transport key".into(),
            Command::new(cla::PLAIN, ins::EXTERNAL_AUTHENTICATE, 0, key_id::TRANSPORT),
            Finish::ExternalAuth(CardKey::Transport),
        );
        if !seen.ssse {
            step(
                Format,
                "CREATE FILE SSSE".into(),
                commands::create_ssse(),
                Finish::Mac(CardKey::Transport),
            );
        }
        step(
            Format,
            "SELECT SSSE".into(),
            commands::select_ssse(),
            Finish::Plain,
        );
        let efs = [
            (seen.ef05, fid::EF05, sfi::EF05, &profile::EF05_RECORDS),
            (seen.ef06, fid::EF06, sfi::EF06, &profile::EF06_RECORDS),
        ];
        for (present, ef, sfi_value, template) in efs {
            if !present {
                step(
                    Format,
                    format!("CREATE FILE EF{ef:02X}"),
                    commands::create_record_ef(ef, sfi_value, template),
                    Finish::Mac(CardKey::Transport),
                );
            }
        }
        for key in CardKey::DF_KEYS {
            if !seen.keys.contains(&key.id()) {
                step(
                    Format,
                    format!("WRITE KEY {}", key.name()),
                    write_key_header(key.id()),
                    Finish::WriteKey(key),
                );
            }
        }
        if !seen.keys.contains(&key_id::PIN) {
            step(
                Format,
                "WRITE KEY PIN".into(),
                write_key_header(key_id::PIN),
                Finish::WritePin(pin),
            );
        }
        if life == LifeCycle::OpReady {
            step(
                Format,
                "SET STATUS INITIALIZED".into(),
                commands::set_status(LifeCycle::Initialized.to_byte()),
                Finish::Mac(CardKey::Transport),
            );
        }
    }
    let mut selected = false;
    for (sfi_value, tag, value) in records {
        if seen.records.get(&(sfi_value, tag)) == Some(&value) {
            continue;
        }
        if !selected {
            step(
                Personalise,
                "SELECT SSSE".into(),
                commands::select_ssse(),
                Finish::Plain,
            );
            selected = true;
        }
        let name = profile::record_field(tag).map_or("record", |(_, f)| f.name);
        let command =
            commands::update_record(sfi_value, tag, &value).map_err(|e| ScriptError::Record {
                tag,
                reason: e.to_string(),
            })?;
        step(
            Personalise,
            format!("UPDATE RECORD {name} (EF{sfi_value:02X} tag {tag:02X})"),
            command,
            Finish::Mac(CardKey::Maintenance),
        );
    }
    if life != LifeCycle::Secured {
        step(
            Personalise,
            "SET STATUS SECURED".into(),
            commands::set_status(LifeCycle::Secured.to_byte()),
            Finish::Mac(CardKey::Transport),
        );
    }
    Ok(steps)
}

/// The files and keys of a formatted card that `seen` lacks, for messages.
fn missing_structure(seen: &CardObservation) -> Vec<String> {
    let files = [
        (seen.ssse, "SSSE"),
        (seen.ef05, "EF05"),
        (seen.ef06, "EF06"),
    ];
    let keys = CardKey::DF_KEYS.iter().map(|k| k.id()).chain([key_id::PIN]);
    files
        .iter()
        .filter(|(present, _)| !present)
        .map(|(_, name)| (*name).to_owned())
        .chain(
            keys.filter(|id| !seen.keys.contains(id))
                .map(|id| format!("key {id:02X}")),
        )
        .collect()
}

/// The step's final command: with the cryptogram, wrapped key or MAC for
/// the card's `challenge` (which [`Step::needs_challenge`] steps must have).
pub fn prepare(
    step: &Step,
    hsm: &dyn Hsm,
    alg: CardAlgorithm,
    keys: &CardKeyLabels,
    challenge: Option<&[u8; 8]>,
) -> Result<Command, HsmError> {
    let needs = || HsmError::Malformed {
        what: "script step",
        reason: format!("`{}` needs the card's challenge", step.description),
    };
    let transport = keys.label(CardKey::Transport);
    let mut cmd = step.command.clone();
    match &step.finish {
        Finish::Plain => Ok(cmd),
        Finish::ExternalAuth(key) => {
            let challenge = challenge.ok_or_else(needs)?;
            cmd.data = sm::external_auth_cryptogram(hsm, alg, keys.label(*key), challenge)?;
            Ok(cmd)
        }
        Finish::Mac(key) => {
            let challenge = challenge.ok_or_else(needs)?;
            sm::mac_command(hsm, alg, keys.label(*key), challenge, cmd)
        }
        Finish::WriteKey(key) => {
            let challenge = challenge.ok_or_else(needs)?;
            cmd.data = vec![key.usage(), alg.algorithm_byte(), profile::KEY_TRIES];
            cmd.data.extend(hsm.wrap_key(keys.label(*key), transport)?);
            sm::mac_command(hsm, alg, transport, challenge, cmd)
        }
        Finish::WritePin(block) => {
            let challenge = challenge.ok_or_else(needs)?;
            cmd.data = vec![
                key_usage::PIN,
                alg.algorithm_byte(),
                profile::DEFAULT_PIN_TRIES,
            ];
            cmd.data.extend(hsm.ecb_encrypt(transport, block)?);
            sm::mac_command(hsm, alg, transport, challenge, cmd)
        }
    }
}
