//! What goes over the wire. DTOs are separate from domain types: they carry the OpenAPI schema
//! and convert into validated domain values with `try_into_domain`, reporting every bad field.

use orgsvc_domain::PageLimit;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::problem::{ApiError, FieldError};

/// Collects field errors so a client learns about all of them at once.
#[derive(Default)]
struct Fields(Vec<FieldError>);

impl Fields {
    fn check<T, E: ToString>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        result
            .map_err(|e| self.0.push(FieldError::new(field, e)))
            .ok()
    }

    fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ApiError> {
        match build() {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => Err(ApiError::Validation(self.0)),
        }
    }
}

mod api_keys;
mod audit;
mod documents;
mod exports;
mod organizations;
mod receipts;
mod teams;
mod webhooks;

pub use api_keys::*;
pub use audit::*;
pub use documents::*;
pub use exports::*;
pub use organizations::*;
pub use receipts::*;
pub use teams::*;
pub use webhooks::*;

/// Paging through documents or audit events.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 1000.
    #[param(minimum = 1, maximum = 1000, default = 50)]
    pub limit: Option<usize>,
    /// The `next` of the previous page.
    #[param(value_type = Option<Uuid>)]
    pub after: Option<String>,
}

impl PageQuery {
    /// The cursor (parsed by `cursor`) and the page size.
    ///
    /// # Errors
    /// A validation error for an out-of-range limit or a malformed cursor.
    pub fn try_into_domain<I>(
        self,
        cursor: fn(&str) -> Result<I, &'static str>,
    ) -> Result<(Option<I>, PageLimit), ApiError> {
        let mut fields = Fields::default();
        let limit = fields.check(
            "limit",
            self.limit.map_or(Ok(PageLimit::DEFAULT), PageLimit::new),
        );
        let after = fields.check("after", self.after.as_deref().map(cursor).transpose());
        fields.finish(|| Some((after?, limit?)))
    }
}

/// Liveness and readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    #[schema(example = "ok")]
    pub status: &'static str,
}
