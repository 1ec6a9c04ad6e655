//! The workshop end to end: simulated printers in their own processes
//! (`cardhub sim printer`, over TCP or a pseudo-terminal), their encoders
//! on vpcd readers of the real pcscd, the hub in its own process driving
//! lines of them; applications sent over HTTP, extracted, made, checked,
//! boxed and dispatched. Faults come through the printers' control
//! channels: a jam while printing, an empty ribbon, a dropped link, an
//! empty hopper, a name that cannot be printed.

use std::time::Duration;

use cardhub_simulators::printer::machine::FaultKind;
use cardhub_tests::workshop::{
    Applicant, CARD_TIMEOUT, LineSpec, Link, SimPrinter, apply, extract, hub_dir, task, wait_done,
    wait_for, write_config,
};
use cardhub_tests::{Http, HubProcess};
use serde_json::{Value, json};

fn start_hub(dir: tempfile::TempDir) -> (HubProcess, Http) {
    let hub = HubProcess::start_in(dir, &[("RUST_LOG", "warn,cardhub_actors::workshop=info")]);
    let http = hub.http(Some(&hub.dev_token()));
    (hub, http)
}

fn task_ids(extraction: &Value) -> Vec<i64> {
    extraction["task_ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no task_ids in {extraction}"))
        .iter()
        .map(|v| v.as_i64().expect("an id"))
        .collect()
}

