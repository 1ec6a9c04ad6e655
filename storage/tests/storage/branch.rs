//! Branch business: ID reads, the manual-entry permission, counter card
//! operations in one transaction, audited look-ups, application evidence
//! and the branch list, the self-service machine register and its photo
//! uploads.

use cardhub_protocols::card_status::CardStatus;
use cardhub_protocols::crypto::Hsm;
use cardhub_protocols::crypto::sm2::SigningKey;
use cardhub_protocols::id_reader::text::IdCard;
use cardhub_protocols::identity;
use cardhub_storage::applications::{self, ApplicationKind, ApplicationStatus, NewApplication};
use cardhub_storage::audit::AuditRecord;
use cardhub_storage::branch::evidence::{self, BranchApplicationQuery, Entry};
use cardhub_storage::branch::lookups::{self, HolderKey, Lookup, LookupPurpose};
use cardhub_storage::branch::machines::{self, MachineChange, MachineRefusal, SignedPhoto};
use cardhub_storage::branch::operations::{
    self, BranchOperationKind, CardOperation, Counter, CounterRefusal,
};
use cardhub_storage::branch::{MachineStatus, NewIdRead, NewMachine, desk, id_reads};
use cardhub_storage::branches::{self, Branch, BranchKind, NewBranch};
use cardhub_storage::cards::{self, Card};
use cardhub_storage::operators::NewOperator;
use cardhub_storage::outbox::{
    self, BANK_CARD_STATUS_TOPIC, CARD_STATUS_TOPIC, SMS_CARD_STATUS_TOPIC,
};
use cardhub_storage::photos::{self, NewPhoto};
use cardhub_storage::schema::{audit_log, branch_operations};
use cardhub_storage::{fields, utc_now};
use chrono::TimeDelta;

use super::*;

fn branch(conn: &mut DbConnection, hsm: &dyn Hsm, code: &str, kind: BranchKind) -> Branch {
    branches::create(
        conn,
        hsm,
        &NewBranch {
            code: code.to_owned(),
            name: format!("branch {code}"),
            kind,
        },
        &admin(),
    )
    .expect("a branch")
}

fn counter(branch: &Branch) -> Counter {
    Counter {
        actor: actor("desk-1", Role::BranchOperator),
        branch: branch.clone(),
    }
}

fn last_audit(conn: &mut DbConnection) -> Result<AuditRecord, StorageError> {
    audit_log::table
        .order(audit_log::seq.desc())
        .select(AuditRecord::as_select())
        .first(conn)
        .map_err(|e| StorageError::Database {
            context: "read the last audit entry",
            source: e,
        })
}

fn register_count(conn: &mut DbConnection) -> Result<i64, StorageError> {
    branch_operations::table
        .count()
        .get_result(conn)
        .map_err(|e| StorageError::Database {
            context: "count branch operations",
            source: e,
        })
}

/// A resident's card sent to `branch`, moved by the admin (who may make
/// every edge) to `status`.
fn card_at(
    conn: &mut DbConnection,
    hsm: &dyn Hsm,
    branch: &Branch,
    status: CardStatus,
) -> Result<Card, StorageError> {
    let person_id = cardhub_storage::persons::create(conn, hsm, &resident(), &admin())?;
    let (_, mut card) = applications::create_application(
        conn,
        hsm,
        &NewApplication {
            person_id,
            kind: ApplicationKind::FirstIssue,
            branch_id: Some(branch.id),
        },
        &admin(),
    )?;
    for to in CardStatus::ALL {
        if card.status == status {
            break;
        }
        if to == CardStatus::Applied {
            continue;
        }
        card = cards::transition_card(conn, hsm, card.id, None, to, &admin(), "set up")?;
    }
    Ok(card)
}

