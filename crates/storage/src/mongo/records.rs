//! What the MongoDB adapter stores in the master database and tenant collections.

use bson::{doc, Bson, Document as BsonDocument};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::{
    Document, DocumentBody, DocumentId, EmailAddress, Organization, OrganizationId,
    OrganizationName, OwnerSummary, PasswordHash, Placement, TenancyModel, User, UserId,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::errors::DbError;

fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Unknown(anyhow::anyhow!("corrupt {what} document: {error}"))
}

/// Where an organization's documents are: cluster NAME (never a URI), database, collection,
/// and how they are kept apart from other organizations' (see [`super::tenancy`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Location {
    pub cluster: String,
    pub database: String,
    pub collection: String,
    /// Absent in records of earlier versions: a collection of its own.
    #[serde(default)]
    pub model: TenancyModel,
}

impl Location {
    /// Where it is, as the domain says it (the collection is the adapter's own business).
    pub fn placement(&self) -> Placement {
        Placement {
            cluster: self.cluster.clone(),
            database: self.database.clone(),
            model: self.model,
        }
    }
}

/// A multi-step operation in progress on an organization. Written (with the organization's
/// epoch raised) before the first step and removed after the last, so that whoever finds it
/// after a crash can finish the work (or, for a create, undo it). `owner` and `lease_until` say
/// who is doing it and until when the claim holds without renewal; `phase` is the last step
/// done (see [`super::machine`] for what comes next).
///
/// The stored shape is flat (`{op, phase, owner, lease_until, from, to, ...}`) and is the one
/// earlier versions wrote, so intents survive a rolling upgrade.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    #[serde(flatten)]
    pub operation: Operation,
    pub phase: Phase,
    pub owner: String,
    pub lease_until: bson::DateTime,
}

/// What the operation does, with the fields only it needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Operation {
    /// The organization is being created; recovery undoes it.
    Create,
    /// New name (and slug, and collection), with the admin's credential change, if any.
    Rename {
        from: Location,
        to: Location,
        /// The slug readers find the organization by until the switch. Absent in intents
        /// written by earlier versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_slug: Option<String>,
        new_name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        admin: Option<AdminChange>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        updated_at: Option<bson::DateTime>,
        /// Copying: every source document with `_id` up to this one is in the target.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        copied_until: Option<String>,
    },
    /// The collection to another cluster (an operator's action).
    Move {
        from: Location,
        to: Location,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        copied_until: Option<String>,
    },
    /// The organization, its admins and its collection are being removed.
    Delete,
}

impl Operation {
    /// Where the collection is and is going, for renames and moves.
    pub fn relocation(&self) -> Option<(&Location, &Location)> {
        match self {
            Self::Rename { from, to, .. } | Self::Move { from, to, .. } => Some((from, to)),
            Self::Create | Self::Delete => None,
        }
    }

    pub fn copied_until(&self) -> Option<&str> {
        match self {
            Self::Rename { copied_until, .. } | Self::Move { copied_until, .. } => {
                copied_until.as_deref()
            }
            Self::Create | Self::Delete => None,
        }
    }

    pub const fn name(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Rename { .. } => "rename",
            Self::Move { .. } => "move",
            Self::Delete => "delete",
        }
    }
}

/// The last step an operation completed. Each operation goes through its own subset, in this
/// order (see [`super::machine::next_step`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Recorded; nothing done yet.
    Started,
    /// Rename: the renamer's credential change is applied. (Stored names are kept from
    /// before users were called users.)
    #[serde(rename = "admin_applied")]
    CredentialsApplied,
    /// Documents are being copied to `to` (progress in `copied_until`).
    Copying,
    /// Every document is at `to`; metadata still points at `from`.
    Moved,
    /// Metadata points at `to`; the source is still to be dropped.
    Switched,
    /// Rename and move: the source is gone; only the intent is left to remove.
    SourceDropped,
    /// Delete: the roster is gone, and with it every user no other roster lists.
    #[serde(rename = "admins_removed")]
    MembersRemoved,
    /// Delete: the collection is gone; only the record is left to remove.
    CollectionDropped,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminChange {
    pub admin_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The email before the change: what readers see until the rename switches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// The admin's token version once the change is applied (one above the version read
    /// before it), set with `$max` so re-applying it after a crash never lowers it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_version: Option<i64>,
}

