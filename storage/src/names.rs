//! `stable_names!`: gives a plain enum the stable kebab-case names it is
//! stored under (`as_str`, `Display`, `FromStr`, `ALL`). Used by the small
//! enums that repositories store as text (branch kind, application kind and
//! status). Not for enums owned by `cardhub_protocols`, which bring their
//! own names.

/// A stored name that is not one of an enum's names.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`: use one of {expected}")]
pub struct UnknownName {
    /// What was being parsed ("branch kind").
    pub what: &'static str,
    /// The text given.
    pub value: String,
    /// The accepted names, comma-separated.
    pub expected: &'static str,
}

macro_rules! stable_names {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stable name, as stored and as used in the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::names::UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err($crate::names::UnknownName {
                        what: $what,
                        value: s.to_owned(),
                        expected: stable_names!(@join $($name),+),
                    }),
                }
            }
        }
    };
    (@join $first:literal $(, $rest:literal)*) => {
        concat!($first $(, ", ", $rest)*)
    };
}
