//! End to end: the card status machine over HTTP on a running hub (allowed
//! transitions, an illegal one refused with its reason, a role refused), the
//! audit chain catching an edited entry through `cardhub audit verify`, and
//! the hub on PostgreSQL.

use cardhub_protocols::roles::Role;
use cardhub_storage::applications::{ApplicationKind, NewApplication};
use cardhub_storage::persons::{NewPerson, Sex};
use cardhub_storage::{Actor, Store, applications, persons};
use cardhub_tests::HubProcess;
use diesel::RunQueryDsl;
use serde_json::json;

/// Registers a person and an application, returning the new card's id.
fn seed_card(store: &Store) -> i64 {
    let hsm = store.hsm().clone();
    let clerk = Actor::new("seed", Role::CentreStaff);
    store
        .with_conn(|conn| {
            let person = persons::create(
                conn,
                hsm.as_ref(),
                &NewPerson {
                    document_type: "permanent-residence".to_owned(),
                    document_number: "911124198108030024".to_owned(),
                    name: "JANE EXAMPLE".to_owned(),
                    english_name: Some("JANE EXAMPLE".to_owned()),
                    permit_chinese_name: Some("简𠀀".to_owned()),
                    nationality: 124,
                    sex: Sex::Female,
                    ethnicity: None,
                    birth_date: chrono::NaiveDate::from_ymd_opt(1981, 8, 3).unwrap(),
                    phone: Some("13800138000".to_owned()),
                    address: None,
                },
                &clerk,
            )?;
            let (_, card) = applications::create_application(
                conn,
                hsm.as_ref(),
                &NewApplication {
                    person_id: person,
                    kind: ApplicationKind::FirstIssue,
                    branch_id: None,
                },
                &clerk,
            )?;
            Ok(card.id)
        })
        .expect("seeding works")
}

#[test]
fn card_moves_through_the_machine_and_illegal_moves_are_refused_with_reasons() {
    let hub = HubProcess::start();
    let store = hub.open_store();
    let card = seed_card(&store);
    let admin = hub.http(Some(&hub.dev_token()));

    let got = admin.get(&format!("/api/v1/cards/{card}"));
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json()["status"], "applied");

    // A centre operator approves the photo; the workshop cannot skip ahead.
    let created = hub.cli(
        &[
            "token",
            "create",
            "--name",
            "workshop-1",
            "--role",
            "workshop-operator",
        ],
        None,
    );
    let workshop = hub.http(Some(String::from_utf8(created.stdout).unwrap().trim()));
    let skip = workshop.post(
        &format!("/api/v1/cards/{card}/transitions"),
        &json!({"to": "produced"}),
    );
    assert_eq!(skip.status, 409, "{}", skip.text);
    let body = skip.json();
    assert_eq!(body["error"], "illegal-transition");
    assert_eq!(body["detail"]["from"], "applied");
    assert_eq!(body["detail"]["to"], "produced");
    assert!(!body["detail"]["reason"].as_str().unwrap().is_empty());

    let wrong_role = workshop.post(
        &format!("/api/v1/cards/{card}/transitions"),
        &json!({"to": "photo-approved"}),
    );
    assert_eq!(wrong_role.status, 403, "{}", wrong_role.text);
    assert!(
        wrong_role.json()["message"]
            .as_str()
            .unwrap()
            .contains("workshop-operator")
    );

    let approved = admin.post(
        &format!("/api/v1/cards/{card}/transitions"),
        &json!({"to": "photo-approved", "reason": "photo checked", "expected_version": 0}),
    );
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(approved.json()["status"], "photo-approved");
    let version = approved.json()["version"].as_i64().unwrap();

    // A stale version is refused, not applied.
    let stale = admin.post(
        &format!("/api/v1/cards/{card}/transitions"),
        &json!({"to": "data-prepared", "expected_version": version - 1}),
    );
    assert_eq!(stale.status, 409, "{}", stale.text);

    let history = admin.get(&format!("/api/v1/cards/{card}/history")).json();
    let history = history.as_array().unwrap();
    assert_eq!(history.last().unwrap()["to"], "photo-approved");
    assert_eq!(history.last().unwrap()["reason"], "photo checked");
    assert_eq!(history.last().unwrap()["actor"], "token:development");

    let machine = admin.get("/api/v1/card-statuses").json();
    assert!(machine["transitions"].as_array().unwrap().len() > 10);

    hub.assert_audit_intact();
}

#[test]
fn audit_verify_names_an_edited_entry() {
    let hub = HubProcess::start();
    let store = hub.open_store();
    seed_card(&store);
    let intact = hub.cli(&["audit", "verify"], None);
    assert_eq!(
        intact.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&intact.stdout)
    );
    assert!(String::from_utf8_lossy(&intact.stdout).contains("intact"));

    store
        .with_conn(|conn| {
            let sql = "UPDATE audit_log SET subject = 'card:999' WHERE seq = 2";
            match conn {
                cardhub_storage::DbConnection::Sqlite(c) => diesel::sql_query(sql).execute(c),
                cardhub_storage::DbConnection::Pg(c) => diesel::sql_query(sql).execute(c),
            }
            .map_err(|e| cardhub_storage::StorageError::Database {
                context: "tamper with the audit log",
                source: e,
            })
        })
        .expect("the test can edit the row");
    let broken = hub.cli(&["audit", "verify"], None);
    assert_eq!(broken.status.code(), Some(1));
    let out = String::from_utf8_lossy(&broken.stdout);
    assert!(out.contains("BROKEN at entry 2"), "{out}");
}

#[test]
fn hub_runs_on_postgresql() {
    let hsm = cardhub_storage::testing::test_hsm();
    let Some(db) = cardhub_storage::testing::postgres_store(hsm) else {
        return; // skipped with a notice; CARDHUB_REQUIRE_PG=1 makes it fail instead
    };
    let url = db.url().to_owned();
    let mut hub = HubProcess::start_with(&[("CARDHUB_DATABASE__URL", &url)]);
    let health = hub.http(None).get("/healthz");
    assert_eq!(health.status, 200, "{}", health.text);
    assert_eq!(health.json()["database"]["backend"], "postgres");
    let login = hub.http(None).post(
        "/api/v1/session",
        &json!({"username": "admin", "password": hub.dev_admin_password()}),
    );
    assert_eq!(login.status, 200, "{}", login.text);
    hub.assert_audit_intact();
    assert_eq!(hub.stop(nix::sys::signal::Signal::SIGTERM).code(), Some(0));
}
