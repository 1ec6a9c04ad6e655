//! Tests of the `/ws/terminal` messages and authentication: exact JSON
//! shapes, round trips, refusals, and signatures made and checked through
//! the [`SoftHsm`]. The delivery state machines are tested in
//! [`super::delivery`].

use serde_json::{Value, json};

use super::*;
use crate::crypto::sm2::VerifyingKey;
use crate::crypto::{KeyLabel, SoftHsm};

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("messages serialise")
}

fn terminal(value: Value) -> Result<Envelope<TerminalMessage>, serde_json::Error> {
    serde_json::from_value(value)
}

fn hub(value: Value) -> Result<Envelope<HubMessage>, serde_json::Error> {
    serde_json::from_value(value)
}

fn round_trips_terminal(envelope: &Envelope<TerminalMessage>) {
    let text = serde_json::to_string(envelope).unwrap();
    assert_eq!(
        &serde_json::from_str::<Envelope<_>>(&text).unwrap(),
        envelope
    );
}

fn round_trips_hub(envelope: &Envelope<HubMessage>) {
    let text = serde_json::to_string(envelope).unwrap();
    assert_eq!(
        &serde_json::from_str::<Envelope<_>>(&text).unwrap(),
        envelope
    );
}

#[test]
fn hello_has_the_documented_shape() {
    let hello = Envelope::new(
        "t-1",
        TerminalMessage::Hello {
            terminal_id: "T0042".into(),
            branch: "B07".into(),
            software_version: "cardhub 1.4.2".into(),
            resume: Some(Resume {
                session: "s-9".into(),
                last_seq: 12,
            }),
        },
    );
    assert_eq!(
        to_json(&hello),
        json!({
            "v": 1, "id": "t-1", "type": "hello",
            "payload": {
                "terminal_id": "T0042", "branch": "B07",
                "software_version": "cardhub 1.4.2",
                "resume": {"session": "s-9", "last_seq": 12}
            }
        })
    );
    round_trips_terminal(&hello);
}

#[test]
fn heartbeat_has_no_payload() {
    let beat = Envelope::new("t-2", TerminalMessage::Heartbeat);
    assert_eq!(
        to_json(&beat),
        json!({"v": 1, "id": "t-2", "type": "heartbeat"})
    );
    round_trips_terminal(&beat);
    let beat = Envelope::new("h-2", HubMessage::Heartbeat);
    assert_eq!(
        to_json(&beat),
        json!({"v": 1, "id": "h-2", "type": "heartbeat"})
    );
}

#[test]
fn request_and_response_correlate_through_the_envelope() {
    let request = Envelope::new(
        "h-5",
        HubMessage::Request {
            device: "card-reader-1".into(),
            command: DeviceCommand::CardReader(CardReaderCommand::Transmit {
                apdu: HexBytes(vec![0x00, 0xA4, 0x04, 0x00]),
            }),
        },
    );
    assert_eq!(
        to_json(&request),
        json!({
            "v": 1, "id": "h-5", "type": "request",
            "payload": {
                "device": "card-reader-1",
                "command": {"kind": "card_reader", "op": "transmit", "apdu": "00a40400"}
            }
        })
    );
    round_trips_hub(&request);

    let response = Envelope::reply(
        "t-9",
        "h-5",
        TerminalMessage::Response {
            result: CommandResult::Ok(CommandOutput::ApduResponse {
                response: HexBytes(vec![0x90, 0x00]),
            }),
        },
    );
    assert_eq!(
        to_json(&response),
        json!({
            "v": 1, "id": "t-9", "in_reply_to": "h-5", "type": "response",
            "payload": {"result": {"ok": {"kind": "apdu_response", "response": "9000"}}}
        })
    );
    round_trips_terminal(&response);

    let failed = Envelope::reply(
        "t-10",
        "h-6",
        TerminalMessage::Response {
            result: CommandResult::Error(CommandError::new(
                CommandErrorCode::NoCard,
                "no card on the reader: insert the card chip first",
            )),
        },
    );
    assert_eq!(
        to_json(&failed)["payload"],
        json!({"result": {"error": {
            "code": "no_card",
            "message": "no card on the reader: insert the card chip first"
        }}})
    );
    round_trips_terminal(&failed);
}

