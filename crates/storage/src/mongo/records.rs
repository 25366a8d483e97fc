//! What the MongoDB adapter stores in the master database and tenant collections.

use bson::{doc, Bson, Document as BsonDocument};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::{
    Admin, AdminId, AdminSummary, Document, DocumentBody, DocumentId, EmailAddress, Organization,
    OrganizationId, OrganizationName, PasswordHash, Placement,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::errors::DbError;

fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Unknown(anyhow::anyhow!("corrupt {what} document: {error}"))
}

/// Where a tenant collection is: cluster NAME (never a URI), database, collection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub cluster: String,
    pub database: String,
    pub collection: String,
}

/// A multi-step operation in progress on an organization. Written before the first step and
/// removed after the last, so that whoever finds it after a crash can finish the work (or, for
/// a create, undo it). `owner` and `lease_until` say who is doing it and until when the claim
/// holds without renewal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub op: IntentOp,
    pub phase: Phase,
    pub owner: String,
    pub lease_until: bson::DateTime,
    /// rename and move: where the collection was when the operation began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Location>,
    /// rename and move: where the collection is going.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Location>,
    /// rename: the name to switch to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// rename: the admin's new email and password hash, applied with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<bson::DateTime>,
    /// Copy mode: every source document with `_id` up to this one is in the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_until: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntentOp {
    Create,
    Rename,
    Move,
    Delete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Recorded; nothing moved yet.
    Started,
    /// Documents are being copied to `to`.
    Copying,
    /// Metadata points at `to`; the source is still to be dropped.
    Switched,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminChange {
    pub admin_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<Intent>,
}

impl OrganizationDoc {
    pub fn new(organization: &Organization, intent: Intent) -> Self {
        Self {
            id: organization.id.to_string(),
            name: organization.name.as_str().to_owned(),
            slug: organization.slug().as_str().to_owned(),
            admin_id: organization.admin.id.to_string(),
            connection: Location {
                cluster: organization.placement.cluster.clone(),
                database: organization.placement.database.clone(),
                collection: organization.collection_name().as_str().to_owned(),
            },
            created_at: bson::DateTime::from_chrono(organization.created_at),
            updated_at: bson::DateTime::from_chrono(organization.updated_at),
            intent: Some(intent),
        }
    }

    pub fn into_domain(self, admin: &AdminDoc) -> Result<Organization, StoreError> {
        Ok(Organization {
            id: self
                .id
                .parse::<OrganizationId>()
                .map_err(|e| corrupt("organization", e))?,
            name: OrganizationName::new(&self.name).map_err(|e| corrupt("organization", e))?,
            placement: Placement {
                cluster: self.connection.cluster,
                database: self.connection.database,
            },
            admin: AdminSummary {
                id: admin
                    .id
                    .parse::<AdminId>()
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
pub struct AdminDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub organization_id: String,
    /// Unique index.
    pub email: String,
    pub password_hash: String,
    pub created_at: bson::DateTime,
    /// Absent in documents written before tokens were revocable: version 0.
    #[serde(default)]
    pub token_version: i64,
}

impl AdminDoc {
    pub fn from_domain(admin: &Admin) -> Self {
        Self {
            id: admin.id.to_string(),
            organization_id: admin.organization_id.to_string(),
            email: admin.email.as_str().to_owned(),
            password_hash: admin.password_hash.as_phc().to_owned(),
            created_at: bson::DateTime::from_chrono(admin.created_at),
            token_version: i64::try_from(admin.token_version).unwrap_or(i64::MAX),
        }
    }

    pub fn into_domain(self) -> Result<Admin, StoreError> {
        Ok(Admin {
            id: self.id.parse().map_err(|e| corrupt("admin", e))?,
            organization_id: self
                .organization_id
                .parse()
                .map_err(|e| corrupt("admin", e))?,
            email: EmailAddress::new(&self.email).map_err(|e| corrupt("admin", e))?,
            password_hash: PasswordHash::from_phc(self.password_hash),
            created_at: self.created_at.to_chrono(),
            token_version: u64::try_from(self.token_version).map_err(|e| corrupt("admin", e))?,
        })
    }
}

/// FerretDB 1.x cannot store an array directly inside an array (`[[1, 2]]`), so every such
/// inner array is stored wrapped as `{"\u{1}array": [...]}` and unwrapped when read. User field
/// names cannot hold control characters (the domain refuses them), so the wrapper is never
/// ambiguous.
const NESTED_ARRAY: &str = "\u{1}array";

fn holds_nested_array(value: &Value, in_array: bool) -> bool {
    match value {
        Value::Array(items) => in_array || items.iter().any(|item| holds_nested_array(item, true)),
        Value::Object(fields) => fields.values().any(|v| holds_nested_array(v, false)),
        _ => false,
    }
}

fn encode_nested_arrays(value: &Value, in_array: bool) -> Value {
    match value {
        Value::Array(items) => {
            let items = Value::Array(
                items
                    .iter()
                    .map(|i| encode_nested_arrays(i, true))
                    .collect(),
            );
            if in_array {
                let mut wrapper = Map::new();
                wrapper.insert(NESTED_ARRAY.to_owned(), items);
                Value::Object(wrapper)
            } else {
                items
            }
        }
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), encode_nested_arrays(v, false)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn decode_nested_arrays(value: Value, in_array: bool) -> Value {
    match value {
        Value::Object(mut fields)
            if in_array && fields.len() == 1 && fields.contains_key(NESTED_ARRAY) =>
        {
            let inner = fields.remove(NESTED_ARRAY).unwrap_or_default();
            decode_nested_arrays(inner, false)
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| decode_nested_arrays(item, true))
                .collect(),
        ),
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, decode_nested_arrays(v, false)))
                .collect(),
        ),
        other => other,
    }
}

/// A tenant document as stored: `_id` (the UUID as a string, so `_id` order is creation order)
/// followed by the body's fields.
pub fn document_to_bson(document: &Document) -> Result<BsonDocument, DbError> {
    let fields = document.body.fields();
    let converted = if fields.values().any(|v| holds_nested_array(v, false)) {
        let encoded: Map<String, Value> = fields
            .iter()
            .map(|(k, v)| (k.clone(), encode_nested_arrays(v, false)))
            .collect();
        bson::to_document(&encoded)
    } else {
        bson::to_document(fields)
    };
    let fields = converted
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
    let fields: Map<String, Value> =
        bson::from_document(stored).map_err(|e| corrupt("tenant", e))?;
    let fields = fields
        .into_iter()
        .map(|(k, v)| (k, decode_nested_arrays(v, false)))
        .collect();
    let body = DocumentBody::new(fields).map_err(|e| corrupt("tenant", e))?;
    Ok(Document { id, body })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
        // No array is stored directly inside another.
        let matrix = stored.get_array("matrix").unwrap();
        assert!(matrix.iter().all(|item| matches!(item, Bson::Document(_))));
        assert_eq!(document_from_bson(stored).unwrap(), document);
    }
}
