use actix_web::{web, HttpResponse};
use orgsvc_domain::OrgsvcApi;

use crate::dto::{receipt_id, DeletionReceiptResponse};
use crate::problem::{ApiError, Problem};

/// A deletion receipt
///
/// The signed receipt of an organization's deletion, for whoever holds its id (the deletion
/// answered it, or named it in `Location` when it completed later): no token needed, since the
/// id is random and the receipt names only the organization and what was removed. Kept for
/// `deletion.receipt_retention_days` after the deletion.
#[utoipa::path(
    get, path = "/org/deletion-receipts/{id}", operation_id = "get_deletion_receipt",
    tag = "organizations", security(()),
    params(("id" = Uuid, Path, description = "The receipt's id")),
    responses(
        (status = 200, description = "The receipt", body = DeletionReceiptResponse),
        (status = 404, description = "`receipt_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get<A: OrgsvcApi>(
    api: web::Data<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = receipt_id(&id)?;
    let receipt = api.deletion_receipt(&id).await?;
    Ok(HttpResponse::Ok().json(DeletionReceiptResponse::from(receipt)))
}
