//! Workshop performance (生产车间绩效) over a time window: cards produced
//! (tasks completed) and wasted (waste rows), per line, per line and hour,
//! and per operator, with waste rates. The rows are loaded and grouped
//! here, so the figures are the same on both backends.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;
use serde::Serialize;

use super::TaskStatus;
use crate::Store;
use crate::connection::{DbConnection, snapshot_tx};
use crate::error::{StorageError, db};
use crate::schema::{making_card_tasks, waste_cards};

/// The name figures use for a row with no line or operator recorded.
const UNKNOWN: &str = "(unknown)";

/// The figures of [`statistics`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProductionStats {
    /// Window start (inclusive, UTC).
    pub from: NaiveDateTime,
    /// Window end (exclusive, UTC).
    pub to: NaiveDateTime,
    /// Tasks completed in the window.
    pub produced: i64,
    /// Cards wasted in the window.
    pub wasted: i64,
    /// `wasted / (produced + wasted)`; 0 when both are 0.
    pub waste_rate: f64,
    /// Per line, by line name.
    pub per_line: Vec<LineStats>,
    /// Per line and hour, by line then hour.
    pub per_line_hour: Vec<LineHour>,
    /// Per operator, by name.
    pub per_operator: Vec<OperatorStats>,
}

/// One line's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LineStats {
    /// The line.
    pub line: String,
    /// Tasks completed on it.
    pub produced: i64,
    /// Cards wasted on it.
    pub wasted: i64,
    /// `wasted / (produced + wasted)`.
    pub waste_rate: f64,
    /// Cards produced per working hour: `produced` over the hours in which
    /// the line completed or wasted at least one card.
    pub cards_per_hour: f64,
}

/// One line's figures in one clock hour.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineHour {
    /// The line.
    pub line: String,
    /// The hour (UTC, truncated to the hour).
    pub hour: NaiveDateTime,
    /// Tasks completed on the line in that hour.
    pub produced: i64,
    /// Cards wasted on it in that hour.
    pub wasted: i64,
}

/// One operator's figures (the operator who claimed the task; who
/// registered the waste).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OperatorStats {
    /// The operator.
    pub operator: String,
    /// Tasks completed.
    pub produced: i64,
    /// Cards wasted.
    pub wasted: i64,
    /// `wasted / (produced + wasted)`.
    pub waste_rate: f64,
}

/// `wasted / (produced + wasted)`, 0 when both are 0.
fn rate(produced: i64, wasted: i64) -> f64 {
    let total = produced + wasted;
    if total == 0 {
        0.0
    } else {
        wasted as f64 / total as f64
    }
}

fn hour_of(t: NaiveDateTime) -> NaiveDateTime {
    t.date()
        .and_hms_opt(t.hour(), 0, 0)
        .expect("an hour of a valid time is valid")
}

/// Produced and wasted counts.
#[derive(Clone, Copy, Default)]
struct Tally {
    produced: i64,
    wasted: i64,
}

/// Production figures for `[from, to)`: produced = tasks completed
/// (`done`, finished_at in the window), wasted = waste rows in it. An
/// empty or reversed window gives zeros.
pub fn statistics(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<ProductionStats, StorageError> {
    let (done, wasted) = snapshot_tx(conn, |conn| {
        let done: Vec<(Option<String>, Option<String>, Option<NaiveDateTime>)> =
            making_card_tasks::table
                .filter(making_card_tasks::status.eq(TaskStatus::Done.as_str()))
                .filter(making_card_tasks::finished_at.ge(from))
                .filter(making_card_tasks::finished_at.lt(to))
                .select((
                    making_card_tasks::line,
                    making_card_tasks::operator,
                    making_card_tasks::finished_at,
                ))
                .load(conn)
                .map_err(db("read completed tasks for statistics"))?;
        let wasted: Vec<(Option<String>, String, NaiveDateTime)> = waste_cards::table
            .filter(waste_cards::at.ge(from))
            .filter(waste_cards::at.lt(to))
            .select((waste_cards::line, waste_cards::operator, waste_cards::at))
            .load(conn)
            .map_err(db("read wasted cards for statistics"))?;
        Ok((done, wasted))
    })?;

    let mut lines: BTreeMap<String, Tally> = BTreeMap::new();
    let mut hours: BTreeMap<(String, NaiveDateTime), Tally> = BTreeMap::new();
    let mut operators: BTreeMap<String, Tally> = BTreeMap::new();
    let name = |v: Option<String>| v.unwrap_or_else(|| UNKNOWN.to_owned());
    for (line, operator, at) in done {
        // The query filters on finished_at, so it is always set.
        let Some(at) = at else { continue };
        let line = name(line);
        lines.entry(line.clone()).or_default().produced += 1;
        hours.entry((line, hour_of(at))).or_default().produced += 1;
        operators.entry(name(operator)).or_default().produced += 1;
    }
    for (line, operator, at) in &wasted {
        let line = name(line.clone());
        lines.entry(line.clone()).or_default().wasted += 1;
        hours.entry((line, hour_of(*at))).or_default().wasted += 1;
        operators.entry(operator.clone()).or_default().wasted += 1;
    }

    let mut active_hours: BTreeMap<&str, BTreeSet<NaiveDateTime>> = BTreeMap::new();
    for (line, hour) in hours.keys() {
        active_hours.entry(line).or_default().insert(*hour);
    }
    let per_line = lines
        .iter()
        .map(|(line, t)| {
            let worked = active_hours.get(line.as_str()).map_or(0, BTreeSet::len);
            LineStats {
                line: line.clone(),
                produced: t.produced,
                wasted: t.wasted,
                waste_rate: rate(t.produced, t.wasted),
                cards_per_hour: if worked == 0 {
                    0.0
                } else {
                    t.produced as f64 / worked as f64
                },
            }
        })
        .collect();
    let per_line_hour = hours
        .iter()
        .map(|((line, hour), t)| LineHour {
            line: line.clone(),
            hour: *hour,
            produced: t.produced,
            wasted: t.wasted,
        })
        .collect();
    let per_operator = operators
        .into_iter()
        .map(|(operator, t)| OperatorStats {
            operator,
            produced: t.produced,
            wasted: t.wasted,
            waste_rate: rate(t.produced, t.wasted),
        })
        .collect();
    let produced = lines.values().map(|t| t.produced).sum();
    let wasted = lines.values().map(|t| t.wasted).sum();
    Ok(ProductionStats {
        from,
        to,
        produced,
        wasted,
        waste_rate: rate(produced, wasted),
        per_line,
        per_line_hour,
        per_operator,
    })
}

impl Store {
    /// [`statistics`] on the blocking pool.
    pub async fn statistics(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<ProductionStats, StorageError> {
        self.run("workshop.statistics", move |conn| {
            statistics(conn, from, to)
        })
        .await
    }
}
