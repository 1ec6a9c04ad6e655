//! The card status machine as the business sees it: every state can be
//! reached, final states stay final, each transition is refused for the
//! roles that may not make it, and refusals say why.

use std::collections::{HashSet, VecDeque};

use cardhub_protocols::card_status::{
    self, CardStatus, TRANSITIONS, TransitionErrorKind, check_transition, next_states,
};
use cardhub_protocols::roles::Role;

#[test]
fn names_round_trip_and_match_serde() {
    for status in CardStatus::ALL {
        assert_eq!(status.as_str().parse::<CardStatus>(), Ok(status));
        let json = serde_json::to_string(&status).expect("serialisable");
        assert_eq!(json, format!("\"{}\"", status.as_str()));
        let back: CardStatus = serde_json::from_str(&json).expect("deserialisable");
        assert_eq!(back, status);
        assert!(!status.label_zh().is_empty());
    }
    let e = "lost".parse::<CardStatus>().expect_err("not a status");
    assert!(e.to_string().contains("temporarily-lost"), "{e}");
    let labels: HashSet<&str> = CardStatus::ALL.iter().map(|s| s.label_zh()).collect();
    assert_eq!(
        labels.len(),
        CardStatus::ALL.len(),
        "two statuses share a label"
    );
}

#[test]
fn every_state_is_reachable_from_applied() {
    let mut seen = HashSet::from([CardStatus::Applied]);
    let mut queue = VecDeque::from([CardStatus::Applied]);
    while let Some(status) = queue.pop_front() {
        for next in next_states(status) {
            if seen.insert(next) {
                queue.push_back(next);
            }
        }
    }
    for status in CardStatus::ALL {
        assert!(
            seen.contains(&status),
            "{status} cannot be reached from applied"
        );
    }
}

#[test]
fn terminal_states_have_no_exits_and_others_do() {
    for status in CardStatus::ALL {
        let exits = next_states(status).count();
        if status.is_terminal() {
            assert_eq!(exits, 0, "{status} is final but has exits");
        } else {
            assert!(exits > 0, "{status} is a dead end but not marked final");
        }
    }
    assert!(CardStatus::Cancelled.is_terminal());
    assert!(CardStatus::Waste.is_terminal());
}

#[test]
fn the_main_life_of_a_card() {
    use CardStatus::*;
    let steps = [
        (Applied, PhotoApproved, Role::CentreStaff),
        (PhotoApproved, DataPrepared, Role::CentreStaff),
        (DataPrepared, InProduction, Role::WorkshopOperator),
        (InProduction, Produced, Role::WorkshopOperator),
        (Produced, QcPassed, Role::WorkshopOperator),
        (QcPassed, Mailed, Role::CentreStaff),
        (Mailed, AtBranch, Role::BranchOperator),
        (AtBranch, Received, Role::BranchOperator),
        (Received, Activated, Role::OutsideSystem),
        (Activated, TemporarilyLost, Role::OutsideSystem),
        (TemporarilyLost, Unlocked, Role::BranchOperator),
        (Unlocked, TemporarilyLost, Role::BranchOperator),
        (TemporarilyLost, FormallyLost, Role::BranchOperator),
        (FormallyLost, Cancelled, Role::BranchOperator),
    ];
    for (from, to, role) in steps {
        let row = check_transition(from, to, role)
            .unwrap_or_else(|e| panic!("{role} should move {from} to {to}: {e}"));
        assert_eq!((row.from, row.to), (from, to));
    }
}

#[test]
fn production_failures_become_waste() {
    for from in [
        CardStatus::InProduction,
        CardStatus::Produced,
        CardStatus::QcPassed,
    ] {
        check_transition(from, CardStatus::Waste, Role::WorkshopOperator)
            .unwrap_or_else(|e| panic!("{from} -> waste: {e}"));
    }
    let e = check_transition(CardStatus::Activated, CardStatus::Waste, Role::Admin)
        .expect_err("an issued card is cancelled, not wasted");
    assert_eq!(e.kind, TransitionErrorKind::NotAllowed);
}

