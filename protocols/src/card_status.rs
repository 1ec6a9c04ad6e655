//! The card status machine: the one place in code that lists the states of a
//! social security card, the transitions between them and who may make each.
//! Storage applies a transition (card row, history, audit entry, outbox) in
//! one transaction after [`check_transition`] allows it; this module only
//! decides, it stores nothing and knows no clock.
//!
//! # The life of a card
//!
//! ```text
//! Applied → PhotoApproved → DataPrepared → InProduction → Produced → QcPassed
//!   → Mailed → AtBranch → Received → Activated
//! InProduction / Produced / QcPassed → Waste      (the task is re-queued as a new card)
//! QcPassed → Received                            (即时补换: made at the branch counter)
//! Received / Activated / Unlocked → TemporarilyLost → FormallyLost
//!                                   TemporarilyLost → Unlocked
//! most live states → Cancelled;  Cancelled and Waste are final
//! ```
//!
//! Decisions recorded here:
//! - 正式挂失 (formal loss) cannot be undone: it is the step before a
//!   replacement card (补卡), whose issue cancels the lost card. A holder who
//!   finds the card after a formal loss is issued the replacement; only a
//!   temporary loss (临时挂失) is lifted by 解挂 (unlock).
//! - [`CardStatus::Unlocked`] has the same exits as [`CardStatus::Activated`].
//! - A card in the workshop (in production, produced) is never cancelled:
//!   it is finished or wasted first. A card in the post (mailed) is
//!   cancelled once it has reached the branch.
//! - [`Role::Admin`] may make every transition of the table and no other.
//!
//! The table is [`TRANSITIONS`]; [`transition_table_markdown`] renders it
//! for documentation. Roles are defined in [`crate::roles`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::roles::Role;

/// The status of one card.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardStatus {
    /// 已申领: application accepted.
    Applied,
    /// 照片已审核: photo approved.
    PhotoApproved,
    /// 数据已准备: personalisation data prepared.
    DataPrepared,
    /// 制卡中: in production.
    InProduction,
    /// 已制卡: produced.
    Produced,
    /// 质检通过: QC passed.
    QcPassed,
    /// 已寄送: mailed to a branch.
    Mailed,
    /// 已到网点: at the branch.
    AtBranch,
    /// 已领卡: received by the holder.
    Received,
    /// 社保功能已启用: social-security function activated.
    Activated,
    /// 临时挂失: temporarily lost.
    TemporarilyLost,
    /// 正式挂失: formally lost.
    FormallyLost,
    /// 已解挂: unlocked after a loss report.
    Unlocked,
    /// 已注销: cancelled.
    Cancelled,
    /// 废卡: wasted in production.
    Waste,
}

impl CardStatus {
    /// Every status, in the order of a card's life.
    pub const ALL: [CardStatus; 15] = [
        CardStatus::Applied,
        CardStatus::PhotoApproved,
        CardStatus::DataPrepared,
        CardStatus::InProduction,
        CardStatus::Produced,
        CardStatus::QcPassed,
        CardStatus::Mailed,
        CardStatus::AtBranch,
        CardStatus::Received,
        CardStatus::Activated,
        CardStatus::TemporarilyLost,
        CardStatus::FormallyLost,
        CardStatus::Unlocked,
        CardStatus::Cancelled,
        CardStatus::Waste,
    ];

    /// Stable name as stored in the database (the serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            CardStatus::Applied => "applied",
            CardStatus::PhotoApproved => "photo-approved",
            CardStatus::DataPrepared => "data-prepared",
            CardStatus::InProduction => "in-production",
            CardStatus::Produced => "produced",
            CardStatus::QcPassed => "qc-passed",
            CardStatus::Mailed => "mailed",
            CardStatus::AtBranch => "at-branch",
            CardStatus::Received => "received",
            CardStatus::Activated => "activated",
            CardStatus::TemporarilyLost => "temporarily-lost",
            CardStatus::FormallyLost => "formally-lost",
            CardStatus::Unlocked => "unlocked",
            CardStatus::Cancelled => "cancelled",
            CardStatus::Waste => "waste",
        }
    }

    /// The Chinese label shown to operators.
    pub fn label_zh(self) -> &'static str {
        match self {
            CardStatus::Applied => "已申领",
            CardStatus::PhotoApproved => "照片已审核",
            CardStatus::DataPrepared => "数据已准备",
            CardStatus::InProduction => "制卡中",
            CardStatus::Produced => "已制卡",
            CardStatus::QcPassed => "质检通过",
            CardStatus::Mailed => "已寄送",
            CardStatus::AtBranch => "已到网点",
            CardStatus::Received => "已领卡",
            CardStatus::Activated => "已启用",
            CardStatus::TemporarilyLost => "临时挂失",
            CardStatus::FormallyLost => "正式挂失",
            CardStatus::Unlocked => "已解挂",
            CardStatus::Cancelled => "已注销",
            CardStatus::Waste => "废卡",
        }
    }

    /// Whether the status is final: no transition leaves it.
    pub fn is_terminal(self) -> bool {
        matches!(self, CardStatus::Cancelled | CardStatus::Waste)
    }
}

