//! Back-off as the supervisor applies it: the delays it chose, read from its
//! events and status, never from the wall clock.

use std::time::Duration;

use cardhub_actors::supervision::{
    ChildState, Jitter, SupervisionConfig, SupervisorSpec, TreeExit, TreeHandle,
};

use crate::probe::{Fail, Probe, ProbeKit, fast_config, restart_delay, started};

/// Fails the probe `failures` times and returns the restart delays chosen.
async fn delays_after_failures(
    config: SupervisionConfig,
    seed: u64,
    failures: u64,
) -> Vec<Duration> {
    let kit = ProbeKit::new();
    let tree = TreeHandle::start(
        SupervisorSpec::new("root", config)
            .rng_seed(seed)
            .child(kit.spec("probe", 0)),
    );
    let mut events = tree.subscribe();
    let mut delays = Vec::new();
    for generation in 1..=failures {
        started(&mut events, "root", "probe", generation).await;
        let probe = tree
            .root()
            .child_address::<Probe>("probe")
            .await
            .expect("running");
        probe.do_send(Fail("link dropped"));
        delays.push(restart_delay(&mut events, "root", "probe").await);
    }
    started(&mut events, "root", "probe", failures + 1).await;
    assert_eq!(tree.shutdown().await, TreeExit::ShutDown);
    delays
}

fn config(initial_ms: u64, max_ms: u64, jitter: Jitter) -> SupervisionConfig {
    SupervisionConfig {
        backoff_initial_ms: initial_ms,
        backoff_max_ms: max_ms,
        backoff_jitter: jitter,
        ..fast_config()
    }
}

fn ms(values: &[u64]) -> Vec<Duration> {
    values.iter().copied().map(Duration::from_millis).collect()
}

#[actix_rt::test]
async fn without_jitter_restart_delays_double_up_to_the_cap() {
    let delays = delays_after_failures(config(2, 16, Jitter::None), 1, 6).await;
    assert_eq!(delays, ms(&[2, 4, 8, 16, 16, 16]));
}

#[actix_rt::test]
async fn equal_jitter_delays_grow_within_their_bounds_and_replay_from_a_seed() {
    let config = config(4, 32, Jitter::Equal);
    let delays = delays_after_failures(config.clone(), 42, 6).await;
    let policy = config.backoff_policy();
    for (attempt, delay) in (0u32..).zip(&delays) {
        let (low, high) = policy.bounds(attempt);
        assert!(
            low <= *delay && *delay <= high,
            "attempt {attempt}: {delay:?} not in {low:?}..={high:?}"
        );
    }
    // Caps 4, 8, 16, 32 ms double, so these delays cannot shrink.
    assert!(delays[..4].windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
    assert!(delays.iter().all(|d| *d <= Duration::from_millis(32)));

    assert_eq!(delays, delays_after_failures(config, 42, 6).await);
}

#[actix_rt::test]
async fn a_stable_run_before_each_failure_keeps_the_first_delay() {
    let stable_at_once = SupervisionConfig {
        stable_after_secs: 0,
        ..config(3, 100, Jitter::None)
    };
    let delays = delays_after_failures(stable_at_once, 1, 4).await;
    assert_eq!(delays, ms(&[3, 3, 3, 3]));
}

#[actix_rt::test]
async fn status_shows_a_pending_restart_and_the_delay_chosen() {
    let kit = ProbeKit::new();
    let tree = TreeHandle::start(
        SupervisorSpec::new("root", config(60_000, 60_000, Jitter::None))
            .child(kit.spec("probe", 0)),
    );
    let mut events = tree.subscribe();
    started(&mut events, "root", "probe", 1).await;
    let probe = tree
        .root()
        .child_address::<Probe>("probe")
        .await
        .expect("running");
    probe.do_send(Fail("bank host not answering"));
    restart_delay(&mut events, "root", "probe").await;

    let status = tree.status().await;
    assert!(
        status.is_up(),
        "a child waiting to restart does not take the tree down"
    );
    let child = &status.root.expect("root answers").children[0];
    match child.state {
        ChildState::Restarting { in_ms, delay_ms } => {
            assert_eq!(delay_ms, 60_000);
            assert!(in_ms <= 60_000);
        }
        other => panic!("expected a pending restart, got {other:?}"),
    }
    assert_eq!(
        (
            child.restarts,
            child.recent_restarts,
            child.consecutive_failures
        ),
        (1, 1, 1)
    );
    assert_eq!(child.last_delay_ms, Some(60_000));
    assert_eq!(
        tree.shutdown().await,
        TreeExit::ShutDown,
        "shutdown cancels the pending restart"
    );
}
