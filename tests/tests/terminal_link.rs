//! End to end: the hub's `/ws/terminal` against the real binary, with a
//! test client on the terminal's side (`cardhub_tests::terminal`) that
//! signs challenges with a soft-HSM key: registration (CLI and HTTP),
//! authentication and every way it is refused, version and malformed
//! frames, device probes over HTTP answered (or not) by the client, a cut
//! in the middle of a request, resuming a session (device events
//! deduplicated, pushes re-sent), a second connection replacing the first,
//! heartbeats and the silence timeout, and the terminal on the monitoring
//! wall.

use std::time::{Duration, Instant};

use cardhub_protocols::terminal::{
    CardReaderCommand, CommandError, CommandErrorCode, CommandOutput, CommandResult, DeviceCommand,
    DeviceEvent, DeviceInfo, DeviceKind, DeviceState, ErrorCode, HexBytes, HubMessage,
    IdReaderCommand, PushEvent, ReaderHolds, Resume,
};
use cardhub_storage::branches::{self, BranchKind, NewBranch};
use cardhub_tests::terminal::{Handshake, TerminalClient, TerminalKey, register};
use cardhub_tests::{Http, HubProcess, Reply};
use serde_json::{Value, json};

const BRANCH: &str = "B001";
const TERMINAL: &str = "T-0001";

/// A hub with branch B001 (and B002) registered, and its admin client.
fn hub_with_branch(env: &[(&str, &str)]) -> (HubProcess, Http) {
    let hub = HubProcess::start_with(env);
    let store = hub.open_store();
    let hsm = store.hsm().clone();
    let admin = cardhub_storage::Actor::new("test", cardhub_protocols::roles::Role::Admin);
    store
        .with_conn(|conn| {
            for (code, name) in [
                (BRANCH, "黄浦区社区事务受理服务中心"),
                ("B002", "徐汇区社区事务受理服务中心"),
            ] {
                branches::create(
                    conn,
                    hsm.as_ref(),
                    &NewBranch {
                        code: code.into(),
                        name: name.into(),
                        kind: BranchKind::Community,
                    },
                    &admin,
                )?;
            }
            Ok(())
        })
        .expect("the branches are registered");
    let http = hub.http(Some(&hub.dev_token()));
    (hub, http)
}

/// A hub with T-0001 registered for B001 under a fresh key.
fn hub_with_terminal(env: &[(&str, &str)]) -> (HubProcess, Http, TerminalKey) {
    let (hub, http) = hub_with_branch(env);
    let key = TerminalKey::generate();
    register(&hub, TERMINAL, BRANCH, &key);
    (hub, http, key)
}

fn device(name: &str, kind: DeviceKind) -> DeviceInfo {
    DeviceInfo {
        name: name.into(),
        kind,
        state: DeviceState::Ready,
        detail: None,
    }
}

/// The counter of these tests: an ID reader, a card reader, a printer and
/// a camera.
fn counter_devices() -> Vec<DeviceInfo> {
    vec![
        device("id-reader-1", DeviceKind::IdReader),
        device("card-reader-1", DeviceKind::CardReader),
        device("printer-1", DeviceKind::Printer),
        device("camera-1", DeviceKind::Camera),
    ]
}

