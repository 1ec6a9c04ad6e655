//! The monitoring wall's alerts: raised once per rule and subject while
//! open, cleared with a reason, cleared all at once at start-up, listed
//! newest first with filters; the schema itself refuses a second open
//! alert.

use cardhub_storage::alerts::{self, Alert, AlertQuery, AlertSeverity, NewAlert};
use cardhub_storage::schema::alerts as alerts_table;
use chrono::{NaiveDateTime, TimeDelta};

use super::*;

/// A time with nanoseconds, which storage truncates to microseconds.
fn t0() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 12, 1)
        .and_then(|d| d.and_hms_nano_opt(8, 0, 0, 123_456_789))
        .expect("valid time")
}

/// `t0` plus `seconds`, at stored precision.
fn at(seconds: i64) -> NaiveDateTime {
    cardhub_storage::to_stored_precision(t0() + TimeDelta::seconds(seconds))
}

fn printer_error() -> NewAlert<'static> {
    NewAlert {
        rule: "device-error",
        subject: "printer:line-1/printer-1",
        severity: AlertSeverity::Critical,
        message: "printer-1 on line-1 has been in error for 120 s: ribbon out",
    }
}

fn queue_depth() -> NewAlert<'static> {
    NewAlert {
        rule: "queue-depth",
        subject: "queue:making-card",
        severity: AlertSeverity::Warning,
        message: "512 making-card tasks are waiting (threshold 500)",
    }
}

fn all_alerts(conn: &mut DbConnection) -> Result<Vec<Alert>, StorageError> {
    alerts::list_alerts(conn, &AlertQuery::default())
}

fn ids(alerts: &[Alert]) -> Vec<i64> {
    alerts.iter().map(|a| a.id).collect()
}

#[test]
fn a_raised_alert_is_stored_open_and_listed() {
    on_each_backend(|store| {
        with_conn(store, |conn| {
            assert!(all_alerts(conn)?.is_empty());
            let raised = alerts::raise_alert(conn, &printer_error(), t0())?;
            assert_eq!(
                raised,
                Alert {
                    id: raised.id,
                    rule: "device-error".into(),
                    subject: "printer:line-1/printer-1".into(),
                    severity: AlertSeverity::Critical,
                    message: "printer-1 on line-1 has been in error for 120 s: ribbon out".into(),
                    raised_at: at(0),
                    cleared_at: None,
                    clear_reason: None,
                }
            );
            assert_eq!(
                raised.raised_at.and_utc().timestamp_subsec_nanos(),
                123_456_000
            );
            assert!(raised.is_open());
            assert_eq!(all_alerts(conn)?, vec![raised.clone()]);
            assert_eq!(alerts::get_alert(conn, raised.id)?, raised);
            assert_eq!(
                alerts::open_alert(conn, "device-error", "printer:line-1/printer-1")?,
                Some(raised)
            );
            Ok(())
        });
    });
}

#[test]
fn raising_an_open_alert_again_returns_it_unchanged() {
    on_each_backend(|store| {
        with_conn(store, |conn| {
            let first = alerts::raise_alert(conn, &printer_error(), at(0))?;
            let again = NewAlert {
                severity: AlertSeverity::Warning,
                message: "reworded",
                ..printer_error()
            };
            let second = alerts::raise_alert(conn, &again, at(30))?;
            assert_eq!(second, first, "same id, severity, message and raise time");
            assert_eq!(all_alerts(conn)?, vec![first]);
            Ok(())
        });
    });
}

#[test]
fn an_alert_raised_after_clearing_is_a_new_row() {
    on_each_backend(|store| {
        with_conn(store, |conn| {
            let first = alerts::raise_alert(conn, &printer_error(), at(0))?;
            let cleared = alerts::clear_alert(conn, first.id, "device back to ready", at(60))?
                .expect("it was open");
            assert_eq!(
                (cleared.cleared_at, cleared.clear_reason.as_deref()),
                (Some(at(60)), Some("device back to ready"))
            );
            assert!(!cleared.is_open());
            let second = alerts::raise_alert(conn, &printer_error(), at(90))?;
            assert_ne!(second.id, first.id);
            assert!(second.is_open());
            assert_eq!(all_alerts(conn)?, vec![second.clone(), cleared]);
            assert_eq!(
                alerts::open_alert(conn, "device-error", "printer:line-1/printer-1")?,
                Some(second)
            );
            Ok(())
        });
    });
}

