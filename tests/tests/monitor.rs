//! End to end: the monitoring wall's WebSocket `/ws/monitor` with real
//! clients against the real binary, fed by its synthetic status load
//! (`[simulators] status_devices`): snapshot then deltas with no gap and no
//! duplicate, resuming from a sequence number, filters, a slow screen
//! resynced while a fast one carries on, heartbeats, and malformed messages
//! answered with errors on a connection that stays open.

use std::time::Duration;

use cardhub_tests::HubProcess;
use cardhub_tests::monitor::{Screen, entities};
use serde_json::{Value, json};
use tungstenite::Message;

fn seq(v: &Value) -> u64 {
    v["seq"].as_u64().expect("a seq")
}

/// A hub whose synthetic devices change `rate` times a second, once the bus
/// holds all of them.
fn loaded_hub(devices: u32, rate: u32, extra: &[(&str, &str)]) -> HubProcess {
    let hub = start_loaded(devices, rate, extra);
    let http = hub.http(Some(&hub.dev_token()));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let view = http.get("/api/v1/monitor/snapshot?kinds=printer,reader,camera,id_reader");
        let held = view.json()["entities"].as_array().map_or(0, |all| {
            all.iter()
                .filter(|e| e["id"].as_str().is_some_and(|id| id.starts_with("load/")))
                .count()
        });
        if held == devices as usize {
            return hub;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the synthetic devices never all showed: {held} of {devices}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_loaded(devices: u32, rate: u32, extra: &[(&str, &str)]) -> HubProcess {
    let devices = devices.to_string();
    let rate = rate.to_string();
    let mut env = vec![
        ("CARDHUB_SIMULATORS__STATUS_DEVICES", devices.as_str()),
        ("CARDHUB_SIMULATORS__STATUS_CHANGES_PER_SEC", rate.as_str()),
    ];
    env.extend_from_slice(extra);
    HubProcess::start_with(&env)
}

/// Follows deltas for `frames` frames, checking every change moves the
/// sequence forward by exactly one (with no filter, every change is sent).
fn follow_contiguous(screen: &mut Screen, mut last: u64, frames: usize) -> u64 {
    for _ in 0..frames {
        let m = screen.expect("deltas");
        assert_eq!(m["resumed"], false, "{m}");
        for change in entities(&m) {
            assert_eq!(seq(change), last + 1, "no gap, no duplicate: {m}");
            last = seq(change);
        }
        assert_eq!(seq(&m), last, "a frame's seq is its last change's");
    }
    last
}

#[test]
fn a_screen_gets_a_snapshot_then_every_change_once_and_resumes_where_it_left() {
    let hub = loaded_hub(50, 500, &[]);
    let token = hub.dev_token();
    let mut screen = Screen::connect_with(&hub.base, &[], None).expect("upgrade");
    let welcome = screen.hello(&token, json!({}));
    assert_eq!(welcome["v"], 1);
    assert_eq!(welcome["role"], "admin");
    assert_eq!(welcome["tick_ms"], 100);
    let epoch = welcome["epoch"].as_str().unwrap().to_owned();

    let snapshot = screen.expect("snapshot");
    assert_eq!(snapshot["reason"], "initial");
    assert_eq!(snapshot["epoch"], epoch.as_str());
    let devices: Vec<&Value> = entities(&snapshot)
        .iter()
        .filter(|e| e["id"].as_str().unwrap().starts_with("load/"))
        .collect();
    assert_eq!(
        devices.len(),
        50,
        "every synthetic device is in the snapshot"
    );
    for e in entities(&snapshot) {
        assert!(
            seq(e) <= seq(&snapshot),
            "nothing newer than the snapshot: {e}"
        );
    }
    let last = follow_contiguous(&mut screen, seq(&snapshot), 10);
    screen.close();

    // Away for a second (about 500 changes), then back with epoch and seq.
    std::thread::sleep(Duration::from_secs(1));
    let mut back = Screen::open(&hub.base, &token, json!({"epoch": epoch, "since": last}));
    let resumed = back.expect("deltas");
    assert_eq!(resumed["resumed"], true, "{resumed}");
    let replay = entities(&resumed);
    assert!(replay.len() > 100, "the missed changes: {}", replay.len());
    let mut expected = last;
    for change in replay {
        assert_eq!(seq(change), expected + 1, "the replay has no gap or repeat");
        expected = seq(change);
    }
    assert_eq!(seq(&resumed), expected);
    follow_contiguous(&mut back, expected, 5);

    // Another run's epoch, or a seq never reached: a snapshot.
    let mut stranger = Screen::open(
        &hub.base,
        &token,
        json!({"epoch": "0123456789abcdef", "since": 5}),
    );
    assert_eq!(stranger.expect("snapshot")["reason"], "new-epoch");
}

#[test]
fn a_resume_from_a_change_no_longer_retained_gets_a_snapshot() {
    let hub = loaded_hub(20, 1000, &[("CARDHUB_MONITOR__RETAIN", "100")]);
    let token = hub.dev_token();
    let mut screen = Screen::open(&hub.base, &token, json!({}));
    let snapshot = screen.expect("snapshot");
    let epoch = snapshot["epoch"].as_str().unwrap().to_owned();
    screen.close();
    std::thread::sleep(Duration::from_millis(1500));
    let mut back = Screen::open(
        &hub.base,
        &token,
        json!({"epoch": epoch, "since": seq(&snapshot)}),
    );
    let again = back.expect("snapshot");
    assert_eq!(again["reason"], "resume-too-old", "{again}");
    assert!(seq(&again) > seq(&snapshot) + 100);
}

#[test]
fn a_filter_picks_the_kinds_a_screen_gets_and_can_be_changed() {
    let hub = loaded_hub(40, 400, &[]);
    let token = hub.dev_token();
    let mut screen = Screen::open(&hub.base, &token, json!({"filter": {"kinds": ["printer"]}}));
    let snapshot = screen.expect("snapshot");
    assert_eq!(
        entities(&snapshot).len(),
        10,
        "every fourth device is a printer"
    );
    for _ in 0..5 {
        let m = screen.expect("deltas");
        for e in entities(&m) {
            assert_eq!(e["kind"], "printer", "{e}");
        }
    }
    screen.send(&json!({"v": 1, "type": "subscribe", "filter": {"kinds": ["camera", "reader"]}}));
    let changed = screen
        .until(Duration::from_secs(5), |m| m["type"] == "snapshot")
        .expect("a snapshot for the new filter");
    assert_eq!(changed["reason"], "filter");
    let kinds: std::collections::BTreeSet<&str> = entities(&changed)
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["camera", "reader"].into_iter().collect());

    // The same view over HTTP.
    let http = hub.http(Some(&token));
    let view = http.get("/api/v1/monitor/snapshot?kinds=id_reader");
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(view.json()["entities"].as_array().unwrap().len(), 10);
    let bad = http.get("/api/v1/monitor/snapshot?kinds=spaceship");
    assert_eq!(bad.status, 400);
    assert!(
        bad.text.contains("unknown kind `spaceship`"),
        "{}",
        bad.text
    );
}

#[test]
fn a_slow_screen_is_resynced_with_a_snapshot_and_a_fast_one_never_notices() {
    let hub = loaded_hub(
        500,
        5000,
        &[
            ("CARDHUB_MONITOR__QUEUE_FRAMES", "2"),
            ("CARDHUB_MONITOR__QUEUE_BYTES", "65536"),
            ("CARDHUB_MONITOR__RESYNCS_PER_MINUTE", "20"),
            ("CARDHUB_MONITOR__TIMEOUT_SECS", "120"),
        ],
    );
    let token = hub.dev_token();
    let hello = json!({"v": 1, "type": "hello", "token": token});
    let mut slow = Screen::connect_with(&hub.base, &[], Some(4096)).expect("upgrade");
    slow.send(&hello);
    let mut fast = Screen::open(&hub.base, &token, json!({}));
    let mut fast_last = seq(&fast.expect("snapshot"));

    // The slow screen reads nothing until the hub says it cut a screen
    // off (the kernel's socket buffers hold some seconds of deltas first);
    // the fast one reads all along and misses nothing.
    let http = hub.http(Some(&token));
    let lagged = |http: &cardhub_tests::Http| {
        http.get("/metrics")
            .text
            .lines()
            .any(|l| l.starts_with("cardhub_monitor_screens_lagged_total") && !l.ends_with(" 0"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut checked = std::time::Instant::now();
    loop {
        let m = fast.expect("deltas");
        for change in entities(&m) {
            assert_eq!(seq(change), fast_last + 1, "the fast screen misses nothing");
            fast_last = seq(change);
        }
        if checked.elapsed() > Duration::from_secs(1) {
            if lagged(&http) {
                break;
            }
            checked = std::time::Instant::now();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slow screen was never cut off"
        );
    }
    // Once it reads again, it gets a fresh snapshot.
    let resynced = slow.until(Duration::from_secs(60), |m| {
        m["type"] == "snapshot" && m["reason"] == "resync"
    });
    let resync = resynced.expect("the slow screen was resynced with a snapshot");
    assert_eq!(
        entities(&resync)
            .iter()
            .filter(|e| e["id"].as_str().unwrap().starts_with("load/"))
            .count(),
        500
    );
    // After the resync the slow screen's deltas follow its snapshot.
    let next = slow.expect("deltas");
    assert!(seq(&next) > seq(&resync));
    for change in entities(&next) {
        assert!(
            seq(change) > seq(&resync),
            "nothing the snapshot held is repeated"
        );
    }
    let metrics = hub.http(Some(&token)).get("/metrics").text;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("cardhub_monitor_resyncs_total") && !l.ends_with(" 0")),
        "the resync is counted"
    );
}

#[test]
fn a_screen_that_goes_silent_is_closed_after_the_timeout() {
    let hub = HubProcess::start_with(&[
        ("CARDHUB_MONITOR__HEARTBEAT_SECS", "1"),
        ("CARDHUB_MONITOR__TIMEOUT_SECS", "2"),
    ]);
    let mut screen = Screen::open(&hub.base, &hub.dev_token(), json!({}));
    let welcome_free = screen.expect("snapshot");
    assert_eq!(welcome_free["reason"], "initial");
    // Reading nothing means answering no ping either.
    std::thread::sleep(Duration::from_secs(4));
    let mut seen = Vec::new();
    let end = loop {
        match screen.next_or_closed(Duration::from_secs(5)) {
            Ok(Some(m)) => seen.push(m),
            Ok(None) => panic!("the silent screen was not closed: {seen:?}"),
            Err(why) => break why,
        }
    };
    assert!(
        seen.iter().any(|m| m["type"] == "heartbeat"),
        "heartbeats came first: {seen:?}"
    );
    let fatal = seen
        .iter()
        .find(|m| m["type"] == "error")
        .expect("a last word");
    assert_eq!(fatal["code"], "heartbeat-timeout");
    assert_eq!(fatal["fatal"], true);
    assert!(end.contains("close"), "{end}");

    // A screen that answers heartbeats stays.
    let mut alive = Screen::open(&hub.base, &hub.dev_token(), json!({}));
    for _ in 0..4 {
        alive.expect("heartbeat");
        alive.send(&json!({"v": 1, "type": "pong"}));
    }
}

#[test]
fn bad_messages_get_an_error_and_the_connection_stays_open() {
    let hub = HubProcess::start_with(&[("CARDHUB_MONITOR__MAX_MESSAGE_BYTES", "4096")]);
    let token = hub.dev_token();

    // Wrong credentials on the upgrade itself: a plain 401.
    let refused =
        Screen::connect_with(&hub.base, &[("Authorization", "Bearer chb_nonsense")], None);
    match refused {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        Err(e) => panic!("expected HTTP 401, got {e}"),
        Ok(_) => panic!("a bad token must not be upgraded"),
    }

    let mut screen = Screen::connect_with(&hub.base, &[], None).expect("upgrade");
    let answer = |screen: &mut Screen, text: &str| -> Value {
        screen.send_text(text);
        screen.expect("error")
    };
    let e = answer(&mut screen, "this is not json");
    assert_eq!(e["code"], "bad-json", "{e}");
    let e = answer(&mut screen, r#"{"v":2,"type":"hello"}"#);
    assert_eq!(e["code"], "unsupported-version", "{e}");
    let e = answer(&mut screen, r#"{"v":1,"type":"subscribe"}"#);
    assert_eq!(e["code"], "hello-first", "{e}");
    let e = answer(&mut screen, r#"{"v":1,"type":"hello","token":"chb_wrong"}"#);
    assert_eq!(e["code"], "unauthenticated", "{e}");
    let e = answer(&mut screen, r#"{"v":1,"type":"hello"}"#);
    assert_eq!(e["code"], "unauthenticated", "{e}");
    assert!(e["message"].as_str().unwrap().contains("token"), "{e}");
    let e = answer(&mut screen, r#"{"v":1,"type":"launch"}"#);
    assert_eq!(e["code"], "bad-message", "{e}");
    assert!(e.get("fatal").is_none(), "not fatal: {e}");

    // All of that, and the connection still works.
    screen.hello(&token, json!({}));
    assert_eq!(screen.expect("snapshot")["reason"], "initial");
    let e = answer(
        &mut screen,
        &json!({"v": 1, "type": "hello", "token": token}).to_string(),
    );
    assert_eq!(e["code"], "hello-twice", "{e}");
    let e = answer(
        &mut screen,
        r#"{"v":1,"type":"subscribe","filter":{"kinds":["spaceship"]}}"#,
    );
    assert_eq!(e["code"], "bad-message", "{e}");
    screen.send_raw(Message::binary(vec![1u8, 2, 3]));
    assert_eq!(screen.expect("error")["code"], "bad-message");
    screen.send(&json!({"v": 1, "type": "ping", "nonce": "n-42"}));
    let pong = screen.expect("pong");
    assert_eq!(pong["nonce"], "n-42");

    // A message over the limit ends the connection, with a word first.
    screen.send_text(&format!(
        r#"{{"v":1,"type":"ping","nonce":"{}"}}"#,
        "x".repeat(8000)
    ));
    let mut last = Vec::new();
    loop {
        match screen.next_or_closed(Duration::from_secs(5)) {
            Ok(Some(m)) => last.push(m),
            Ok(None) => panic!("an oversized message must close the connection: {last:?}"),
            Err(_) => break,
        }
    }
    let fatal = last
        .iter()
        .find(|m| m["type"] == "error")
        .expect("a last word");
    assert_eq!(fatal["code"], "too-large", "{fatal}");
    assert_eq!(fatal["fatal"], true);
}

#[test]
fn an_operator_session_cookie_is_enough_and_the_wall_page_is_served() {
    let hub = HubProcess::start();
    let http = hub.http(None);
    let login = http.post(
        "/api/v1/session",
        &json!({"username": "admin", "password": hub.dev_admin_password()}),
    );
    assert_eq!(login.status, 200, "{}", login.text);
    let session = login.json()["token"].as_str().unwrap().to_owned();
    let cookie = format!("cardhub_session={session}");
    let mut screen =
        Screen::connect_with(&hub.base, &[("Cookie", cookie.as_str())], None).expect("upgrade");
    screen.send(&json!({"v": 1, "type": "hello"}));
    let welcome = screen.expect("welcome");
    assert_eq!(welcome["caller"], "admin");

    // The protocol's messages are in the OpenAPI document.
    let doc = hub
        .http(Some(&hub.dev_token()))
        .get("/api/v1/openapi.json")
        .json();
    assert!(
        doc["paths"].get("/ws/monitor").is_some(),
        "the WebSocket is documented"
    );
    for schema in [
        "MonitorServerMessage",
        "MonitorClientMessage",
        "MonitorEntity",
        "MonitorFilter",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema} is in the OpenAPI document"
        );
    }

    let page = http.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("/wall/wall.js"),
        "the page loads its script"
    );
    for asset in ["/", "/wall/wall.js", "/wall/wall.css"] {
        let reply = http.get(asset);
        assert_eq!(reply.status, 200, "{asset}");
        for outside in ["src=\"http", "href=\"http", "url(http", "@import", "//cdn"] {
            assert!(
                !reply.text.contains(outside),
                "{asset} loads nothing from outside ({outside})"
            );
        }
    }
}