#[test]
fn an_id_read_is_sealed_indexed_like_a_person_and_audited() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let b = branch(conn, hsm.as_ref(), "XH01", BranchKind::Community);
            let card = IdCard::PermanentResidence2023 {
                chinese_name: "简".to_owned(),
                sex: identity::Sex::Female,
                renewals: 0,
                birth_date: NaiveDate::from_ymd_opt(1981, 8, 3).expect("a date"),
                english_name: "JANE EXAMPLE".to_owned(),
                number: "911124198108030024".to_owned(),
                valid_from: NaiveDate::from_ymd_opt(2024, 1, 1).expect("a date"),
                valid_to: NaiveDate::from_ymd_opt(2034, 1, 1).expect("a date"),
                nationality: "124".to_owned(),
                previous_number_link: "000".to_owned(),
            };
            let read = NewIdRead::from_card(&card, b.id, "T-XH01-1", utc_now());
            assert_eq!(read.document_type, "permanent-residence");
            assert_eq!(read.nationality, Some(124));
            assert_eq!(read.chinese_name.as_deref(), Some("简"));
            let desk_1 = actor("desk-1", Role::BranchOperator);
            let id = id_reads::record_id_read(conn, hsm.as_ref(), &read, &desk_1)?;
            let stored = id_reads::get_id_read(conn, hsm.as_ref(), id)?;
            assert_eq!(stored.document_number, "911124198108030024");
            assert_eq!(stored.operator, "desk-1");
            assert_eq!(stored.english_name.as_deref(), Some("JANE EXAMPLE"));
            assert_eq!(stored.valid_to, Some(read.valid_to.expect("dated")));

            let audit = last_audit(conn)?;
            assert_eq!(audit.action, "id-read.record");
            assert!(
                !audit.detail.contains("911124"),
                "the number stays out of the audit log: {}",
                audit.detail
            );
            // The read's blind index is the persons' one.
            let stored_idx: Vec<u8> = cardhub_storage::schema::id_reads::table
                .find(id)
                .select(cardhub_storage::schema::id_reads::document_number_idx)
                .first(conn)
                .map_err(|e| StorageError::Database {
                    context: "read an index",
                    source: e,
                })?;
            assert_eq!(
                stored_idx,
                fields::blind_index(hsm.as_ref(), fields::DOCUMENT_NUMBER, "911124198108030024")?
            );

            let mut unknown_branch = read.clone();
            unknown_branch.branch_id = b.id + 100;
            assert!(matches!(
                id_reads::record_id_read(conn, hsm.as_ref(), &unknown_branch, &desk_1),
                Err(StorageError::NotFound { what: "branch", .. })
            ));
            Ok(())
        });
    });
}

#[test]
fn manual_entry_is_off_unless_granted_and_changes_are_audited() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            branch(conn, hsm.as_ref(), "XH01", BranchKind::Community);
            let new = |username: &str| NewOperator {
                username: username.to_owned(),
                display_name: username.to_owned(),
                role: Role::BranchOperator,
                branch_code: Some("XH01".to_owned()),
                password_hash: "x".to_owned(),
            };
            let plain = desk::create_operator(conn, hsm.as_ref(), &new("plain"), false, &admin())?;
            let trusted =
                desk::create_operator(conn, hsm.as_ref(), &new("trusted"), true, &admin())?;
            assert!(!desk::manual_entry(conn, plain.id)?);
            assert!(desk::manual_entry(conn, trusted.id)?);
            assert_eq!(last_audit(conn)?.action, "operator.set-manual-entry");

            desk::set_manual_entry(conn, hsm.as_ref(), "plain", true, &admin())?;
            let at_desk = desk::desk(conn, plain.id)?;
            assert!(at_desk.manual_entry);
            assert_eq!(at_desk.branch.expect("a branch").code, "XH01");
            assert!(matches!(
                desk::set_manual_entry(conn, hsm.as_ref(), "nobody", true, &admin()),
                Err(StorageError::NotFound { .. })
            ));
            Ok(())
        });
    });
}