/// The steps of the task's last attempt, after its claim.
fn last_attempt_steps(task: &Value) -> Vec<String> {
    let attempt = task["task"]["attempts"].as_i64().unwrap();
    task["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["attempt"].as_i64() == Some(attempt) && s["outcome"] == "done")
        .map(|s| s["step"].as_str().unwrap().to_owned())
        .filter(|s| s != "claimed")
        .collect()
}

fn card_status(http: &Http, card_id: i64) -> String {
    let reply = http.get(&format!("/api/v1/cards/{card_id}"));
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.json()["status"].as_str().unwrap().to_owned()
}

fn lane(http: &Http, line: &str, printer: &str) -> Value {
    let reply = http.get(&format!("/api/v1/workshop/lines/{line}"));
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    body["line"]["lanes"]
        .as_array()
        .expect("lanes")
        .iter()
        .find(|l| l["printer"] == printer)
        .cloned()
        .unwrap_or_else(|| panic!("no lane for {printer}: {body}"))
}

#[test]
fn applications_become_checked_cards_on_a_line_of_two_printers() {
    let dir = hub_dir();
    let sims = tempfile::tempdir().unwrap();
    let p1 = SimPrinter::start(dir.path(), sims.path(), "wp-flow-1", Link::Tcp);
    let p2 = SimPrinter::start(dir.path(), sims.path(), "wp-flow-2", Link::Tcp);
    write_config(
        dir.path(),
        &[LineSpec {
            name: "line-1",
            program: "full",
            autostart: true,
            printers: vec![&p1, &p2],
        }],
    );
    let (hub, http) = start_hub(dir);
    apply(&http, 1, Applicant::Resident("张三"));
    apply(&http, 2, Applicant::Resident("李四"));
    // A CJK extension B character: drawn on the face, substituted on the chip.
    apply(&http, 3, Applicant::Resident("𠮷田"));
    let permit = apply(
        &http,
        4,
        Applicant::Permit {
            english: "SMITH JOHN",
            chinese: "史密斯",
        },
    );
    let normal = extract(&http, "normal");
    let normal_ids = task_ids(&normal);
    assert_eq!(
        normal_ids.len(),
        3,
        "the normal extraction leaves out permit holders"
    );
    let separate = extract(&http, "permanent-residence");
    let separate_ids = task_ids(&separate);
    assert_eq!(separate_ids.len(), 1);

    let all: Vec<i64> = normal_ids.iter().chain(&separate_ids).copied().collect();
    let tasks = wait_done(&http, &all, CARD_TIMEOUT);
    for t in &tasks {
        assert_eq!(t["task"]["status"], "done", "{t}");
        assert_eq!(
            last_attempt_steps(t),
            [
                "feed",
                "chip",
                "contactless",
                "print",
                "overlay",
                "qc",
                "eject",
                "done"
            ],
            "{t}"
        );
        let card = t["task"]["card_id"].as_i64().unwrap();
        assert_eq!(card_status(&http, card), "qc-passed");
    }
    // Each card was made on one of the line's printers, and each printed
    // face is a PNG on disk.
    for t in &tasks {
        let printer = t["task"]["printer"].as_str().unwrap();
        assert!(["wp-flow-1", "wp-flow-2"].contains(&printer), "{t}");
    }
    let faces: usize = [&p1, &p2]
        .iter()
        .map(|p| {
            std::fs::read_dir(&p.out)
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
                        .count()
                })
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(faces, 4, "one face per card");

    // Progress by card number, the envelope page, statistics.
    let card_id = permit["card"]["id"].as_i64().unwrap();
    let progress = http.get(&format!("/api/v1/workshop/cards/{card_id}/progress"));
    assert_eq!(progress.status, 200, "{}", progress.text);
    let envelope = http.get(&format!("/api/v1/workshop/cards/{card_id}/envelope"));
    assert_eq!(envelope.status, 200, "{}", envelope.text);
    assert_eq!(envelope.content_type.as_deref(), Some("image/png"));
    assert!(envelope.bytes.starts_with(b"\x89PNG"), "a PNG file");
    let page = cardhub_tests::artefact_dir().join("envelope-permit-holder.png");
    std::fs::write(&page, &envelope.bytes).expect("envelope written");
    let stats = http.get("/api/v1/workshop/statistics");
    assert_eq!(stats.status, 200, "{}", stats.text);
    assert!(stats.text.contains("line-1"), "{}", stats.text);
    hub.assert_audit_intact();
}

#[test]
fn each_program_runs_its_own_steps() {
    let dir = hub_dir();
    let sims = tempfile::tempdir().unwrap();
    let programs = ["full", "no-contactless", "no-overlay", "basic"];
    let printers: Vec<SimPrinter> = programs
        .iter()
        .map(|p| SimPrinter::start(dir.path(), sims.path(), &format!("wp-prog-{p}"), Link::Tcp))
        .collect();
    let specs: Vec<LineSpec<'_>> = programs
        .iter()
        .zip(&printers)
        .map(|(program, printer)| LineSpec {
            name: program,
            program,
            autostart: false,
            printers: vec![printer],
        })
        .collect();
    write_config(dir.path(), &specs);
    let (_hub, http) = start_hub(dir);
    for (i, program) in programs.iter().enumerate() {
        apply(&http, 10 + i as u32, Applicant::Resident("王五"));
        let ids = task_ids(&extract(&http, "normal"));
        let start = http.post(
            &format!("/api/v1/workshop/lines/{program}/start"),
            &json!({}),
        );
        assert_eq!(start.status, 200, "{}", start.text);
        let done = wait_done(&http, &ids, CARD_TIMEOUT);
        let stop = http.post(
            &format!("/api/v1/workshop/lines/{program}/stop"),
            &json!({}),
        );
        assert_eq!(stop.status, 200, "{}", stop.text);
        let mut expected: Vec<&str> = match *program {
            "full" => vec![
                "feed",
                "chip",
                "contactless",
                "print",
                "overlay",
                "qc",
                "eject",
            ],
            "no-contactless" => vec!["feed", "chip", "print", "overlay", "qc", "eject"],
            "no-overlay" => vec!["feed", "chip", "contactless", "print", "qc", "eject"],
            _ => vec!["feed", "chip", "print", "qc", "eject"],
        };
        expected.push("done");
        assert_eq!(last_attempt_steps(&done[0]), expected, "program {program}");
        assert_eq!(done[0]["task"]["line"], *program);
    }
}

#[test]
fn a_jam_while_printing_wastes_the_card_and_the_task_is_made_again() {
    let dir = hub_dir();
    let sims = tempfile::tempdir().unwrap();
    let mut p = SimPrinter::start(dir.path(), sims.path(), "wp-jam", Link::Tcp);
    write_config(
        dir.path(),
        &[LineSpec {
            name: "line-jam",
            program: "full",
            autostart: true,
            printers: vec![&p],
        }],
    );
    let (_hub, http) = start_hub(dir);
    // Slow replies open a window while the face is printed.
    p.control.slow(400).unwrap();
    apply(&http, 20, Applicant::Resident("赵六"));
    let ids = task_ids(&extract(&http, "normal"));
    wait_for("the print step", CARD_TIMEOUT, || {
        let lane = lane(&http, "line-jam", "wp-jam");
        if lane["step"] == "print" {
            Ok(())
        } else {
            Err(lane.to_string())
        }
    });
    p.control.jam().unwrap();
    // The line waits for an operator; the operator takes the card out.
    wait_for("the line to wait for an operator", CARD_TIMEOUT, || {
        let lane = lane(&http, "line-jam", "wp-jam");
        if lane["activity"] == "waiting-operator" {
            Ok(())
        } else {
            Err(lane.to_string())
        }
    });
    p.control.clear_link_faults().unwrap();
    p.control.clear().unwrap();
    let done = wait_done(&http, &ids, CARD_TIMEOUT);
    let t = &done[0];
    assert_eq!(t["task"]["status"], "done", "{t}");
    assert_eq!(
        t["task"]["attempts"], 2,
        "one wasted card, one good card: {t}"
    );
    let waste = t["waste"].as_array().expect("waste of the task");
    assert_eq!(waste.len(), 1, "{t}");
    assert_eq!(waste[0]["device"], "wp-jam");
    assert!(
        waste[0]["reason"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("jam"),
        "{t}"
    );
    let wasted_card = waste[0]["card_id"].as_i64().unwrap();
    assert_eq!(card_status(&http, wasted_card), "waste");
    let made = http
        .get(&format!("/api/v1/cards/{}", t["task"]["card_id"]))
        .json();
    assert_ne!(
        waste[0]["card_number"], made["card_number"],
        "a wasted number is never issued again"
    );
    let list = http.get("/api/v1/workshop/waste");
    assert_eq!(list.status, 200, "{}", list.text);
    assert!(list.text.contains("wp-jam"), "{}", list.text);
}

#[test]
fn an_empty_ribbon_mid_print_wastes_the_card_and_an_empty_hopper_takes_none() {
    let dir = hub_dir();
    let sims = tempfile::tempdir().unwrap();
    let mut p = SimPrinter::start(dir.path(), sims.path(), "wp-supplies", Link::Tcp);
    // One print left on the ribbon, no card in the hopper.
    p.control.refill(Some(0), Some(1)).unwrap();
    write_config(
        dir.path(),
        &[LineSpec {
            name: "line-s",
            program: "basic",
            autostart: true,
            printers: vec![&p],
        }],
    );
    let (_hub, http) = start_hub(dir);
    apply(&http, 30, Applicant::Resident("孙七"));
    apply(&http, 31, Applicant::Resident("周八"));
    let ids = task_ids(&extract(&http, "normal"));
    wait_for("the line to wait for cards", CARD_TIMEOUT, || {
        let lane = lane(&http, "line-s", "wp-supplies");
        if lane["activity"] == "waiting-operator" {
            Ok(())
        } else {
            Err(lane.to_string())
        }
    });
    // No card was used: the task went back to the queue.
    let first = task(&http, ids[0]);
    assert_eq!(first["task"]["attempts"], 0, "{first}");
    p.control.refill(Some(10), Some(1)).unwrap();
    p.control.clear().unwrap();
    // The first card takes the last print; the second card's print finds
    // the ribbon used up: waste, then a new ribbon.
    // The hopper's fault stays latched until the line clears it: wait for
    // the ribbon's own.
    wait_for("the ribbon to run out", CARD_TIMEOUT, || {
        let s = p.state();
        match &s.printer.fault {
            Some(fault) if fault.kind == FaultKind::RibbonOut => Ok(()),
            _ => Err(format!("{:?}", s.printer)),
        }
    });
    p.control.refill(None, None).unwrap();
    p.control.clear().unwrap();
    let done = wait_done(&http, &ids, CARD_TIMEOUT);
    let attempts: i64 = done
        .iter()
        .map(|t| t["task"]["attempts"].as_i64().unwrap())
        .sum();
    assert_eq!(attempts, 3, "one card wasted at the print: {done:?}");
    assert!(
        done.iter().all(|t| t["task"]["status"] == "done"),
        "{done:?}"
    );
}

#[test]
fn a_link_dropped_mid_card_is_reconnected_and_the_line_carries_on() {
    let dir = hub_dir();
    let sims = tempfile::tempdir().unwrap();
    let mut p1 = SimPrinter::start(dir.path(), sims.path(), "wp-drop-1", Link::Tcp);
    let p2 = SimPrinter::start(dir.path(), sims.path(), "wp-drop-2", Link::Tcp);
    write_config(
        dir.path(),
        &[LineSpec {
            name: "line-d",
            program: "full",
            autostart: true,
            printers: vec![&p1, &p2],
        }],
    );
    let (_hub, http) = start_hub(dir);
    // The link drops during the printer's sixth command (mid-card), after
    // carrying it out, and again a few commands later.
    p1.control.drop_after(5, true).unwrap();
    for n in 0..6 {
        apply(&http, 40 + n, Applicant::Resident("吴九"));
    }
    let ids = task_ids(&extract(&http, "normal"));
    wait_for("the link to drop", CARD_TIMEOUT, || {
        let s = p1.state();
        if s.host.connections >= 2 {
            Ok(())
        } else {
            Err(format!("{:?}", s.host))
        }
    });
    let done = wait_done(&http, &ids, CARD_TIMEOUT);
    assert!(
        done.iter().all(|t| t["task"]["status"] == "done"),
        "{done:?}"
    );
    let on_p2 = done
        .iter()
        .filter(|t| t["task"]["printer"] == "wp-drop-2")
        .count();
    assert!(on_p2 >= 1, "the other printer carried on: {done:?}");
    // Every card finished is checked; none was issued twice.
    let mut numbers: Vec<String> = done
        .iter()
        .map(|t| {
            let card = http
                .get(&format!("/api/v1/cards/{}", t["task"]["card_id"]))
                .json();
            card["card_number"].as_str().unwrap().to_owned()
        })
        .collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), ids.len());
}

