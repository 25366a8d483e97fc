//! The organization a `GET /org/get` or `DELETE /org/delete` names.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use orgsvc_domain::OrganizationName;
use serde::Deserialize;

use super::{has_body, query_problem, read_json};
use crate::problem::{ApiError, FieldError};

/// `organization_name` from the query string (the documented form) or from a JSON body
/// `{"organization_name": ...}` (how clients of the original assignment send it, even on GET and DELETE). Given both ways,
/// they must name the same organization (422 otherwise); given neither way, 422.
#[derive(Debug)]
pub struct NamedOrganization(pub OrganizationName);

#[derive(Deserialize)]
struct Query {
    organization_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    organization_name: String,
}

impl FromRequest for NamedOrganization {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let query = actix_web::web::Query::<Query>::from_query(req.query_string())
            .map(|query| query.into_inner().organization_name)
            .map_err(|e| query_problem(&e));
        let body = has_body(req).then(|| read_json::<Body>(req, payload));
        Box::pin(async move {
            let query = query?.map(|raw| parse(&raw)).transpose()?;
            let body = match body {
                Some(body) => Some(parse(&body.await?.organization_name)?),
                None => None,
            };
            match (query, body) {
                (Some(query), Some(body)) if query.slug() != body.slug() => {
                    Err(ApiError::Validation(vec![FieldError::new(
                        "organization_name",
                        "the query string and the body name different organizations",
                    )]))
                }
                (Some(name), _) | (None, Some(name)) => Ok(Self(name)),
                (None, None) => Err(ApiError::field(
                    "organization_name",
                    "missing field `organization_name` (in the query string or a JSON body)",
                )),
            }
        })
    }
}

fn parse(raw: &str) -> Result<OrganizationName, ApiError> {
    OrganizationName::new(raw).map_err(|e| ApiError::field("organization_name", e))
}
