//! Tests of the terminal's link state machine: JSON frames in, frames
//! and actions out, the signature checked with the hub's own
//! `verify_challenge`.

use cardhub_protocols::crypto::sm2::VerifyingKey;
use cardhub_protocols::terminal::{
    CommandOutput, DeviceKind, DeviceState, IdReaderCommand, Outcome, RegisteredTerminal,
    verify_challenge,
};
use serde_json::{Value, json};

use super::*;

fn key() -> TerminalKey {
    let dir = tempfile::tempdir().unwrap();
    crate::agent::key::create(&dir.path().join("k.toml"))
        .unwrap()
        .key
}

fn session() -> Session {
    Session::new(
        Identity {
            terminal_id: "T-1".into(),
            branch: "0101".into(),
            software_version: "cardhub test".into(),
        },
        key(),
        4,
    )
}

fn devices() -> Vec<DeviceInfo> {
    vec![DeviceInfo {
        name: "id-reader".into(),
        kind: DeviceKind::IdReader,
        state: DeviceState::Ready,
        detail: None,
    }]
}

fn json_of(envelope: &Envelope<TerminalMessage>) -> Value {
    serde_json::to_value(envelope).unwrap()
}

fn feed(s: &mut Session, frame: Value) -> Result<Vec<Action>, LinkDown> {
    s.receive(&frame.to_string(), devices)
}

fn sent(actions: &[Action]) -> Vec<Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(e) => Some(json_of(e)),
            _ => None,
        })
        .collect()
}

/// Runs the handshake; returns the actions of the welcome.
fn link(s: &mut Session, welcome: Value) -> Vec<Action> {
    let hello = json_of(&s.connect());
    let hello_id = hello["id"].as_str().unwrap().to_owned();
    let challenge = Challenge::random(5_000);
    let actions = feed(
        s,
        json!({"v": 1, "id": "h-1", "in_reply_to": hello_id, "type": "challenge",
               "payload": {"nonce": hex::encode(challenge.nonce.0), "hub_time_ms": 5_000}}),
    )
    .unwrap();
    let auth = sent(&actions).remove(0);
    assert_eq!(auth["type"], "auth_response");
    assert_eq!(auth["in_reply_to"], "h-1");
    let signature = hex::decode(auth["payload"]["signature"].as_str().unwrap()).unwrap();
    let registered = RegisteredTerminal {
        terminal_id: "T-1".into(),
        branch: "0101".into(),
        key: VerifyingKey::from_sec1(&s.key.public_key).unwrap(),
    };
    verify_challenge(&registered, "T-1", "0101", &challenge, &signature, 6_000)
        .expect("the signature verifies under the terminal's key");
    let mut welcome = welcome;
    welcome["in_reply_to"] = auth["id"].clone();
    feed(s, welcome).unwrap()
}

fn welcome(resumed: bool, last_seq: u64) -> Value {
    json!({"v": 1, "id": "h-2", "type": "welcome", "payload": {
        "session": "s-1", "heartbeat_secs": 20, "timeout_secs": 60,
        "resumed": resumed, "last_seq": last_seq}})
}

fn push(seq: u64) -> Value {
    json!({"v": 1, "id": format!("h-p{seq}"), "type": "push", "payload": {"seq": seq,
        "event": {"kind": "operation_outcome", "operation_id": "op-7", "operation": "card_check",
                  "outcome": "rolled_back", "detail": "the card was removed"}}})
}

#[test]
fn the_handshake_signs_the_challenge_and_sends_the_devices_first() {
    let mut s = session();
    // An event from before the link is kept and sent after the list.
    assert_eq!(
        s.event("id-reader".into(), DeviceEvent::CardPresent { atr: None }),
        Ok(None)
    );
    let actions = link(&mut s, welcome(false, 0));
    assert_eq!(
        actions[0],
        Action::Linked {
            session: "s-1".into(),
            resumed: false,
            heartbeat: Some(Duration::from_secs(20)),
            timeout: Some(Duration::from_secs(60)),
        }
    );
    let frames = sent(&actions);
    assert_eq!(frames[0]["type"], "device_list");
    assert_eq!(frames[0]["payload"]["devices"][0]["name"], "id-reader");
    assert_eq!(
        frames[1]["payload"],
        json!({"seq": 1, "device": "id-reader", "event": {"kind": "card_present"}})
    );
    assert!(s.is_linked());
}