/// An organization in `organizations`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrganizationDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
    /// Unique index: the slug is reserved by whoever holds it here.
    pub slug: String,
    pub admin_id: String,
    pub connection: Location,
    pub created_at: bson::DateTime,
    pub updated_at: bson::DateTime,
    /// Raised by every operation when it records its intent. A tenant write that finds the
    /// epoch it read before writing, after writing, knows no operation began in between, so
    /// its document is where the metadata says (absent in records of earlier versions: 0).
    #[serde(default)]
    pub epoch: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
    /// While it is deleted: what its receipt needs (see [`super::deletions`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<super::deletions::DeletionProgress>,
    /// While an export reads a snapshot of its documents (see [`super::snapshots`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export: Option<super::snapshots::ExportMark>,
    /// The SHA-256 of its last completed export's bundle (absent until one completes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_export_sha256: Option<String>,
}

impl OrganizationDoc {
    pub fn new(organization: &Organization, connection: Location, intent: Intent) -> Self {
        Self {
            id: organization.id.to_string(),
            name: organization.name.as_str().to_owned(),
            slug: organization.slug().as_str().to_owned(),
            admin_id: organization.owner.id.to_string(),
            connection,
            created_at: bson::DateTime::from_chrono(organization.created_at),
            updated_at: bson::DateTime::from_chrono(organization.updated_at),
            epoch: 1,
            intent: Some(intent),
            deletion: None,
            export: None,
            last_export_sha256: None,
        }
    }

    pub fn into_domain(self, admin: &UserDoc) -> Result<Organization, StoreError> {
        Ok(Organization {
            id: self
                .id
                .parse::<OrganizationId>()
                .map_err(|e| corrupt("organization", e))?,
            name: OrganizationName::new(&self.name).map_err(|e| corrupt("organization", e))?,
            placement: self.connection.placement(),
            owner: OwnerSummary {
                id: admin
                    .id
                    .parse::<UserId>()
                    .map_err(|e| corrupt("admin", e))?,
                email: EmailAddress::new(&admin.email).map_err(|e| corrupt("admin", e))?,
            },
            created_at: self.created_at.to_chrono(),
            updated_at: self.updated_at.to_chrono(),
        })
    }
}

/// An admin in `admins`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserDoc {
    #[serde(rename = "_id")]
    pub id: String,
    /// Unique index.
    pub email: String,
    pub password_hash: String,
    pub created_at: bson::DateTime,
    /// Absent in documents written before tokens were revocable: version 0.
    #[serde(default)]
    pub token_version: i64,
}

impl UserDoc {
    pub fn from_domain(admin: &User) -> Self {
        Self {
            id: admin.id.to_string(),
            email: admin.email.as_str().to_owned(),
            password_hash: admin.password_hash.as_phc().to_owned(),
            created_at: bson::DateTime::from_chrono(admin.created_at),
            token_version: i64::try_from(admin.token_version).unwrap_or(i64::MAX),
        }
    }

    pub fn into_domain(self) -> Result<User, StoreError> {
        Ok(User {
            id: self.id.parse().map_err(|e| corrupt("admin", e))?,
            email: EmailAddress::new(&self.email).map_err(|e| corrupt("admin", e))?,
            password_hash: PasswordHash::from_phc(self.password_hash),
            created_at: self.created_at.to_chrono(),
            token_version: u64::try_from(self.token_version).map_err(|e| corrupt("admin", e))?,
        })
    }
}

/// A tenant document as stored: `_id` (the UUID as a string, so `_id` order is creation order)
/// followed by the body's fields.
pub fn document_to_bson(document: &Document) -> Result<BsonDocument, DbError> {
    let fields = bson::to_document(document.body.fields())
        .map_err(|e| DbError::Other(anyhow::anyhow!("document does not convert to BSON: {e}")))?;
    let mut stored = doc! { "_id": document.id.to_string() };
    stored.extend(fields);
    Ok(stored)
}

