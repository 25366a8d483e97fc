//! Organizations, their admins and tokens.

use chrono::{DateTime, Utc};
use orgsvc_domain::{
    CreateOrganization, Deleted, EmailAddress, Organization, OrganizationName, Password,
    UpdateOrganization,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{DeletionReceiptResponse, Fields};
use crate::problem::ApiError;

fn organization_name(fields: &mut Fields, raw: &str) -> Option<OrganizationName> {
    fields.check("organization_name", OrganizationName::new(raw))
}

/// Create an organization and its admin (its first owner). Signed in (with a bearer token),
/// send only `organization_name`: the signed-in user becomes the owner.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "organization_name": "Acme Corp",
    "email": "admin@acme.example",
    "password": "correct horse battery"
}))]
pub struct CreateOrganizationBody {
    /// 1 to 64 characters; no control characters, `$`, `.`, `/` or `\`. Names that differ only
    /// in case or punctuation ("Acme Corp", "ACME-CORP") are the same organization.
    pub organization_name: String,
    /// The new admin's email, unique across all users. Required unless signed in.
    pub email: Option<String>,
    /// 8 to 128 characters. Required unless signed in.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: Option<String>,
}

/// Why an email or password is missing from an anonymous create.
const REQUIRED: &str = "is required (or sign in and send only organization_name)";

impl CreateOrganizationBody {
    /// For an anonymous caller: everything is needed.
    ///
    /// # Errors
    /// A validation error listing every invalid field.
    pub fn try_into_domain(self) -> Result<CreateOrganization, ApiError> {
        let mut fields = Fields::default();
        let name = organization_name(&mut fields, &self.organization_name);
        let email = match self.email.as_deref() {
            Some(raw) => fields.check("email", EmailAddress::new(raw)),
            None => fields.check::<EmailAddress, _>("email", Err(REQUIRED)),
        };
        let password = match self.password {
            Some(raw) => fields.check("password", Password::new(raw)),
            None => fields.check::<Password, _>("password", Err(REQUIRED)),
        };
        fields.finish(|| {
            Some(CreateOrganization {
                name: name?,
                email: email?,
                password: password?,
            })
        })
    }

    /// For a signed-in caller, who becomes the owner: only the name.
    ///
    /// # Errors
    /// A validation error for the name.
    pub fn try_into_name(self) -> Result<OrganizationName, ApiError> {
        let mut fields = Fields::default();
        let name = organization_name(&mut fields, &self.organization_name);
        fields.finish(|| name)
    }
}

/// Rename the caller's organization and optionally change the caller's email and password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "organization_name": "Acme Industries",
    "email": "boss@acme.example",
    "password": "an even better passphrase",
    "current_password": "correct horse battery"
}))]
pub struct UpdateOrganizationBody {
    /// The desired name. When it normalizes differently from the current one, the organization's
    /// collection is renamed to match, with all its documents. With `new_organization_name`:
    /// the current name of the caller's organization (403 `forbidden` for any other).
    pub organization_name: String,
    /// The desired name, for clients that send the current name in `organization_name` (the
    /// original assignment's form).
    pub new_organization_name: Option<String>,
    /// A new email for the calling admin.
    pub email: Option<String>,
    /// A new password for the calling admin.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: Option<String>,
    /// The calling admin's current password: required to change the email or the password.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub current_password: Option<String>,
}

impl UpdateOrganizationBody {
    /// # Errors
    /// A validation error listing every invalid field.
    pub fn try_into_domain(self) -> Result<UpdateOrganization, ApiError> {
        let mut fields = Fields::default();
        let (name, current_name) = match &self.new_organization_name {
            None => (
                organization_name(&mut fields, &self.organization_name),
                Some(None),
            ),
            Some(new) => (
                fields.check("new_organization_name", OrganizationName::new(new)),
                organization_name(&mut fields, &self.organization_name).map(Some),
            ),
        };
        let email = fields.check(
            "email",
            self.email.as_deref().map(EmailAddress::new).transpose(),
        );
        let password = fields.check("password", self.password.map(Password::new).transpose());
        let current_password = fields.check(
            "current_password",
            self.current_password.map(Password::new).transpose(),
        );
        fields.finish(|| {
            Some(UpdateOrganization {
                name: name?,
                current_name: current_name?,
                email: email?,
                password: password?,
                current_password: current_password?,
            })
        })
    }
}

