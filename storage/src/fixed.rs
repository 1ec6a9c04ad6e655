//! Statements with fixed SQL text, for the UPDATEs on the hot paths.
//!
//! diesel prepares its own UPDATE statements afresh every time (an update's
//! changeset may vary from call to call, so it never offers one to the
//! connection's statement cache). On SQLite a prepare is most of a small
//! update's cost: parsing, name resolution and code generation each time.
//! The statements here are written out once as SQL with bind parameters, so
//! each connection prepares them the first time and reuses them after,
//! on both backends (`?` on SQLite, `$n` on PostgreSQL: diesel numbers the
//! parameters). Each is keyed in the cache by its type, so a run does not
//! build the SQL text to look the statement up.
//!
//! [`fixed_statement!`] declares one: a struct whose fields are the
//! parameters, in the order they appear between the pieces of SQL. The
//! repository that owns the table keeps its statement next to it; the
//! column names are checked by the tests that run each statement on both
//! backends.
//!
//! Not here: statements diesel caches itself (its SELECTs and INSERTs).

/// Declares a statement with fixed SQL: alternating SQL text and named,
/// typed parameters, ending with SQL text.
///
/// ```ignore
/// fixed_statement! {
///     /// Moves the audit head.
///     pub(crate) struct AdvanceHead<'a> {
///         "UPDATE audit_head SET last_seq = ", seq: i64 => BigInt,
///         ", last_hash = ", hash: &'a [u8] => Binary,
///         " WHERE id = 1"
///     }
/// }
/// AdvanceHead { seq, hash }.execute(conn)?;
/// ```
///
/// A statement that answers with rows (`... RETURNING ...`) names their SQL
/// types after the struct's name, `struct Name<'a> -> (BigInt, Text) {`,
/// and is loaded like a query (`get_result`, `load`).
macro_rules! fixed_statement {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident $(<$lt:lifetime>)? -> $row:ty {
            $($body:tt)*
        }
    ) => {
        $crate::fixed::fixed_statement! {
            $(#[$meta])*
            $vis struct $name $(<$lt>)? { $($body)* }
        }

        impl $(<$lt>)? diesel::query_builder::Query for $name $(<$lt>)? {
            type SqlType = $row;
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident $(<$lt:lifetime>)? {
            $first:literal $(, $field:ident: $ty:ty => $st:ty, $sql:literal)* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name $(<$lt>)? {
            $( pub(crate) $field: $ty, )*
        }

        impl $(<$lt>)? diesel::query_builder::QueryId for $name $(<$lt>)? {
            // The SQL is the same whatever the parameters, so the statement
            // cache keys it by type: no SQL text is built to look it up.
            type QueryId = $crate::fixed::static_of!($name $(, $lt)?);
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl<$($lt,)? DB> diesel::query_builder::QueryFragment<DB> for $name $(<$lt>)?
        where
            DB: diesel::backend::Backend $( + diesel::sql_types::HasSqlType<$st> )*,
            $( $ty: diesel::serialize::ToSql<$st, DB>, )*
        {
            fn walk_ast<'b>(
                &'b self,
                mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
            ) -> diesel::QueryResult<()> {
                out.push_sql($first);
                $(
                    out.push_bind_param::<$st, $ty>(&self.$field)?;
                    out.push_sql($sql);
                )*
                Ok(())
            }
        }

        impl<$($lt,)? Conn> diesel::query_dsl::RunQueryDsl<Conn> for $name $(<$lt>)? {}
    };
}
pub(crate) use fixed_statement;

/// A [`fixed_statement!`] struct's type with its lifetime, if it has one,
/// as `'static`: its statement-cache key.
macro_rules! static_of {
    ($name:ident) => {
        $name
    };
    ($name:ident, $lt:lifetime) => {
        $name<'static>
    };
}
pub(crate) use static_of;

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
    use diesel::prelude::*;
    use diesel::sql_types::{BigInt, Text};

    fixed_statement! {
        /// A statement of the test's own table.
        struct Rename<'a> {
            "UPDATE t SET name = ", name: &'a str => Text,
            " WHERE id = ", id: i64 => BigInt,
            ""
        }
    }

    /// Counts the statements the connection prepared, and those it cached.
    #[derive(Default)]
    struct Counted {
        prepared: usize,
        cached: usize,
    }

    struct Counter(Arc<Mutex<Counted>>);

    impl Instrumentation for Counter {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            let mut counted = self.0.lock().expect("the counter");
            match event {
                InstrumentationEvent::CacheQuery { .. } => counted.cached += 1,
                InstrumentationEvent::StartQuery { query, .. }
                    if query.to_string().starts_with("UPDATE") =>
                {
                    counted.prepared += 1;
                }
                _ => {}
            }
        }
    }

    fn connection() -> (SqliteConnection, Arc<Mutex<Counted>>) {
        let mut conn = SqliteConnection::establish(":memory:").expect("SQLite in memory");
        conn.batch_execute("CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL); INSERT INTO t VALUES (1, 'a'), (2, 'b');")
            .expect("the table");
        let counted = Arc::new(Mutex::new(Counted::default()));
        conn.set_instrumentation(Counter(Arc::clone(&counted)));
        (conn, counted)
    }

    #[test]
    fn a_fixed_statement_is_prepared_once_and_binds_in_order() {
        let (mut conn, counted) = connection();
        for (id, name) in [(1, "x"), (2, "y"), (1, "z")] {
            let n = Rename { name, id }
                .execute(&mut conn)
                .expect("the update runs");
            assert_eq!(n, 1);
        }
        let names: Vec<String> = diesel::sql_query("SELECT name FROM t ORDER BY id")
            .load::<Named>(&mut conn)
            .expect("the rows read")
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["z", "y"]);
        let counted = counted.lock().expect("the counter");
        assert_eq!(counted.prepared, 3);
        assert_eq!(counted.cached, 1, "one prepare for three runs");
        // Keyed by type: the cache finds it without building its SQL.
        assert!(<Rename<'_> as diesel::query_builder::QueryId>::query_id().is_some());
    }

    #[test]
    fn diesel_would_prepare_its_own_update_every_time() {
        // What the fixed statements are for: if diesel starts caching its
        // updates, this fails and the module can go.
        diesel::table! {
            t (id) {
                id -> BigInt,
                name -> Text,
            }
        }
        let (mut conn, counted) = connection();
        for id in [1_i64, 2, 1] {
            diesel::update(t::table.find(id))
                .set(t::name.eq("n"))
                .execute(&mut conn)
                .expect("the update runs");
        }
        assert_eq!(counted.lock().expect("the counter").cached, 0);
    }

    #[derive(QueryableByName)]
    struct Named {
        #[diesel(sql_type = Text)]
        name: String,
    }
}