/// Polls `GET path` until `pred` holds for the body (10 s).
fn wait_for(http: &Http, path: &str, what: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = http.get(path);
        assert_eq!(reply.status, 200, "{}", reply.text);
        let body = reply.json();
        if pred(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what} never held: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the hub lists the terminal's devices (its device_list was
/// processed).
fn wait_devices(http: &Http, count: usize) {
    wait_for(
        http,
        &format!("/api/v1/terminals/{TERMINAL}"),
        "the device list",
        |t| {
            t["session"]["devices"]
                .as_array()
                .is_some_and(|d| d.len() == count)
        },
    );
}

/// A probe over HTTP on a thread of its own (it waits for the client's
/// answer).
fn probe_async(hub: &HubProcess, device: &str, query: &str) -> std::thread::JoinHandle<Reply> {
    let http = hub.http(Some(&hub.dev_token()));
    let path = format!("/api/v1/terminals/{TERMINAL}/devices/{device}/probe{query}");
    std::thread::spawn(move || http.post(&path, &json!({})))
}

/// The entity of `kind`/`id` on the wall, if shown.
fn entity(http: &Http, kind: &str, id: &str) -> Option<Value> {
    let snapshot = http.get(&format!("/api/v1/monitor/snapshot?kinds={kind}"));
    assert_eq!(snapshot.status, 200, "{}", snapshot.text);
    snapshot.json()["entities"]
        .as_array()?
        .iter()
        .find(|e| e["id"] == id)
        .cloned()
}

fn wait_entity(http: &Http, kind: &str, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = entity(http, kind, id);
        if let Some(e) = &found
            && pred(e)
        {
            return e.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{kind} {id} never showed as expected: {found:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn refused(client: &mut TerminalClient, key: &TerminalKey) -> (ErrorCode, String) {
    match client.handshake(key, None) {
        Handshake::Refused(closed) => closed.fatal(),
        Handshake::Welcome { .. } => panic!("the hub let {} in", client.terminal_id),
    }
}

#[test]
fn registered_terminals_are_welcomed_and_everyone_else_is_refused_with_the_reason() {
    let (hub, http, key) = hub_with_terminal(&[]);

    // Registration over HTTP, and what it refuses.
    let other_key = TerminalKey::generate();
    let made = http.post(
        "/api/v1/terminals",
        &json!({"terminal_id": "T-0002", "branch": BRANCH, "public_key": other_key.public_hex(),
                "description": "counter 2"}),
    );
    assert_eq!(made.status, 201, "{}", made.text);
    assert_eq!(made.json()["status"], "active");
    let taken = http.post(
        "/api/v1/terminals",
        &json!({"terminal_id": TERMINAL, "branch": BRANCH, "public_key": key.public_hex()}),
    );
    assert_eq!(taken.status, 409, "{}", taken.text);
    let nowhere = http.post(
        "/api/v1/terminals",
        &json!({"terminal_id": "T-0003", "branch": "B999", "public_key": key.public_hex()}),
    );
    assert_eq!(nowhere.status, 404, "{}", nowhere.text);
    let bad_key = http.post(
        "/api/v1/terminals",
        &json!({"terminal_id": "T-0003", "branch": BRANCH, "public_key": "04abcd"}),
    );
    assert_eq!(bad_key.status, 422, "{}", bad_key.text);

    // The right key: welcome, a new session.
    let (client, session, resumed, last_seq) =
        TerminalClient::link(&hub.base, TERMINAL, BRANCH, &key, None);
    assert!(session.starts_with("s-"), "{session}");
    assert!(!resumed);
    assert_eq!(last_seq, 0);
    let listed = wait_for(
        &http,
        "/api/v1/terminals",
        "T-0001 online and seen",
        |list| {
            list.as_array().is_some_and(|l| {
                l.iter().any(|t| {
                    t["terminal_id"] == TERMINAL
                        && t["online"] == true
                        && t["last_seen_at"].is_string()
                })
            })
        },
    );
    let t1 = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["terminal_id"] == TERMINAL)
        .unwrap();
    assert_eq!(t1["session"]["session"], session.as_str());
    assert_eq!(t1["branch_name"], "黄浦区社区事务受理服务中心");
    assert_eq!(t1["last_address"], t1["session"]["peer"], "{t1}");
    client.close();

    // Another terminal's key.
    let mut wrong_key = TerminalClient::connect(&hub.base, "T-0002", BRANCH);
    let (code, message) = refused(&mut wrong_key, &key);
    assert_eq!(code, ErrorCode::AuthFailed);
    assert!(message.contains("does not verify"), "{message}");

    // A terminal nobody registered.
    let mut stranger = TerminalClient::connect(&hub.base, "T-9999", BRANCH);
    let (code, message) = refused(&mut stranger, &key);
    assert_eq!(code, ErrorCode::AuthFailed);
    assert!(
        message.contains("not registered") && message.contains("cardhub terminals register"),
        "{message}"
    );

    // The right key, the wrong branch.
    let mut elsewhere = TerminalClient::connect(&hub.base, TERMINAL, "B002");
    let (code, message) = refused(&mut elsewhere, &key);
    assert_eq!(code, ErrorCode::AuthFailed);
    assert!(
        message.contains("B002") && message.contains(BRANCH),
        "{message}"
    );

    // Disabled (CLI), refused; enabled again, let in.
    let disabled = hub.cli(&["terminals", "disable", "--id", "T-0002"], None);
    assert!(
        disabled.status.success(),
        "{}",
        String::from_utf8_lossy(&disabled.stderr)
    );
    let mut off = TerminalClient::connect(&hub.base, "T-0002", BRANCH);
    let (code, message) = refused(&mut off, &other_key);
    assert_eq!(code, ErrorCode::AuthFailed);
    assert!(message.contains("disabled"), "{message}");
    let enabled = hub.cli(&["terminals", "enable", "--id", "T-0002"], None);
    assert!(enabled.status.success());
    let (client, ..) = TerminalClient::link(&hub.base, "T-0002", BRANCH, &other_key, None);

    // Disabling over HTTP closes the live link at once.
    let disabled = http.post("/api/v1/terminals/T-0002/disable", &json!({}));
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    let mut client = client;
    let (code, message) = client.wait_closed().fatal();
    assert_eq!(code, ErrorCode::AuthFailed);
    assert!(message.contains("disabled"), "{message}");

    let list = hub.cli(&["terminals", "list"], None);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("T-0001") && text.contains("T-0002") && text.contains("disabled"),
        "{text}"
    );
    hub.assert_audit_intact();
}

#[test]
fn another_version_is_fatal_and_malformed_frames_are_answered_on_an_open_link() {
    let (hub, _http, key) = hub_with_terminal(&[("CARDHUB_TERMINAL__MAX_MESSAGE_BYTES", "65536")]);

    let mut v2 = TerminalClient::connect(&hub.base, TERMINAL, BRANCH);
    v2.send_json(
        &json!({"v": 2, "id": "t-1", "type": "hello", "payload": {"terminal_id": TERMINAL}}),
    );
    let closed = v2.wait_closed();
    let (code, message) = closed.fatal();
    assert_eq!(code, ErrorCode::UnsupportedVersion);
    assert!(
        message.contains("version 1") && message.contains("version 2"),
        "{message}"
    );
    assert_eq!(closed.error.unwrap().in_reply_to.as_deref(), Some("t-1"));

    // Before authentication: out of order, then the handshake still works.
    let mut client = TerminalClient::connect(&hub.base, TERMINAL, BRANCH);
    client.device_list(counter_devices());
    let (code, message, _) = client.expect_error();
    assert_eq!(code, ErrorCode::UnexpectedMessage);
    assert!(message.contains("hello"), "{message}");
    let Handshake::Welcome { .. } = client.handshake(&key, None) else {
        panic!("refused after an out-of-order message");
    };

    client.send_text("{not json");
    let (code, message, _) = client.expect_error();
    assert_eq!(code, ErrorCode::Malformed);
    assert!(message.contains("not JSON"), "{message}");

    client.send_json(&json!({"v": 1, "id": "t-x", "type": "heartbeat", "extra": 1}));
    let (code, message, reply_to) = client.expect_error();
    assert_eq!(code, ErrorCode::Malformed);
    assert!(message.contains("extra"), "{message}");
    assert_eq!(reply_to.as_deref(), Some("t-x"));

    client.send_json(&json!({"v": 1, "id": "t-y", "type": "reboot"}));
    let (code, message, _) = client.expect_error();
    assert_eq!(code, ErrorCode::Malformed);
    assert!(message.contains("reboot"), "{message}");

    client.send_json(&json!({"id": "t-z", "type": "heartbeat"}));
    let (code, message, _) = client.expect_error();
    assert_eq!(code, ErrorCode::Malformed);
    assert!(message.contains("`v`"), "{message}");

    client.send(cardhub_protocols::terminal::TerminalMessage::Hello {
        terminal_id: TERMINAL.into(),
        branch: BRANCH.into(),
        software_version: "again".into(),
        resume: None,
    });
    let (code, _, _) = client.expect_error();
    assert_eq!(code, ErrorCode::UnexpectedMessage);

    // Still linked: an event is acknowledged.
    client.device_list(counter_devices());
    client.device_event(1, "id-reader-1", DeviceEvent::CardRemoved {});
    assert_eq!(client.expect_ack(), 1);

    // A frame larger than [terminal] max_message_bytes is fatal.
    client.send_text(&format!(
        "{{\"v\":1,\"id\":\"big\",\"type\":\"heartbeat\",\"pad\":\"{}\"}}",
        "x".repeat(100_000)
    ));
    let (code, message) = client.wait_closed().fatal();
    assert_eq!(code, ErrorCode::Malformed);
    assert!(message.contains("65536"), "{message}");
}

#[test]
fn a_probe_is_answered_by_the_terminal_times_out_or_fails_when_the_link_is_cut() {
    let (hub, http, key) = hub_with_terminal(&[]);
    let (mut client, ..) = TerminalClient::link(&hub.base, TERMINAL, BRANCH, &key, None);
    client.device_list(counter_devices());
    wait_devices(&http, 4);

    // The card reader's status, answered.
    let probe = probe_async(&hub, "card-reader-1", "");
    let (id, device, command) = client.expect_request();
    assert_eq!(device, "card-reader-1");
    assert_eq!(
        command,
        DeviceCommand::CardReader(CardReaderCommand::Status {})
    );
    client.respond(
        &id,
        CommandResult::Ok(CommandOutput::ReaderStatus {
            holds: ReaderHolds::Present,
            atr: Some(HexBytes(vec![0x3b, 0x6d])),
            connected: false,
        }),
    );
    let reply = probe.join().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["result"]["ok"]["kind"], "reader_status", "{body}");
    assert_eq!(body["result"]["ok"]["atr"], "3b6d", "{body}");
    assert_eq!(
        body["command"],
        json!({"kind": "card_reader", "op": "status"})
    );

    // The ID reader's SAM self-test, answered with the device's own error.
    let probe = probe_async(&hub, "id-reader-1", "");
    let (id, _, command) = client.expect_request();
    assert_eq!(
        command,
        DeviceCommand::IdReader(IdReaderCommand::SamStatus {})
    );
    client.respond(
        &id,
        CommandResult::Error(CommandError::new(
            CommandErrorCode::DeviceFault,
            "the SAM does not answer: power the reader off and on",
        )),
    );
    let reply = probe.join().unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["result"]["error"]["code"], "device_fault");

    // A camera has nothing harmless to ask; a device not listed is named.
    let camera = http.post(
        &format!("/api/v1/terminals/{TERMINAL}/devices/camera-1/probe"),
        &json!({}),
    );
    assert_eq!(camera.status, 409, "{}", camera.text);
    assert!(
        camera.text.contains("take a photo from the console"),
        "{}",
        camera.text
    );
    let missing = http.post(
        &format!("/api/v1/terminals/{TERMINAL}/devices/scanner-9/probe"),
        &json!({}),
    );
    assert_eq!(missing.status, 404, "{}", missing.text);
    assert!(missing.text.contains("card-reader-1"), "{}", missing.text);

    // Not answered: the probe gives up after its timeout, and the late
    // answer is dropped without harm.
    let started = Instant::now();
    let probe = probe_async(&hub, "printer-1", "?timeout_secs=1");
    let (late_id, _, _) = client.expect_request();
    let reply = probe.join().unwrap();
    assert_eq!(reply.status, 504, "{}", reply.text);
    assert_eq!(reply.json()["error"], "terminal-timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    client.respond(&late_id, CommandResult::Ok(CommandOutput::Done {}));
    let probe = probe_async(&hub, "printer-1", "");
    let (id, _, _) = client.expect_request();
    client.respond(
        &id,
        CommandResult::Ok(CommandOutput::PrinterStatus {
            state: cardhub_protocols::terminal::PrinterCondition::Ready,
            hopper: Some(100),
            ribbon_left: Some(250),
            card: cardhub_protocols::terminal::CardPlace::None,
        }),
    );
    assert_eq!(probe.join().unwrap().status, 200);

    // Cut while the request waits: the probe fails at once, saying the
    // command had gone out.
    let probe = probe_async(&hub, "card-reader-1", "?timeout_secs=30");
    let _ = client.expect_request();
    let started = Instant::now();
    client.cut();
    let reply = probe.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failed at once, not at the timeout"
    );
    assert_eq!(reply.status, 502, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["error"], "link-lost", "{body}");
    assert_eq!(body["detail"]["sent"], true, "{body}");

    let away = http.post(
        &format!("/api/v1/terminals/{TERMINAL}/devices/card-reader-1/probe"),
        &json!({}),
    );
    assert_eq!(away.status, 409, "{}", away.text);
    assert_eq!(away.json()["error"], "terminal-not-connected");
}

