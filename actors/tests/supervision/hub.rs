//! cardhub's own tree: four subtrees, children added to them, status for
//! `/healthz`, ordered shutdown, and the root's escalation.

use cardhub_actors::supervision::{
    ChildKind, ChildState, ExitReason, RestartPolicy, SupervisionConfig, SupervisionError,
    SupervisorEvent, TreeExit,
};
use cardhub_actors::{Hub, Subtree};

use crate::probe::{Fail, Probe, ProbeKit, Value, fast_config, started};

const SUBTREES: [&str; 4] = ["devices", "workshop", "branches", "channels"];

#[actix_rt::test]
async fn the_hub_starts_four_empty_subtrees_and_reports_up() {
    let hub = Hub::start(&fast_config());
    let mut events = hub.subscribe();
    for name in SUBTREES {
        started(&mut events, "hub", name, 1).await;
    }

    let status = hub.status().await;
    assert!(status.is_up());
    let root = status.root.as_ref().expect("root answers");
    assert_eq!(root.path, "hub");
    let names: Vec<_> = root.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, SUBTREES);
    for child in &root.children {
        assert_eq!(child.kind, ChildKind::Supervisor);
        assert!(
            matches!(child.state, ChildState::Running { .. }),
            "{child:?}"
        );
        let nested = child.supervisor.as_ref().expect("subtree answers");
        assert_eq!(nested.path, format!("hub/{}", child.name));
        assert!(nested.children.is_empty());
    }
    let json = serde_json::to_value(&status).expect("status serialises for /healthz");
    assert_eq!(
        json["root"]["children"][2]["supervisor"]["path"],
        "hub/branches"
    );
    assert_eq!(json["root"]["children"][0]["state"]["state"], "running");

    assert_eq!(hub.shutdown().await, TreeExit::ShutDown);
}

#[actix_rt::test]
async fn shutdown_stops_the_hub_last_started_first() {
    let kit = ProbeKit::new();
    let hub = Hub::builder(&fast_config())
        .worker(kit.spec("scheduler", 0))
        .start();
    let mut events = hub.subscribe();
    started(&mut events, "hub", "scheduler", 1).await;

    assert_eq!(hub.shutdown().await, TreeExit::ShutDown);
    let mut stopped = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let SupervisorEvent::ChildExited {
            supervisor,
            child,
            reason,
            ..
        } = event
            && supervisor == "hub"
        {
            assert_eq!(reason, ExitReason::Shutdown, "{child}");
            stopped.push(child);
        }
    }
    assert_eq!(
        stopped,
        ["scheduler", "channels", "branches", "workshop", "devices"]
    );

    let status = hub.status().await;
    assert!(!status.is_up());
    assert_eq!(status.exit, Some(TreeExit::ShutDown));
}

#[actix_rt::test]
async fn children_of_a_subtree_run_under_it() {
    let kit = ProbeKit::new();
    let hub = Hub::builder(&fast_config())
        .child(Subtree::Devices, kit.spec("printer-01", 3))
        .start();
    let mut events = hub.subscribe();
    started(&mut events, "hub/devices", "printer-01", 1).await;

    let devices = hub.subtree(Subtree::Devices).await.expect("devices runs");
    assert_eq!(devices.path(), "hub/devices");
    let printer = devices
        .child_address::<Probe>("printer-01")
        .await
        .expect("printer runs");
    assert_eq!(printer.send(Value).await.expect("printer answers"), 3);
    assert!(matches!(
        devices.child_supervisor("printer-01").await,
        Err(SupervisionError::WrongActorType { .. })
    ));

    let branches = hub.subtree(Subtree::Branches).await.expect("branches runs");
    branches
        .start_child(
            kit.spec("terminal-0201", 0)
                .restart(RestartPolicy::Temporary),
        )
        .await
        .expect("session added");
    started(&mut events, "hub/branches", "terminal-0201", 1).await;
    hub.shutdown().await;
}

#[actix_rt::test]
async fn the_roots_escalation_is_reported_to_main() {
    let kit = ProbeKit::new();
    let hub = Hub::builder(&SupervisionConfig {
        max_restarts: 0,
        ..fast_config()
    })
    .worker(kit.spec("notifier", 0))
    .start();
    let mut events = hub.subscribe();
    started(&mut events, "hub", "notifier", 1).await;

    let notifier = hub
        .tree()
        .root()
        .child_address::<Probe>("notifier")
        .await
        .expect("runs");
    notifier.do_send(Fail("outbox table missing"));

    match hub.wait_exit().await {
        TreeExit::Escalated(reason) => {
            assert!(
                reason.contains("notifier") && reason.contains("outbox table missing"),
                "{reason}"
            );
        }
        other => panic!("expected an escalation, got {other:?}"),
    }
    assert!(!hub.status().await.is_up());
}
