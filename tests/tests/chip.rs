//! End to end through a real pcscd: a simulated social security card
//! (`cardhub sim card`, its own process) sits in a vpcd reader of the PC/SC
//! test rig; the hub (its own process) sees the reader and the card,
//! personalises the blank chip and checks it; a record altered on the card
//! is reported as that field's mismatch; a wrong MAC is refused by the card
//! (6988) and reported; a card pulled mid-script leaves an interrupted job
//! that resumes on re-insertion; a name with a CJK extension B character is
//! refused without a substitution and written with one.
//!
//! Each test leases one rig reader and tells its hub to drive only that one,
//! so the tests run side by side on one pcscd.

use std::time::{Duration, Instant};

use cardhub_devices::rig::ReaderLease;
use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::chip::profile::{fid, key_id};
use cardhub_protocols::roles::Role;
use cardhub_simulators::card::memory::CardMemory;
use cardhub_storage::applications::{ApplicationKind, NewApplication};
use cardhub_storage::persons::{NewPerson, Sex};
use cardhub_storage::{Actor, Store, applications, cards, persons};
use cardhub_tests::{CONFIG_FILE, Http, HubProcess, SimCardProcess};
use serde_json::{Value, json};

/// How long the hub gets to notice a reader or a card.
const SEE_TIMEOUT: Duration = Duration::from_secs(30);

/// A hub that drives only the leased reader.
fn hub_for(lease: &ReaderLease, dir: Option<tempfile::TempDir>) -> HubProcess {
    let readers = format!("[\"{}\"]", lease.reader_name());
    let env = [
        ("CARDHUB_CHIP__READERS", readers.as_str()),
        ("RUST_LOG", "warn,cardhub_actors::chip=info"),
    ];
    match dir {
        Some(dir) => HubProcess::start_in(dir, &env),
        None => HubProcess::start_with(&env),
    }
}

/// A resident with `name`, an application and a card with a number, moved
/// to data-prepared; returns the card id.
fn seed_card(store: &Store, name: &str, card_number: &str) -> i64 {
    seed_person_card(
        store,
        &NewPerson {
            document_type: "resident-id".to_owned(),
            document_number: "11010519491231002X".to_owned(),
            name: name.to_owned(),
            english_name: None,
            permit_chinese_name: None,
            nationality: 156,
            sex: Sex::Male,
            ethnicity: Some(1),
            birth_date: chrono::NaiveDate::from_ymd_opt(1949, 12, 31).unwrap(),
            phone: None,
            address: None,
        },
        card_number,
    )
}

/// `person`, an application and a card with a number, moved to
/// data-prepared; returns the card id.
fn seed_person_card(store: &Store, person: &NewPerson, card_number: &str) -> i64 {
    let hsm = store.hsm().clone();
    let centre = Actor::new("seed", Role::CentreStaff);
    store
        .with_conn(|conn| {
            let person = persons::create(conn, hsm.as_ref(), person, &centre)?;
            let (_, card) = applications::create_application(
                conn,
                hsm.as_ref(),
                &NewApplication {
                    person_id: person,
                    kind: ApplicationKind::FirstIssue,
                    branch_id: None,
                },
                &centre,
            )?;
            cards::assign_card_number(conn, hsm.as_ref(), card.id, card_number, &centre)?;
            for to in [CardStatus::PhotoApproved, CardStatus::DataPrepared] {
                cards::transition_card(conn, hsm.as_ref(), card.id, None, to, &centre, "ready")?;
            }
            Ok(card.id)
        })
        .expect("seeding works")
}

/// The reader's name as a URL path segment.
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Waits until the hub reports a card in the reader.
fn wait_for_card(api: &Http, reader: &str) {
    wait_for(api, reader, true);
}

