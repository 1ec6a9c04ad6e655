//! A simulated branch end to end: a real `cardhub terminal` process carries
//! the branch's simulated devices (an ID reader on a pty, a camera over
//! TCP, card readers behind pcscd, an instant-issue printer over TCP) to
//! the hub over `/ws/terminal`, and a branch operator works them through
//! the hub's HTTP API as the console does.

use std::time::Duration;

use cardhub_storage::branches::{self, BranchKind, NewBranch};
use cardhub_tests::HubProcess;
use cardhub_tests::branch::{TerminalDevices, TerminalProcess, sim_camera, sim_id_reader};
use cardhub_tests::workshop::hub_dir;
use serde_json::{Value, json};

/// The branch of these tests: a community affairs centre.
const BRANCH: &str = "B001";

/// Registers the community branch and a branch operator; returns the
/// operator's session token.
fn branch_and_clerk(hub: &HubProcess) -> String {
    let store = hub.open_store();
    let hsm = store.hsm().clone();
    let admin = cardhub_storage::Actor::new("test", cardhub_protocols::roles::Role::Admin);
    store
        .with_conn(|conn| {
            branches::create(
                conn,
                hsm.as_ref(),
                &NewBranch {
                    code: BRANCH.into(),
                    name: "黄浦区社区事务受理服务中心".into(),
                    kind: BranchKind::Community,
                },
                &admin,
            )
            .map(drop)
        })
        .expect("the branch is registered");
    let password = "counter-clerk-password-1";
    let made = hub.cli(
        &[
            "operator",
            "create",
            "--username",
            "clerk",
            "--display-name",
            "王芳",
            "--role",
            "branch-operator",
            "--branch",
            BRANCH,
        ],
        Some(&format!("{password}\n")),
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let login = hub.http(None).post(
        "/api/v1/session",
        &json!({"username": "clerk", "password": password}),
    );
    assert_eq!(login.status, 200, "{}", login.text);
    login.json()["token"]
        .as_str()
        .expect("a session token")
        .to_owned()
}

#[test]
fn a_permanent_residence_card_and_a_photo_are_taken_through_the_terminal() {
    let dir = hub_dir();
    let mut hub = HubProcess::start_in(dir, &[("CARDHUB_CHIP__READERS", "[\"no-local-reader\"]")]);
    let token = branch_and_clerk(&hub);
    let http = hub.http(Some(&token));

    let id_reader = sim_id_reader("permanent-2023");
    let camera = sim_camera();
    let work = tempfile::tempdir().expect("a directory for the terminal");
    let devices = TerminalDevices {
        id_readers: vec![("id-reader-1".into(), id_reader.field("pty").into())],
        cameras: vec![("camera-1".into(), camera.field("address").into())],
        ..TerminalDevices::default()
    };
    let mut terminal =
        TerminalProcess::register_and_start(&hub, work.path(), "T-B001-01", BRANCH, &devices);
    terminal.wait_linked();
    terminal.wait_line(Duration::from_secs(10), |l| {
        l.starts_with("device id-reader-1")
    });

    let read = http.post(
        "/api/v1/branch/terminals/T-B001-01/id-card",
        &json!({"device": "id-reader-1", "wait_secs": 5}),
    );
    assert_eq!(read.status, 200, "{}", read.text);
    let card = read.json();
    assert_eq!(card["card_kind"], "permanent-residence-2023", "{card}");
    assert_eq!(card["number_ok"], true, "{card}");
    assert!(
        card["chinese_name"].as_str().is_some_and(|n| !n.is_empty()),
        "{card}"
    );
    assert!(card["nationality"].as_u64().is_some(), "{card}");
    assert!(
        card["english_name"].as_str().is_some_and(|n| !n.is_empty()),
        "{card}"
    );
    assert!(
        card["id_read_id"].as_i64().is_some(),
        "the read is recorded: {card}"
    );

    let photo = http.post(
        "/api/v1/branch/terminals/T-B001-01/photo",
        &json!({"device": "camera-1"}),
    );
    assert_eq!(photo.status, 200, "{}", photo.text);
    let photo: Value = photo.json();
    assert_eq!(
        (photo["width"].as_u64(), photo["height"].as_u64()),
        (Some(358), Some(441)),
        "{photo}"
    );

    // A device the terminal does not have is the terminal's answer, named.
    let missing = http.post(
        "/api/v1/branch/terminals/T-B001-01/id-card",
        &json!({"device": "id-reader-9", "wait_secs": 1}),
    );
    assert_eq!(missing.status, 503, "{}", missing.text);
    assert!(missing.text.contains("id-reader-9"), "{}", missing.text);

    // With the terminal gone, the hub says so instead of hanging.
    terminal.stop(nix::sys::signal::Signal::SIGKILL);
    std::thread::sleep(Duration::from_millis(500));
    let away = http.post("/api/v1/branch/terminals/T-B001-01/photo", &json!({}));
    assert_eq!(away.status, 503, "{}", away.text);
    assert!(away.text.contains("not connected"), "{}", away.text);
    hub.assert_audit_intact();
    assert_eq!(hub.stop(nix::sys::signal::Signal::SIGTERM).code(), Some(0));
}

/// The hub's config: an instant-issue line at [`BRANCH`] whose printer and
/// encoder are the terminal's (`terminal://`), quick reconnects, and no
/// stand-alone reader of the hub's own.
fn instant_line_config(terminal: &str) -> String {
    format!(
        "[chip]\nreaders = [\"cardhub-tests: no stand-alone reader\"]\n\
         [chip.substitutions]\n\"𠮷\" = \"吉\"\n\n\
         [workshop]\nidle_poll_ms = 100\nreconnect_initial_ms = 50\nreconnect_max_ms = 500\nfault_poll_ms = 100\n\n\
         [[workshop.lines]]\nname = \"counter-{BRANCH}\"\nprogram = \"basic\"\nautostart = true\nbranch = \"{BRANCH}\"\noperator = \"counter-{BRANCH}\"\n\
         [[workshop.lines.printers]]\nname = \"{BRANCH}-printer\"\naddress = \"terminal://{terminal}/printer-1\"\nencoder = \"terminal://{terminal}/card-reader-2\"\n"
    )
}

#[test]
fn an_instant_replacement_survives_a_cut_link_and_the_card_is_checked_at_the_counter() {
    use cardhub_tests::workshop::{
        Applicant, CARD_TIMEOUT, Link, SimPrinter, apply_at, task, wait_for,
    };
    let dir = hub_dir();
    let sims = tempfile::tempdir().expect("a directory for the simulators");
    // The branch printer and its encoder stand at the counter: the
    // terminal drives them; the hub only sees the terminal.
    let mut printer = SimPrinter::start(dir.path(), sims.path(), "counter-printer", Link::Tcp);
    std::fs::write(
        dir.path().join(cardhub_tests::CONFIG_FILE),
        instant_line_config("T-B001-01"),
    )
    .expect("config written");
    let mut hub = HubProcess::start_in(dir, &[]);
    let token = branch_and_clerk(&hub);
    let clerk = hub.http(Some(&token));
    let admin = hub.http(Some(&hub.dev_token()));

    let work = tempfile::tempdir().expect("a directory for the terminal");
    let devices = TerminalDevices {
        card_readers: vec![("card-reader-2".into(), printer.encoder.clone())],
        printers: vec![("printer-1".into(), printer.address.clone())],
        ..TerminalDevices::default()
    };
    let mut terminal =
        TerminalProcess::register_and_start(&hub, work.path(), "T-B001-01", BRANCH, &devices);
    terminal.wait_linked();

    // An approved application collected at this branch.
    let applied = apply_at(&admin, 901, Applicant::Resident("陈𠮷"), Some(BRANCH));
    let application_id = applied["application"]["id"]
        .as_i64()
        .expect("an application id");
    // A slow printer leaves time to cut the link in the middle of the card.
    printer.control.slow(400).expect("the printer slows down");
    let issued = clerk.post(
        "/api/v1/branch/instant-issues",
        &json!({"application_id": application_id}),
    );
    assert_eq!(issued.status, 202, "{}", issued.text);
    let task_id = issued.json()["task_id"].as_i64().expect("a task id");
    wait_for(
        "the card to be on the counter's printer",
        CARD_TIMEOUT,
        || {
            let t = task(&admin, task_id);
            match t["task"]["status"].as_str() {
                Some("in-production") => Ok(()),
                _ => Err(t["task"].to_string()),
            }
        },
    );
    // The branch PC loses power mid-card, and comes back.
    terminal.stop(nix::sys::signal::Signal::SIGKILL);
    std::thread::sleep(Duration::from_millis(800));
    printer
        .control
        .clear_link_faults()
        .expect("normal speed again");
    let (config, hub_url) = (terminal.config.clone(), terminal.hub_url.clone());
    let key_file = work.path().join("T-B001-01-key.toml");
    let mut terminal = TerminalProcess::start("T-B001-01", &config, &hub_url, BRANCH);
    terminal.wait_linked();

    // The card is finished (or wasted and made again) and the terminal is
    // told how the operation ended, after it reconnected.
    let outcome = terminal.wait_line(CARD_TIMEOUT, |l| {
        l.starts_with(&format!("outcome instant-issue:{application_id} "))
    });
    assert!(outcome.contains("instant_issue completed"), "{outcome}");
    let done = task(&admin, task_id);
    assert_eq!(done["task"]["status"], "done", "{done}");
    let card_id = done["task"]["card_id"].as_i64().expect("the card made");
    let card = admin.get(&format!("/api/v1/cards/{card_id}"));
    assert_eq!(card.json()["status"], "qc-passed", "{}", card.text);

    // Every physical card used is the finished one or a registered waste:
    // nothing was lost in the cut.
    let attempts = done["task"]["attempts"].as_i64().expect("attempts");
    let wasted = done["waste"].as_array().map_or(0, Vec::len) as i64;
    assert_eq!(attempts, 1 + wasted, "{done}");
    assert!(
        printer.state().chip_in_printer.is_none(),
        "the card left the printer"
    );

    // The holder takes the card to the counter's own reader (another
    // reader of the same terminal): 验卡 against the record, then a PIN
    // change, through the terminal like any reader.
    let made = std::fs::read_dir(&printer.out)
        .expect("the printer's output")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".card.json"))
        .expect("the finished card's chip");
    let counter =
        cardhub_devices::rig::ReaderLease::acquire().expect("a rig reader for the counter");
    let mut chip = cardhub_tests::SimCardProcess::start(
        counter.port(),
        &made,
        // Ignored: the file holds the card made.
        "1100000012345678",
        &hub.path(cardhub_tests::workshop::KEY_FILE),
    );
    chip.wait_inserted();
    drop(terminal);
    let devices = TerminalDevices {
        card_readers: vec![
            ("card-reader-1".into(), counter.reader_name().to_owned()),
            ("card-reader-2".into(), printer.encoder.clone()),
        ],
        printers: vec![("printer-1".into(), printer.address.clone())],
        ..TerminalDevices::default()
    };
    std::fs::write(&config, devices.config_toml("T-B001-01", &key_file))
        .expect("the terminal's config");
    let mut terminal = TerminalProcess::start("T-B001-01", &config, &hub_url, BRANCH);
    terminal.wait_linked();
    let check = wait_for(
        "the counter's reader to check the card",
        Duration::from_secs(30),
        || {
            let reply = clerk.post(
                "/api/v1/branch/terminals/T-B001-01/readers/card-reader-1/check",
                &json!({"card_id": card_id, "wait": true}),
            );
            // pcscd sees the card on its next poll of the reader.
            match reply.status {
                200 if reply.json()["status"] != "interrupted" => Ok(reply.json()),
                _ => Err(reply.text),
            }
        },
    );
    assert_eq!(check["status"], "done", "{check}");
    assert_eq!(check["result"]["passed"], true, "{check}");
    assert_eq!(check["result"]["mismatches"], json!([]), "{check}");
    let pin = clerk.post(
        "/api/v1/branch/terminals/T-B001-01/readers/card-reader-1/pin",
        &json!({"operation": "change", "old_pin": "123456", "new_pin": "864209", "wait": true}),
    );
    assert_eq!(pin.status, 200, "{}", pin.text);
    assert_eq!(pin.json()["status"], "done", "{}", pin.text);
    assert_eq!(pin.json()["result"]["accepted"], true, "{}", pin.text);
    let wrong = clerk.post(
        "/api/v1/branch/terminals/T-B001-01/readers/card-reader-1/pin",
        &json!({"operation": "change", "old_pin": "123456", "new_pin": "111111", "wait": true}),
    );
    // The old PIN no longer opens it: refused with the card's own count.
    let wrong = wrong.json();
    assert_eq!(wrong["result"]["accepted"], false, "{wrong}");
    assert_eq!(wrong["result"]["tries_left"], 2, "{wrong}");
    hub.assert_audit_intact();
    drop(terminal);
    chip.stop();
    assert_eq!(hub.stop(nix::sys::signal::Signal::SIGTERM).code(), Some(0));
}
