//! The session table driven by hand: resume and refusal, pushes kept
//! across cuts and before the first session, device lists and events with
//! duplicates after a resume, replacement, expiry, and what an idle
//! session costs in memory.

use super::*;

const T: &str = "T-0001";

fn hello<'a>(resume: Option<&'a Resume>, now: Instant) -> Hello<'a> {
    Hello {
        terminal_id: T,
        branch: "B001",
        branch_name: "黄浦",
        software_version: "cardhub 1.0.0",
        resume,
        peer: "10.0.0.7:50000",
        now,
        now_ms: 1_000,
    }
}

fn notice(text: &str) -> PushEvent {
    PushEvent::Notice { text: text.into() }
}

fn device(name: &str, kind: DeviceKind) -> DeviceInfo {
    DeviceInfo {
        name: name.into(),
        kind,
        state: DeviceState::Ready,
        detail: None,
    }
}

fn table() -> Table<&'static str> {
    Table::new(8, Duration::from_secs(300))
}

fn texts(resend: &[(u64, PushEvent)]) -> Vec<(u64, String)> {
    resend
        .iter()
        .map(|(seq, e)| match e {
            PushEvent::Notice { text } => (*seq, text.clone()),
            other => (*seq, format!("{other:?}")),
        })
        .collect()
}

#[test]
fn pushes_made_before_the_first_session_arrive_with_it() {
    let mut t = table();
    let now = Instant::now();
    let first = t.push(T, notice("a")).unwrap();
    assert_eq!((first.seq, first.live), (1, None));
    t.push(T, notice("b")).unwrap();
    let a = t.attach(&hello(None, now), 1, "c1", || "s-1".into());
    assert!(!a.resumed);
    assert_eq!(a.refused, None);
    assert_eq!(texts(&a.resend), [(1, "a".into()), (2, "b".into())]);
    // Linked now: a push is to be sent at once on the live connection.
    let live = t.push(T, notice("c")).unwrap();
    assert_eq!((live.seq, live.live), (3, Some("c1")));
}

#[test]
fn a_resume_resends_what_was_not_received_and_keeps_the_inbox() {
    let mut t = table();
    let now = Instant::now();
    let a = t.attach(&hello(None, now), 1, "c1", || "s-1".into());
    for text in ["a", "b", "c"] {
        t.push(T, notice(text)).unwrap();
    }
    t.ack(T, 1, 1).unwrap();
    t.device_list(T, 1, vec![device("id-reader-1", DeviceKind::IdReader)])
        .unwrap();
    let event = DeviceEvent::CardPresent { atr: None };
    assert!(matches!(
        t.device_event(T, 1, 1, "id-reader-1", &event),
        Some(EventOutcome::Applied { ack: 1, .. })
    ));
    assert!(t.detach(T, 1, now));
    assert!(!t.view(T).unwrap().online);

    // Back within the window, having received push 2.
    let resume = Resume {
        session: a.session.clone(),
        last_seq: 2,
    };
    let b = t.attach(&hello(Some(&resume), now), 2, "c2", || "s-2".into());
    assert!(b.resumed);
    assert_eq!(b.session, "s-1");
    assert_eq!(b.last_seq, 1, "the hub had device event 1");
    assert_eq!(texts(&b.resend), [(3, "c".into())]);
    // The terminal re-sends event 1 (it missed the ack): dropped, acked.
    assert_eq!(
        t.device_event(T, 2, 1, "id-reader-1", &event),
        Some(EventOutcome::Duplicate { ack: 1 })
    );
    let view = t.view(T).unwrap();
    assert_eq!(view.devices[0].card_present, Some(true));
    assert_eq!(view.pushes_waiting, 1);
}

#[test]
fn an_unknown_or_expired_session_is_refused_and_pushes_are_renumbered() {
    let mut t = table();
    let start = Instant::now();
    let a = t.attach(&hello(None, start), 1, "c1", || "s-1".into());
    t.push(T, notice("a")).unwrap();
    t.push(T, notice("b")).unwrap();
    t.ack(T, 1, 1).unwrap();
    t.detach(T, 1, start);

    let stale = Resume {
        session: "s-0".into(),
        last_seq: 0,
    };
    let b = t.attach(&hello(Some(&stale), start), 2, "c2", || "s-2".into());
    assert!(!b.resumed);
    assert!(b.refused.unwrap().contains("unknown or expired"));
    assert_eq!(texts(&b.resend), [(1, "b".into())], "renumbered from 1");
    t.detach(T, 2, start);

    // Cut longer than the window: even the right session is refused.
    let late = start + Duration::from_secs(301);
    let resume = Resume {
        session: "s-2".into(),
        last_seq: 0,
    };
    let c = t.attach(&hello(Some(&resume), late), 3, "c3", || "s-3".into());
    assert!(!c.resumed);
    assert!(c.refused.is_some());
    assert_eq!(c.session, "s-3");
    let _ = a;
}

#[test]
fn a_resume_claiming_pushes_never_sent_is_refused() {
    let mut t = table();
    let now = Instant::now();
    let a = t.attach(&hello(None, now), 1, "c1", || "s-1".into());
    t.push(T, notice("a")).unwrap();
    t.detach(T, 1, now);
    let resume = Resume {
        session: a.session,
        last_seq: 5,
    };
    let b = t.attach(&hello(Some(&resume), now), 2, "c2", || "s-2".into());
    assert!(!b.resumed);
    assert!(b.refused.unwrap().contains("seq 5"));
    assert_eq!(texts(&b.resend), [(1, "a".into())]);
}

