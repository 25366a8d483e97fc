//! Identifiers. All are UUIDs; organizations and admins get random (v4) ones so ids reveal nothing,
//! documents get time-ordered (v7) ones so that listing by id is listing by insertion order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $generate:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, never-used identifier.
            #[must_use]
            pub fn generate() -> Self {
                Self($generate)
            }

            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            #[must_use]
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Hyphenated lowercase: fixed width, so string order equals byte order of the UUID.
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// The immutable identity of an organization; it survives renames.
    OrganizationId,
    Uuid::new_v4()
);
uuid_id!(
    /// The identity of a user; the same in every organization they belong to.
    UserId,
    Uuid::new_v4()
);
uuid_id!(
    /// The identity of a document in a tenant collection; time-ordered.
    DocumentId,
    Uuid::now_v7()
);
uuid_id!(
    /// The identity of an audit event; time-ordered, so id order is the order events happened.
    AuditEventId,
    Uuid::now_v7()
);
uuid_id!(
    /// The identity of an invitation to join an organization.
    InvitationId,
    Uuid::new_v4()
);
uuid_id!(
    /// The identity of an organization's API key.
    ApiKeyId,
    Uuid::new_v4()
);
uuid_id!(
    /// The identity of an organization's webhook endpoint.
    WebhookId,
    Uuid::new_v4()
);
uuid_id!(
    /// The identity of an export of an organization, and of the snapshot of its documents
    /// that the export reads; time-ordered.
    ExportId,
    Uuid::now_v7()
);
uuid_id!(
    /// The identity of a deletion receipt: random, since holding it is what lets one fetch it.
    DeletionReceiptId,
    Uuid::new_v4()
);
