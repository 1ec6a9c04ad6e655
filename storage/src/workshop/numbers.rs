//! Card numbers (卡号) issued in production: a prefix (the line's or the
//! centre's, 1 to 8 upper-case letters or digits) followed by a zero-padded
//! counter from `card_number_counters`, 9 characters in all, as the chip's
//! EF05 tag 07 holds. The counter row is advanced in the caller's
//! transaction, the one that gives the card its number, so both commit or
//! neither does; on PostgreSQL the counter's row lock serialises
//! concurrent claims.

use diesel::prelude::*;

use crate::cards;
use crate::connection::{DbConnection, on_backend};
use crate::error::{StorageError, db};
use crate::schema::card_number_counters;
use crate::utc_now;

/// Characters in a card number (EF05 tag 07: 9 `an`).
pub const CARD_NUMBER_LEN: usize = 9;

/// Counter values skipped in one allocation because a card already holds
/// the number (given by hand with `assign_card_number`) before giving up.
const MAX_SKIPS: u32 = 1_000;

/// The card number for `prefix` and counter `value`, or why there is none
/// (a bad prefix, or a value that does not fit the digits left).
pub fn format_card_number(prefix: &str, value: i64) -> Result<String, StorageError> {
    check_prefix(prefix)?;
    let digits = CARD_NUMBER_LEN - prefix.len();
    let capacity = 10_i64.pow(u32::try_from(digits).expect("at most 8 digits"));
    if !(1..capacity).contains(&value) {
        return Err(exhausted(prefix, capacity - 1));
    }
    Ok(format!("{prefix}{value:0digits$}"))
}

fn check_prefix(prefix: &str) -> Result<(), StorageError> {
    let fits = (1..CARD_NUMBER_LEN).contains(&prefix.len());
    let characters = prefix
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if fits && characters {
        return Ok(());
    }
    Err(StorageError::Invalid {
        what: "card number prefix",
        reason: format!(
            "`{prefix}` is not 1 to {} upper-case letters or digits (the number is {CARD_NUMBER_LEN} characters: prefix then counter); check the line's number prefix in the configuration",
            CARD_NUMBER_LEN - 1
        ),
    })
}

fn exhausted(prefix: &str, last: i64) -> StorageError {
    StorageError::Conflict {
        what: format!(
            "every card number with prefix `{prefix}` has been issued (the last is {prefix}{last}); configure a new prefix for the line"
        ),
    }
}

/// Allocates the next unused card number for `prefix` inside the caller's
/// transaction. Numbers already held by a card are skipped.
pub(super) fn allocate(conn: &mut DbConnection, prefix: &str) -> Result<String, StorageError> {
    check_prefix(prefix)?;
    let now = utc_now();
    // MultiConnection has no ON CONFLICT; both backends do.
    on_backend!(conn, |c| diesel::insert_into(card_number_counters::table)
        .values((
            card_number_counters::prefix.eq(prefix),
            card_number_counters::next_value.eq(1_i64),
            card_number_counters::updated_at.eq(now),
        ))
        .on_conflict_do_nothing()
        .execute(c))
    .map_err(db("create a card number counter"))?;
    for _ in 0..MAX_SKIPS {
        let next: i64 = diesel::update(card_number_counters::table.find(prefix))
            .set((
                card_number_counters::next_value.eq(card_number_counters::next_value + 1),
                card_number_counters::updated_at.eq(now),
            ))
            .returning(card_number_counters::next_value)
            .get_result(conn)
            .map_err(db("advance a card number counter"))?;
        let number = format_card_number(prefix, next - 1)?;
        if cards::find_card_by_number(conn, &number)?.is_none() {
            return Ok(number);
        }
    }
    Err(StorageError::Conflict {
        what: format!(
            "the next {MAX_SKIPS} card numbers with prefix `{prefix}` are all held by cards numbered by hand; move the counter past them or use another prefix"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_nine_characters() {
        assert_eq!(
            format_card_number("A", 1).ok().as_deref(),
            Some("A00000001")
        );
        assert_eq!(
            format_card_number("SH01", 42).ok().as_deref(),
            Some("SH0100042")
        );
        assert_eq!(
            format_card_number("A", 99_999_999).ok().as_deref(),
            Some("A99999999")
        );
    }

    #[test]
    fn bad_prefixes_and_exhausted_counters_are_refused() {
        for prefix in ["", "a", "A-", "ABCDEFGHI", "卡"] {
            assert!(
                matches!(
                    format_card_number(prefix, 1),
                    Err(StorageError::Invalid { .. })
                ),
                "{prefix}"
            );
        }
        let err = format_card_number("A", 100_000_000).expect_err("nine digits do not fit");
        assert!(matches!(err, StorageError::Conflict { .. }), "{err}");
        assert!(err.to_string().contains("A99999999"), "{err}");
        assert!(format_card_number("ABCDEFGH", 10).is_err());
        assert!(format_card_number("ABCDEFGH", 9).is_ok());
        assert!(format_card_number("A", 0).is_err());
    }
}