#[test]
fn a_second_connection_replaces_the_first() {
    let mut t = table();
    let now = Instant::now();
    let a = t.attach(&hello(None, now), 1, "c1", || "s-1".into());
    let resume = Resume {
        session: a.session,
        last_seq: 0,
    };
    let b = t.attach(&hello(Some(&resume), now), 2, "c2", || "s-2".into());
    assert!(b.resumed, "a reconnect before the hub saw the cut resumes");
    assert_eq!(b.replaced, Some("c1"));
    // The old connection's messages and its end no longer count.
    assert_eq!(t.device_list(T, 1, vec![]), None);
    assert!(!t.detach(T, 1, now));
    assert!(t.view(T).unwrap().online);
    assert_eq!(t.linked(), 1);
}

#[test]
fn device_lists_replace_devices_and_say_which_went() {
    let mut t = table();
    let now = Instant::now();
    t.attach(&hello(None, now), 1, "c1", || "s-1".into());
    t.device_list(
        T,
        1,
        vec![
            device("printer-1", DeviceKind::Printer),
            device("camera-1", DeviceKind::Camera),
        ],
    )
    .unwrap();
    let off = DeviceEvent::StateChanged {
        state: DeviceState::Offline,
        detail: Some("USB cable unplugged".into()),
    };
    let Some(EventOutcome::Applied {
        device: Some(printer),
        ..
    }) = t.device_event(T, 1, 1, "printer-1", &off)
    else {
        panic!("the event applies to a listed device");
    };
    assert_eq!(printer.state, DeviceState::Offline);
    assert_eq!(printer.detail.as_deref(), Some("USB cable unplugged"));
    // An event for a device not listed is still counted (and acked).
    assert_eq!(
        t.device_event(T, 1, 2, "scanner-9", &off),
        Some(EventOutcome::Applied {
            ack: 2,
            device: None
        })
    );
    assert_eq!(
        t.device_event(T, 1, 4, "printer-1", &off),
        Some(EventOutcome::Gap {
            expected: 3,
            got: 4
        })
    );
    let change = t
        .device_list(T, 1, vec![device("printer-1", DeviceKind::Printer)])
        .unwrap();
    let removed: Vec<&str> = change.removed.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(removed, ["camera-1"]);
    assert_eq!(change.devices.len(), 1);
}

#[test]
fn expiry_drops_cut_sessions_but_keeps_their_pushes() {
    let mut t = table();
    let start = Instant::now();
    t.attach(&hello(None, start), 1, "c1", || "s-1".into());
    t.device_list(T, 1, vec![device("camera-1", DeviceKind::Camera)])
        .unwrap();
    t.push(T, notice("outcome")).unwrap();
    t.detach(T, 1, start);
    assert!(t.expire(start + Duration::from_secs(299)).is_empty());
    let gone = t.expire(start + Duration::from_secs(300));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].terminal_id, T);
    assert_eq!(gone[0].devices[0].name, "camera-1");
    assert_eq!(t.sessions(), 0);
    assert!(t.knows(T), "the push waits for the next session");
    let next = t.attach(&hello(None, start), 2, "c2", || "s-2".into());
    assert_eq!(texts(&next.resend), [(1, "outcome".into())]);
    t.ack(T, 2, 1).unwrap();
    t.detach(T, 2, start);
    t.expire(start + Duration::from_secs(600));
    assert!(!t.knows(T), "nothing left to keep");
}

#[test]
fn a_full_outbox_refuses_the_push() {
    let mut t: Table<&str> = Table::new(2, Duration::from_secs(300));
    t.push(T, notice("1")).unwrap();
    t.push(T, notice("2")).unwrap();
    assert!(matches!(
        t.push(T, notice("3")),
        Err(OutboxError::Full { capacity: 2 })
    ));
    assert_eq!(t.pushes_waiting(T), 2);
}

#[test]
fn an_ack_beyond_what_was_sent_is_refused() {
    let mut t = table();
    t.attach(&hello(None, Instant::now()), 1, "c1", || "s-1".into());
    assert!(matches!(
        t.ack(T, 1, 3),
        Err(OutboxError::AckBeyondSent { .. })
    ));
}

/// What 10,000 idle sessions cost, each cut with three devices and no
/// push waiting: measured by the allocator on this thread, so other
/// tests running at once do not count.
#[test]
fn an_idle_session_is_small() {
    const SESSIONS: usize = 10_000;
    let ids: Vec<String> = (0..SESSIONS).map(|i| format!("T-{i:05}")).collect();
    let now = Instant::now();
    let (_, bytes) = crate::terminal::alloc_meter::measure(|| {
        let mut t: Table<std::sync::Arc<()>> = Table::new(256, Duration::from_secs(300));
        for (conn, id) in ids.iter().enumerate() {
            let conn = conn as u64;
            let hello = Hello {
                terminal_id: id,
                ..hello(None, now)
            };
            t.attach(&hello, conn, std::sync::Arc::new(()), || {
                format!("s-{:032x}", conn)
            });
            t.device_list(
                id,
                conn,
                vec![
                    device("id-reader-1", DeviceKind::IdReader),
                    device("camera-1", DeviceKind::Camera),
                    device("card-reader-1", DeviceKind::CardReader),
                ],
            );
            t.detach(id, conn, now);
        }
        t
    });
    let per_session = bytes / SESSIONS;
    assert!(
        per_session <= 2 * 1024,
        "an idle session holds {per_session} bytes"
    );
}
