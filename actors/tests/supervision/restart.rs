//! Restarts: fresh state from the factory, panics, failed factories, restart
//! policies, one-for-all, and children added or removed at run time.

use actix::prelude::*;
use cardhub_actors::supervision::{
    ChildContext, ChildSpec, ChildState, ExitReason, RestartPolicy, Strategy, SupervisionError,
    SupervisorEvent, SupervisorSpec, TreeExit, TreeHandle,
};

use crate::probe::{Bump, Crash, Fail, ProbeKit, Quit, Value, fast_config, started, wait_for};

fn exit_of(
    events: &mut tokio::sync::broadcast::Receiver<SupervisorEvent>,
    child: &'static str,
) -> impl std::future::Future<Output = ExitReason> {
    let mut events = events.resubscribe();
    async move {
        wait_for(&mut events, &format!("exit of {child}"), |e| match e {
            SupervisorEvent::ChildExited {
                child: c, reason, ..
            } if c == child => Some(reason.clone()),
            _ => None,
        })
        .await
    }
}

#[actix_rt::test]
async fn a_failed_child_restarts_from_its_factory_not_its_old_state() {
    let mut kit = ProbeKit::new();
    let tree = TreeHandle::start(
        SupervisorSpec::new("root", fast_config()).child(kit.async_spec("probe", 100)),
    );
    let mut events = tree.subscribe();

    let first = kit.next_start().await;
    assert_eq!((first.generation, first.value), (1, 100));
    let old = tree
        .root()
        .child_address::<super::probe::Probe>("probe")
        .await
        .expect("running");
    for _ in 0..3 {
        old.send(Bump).await.expect("first run answers");
    }
    assert_eq!(old.send(Value).await.expect("first run answers"), 103);

    old.do_send(Fail("card reader returned 6F00"));
    let second = kit.next_start().await;
    assert_eq!(
        (second.generation, second.value),
        (2, 100),
        "state came from the factory"
    );
    assert_eq!(kit.builds(), 2);

    let new = tree
        .root()
        .child_address::<super::probe::Probe>("probe")
        .await
        .expect("running");
    assert_eq!(new.send(Value).await.expect("second run answers"), 100);
    assert!(
        old.send(Value).await.is_err(),
        "the old actor is gone, not reused"
    );

    let exit = wait_for(&mut events, "the failure", |e| match e {
        SupervisorEvent::ChildExited { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert_eq!(exit, ExitReason::Failed("card reader returned 6F00".into()));
    assert_eq!(tree.shutdown().await, TreeExit::ShutDown);
}

#[actix_rt::test]
async fn a_panicking_child_is_restarted_and_the_panic_is_its_exit_reason() {
    let mut kit = ProbeKit::new();
    let tree =
        TreeHandle::start(SupervisorSpec::new("root", fast_config()).child(kit.spec("probe", 1)));
    let mut events = tree.subscribe();
    kit.next_start().await;
    let exit = exit_of(&mut events, "probe");

    let probe = tree
        .root()
        .child_address::<super::probe::Probe>("probe")
        .await
        .expect("running");
    probe.do_send(Crash);

    assert_eq!(
        exit.await,
        ExitReason::Panicked("probe told to crash".into())
    );
    assert_eq!(kit.next_start().await.generation, 2);
    tree.shutdown().await;
}

#[actix_rt::test]
async fn a_factory_that_fails_is_retried_until_it_succeeds() {
    let (sender, mut starts) = tokio::sync::mpsc::unbounded_channel();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = std::sync::Arc::clone(&attempts);
    let flaky = ChildSpec::new_async("flaky", move |cx| {
        let sender = sender.clone();
        let attempt = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            if attempt == 0 {
                Err("storage not reachable: connection refused".to_owned())
            } else {
                Ok(super::probe::probe(&cx, 7, sender))
            }
        }
    });
    let tree = TreeHandle::start(SupervisorSpec::new("root", fast_config()).child(flaky));
    let mut events = tree.subscribe();
    let exit = exit_of(&mut events, "flaky");

    assert_eq!(
        exit.await,
        ExitReason::StartFailed("storage not reachable: connection refused".into())
    );
    let run = tokio::time::timeout(crate::probe::EVENT_TIMEOUT, starts.recv())
        .await
        .expect("the retry started")
        .expect("channel open");
    assert_eq!(run.generation, 2);
    tree.shutdown().await;
}

#[actix_rt::test]
async fn transient_and_temporary_children_follow_their_restart_policy() {
    let mut kit = ProbeKit::new();
    let tree = TreeHandle::start(
        SupervisorSpec::new("root", fast_config())
            .child(kit.spec("transient", 0).restart(RestartPolicy::Transient))
            .child(kit.spec("temporary", 0).restart(RestartPolicy::Temporary)),
    );
    let mut events = tree.subscribe();
    kit.next_start().await;
    kit.next_start().await;

    let quit = exit_of(&mut events, "transient");
    let transient = tree
        .root()
        .child_address::<super::probe::Probe>("transient")
        .await
        .expect("running");
    transient.do_send(Quit);
    assert_eq!(quit.await, ExitReason::Normal);

    let fail = exit_of(&mut events, "temporary");
    let temporary = tree
        .root()
        .child_address::<super::probe::Probe>("temporary")
        .await
        .expect("running");
    temporary.do_send(Fail("session closed by branch"));
    assert!(fail.await.is_failure());

    // The supervisor decided before it answers the status request.
    let status = tree.root().status().await.expect("root answers");
    let names: Vec<_> = status.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["transient"],
        "a temporary child is forgotten once stopped"
    );
    assert_eq!(status.children[0].state, ChildState::Stopped);
    assert_eq!(status.children[0].restarts, 0);
    assert_eq!(kit.builds(), 2, "neither child was rebuilt");

    // A transient child is restarted after a failure, though.
    let spec = kit.spec("transient-2", 0).restart(RestartPolicy::Transient);
    tree.root().start_child(spec).await.expect("added");
    started(&mut events, "root", "transient-2", 1).await;
    let child = tree
        .root()
        .child_address::<super::probe::Probe>("transient-2")
        .await
        .expect("running");
    child.do_send(Fail("ribbon empty"));
    started(&mut events, "root", "transient-2", 2).await;
    tree.shutdown().await;
}

#[actix_rt::test]
async fn one_for_all_restarts_every_sibling_fresh_and_in_order() {
    let mut kit = ProbeKit::new();
    let tree = TreeHandle::start(
        SupervisorSpec::new("line", fast_config())
            .strategy(Strategy::OneForAll)
            .child(kit.spec("printer", 10))
            .child(kit.spec("verifier", 20)),
    );
    let mut events = tree.subscribe();
    kit.next_start().await;
    kit.next_start().await;
    let verifier = tree
        .root()
        .child_address::<super::probe::Probe>("verifier")
        .await
        .expect("running");
    verifier.send(Bump).await.expect("verifier answers");

    let sibling_exit = exit_of(&mut events, "verifier");
    let printer = tree
        .root()
        .child_address::<super::probe::Probe>("printer")
        .await
        .expect("running");
    printer.do_send(Fail("card jammed at the contact station"));

    assert_eq!(
        sibling_exit.await,
        ExitReason::Shutdown,
        "the healthy sibling was stopped"
    );
    let order = [kit.next_start().await, kit.next_start().await];
    assert_eq!(
        order.map(|s| (s.child, s.generation, s.value)),
        [
            ("printer".to_owned(), 2, 10),
            ("verifier".to_owned(), 2, 20)
        ]
    );
    let status = tree.root().status().await.expect("line answers");
    assert!(status.children.iter().all(|c| c.restarts == 1));
    tree.shutdown().await;
}

#[actix_rt::test]
async fn children_can_be_added_and_terminated_at_run_time() {
    let mut kit = ProbeKit::new();
    let tree = TreeHandle::start(SupervisorSpec::new("branches", fast_config()));
    let root = tree.root();

    root.start_child(kit.spec("branch-0101", 0).restart(RestartPolicy::Temporary))
        .await
        .expect("added");
    assert_eq!(kit.next_start().await.child, "branch-0101");
    let duplicate = root.start_child(kit.spec("branch-0101", 0)).await;
    assert!(matches!(
        duplicate,
        Err(SupervisionError::DuplicateChild { .. })
    ));

    assert_eq!(
        root.terminate_child("branch-0101")
            .await
            .expect("terminated"),
        ExitReason::Shutdown
    );
    assert!(root.status().await.expect("answers").children.is_empty());
    assert!(matches!(
        root.terminate_child("branch-0101").await,
        Err(SupervisionError::NoSuchChild { .. })
    ));
    tree.shutdown().await;
}

/// An actor that refuses to stop when asked.
struct Stubborn;

impl Actor for Stubborn {
    type Context = Context<Self>;

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        Running::Continue
    }
}

#[actix_rt::test]
async fn shutdown_drops_a_child_that_will_not_stop_in_time() {
    let tree = TreeHandle::start(
        SupervisorSpec::new("root", fast_config()).child(
            ChildSpec::new("stubborn", |_: &ChildContext| Stubborn)
                .shutdown_timeout(std::time::Duration::from_millis(20)),
        ),
    );
    let mut events = tree.subscribe();
    started(&mut events, "root", "stubborn", 1).await;
    let exit = exit_of(&mut events, "stubborn");

    assert_eq!(tree.shutdown().await, TreeExit::ShutDown);
    assert_eq!(exit.await, ExitReason::Killed);
}
