//! The personalisation script end to end at the APDU level, against a
//! minimal card model that checks every MAC, cryptogram and wrapped key
//! with the card-side functions (`sm::raw`, `sm::verify_command_mac`): a
//! blank card is observed, formatted and personalised for both algorithms;
//! a card interrupted after any step resumes to the same end; finished,
//! locked and broken cards get the right answer.

use std::collections::{BTreeMap, BTreeSet};

use cardhub_protocols::apdu::{Command, Response, StatusWord, tlv};
use cardhub_protocols::chip::data::{CardRecords, CardType, HolderRecords, RecordValues};
use cardhub_protocols::chip::personalise::{
    self, CardKeyLabels, CardObservation, PersonalisationTarget, ScriptError, Step,
    diversification_data,
};
use cardhub_protocols::chip::profile::{self, CardKey, LifeCycle, fid, get_data, ins, key_id};
use cardhub_protocols::chip::sm::{self, CardAlgorithm, raw};
use cardhub_protocols::crypto::SoftHsm;
use cardhub_protocols::identity::Sex;
use chrono::NaiveDate;

const CODE: &str = "310000D156000005";
const PIN: &str = "123456";

/// Master bytes of `key`: distinct per key.
fn master(key: CardKey) -> [u8; 16] {
    [0x40 + key.id(); 16]
}

fn hsm_with_masters(alg: CardAlgorithm) -> SoftHsm {
    let hsm = SoftHsm::new();
    for key in CardKey::ALL {
        match alg {
            CardAlgorithm::Sm4 => hsm.insert_sm4(key.master_label(), master(key)),
            CardAlgorithm::Tdes => hsm.insert_tdes(key.master_label(), master(key)),
        }
        .expect("new label");
    }
    hsm
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
}

fn target(alg: CardAlgorithm) -> PersonalisationTarget {
    PersonalisationTarget {
        algorithm: alg,
        card_records: CardRecords {
            card_id_code: CODE.into(),
            card_type: CardType::SocialSecurity,
            spec_version: "3.00".into(),
            institution: *b"310000000001",
            issue_date: day(2026, 11, 22),
            expiry_date: day(2036, 11, 22),
            card_number: "A00000001".into(),
        },
        holder_records: HolderRecords {
            ssn: "11010519491231002X".into(),
            name: "张三".into(),
            sex: Sex::Male,
            ethnicity: 1,
            birthplace: "110105".into(),
            birth_date: day(1949, 12, 31),
        },
        initial_pin: PIN.into(),
    }
}

/// Just enough of a card to check what the hub sends.
struct MiniCard {
    alg: CardAlgorithm,
    kt: [u8; 16],
    life: LifeCycle,
    files: BTreeSet<u16>,
    in_ssse: bool,
    keys: BTreeMap<u8, Vec<u8>>,
    records: RecordValues,
    challenge: Option<[u8; 8]>,
    counter: u8,
    authenticated: bool,
}

impl MiniCard {
    fn blank(alg: CardAlgorithm) -> Self {
        let d = diversification_data(CODE).expect("hex");
        Self {
            alg,
            kt: raw::diversify(alg, &master(CardKey::Transport), &d),
            life: LifeCycle::OpReady,
            files: BTreeSet::new(),
            in_ssse: false,
            keys: BTreeMap::new(),
            records: RecordValues::new(),
            challenge: None,
            counter: 0,
            authenticated: false,
        }
    }

    /// A power cycle: security state and current DF are lost.
    fn reset(&mut self) {
        self.challenge = None;
        self.authenticated = false;
        self.in_ssse = false;
    }

    fn key(&self, id: u8) -> [u8; 16] {
        self.keys
            .get(&id)
            .and_then(|k| k.as_slice().try_into().ok())
            .expect("key written")
    }

    fn observe(&mut self) -> CardObservation {
        personalise::observe(&mut |cmd: &Command| -> Result<Response, String> {
            Ok(self.exchange(cmd))
        })
        .expect("the card answers the profile")
    }

    fn exchange(&mut self, cmd: &Command) -> Response {
        // Through the wire format both ways.
        let cmd = Command::parse(&cmd.to_bytes().expect("encodable")).expect("parses");
        let answer = self.run(&cmd);
        Response::parse(&answer.to_bytes()).expect("parses")
    }