#[test]
fn a_name_the_fonts_cannot_draw_fails_the_task_until_it_is_retried() {
    let dir = hub_dir();
    let sims = tempfile::tempdir().unwrap();
    let p = SimPrinter::start(dir.path(), sims.path(), "wp-data", Link::Tcp);
    write_config(
        dir.path(),
        &[LineSpec {
            name: "line-x",
            program: "basic",
            autostart: true,
            printers: vec![&p],
        }],
    );
    let (hub, http) = start_hub(dir);
    // U+10FFFD (a private-use character) is in no font and not in the
    // substitution table.
    let applied = apply(&http, 50, Applicant::Resident("钱\u{10FFFD}"));
    let ids = task_ids(&extract(&http, "normal"));
    let failed = wait_done(&http, &ids, CARD_TIMEOUT);
    assert_eq!(failed[0]["task"]["status"], "failed", "{}", failed[0]);
    assert_eq!(
        failed[0]["waste"].as_array().map(Vec::len),
        Some(0),
        "no blank card was used: {}",
        failed[0]
    );
    assert!(
        failed[0]["task"]["last_error"]
            .as_str()
            .unwrap()
            .contains("U+10FFFD"),
        "{}",
        failed[0]
    );
    // The centre corrects the name, then retries the task.
    let store = hub.open_store();
    let person_id = applied["person_id"].as_i64().unwrap();
    store
        .with_conn(|conn| {
            use diesel::prelude::*;
            diesel::sql_query("UPDATE persons SET name = '钱七' WHERE id = ?")
                .bind::<diesel::sql_types::BigInt, _>(person_id)
                .execute(conn)
                .map_err(|e| cardhub_storage::StorageError::Task(e.to_string()))
        })
        .unwrap();
    let retry = http.post(
        &format!("/api/v1/workshop/tasks/{}/retry", ids[0]),
        &json!({}),
    );
    assert_eq!(retry.status, 200, "{}", retry.text);
    let done = wait_done(&http, &ids, CARD_TIMEOUT);
    assert_eq!(done[0]["task"]["status"], "done", "{}", done[0]);
}

