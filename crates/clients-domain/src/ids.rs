//! Identifiers: UUID newtypes, one per kind of thing, so they cannot be mixed up.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(transparent))]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID (from storage, or from the [`crate::ports::Entropy`] port).
            #[must_use]
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The UUID inside.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// An account: an agency, a client, or both (any account can invite and be invited).
    AccountId
);
id_type!(
    /// An access request from an agency to an email address.
    AccessRequestId
);
id_type!(
    /// A membership of an agency account in a client's team.
    MembershipId
);
id_type!(
    /// A website of a client account.
    WebsiteId
);
id_type!(
    /// A bearer session (a sign-in or a "Log in as").
    SessionId
);
id_type!(
    /// An entry of the audit log.
    AuditEventId
);
id_type!(
    /// A message in the email outbox.
    OutboxMessageId
);
id_type!(
    /// An invoice of an account.
    InvoiceId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_text_form() {
        let raw = "0195a3c4-7b1e-7c2d-9f00-0123456789ab";
        let id: AccountId = raw.parse().unwrap();
        assert_eq!(id.to_string(), raw);
        assert_eq!(AccountId::from_uuid(id.as_uuid()), id);
        assert!("not-a-uuid".parse::<AccessRequestId>().is_err());
    }
}