#[test]
fn a_resumed_session_drops_resent_events_and_gets_the_pushes_it_missed() {
    let (hub, http, key) = hub_with_terminal(&[]);
    // A push made before the terminal ever connected waits for it.
    let early = http.post(
        &format!("/api/v1/terminals/{TERMINAL}/notice"),
        &json!({"text": "welcome back"}),
    );
    assert_eq!(early.status, 202, "{}", early.text);
    assert_eq!(early.json()["seq"], 1);
    assert_eq!(early.json()["linked"], false);
    let unknown = http.post("/api/v1/terminals/T-9999/notice", &json!({"text": "hi"}));
    assert_eq!(unknown.status, 404, "{}", unknown.text);

    let (mut client, session, ..) = TerminalClient::link(&hub.base, TERMINAL, BRANCH, &key, None);
    assert_eq!(
        client.expect_push(),
        (
            1,
            PushEvent::Notice {
                text: "welcome back".into()
            }
        )
    );
    client.send(cardhub_protocols::terminal::TerminalMessage::Ack { seq: 1 });
    client.device_list(vec![device("id-reader-1", DeviceKind::IdReader)]);
    client.device_event(1, "id-reader-1", DeviceEvent::CardPresent { atr: None });
    assert_eq!(client.expect_ack(), 1);
    client.device_event(2, "id-reader-1", DeviceEvent::CardRemoved {});
    assert_eq!(client.expect_ack(), 2);

    // Two pushes; the terminal acknowledges the first only, then the line
    // is cut.
    for text in ["card ready", "closing at five"] {
        let pushed = http.post(
            &format!("/api/v1/terminals/{TERMINAL}/notice"),
            &json!({"text": text}),
        );
        assert_eq!(pushed.status, 202, "{}", pushed.text);
    }
    assert_eq!(client.expect_push().0, 2);
    assert_eq!(client.expect_push().0, 3);
    client.send(cardhub_protocols::terminal::TerminalMessage::Ack { seq: 2 });
    wait_for(
        &http,
        &format!("/api/v1/terminals/{TERMINAL}"),
        "the ack",
        |t| t["pushes_waiting"] == 1,
    );
    client.cut();

    // Back, having received pushes up to 2: the hub has events up to 2,
    // and re-sends push 3.
    let (mut client, resumed_session, resumed, last_seq) = TerminalClient::link(
        &hub.base,
        TERMINAL,
        BRANCH,
        &key,
        Some(Resume {
            session: session.clone(),
            last_seq: 2,
        }),
    );
    assert!(resumed);
    assert_eq!(resumed_session, session);
    assert_eq!(last_seq, 2);
    assert_eq!(
        client.expect_push(),
        (
            3,
            PushEvent::Notice {
                text: "closing at five".into()
            }
        )
    );
    // The terminal re-sends event 2 (it lost the ack): acknowledged, not
    // applied again; event 3 is new.
    client.device_event(2, "id-reader-1", DeviceEvent::CardRemoved {});
    assert_eq!(client.expect_ack(), 2);
    client.device_event(3, "id-reader-1", DeviceEvent::CardPresent { atr: None });
    assert_eq!(client.expect_ack(), 3);
    let reader = wait_entity(
        &http,
        "id_reader",
        &format!("{TERMINAL}/id-reader-1"),
        |e| e["detail"]["card_present"] == true,
    );
    assert!(
        reader["reason"].as_str().unwrap().contains("card present"),
        "{reader}"
    );
    let view = http.get(&format!("/api/v1/terminals/{TERMINAL}")).json();
    assert_eq!(view["session"]["last_event_seq"], 3, "{view}");
    client.send(cardhub_protocols::terminal::TerminalMessage::Ack { seq: 3 });
    client.close();

    // A session the hub does not know: a new one, and the refusal says why.
    let mut client = TerminalClient::connect(&hub.base, TERMINAL, BRANCH);
    let Handshake::Welcome {
        resumed,
        last_seq,
        session: fresh,
    } = client.handshake(
        &key,
        Some(Resume {
            session: "s-00".into(),
            last_seq: 9,
        }),
    )
    else {
        panic!("refused");
    };
    assert!(!resumed);
    assert_eq!(last_seq, 0);
    assert_ne!(fresh, session);
    let (code, message, _) = client.expect_error();
    assert_eq!(code, ErrorCode::ResumeRefused);
    assert!(
        message.contains("s-00") && message.contains("new session"),
        "{message}"
    );
}