#[test]
fn every_device_command_round_trips() {
    let commands = [
        DeviceCommand::IdReader(IdReaderCommand::ReadCard {}),
        DeviceCommand::IdReader(IdReaderCommand::FindCard {}),
        DeviceCommand::Camera(CameraCommand::Capture {}),
        DeviceCommand::CardReader(CardReaderCommand::Reconnect { reset: true }),
        DeviceCommand::CardReader(CardReaderCommand::Connect {
            protocol: CardProtocol::Any,
        }),
        DeviceCommand::Printer(PrinterCommand::Status {}),
        DeviceCommand::Printer(PrinterCommand::MoveTo {
            station: EncoderStation::Contact,
        }),
        DeviceCommand::Printer(PrinterCommand::DownloadPanel {
            panel: PrintPanel::Colour,
            data_base64: "iVBORw0K".into(),
        }),
    ];
    for command in commands {
        let json = to_json(&command);
        assert_eq!(json["kind"], to_json(&command.device_kind()));
        assert_eq!(
            serde_json::from_value::<DeviceCommand>(json).unwrap(),
            command
        );
    }
    assert_eq!(
        to_json(&DeviceCommand::IdReader(IdReaderCommand::ReadCard {})),
        json!({"kind": "id_reader", "op": "read_card"})
    );
}

#[test]
fn device_list_and_event_shapes() {
    let list = Envelope::new(
        "t-3",
        TerminalMessage::DeviceList {
            devices: vec![DeviceInfo {
                name: "printer-1".into(),
                kind: DeviceKind::Printer,
                state: DeviceState::Fault,
                detail: Some("ribbon out: fit a new ribbon".into()),
            }],
        },
    );
    assert_eq!(
        to_json(&list)["payload"],
        json!({"devices": [{
            "name": "printer-1", "kind": "printer", "state": "fault",
            "detail": "ribbon out: fit a new ribbon"
        }]})
    );
    round_trips_terminal(&list);

    let event = Envelope::new(
        "t-4",
        TerminalMessage::DeviceEvent {
            seq: 3,
            device: "id-reader-1".into(),
            event: DeviceEvent::CardPresent { atr: None },
        },
    );
    assert_eq!(
        to_json(&event)["payload"],
        json!({"seq": 3, "device": "id-reader-1", "event": {"kind": "card_present"}})
    );
    round_trips_terminal(&event);
}

#[test]
fn hub_messages_round_trip() {
    let messages = [
        Envelope::reply(
            "h-1",
            "t-1",
            Challenge {
                nonce: Nonce([0xab; 32]),
                hub_time_ms: 1_764_600_000_000,
            }
            .to_message(),
        ),
        Envelope::reply(
            "h-2",
            "t-2",
            HubMessage::Welcome {
                session: "s-1".into(),
                heartbeat_secs: 15,
                timeout_secs: 45,
                resumed: true,
                last_seq: 4,
            },
        ),
        Envelope::new(
            "h-3",
            HubMessage::Push {
                seq: 1,
                event: PushEvent::CardReady {
                    application_id: "A2026-0001".into(),
                },
            },
        ),
        Envelope::new("h-4", HubMessage::Ack { seq: 9 }),
        Envelope::new(
            "h-5",
            HubMessage::Error {
                code: ErrorCode::AuthFailed,
                message: "signature does not verify".into(),
                fatal: true,
            },
        ),
    ];
    for message in &messages {
        round_trips_hub(message);
    }
    assert_eq!(
        to_json(&messages[0]),
        json!({
            "v": 1, "id": "h-1", "in_reply_to": "t-1", "type": "challenge",
            "payload": {"nonce": "ab".repeat(32), "hub_time_ms": 1_764_600_000_000_i64}
        })
    );
    assert_eq!(
        to_json(&messages[4])["payload"],
        json!({"code": "auth_failed", "message": "signature does not verify", "fatal": true})
    );
}

