//! Workshop performance on known data: completions and wastes are made
//! through the API, then given fixed times so the window and the hours
//! are known.

use cardhub_storage::schema::{making_card_tasks, waste_cards};
use cardhub_storage::workshop::{LineHour, WasteReport};
use chrono::NaiveDateTime;

use super::*;

fn at(hour: u32, minute: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 12, 1)
        .and_then(|d| d.and_hms_opt(hour, minute, 0))
        .expect("valid time")
}

fn set_finished(
    conn: &mut DbConnection,
    task_id: i64,
    t: NaiveDateTime,
) -> Result<(), StorageError> {
    diesel::update(making_card_tasks::table.find(task_id))
        .set(making_card_tasks::finished_at.eq(t))
        .execute(conn)
        .map_err(|e| StorageError::Database {
            context: "set a test completion time",
            source: e,
        })?;
    Ok(())
}

#[test]
fn statistics_per_line_hour_and_operator() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            queued_tasks(conn, hsm, 1, 5, 3)?;
            let (wang, zhao) = (operator("wang"), operator("zhao"));
            let a = make_next_card(conn, hsm, "line-1", &wang)?;
            let b = make_next_card(conn, hsm, "line-1", &wang)?;
            let (c, _) =
                workshop::claim_next_task(conn, hsm, &claim_on("line-1"), &wang)?.expect("queued");
            let wasted = workshop::waste_and_requeue(
                conn,
                hsm,
                &WasteReport {
                    task_id: c.id,
                    reason: "overlay bubble",
                    step: "overlay",
                    device: "laminator-1",
                },
                &wang,
            )?;
            let c = make_next_card(conn, hsm, "line-2", &zhao)?;
            assert_eq!(c.id, wasted.task.id, "the remake is taken up next");
            let d = make_next_card(conn, hsm, "line-2", &zhao)?;

            set_finished(conn, a.id, at(8, 10))?;
            set_finished(conn, b.id, at(8, 50))?;
            set_finished(conn, c.id, at(9, 30))?;
            set_finished(conn, d.id, at(11, 0))?;
            diesel::update(waste_cards::table.find(wasted.waste.id))
                .set(waste_cards::at.eq(at(9, 5)))
                .execute(conn)
                .map_err(|e| StorageError::Database {
                    context: "set a test waste time",
                    source: e,
                })?;

            let stats = workshop::statistics(conn, at(8, 0), at(10, 0))?;
            assert_eq!((stats.from, stats.to), (at(8, 0), at(10, 0)));
            assert_eq!(
                (stats.produced, stats.wasted),
                (3, 1),
                "d is outside the window"
            );
            assert!((stats.waste_rate - 0.25).abs() < 1e-9);

            let lines: Vec<(&str, i64, i64)> = stats
                .per_line
                .iter()
                .map(|l| (l.line.as_str(), l.produced, l.wasted))
                .collect();
            assert_eq!(lines, [("line-1", 2, 1), ("line-2", 1, 0)]);
            assert!((stats.per_line[0].waste_rate - 1.0 / 3.0).abs() < 1e-9);
            assert!(
                (stats.per_line[0].cards_per_hour - 1.0).abs() < 1e-9,
                "2 cards in 2 hours"
            );
            assert!((stats.per_line[1].cards_per_hour - 1.0).abs() < 1e-9);
            assert_eq!(stats.per_line[1].waste_rate, 0.0);

            let hour = |line: &str, h: u32, produced, wasted| LineHour {
                line: line.to_owned(),
                hour: at(h, 0),
                produced,
                wasted,
            };
            assert_eq!(
                stats.per_line_hour,
                [
                    hour("line-1", 8, 2, 0),
                    hour("line-1", 9, 0, 1),
                    hour("line-2", 9, 1, 0)
                ]
            );

            let operators: Vec<(&str, i64, i64)> = stats
                .per_operator
                .iter()
                .map(|o| (o.operator.as_str(), o.produced, o.wasted))
                .collect();
            assert_eq!(operators, [("wang", 2, 1), ("zhao", 1, 0)]);
            assert!((stats.per_operator[0].waste_rate - 1.0 / 3.0).abs() < 1e-9);

            let empty = workshop::statistics(conn, at(12, 0), at(13, 0))?;
            assert_eq!(
                (empty.produced, empty.wasted, empty.waste_rate),
                (0, 0, 0.0)
            );
            assert!(empty.per_line.is_empty() && empty.per_line_hour.is_empty());
            assert!(empty.per_operator.is_empty());
            Ok(())
        });
    });
}
