//! The pure parts of the workshop's query strings: page sizes and time
//! windows (`from`, `to`), turned into what storage takes (UTC instants)
//! or a 400 that says what to write instead. The clock comes in as an
//! argument, so every rule here is tested without one.
//!
//! A bound is either a date, `2026-03-01`, meaning that Shanghai day (a
//! `from` date is its first instant, a `to` date includes the whole day),
//! or an RFC 3339 instant with its offset, `2026-03-01T08:00:00+08:00` or
//! `2026-03-01T00:00:00Z`.

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use chrono_tz::Asia::Shanghai;

use crate::error::ApiError;

/// Longest window a report may cover: the statistics load every completed
/// task and wasted card of the window, and a year is the longest period a
/// performance report is asked for (one leap year).
pub const MAX_WINDOW_DAYS: i64 = 366;

/// Most rows one list answers (what storage clamps to).
pub const MAX_PAGE: i64 = 1_000;

/// Where a window starts when `from` is not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultStart {
    /// The start of the Shanghai day the window ends in (a shift report:
    /// today so far).
    StartOfDay,
    /// This many days before the end.
    DaysBefore(u64),
}

/// A checked `[from, to)` in UTC, as storage takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Start (inclusive).
    pub from: NaiveDateTime,
    /// End (exclusive).
    pub to: NaiveDateTime,
}

/// A page size: `default` when not given; 1..=[`MAX_PAGE`] otherwise.
pub fn page_size(limit: Option<i64>, default: i64) -> Result<i64, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::BadRequest(format!(
            "limit {n} is outside 1..={MAX_PAGE}: ask for fewer rows and page on"
        ))),
    }
}

/// The window `from`..`to` as given (either may be missing: `to` is then
/// `now`, `from` is `default`).
pub fn window(
    from: Option<&str>,
    to: Option<&str>,
    now: DateTime<Utc>,
    default: DefaultStart,
) -> Result<Window, ApiError> {
    let to = match to {
        Some(text) => bound("to", text, Edge::End)?,
        None => now.naive_utc(),
    };
    let from = match from {
        Some(text) => bound("from", text, Edge::Start)?,
        None => match default {
            DefaultStart::StartOfDay => {
                // The day holding the window's last instant.
                let last = to - TimeDelta::microseconds(1);
                day_start(last.and_utc().with_timezone(&Shanghai).date_naive())?
            }
            DefaultStart::DaysBefore(days) => to
                .checked_sub_days(Days::new(days))
                .ok_or_else(|| ApiError::BadRequest("`to` is too early".to_owned()))?,
        },
    };
    if from >= to {
        return Err(ApiError::BadRequest(format!(
            "the window is empty: `from` ({from} UTC) must be before `to` ({to} UTC)"
        )));
    }
    if to - from > TimeDelta::days(MAX_WINDOW_DAYS) {
        return Err(ApiError::BadRequest(format!(
            "the window from {from} to {to} (UTC) is longer than {MAX_WINDOW_DAYS} days: ask for a shorter one"
        )));
    }
    Ok(Window { from, to })
}

/// Which end of a window a bound is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edge {
    Start,
    End,
}

/// One bound: a Shanghai date (its start, or for an end the next day's
/// start) or an RFC 3339 instant, in UTC.
fn bound(name: &str, text: &str, edge: Edge) -> Result<NaiveDateTime, ApiError> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let date = match edge {
            Edge::Start => date,
            Edge::End => date.succ_opt().ok_or_else(|| {
                ApiError::BadRequest(format!("`{name}` {text} is past the calendar's end"))
            })?,
        };
        return day_start(date);
    }
    // An unencoded `+` of an offset arrives as a space.
    let repaired;
    let text = if text.contains('T') && text.contains(' ') {
        repaired = text.replacen(' ', "+", 1);
        repaired.as_str()
    } else {
        text
    };
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_utc())
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "`{name}` `{text}` is not a date (2026-03-01, a Shanghai day) or an RFC 3339 instant with its offset (2026-03-01T08:00:00+08:00, with `+` written %2B in a URL): {e}"
            ))
        })
}