#[test]
fn unknown_keys_are_refused_everywhere() {
    let beat = json!({"v": 1, "id": "t-1", "type": "heartbeat"});
    assert!(terminal(beat.clone()).is_ok());

    let mut top = beat.clone();
    top["priority"] = json!("high");
    let err = terminal(top).unwrap_err().to_string();
    assert!(err.contains("priority"), "{err}");

    let payload = json!({"v": 1, "id": "t-1", "type": "ack", "payload": {"seq": 1, "extra": 0}});
    assert!(terminal(payload).is_err());

    let nested = json!({
        "v": 1, "id": "h-1", "type": "request",
        "payload": {"device": "cam", "command": {"kind": "camera", "op": "capture", "zoom": 2}}
    });
    assert!(hub(nested).is_err());

    let device = json!({
        "v": 1, "id": "t-1", "type": "device_list",
        "payload": {"devices": [{"name": "x", "kind": "camera", "state": "ready", "usb": 1}]}
    });
    assert!(terminal(device).is_err());

    let event = json!({
        "v": 1, "id": "t-1", "type": "device_event",
        "payload": {"seq": 1, "device": "r", "event": {"kind": "card_removed", "slot": 2}}
    });
    assert!(terminal(event).is_err());

    let beat = json!({"v": 1, "id": "t-1", "type": "heartbeat", "payload": {"load": 3}});
    assert!(terminal(beat).is_err());
}

#[test]
fn unknown_types_and_wrong_direction_are_refused() {
    assert!(terminal(json!({"v": 1, "id": "t-1", "type": "reboot"})).is_err());
    // A hub message arriving at the hub.
    assert!(
        terminal(json!({"v": 1, "id": "t-1", "type": "push",
            "payload": {"seq": 1, "event": {"kind": "notice", "text": "hi"}}}))
        .is_err()
    );
}

#[test]
fn replies_without_in_reply_to_are_refused() {
    let response = json!({
        "v": 1, "id": "t-1", "type": "response",
        "payload": {"result": {"ok": {"kind": "card_position", "card": "contact"}}}
    });
    let err = terminal(response.clone()).unwrap_err().to_string();
    assert!(err.contains("in_reply_to"), "{err}");
    let mut answered = response;
    answered["in_reply_to"] = json!("h-1");
    assert!(terminal(answered).is_ok());
}

#[test]
fn bad_hex_and_short_nonces_are_refused() {
    let challenge = |nonce: &str| {
        hub(
            json!({"v": 1, "id": "h-1", "in_reply_to": "t-1", "type": "challenge",
            "payload": {"nonce": nonce, "hub_time_ms": 0}}),
        )
    };
    assert!(challenge(&"00".repeat(32)).is_ok());
    assert!(challenge(&"00".repeat(31)).is_err());
    assert!(challenge(&"zz".repeat(32)).is_err());
    let response = json!({"v": 1, "id": "t-1", "in_reply_to": "h-1", "type": "auth_response",
        "payload": {"signature": "0g"}});
    assert!(terminal(response).is_err());
}

#[test]
fn version_is_read_first_and_checked() {
    let probe = |text: &str| serde_json::from_str::<VersionProbe>(text).unwrap();
    assert_eq!(
        probe(r#"{"v":1,"id":"x","type":"heartbeat"}"#).check(),
        Ok(())
    );
    // A v2 frame with fields v1 does not know still yields its version.
    assert_eq!(
        probe(r#"{"v":2,"id":"x","type":"hello","payload":{"new":true}}"#).check(),
        Err(ErrorCode::UnsupportedVersion)
    );
}

#[test]
fn schemas_are_generated() {
    use utoipa::PartialSchema;
    let schema = serde_json::to_value(TerminalMessage::schema()).unwrap();
    assert!(schema.to_string().contains("auth_response"));
    let schema = serde_json::to_value(HubMessage::schema()).unwrap();
    assert!(schema.to_string().contains("challenge"));
    let schema = serde_json::to_value(Envelope::<HubMessage>::schema()).unwrap();
    let text = schema.to_string();
    assert!(
        text.contains("in_reply_to") && text.contains("TerminalLinkHubMessage"),
        "{text}"
    );
}

// --- authentication -------------------------------------------------------

const TERMINAL: &str = "T0042";
const BRANCH: &str = "B07";
const NOW: i64 = 1_764_600_000_000;

/// A terminal's key in a soft HSM and its registration at the hub.
fn registered() -> (SoftHsm, KeyLabel, RegisteredTerminal) {
    let hsm = SoftHsm::new();
    let label = KeyLabel::new("terminal-auth");
    let public = hsm.generate_sm2(label.clone()).unwrap();
    let registration = RegisteredTerminal {
        terminal_id: TERMINAL.into(),
        branch: BRANCH.into(),
        key: VerifyingKey::from_sec1(&public).unwrap(),
    };
    (hsm, label, registration)
}

#[test]
fn auth_message_layout_is_fixed() {
    let nonce = Nonce([0x11; 32]);
    let message = auth_message("T1", "B", &nonce, 0x0102_0304_0506_0708);
    let mut expected = b"cardhub-terminal-auth-v1".to_vec();
    expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]);
    expected.extend_from_slice(b"T1");
    expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    expected.extend_from_slice(b"B");
    expected.extend_from_slice(&[0x11; 32]);
    expected.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(message, expected);
    // Moving a character between the id and the branch changes the bytes.
    assert_ne!(
        auth_message("T", "1B", &nonce, 0),
        auth_message("T1", "B", &nonce, 0)
    );
}