/// Waits until the hub reports the reader holding a card (or empty).
fn wait_for(api: &Http, reader: &str, card: bool) {
    let deadline = Instant::now() + SEE_TIMEOUT;
    loop {
        let list = api.get("/api/v1/readers");
        if list.status == 200
            && list.json().as_array().is_some_and(|rs| {
                rs.iter()
                    .any(|r| r["name"] == reader && r["card_atr"].is_string() == card)
            })
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the hub never saw {reader} {}: {} {}",
            if card { "with a card" } else { "empty" },
            list.status,
            list.text
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs a job and waits for its end; returns the job.
fn job(api: &Http, reader: &str, what: &str, body: Value) -> Value {
    let reply = api.post(
        &format!("/api/v1/readers/{}/{what}", segment(reader)),
        &body,
    );
    assert_eq!(reply.status, 200, "{what}: {}", reply.text);
    reply.json()
}

fn personalise(api: &Http, reader: &str, card: i64) -> Value {
    job(
        api,
        reader,
        "personalise",
        json!({"card_id": card, "wait": true}),
    )
}

fn check(api: &Http, reader: &str, card: i64) -> Value {
    job(api, reader, "check", json!({"card_id": card, "wait": true}))
}

/// Starts a blank simulated card in the leased reader and waits until the
/// hub sees it.
fn insert_blank(hub: &HubProcess, lease: &ReaderLease, card_id: &str) -> SimCardProcess {
    let mut sim = SimCardProcess::start(
        lease.port(),
        &hub.path("card.json"),
        card_id,
        &hub.path("data/dev-keys.toml"),
    );
    sim.wait_inserted();
    wait_for_card(&hub.http(Some(&hub.dev_token())), lease.reader_name());
    sim
}

#[test]
fn a_blank_card_is_personalised_and_checked_and_an_altered_record_is_that_fields_mismatch() {
    let lease = ReaderLease::acquire().expect("a rig reader");
    let hub = hub_for(&lease, None);
    let api = hub.http(Some(&hub.dev_token()));
    let card = seed_card(&hub.open_store(), "张三", "A00000001");
    let mut sim = insert_blank(&hub, &lease, "31000086F1A2B3C4");

    let done = personalise(&api, lease.reader_name(), card);
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["chip_id"], "31000086F1A2B3C4");
    assert!(done["apdus"].as_i64().unwrap() > 20, "{done}");
    assert_eq!(sim.control.state().unwrap().life_cycle, "0F");

    let checked = check(&api, lease.reader_name(), card);
    assert_eq!(checked["status"], "done", "{checked}");
    assert_eq!(checked["result"]["mismatches"], json!([]), "{checked}");
    assert_eq!(checked["result"]["authentic"], true, "{checked}");

    // 李四 in GBK, 00-padded to the name record's 30 bytes.
    let mut altered = vec![0xC0, 0xEE, 0xCB, 0xC4];
    altered.resize(30, 0);
    sim.control.tamper_record(6, 0x09, &altered).unwrap();
    let checked = check(&api, lease.reader_name(), card);
    assert_eq!(checked["status"], "done", "{checked}");
    assert_eq!(
        checked["result"]["mismatches"],
        json!([{"field": "name", "expected": "张三", "found": "李四"}]),
        "{checked}"
    );

    let chip = api.get(&format!("/api/v1/cards/{card}/chip"));
    assert_eq!(chip.status, 200, "{}", chip.text);
    let jobs = chip.json()["jobs"].as_array().unwrap().len();
    assert_eq!(jobs, 3, "{}", chip.text);
    hub.assert_audit_intact();
    sim.stop();
}

#[test]
fn a_card_pulled_mid_script_leaves_an_interrupted_job_that_resumes_on_reinsertion() {
    let lease = ReaderLease::acquire().expect("a rig reader");
    let hub = hub_for(&lease, None);
    let api = hub.http(Some(&hub.dev_token()));
    let card = seed_card(&hub.open_store(), "王五", "A00000002");
    let mut sim = insert_blank(&hub, &lease, "31000086F1A2B3C5");

    // Pulled during formatting, the command not applied.
    sim.control.remove_after(14, false).unwrap();
    let interrupted = personalise(&api, lease.reader_name(), card);
    assert_eq!(interrupted["status"], "interrupted", "{interrupted}");
    assert!(
        interrupted["error"].as_str().unwrap().contains("removed"),
        "{interrupted}"
    );
    let id = interrupted["id"].as_i64().unwrap();

    // The card is out: the hub sees the reader empty, then the card back.
    wait_for(&api, lease.reader_name(), false);
    sim.control.insert().unwrap();
    let deadline = Instant::now() + SEE_TIMEOUT;
    let resumed = loop {
        let got = api.get(&format!("/api/v1/chip-jobs/{id}")).json();
        if got["status"] == "done" || got["status"] == "failed" {
            break got;
        }
        assert!(Instant::now() < deadline, "the job never resumed: {got}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(resumed["status"], "done", "{resumed}");
    assert_eq!(resumed["attempts"], 2, "{resumed}");

    let checked = check(&api, lease.reader_name(), card);
    assert_eq!(checked["result"]["mismatches"], json!([]), "{checked}");
    hub.assert_audit_intact();
    sim.stop();
}

#[test]
fn a_wrong_mac_is_refused_by_the_card_and_reported() {
    let lease = ReaderLease::acquire().expect("a rig reader");
    let hub = hub_for(&lease, None);
    let api = hub.http(Some(&hub.dev_token()));
    let card = seed_card(&hub.open_store(), "赵六", "A00000003");
    let sim = insert_blank(&hub, &lease, "31000086F1A2B3C6");
    assert_eq!(
        personalise(&api, lease.reader_name(), card)["status"],
        "done"
    );
    let card_file = sim.card_file.clone();
    sim.stop();
    wait_for(&api, lease.reader_name(), false);

    // The card's maintenance key is no longer the one the hub derives, and
    // a record differs, so the hub's UPDATE RECORD carries a MAC the card
    // cannot accept.
    let mut memory = CardMemory::load(&card_file).unwrap();
    let key = memory
        .key_mut(&[fid::SSSE], key_id::MAINTENANCE)
        .expect("the maintenance key was loaded");
    key.value.iter_mut().for_each(|b| *b ^= 0x5A);
    let mut name = vec![0xC0, 0xEE, 0xCB, 0xC4];
    name.resize(30, 0);
    memory.set_record(6, 0x09, &name).unwrap();
    memory.save(&card_file).unwrap();

    let mut sim = SimCardProcess::start(
        lease.port(),
        &card_file,
        "31000086F1A2B3C6",
        &hub.path("data/dev-keys.toml"),
    );
    sim.wait_inserted();
    wait_for_card(&api, lease.reader_name());
    let refused = personalise(&api, lease.reader_name(), card);
    assert_eq!(refused["status"], "failed", "{refused}");
    let error = refused["error"].as_str().unwrap();
    assert!(error.contains("6988"), "{error}");
    hub.assert_audit_intact();
    sim.stop();
}

#[test]
fn a_rare_character_is_refused_without_a_substitution_and_written_with_one() {
    let lease = ReaderLease::acquire().expect("a rig reader");
    let mut hub = hub_for(&lease, None);
    let card = seed_card(&hub.open_store(), "𠮷张三", "A00000004");
    let sim = insert_blank(&hub, &lease, "31000086F1A2B3C7");
    let api = hub.http(Some(&hub.dev_token()));

    let refused = personalise(&api, lease.reader_name(), card);
    assert_eq!(refused["status"], "failed", "{refused}");
    let error = refused["error"].as_str().unwrap();
    assert!(error.contains("U+20BB7"), "{error}");
    // Refused before anything was written: the chip is still blank.
    let mut sim = sim;
    assert_eq!(sim.control.state().unwrap().life_cycle, "01");

    // The centre adds the character to its substitution table.
    assert!(hub.stop(nix::sys::signal::Signal::SIGTERM).success());
    let dir = hub.into_dir();
    std::fs::write(
        dir.path().join(CONFIG_FILE),
        "[chip.substitutions]\n\"𠮷\" = \"吉\"\n",
    )
    .unwrap();
    let hub = hub_for(&lease, Some(dir));
    let api = hub.http(Some(&hub.dev_token()));
    wait_for_card(&api, lease.reader_name());
    let done = personalise(&api, lease.reader_name(), card);
    assert_eq!(done["status"], "done", "{done}");
    let checked = check(&api, lease.reader_name(), card);
    assert_eq!(checked["result"]["mismatches"], json!([]), "{checked}");
    let chip = api.get(&format!("/api/v1/cards/{card}/chip")).json();
    assert_eq!(chip["chip"]["chip_name"], "吉张三");
    assert_eq!(
        chip["chip"]["substitutions"],
        json!([{"from": "𠮷", "to": "吉"}])
    );
    hub.assert_audit_intact();
    sim.stop();
}

#[test]
fn a_permanent_residents_chip_carries_the_english_name_and_the_chinese_name_is_checked_against_the_permit()
 {
    let lease = ReaderLease::acquire().expect("a rig reader");
    let hub = hub_for(&lease, None);
    let api = hub.http(Some(&hub.dev_token()));
    let long_name = "ALEXANDRA KATHERINE MONTGOMERY-WILLIAMSON";
    let card = seed_person_card(
        &hub.open_store(),
        &NewPerson {
            document_type: "permanent-residence".to_owned(),
            document_number: "911124198108030024".to_owned(),
            name: long_name.to_owned(),
            english_name: Some(long_name.to_owned()),
            permit_chinese_name: Some("蒙哥马利".to_owned()),
            nationality: 124,
            sex: Sex::Female,
            ethnicity: None,
            birth_date: chrono::NaiveDate::from_ymd_opt(1981, 8, 3).unwrap(),
            phone: None,
            address: None,
        },
        "A00000005",
    );
    let mut sim = insert_blank(&hub, &lease, "31000086F1A2B3C8");
    assert_eq!(
        personalise(&api, lease.reader_name(), card)["status"],
        "done"
    );

    // 41 characters: 30 bytes in the name record, the rest in its extension.
    let state = sim.control.state().unwrap();
    let name = state.record(6, 0x09).expect("a name record");
    let extension = state.record(6, 0x4E).expect("a name extension record");
    assert_eq!(&name[..], &long_name.as_bytes()[..30]);
    assert_eq!(&extension[..11], &long_name.as_bytes()[30..]);

    let presented = |chinese: &str| {
        job(
            &api,
            lease.reader_name(),
            "check",
            json!({"card_id": card, "wait": true, "permit_chinese_name": chinese}),
        )
    };
    let right = presented("蒙哥马利");
    assert_eq!(right["result"]["mismatches"], json!([]), "{right}");
    let wrong = presented("蒙哥马");
    assert_eq!(
        wrong["result"]["mismatches"],
        json!([{"field": "chinese_name", "expected": "蒙哥马利", "found": "蒙哥马"}]),
        "{wrong}"
    );
    hub.assert_audit_intact();
    sim.stop();
}

#[test]
fn the_chip_benchmark_personalises_and_checks_through_pcscd_and_reports_where_the_time_goes() {
    // Its own reader lease, its own cards: two rounds are enough to see
    // every part of the report.
    let out = std::process::Command::new(cardhub_tests::cardhub_bin())
        .args(["bench", "chip", "--cards", "2", "--gaps", "3"])
        .env("TMPDIR", std::env::temp_dir())
        .output()
        .expect("cardhub bench chip runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(": 2 cards, "), "{stdout}");
    assert!(stdout.contains("hub overhead: "), "{stdout}");
    assert!(stdout.contains("CPU of this process a card"), "{stdout}");
    let gaps: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("gaps between the hub's PC/SC calls (2 cards"))
        .skip(1)
        .take_while(|l| l.contains(" after "))
        .collect();
    assert_eq!(gaps.len(), 3, "the three largest gaps: {stdout}");
    assert!(
        stdout.contains("the APDUs in PC/SC (sums of medians): hub "),
        "{stdout}"
    );
}
