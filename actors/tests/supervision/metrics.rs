//! Restarts and escalations show up in the Prometheus metrics.

use cardhub_actors::supervision::{ChildSpec, SupervisionConfig, SupervisorSpec, TreeHandle};
use metrics_exporter_prometheus::PrometheusBuilder;

use crate::probe::{Fail, Probe, ProbeKit, fast_config, restart_delay, started};

/// The value of the series `name` whose labels are exactly `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut want = labels.to_vec();
    want.sort_unstable();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let inner = series
                .strip_prefix(name)?
                .strip_prefix('{')?
                .strip_suffix('}')?;
            let mut found: Vec<(&str, &str)> = inner
                .split(',')
                .filter_map(|pair| {
                    let (key, value) = pair.split_once('=')?;
                    Some((key, value.trim_matches('"')))
                })
                .collect();
            found.sort_unstable();
            if found == want {
                value.parse().ok()
            } else {
                None
            }
        })
}

#[test]
fn restarts_escalations_and_running_children_are_in_the_metrics() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    // The recorder is installed for this thread only; the actix system below
    // runs every actor of the tree on this same thread.
    let while_running = metrics::with_local_recorder(&recorder, || {
        actix_rt::System::new().block_on(async {
            let kit = ProbeKit::new();
            let fragile = SupervisorSpec::new(
                "inner",
                SupervisionConfig {
                    max_restarts: 0,
                    ..fast_config()
                },
            )
            .child(kit.spec("fragile", 0));
            let tree = TreeHandle::start(
                SupervisorSpec::new("root", fast_config())
                    .child(kit.spec("probe", 0))
                    .child(ChildSpec::supervisor(fragile)),
            );
            let mut events = tree.subscribe();
            let mut inner_events = tree.subscribe();

            for generation in 1..=2 {
                started(&mut events, "root", "probe", generation).await;
                let probe = tree
                    .root()
                    .child_address::<Probe>("probe")
                    .await
                    .expect("running");
                probe.do_send(Fail("serial port closed"));
                restart_delay(&mut events, "root", "probe").await;
            }
            started(&mut events, "root", "probe", 3).await;

            started(&mut inner_events, "root/inner", "fragile", 1).await;
            let inner = tree
                .root()
                .child_supervisor("inner")
                .await
                .expect("running");
            let fragile = inner
                .child_address::<Probe>("fragile")
                .await
                .expect("running");
            fragile.do_send(Fail("camera disconnected"));
            started(&mut inner_events, "root", "inner", 2).await;

            let text = metrics.render();
            tree.shutdown().await;
            text
        })
    });

    let restarts = "cardhub_actor_restarts_total";
    assert_eq!(
        sample(
            &while_running,
            restarts,
            &[("supervisor", "root"), ("child", "probe")]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &while_running,
            restarts,
            &[("supervisor", "root"), ("child", "inner")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &while_running,
            "cardhub_actor_escalations_total",
            &[("supervisor", "root/inner")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &while_running,
            "cardhub_actor_children_running",
            &[("supervisor", "root")]
        ),
        Some(2.0)
    );
    let after = metrics.render();
    assert_eq!(
        sample(
            &after,
            "cardhub_actor_children_running",
            &[("supervisor", "root")]
        ),
        Some(0.0),
        "{after}"
    );
}
