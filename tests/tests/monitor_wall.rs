//! The monitoring wall in a real browser (Debian's headless Chromium,
//! driven over the DevTools protocol) against the real hub driving a
//! simulated printer: the page loads and connects, the printer jams mid-card
//! and its tile shows the jam, a device-error alert is raised, persisted and
//! shown, the printer recovers and tile and alert clear, and the page shows
//! when the hub goes away. Screenshots go to `target/test-artefacts/`.

use std::time::Duration;

use cardhub_tests::browser::Browser;
use cardhub_tests::monitor::{Screen, entities};
use cardhub_tests::workshop::{
    Applicant, CARD_TIMEOUT, LineSpec, Link, SimPrinter, apply, extract, hub_dir, wait_done,
    wait_for, write_config,
};
use cardhub_tests::{HubProcess, artefact_dir};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

const TILE: &str = r#"document.querySelector('[data-entity="printer:wall-p1"]')"#;
const ALERT: &str =
    r#"document.querySelector('[data-entity="alert:device-error/printer:wall-p1"]')"#;

fn printer_in(message: &Value, state: &str) -> bool {
    entities(message)
        .iter()
        .any(|e| e["kind"] == "printer" && e["id"] == "wall-p1" && e["state"] == state)
}

#[test]
fn the_wall_shows_a_printer_jam_and_its_recovery_and_the_alert_is_raised_persisted_and_cleared() {
    let dir = hub_dir();
    let sims = tempfile::tempdir().unwrap();
    let mut p = SimPrinter::start(dir.path(), sims.path(), "wall-p1", Link::Tcp);
    write_config(
        dir.path(),
        &[LineSpec {
            name: "line-wall",
            program: "full",
            autostart: true,
            printers: vec![&p],
        }],
    );
    let mut hub = HubProcess::start_in(dir, &[("CARDHUB_MONITOR__ALERTS__DEVICE_ERROR_SECS", "1")]);
    let token = hub.dev_token();
    let http = hub.http(Some(&token));

    let mut browser = Browser::launch(1920, 1080)
        .unwrap_or_else(|e| panic!("{e} (make test installs Debian's chromium)"));
    browser
        .goto(&format!("{}/#token={token}", hub.base))
        .expect("the wall page loads");
    browser
        .wait_for(
            "document.body.dataset.connection === 'connected'",
            Duration::from_secs(20),
        )
        .expect("the page connects to /ws/monitor");
    browser
        .wait_for(
            &format!("{TILE} !== null && ['ok', 'busy'].includes({TILE}.dataset.state)"),
            Duration::from_secs(30),
        )
        .expect("the printer's tile shows it online");
    assert!(
        !browser
            .eval("location.hash")
            .unwrap()
            .as_str()
            .unwrap()
            .contains("token"),
        "the token leaves the address bar"
    );

    // A protocol screen beside the page: when it sees the jam, the hub has
    // published it; the page must show it within 2 s of that.
    let mut screen = Screen::open(
        &hub.base,
        &token,
        json!({"filter": {"kinds": ["printer", "alert"]}}),
    );
    screen.expect("snapshot");

    // A card, slow enough to jam it while its face is printed.
    p.control.slow(400).unwrap();
    apply(&http, 31, Applicant::Resident("钱七"));
    let extraction = extract(&http, "normal");
    let ids: Vec<i64> = extraction["task_ids"]
        .as_array()
        .expect("task ids")
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    wait_for("the print step", CARD_TIMEOUT, || {
        let line = http.get("/api/v1/workshop/lines/line-wall").json();
        let lane = &line["line"]["lanes"][0];
        if lane["step"] == "print" {
            Ok(())
        } else {
            Err(lane.to_string())
        }
    });
    p.control.jam().unwrap();
    screen
        .until(CARD_TIMEOUT, |m| printer_in(m, "error"))
        .expect("the hub publishes the jam");
    let took = browser
        .wait_for(
            &format!("{TILE}.dataset.state === 'error'"),
            Duration::from_secs(2),
        )
        .expect("the tile shows the jam within 2 s of its publication");
    let reason = browser
        .eval(&format!("{TILE}.querySelector('.reason').textContent"))
        .unwrap();
    assert!(
        reason.as_str().unwrap().contains("jam"),
        "the tile says why: {reason}"
    );
    eprintln!(
        "jam on the wall {} ms after the protocol screen saw it",
        took.as_millis()
    );

    // In error longer than device_error_secs: an alert, on the wall and in
    // the database.
    browser
        .wait_for(
            &format!("{ALERT} !== null && {ALERT}.dataset.state === 'error'"),
            Duration::from_secs(15),
        )
        .expect("the device-error alert on the wall");
    browser
        .screenshot(&artefact_dir().join("wall-printer-jam.png"))
        .unwrap();
    let open = http.get("/api/v1/alerts?open=true");
    assert_eq!(open.status, 200, "{}", open.text);
    let open = open.json();
    let alert = open
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["rule"] == "device-error" && a["subject"] == "printer:wall-p1")
        .unwrap_or_else(|| panic!("the alert is persisted: {open}"))
        .clone();
    assert_eq!(alert["severity"], "critical");
    assert!(alert["cleared_at"].is_null());

    // The operator takes the card out: the printer recovers, the card is
    // made again, tile and alert clear.
    p.control.clear_link_faults().unwrap();
    p.control.clear().unwrap();
    browser
        .wait_for(
            &format!("['ok', 'busy'].includes({TILE}.dataset.state)"),
            CARD_TIMEOUT,
        )
        .expect("the tile clears when the printer recovers");
    browser
        .wait_for(
            &format!("{ALERT} === null || {ALERT}.dataset.state === 'ok'"),
            Duration::from_secs(15),
        )
        .expect("the alert clears on the wall");
    let done = wait_done(&http, &ids, CARD_TIMEOUT);
    assert_eq!(done[0]["task"]["status"], "done");
    let history = http
        .get("/api/v1/alerts?rule=device-error&subject=printer:wall-p1")
        .json();
    let cleared = history
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == alert["id"])
        .expect("the alert's history");
    assert!(
        !cleared["cleared_at"].is_null(),
        "its clearing is persisted: {cleared}"
    );
    assert!(
        cleared["clear_reason"]
            .as_str()
            .unwrap()
            .contains("recovered"),
        "{cleared}"
    );
    browser
        .screenshot(&artefact_dir().join("wall-printer-recovered.png"))
        .unwrap();

    // The hub goes away: the page says so.
    hub.stop(Signal::SIGTERM);
    browser
        .wait_for(
            "document.body.dataset.connection === 'disconnected'",
            Duration::from_secs(15),
        )
        .expect("the page shows it is disconnected");
    browser
        .screenshot(&artefact_dir().join("wall-disconnected.png"))
        .unwrap();
}