#[test]
fn clearing_twice_keeps_the_first_clearing_and_unknown_ids_are_not_found() {
    on_each_backend(|store| {
        with_conn(store, |conn| {
            let raised = alerts::raise_alert(conn, &printer_error(), at(0))?;
            let cleared = alerts::clear_alert(conn, raised.id, "device back to ready", at(60))?
                .expect("it was open");
            assert_eq!(
                alerts::clear_alert(conn, raised.id, "operator cleared", at(120))?,
                None
            );
            assert_eq!(alerts::get_alert(conn, raised.id)?, cleared, "unchanged");

            let missing =
                alerts::clear_alert(conn, raised.id + 1_000, "x", at(120)).expect_err("unknown id");
            assert!(
                matches!(missing, StorageError::NotFound { what: "alert", .. }),
                "{missing}"
            );
            Ok(())
        });
    });
}

#[test]
fn clearing_open_alerts_at_start_up_leaves_cleared_ones_alone() {
    on_each_backend(|store| {
        with_conn(store, |conn| {
            assert_eq!(
                alerts::clear_open_alerts(conn, "the hub restarted", at(0))?,
                0
            );
            let old = alerts::raise_alert(conn, &queue_depth(), at(0))?;
            let old =
                alerts::clear_alert(conn, old.id, "queue drained", at(10))?.expect("it was open");
            let printer = alerts::raise_alert(conn, &printer_error(), at(20))?;
            let queue = alerts::raise_alert(conn, &queue_depth(), at(30))?;

            assert_eq!(
                alerts::clear_open_alerts(conn, "the hub restarted", at(40))?,
                2
            );
            for id in [printer.id, queue.id] {
                let alert = alerts::get_alert(conn, id)?;
                assert_eq!(
                    (alert.cleared_at, alert.clear_reason.as_deref()),
                    (Some(at(40)), Some("the hub restarted"))
                );
            }
            assert_eq!(alerts::get_alert(conn, old.id)?, old, "keeps its clearing");
            assert_eq!(alerts::clear_open_alerts(conn, "again", at(50))?, 0);
            assert!(
                alerts::list_alerts(
                    conn,
                    &AlertQuery {
                        open_only: true,
                        ..AlertQuery::default()
                    }
                )?
                .is_empty()
            );
            Ok(())
        });
    });
}

#[test]
fn alerts_are_listed_newest_first_and_filtered() {
    on_each_backend(|store| {
        with_conn(store, |conn| {
            let line_stalled = NewAlert {
                rule: "line-stalled",
                subject: "line:line-1",
                severity: AlertSeverity::Critical,
                message: "line-1 has finished no card for 300 s",
            };
            let other_printer = NewAlert {
                subject: "printer:line-2/printer-1",
                ..printer_error()
            };
            let queue = alerts::raise_alert(conn, &queue_depth(), at(0))?;
            let printer_1 = alerts::raise_alert(conn, &printer_error(), at(10))?;
            let line = alerts::raise_alert(conn, &line_stalled, at(20))?;
            let printer_2 = alerts::raise_alert(conn, &other_printer, at(30))?;
            alerts::clear_alert(conn, printer_1.id, "device back to ready", at(40))?;
            // Raised at the same time as printer_2: the higher id is newer.
            let printer_1_again = alerts::raise_alert(conn, &printer_error(), at(30))?;

            let list = |conn: &mut DbConnection, query: AlertQuery| {
                alerts::list_alerts(conn, &query).map(|a| ids(&a))
            };
            assert_eq!(
                list(conn, AlertQuery::default())?,
                vec![
                    printer_1_again.id,
                    printer_2.id,
                    line.id,
                    printer_1.id,
                    queue.id
                ]
            );
            assert_eq!(
                list(
                    conn,
                    AlertQuery {
                        open_only: true,
                        ..AlertQuery::default()
                    }
                )?,
                vec![printer_1_again.id, printer_2.id, line.id, queue.id]
            );
            assert_eq!(
                list(
                    conn,
                    AlertQuery {
                        rule: Some("device-error".into()),
                        ..AlertQuery::default()
                    }
                )?,
                vec![printer_1_again.id, printer_2.id, printer_1.id]
            );
            assert_eq!(
                list(
                    conn,
                    AlertQuery {
                        subject: Some("printer:line-1/printer-1".into()),
                        ..AlertQuery::default()
                    }
                )?,
                vec![printer_1_again.id, printer_1.id]
            );
            assert_eq!(
                list(
                    conn,
                    AlertQuery {
                        open_only: true,
                        rule: Some("device-error".into()),
                        subject: Some("printer:line-1/printer-1".into()),
                        limit: 100,
                    }
                )?,
                vec![printer_1_again.id]
            );
            assert_eq!(
                list(
                    conn,
                    AlertQuery {
                        limit: 2,
                        ..AlertQuery::default()
                    }
                )?,
                vec![printer_1_again.id, printer_2.id]
            );
            assert_eq!(
                list(
                    conn,
                    AlertQuery {
                        limit: 0,
                        ..AlertQuery::default()
                    }
                )?,
                vec![printer_1_again.id],
                "a limit below 1 returns one alert"
            );
            assert!(
                list(
                    conn,
                    AlertQuery {
                        rule: Some("waste-rate".into()),
                        ..AlertQuery::default()
                    }
                )?
                .is_empty()
            );
            Ok(())
        });
    });
}

