//! Branches, devices and the outbox.

use cardhub_storage::branches::{self, BranchKind, NewBranch};
use cardhub_storage::devices::{self, DeviceRegistration};
use cardhub_storage::{outbox, utc_now};

use super::*;

#[test]
fn branches_are_unique_by_code() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let centre = NewBranch {
                code: "000000".into(),
                name: "卡中心".into(),
                kind: BranchKind::Centre,
            };
            let bank = NewBranch {
                code: "BOC-01".into(),
                name: "中国银行".into(),
                kind: BranchKind::Bank,
            };
            let created = branches::create(conn, hsm.as_ref(), &centre, &admin())?;
            branches::create(conn, hsm.as_ref(), &bank, &admin())?;
            assert_eq!(branches::get_by_code(conn, "000000")?, created);
            assert_eq!(
                branches::list(conn)?
                    .iter()
                    .map(|b| b.kind)
                    .collect::<Vec<_>>(),
                vec![BranchKind::Centre, BranchKind::Bank]
            );
            let dup =
                branches::create(conn, hsm.as_ref(), &centre, &admin()).expect_err("code taken");
            assert!(matches!(dup, StorageError::Conflict { .. }), "{dup}");
            let missing = branches::get_by_code(conn, "nope").expect_err("unknown");
            assert!(
                matches!(missing, StorageError::NotFound { what: "branch", .. }),
                "{missing}"
            );
            Ok(())
        });
    });
}

#[test]
fn devices_upsert_by_name() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let mut printer = DeviceRegistration {
                kind: "card-printer".into(),
                name: "line-1-printer".into(),
                location: Some("workshop line 1".into()),
                config: serde_json::json!({ "address": "127.0.0.1:9100" }),
            };
            let first = devices::upsert(conn, hsm.as_ref(), &printer, &admin())?;
            printer.config = serde_json::json!({ "address": "127.0.0.1:9101" });
            let second = devices::upsert(conn, hsm.as_ref(), &printer, &admin())?;
            assert_eq!(second.id, first.id);
            assert_eq!(second.config["address"], "127.0.0.1:9101");
            let all = devices::list(conn)?;
            assert_eq!(all, vec![second]);
            let actions: Vec<String> = cardhub_storage::audit::list(conn, 0, 10)?
                .into_iter()
                .map(|r| r.action)
                .collect();
            assert_eq!(actions, vec!["device.register", "device.update"]);
            Ok(())
        });
    });
}

#[test]
fn outbox_messages_are_delivered_in_order_and_failures_counted() {
    on_each_backend(|store| {
        with_conn(store, |conn| {
            let a = outbox::enqueue(
                conn,
                "sms",
                "person:1",
                &serde_json::json!({ "text": "卡已到网点" }),
            )?;
            let b = outbox::enqueue(
                conn,
                "sms",
                "person:1",
                &serde_json::json!({ "text": "second" }),
            )?;
            assert_eq!(
                outbox::pending(conn, 10)?
                    .iter()
                    .map(|m| m.id)
                    .collect::<Vec<_>>(),
                vec![a, b]
            );
            outbox::record_failure(conn, a, "gateway timeout")?;
            let failed = outbox::pending(conn, 10)?.remove(0);
            assert_eq!(
                (failed.attempts, failed.last_error.as_deref()),
                (1, Some("gateway timeout"))
            );
            outbox::mark_delivered(conn, a, utc_now())?;
            assert_eq!(
                outbox::pending(conn, 10)?
                    .iter()
                    .map(|m| m.id)
                    .collect::<Vec<_>>(),
                vec![b]
            );
            let missing = outbox::mark_delivered(conn, 999, utc_now()).expect_err("unknown id");
            assert!(
                matches!(missing, StorageError::NotFound { .. }),
                "{missing}"
            );
            Ok(())
        });
    });
}