#[test]
fn a_second_connection_replaces_the_first() {
    let (hub, http, key) = hub_with_terminal(&[]);
    let (mut first, session, ..) = TerminalClient::link(&hub.base, TERMINAL, BRANCH, &key, None);
    first.device_list(counter_devices());
    wait_devices(&http, 4);
    let (mut second, ..) = TerminalClient::link(
        &hub.base,
        TERMINAL,
        BRANCH,
        &key,
        Some(Resume {
            session,
            last_seq: 0,
        }),
    );
    let (code, message) = first.wait_closed().fatal();
    assert_eq!(code, ErrorCode::Replaced);
    assert!(message.contains("replaced"), "{message}");

    // Commands go to the new connection.
    let probe = probe_async(&hub, "card-reader-1", "");
    let (id, _, _) = second.expect_request();
    second.respond(
        &id,
        CommandResult::Ok(CommandOutput::ReaderStatus {
            holds: ReaderHolds::Empty,
            atr: None,
            connected: false,
        }),
    );
    assert_eq!(probe.join().unwrap().status, 200);
    let terminal = http.get(&format!("/api/v1/terminals/{TERMINAL}")).json();
    assert_eq!(terminal["online"], true, "{terminal}");
}

#[test]
fn the_hub_beats_and_closes_a_silent_terminal() {
    let (hub, _http, key) = hub_with_terminal(&[
        ("CARDHUB_TERMINAL__HEARTBEAT_SECS", "1"),
        ("CARDHUB_TERMINAL__TIMEOUT_SECS", "3"),
    ]);
    let mut client = TerminalClient::connect(&hub.base, TERMINAL, BRANCH);
    let Handshake::Welcome { .. } = client.handshake(&key, None) else {
        panic!("refused");
    };
    let mut beats = 0;
    let closed = loop {
        match client.next(Duration::from_secs(10)) {
            Ok(Some(m)) if matches!(m.message, HubMessage::Heartbeat) => beats += 1,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the hub kept a silent terminal for 10 s"),
            Err(closed) => break closed,
        }
    };
    assert!(beats >= 2, "{beats} heartbeats");
    let (code, message) = closed.fatal();
    assert_eq!(code, ErrorCode::Timeout);
    assert!(message.contains("3 s"), "{message}");
}

