//! The store itself: opening, migrating, the async entry points.

use cardhub_protocols::card_status::CardStatus;
use cardhub_storage::applications::{ApplicationKind, NewApplication};
use cardhub_storage::testing::test_hsm;
use cardhub_storage::{Backend, Store, StoreOptions};

use super::*;

#[test]
fn opening_creates_the_sqlite_directory_and_migrating_twice_is_harmless() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("nested/data/hub.db");
    let store = Store::open(
        &format!("sqlite://{}", path.display()),
        test_hsm(),
        StoreOptions::default(),
    )
    .expect("open creates parent directories");
    assert_eq!(store.backend(), Backend::Sqlite);
    // Every migration directory, applied once.
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .expect("the migrations directory")
        .filter(|entry| entry.as_ref().is_ok_and(|e| e.path().is_dir()))
        .count();
    assert_eq!(store.migrate().expect("first migration").len(), migrations);
    assert!(store.migrate().expect("second migration").is_empty());
    assert!(path.exists());
}

#[test]
fn bad_urls_fail_with_a_useful_message() {
    let err = Store::open(
        "mysql://root:hunter2@db/hub",
        test_hsm(),
        StoreOptions::default(),
    )
    .expect_err("unsupported");
    let text = err.to_string();
    assert!(
        text.contains("sqlite://") && !text.contains("hunter2"),
        "{text}"
    );

    let err = Store::open(
        "postgres://nobody:pw@127.0.0.1:1/none",
        test_hsm(),
        StoreOptions::default(),
    )
    .expect_err("nothing listens on port 1");
    assert!(
        matches!(
            err,
            StorageError::Connect {
                backend: Backend::Postgres,
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains(":pw@"), "password hidden: {err}");
}

#[tokio::test]
async fn async_entry_points_run_on_both_backends() {
    for store in test_stores(test_hsm()) {
        store.ping().await.expect("ping");
        let person_id = store
            .create_person(resident(), admin())
            .await
            .expect("create person");
        let found = store
            .find_person_by_document_number("11010519491231002X".to_owned())
            .await
            .expect("find")
            .expect("found");
        assert_eq!(found.id, person_id);
        let (_, card) = store
            .create_application(
                NewApplication {
                    person_id,
                    kind: ApplicationKind::FirstIssue,
                    branch_id: None,
                },
                admin(),
            )
            .await
            .expect("apply");
        let card = store
            .transition_card(
                card.id,
                Some(card.version),
                CardStatus::PhotoApproved,
                actor("li", Role::CentreStaff),
                "ok".into(),
            )
            .await
            .expect("transition");
        assert_eq!(card.status, CardStatus::PhotoApproved);
        assert_eq!(store.card_history(card.id).await.expect("history").len(), 2);
        let report = store.verify_audit().await.expect("verify");
        assert!(report.is_intact());
        assert_eq!(report.entries, 3);
    }
}