pub fn document_from_bson(mut stored: BsonDocument) -> Result<Document, StoreError> {
    let id = match stored.remove("_id") {
        Some(Bson::String(id)) => id.parse::<DocumentId>().map_err(|e| corrupt("tenant", e))?,
        other => return Err(corrupt("tenant", format!("unexpected _id {other:?}"))),
    };
    // Documents an older release wrote may still hold wrappers until version 3 is done.
    super::nested_arrays::unwrap_nested_arrays(&mut stored);
    let fields: Map<String, Value> =
        bson::from_document(stored).map_err(|e| corrupt("tenant", e))?;
    let body = DocumentBody::new(fields).map_err(|e| corrupt("tenant", e))?;
    Ok(Document { id, body })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn roundtrip(intent: &Intent) -> Intent {
        // As the driver does it: to BSON bytes and back through the raw deserializer.
        let stored = bson::to_document(intent).unwrap();
        let bytes = bson::to_vec(&stored).unwrap();
        bson::from_slice(&bytes).unwrap()
    }

    #[test]
    fn intents_are_stored_flat_and_read_back_whole_including_those_of_earlier_versions() {
        let location = |c: &str| Location {
            cluster: "default".into(),
            database: "t".into(),
            collection: c.into(),
            model: TenancyModel::Collection,
        };
        let rename = Intent {
            operation: Operation::Rename {
                from: location("org_a"),
                to: location("org_b"),
                from_slug: Some("a".into()),
                new_name: "B".into(),
                admin: Some(AdminChange {
                    admin_id: "x".into(),
                    email: Some("n@b.io".into()),
                    previous_email: Some("o@b.io".into()),
                    password_hash: None,
                    token_version: Some(3),
                }),
                updated_at: Some(bson::DateTime::from_millis(1_700_000_000_000)),
                copied_until: Some("0190".into()),
            },
            phase: Phase::Copying,
            owner: "me".into(),
            lease_until: bson::DateTime::from_millis(1_800_000_000_000),
        };
        let stored = bson::to_document(&rename).unwrap();
        assert_eq!(stored.get_str("op"), Ok("rename"));
        assert_eq!(stored.get_str("phase"), Ok("copying"));
        assert_eq!(stored.get_str("copied_until"), Ok("0190"));
        assert_eq!(roundtrip(&rename), rename);
        for operation in [Operation::Create, Operation::Delete] {
            let intent = Intent {
                operation,
                ..rename.clone()
            };
            assert_eq!(roundtrip(&intent), intent);
        }
        // What an earlier version wrote for a rename: no old slug, no earlier email.
        let legacy = doc! {
            "op": "rename", "phase": "started", "owner": "old", "lease_until": bson::DateTime::now(),
            "from": bson::to_bson(&location("org_a")).unwrap(),
            "to": bson::to_bson(&location("org_b")).unwrap(), "new_name": "B",
        };
        let read: Intent = bson::from_slice(&bson::to_vec(&legacy).unwrap()).unwrap();
        assert!(matches!(
            read.operation,
            Operation::Rename {
                from_slug: None,
                ..
            }
        ));
    }

    #[test]
    fn tenant_documents_survive_the_trip_through_bson_unchanged() {
        let value = json!({
            "int": 5, "negative": -7, "big": i64::MAX, "small": i64::MIN,
            "float": 1.5, "whole_float": 2.0, "text": "é\u{1F600}", "null": null, "bool": true,
            "nested": {"list": [1, "two", {"three": [3.0]}], "empty": {}},
            "matrix": [[1, 2], [3, [4, [5]]], []], "wrapped": [[[]]], "deep": [{"m": [[true]]}]
        });
        let document = Document {
            id: DocumentId::generate(),
            body: DocumentBody::new(value.as_object().unwrap().clone()).unwrap(),
        };
        let stored = document_to_bson(&document).unwrap();
        assert_eq!(stored.keys().next().map(String::as_str), Some("_id"));
        // Stored as it is: arrays inside arrays too.
        let matrix = stored.get_array("matrix").unwrap();
        assert!(matrix.iter().all(|item| matches!(item, Bson::Array(_))));
        assert_eq!(document_from_bson(stored).unwrap(), document);
    }

    #[test]
    fn nested_arrays_wrapped_by_releases_before_version_2_read_back_unwrapped() {
        let stored = doc! {
            "_id": DocumentId::generate().to_string(),
            "matrix": [{"\u{1}array": [1, 2]}, {"\u{1}array": [{"\u{1}array": []}]}],
            "deep": [{"m": [{"\u{1}array": [true]}]}],
        };
        let read = document_from_bson(stored).unwrap();
        assert_eq!(
            Value::Object(read.body.fields().clone()),
            json!({"matrix": [[1, 2], [[]]], "deep": [{"m": [[true]]}]})
        );
    }
}