#[test]
fn a_counter_operation_writes_card_history_audit_register_and_notices_together() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let b = branch(conn, hsm.as_ref(), "XH01", BranchKind::Community);
            let card = card_at(conn, hsm.as_ref(), &b, CardStatus::Activated)?;
            let before = traces(conn)?;
            let lost = operations::card_operation(
                conn,
                hsm.as_ref(),
                &counter(&b),
                card.id,
                CardOperation::TemporaryLoss,
                Some(card.version),
                "holder lost it on the bus",
            )?
            .expect("allowed");
            assert_eq!(lost.status, CardStatus::TemporarilyLost);
            let after = traces(conn)?;
            assert_eq!(after.history - before.history, 1);
            assert_eq!(after.audit_seq - before.audit_seq, 1);
            // card-status, the holder's SMS (the resident has a phone), the bank.
            assert_eq!(after.outbox - before.outbox, 3);
            let messages = outbox::pending(conn, 100)?;
            let topics: Vec<&str> = messages[messages.len() - 3..]
                .iter()
                .map(|m| m.topic.as_str())
                .collect();
            assert_eq!(
                topics,
                [
                    CARD_STATUS_TOPIC,
                    SMS_CARD_STATUS_TOPIC,
                    BANK_CARD_STATUS_TOPIC
                ]
            );
            let sms: serde_json::Value =
                serde_json::from_str(&messages[messages.len() - 2].payload).expect("JSON");
            assert_eq!(sms["template"], "card-temporarily-lost");
            assert_eq!(sms["phone_ref"], format!("person:{}", card.person_id));
            assert!(
                !messages[messages.len() - 2].payload.contains("13800138000"),
                "the phone number itself is not queued"
            );
            let history = cards::card_history(conn, card.id)?;
            let last = history.last().expect("history");
            assert_eq!(last.action, "临时挂失");
            assert_eq!(last.reason, "holder lost it on the bus");
            assert_eq!(last.actor, "desk-1");
            let register = operations::operations_in_window(
                conn,
                Some(b.id),
                utc_now() - TimeDelta::hours(1),
                utc_now() + TimeDelta::hours(1),
            )?;
            assert_eq!(register.len(), 1);
            assert_eq!(register[0].kind, BranchOperationKind::TemporaryLoss);
            assert_eq!(register[0].outcome, "temporarily-lost");
            assert_eq!(register[0].card_id, Some(card.id));

            // The bank hears of the unlock too (it froze the account).
            let before = traces(conn)?;
            let unlocked = operations::card_operation(
                conn,
                hsm.as_ref(),
                &counter(&b),
                card.id,
                CardOperation::Unlock,
                None,
                "found",
            )?
            .expect("allowed");
            assert_eq!(unlocked.status, CardStatus::Unlocked);
            assert_eq!(traces(conn)?.outbox - before.outbox, 3);
            let last = outbox::pending(conn, 100)?.pop().expect("a notice");
            assert_eq!(last.topic, BANK_CARD_STATUS_TOPIC);
            let notice: serde_json::Value = serde_json::from_str(&last.payload).expect("JSON");
            assert_eq!(
                (notice["from"].as_str(), notice["to"].as_str()),
                (Some("temporarily-lost"), Some("unlocked"))
            );
            Ok(())
        });
    });
}

#[test]
fn a_refused_counter_operation_writes_nothing() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let home = branch(conn, hsm.as_ref(), "XH01", BranchKind::Community);
            let other = branch(conn, hsm.as_ref(), "PD01", BranchKind::Bank);
            let card = card_at(conn, hsm.as_ref(), &home, CardStatus::AtBranch)?;
            let before = (traces(conn)?, register_count(conn)?);

            // Not allowed by the status machine: a card at the branch was never received.
            let err = operations::card_operation(
                conn,
                hsm.as_ref(),
                &counter(&home),
                card.id,
                CardOperation::FormalLoss,
                None,
                "",
            )
            .expect_err("at-branch -> formally-lost is no edge");
            assert!(matches!(err, StorageError::Transition(_)), "{err}");
            // Handed over at a branch it was not sent to.
            let refused = operations::card_operation(
                conn,
                hsm.as_ref(),
                &counter(&other),
                card.id,
                CardOperation::HandOver,
                None,
                "",
            )?;
            assert!(matches!(
                refused,
                Err(CounterRefusal::CardAtOtherBranch { .. })
            ));
            assert_eq!((traces(conn)?, register_count(conn)?), before);
            assert_eq!(cards::get_card(conn, card.id)?, card);

            let received = operations::card_operation(
                conn,
                hsm.as_ref(),
                &counter(&home),
                card.id,
                CardOperation::HandOver,
                None,
                "",
            )?
            .expect("handed over at its branch");
            assert_eq!(received.status, CardStatus::Received);
            Ok(())
        });
    });
}