#[test]
fn a_signed_challenge_verifies() {
    let (hsm, label, registration) = registered();
    let challenge = Challenge::random(NOW);
    let signature = sign_challenge(&hsm, &label, TERMINAL, BRANCH, &challenge).unwrap();
    // Through the wire and back, as the hub receives it.
    let sent = Envelope::reply(
        "t-2",
        "h-1",
        TerminalMessage::AuthResponse {
            signature: HexBytes(signature.to_vec()),
        },
    );
    let received: Envelope<TerminalMessage> =
        serde_json::from_str(&serde_json::to_string(&sent).unwrap()).unwrap();
    let TerminalMessage::AuthResponse { signature } = received.message else {
        panic!("not an auth_response");
    };
    let answered = NOW + 1_500;
    assert_eq!(
        verify_challenge(
            &registration,
            TERMINAL,
            BRANCH,
            &challenge,
            signature.as_bytes(),
            answered
        ),
        Ok(())
    );
}

#[test]
fn a_tampered_nonce_is_refused() {
    let (hsm, label, registration) = registered();
    let challenge = Challenge::random(NOW);
    let signature = sign_challenge(&hsm, &label, TERMINAL, BRANCH, &challenge).unwrap();
    let mut other = challenge.clone();
    other.nonce.0[0] ^= 1;
    assert_eq!(
        verify_challenge(&registration, TERMINAL, BRANCH, &other, &signature, NOW),
        Err(AuthError::BadSignature)
    );
    let mut later = challenge;
    later.hub_time_ms += 1;
    assert_eq!(
        verify_challenge(&registration, TERMINAL, BRANCH, &later, &signature, NOW + 1),
        Err(AuthError::BadSignature)
    );
}

#[test]
fn a_stale_or_future_challenge_is_refused() {
    let (hsm, label, registration) = registered();
    let challenge = Challenge::random(NOW);
    let signature = sign_challenge(&hsm, &label, TERMINAL, BRANCH, &challenge).unwrap();
    let at = |now| verify_challenge(&registration, TERMINAL, BRANCH, &challenge, &signature, now);
    assert_eq!(at(NOW + CHALLENGE_WINDOW_MS), Ok(()));
    assert_eq!(
        at(NOW + CHALLENGE_WINDOW_MS + 1),
        Err(AuthError::StaleChallenge {
            age_ms: CHALLENGE_WINDOW_MS + 1,
            window_ms: CHALLENGE_WINDOW_MS
        })
    );
    assert!(matches!(
        at(NOW - 1),
        Err(AuthError::StaleChallenge { age_ms: -1, .. })
    ));
}

