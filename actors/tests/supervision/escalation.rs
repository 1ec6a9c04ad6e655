//! Escalation: a child failing too often stops its supervisor; the parent
//! sees that as one failed child, and the root's escalation reaches whoever
//! started the tree.

use cardhub_actors::supervision::{
    ChildKind, ChildSpec, ExitReason, SupervisionConfig, SupervisorEvent, SupervisorSpec,
    SupervisorState, TreeExit, TreeHandle,
};

use crate::probe::{Fail, Probe, ProbeKit, fast_config, restart_delay, started, wait_for};

fn allowing(max_restarts: u32) -> SupervisionConfig {
    SupervisionConfig {
        max_restarts,
        ..fast_config()
    }
}

#[actix_rt::test]
async fn a_child_failing_more_than_max_restarts_escalates_to_whoever_started_the_tree() {
    let mut kit = ProbeKit::new();
    let tree = TreeHandle::start(
        SupervisorSpec::new("root", allowing(2))
            .child(kit.spec("bystander", 0))
            .child(kit.spec("probe", 0)),
    );
    let mut events = tree.subscribe();
    kit.next_start().await;

    for generation in 1..=3 {
        started(&mut events, "root", "probe", generation).await;
        let probe = tree
            .root()
            .child_address::<Probe>("probe")
            .await
            .expect("running");
        probe.do_send(Fail("printer head overheated"));
    }

    let reason = wait_for(&mut events, "the escalation", |e| match e {
        SupervisorEvent::Escalated { supervisor, reason } if supervisor == "root" => {
            Some(reason.clone())
        }
        _ => None,
    })
    .await;
    assert!(
        reason.contains("probe") && reason.contains("more than 2 times"),
        "{reason}"
    );
    let bystander = wait_for(&mut events, "the bystander's stop", |e| match e {
        SupervisorEvent::ChildExited { child, reason, .. } if child == "bystander" => {
            Some(reason.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(
        bystander,
        ExitReason::Shutdown,
        "siblings are stopped, not left running"
    );

    assert_eq!(tree.wait_exit().await, TreeExit::Escalated(reason));
    let status = tree.status().await;
    assert!(!status.is_up());
    assert_eq!(kit.builds(), 4, "two restarts of the probe, no third");
}

#[actix_rt::test]
async fn a_nested_supervisor_escalating_is_one_failed_child_of_its_parent() {
    let mut kit = ProbeKit::new();
    let inner = SupervisorSpec::new("devices", allowing(1)).child(kit.spec("reader", 5));
    let tree = TreeHandle::start(
        SupervisorSpec::new("hub", allowing(5)).child(ChildSpec::supervisor(inner)),
    );
    let mut events = tree.subscribe();

    for generation in 1..=2 {
        started(&mut events, "hub/devices", "reader", generation).await;
        assert_eq!(kit.next_start().await.generation, generation);
        let devices = tree
            .root()
            .child_supervisor("devices")
            .await
            .expect("running");
        let reader = devices
            .child_address::<Probe>("reader")
            .await
            .expect("running");
        reader.do_send(Fail("PC/SC reader removed"));
    }

    let inner_exit = wait_for(&mut events, "the subtree's exit", |e| match e {
        SupervisorEvent::ChildExited {
            supervisor,
            child,
            reason,
            ..
        } if supervisor == "hub" && child == "devices" => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(
        matches!(&inner_exit, ExitReason::Escalated(why) if why.contains("reader")),
        "{inner_exit:?}"
    );
    restart_delay(&mut events, "hub", "devices").await;
    started(&mut events, "hub", "devices", 2).await;
    // A fresh supervisor starts a fresh child: its first run again.
    started(&mut events, "hub/devices", "reader", 1).await;
    let fresh = kit.next_start().await;
    assert_eq!((fresh.generation, fresh.value), (1, 5));
    assert_eq!(kit.builds(), 3);

    let status = tree.status().await;
    assert!(status.is_up(), "the root absorbed the failure");
    let root = status.root.expect("root answers");
    assert_eq!(root.state, SupervisorState::Running);
    let devices = &root.children[0];
    assert_eq!((devices.kind, devices.restarts), (ChildKind::Supervisor, 1));
    let nested = devices.supervisor.as_ref().expect("nested status included");
    assert_eq!(nested.path, "hub/devices");
    assert_eq!(nested.children[0].restarts, 0, "the new run counts afresh");
    assert_eq!(tree.shutdown().await, TreeExit::ShutDown);
}