#[test]
fn every_look_up_is_audited_found_or_not() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let b = branch(conn, hsm.as_ref(), "XH01", BranchKind::Community);
            let card = card_at(conn, hsm.as_ref(), &b, CardStatus::Applied)?;
            let lookup = Lookup {
                actor: actor("desk-1", Role::BranchOperator),
                purpose: LookupPurpose::PersonQuery,
                masked: true,
                branch_id: Some(b.id),
            };
            let found = lookups::look_up_holders(
                conn,
                hsm.as_ref(),
                &HolderKey::Phone("138 0013 8000".to_owned()),
                &lookup,
            )?;
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].cards.len(), 1);
            assert_eq!(found[0].cards[0].id, card.id);
            let audit = last_audit(conn)?;
            assert_eq!(audit.action, "person.query");
            assert_eq!(audit.actor, "desk-1");
            assert_eq!(audit.subject, format!("person:{}", card.person_id));
            assert!(!audit.detail.contains("13800138000"), "{}", audit.detail);

            let none = lookups::look_up_holders(
                conn,
                hsm.as_ref(),
                &HolderKey::DocumentNumber("932682198501010017".to_owned()),
                &Lookup {
                    branch_id: None,
                    purpose: LookupPurpose::CardLookup,
                    ..lookup
                },
            )?;
            assert!(none.is_empty());
            let audit = last_audit(conn)?;
            assert_eq!(audit.action, "card.lookup");
            assert_eq!(audit.subject, "person:none");
            // Only the look-up at a branch is registered there.
            assert_eq!(register_count(conn)?, 1);
            Ok(())
        });
    });
}

#[test]
fn the_branch_list_shows_its_own_applications_with_evidence_paged() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let home = branch(conn, hsm.as_ref(), "XH01", BranchKind::Community);
            let other = branch(conn, hsm.as_ref(), "PD01", BranchKind::Bank);
            let first = card_at(conn, hsm.as_ref(), &home, CardStatus::Applied)?;
            let person = first.person_id;
            let mut made = vec![first.application_id];
            for (b, kind) in [
                (&home, ApplicationKind::Renewal),
                (&other, ApplicationKind::Renewal),
            ] {
                let (a, _) = applications::create_application(
                    conn,
                    hsm.as_ref(),
                    &NewApplication {
                        person_id: person,
                        kind,
                        branch_id: Some(b.id),
                    },
                    &admin(),
                )?;
                made.push(a.id);
            }
            evidence::record_evidence(
                conn,
                hsm.as_ref(),
                made[1],
                home.id,
                &Entry::Manual {
                    reason: "reader broken".to_owned(),
                },
                &actor("desk-1", Role::BranchOperator),
            )?;
            assert_eq!(last_audit(conn)?.action, "application.evidence");
            assert!(matches!(
                evidence::record_evidence(
                    conn,
                    hsm.as_ref(),
                    made[0],
                    home.id,
                    &Entry::Manual {
                        reason: " ".to_owned()
                    },
                    &admin(),
                ),
                Err(StorageError::Invalid { .. })
            ));
            let query = BranchApplicationQuery {
                branch_id: Some(home.id),
                from: utc_now() - TimeDelta::hours(1),
                to: utc_now() + TimeDelta::hours(1),
                status: None,
                limit: 1,
                offset: 0,
            };
            let page = evidence::list_branch_applications(conn, &query)?;
            assert_eq!(page.total, 2, "the other branch's is not listed");
            assert_eq!(page.items.len(), 1);
            assert_eq!(page.items[0].application.id, made[1], "newest first");
            assert_eq!(
                page.items[0].evidence,
                Some(Entry::Manual {
                    reason: "reader broken".to_owned()
                })
            );
            assert_eq!(page.items[0].person_name, resident().name);
            assert_eq!(
                page.items[0].card.as_ref().map(|c| c.status),
                Some(CardStatus::Applied)
            );
            let second = evidence::list_branch_applications(
                conn,
                &BranchApplicationQuery {
                    offset: 1,
                    ..query.clone()
                },
            )?;
            assert_eq!(second.items[0].application.id, made[0]);
            assert_eq!(second.items[0].evidence, None);
            let withdrawn = evidence::list_branch_applications(
                conn,
                &BranchApplicationQuery {
                    status: Some(ApplicationStatus::Withdrawn),
                    ..query
                },
            )?;
            assert_eq!(withdrawn.total, 0);
            Ok(())
        });
    });
}

/// The smallest useful JPEG of `width` x `height` (as in photos.rs's tests).
fn jpeg(width: u16, height: u16) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8];
    v.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x07, b'J', b'F', b'I', b'F', 0x00]);
    v.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x0B, 0x08]);
    v.extend_from_slice(&height.to_be_bytes());
    v.extend_from_slice(&width.to_be_bytes());
    v.extend_from_slice(&[0x01, 0x01, 0x11, 0x00]);
    v.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0x00, 0xFF, 0xD9]);
    v
}

