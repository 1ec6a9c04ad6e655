//! The hub's clock in one place: UTC instants for storage, and the
//! Asia/Shanghai calendar where a business rule needs the local date.

use chrono::{NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;

/// Today's date in Shanghai (birth dates in the future are refused against
/// this, and business days are Shanghai days).
pub fn shanghai_today() -> NaiveDate {
    Utc::now().with_timezone(&Shanghai).date_naive()
}