#[test]
fn an_idle_printer_that_jams_shows_on_the_wall_and_clears_when_the_operator_clears_it() {
    let dir = hub_dir();
    let sims = tempfile::tempdir().unwrap();
    let mut p = SimPrinter::start(dir.path(), sims.path(), "wall-idle", Link::Tcp);
    write_config(
        dir.path(),
        &[LineSpec {
            name: "line-idle",
            program: "full",
            autostart: true,
            printers: vec![&p],
        }],
    );
    let hub = HubProcess::start_in(dir, &[]);
    let mut screen = Screen::open(
        &hub.base,
        &hub.dev_token(),
        json!({"filter": {"kinds": ["printer"]}}),
    );
    let is = |m: &Value, state: &str| {
        entities(m)
            .iter()
            .any(|e| e["id"] == "wall-idle" && e["state"] == state)
    };
    screen
        .until(Duration::from_secs(30), |m| is(m, "ok"))
        .expect("the idle printer is online");
    // No card is being made: only the printer's status poll can notice.
    p.control.jam().unwrap();
    let jam = screen
        .until(Duration::from_secs(30), |m| is(m, "error"))
        .expect("the jam of an idle printer reaches the wall");
    let printer = entities(&jam)
        .iter()
        .find(|e| e["id"] == "wall-idle")
        .unwrap();
    assert!(
        printer["reason"].as_str().unwrap().contains("card jammed"),
        "{printer}"
    );
    p.control.clear().unwrap();
    screen
        .until(Duration::from_secs(30), |m| is(m, "ok"))
        .expect("cleared at the printer, it shows ok again");
}
