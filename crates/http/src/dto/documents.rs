//! Tenant documents.

use orgsvc_domain::{Document, DocumentBody, DocumentId, DocumentPage};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::problem::ApiError;

/// Any JSON object, stored as sent. Field names must not start with `$` or contain `.` or a
/// control character, the top-level `_id` is reserved, and nesting is limited to 50 levels.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(value_type = Object, example = json!({"title": "Quarterly report", "tags": ["finance"], "pages": 12}))]
pub struct DocumentRequest(pub Map<String, Value>);

impl DocumentRequest {
    /// # Errors
    /// A validation error naming the problem.
    pub fn try_into_domain(self) -> Result<DocumentBody, ApiError> {
        DocumentBody::new(self.0).map_err(|e| ApiError::field("body", e))
    }
}

/// A document of the caller's organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentResponse {
    /// Time-ordered (UUIDv7): listing order is creation order.
    pub id: Uuid,
    /// The document as stored.
    #[schema(value_type = Object, example = json!({"title": "Quarterly report", "tags": ["finance"], "pages": 12}))]
    pub data: Map<String, Value>,
}

impl From<Document> for DocumentResponse {
    fn from(document: Document) -> Self {
        Self {
            id: *document.id.as_uuid(),
            data: document.body.into_fields(),
        }
    }
}

/// A deleted document.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedDocumentResponse {
    /// Always `true`.
    pub deleted: bool,
    pub id: Uuid,
}

/// One page of documents.
#[derive(Debug, Serialize, ToSchema)]
pub struct DocumentPageResponse {
    pub documents: Vec<DocumentResponse>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next: Option<Uuid>,
}

impl From<DocumentPage> for DocumentPageResponse {
    fn from(page: DocumentPage) -> Self {
        Self {
            documents: page.documents.into_iter().map(Into::into).collect(),
            next: page.next.map(|id| *id.as_uuid()),
        }
    }
}

/// Parses a document id from a path or query.
///
/// # Errors
/// When `raw` is not a UUID.
pub fn document_id(raw: &str) -> Result<DocumentId, &'static str> {
    raw.parse().map_err(|_| "must be a document id (a UUID)")
}