#[test]
fn formal_loss_cannot_be_unlocked_even_by_admin() {
    let e = check_transition(CardStatus::FormallyLost, CardStatus::Unlocked, Role::Admin)
        .expect_err("formal loss is final except for cancellation");
    assert_eq!(e.kind, TransitionErrorKind::NotAllowed);
    assert!(e.reason.contains("cancelled"), "{e}");
}

#[test]
fn role_restrictions_name_the_role_and_who_may() {
    let e = check_transition(
        CardStatus::InProduction,
        CardStatus::Produced,
        Role::BranchOperator,
    )
    .expect_err("branch does not produce cards");
    assert_eq!(e.kind, TransitionErrorKind::RoleNotPermitted);
    assert!(e.reason.contains("role branch-operator may not"), "{e}");
    assert!(
        e.reason.contains("needs one of: workshop-operator, admin"),
        "{e}"
    );

    // Every row refuses every role outside its list (and never refuses admin).
    for row in TRANSITIONS {
        for role in Role::ALL {
            let result = check_transition(row.from, row.to, role);
            if role == Role::Admin || row.roles.contains(&role) {
                assert!(result.is_ok(), "{role}: {} -> {}", row.from, row.to);
            } else {
                let e = result.expect_err("role not in the row");
                assert_eq!(e.kind, TransitionErrorKind::RoleNotPermitted);
                assert!(e.reason.contains(&format!("role {role} ")), "{e}");
                for allowed in row.roles {
                    assert!(e.reason.contains(allowed.as_str()), "{e}");
                }
            }
        }
    }
}

#[test]
fn screens_may_change_nothing_and_outside_systems_little() {
    for row in TRANSITIONS {
        assert!(check_transition(row.from, row.to, Role::Screen).is_err());
        if check_transition(row.from, row.to, Role::OutsideSystem).is_ok() {
            assert!(
                matches!(row.to, CardStatus::Activated | CardStatus::TemporarilyLost),
                "outside system may {} -> {}",
                row.from,
                row.to
            );
        }
    }
}

#[test]
fn refusals_say_why() {
    let e = check_transition(CardStatus::Cancelled, CardStatus::Activated, Role::Admin)
        .expect_err("cancelled is final");
    assert_eq!(e.kind, TransitionErrorKind::Terminal);
    assert!(
        e.reason
            .contains("no such transition: a cancelled card is final"),
        "{e}"
    );
    assert!(e.to_string().contains("from cancelled to activated"), "{e}");

    let e = check_transition(CardStatus::Waste, CardStatus::InProduction, Role::Admin)
        .expect_err("waste is final");
    assert_eq!(e.kind, TransitionErrorKind::Terminal);
    assert!(e.reason.contains("re-queued"), "{e}");

    let e = check_transition(
        CardStatus::Activated,
        CardStatus::Activated,
        Role::BranchOperator,
    )
    .expect_err("no change");
    assert_eq!(e.kind, TransitionErrorKind::Unchanged);
    assert!(e.reason.contains("already activated"), "{e}");

    let e = check_transition(CardStatus::Applied, CardStatus::Mailed, Role::Admin)
        .expect_err("steps cannot be skipped");
    assert_eq!(e.kind, TransitionErrorKind::NotAllowed);
    assert!(e.reason.contains("photo-approved"), "{e}");
}

#[test]
fn markdown_table_lists_every_row() {
    let table = card_status::transition_table_markdown();
    assert_eq!(table.lines().count(), TRANSITIONS.len() + 2);
    for row in TRANSITIONS {
        let line = format!(
            "| {} ({}) | {} ({}) |",
            row.from,
            row.from.label_zh(),
            row.to,
            row.to.label_zh()
        );
        assert!(table.contains(&line), "missing {line}");
    }
}