#[test]
fn an_alert_without_rule_or_subject_is_refused() {
    on_each_backend(|store| {
        with_conn(store, |conn| {
            for alert in [
                NewAlert {
                    rule: " ",
                    ..printer_error()
                },
                NewAlert {
                    subject: "",
                    ..printer_error()
                },
            ] {
                let err = alerts::raise_alert(conn, &alert, at(0)).expect_err("refused");
                assert!(matches!(err, StorageError::Invalid { .. }), "{err}");
            }
            assert!(all_alerts(conn)?.is_empty());
            Ok(())
        });
    });
}

#[test]
fn the_schema_refuses_a_second_open_alert_and_unknown_severities() {
    on_each_backend(|store| {
        with_conn(store, |conn| {
            let open = alerts::raise_alert(conn, &printer_error(), at(0))?;
            let insert = |conn: &mut DbConnection, severity: &str, cleared: bool| {
                diesel::insert_into(alerts_table::table)
                    .values((
                        alerts_table::rule.eq(open.rule.as_str()),
                        alerts_table::subject.eq(open.subject.as_str()),
                        alerts_table::severity.eq(severity),
                        alerts_table::message.eq("inserted by hand"),
                        alerts_table::raised_at.eq(at(1)),
                        alerts_table::cleared_at.eq(cleared.then(|| at(2))),
                        alerts_table::clear_reason.eq(cleared.then_some("test")),
                    ))
                    .execute(conn)
            };
            let second_open = insert(conn, "critical", false).expect_err("one open per subject");
            assert!(
                matches!(
                    second_open,
                    diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _
                    )
                ),
                "{second_open}"
            );
            assert_eq!(
                insert(conn, "critical", true).expect("cleared history rows are many"),
                1
            );
            insert(conn, "fatal", true).expect_err("severity is warning or critical");
            assert_eq!(all_alerts(conn)?.len(), 2);
            Ok(())
        });
    });
}

#[tokio::test]
async fn store_shorthands_run_on_both_backends() {
    for store in test_stores(test_hsm()) {
        let raise = || {
            store.raise_alert(
                "channel-down".into(),
                "channel:cmpp".into(),
                AlertSeverity::Critical,
                "CMPP gateway unreachable for 60 s".into(),
                at(0),
            )
        };
        let raised = raise().await.expect("raise");
        assert_eq!(raise().await.expect("raise again"), raised);
        let listed = store
            .list_alerts(AlertQuery {
                open_only: true,
                ..AlertQuery::default()
            })
            .await
            .expect("list");
        assert_eq!(listed, vec![raised.clone()]);
        let cleared = store
            .clear_alert(raised.id, "gateway answers".into(), at(60))
            .await
            .expect("clear")
            .expect("it was open");
        assert_eq!(cleared.cleared_at, Some(at(60)));
        assert_eq!(
            store
                .clear_alert(raised.id, "again".into(), at(61))
                .await
                .expect("clear again"),
            None
        );
        raise().await.expect("raise after clearing");
        assert_eq!(
            store
                .clear_open_alerts("the hub restarted".into(), at(120))
                .await
                .expect("clear open"),
            1
        );
        assert_eq!(
            store
                .list_alerts(AlertQuery::default())
                .await
                .expect("list")
                .len(),
            2
        );
    }
}

#[tokio::test]
async fn concurrent_raises_of_one_alert_give_one_row() {
    for store in test_stores(test_hsm()) {
        let raise = || {
            store.raise_alert(
                "line-stalled".into(),
                "line:line-1".into(),
                AlertSeverity::Critical,
                "line-1 has finished no card for 300 s".into(),
                at(0),
            )
        };
        let (a, b, c, d) = tokio::join!(raise(), raise(), raise(), raise());
        let raised: Vec<Alert> = [a, b, c, d]
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("on {}: {e}", store.backend())))
            .collect();
        assert!(raised.iter().all(|r| *r == raised[0]), "{raised:?}");
        let listed = store
            .list_alerts(AlertQuery::default())
            .await
            .expect("list");
        assert_eq!(listed, vec![raised[0].clone()]);
    }
}