/// An upload from SSM-XH01-01 verified under `key`.
fn signed<'a>(
    photo: &'a NewPhoto,
    application_id: i64,
    signed_ms: i64,
    key: &'a [u8],
) -> SignedPhoto<'a> {
    SignedPhoto {
        machine_id: "SSM-XH01-01",
        verified_key: key,
        signed_ms,
        application_id,
        photo,
    }
}

#[test]
fn machines_are_registered_changed_and_removed_and_their_uploads_checked() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let home = branch(conn, hsm.as_ref(), "XH01", BranchKind::Community);
            let other = branch(conn, hsm.as_ref(), "PD01", BranchKind::Bank);
            let key = SigningKey::generate().public_key().to_vec();
            let new = NewMachine {
                machine_id: "SSM-XH01-01".to_owned(),
                branch_code: "XH01".to_owned(),
                location: "lobby".to_owned(),
                public_key: key.clone(),
            };
            let centre = actor("li", Role::CentreStaff);
            let machine = machines::register(conn, hsm.as_ref(), &new, &centre)?;
            assert_eq!(machine.status, MachineStatus::Active);
            assert_eq!(machine.branch_code, "XH01");
            assert_eq!(last_audit(conn)?.action, "machine.register");
            assert!(matches!(
                machines::register(conn, hsm.as_ref(), &new, &centre),
                Err(StorageError::Conflict { .. })
            ));
            let mut bad_key = new.clone();
            bad_key.machine_id = "SSM-2".to_owned();
            bad_key.public_key = vec![4; 65];
            assert!(matches!(
                machines::register(conn, hsm.as_ref(), &bad_key, &centre),
                Err(StorageError::Invalid { .. })
            ));

            let card = card_at(conn, hsm.as_ref(), &home, CardStatus::Applied)?;
            let photo = NewPhoto {
                jpeg: jpeg(358, 441),
                width: 358,
                height: 441,
            };
            let application_id = card.application_id;
            let upload = |signed_ms, key| signed(&photo, application_id, signed_ms, key);
            let t = utc_now().and_utc().timestamp_millis();
            machines::accept_photo(conn, hsm.as_ref(), &upload(t, &key))?.expect("accepted");
            assert_eq!(
                photos::get_photo(conn, card.application_id)?.map(|p| p.jpeg),
                Some(photo.jpeg.clone())
            );
            let audit = last_audit(conn)?;
            assert_eq!(
                (audit.action.as_str(), audit.actor.as_str()),
                ("photo.put", "machine:SSM-XH01-01")
            );
            let replayed = machines::accept_photo(conn, hsm.as_ref(), &upload(t, &key))?;
            assert!(matches!(replayed, Err(MachineRefusal::Replayed { .. })));
            let stale_key = machines::accept_photo(conn, hsm.as_ref(), &upload(t + 1, &[4; 65]))?;
            assert!(matches!(stale_key, Err(MachineRefusal::KeyChanged { .. })));

            let moved = machines::update(
                conn,
                hsm.as_ref(),
                "SSM-XH01-01",
                &MachineChange {
                    branch_code: Some("PD01".to_owned()),
                    ..MachineChange::default()
                },
                &centre,
            )?;
            assert_eq!(moved.branch_id, other.id);
            assert_eq!(moved.location, "lobby", "unchanged fields stay");
            let elsewhere = machines::accept_photo(conn, hsm.as_ref(), &upload(t + 2, &key))?;
            assert!(matches!(elsewhere, Err(MachineRefusal::OtherBranch { .. })));
            machines::update(
                conn,
                hsm.as_ref(),
                "SSM-XH01-01",
                &MachineChange {
                    status: Some(MachineStatus::Suspended),
                    ..MachineChange::default()
                },
                &centre,
            )?;
            let suspended = machines::accept_photo(conn, hsm.as_ref(), &upload(t + 3, &key))?;
            assert!(matches!(suspended, Err(MachineRefusal::Suspended { .. })));
            assert_eq!(machines::list(conn, Some(other.id))?.len(), 1);
            assert!(machines::list(conn, Some(home.id))?.is_empty());

            machines::deregister(conn, hsm.as_ref(), "SSM-XH01-01", &centre)?;
            assert_eq!(last_audit(conn)?.action, "machine.deregister");
            assert!(matches!(
                machines::accept_photo(conn, hsm.as_ref(), &upload(t + 4, &key)),
                Err(StorageError::NotFound { .. })
            ));
            Ok(())
        });
    });
}
