//! Photos: one JPEG per application, replaced only while the card is
//! still applied.

use cardhub_storage::photos::{self, NewPhoto};

use super::*;

/// A minimal whole JPEG of `width` x `height`: SOI, APP0, a baseline frame
/// header, SOS with one byte of data, EOI.
fn jpeg(width: u16, height: u16, fill: u8) -> Vec<u8> {
    let mut v = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x07, b'J', b'F', b'I', b'F', 0x00,
    ];
    v.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 0x08]);
    v.extend_from_slice(&height.to_be_bytes());
    v.extend_from_slice(&width.to_be_bytes());
    v.extend_from_slice(&[
        0x01, 0x01, 0x11, 0x00, 0xFF, 0xDA, 0x00, 0x02, fill, 0xFF, 0xD9,
    ]);
    v
}

#[test]
fn a_photo_is_replaced_until_the_card_moves_on() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let hsm = hsm.as_ref();
        with_conn(store, |conn| {
            let person_id = persons::create(conn, hsm, &person(1, "resident-id"), &admin())?;
            let (application, card) = applications::create_application(
                conn,
                hsm,
                &NewApplication {
                    person_id,
                    kind: ApplicationKind::FirstIssue,
                    branch_id: None,
                },
                &admin(),
            )?;
            assert!(photos::get_photo(conn, application.id)?.is_none());
            let desk = actor("desk-1", Role::BranchOperator);
            let first = NewPhoto {
                jpeg: jpeg(358, 441, 0x11),
                width: 358,
                height: 441,
            };
            photos::put_photo(conn, hsm, application.id, &first, &desk)?;
            let second = NewPhoto {
                jpeg: jpeg(358, 441, 0x22),
                ..first.clone()
            };
            photos::put_photo(conn, hsm, application.id, &second, &desk)?;
            let stored = photos::get_photo(conn, application.id)?.expect("stored");
            assert_eq!(
                stored.jpeg, second.jpeg,
                "the later photo replaces the earlier"
            );
            assert_eq!((stored.width, stored.height), (358, 441));
            let entries = audit::list(conn, 0, 1_000)?;
            let puts: Vec<serde_json::Value> = entries
                .iter()
                .filter(|e| e.action == "photo.put")
                .map(|e| serde_json::from_str(&e.detail).expect("audit detail is JSON"))
                .collect();
            assert_eq!(puts.len(), 2);
            assert_eq!(
                (puts[0]["replaced"].as_bool(), puts[1]["replaced"].as_bool()),
                (Some(false), Some(true))
            );

            let bad = [
                NewPhoto {
                    width: 441,
                    height: 358,
                    ..first.clone()
                },
                NewPhoto {
                    jpeg: first.jpeg[..first.jpeg.len() - 2].to_vec(),
                    ..first.clone()
                },
                NewPhoto {
                    jpeg: b"\x89PNG\r\n\x1a\n".to_vec(),
                    ..first.clone()
                },
            ];
            for photo in &bad {
                let err = photos::put_photo(conn, hsm, application.id, photo, &desk)
                    .expect_err("not a whole JPEG of that size");
                assert!(matches!(err, StorageError::Invalid { .. }), "{err}");
            }
            let err =
                photos::put_photo(conn, hsm, 999_999, &first, &desk).expect_err("no application");
            assert!(matches!(err, StorageError::NotFound { .. }), "{err}");

            cards::transition_card(
                conn,
                hsm,
                card.id,
                None,
                CardStatus::PhotoApproved,
                &centre(),
                "ok",
            )?;
            let err = photos::put_photo(conn, hsm, application.id, &first, &desk)
                .expect_err("approved photos stay");
            assert!(err.to_string().contains("photo-approved"), "{err}");
            assert_eq!(
                photos::get_photo(conn, application.id)?.map(|p| p.jpeg),
                Some(second.jpeg)
            );
            assert_audit_intact(conn, hsm)
        });
    });
}
