//! Applications, cards and status transitions.

use std::sync::{Arc, Barrier};

use cardhub_protocols::card_status::{CardStatus, TransitionErrorKind};
use cardhub_protocols::crypto::Hsm;
use cardhub_storage::applications::{self, ApplicationKind, ApplicationStatus, NewApplication};
use cardhub_storage::cards::{self, Card};
use cardhub_storage::outbox::{self, CARD_STATUS_TOPIC};
use cardhub_storage::{StorageError, persons};

use super::*;

/// A person with one application; returns the card.
fn applied_card(conn: &mut DbConnection, hsm: &dyn Hsm) -> Result<Card, StorageError> {
    let person_id = persons::create(conn, hsm, &resident(), &admin())?;
    let new = NewApplication {
        person_id,
        kind: ApplicationKind::FirstIssue,
        branch_id: None,
    };
    let (application, card) =
        applications::create_application(conn, hsm, &new, &actor("desk-1", Role::BranchOperator))?;
    assert_eq!(application.status, ApplicationStatus::Open);
    assert_eq!(card.status, CardStatus::Applied);
    assert_eq!(card.version, 0);
    assert_eq!(card.application_id, application.id);
    Ok(card)
}

/// Drives a card from `Applied` to `Received` with the right roles.
fn deliver(conn: &mut DbConnection, hsm: &dyn Hsm, card_id: i64) -> Result<Card, StorageError> {
    let centre = actor("li", Role::CentreStaff);
    let workshop = actor("line-1", Role::WorkshopOperator);
    let branch = actor("desk-1", Role::BranchOperator);
    let steps = [
        (CardStatus::PhotoApproved, &centre),
        (CardStatus::DataPrepared, &centre),
        (CardStatus::InProduction, &workshop),
        (CardStatus::Produced, &workshop),
        (CardStatus::QcPassed, &workshop),
        (CardStatus::Mailed, &workshop),
        (CardStatus::AtBranch, &branch),
        (CardStatus::Received, &branch),
    ];
    let mut card = cards::get_card(conn, card_id)?;
    for (to, who) in steps {
        card = cards::transition_card(conn, hsm, card_id, Some(card.version), to, who, "routine")?;
        assert_eq!(card.status, to);
    }
    Ok(card)
}

#[test]
fn allowed_transitions_write_card_history_audit_and_outbox_together() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let card = applied_card(conn, hsm.as_ref())?;
            let before = traces(conn)?;
            let card = deliver(conn, hsm.as_ref(), card.id)?;
            assert_eq!(card.version, 8);
            assert_eq!(cards::get_card(conn, card.id)?, card);

            let after = traces(conn)?;
            assert_eq!(after.history - before.history, 8);
            assert_eq!(after.audit_seq - before.audit_seq, 8);
            assert_eq!(after.outbox - before.outbox, 8);

            let history = cards::card_history(conn, card.id)?;
            assert_eq!(history.len(), 9, "creation plus eight transitions");
            assert_eq!(history[0].from, None);
            assert_eq!(history[0].to, CardStatus::Applied);
            let last = history.last().expect("history is not empty");
            assert_eq!(
                (last.from, last.to),
                (Some(CardStatus::AtBranch), CardStatus::Received)
            );
            assert_eq!(last.actor, "desk-1");
            assert_eq!(last.role, Role::BranchOperator);
            assert_eq!(last.action, "领卡");

            let messages = outbox::pending(conn, 100)?;
            let message = messages.last().expect("outbox message queued");
            assert_eq!(message.topic, CARD_STATUS_TOPIC);
            assert_eq!(message.ordering_key, format!("card:{}", card.id));
            let payload: serde_json::Value =
                serde_json::from_str(&message.payload).expect("payload is JSON");
            assert_eq!(payload["to"], "received");
            assert_eq!(payload["from"], "at-branch");
            assert_eq!(payload["version"], 8);

            let application = applications::get_application(conn, card.application_id)?;
            assert_eq!(application.status, ApplicationStatus::Completed);
            Ok(())
        });
    });
}

#[test]
fn refused_transitions_write_nothing() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let card = applied_card(conn, hsm.as_ref())?;
            let before = traces(conn)?;

            // No such transition.
            let err = cards::transition_card(
                conn,
                hsm.as_ref(),
                card.id,
                None,
                CardStatus::Activated,
                &admin(),
                "skip",
            )
            .expect_err("applied -> activated is refused");
            assert!(
                matches!(&err, StorageError::Transition(t) if t.kind == TransitionErrorKind::NotAllowed),
                "{err}"
            );
            // A transition that exists, by a role that may not make it.
            let err = cards::transition_card(
                conn,
                hsm.as_ref(),
                card.id,
                None,
                CardStatus::PhotoApproved,
                &actor("line-1", Role::WorkshopOperator),
                "not mine",
            )
            .expect_err("workshop may not approve photos");
            assert!(
                matches!(&err, StorageError::Transition(t) if t.kind == TransitionErrorKind::RoleNotPermitted),
                "{err}"
            );
            assert!(
                err.to_string().contains("applied"),
                "message names the states: {err}"
            );

            assert_eq!(
                traces(conn)?,
                before,
                "no history, audit entry or outbox row"
            );
            assert_eq!(cards::get_card(conn, card.id)?, card, "card unchanged");
            Ok(())
        });
    });
}

