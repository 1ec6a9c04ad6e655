//! Branch business statistics (业务统计): `GET /api/v1/branch/statistics`
//! counts the operations registered in `branch_operations` per business
//! kind and per Shanghai day over a window, for the operator's branch
//! (centre staff and admin: any branch with `branch=`, or all). What is
//! counted is exactly what committed: each row is written in its
//! operation's transaction.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, web};
use cardhub_storage::branch::{BranchOperation, BranchOperationKind};
use cardhub_storage::utc_now;
use chrono::{NaiveDate, NaiveDateTime};
use chrono_tz::Asia::Shanghai;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::scope;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::routes::workshop::query::{DefaultStart, window};
use crate::state::AppState;

/// Days a report covers when no `from` is given: a week of counters.
const DEFAULT_DAYS: u64 = 7;

/// `GET /branch/statistics` parameters.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatisticsQuery {
    /// Window start: `2026-03-01` (that Shanghai day) or an RFC 3339
    /// instant; default 7 days before `to`.
    pub from: Option<String>,
    /// Window end (a date includes that whole day); default now.
    pub to: Option<String>,
    /// Centre staff and admin: one branch (code); default every branch.
    pub branch: Option<String>,
}

/// One Shanghai day's counts.
#[derive(Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct DayCounts {
    /// The day (Asia/Shanghai).
    #[schema(value_type = String, format = Date)]
    pub day: NaiveDate,
    /// Operations per kind (`first-issue`, `temporary-loss`, ...); kinds
    /// with none are left out.
    #[schema(value_type = Object)]
    pub counts: BTreeMap<BranchOperationKind, i64>,
    /// All operations of the day.
    pub total: i64,
}

/// A report.
#[derive(Serialize, ToSchema)]
pub struct StatisticsView {
    /// The branch (code); none: every branch.
    pub branch: Option<String>,
    /// Window start (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub from: NaiveDateTime,
    /// Window end, exclusive (UTC).
    #[schema(value_type = String, format = DateTime)]
    pub to: NaiveDateTime,
    /// Days with operations, oldest first.
    pub days: Vec<DayCounts>,
    /// The window's operations per kind.
    #[schema(value_type = Object)]
    pub totals: BTreeMap<BranchOperationKind, i64>,
    /// All the window's operations.
    pub total: i64,
}

/// Groups register rows per Shanghai day and kind.
pub fn per_day(operations: &[BranchOperation]) -> Vec<DayCounts> {
    let mut days: BTreeMap<NaiveDate, BTreeMap<BranchOperationKind, i64>> = BTreeMap::new();
    for op in operations {
        let day = op.at.and_utc().with_timezone(&Shanghai).date_naive();
        *days.entry(day).or_default().entry(op.kind).or_default() += 1;
    }
    days.into_iter()
        .map(|(day, counts)| DayCounts {
            day,
            total: counts.values().sum(),
            counts,
        })
        .collect()
}

/// Business counts per kind and day over a window.
#[utoipa::path(
    tag = "branch",
    params(StatisticsQuery),
    responses(
        (status = 200, description = "Counts per day and kind, and totals", body = StatisticsView),
        (status = 400, description = "A bad date or window", body = ErrorBody),
        (status = 403, description = "No counter, or a branch operator asking for another branch", body = ErrorBody),
        (status = 404, description = "No branch with that code", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
#[get("/branch/statistics")]
pub async fn statistics(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<StatisticsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let branch = scope(&state, &caller, query.branch.as_deref()).await?;
    let w = window(
        query.from.as_deref(),
        query.to.as_deref(),
        utc_now().and_utc(),
        DefaultStart::DaysBefore(DEFAULT_DAYS),
    )?;
    let operations = state
        .store
        .branch_operations_in_window(branch.as_ref().map(|b| b.id), w.from, w.to)
        .await?;
    let days = per_day(&operations);
    let mut totals: BTreeMap<BranchOperationKind, i64> = BTreeMap::new();
    for day in &days {
        for (kind, n) in &day.counts {
            *totals.entry(*kind).or_default() += n;
        }
    }
    Ok(HttpResponse::Ok().json(StatisticsView {
        branch: branch.map(|b| b.code),
        from: w.from,
        to: w.to,
        total: totals.values().sum(),
        days,
        totals,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: BranchOperationKind, utc: &str) -> BranchOperation {
        BranchOperation {
            id: 0,
            branch_id: 1,
            operator: "desk".to_owned(),
            kind,
            card_id: None,
            application_id: None,
            outcome: "done".to_owned(),
            at: NaiveDateTime::parse_from_str(utc, "%Y-%m-%d %H:%M:%S").expect("a time"),
        }
    }

    #[test]
    fn operations_are_counted_per_shanghai_day_and_kind() {
        use BranchOperationKind::{FirstIssue, TemporaryLoss};
        let days = per_day(&[
            // 2026-03-01 23:30 in Shanghai.
            op(FirstIssue, "2026-03-01 15:30:00"),
            // 2026-03-02 00:30 in Shanghai: the next day.
            op(FirstIssue, "2026-03-01 16:30:00"),
            op(TemporaryLoss, "2026-03-01 17:00:00"),
            op(TemporaryLoss, "2026-03-02 01:00:00"),
        ]);
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].day.to_string(), "2026-03-01");
        assert_eq!(days[0].counts.get(&FirstIssue), Some(&1));
        assert_eq!(days[0].total, 1);
        assert_eq!(days[1].day.to_string(), "2026-03-02");
        assert_eq!(days[1].counts.get(&FirstIssue), Some(&1));
        assert_eq!(days[1].counts.get(&TemporaryLoss), Some(&2));
        assert_eq!(days[1].total, 3);
    }
}
