//! The audit chain: intact after real work, and every kind of tampering is
//! caught at the right entry.

use std::sync::Arc;

use cardhub_storage::audit::{self, AuditEntry};
use cardhub_storage::branches::{self, BranchKind, NewBranch};
use diesel::RunQueryDsl;

use super::*;

/// Five entries: seq 1..=5.
fn five_entries(
    conn: &mut DbConnection,
    hsm: &dyn cardhub_protocols::crypto::Hsm,
) -> Result<(), StorageError> {
    for i in 1..=5 {
        let entry = AuditEntry::new(
            &admin(),
            "test.step",
            format!("step:{i}"),
            serde_json::json!({ "n": i, "text": "上海 𠀀" }),
        );
        let record = audit::append(conn, hsm, &entry)?;
        assert_eq!(record.seq, i);
    }
    Ok(())
}

fn tamper(conn: &mut DbConnection, sql: &str) -> Result<(), StorageError> {
    diesel::sql_query(sql)
        .execute(conn)
        .map_err(|e| StorageError::Database {
            context: "tamper with the audit log",
            source: e,
        })?;
    Ok(())
}

#[test]
fn an_untouched_chain_verifies() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let empty = audit::verify(conn, hsm.as_ref())?;
            assert!(empty.is_intact());
            assert_eq!(empty.entries, 0);
            five_entries(conn, hsm.as_ref())?;
            branches::create(
                conn,
                hsm.as_ref(),
                &NewBranch {
                    code: "310101".into(),
                    name: "黄浦".into(),
                    kind: BranchKind::Community,
                },
                &admin(),
            )?;
            let report = audit::verify(conn, hsm.as_ref())?;
            assert_eq!(report.first_broken, None);
            assert_eq!(report.entries, 6);
            let listed = audit::list(conn, 4, 10)?;
            assert_eq!(listed.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![5, 6]);
            assert_eq!(listed[1].action, "branch.create");
            assert_eq!(listed[1].prev_hash, listed[0].hash);
            Ok(())
        });
    });
}

#[test]
fn an_edited_entry_is_caught_at_its_sequence_number() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            five_entries(conn, hsm.as_ref())?;
            tamper(conn, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")?;
            let report = audit::verify(conn, hsm.as_ref())?;
            let broken = report.first_broken.expect("edit caught");
            assert_eq!(broken.seq, 3);
            assert!(broken.reason.contains("edited"), "{broken}");
            assert_eq!(report.entries, 2);
            Ok(())
        });
    });
}

#[test]
fn a_removed_entry_in_the_middle_is_caught() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            five_entries(conn, hsm.as_ref())?;
            tamper(conn, "DELETE FROM audit_log WHERE seq = 2")?;
            let broken = audit::verify(conn, hsm.as_ref())?
                .first_broken
                .expect("gap caught");
            assert_eq!(broken.seq, 2);
            assert!(broken.reason.contains("missing"), "{broken}");
            Ok(())
        });
    });
}

#[test]
fn a_removed_and_renumbered_entry_is_caught() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            five_entries(conn, hsm.as_ref())?;
            // Hide the gap: delete entry 2 and move 3..5 down by one, then
            // rewind the head.
            tamper(conn, "DELETE FROM audit_log WHERE seq = 2")?;
            for seq in 3..=5 {
                tamper(
                    conn,
                    &format!("UPDATE audit_log SET seq = {} WHERE seq = {seq}", seq - 1),
                )?;
            }
            tamper(conn, "UPDATE audit_head SET last_seq = 4")?;
            let broken = audit::verify(conn, hsm.as_ref())?
                .first_broken
                .expect("renumbering caught");
            assert_eq!(broken.seq, 2);
            Ok(())
        });
    });
}

#[test]
fn a_removed_tail_is_caught_by_the_head() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            five_entries(conn, hsm.as_ref())?;
            tamper(conn, "DELETE FROM audit_log WHERE seq >= 4")?;
            let report = audit::verify(conn, hsm.as_ref())?;
            let broken = report.first_broken.expect("tail removal caught");
            assert_eq!(broken.seq, 4);
            assert!(broken.reason.contains("end of the log"), "{broken}");
            assert_eq!(report.entries, 3);
            Ok(())
        });
    });
}

#[test]
fn concurrent_appenders_keep_one_chain() {
    const WRITERS: usize = 4;
    const EACH: usize = 10;
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        std::thread::scope(|scope| {
            for w in 0..WRITERS {
                let store = store.store().clone();
                let hsm = Arc::clone(&hsm);
                scope.spawn(move || {
                    for i in 0..EACH {
                        let entry = AuditEntry::new(
                            &admin(),
                            "test.concurrent",
                            format!("writer:{w}"),
                            serde_json::json!({ "i": i }),
                        );
                        store
                            .with_conn(|conn| audit::append(conn, hsm.as_ref(), &entry))
                            .unwrap_or_else(|e| panic!("append on {}: {e}", store.backend()));
                    }
                });
            }
        });
        with_conn(store, |conn| {
            let report = audit::verify(conn, hsm.as_ref())?;
            assert_eq!(report.first_broken, None);
            assert_eq!(report.entries, (WRITERS * EACH) as u64);
            Ok(())
        });
    });
}