#[test]
fn a_request_is_run_and_answered_in_reply_to_it() {
    let mut s = session();
    link(&mut s, welcome(false, 0));
    let actions = feed(
        &mut s,
        json!({"v": 1, "id": "h-9", "type": "request", "payload": {
            "device": "id-reader", "command": {"kind": "id_reader", "op": "find_card"}}}),
    )
    .unwrap();
    assert_eq!(
        actions,
        vec![Action::Run {
            request_id: "h-9".into(),
            device: "id-reader".into(),
            command: DeviceCommand::IdReader(IdReaderCommand::FindCard {}),
        }]
    );
    let answer = s
        .response("h-9".into(), CommandResult::Ok(CommandOutput::Done {}))
        .unwrap();
    let answer = json_of(&answer);
    assert_eq!(answer["in_reply_to"], "h-9");
    assert_eq!(
        answer["payload"],
        json!({"result": {"ok": {"kind": "done"}}})
    );
    // After a cut the answer is dropped: the hub has failed the request.
    s.disconnected();
    assert!(
        s.response("h-9".into(), CommandResult::Ok(CommandOutput::Done {}))
            .is_none()
    );
}

#[test]
fn pushes_are_acked_once_processed_duplicates_dropped_and_a_gap_cuts_the_link() {
    let mut s = session();
    link(&mut s, welcome(false, 0));
    let actions = feed(&mut s, push(1)).unwrap();
    assert!(matches!(
        &actions[0],
        Action::Pushed(PushEvent::OperationOutcome {
            outcome: Outcome::RolledBack,
            ..
        })
    ));
    assert_eq!(sent(&actions)[0]["payload"], json!({"seq": 1}));
    let again = feed(&mut s, push(1)).unwrap();
    assert_eq!(again.len(), 1, "a duplicate is acked, not processed");
    assert_eq!(sent(&again)[0]["payload"], json!({"seq": 1}));
    assert_eq!(
        feed(&mut s, push(3)),
        Err(LinkDown::Gap {
            expected: 2,
            got: 3
        })
    );
    // The next hello resumes from the last push processed.
    s.disconnected();
    let hello = json_of(&s.connect());
    assert_eq!(
        hello["payload"]["resume"],
        json!({"session": "s-1", "last_seq": 1})
    );
}

#[test]
fn a_resumed_session_resends_only_what_the_hub_lacks() {
    let mut s = session();
    link(&mut s, welcome(false, 0));
    for _ in 0..3 {
        s.event("id-reader".into(), DeviceEvent::CardRemoved {})
            .unwrap();
    }
    feed(
        &mut s,
        json!({"v": 1, "id": "h-a", "type": "ack", "payload": {"seq": 1}}),
    )
    .unwrap();
    s.disconnected();
    // The hub had received 2 (its ack was lost with the link).
    let actions = link(&mut s, welcome(true, 2));
    let frames = sent(&actions);
    assert_eq!(frames.len(), 2, "{frames:#?}");
    assert_eq!(frames[1]["payload"]["seq"], 3);
    assert_eq!(s.unacked(), 1);
}

#[test]
fn a_new_session_renumbers_what_is_unacked() {
    let mut s = session();
    link(&mut s, welcome(false, 0));
    s.event("a".into(), DeviceEvent::CardPresent { atr: None })
        .unwrap();
    s.event("a".into(), DeviceEvent::CardRemoved {}).unwrap();
    feed(
        &mut s,
        json!({"v": 1, "id": "h-a", "type": "ack", "payload": {"seq": 1}}),
    )
    .unwrap();
    feed(&mut s, push(1)).unwrap();
    s.disconnected();
    let actions = link(&mut s, welcome(false, 0));
    let frames = sent(&actions);
    assert_eq!(
        frames[1]["payload"],
        json!({"seq": 1, "device": "a", "event": {"kind": "card_removed"}})
    );
    // Pushes number from 1 again.
    assert!(matches!(
        feed(&mut s, push(1)).unwrap()[0],
        Action::Pushed(_)
    ));
}

