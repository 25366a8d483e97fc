//! Exports of the caller's organization: asked for, followed, downloaded. Owners only.

use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use futures_util::stream;
use orgsvc_domain::OrgsvcApi;

use crate::auth::Caller;
use crate::dto::{export_id, BundleFile, ExportResponse};
use crate::origin::ClientOrigin;
use crate::problem::{ApiError, Problem};

/// Export your organization
///
/// Owners only. Queues an export of the whole organization: its documents as they are at
/// one moment (writes, renames and moves may go on meanwhile), members and their roles
/// (emails, never passwords), pending invitations, API keys and webhook endpoints (metadata,
/// never secrets) and the audit log, in one bundle (JSON lines; see the README). Follow it
/// at `Location`; once `done`, download it at `bundle_url`. One export per organization at a
/// time.
#[utoipa::path(
    post, path = "/org/exports", operation_id = "create_export", tag = "organizations",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued; follow it at `Location`", body = ExportResponse,
            headers(("Location" = String, description = "The export: /org/exports/{id}"))),
        (status = 403, description = "`forbidden` (not an owner) or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`export_in_progress`: the organization has an export queued or running", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`exports_busy`: as many exports as allowed are queued or running (`Retry-After`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
) -> Result<HttpResponse, ApiError> {
    let job = api.request_export(&origin.0, &caller).await?;
    Ok(HttpResponse::build(StatusCode::ACCEPTED)
        .insert_header((header::LOCATION, format!("/org/exports/{}", job.id)))
        .json(ExportResponse::from(job)))
}

/// An export of your organization
///
/// Its state and progress: `documents` and `bytes` written so far, and once `done`, the
/// bundle's size, SHA-256 and `bundle_url`.
#[utoipa::path(
    get, path = "/org/exports/{id}", operation_id = "get_export", tag = "organizations",
    params(("id" = Uuid, Path, description = "The export's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The export", body = ExportResponse),
        (status = 403, description = "`forbidden` or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`export_not_found`: none of your organization has that id, or it expired", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get<A: OrgsvcApi>(
    api: web::Data<A>,
    caller: Caller<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = export_id(&id)?;
    let job = api.export_job(&caller, &id).await?;
    Ok(HttpResponse::Ok().json(ExportResponse::from(job)))
}

/// Download an export's bundle
///
/// The bundle, a file of JSON lines, streamed as `application/octet-stream` (generated
/// clients save it as a file): its `Content-Length` is the
/// export's `bytes`, its `ETag` the SHA-256 in `sha256`. `orgsvc verify-bundle FILE` checks a
/// downloaded bundle against the digests inside it. Each download is audited.
#[utoipa::path(
    get, path = "/org/exports/{id}/bundle", operation_id = "download_export", tag = "organizations",
    params(("id" = Uuid, Path, description = "The export's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The bundle", content_type = "application/octet-stream", body = inline(BundleFile)),
        (status = 403, description = "`forbidden` or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`export_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`export_not_ready`: the export is not done (queued, running or failed)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn bundle<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = export_id(&id)?;
    let job = api.open_bundle(&origin.0, &caller, &id).await?;
    let (bytes, sha256) = (job.bytes, job.sha256.clone().unwrap_or_default());
    // One chunk in memory at a time, read when the client is ready for it. A chunk that
    // cannot be read ends the body short of its length, which clients see as a failure.
    let chunks = stream::unfold(Some((api, job, 0_u32)), |state| async move {
        let (api, job, seq) = state?;
        match api.bundle_chunk(&job, seq).await {
            Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk)), Some((api, job, seq + 1)))),
            Ok(None) => None,
            Err(e) => {
                let error = ApiError::from(e);
                tracing::warn!(export = %job.id, error = %error, "a bundle download broke off");
                Some((Err(actix_web::Error::from(error)), None))
            }
        }
    });
    let filename = format!("orgsvc-export-{id}.jsonl");
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        // Sent as stored: compressing would lose the length and the digest's meaning.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header((header::ETAG, format!("\"{sha256}\"")))
        .insert_header(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(filename)],
        })
        .no_chunking(bytes)
        .streaming(chunks))
}
