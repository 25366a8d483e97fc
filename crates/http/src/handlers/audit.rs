use actix_web::{web, HttpResponse};
use orgsvc_domain::OrgsvcApi;

use crate::auth::Acting;
use crate::dto::{audit_event_id, AuditPageResponse, PageQuery};
use crate::problem::{ApiError, Problem};

/// Your organization's audit log
///
/// Who did what, from where, newest first, a page at a time: pass the `next` of one page as
/// `after` to get the older ones. Events outlive a deleted organization for the retention
/// period.
#[utoipa::path(
    get, path = "/org/audit", operation_id = "list_audit_events", tag = "organizations",
    params(PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events", body = AuditPageResponse),
        (status = 403, description = "`forbidden`: the caller's role may not read the audit log (members)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list<A: OrgsvcApi>(
    api: web::Data<A>,
    caller: Acting<A>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (after, limit) = query.into_inner().try_into_domain(audit_event_id)?;
    let page = api.list_audit_events(&caller, after, limit).await?;
    Ok(HttpResponse::Ok().json(AuditPageResponse::from(page)))
}