#[test]
fn an_ack_beyond_what_was_sent_starts_a_new_session() {
    let mut s = session();
    link(&mut s, welcome(false, 0));
    let down = feed(
        &mut s,
        json!({"v": 1, "id": "h-a", "type": "ack", "payload": {"seq": 9}}),
    )
    .unwrap_err();
    assert!(matches!(down, LinkDown::Confused(_)), "{down:?}");
    s.disconnected();
    assert!(json_of(&s.connect())["payload"].get("resume").is_none());
}

#[test]
fn auth_failure_fatal_errors_and_other_versions_drop_the_link() {
    let mut s = session();
    s.connect();
    let refused = |s: &mut Session, code: &str, message: &str| {
        feed(
            s,
            json!({"v": 1, "id": "h-1", "type": "error", "payload": {
                "code": code, "message": message, "fatal": true}}),
        )
        .unwrap_err()
    };
    let down = refused(&mut s, "auth_failed", "terminal T-1 is not registered");
    assert_eq!(
        down,
        LinkDown::AuthFailed("terminal T-1 is not registered".into())
    );
    assert_eq!(
        down.to_string(),
        "authentication refused: terminal T-1 is not registered"
    );
    let down = refused(
        &mut s,
        "replaced",
        "another connection of T-1 replaced this one",
    );
    assert_eq!(
        down,
        LinkDown::Replaced("another connection of T-1 replaced this one".into())
    );
    let down = feed(&mut s, json!({"v": 2, "id": "x", "type": "hello2"})).unwrap_err();
    assert_eq!(down, LinkDown::Version(2));
    let down = feed(
        &mut s,
        json!({"v": 1, "id": "h", "type": "error", "payload": {
            "code": "timeout", "message": "silent for 60 s", "fatal": true}}),
    )
    .unwrap_err();
    assert_eq!(down.to_string(), "hub error timeout: silent for 60 s");
}

#[test]
fn messages_out_of_order_drop_the_link_and_garbage_is_ignored() {
    let mut s = session();
    s.connect();
    let down = feed(
        &mut s,
        json!({"v": 1, "id": "h-9", "type": "request", "payload": {
            "device": "x", "command": {"kind": "camera", "op": "capture"}}}),
    )
    .unwrap_err();
    assert!(
        down.to_string()
            .contains("`request` instead of the challenge"),
        "{down}"
    );
    assert_eq!(s.receive("not json", devices), Ok(vec![]));
    assert_eq!(
        s.receive(r#"{"v": 1, "id": "h", "type": "surprise"}"#, devices),
        Ok(vec![])
    );
    // A challenge answering another hello is not signed.
    let challenge = Challenge::random(1);
    let down = feed(
        &mut s,
        json!({"v": 1, "id": "h-1", "in_reply_to": "t-99", "type": "challenge",
               "payload": {"nonce": hex::encode(challenge.nonce.0), "hub_time_ms": 1}}),
    );
    assert!(down.is_err());
}

#[test]
fn a_refused_resume_is_reported_and_the_new_session_is_offered_next_time() {
    let mut s = session();
    link(&mut s, welcome(false, 0));
    s.disconnected();
    let mut refused = welcome(false, 0);
    refused["payload"]["session"] = json!("s-2");
    link(&mut s, refused);
    // The hub says so after its welcome.
    let actions = feed(
        &mut s,
        json!({"v": 1, "id": "h-e", "type": "error", "payload": {
            "code": "resume_refused", "message": "session s-1 is unknown", "fatal": false}}),
    )
    .unwrap();
    assert_eq!(
        actions,
        vec![Action::HubError {
            code: ErrorCode::ResumeRefused,
            message: "session s-1 is unknown".into()
        }]
    );
    assert!(s.is_linked());
    s.disconnected();
    let hello = json_of(&s.connect());
    assert_eq!(hello["payload"]["resume"]["session"], "s-2");
}
