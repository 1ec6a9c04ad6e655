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
    terminal.wait_line(Duration::from_secs(10), |l| {
        l.starts_with("device id-reader-1")
    });
    terminal.wait_linked();

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

/// Reads the card on the counter's ID reader; returns the read.
fn read_card(clerk: &cardhub_tests::Http) -> Value {
    let read = clerk.post(
        "/api/v1/branch/terminals/T-B001-01/id-card",
        &json!({"device": "id-reader-1", "wait_secs": 5}),
    );
    assert_eq!(read.status, 200, "{}", read.text);
    read.json()
}

/// Queues `application_id`'s card on the counter's printer; returns the task.
fn issue_now(clerk: &cardhub_tests::Http, application_id: i64) -> i64 {
    let issued = clerk.post(
        "/api/v1/branch/instant-issues",
        &json!({"application_id": application_id}),
    );
    assert_eq!(issued.status, 202, "{}", issued.text);
    issued.json()["task_id"].as_i64().expect("a task id")
}

#[test]
fn a_permanent_resident_is_served_at_the_counter_through_a_cut_link_to_an_instant_replacement() {
    use cardhub_tests::workshop::{CARD_TIMEOUT, Link, SimPrinter, task, wait_for};
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

    let id_reader = sim_id_reader("permanent-2023");
    let camera = sim_camera();
    let counter =
        cardhub_devices::rig::ReaderLease::acquire().expect("a rig reader for the counter");
    let work = tempfile::tempdir().expect("a directory for the terminal");
    let devices = TerminalDevices {
        id_readers: vec![("id-reader-1".into(), id_reader.field("pty").into())],
        cameras: vec![("camera-1".into(), camera.field("address").into())],
        card_readers: vec![
            ("card-reader-1".into(), counter.reader_name().to_owned()),
            ("card-reader-2".into(), printer.encoder.clone()),
        ],
        printers: vec![("printer-1".into(), printer.address.clone())],
    };
    let mut terminal =
        TerminalProcess::register_and_start(&hub, work.path(), "T-B001-01", BRANCH, &devices);
    terminal.wait_linked();

    // 1. The holder's permanent-residence card is read, the photo taken,
    //    and the application made on the read.
    let read = read_card(&clerk);
    assert_eq!(read["card_kind"], "permanent-residence-2023", "{read}");
    let photo = clerk.post(
        "/api/v1/branch/terminals/T-B001-01/photo",
        &json!({"device": "camera-1"}),
    );
    assert_eq!(photo.status, 200, "{}", photo.text);
    let photo = photo.json()["jpeg_base64"]
        .as_str()
        .expect("the photo")
        .to_owned();
    let english = read["english_name"]
        .as_str()
        .expect("an English name")
        .to_owned();
    let applicant = json!({
        "document_number": read["document_number"],
        "name": english,
        "chinese_name": read["chinese_name"],
        "phone": "13812345678",
        "address": "上海市黄浦区人民大道200号",
    });
    let applied = clerk.post(
        "/api/v1/branch/applications",
        &json!({"kind": "first-issue", "applicant": applicant, "id_read_id": read["id_read_id"], "photo_base64": photo}),
    );
    assert_eq!(applied.status, 201, "{}", applied.text);
    let applied = applied.json();
    assert_eq!(applied["evidence"]["entry"], "id-read", "{applied}");
    let application_id = applied["application"]["id"]
        .as_i64()
        .expect("an application id");

    // 2. Made at once on the counter's printer; the branch PC loses power
    //    in the middle of the card and comes back.
    printer.control.slow(400).expect("the printer slows down");
    let task_id = issue_now(&clerk, application_id);
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
    terminal.stop(nix::sys::signal::Signal::SIGKILL);
    std::thread::sleep(Duration::from_millis(800));
    printer
        .control
        .clear_link_faults()
        .expect("normal speed again");
    let (config, hub_url) = (terminal.config.clone(), terminal.hub_url.clone());
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
    // Every physical card used is the finished one or a registered waste:
    // nothing was lost in the cut.
    let attempts = done["task"]["attempts"].as_i64().expect("attempts");
    let wasted = done["waste"].as_array().map_or(0, Vec::len) as i64;
    assert_eq!(attempts, 1 + wasted, "{done}");
    assert!(
        printer.state().chip_in_printer.is_none(),
        "the card left the printer"
    );
    let handed = clerk.post(
        &format!("/api/v1/branch/cards/{card_id}/hand-over"),
        &json!({}),
    );
    assert_eq!(handed.status, 200, "{}", handed.text);
    assert_eq!(
        admin.get(&format!("/api/v1/cards/{card_id}")).json()["status"],
        "received"
    );

    // 3. 验卡 and a PIN change on the counter's own reader, through the
    //    terminal like any reader.
    let made: Vec<std::path::PathBuf> = {
        let mut files: Vec<_> = std::fs::read_dir(&printer.out)
            .expect("the printer's output")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".card.json"))
            .collect();
        files.sort();
        files
    };
    let mut chip = cardhub_tests::SimCardProcess::start(
        counter.port(),
        made.last().expect("the finished card's chip"),
        // Ignored: the file holds the card made.
        "1100000012345678",
        &hub.path(cardhub_tests::workshop::KEY_FILE),
    );
    chip.wait_inserted();
    let check = wait_for(
        "the counter's reader to check the card",
        Duration::from_secs(30),
        || {
            let reply = clerk.post(
            "/api/v1/branch/terminals/T-B001-01/readers/card-reader-1/check",
            &json!({"card_id": card_id, "wait": true, "permit_chinese_name": read["chinese_name"]}),
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
    let pin = |old: &str, new: &str| {
        let reply = clerk.post(
            "/api/v1/branch/terminals/T-B001-01/readers/card-reader-1/pin",
            &json!({"operation": "change", "old_pin": old, "new_pin": new, "wait": true}),
        );
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json()
    };
    let changed = pin("123456", "864209");
    assert_eq!(
        (
            changed["status"].as_str(),
            changed["result"]["accepted"].as_bool()
        ),
        (Some("done"), Some(true)),
        "{changed}"
    );
    // The old PIN no longer opens it: refused with the card's own count.
    let wrong = pin("123456", "111111");
    assert_eq!(wrong["result"]["accepted"], false, "{wrong}");
    assert_eq!(wrong["result"]["tries_left"], 2, "{wrong}");
    chip.stop();

    // 4. The card is lost: temporary then formal loss; a formal loss is
    //    not lifted (the refusal names why and writes nothing); the
    //    replacement is made at the counter, cancelling the lost card.
    for operation in ["temporary-loss", "formal-loss"] {
        let reply = clerk.post(
            &format!("/api/v1/branch/cards/{card_id}/{operation}"),
            &json!({"reason": "lost on the metro"}),
        );
        assert_eq!(reply.status, 200, "{operation}: {}", reply.text);
    }
    let unlock = clerk.post(
        &format!("/api/v1/branch/cards/{card_id}/unlock"),
        &json!({}),
    );
    assert_eq!(unlock.status, 409, "{}", unlock.text);
    assert!(unlock.text.contains("formally-lost"), "{}", unlock.text);
    let history = admin
        .get(&format!("/api/v1/cards/{card_id}/history"))
        .json();
    let last = history
        .as_array()
        .and_then(|h| h.last())
        .expect("a history");
    assert_eq!(
        last["to"], "formally-lost",
        "the refused unlock wrote nothing: {history}"
    );
    let again = read_card(&clerk);
    let replaced = clerk.post(
        "/api/v1/branch/applications",
        &json!({"kind": "replacement", "applicant": applicant, "id_read_id": again["id_read_id"],
                "replaces_card_id": card_id, "photo_base64": photo}),
    );
    assert_eq!(replaced.status, 201, "{}", replaced.text);
    let replaced = replaced.json();
    assert_eq!(
        replaced["replaced_card"]["status"], "cancelled",
        "{replaced}"
    );
    let second = replaced["application"]["id"]
        .as_i64()
        .expect("the replacement");
    let task_id = issue_now(&clerk, second);
    let outcome = terminal.wait_line(CARD_TIMEOUT, |l| {
        l.starts_with(&format!("outcome instant-issue:{second} "))
    });
    assert!(outcome.contains("instant_issue completed"), "{outcome}");
    let done = task(&admin, task_id);
    assert_eq!(done["task"]["status"], "done", "{done}");

    hub.assert_audit_intact();
    drop(terminal);
    assert_eq!(hub.stop(nix::sys::signal::Signal::SIGTERM).code(), Some(0));
}
