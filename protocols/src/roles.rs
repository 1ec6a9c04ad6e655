//! Roles: who a caller is, for access control on HTTP/WebSocket endpoints and
//! for the card status machine's "who may make this transition".
//!
//! A bearer token carries one role; an operator account carries one role.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A caller's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// System administrator: tokens, operators, configuration; may do anything.
    Admin,
    /// Card-centre staff (中心业务人员): approvals, extraction, centre-side business.
    CentreStaff,
    /// Workshop operator (制卡车间): production, QC, dispatch.
    WorkshopOperator,
    /// Branch operator (网点经办): branch business at a counter.
    BranchOperator,
    /// An outside system (bank, card-holder database, logistics) over HTTP.
    OutsideSystem,
    /// A monitoring screen: read-only status.
    Screen,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::CentreStaff,
        Role::WorkshopOperator,
        Role::BranchOperator,
        Role::OutsideSystem,
        Role::Screen,
    ];

    /// The role's stable name, as stored and as written in config and tokens.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CentreStaff => "centre-staff",
            Role::WorkshopOperator => "workshop-operator",
            Role::BranchOperator => "branch-operator",
            Role::OutsideSystem => "outside-system",
            Role::Screen => "screen",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role `{0}`: use one of admin, centre-staff, workshop-operator, branch-operator, outside-system, screen"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