impl fmt::Display for CardStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not a [`CardStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown card status `{0}`: use one of applied, photo-approved, data-prepared, in-production, produced, qc-passed, mailed, at-branch, received, activated, temporarily-lost, formally-lost, unlocked, cancelled, waste"
)]
pub struct UnknownStatus(pub String);

impl FromStr for CardStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CardStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// One allowed transition: a row of [`TRANSITIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// Status before.
    pub from: CardStatus,
    /// Status after.
    pub to: CardStatus,
    /// Roles that may make it, besides [`Role::Admin`] (who may make every row).
    pub roles: &'static [Role],
    /// The business action in Chinese, as recorded in the card's history.
    pub action_zh: &'static str,
    /// What happens, in words.
    pub description: &'static str,
}

impl Transition {
    /// Whether `role` may make this transition.
    pub fn allows(&self, role: Role) -> bool {
        role == Role::Admin || self.roles.contains(&role)
    }

    /// Every role that may make it, admin last, as "a, b, admin".
    pub fn roles_text(&self) -> String {
        self.roles
            .iter()
            .chain(std::iter::once(&Role::Admin))
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

use CardStatus as S;
use Role as R;

/// Who runs the counter side of a card's life.
const BRANCH: &[Role] = &[R::BranchOperator];
/// Who runs production.
const WORKSHOP: &[Role] = &[R::WorkshopOperator];
/// Who runs the centre's back office.
const CENTRE: &[Role] = &[R::CentreStaff];
/// Loss may be reported at the counter or by a linked outside system
/// (card-holder database, bank hotline).
const BRANCH_OR_OUTSIDE: &[Role] = &[R::BranchOperator, R::OutsideSystem];
/// An application may be withdrawn at the counter or by the centre.
const CENTRE_OR_BRANCH: &[Role] = &[R::CentreStaff, R::BranchOperator];
/// Dispatch is done by the workshop's dispatch desk or by centre staff.
const CENTRE_OR_WORKSHOP: &[Role] = &[R::CentreStaff, R::WorkshopOperator];

/// Shorthand for the rows below.
const fn t(
    from: CardStatus,
    to: CardStatus,
    roles: &'static [Role],
    action_zh: &'static str,
    description: &'static str,
) -> Transition {
    Transition {
        from,
        to,
        roles,
        action_zh,
        description,
    }
}

/// Every allowed transition. Anything not here is refused, for every role.
#[rustfmt::skip]
pub const TRANSITIONS: &[Transition] = &[
    // Making the card.
    t(S::Applied, S::PhotoApproved, CENTRE, "照片审核", "photo approved by the centre"),
    t(S::PhotoApproved, S::DataPrepared, CENTRE, "数据准备", "personalisation data prepared"),
    t(S::DataPrepared, S::InProduction, WORKSHOP, "制卡", "making-card task started on a line"),
    t(S::InProduction, S::Produced, WORKSHOP, "制卡完成", "chip personalised and face printed"),
    t(S::Produced, S::QcPassed, WORKSHOP, "质检", "QC read-back passed"),
    t(S::QcPassed, S::Mailed, CENTRE_OR_WORKSHOP, "寄送", "dispatched to the branch"),
    t(S::Mailed, S::AtBranch, BRANCH, "网点收卡", "arrival confirmed at the branch"),
    t(S::AtBranch, S::Received, BRANCH, "领卡", "handed to the holder"),
    t(S::QcPassed, S::Received, BRANCH, "即时领卡", "made at the branch counter and handed over"),
    t(S::Received, S::Activated, BRANCH_OR_OUTSIDE, "启用", "social-security function activated"),
    // Waste: the task is re-queued as a new card elsewhere.
    t(S::InProduction, S::Waste, WORKSHOP, "废卡登记", "failed in production"),
    t(S::Produced, S::Waste, WORKSHOP, "废卡登记", "damaged after production"),
    t(S::QcPassed, S::Waste, WORKSHOP, "废卡登记", "damaged before dispatch"),
    // Loss and unlock.
    t(S::Received, S::TemporarilyLost, BRANCH_OR_OUTSIDE, "临时挂失", "reported lost"),
    t(S::Activated, S::TemporarilyLost, BRANCH_OR_OUTSIDE, "临时挂失", "reported lost"),
    t(S::Unlocked, S::TemporarilyLost, BRANCH_OR_OUTSIDE, "临时挂失", "reported lost"),
    t(S::TemporarilyLost, S::FormallyLost, BRANCH, "正式挂失", "loss confirmed; replacement follows"),
    t(S::TemporarilyLost, S::Unlocked, BRANCH, "解挂", "temporary loss lifted"),
    // Cancellation.
    t(S::Applied, S::Cancelled, CENTRE_OR_BRANCH, "注销", "application withdrawn"),
    t(S::PhotoApproved, S::Cancelled, CENTRE_OR_BRANCH, "注销", "application withdrawn"),
    t(S::DataPrepared, S::Cancelled, CENTRE_OR_BRANCH, "注销", "application withdrawn"),
    t(S::QcPassed, S::Cancelled, CENTRE, "注销", "cancelled before dispatch"),
    t(S::AtBranch, S::Cancelled, BRANCH, "注销", "cancelled at the branch"),
    t(S::Received, S::Cancelled, BRANCH, "注销", "card cancelled"),
    t(S::Activated, S::Cancelled, BRANCH, "注销", "card cancelled"),
    t(S::TemporarilyLost, S::Cancelled, BRANCH, "注销", "lost card cancelled"),
    t(S::FormallyLost, S::Cancelled, BRANCH, "注销", "lost card cancelled on replacement"),
    t(S::Unlocked, S::Cancelled, BRANCH, "注销", "card cancelled"),
];

/// Why a transition was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransitionErrorKind {
    /// No row of the table leads from the current status to the requested one.
    NotAllowed,
    /// The row exists but the caller's role is not among its roles.
    RoleNotPermitted,
    /// The card already has the requested status.
    Unchanged,
    /// The card is in a final status.
    Terminal,
}

/// A refused transition: the current state, the requested one and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot move card from {from} to {to}: {reason}")]
pub struct TransitionError {
    /// The card's current status.
    pub from: CardStatus,
    /// The requested status.
    pub to: CardStatus,
    /// Which rule refused it.
    pub kind: TransitionErrorKind,
    /// Why it was refused, in words for the operator.
    pub reason: String,
}

/// The table rows leaving `from`.
pub fn transitions_from(from: CardStatus) -> impl Iterator<Item = &'static Transition> {
    TRANSITIONS.iter().filter(move |t| t.from == from)
}