#[test]
fn the_wall_shows_the_terminal_and_its_devices_online_then_offline() {
    let (hub, http, key) = hub_with_terminal(&[]);
    let (mut client, ..) = TerminalClient::link(&hub.base, TERMINAL, BRANCH, &key, None);
    client.device_list(vec![
        device("card-reader-1", DeviceKind::CardReader),
        DeviceInfo {
            detail: Some("ribbon low".into()),
            ..device("printer-1", DeviceKind::Printer)
        },
    ]);
    let terminal = wait_entity(&http, "terminal", TERMINAL, |e| {
        e["state"] == "ok" && e["detail"]["devices"] == 2
    });
    assert_eq!(terminal["scope"]["branch"], BRANCH);
    assert_eq!(
        terminal["detail"]["branch_name"],
        "黄浦区社区事务受理服务中心"
    );
    assert!(
        terminal["reason"]
            .as_str()
            .unwrap()
            .contains("cardhub-tests 1"),
        "{terminal}"
    );
    let printer = wait_entity(&http, "printer", &format!("{TERMINAL}/printer-1"), |e| {
        e["state"] == "ok"
    });
    assert_eq!(printer["reason"], "ribbon low");
    assert_eq!(printer["scope"]["branch"], BRANCH);

    client.device_event(
        1,
        "card-reader-1",
        DeviceEvent::StateChanged {
            state: DeviceState::Fault,
            detail: Some("reader not answering".into()),
        },
    );
    assert_eq!(client.expect_ack(), 1);
    wait_entity(&http, "reader", &format!("{TERMINAL}/card-reader-1"), |e| {
        e["state"] == "error" && e["reason"] == "reader not answering"
    });

    client.cut();
    let terminal = wait_entity(&http, "terminal", TERMINAL, |e| e["state"] == "offline");
    assert!(
        terminal["reason"]
            .as_str()
            .unwrap()
            .starts_with("terminal link down"),
        "{terminal}"
    );
    let reader = wait_entity(&http, "reader", &format!("{TERMINAL}/card-reader-1"), |e| {
        e["state"] == "offline"
    });
    assert_eq!(reader["reason"], "terminal link down");
}

#[test]
fn a_stopping_hub_closes_its_terminals_and_documents_the_link() {
    let (mut hub, http, key) = hub_with_terminal(&[]);
    let api = http.get("/api/v1/openapi.json");
    assert_eq!(api.status, 200, "{}", api.text);
    let api = api.json();
    for path in [
        "/ws/terminal",
        "/api/v1/terminals",
        "/api/v1/terminals/{id}/devices/{device}/probe",
    ] {
        assert!(api["paths"][path].is_object(), "{path} is not documented");
    }
    for schema in ["TerminalLinkTerminalMessage", "TerminalLinkHubMessage"] {
        assert!(
            api["components"]["schemas"][schema].is_object(),
            "no schema {schema}"
        );
    }

    let (mut client, ..) = TerminalClient::link(&hub.base, TERMINAL, BRANCH, &key, None);
    let started = Instant::now();
    let status = hub.stop(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "a linked terminal held the hub's stop for {:?}",
        started.elapsed()
    );
    let (code, message) = client.wait_closed().fatal();
    assert_eq!(code, ErrorCode::Internal);
    assert!(message.contains("shutting down"), "{message}");
}