#[test]
fn a_stale_version_is_refused_and_writes_nothing() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let card = applied_card(conn, hsm.as_ref())?;
            let centre = actor("li", Role::CentreStaff);
            // Another operator approves the photo first.
            cards::transition_card(
                conn,
                hsm.as_ref(),
                card.id,
                Some(0),
                CardStatus::PhotoApproved,
                &centre,
                "ok",
            )?;
            let before = traces(conn)?;
            // This one still holds version 0 and tries to withdraw.
            let err = cards::transition_card(
                conn,
                hsm.as_ref(),
                card.id,
                Some(0),
                CardStatus::Cancelled,
                &centre,
                "x",
            )
            .expect_err("stale version refused");
            assert!(
                matches!(
                    err,
                    StorageError::StaleCard {
                        expected: 0,
                        actual: 1,
                        ..
                    }
                ),
                "{err}"
            );
            assert_eq!(traces(conn)?, before);
            assert_eq!(
                cards::get_card(conn, card.id)?.status,
                CardStatus::PhotoApproved
            );
            Ok(())
        });
    });
}

#[test]
fn concurrent_transitions_of_one_card_apply_once() {
    const RACERS: usize = 4;
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        let card = with_conn(store, |conn| {
            let card = applied_card(conn, hsm.as_ref())?;
            deliver(conn, hsm.as_ref(), card.id)
        });
        let barrier = Arc::new(Barrier::new(RACERS));
        let results: Vec<Result<Card, StorageError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..RACERS)
                .map(|i| {
                    let barrier = barrier.clone();
                    let hsm = hsm.clone();
                    let store = store.store().clone();
                    scope.spawn(move || {
                        store.with_conn(|conn| {
                            barrier.wait();
                            let who = actor(&format!("desk-{i}"), Role::BranchOperator);
                            cards::transition_card(
                                conn,
                                hsm.as_ref(),
                                card.id,
                                None,
                                CardStatus::TemporarilyLost,
                                &who,
                                "lost",
                            )
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("racer thread"))
                .collect()
        });
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(
            won,
            1,
            "exactly one report applies on {}: {results:?}",
            store.backend()
        );
        for lost in results.iter().filter_map(|r| r.as_ref().err()) {
            assert!(
                matches!(lost, StorageError::Transition(t) if t.kind == TransitionErrorKind::Unchanged)
                    || matches!(lost, StorageError::StaleCard { .. }),
                "{lost}"
            );
        }
        with_conn(store, |conn| {
            let losses = cards::card_history(conn, card.id)?
                .into_iter()
                .filter(|h| h.to == CardStatus::TemporarilyLost)
                .count();
            assert_eq!(losses, 1);
            assert!(cardhub_storage::audit::verify(conn, hsm.as_ref())?.is_intact());
            Ok(())
        });
    });
}

#[test]
fn withdrawing_before_production_withdraws_the_application() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let card = applied_card(conn, hsm.as_ref())?;
            let desk = actor("desk-1", Role::BranchOperator);
            cards::transition_card(
                conn,
                hsm.as_ref(),
                card.id,
                None,
                CardStatus::Cancelled,
                &desk,
                "changed mind",
            )?;
            assert_eq!(
                applications::get_application(conn, card.application_id)?.status,
                ApplicationStatus::Withdrawn
            );
            Ok(())
        });
    });
}

#[test]
fn card_numbers_are_unique_and_assigned_once() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let first = applied_card(conn, hsm.as_ref())?;
            let person_id = persons::create(conn, hsm.as_ref(), &foreigner(), &admin())?;
            let new = NewApplication {
                person_id,
                kind: ApplicationKind::InstantIssue,
                branch_id: None,
            };
            let (_, second) = applications::create_application(conn, hsm.as_ref(), &new, &admin())?;
            let line = actor("line-1", Role::WorkshopOperator);

            let numbered =
                cards::assign_card_number(conn, hsm.as_ref(), first.id, "A12345678", &line)?;
            assert_eq!(numbered.card_number.as_deref(), Some("A12345678"));
            assert_eq!(numbered.version, first.version + 1);
            assert_eq!(
                cards::find_card_by_number(conn, "A12345678")?.map(|c| c.id),
                Some(first.id)
            );

            let taken =
                cards::assign_card_number(conn, hsm.as_ref(), second.id, "A12345678", &line)
                    .expect_err("number in use");
            assert!(matches!(taken, StorageError::Conflict { .. }), "{taken}");
            let twice = cards::assign_card_number(conn, hsm.as_ref(), first.id, "B00000001", &line)
                .expect_err("already numbered");
            assert!(matches!(twice, StorageError::Conflict { .. }), "{twice}");
            assert_eq!(cards::cards_of_person(conn, person_id)?.len(), 1);
            assert_eq!(
                cards::cards_in_status(conn, CardStatus::Applied, 10)?.len(),
                2
            );
            Ok(())
        });
    });
}

#[test]
fn applications_need_an_existing_person_and_branch() {
    on_each_backend(|store| {
        let hsm = store.hsm().clone();
        with_conn(store, |conn| {
            let before = traces(conn)?;
            let new = NewApplication {
                person_id: 4242,
                kind: ApplicationKind::FirstIssue,
                branch_id: None,
            };
            let err = applications::create_application(conn, hsm.as_ref(), &new, &admin())
                .expect_err("no such person");
            assert!(
                matches!(err, StorageError::NotFound { what: "person", .. }),
                "{err}"
            );
            let person_id = persons::create(conn, hsm.as_ref(), &resident(), &admin())?;
            let new = NewApplication {
                person_id,
                kind: ApplicationKind::FirstIssue,
                branch_id: Some(77),
            };
            let err = applications::create_application(conn, hsm.as_ref(), &new, &admin())
                .expect_err("no such branch");
            assert!(
                matches!(err, StorageError::NotFound { what: "branch", .. }),
                "{err}"
            );
            assert_eq!(traces(conn)?.history, before.history);
            Ok(())
        });
    });
}
