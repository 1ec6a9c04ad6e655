//! Persons: encryption at rest, blind-index look-ups, conflicts, key errors.

use cardhub_storage::persons;
use cardhub_storage::schema::persons as persons_table;
use cardhub_storage::testing::{sqlite_store, test_hsm};
use cardhub_storage::{StorageError, Store, StoreOptions};
use diesel::prelude::*;

use super::*;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn sensitive_columns_are_encrypted_at_rest_and_found_by_blind_index() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let id = persons::create(conn, hsm.as_ref(), &resident(), &admin())?;

            let (number, phone, address): (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>) =
                persons_table::table
                    .find(id)
                    .select((
                        persons_table::document_number_enc,
                        persons_table::phone_enc,
                        persons_table::address_enc,
                    ))
                    .first(conn)
                    .map_err(|e| StorageError::Database {
                        context: "read raw columns",
                        source: e,
                    })?;
            let phone = phone.expect("phone stored");
            let address = address.expect("address stored");
            assert!(
                !contains(&number, b"110105194912"),
                "document number stored in clear"
            );
            assert!(!contains(&phone, b"13800138000"), "phone stored in clear");
            assert!(
                !contains(&address, "人民大道".as_bytes()),
                "address stored in clear"
            );

            let found =
                persons::find_by_document_number(conn, hsm.as_ref(), " 11010519491231002X")?
                    .expect("found by document number");
            assert_eq!(found.id, id);
            assert_eq!(found.document_number, "11010519491231002X");
            assert_eq!(found.phone.as_deref(), Some("13800138000"));
            assert_eq!(found.address.as_deref(), Some("上海市黄浦区人民大道200号"));
            assert_eq!(found.name, "𠀀张三", "rare character survives storage");
            assert!(
                persons::find_by_document_number(conn, hsm.as_ref(), "110105194912310038")?
                    .is_none()
            );
            Ok(())
        });
    });
}

#[test]
fn phone_look_up_finds_everyone_sharing_it() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let a = persons::create(conn, hsm.as_ref(), &resident(), &admin())?;
            let b = persons::create(conn, hsm.as_ref(), &foreigner(), &admin())?;
            let found = persons::find_by_phone(conn, hsm.as_ref(), "138 0013 8000")?;
            assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), vec![a, b]);
            let other = persons::get(conn, hsm.as_ref(), b)?;
            assert_eq!(other.permit_chinese_name.as_deref(), Some("简·多伊"));
            assert_eq!(other.nationality, 124);
            assert!(persons::find_by_phone(conn, hsm.as_ref(), "13900000000")?.is_empty());
            Ok(())
        });
    });
}

#[test]
fn a_document_number_registers_once() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            persons::create(conn, hsm.as_ref(), &resident(), &admin())?;
            let mut again = resident();
            again.document_number = "11010519491231002X".to_owned();
            let err = persons::create(conn, hsm.as_ref(), &again, &admin())
                .expect_err("duplicate refused");
            assert!(matches!(err, StorageError::Conflict { .. }), "{err}");
            Ok(())
        });
    });
}

#[test]
fn reading_with_another_key_names_the_column() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("keys.db").display());
    let writer = Store::open(&url, test_hsm(), StoreOptions::default()).expect("open");
    writer.migrate().expect("migrate");
    let hsm = writer.hsm().clone();
    let id = writer
        .with_conn(|conn| persons::create(conn, hsm.as_ref(), &resident(), &admin()))
        .expect("create");
    // The same file opened with different keys: as after a wrong key file.
    let reader = Store::open(&url, test_hsm(), StoreOptions::default()).expect("open again");
    let other = reader.hsm().clone();
    let err = reader
        .with_conn(|conn| persons::get(conn, other.as_ref(), id))
        .expect_err("wrong key");
    assert!(
        matches!(
            err,
            StorageError::Decrypt {
                column: "persons.document_number",
                ..
            }
        ),
        "expected a decryption error naming the column, got {err}"
    );
    assert!(err.to_string().contains("persons.document_number"), "{err}");
}

#[test]
fn unknown_person_is_not_found() {
    let store = sqlite_store(test_hsm());
    let hsm = store.hsm().clone();
    let err = store
        .with_conn(|conn| persons::get(conn, hsm.as_ref(), 999))
        .expect_err("missing");
    assert!(
        matches!(err, StorageError::NotFound { what: "person", .. }),
        "{err}"
    );
}