/// The statuses a card in `from` may move to (by some role).
pub fn next_states(from: CardStatus) -> impl Iterator<Item = CardStatus> {
    transitions_from(from).map(|t| t.to)
}

/// Whether `role` may move a card from `from` to `to`; on success, the table
/// row that allows it (its `action_zh` goes into the card's history).
pub fn check_transition(
    from: CardStatus,
    to: CardStatus,
    role: Role,
) -> Result<&'static Transition, TransitionError> {
    let refuse = |kind, reason: String| TransitionError {
        from,
        to,
        kind,
        reason,
    };
    if from == to {
        return Err(refuse(
            TransitionErrorKind::Unchanged,
            format!("the card is already {from} ({})", from.label_zh()),
        ));
    }
    if from.is_terminal() {
        let why = match from {
            CardStatus::Waste => {
                "a wasted card is final; its making-card task was re-queued as a new card"
            }
            _ => "a cancelled card is final; apply for a new card instead",
        };
        return Err(refuse(
            TransitionErrorKind::Terminal,
            format!("no such transition: {why}"),
        ));
    }
    let Some(row) = transitions_from(from).find(|t| t.to == to) else {
        let options = next_states(from)
            .map(CardStatus::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        return Err(refuse(
            TransitionErrorKind::NotAllowed,
            format!("no such transition; from {from} a card may go to: {options}"),
        ));
    };
    if !row.allows(role) {
        return Err(refuse(
            TransitionErrorKind::RoleNotPermitted,
            format!(
                "role {role} may not make this transition ({}: {}); needs one of: {}",
                row.action_zh,
                row.description,
                row.roles_text()
            ),
        ));
    }
    Ok(row)
}

/// The table as a markdown table (from, to, action, roles), for documentation.
pub fn transition_table_markdown() -> String {
    let mut out = String::from("| from | to | action | roles |\n| --- | --- | --- | --- |\n");
    for row in TRANSITIONS {
        out.push_str(&format!(
            "| {} ({}) | {} ({}) | {} ({}) | {} |\n",
            row.from,
            row.from.label_zh(),
            row.to,
            row.to.label_zh(),
            row.action_zh,
            row.description,
            row.roles_text()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_duplicate_rows() {
        for (i, a) in TRANSITIONS.iter().enumerate() {
            for b in &TRANSITIONS[i + 1..] {
                assert!(
                    (a.from, a.to) != (b.from, b.to),
                    "{} -> {} listed twice",
                    a.from,
                    a.to
                );
            }
        }
    }

    #[test]
    fn no_row_is_a_self_loop_or_lists_admin() {
        for row in TRANSITIONS {
            assert_ne!(row.from, row.to);
            assert!(
                !row.roles.contains(&Role::Admin),
                "admin is implicit: {} -> {}",
                row.from,
                row.to
            );
            assert!(
                !row.roles.is_empty(),
                "{} -> {} has no role",
                row.from,
                row.to
            );
        }
    }
}
