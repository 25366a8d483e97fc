use orgsvc_domain::{DeletionReceipt, DeletionReceiptId};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::problem::ApiError;

/// A deletion receipt: what deleting an organization removed, signed by the service.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletionReceiptResponse {
    /// Fetch the receipt again at `/org/deletion-receipts/{id}`.
    pub id: Uuid,
    /// The receipt as a compact JWS (`typ` `orgsvc-deletion-receipt+jwt`), signed with the token
    /// key its `kid` names: with `auth.algorithm = "EdDSA"`, verifiable by anyone with the JWK
    /// Set at `/.well-known/jwks.json`, or with `orgsvc verify-receipt`.
    #[schema(
        example = "eyJ0eXAiOiJvcmdzdmMtZGVsZXRpb24tcmVjZWlwdCtqd3QiLCJhbGciOiJFZERTQSJ9.e30.c2ln"
    )]
    pub jws: String,
    /// The claims the JWS signs, for reading: `organization`, `requested_by`, `requested_at`,
    /// `completed_at`, `removed` (each place documents were in with their count; `members`,
    /// `users` who belonged nowhere else, `invitations`, `api_keys`, `webhooks`), `kept`
    /// (what stays on purpose: audit events, for their retention), `last_export_sha256`.
    #[schema(value_type = Object)]
    pub claims: Value,
}

impl From<DeletionReceipt> for DeletionReceiptResponse {
    fn from(receipt: DeletionReceipt) -> Self {
        Self {
            id: *receipt.id.as_uuid(),
            jws: receipt.jws,
            claims: receipt.claims,
        }
    }
}

/// A deletion receipt id in a path.
///
/// # Errors
/// A validation error naming `id`.
pub fn receipt_id(raw: &str) -> Result<DeletionReceiptId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::field("id", "must be a deletion receipt id (a UUID)"))
}