/// The first instant of a Shanghai day, in UTC.
fn day_start(date: NaiveDate) -> Result<NaiveDateTime, ApiError> {
    date.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(Shanghai).earliest())
        .map(|t| t.naive_utc())
        .ok_or_else(|| ApiError::BadRequest(format!("{date} has no midnight in Shanghai")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").expect("a test time")
    }

    fn now() -> DateTime<Utc> {
        // 2026-03-02 10:30 in Shanghai.
        utc("2026-03-02 02:30:00").and_utc()
    }

    fn message(e: ApiError) -> String {
        match e {
            ApiError::BadRequest(m) => m,
            other => panic!("not a 400: {other}"),
        }
    }

    #[test]
    fn dates_are_whole_shanghai_days() {
        let w = window(
            Some("2026-03-01"),
            Some("2026-03-01"),
            now(),
            DefaultStart::StartOfDay,
        )
        .expect("a day");
        assert_eq!(w.from, utc("2026-02-28 16:00:00"));
        assert_eq!(w.to, utc("2026-03-01 16:00:00"));
    }

    #[test]
    fn instants_keep_their_offset() {
        let w = window(
            Some("2026-03-01T08:00:00+08:00"),
            Some("2026-03-01T02:00:00Z"),
            now(),
            DefaultStart::StartOfDay,
        )
        .expect("two instants");
        assert_eq!(w.from, utc("2026-03-01 00:00:00"));
        assert_eq!(w.to, utc("2026-03-01 02:00:00"));
    }

    #[test]
    fn an_offset_plus_decoded_as_a_space_is_read_as_plus() {
        let w = window(
            Some("2026-03-01T08:00:00 08:00"),
            None,
            now(),
            DefaultStart::StartOfDay,
        )
        .expect("a repaired offset");
        assert_eq!(w.from, utc("2026-03-01 00:00:00"));
    }

    #[test]
    fn defaults_end_now_and_start_today_or_days_before() {
        let today = window(None, None, now(), DefaultStart::StartOfDay).expect("today");
        assert_eq!(today.from, utc("2026-03-01 16:00:00"));
        assert_eq!(today.to, now().naive_utc());
        let month = window(None, None, now(), DefaultStart::DaysBefore(30)).expect("30 days");
        assert_eq!(month.from, utc("2026-01-31 02:30:00"));
        // A `to` date alone: that whole day.
        let day = window(None, Some("2026-02-10"), now(), DefaultStart::StartOfDay).expect("day");
        assert_eq!(day.from, utc("2026-02-09 16:00:00"));
        assert_eq!(day.to, utc("2026-02-10 16:00:00"));
    }

    #[test]
    fn bad_bounds_say_what_to_write() {
        let bad =
            message(window(Some("yesterday"), None, now(), DefaultStart::StartOfDay).unwrap_err());
        assert!(bad.contains("`from`") && bad.contains("RFC 3339"), "{bad}");
        let naive = message(
            window(
                Some("2026-03-01T08:00:00"),
                None,
                now(),
                DefaultStart::StartOfDay,
            )
            .unwrap_err(),
        );
        assert!(naive.contains("offset"), "{naive}");
        let month =
            message(window(Some("2026-02-30"), None, now(), DefaultStart::StartOfDay).unwrap_err());
        assert!(month.contains("2026-02-30"), "{month}");
    }

    #[test]
    fn empty_reversed_and_long_windows_are_refused() {
        let reversed = message(
            window(
                Some("2026-03-02"),
                Some("2026-03-01"),
                now(),
                DefaultStart::StartOfDay,
            )
            .unwrap_err(),
        );
        assert!(reversed.contains("must be before"), "{reversed}");
        let long = message(
            window(
                Some("2024-01-01"),
                Some("2026-01-01"),
                now(),
                DefaultStart::StartOfDay,
            )
            .unwrap_err(),
        );
        assert!(long.contains("366 days"), "{long}");
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(None, 100).expect("default"), 100);
        assert_eq!(page_size(Some(1), 100).expect("one"), 1);
        assert_eq!(page_size(Some(MAX_PAGE), 100).expect("most"), MAX_PAGE);
        for bad in [0, -5, MAX_PAGE + 1] {
            assert!(page_size(Some(bad), 100).is_err(), "{bad}");
        }
    }
}