#[test]
fn another_terminal_branch_or_key_is_refused() {
    let (hsm, label, registration) = registered();
    let challenge = Challenge::random(NOW);
    let signature = sign_challenge(&hsm, &label, TERMINAL, BRANCH, &challenge).unwrap();
    assert!(matches!(
        verify_challenge(&registration, "T0043", BRANCH, &challenge, &signature, NOW),
        Err(AuthError::WrongTerminal { .. })
    ));
    assert!(matches!(
        verify_challenge(&registration, TERMINAL, "B08", &challenge, &signature, NOW),
        Err(AuthError::WrongBranch { .. })
    ));

    // A genuine signature by a key that is not the registered one.
    let (other_hsm, other_label, _) = registered();
    let forged = sign_challenge(&other_hsm, &other_label, TERMINAL, BRANCH, &challenge).unwrap();
    assert_eq!(
        verify_challenge(&registration, TERMINAL, BRANCH, &challenge, &forged, NOW),
        Err(AuthError::BadSignature)
    );
    assert!(matches!(
        verify_challenge(
            &registration,
            TERMINAL,
            BRANCH,
            &challenge,
            &signature[..63],
            NOW
        ),
        Err(AuthError::MalformedSignature(_))
    ));
}

#[test]
fn random_challenges_differ() {
    assert_ne!(Challenge::random(NOW).nonce, Challenge::random(NOW).nonce);
}

/// Valid frames of both directions, to mutate.
fn sample_frames() -> Vec<String> {
    let frames = [
        r#"{"v":1,"id":"t-1","type":"hello","payload":{"terminal_id":"T-1","branch":"B1","software_version":"x"}}"#,
        r#"{"v":1,"id":"t-4","type":"device_event","payload":{"seq":3,"device":"id-reader-1","event":{"kind":"card_present"}}}"#,
        r#"{"v":1,"id":"t-9","in_reply_to":"h-5","type":"response","payload":{"result":{"ok":{"kind":"apdu_response","response":"9000"}}}}"#,
        r#"{"v":1,"id":"t-10","in_reply_to":"h-6","type":"response","payload":{"result":{"error":{"code":"device_state","message":"jam","condition":"card_jam"}}}}"#,
        r#"{"v":1,"id":"h-5","type":"request","payload":{"device":"printer-1","command":{"kind":"printer","op":"move_to","station":"contact"}}}"#,
        r#"{"v":1,"id":"h-7","type":"push","payload":{"seq":2,"event":{"kind":"operation_outcome","operation_id":"o-1","operation":"instant_issue","outcome":"completed","detail":"ok"}}}"#,
        r#"{"v":1,"id":"h-8","type":"ack","payload":{"seq":4}}"#,
        r#"{"v":1,"id":"t-2","type":"heartbeat"}"#,
    ];
    frames.iter().map(|f| (*f).to_owned()).collect()
}

/// What the fuzz target `terminal_envelope` checks, run here on mutated
/// frames: decoding never panics, and whatever decodes re-encodes to the
/// same envelope with a version the probe reads alike.
fn decodes_consistently(text: &str) {
    let _ = serde_json::from_str::<VersionProbe>(text).map(VersionProbe::check);
    if let Ok(envelope) = serde_json::from_str::<Envelope<TerminalMessage>>(text) {
        let probe: VersionProbe = serde_json::from_str(text).expect("the probe reads what decodes");
        assert_eq!(probe.v, envelope.v);
        round_trips_terminal(&envelope);
    }
    if let Ok(envelope) = serde_json::from_str::<Envelope<HubMessage>>(text) {
        round_trips_hub(&envelope);
    }
}

proptest::proptest! {
    #[test]
    fn mutated_frames_decode_consistently_or_not_at_all(
        frame in 0usize..8,
        at in 0usize..400,
        cut in 0usize..400,
        insert in proptest::collection::vec(proptest::prelude::any::<char>(), 0..6),
    ) {
        let frames = sample_frames();
        let text = &frames[frame];
        let chars: Vec<char> = text.chars().collect();
        let at = at % (chars.len() + 1);
        let end = (at + cut % 8).min(chars.len());
        let mutated: String = chars[..at].iter().chain(insert.iter()).chain(chars[end..].iter()).collect();
        decodes_consistently(&mutated);
    }

    #[test]
    fn any_text_decodes_consistently_or_not_at_all(text in "\\PC{0,200}") {
        decodes_consistently(&text);
    }
}

#[test]
fn the_sample_frames_are_valid() {
    for (n, text) in sample_frames().iter().enumerate() {
        let ok = serde_json::from_str::<Envelope<TerminalMessage>>(text).is_ok()
            || serde_json::from_str::<Envelope<HubMessage>>(text).is_ok();
        assert!(ok, "sample frame {n} does not decode: {text}");
    }
}
