//! Property: for any (from, to, role), `check_transition` allows exactly
//! what the table lists, and a refusal's kind matches the rule that refused.

use cardhub_protocols::card_status::{
    CardStatus, TRANSITIONS, TransitionErrorKind, check_transition, next_states,
};
use cardhub_protocols::roles::Role;
use proptest::prelude::*;

fn status() -> impl Strategy<Value = CardStatus> {
    prop::sample::select(CardStatus::ALL.to_vec())
}

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL.to_vec())
}

/// What the table says about (from, to, role), derived independently of
/// `check_transition`.
fn expected(from: CardStatus, to: CardStatus, role: Role) -> Result<(), TransitionErrorKind> {
    let row = TRANSITIONS.iter().find(|t| t.from == from && t.to == to);
    if from == to {
        Err(TransitionErrorKind::Unchanged)
    } else if from.is_terminal() {
        Err(TransitionErrorKind::Terminal)
    } else {
        match row {
            None => Err(TransitionErrorKind::NotAllowed),
            Some(row) if role == Role::Admin || row.roles.contains(&role) => Ok(()),
            Some(_) => Err(TransitionErrorKind::RoleNotPermitted),
        }
    }
}

proptest! {
    #[test]
    fn check_transition_agrees_with_the_table(from in status(), to in status(), role in role()) {
        let row = TRANSITIONS.iter().find(|t| t.from == from && t.to == to);
        match (check_transition(from, to, role), expected(from, to, role)) {
            (Ok(allowed), Ok(())) => {
                prop_assert_eq!(Some(allowed), row);
            }
            (Err(e), Err(kind)) => {
                prop_assert_eq!((e.from, e.to), (from, to));
                prop_assert_eq!(e.kind, kind);
                prop_assert!(!e.reason.is_empty());
            }
            (got, want) => {
                prop_assert!(false, "{} -> {} as {}: got {:?}, table says {:?}", from, to, role, got, want);
            }
        }
        prop_assert_eq!(next_states(from).any(|s| s == to), row.is_some());
    }
}
