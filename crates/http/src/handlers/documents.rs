use actix_web::{web, HttpResponse};
use orgsvc_domain::{DocumentId, OrgsvcApi};

use crate::auth::Acting;
use crate::dto::{
    document_id, DeletedDocumentResponse, DocumentPageResponse, DocumentRequest, DocumentResponse,
    PageQuery,
};
use crate::extract::JsonBody;
use crate::origin::ClientOrigin;
use crate::problem::{ApiError, Problem};

fn path_id(raw: &str) -> Result<DocumentId, ApiError> {
    document_id(raw).map_err(|e| ApiError::field("id", e))
}

/// Add a document to your organization's collection
#[utoipa::path(
    post, path = "/org/documents", operation_id = "insert_document", tag = "documents",
    request_body = DocumentRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored", body = DocumentResponse),
        (status = 422, description = "Not a JSON object, or a reserved field name", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn insert<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Acting<A>,
    body: JsonBody<DocumentRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0.try_into_domain()?;
    let document = api.insert_document(&origin.0, &caller, body).await?;
    Ok(HttpResponse::Created().json(DocumentResponse::from(document)))
}

/// List your organization's documents
///
/// In creation order, a page at a time: pass the `next` of one page as `after` to get the next.
#[utoipa::path(
    get, path = "/org/documents", operation_id = "list_documents", tag = "documents",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page", body = DocumentPageResponse),
    )
)]
pub async fn list<A: OrgsvcApi>(
    api: web::Data<A>,
    caller: Acting<A>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (after, limit) = query.into_inner().try_into_domain(document_id)?;
    let page = api.list_documents(&caller, after, limit).await?;
    Ok(HttpResponse::Ok().json(DocumentPageResponse::from(page)))
}

/// Read one of your organization's documents
#[utoipa::path(
    get, path = "/org/documents/{id}", operation_id = "get_document", tag = "documents",
    params(("id" = Uuid, Path, description = "Document id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Found", body = DocumentResponse),
        (status = 404, description = "`document_not_found` (also for other organizations' documents)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get<A: OrgsvcApi>(
    api: web::Data<A>,
    caller: Acting<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let document = api.get_document(&caller, &id).await?;
    Ok(HttpResponse::Ok().json(DocumentResponse::from(document)))
}

/// Replace one of your organization's documents
#[utoipa::path(
    put, path = "/org/documents/{id}", operation_id = "replace_document", tag = "documents",
    params(("id" = Uuid, Path, description = "Document id")),
    request_body = DocumentRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Replaced", body = DocumentResponse),
        (status = 404, description = "`document_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a JSON object, or a reserved field name", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn replace<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Acting<A>,
    id: web::Path<String>,
    body: JsonBody<DocumentRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let body = body.0.try_into_domain()?;
    let document = api.replace_document(&origin.0, &caller, id, body).await?;
    Ok(HttpResponse::Ok().json(DocumentResponse::from(document)))
}

/// Delete one of your organization's documents
#[utoipa::path(
    delete, path = "/org/documents/{id}", operation_id = "delete_document", tag = "documents",
    params(("id" = Uuid, Path, description = "Document id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = DeletedDocumentResponse),
        (status = 404, description = "`document_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Acting<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    api.delete_document(&origin.0, &caller, &id).await?;
    Ok(HttpResponse::Ok().json(DeletedDocumentResponse {
        deleted: true,
        id: *id.as_uuid(),
    }))
}