/// Log in as an organization's admin.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "admin@acme.example", "password": "correct horse battery"}))]
pub struct LoginBody {
    pub email: String,
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: String,
    /// Which of the user's organizations the token is for; needed only when the user belongs
    /// to several (else 409 `organization_required`, listing them).
    pub organization_name: Option<String>,
}

impl LoginBody {
    /// A malformed email is a validation error; a password that could never have been set is
    /// simply wrong, like any other wrong password.
    ///
    /// # Errors
    /// `Validation` for the email, `InvalidCredentials` for the password.
    pub fn try_into_domain(
        self,
    ) -> Result<(EmailAddress, Password, Option<OrganizationName>), ApiError> {
        let email = EmailAddress::new(&self.email).map_err(|e| ApiError::field("email", e))?;
        let organization = self
            .organization_name
            .as_deref()
            .map(OrganizationName::new)
            .transpose()
            .map_err(|e| ApiError::field("organization_name", e))?;
        let password = Password::new(self.password).map_err(|_| ApiError::InvalidCredentials)?;
        Ok((email, password, organization))
    }
}

/// Names an organization in the query string (for the OpenAPI document; the handlers read it
/// with [`crate::extract::NamedOrganization`]).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrganizationNameQuery {
    /// Any spelling of the name: it is matched by its normalized form.
    #[param(example = "Acme Corp")]
    pub organization_name: String,
}

/// Where an organization's collection lives.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionResponse {
    /// The name of the cluster (never its address or credentials).
    #[schema(example = "default")]
    pub cluster: String,
    #[schema(example = "orgsvc_tenants")]
    pub database: String,
    /// How its documents are kept: `collection` (a collection of its own), `database` (a
    /// database of its own) or `shared` (one collection with other organizations, every
    /// document tagged with its organization).
    #[schema(example = "collection")]
    pub model: &'static str,
}

/// An organization's admin (its longest-standing owner).
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminResponse {
    pub id: Uuid,
    #[schema(example = "admin@acme.example")]
    pub email: String,
}

/// An organization as stored in the master database.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationResponse {
    /// Immutable: survives renames.
    pub id: Uuid,
    #[schema(example = "Acme Corp")]
    pub organization_name: String,
    /// The normalized name that makes names unique.
    #[schema(example = "acme_corp")]
    pub slug: String,
    /// The organization's own collection.
    #[schema(example = "org_acme_corp")]
    pub collection_name: String,
    pub connection: ConnectionResponse,
    /// Only for a caller holding a token of this organization: others do not learn who runs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminResponse>,
    /// `admin.email` again, flat, for clients of the original assignment; present exactly when
    /// `admin` is.
    #[schema(example = "admin@acme.example")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Organization> for OrganizationResponse {
    fn from(organization: Organization) -> Self {
        Self {
            id: *organization.id.as_uuid(),
            slug: organization.slug().to_string(),
            collection_name: organization.collection_name().to_string(),
            organization_name: organization.name.to_string(),
            connection: ConnectionResponse {
                cluster: organization.placement.cluster,
                database: organization.placement.database,
                model: organization.placement.model.as_str(),
            },
            admin_email: Some(organization.owner.email.to_string()),
            admin: Some(AdminResponse {
                id: *organization.owner.id.as_uuid(),
                email: organization.owner.email.to_string(),
            }),
            created_at: organization.created_at,
            updated_at: organization.updated_at,
        }
    }
}

impl OrganizationResponse {
    /// The response for a caller who may not learn who administers the organization: neither
    /// the admin's email nor their user id.
    #[must_use]
    pub fn for_outsiders(mut self) -> Self {
        self.admin = None;
        self.admin_email = None;
        self
    }
}

/// What a delete removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedOrganizationResponse {
    /// Always `true`.
    pub deleted: bool,
    pub id: Uuid,
    #[schema(example = "Acme Corp")]
    pub organization_name: String,
    #[schema(example = "org_acme_corp")]
    pub collection_name: String,
    /// What the deletion removed, signed.
    pub receipt: DeletionReceiptResponse,
}

impl From<Deleted> for DeletedOrganizationResponse {
    fn from(deleted: Deleted) -> Self {
        let organization = deleted.organization;
        Self {
            deleted: true,
            id: *organization.id.as_uuid(),
            collection_name: organization.collection_name().to_string(),
            organization_name: organization.name.to_string(),
            receipt: deleted.receipt.into(),
        }
    }
}

/// A bearer token for the protected endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// A JWT; its claims carry the admin id (`sub`) and organization id (`org_id`).
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    #[schema(example = 3600)]
    pub expires_in: u64,
}