    fn run(&mut self, cmd: &Command) -> Response {
        let status = |sw| Response::status(sw);
        if cmd.ins == ins::GET_CHALLENGE {
            self.counter += 1;
            let c = [self.counter; 8];
            self.challenge = Some(c);
            return Response::ok(c.to_vec());
        }
        let challenge = self.challenge.take();
        let mut data = cmd.data.clone();
        if cmd.cla & 0x04 != 0 {
            let key = if cmd.ins == ins::UPDATE_RECORD {
                self.key(key_id::MAINTENANCE)
            } else {
                self.kt
            };
            let Some(c) = challenge else {
                return status(StatusWord::REF_DATA_NOT_USABLE);
            };
            if !sm::verify_command_mac(self.alg, &key, &c, cmd) {
                return status(StatusWord::SM_DATA_INCORRECT);
            }
            data.truncate(data.len() - 4);
        }
        let structure = matches!(cmd.ins, ins::CREATE_FILE | ins::WRITE_KEY);
        if structure && (!self.authenticated || self.life >= LifeCycle::Secured) {
            return status(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        match cmd.ins {
            ins::SELECT => return self.select(cmd),
            ins::GET_DATA => return self.get_data(cmd),
            ins::READ_RECORD => return self.read_record(cmd),
            ins::EXTERNAL_AUTHENTICATE => {
                let Some(c) = challenge else {
                    return status(StatusWord::REF_DATA_NOT_USABLE);
                };
                if data != raw::external_auth_cryptogram(self.alg, &self.kt, &c) {
                    return status(StatusWord::SECURITY_NOT_SATISFIED);
                }
                self.authenticated = true;
            }
            ins::CREATE_FILE => {
                let fcp = tlv::parse(&data).expect("fcp")[0];
                let id = fcp.find(0x83).expect("constructed").expect("fid").value;
                let id = u16::from_be_bytes(id.try_into().expect("2 bytes"));
                if let Some(template) = fcp.find(0xA1).expect("constructed") {
                    for pair in template.value.chunks(2) {
                        self.records.insert(pair[0], vec![0; usize::from(pair[1])]);
                    }
                }
                self.files.insert(id);
            }
            ins::WRITE_KEY => {
                let plain = raw::ecb_decrypt(self.alg, &self.kt, &data[3..]).expect("blocks");
                self.keys.insert(cmd.p2, plain);
            }
            ins::SET_STATUS => {
                self.life = LifeCycle::from_byte(cmd.p2).expect("profile state");
            }
            ins::UPDATE_RECORD => {
                let (tag, value) = tlv::parse_record(&data).expect("record");
                self.records.insert(tag, value.to_vec());
            }
            _ => return status(StatusWord::INS_NOT_SUPPORTED),
        }
        status(StatusWord::OK)
    }

    fn select(&mut self, cmd: &Command) -> Response {
        let found = match cmd.p1 {
            profile::select::BY_NAME => {
                self.in_ssse = self.files.contains(&fid::SSSE);
                self.in_ssse
            }
            profile::select::EF_BY_FID => {
                let id = u16::from_be_bytes(cmd.data[..].try_into().expect("fid"));
                self.in_ssse && self.files.contains(&id)
            }
            _ => {
                self.in_ssse = false;
                true
            }
        };
        Response::status(if found {
            StatusWord::OK
        } else {
            StatusWord::FILE_NOT_FOUND
        })
    }

    fn get_data(&self, cmd: &Command) -> Response {
        match u16::from_be_bytes([cmd.p1, cmd.p2]) {
            get_data::CARD_ID_CODE => Response::ok(CODE.as_bytes().to_vec()),
            get_data::LIFE_CYCLE => Response::ok(vec![self.life.to_byte()]),
            get_data::KEY_IDS if self.in_ssse => {
                Response::ok(self.keys.keys().copied().collect::<Vec<_>>())
            }
            get_data::KEY_IDS => Response::ok(vec![key_id::TRANSPORT]),
            _ => Response::status(StatusWord::REF_DATA_NOT_FOUND),
        }
    }

    fn read_record(&self, cmd: &Command) -> Response {
        let ef = match cmd.p2 >> 3 {
            5 => fid::EF05,
            _ => fid::EF06,
        };
        if !self.in_ssse || !self.files.contains(&ef) {
            return Response::status(StatusWord::FILE_NOT_FOUND);
        }
        match self.records.get(&cmd.p1) {
            Some(v) => Response::ok(tlv::encode_record(cmd.p1, v).expect("short")),
            None => Response::status(StatusWord::RECORD_NOT_FOUND),
        }
    }
}

/// Runs steps through `prepare`; every step must answer 9000.
fn run(
    steps: &[Step],
    hsm: &SoftHsm,
    alg: CardAlgorithm,
    keys: &CardKeyLabels,
    card: &mut MiniCard,
) {
    for step in steps {
        let challenge = step.needs_challenge().then(|| {
            let r = card.exchange(&Command::new(0, ins::GET_CHALLENGE, 0, 0).with_le(8));
            <[u8; 8]>::try_from(r.data.as_slice()).expect("8 bytes")
        });
        let cmd = personalise::prepare(step, hsm, alg, keys, challenge.as_ref()).expect("prepare");
        assert_eq!(
            card.exchange(&cmd).sw,
            StatusWord::OK,
            "{}",
            step.description
        );
    }
}

fn assert_personalised(card: &mut MiniCard, t: &PersonalisationTarget) {
    assert_eq!(card.life, LifeCycle::Secured);
    let d = diversification_data(CODE).expect("hex");
    for key in CardKey::DF_KEYS {
        assert_eq!(
            card.key(key.id()).to_vec(),
            raw::diversify(card.alg, &master(key), &d).to_vec(),
            "{key:?}"
        );
    }
    let mut pin_block = vec![0x12, 0x34, 0x56];
    pin_block.resize(16, 0xFF);
    assert_eq!(card.keys[&key_id::PIN], pin_block);
    assert_eq!(
        CardRecords::decode(&card.records).expect("ef05"),
        t.card_records
    );
    assert_eq!(
        HolderRecords::decode(&card.records).expect("ef06"),
        t.holder_records
    );
    card.reset();
    let seen = card.observe();
    assert_eq!(personalise::build(t, &seen).expect("build"), vec![], "done");
}

fn descriptions(steps: &[Step]) -> Vec<&str> {
    steps.iter().map(|s| s.description.as_str()).collect()
}

#[test]
fn a_blank_card_is_formatted_and_personalised() {
    for alg in [CardAlgorithm::Sm4, CardAlgorithm::Tdes] {
        let hsm = hsm_with_masters(alg);
        let keys = CardKeyLabels::derive(&hsm, CODE).expect("keys");
        let t = target(alg);
        let mut card = MiniCard::blank(alg);
        let seen = card.observe();
        assert_eq!(seen.life_cycle, Some(LifeCycle::OpReady));
        assert!(!seen.ssse && seen.records.is_empty());
        let steps = personalise::build(&t, &seen).expect("build");
        let names = descriptions(&steps);
        assert_eq!(
            names[..4],
            [
                "SELECT MF",
                "EXTERNAL AUTHENTICATE with the transport key",
                "CREATE FILE SSSE",
                "SELECT SSSE"
            ]
        );
        assert_eq!(names.last(), Some(&"SET STATUS SECURED"));
        // 13 format steps, SELECT SSSE, 14 records, SET STATUS SECURED.
        assert_eq!(steps.len(), 13 + 1 + 14 + 1, "{names:#?}");
        run(&steps, &hsm, alg, &keys, &mut card);
        assert_personalised(&mut card, &t);
        keys.destroy(&hsm).expect("destroy");
    }
}

#[test]
fn an_interrupted_card_resumes_from_any_step() {
    let alg = CardAlgorithm::Sm4;
    let hsm = hsm_with_masters(alg);
    let keys = CardKeyLabels::derive(&hsm, CODE).expect("keys");
    let t = target(alg);
    let total = personalise::build(&t, &MiniCard::blank(alg).observe())
        .expect("build")
        .len();
    for cut in 0..total {
        let mut card = MiniCard::blank(alg);
        let steps = personalise::build(&t, &card.observe()).expect("build");
        run(&steps[..cut], &hsm, alg, &keys, &mut card);
        card.reset();
        let rest = personalise::build(&t, &card.observe()).expect("resume");
        // At most the re-selection and re-authentication come on top.
        assert!(
            rest.len() <= total - cut + 3,
            "cut {cut}: {:#?}",
            descriptions(&rest)
        );
        run(&rest, &hsm, alg, &keys, &mut card);
        assert_personalised(&mut card, &t);
    }
}

#[test]
fn a_secured_card_gets_only_the_records_that_changed() {
    let alg = CardAlgorithm::Tdes;
    let hsm = hsm_with_masters(alg);
    let keys = CardKeyLabels::derive(&hsm, CODE).expect("keys");
    let mut t = target(alg);
    let mut card = MiniCard::blank(alg);
    let steps = personalise::build(&t, &card.observe()).expect("build");
    run(&steps, &hsm, alg, &keys, &mut card);
    t.holder_records.name = "张三丰".into();
    let steps = personalise::build(&t, &card.observe()).expect("build");
    assert_eq!(
        descriptions(&steps),
        ["SELECT SSSE", "UPDATE RECORD name (EF06 tag 09)"]
    );
    run(&steps, &hsm, alg, &keys, &mut card);
    assert_personalised(&mut card, &t);
}

#[test]
fn wrong_locked_and_broken_cards_are_refused() {
    let t = target(CardAlgorithm::Sm4);
    let blank = MiniCard::blank(CardAlgorithm::Sm4).observe();
    let mut seen = blank.clone();
    seen.card_id_code = "310000D156000006".into();
    assert!(matches!(
        personalise::build(&t, &seen),
        Err(ScriptError::WrongChip { .. })
    ));
    let mut seen = blank.clone();
    seen.life_cycle = Some(LifeCycle::CardLocked);
    assert!(matches!(
        personalise::build(&t, &seen),
        Err(ScriptError::LifeCycle(Some(LifeCycle::CardLocked)))
    ));
    let mut seen = blank;
    seen.life_cycle = Some(LifeCycle::Secured);
    seen.ssse = true;
    seen.ef05 = true;
    seen.keys = vec![1, 2, 3, 4, 5, 0x10];
    let err = personalise::build(&t, &seen).expect_err("EF06 missing");
    assert!(matches!(err, ScriptError::CannotRepair { .. }));
    assert!(err.to_string().contains("EF06"), "{err}");
}

#[test]
fn an_initialized_card_missing_a_key_is_completed_before_personalising() {
    let alg = CardAlgorithm::Sm4;
    let hsm = hsm_with_masters(alg);
    let keys = CardKeyLabels::derive(&hsm, CODE).expect("keys");
    let t = target(alg);
    let mut card = MiniCard::blank(alg);
    let steps = personalise::build(&t, &card.observe()).expect("build");
    let format_len = steps
        .iter()
        .position(|s| s.description == "SET STATUS INITIALIZED")
        .expect("format ends with SET STATUS")
        + 1;
    run(&steps[..format_len], &hsm, alg, &keys, &mut card);
    card.keys.remove(&key_id::PIN_UNBLOCK);
    card.reset();
    let rest = personalise::build(&t, &card.observe()).expect("build");
    assert_eq!(
        descriptions(&rest)[..4],
        [
            "SELECT MF",
            "EXTERNAL AUTHENTICATE with the transport key",
            "SELECT SSSE",
            "WRITE KEY pin-unblock"
        ]
    );
    run(&rest, &hsm, alg, &keys, &mut card);
    assert_personalised(&mut card, &t);
}

#[test]
fn steps_needing_a_challenge_refuse_to_run_without_one() {
    let alg = CardAlgorithm::Sm4;
    let hsm = hsm_with_masters(alg);
    let keys = CardKeyLabels::derive(&hsm, CODE).expect("keys");
    let steps = personalise::build(&target(alg), &MiniCard::blank(alg).observe()).expect("build");
    for step in steps.iter().filter(|s| s.needs_challenge()) {
        assert!(
            personalise::prepare(step, &hsm, alg, &keys, None).is_err(),
            "{}",
            step.description
        );
    }
}