#[test]
fn line_states_survive_a_restart_and_a_serial_printer_makes_cards() {
    let dir = hub_dir();
    let sims = tempfile::tempdir().unwrap();
    let p = SimPrinter::start(dir.path(), sims.path(), "wp-serial", Link::Pty);
    assert!(p.address.starts_with("serial://"), "{}", p.address);
    write_config(
        dir.path(),
        &[LineSpec {
            name: "line-p",
            program: "no-overlay",
            autostart: true,
            printers: vec![&p],
        }],
    );
    let (mut hub, http) = start_hub(dir);
    let paused = http.post("/api/v1/workshop/lines/line-p/pause", &json!({}));
    assert_eq!(paused.status, 200, "{}", paused.text);
    apply(&http, 60, Applicant::Resident("郑十"));
    let ids = task_ids(&extract(&http, "normal"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        task(&http, ids[0])["task"]["status"],
        "queued",
        "a paused line takes no card"
    );
    hub.stop(nix::sys::signal::Signal::SIGTERM);
    let (_hub, http) = start_hub(hub.into_dir());
    let line = http.get("/api/v1/workshop/lines/line-p");
    assert_eq!(line.json()["line"]["state"], "paused", "{}", line.text);
    let start = http.post("/api/v1/workshop/lines/line-p/start", &json!({}));
    assert_eq!(start.status, 200, "{}", start.text);
    let done = wait_done(&http, &ids, CARD_TIMEOUT);
    assert_eq!(done[0]["task"]["status"], "done", "{}", done[0]);
    assert_eq!(done[0]["task"]["printer"], "wp-serial");
    let stats = http.get("/api/v1/workshop/statistics");
    assert!(
        stats.text.contains("op-line-p"),
        "per operator: {}",
        stats.text
    );
}

#[test]
fn finished_cards_are_boxed_warehoused_and_dispatched_to_their_branch() {
    use cardhub_storage::branches::{self, BranchKind, NewBranch};
    let dir = hub_dir();
    let sims = tempfile::tempdir().unwrap();
    let p = SimPrinter::start(dir.path(), sims.path(), "wp-box", Link::Tcp);
    write_config(
        dir.path(),
        &[LineSpec {
            name: "line-b",
            program: "basic",
            autostart: true,
            printers: vec![&p],
        }],
    );
    let (hub, http) = start_hub(dir);
    let store = hub.open_store();
    let hsm = store.hsm().clone();
    let admin = cardhub_storage::Actor::new("test", cardhub_protocols::roles::Role::Admin);
    store
        .with_conn(|conn| {
            branches::create(
                conn,
                hsm.as_ref(),
                &NewBranch {
                    code: "XH01".into(),
                    name: "徐汇区社区事务受理服务中心".into(),
                    kind: BranchKind::Community,
                },
                &admin,
            )?;
            branches::set_district(conn, hsm.as_ref(), "XH01", Some("徐汇区"), &admin)
        })
        .unwrap();
    let applied: Vec<Value> = (0..3)
        .map(|n| {
            cardhub_tests::workshop::apply_at(
                &http,
                70 + n,
                Applicant::Resident("陈𠮷"),
                Some("XH01"),
            )
        })
        .collect();
    let ids = task_ids(&extract(&http, "normal"));
    let done = wait_done(&http, &ids, CARD_TIMEOUT);
    assert!(
        done.iter().all(|t| t["task"]["status"] == "done"),
        "{done:?}"
    );

    // The envelope page carries the name, rare character included.
    let card_id = applied[0]["card"]["id"].as_i64().unwrap();
    let envelope = http.get(&format!("/api/v1/workshop/cards/{card_id}/envelope"));
    assert_eq!(envelope.status, 200, "{}", envelope.text);
    std::fs::write(
        cardhub_tests::artefact_dir().join("envelope-rare-name.png"),
        &envelope.bytes,
    )
    .unwrap();

    let boxes = http.post("/api/v1/workshop/boxes", &json!({ "capacity": 2 }));
    assert_eq!(boxes.status, 200, "{}", boxes.text);
    let boxes = boxes.json();
    let boxes = boxes.as_array().expect("boxes");
    assert_eq!(boxes.len(), 2, "3 cards in boxes of 2: {boxes:?}");
    let cards_boxed: i64 = boxes
        .iter()
        .map(|b| b["card_count"].as_i64().unwrap())
        .sum();
    assert_eq!(cards_boxed, 3);
    let mut box_ids = Vec::new();
    for b in boxes {
        let id = b["id"].as_i64().unwrap();
        assert!(b["box_number"].as_str().unwrap().contains("XH01"), "{b}");
        if b["status"] == "packing" {
            let sealed = http.post(&format!("/api/v1/workshop/boxes/{id}/seal"), &json!({}));
            assert_eq!(sealed.status, 200, "{}", sealed.text);
        }
        let stored = http.post(
            &format!("/api/v1/workshop/boxes/{id}/warehouse-in"),
            &json!({}),
        );
        assert_eq!(stored.status, 200, "{}", stored.text);
        box_ids.push(id);
    }
    let created = http.post(
        "/api/v1/workshop/dispatches",
        &json!({ "district": "徐汇区", "box_ids": box_ids }),
    );
    assert_eq!(created.status, 201, "{}", created.text);
    let dispatch_id = created.json()["id"].as_i64().expect("a dispatch id");
    for step in ["dispatch", "district-sign-off"] {
        let r = http.post(
            &format!("/api/v1/workshop/dispatches/{dispatch_id}/{step}"),
            &json!({}),
        );
        assert_eq!(r.status, 200, "{step}: {}", r.text);
    }
    for a in &applied {
        assert_eq!(
            card_status(&http, a["card"]["id"].as_i64().unwrap()),
            "mailed"
        );
    }
    // Each box is signed for at the branch by a branch operator.
    let created = hub.cli(
        &[
            "token",
            "create",
            "--name",
            "xh01-counter",
            "--role",
            "branch-operator",
        ],
        None,
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let branch = hub.http(Some(String::from_utf8(created.stdout).unwrap().trim()));
    for id in &box_ids {
        let signed = branch.post(
            &format!("/api/v1/workshop/dispatches/{dispatch_id}/branch-sign-off"),
            &json!({ "box_id": id }),
        );
        assert_eq!(signed.status, 200, "{}", signed.text);
    }
    let dispatch = http.get(&format!("/api/v1/workshop/dispatches/{dispatch_id}"));
    assert_eq!(dispatch.status, 200, "{}", dispatch.text);
    assert!(dispatch.text.contains("completed"), "{}", dispatch.text);
    for a in &applied {
        assert_eq!(
            card_status(&http, a["card"]["id"].as_i64().unwrap()),
            "at-branch"
        );
    }
    let history = http.get(&format!("/api/v1/workshop/boxes/{}", box_ids[0]));
    assert!(history.text.contains("branch-signed"), "{}", history.text);
    hub.assert_audit_intact();
}
