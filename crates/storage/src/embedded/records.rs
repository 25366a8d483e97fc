//! What the embedded store writes: JSON records, versioned by their field names.

use chrono::{DateTime, Utc};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::{
    Document, DocumentBody, DocumentId, EmailAddress, Organization, OrganizationId,
    OrganizationName, OwnerSummary, PasswordHash, Placement, TenancyModel, User, UserId,
};
use redb::{ReadTransaction, ReadableTable, TableDefinition, TableError, WriteTransaction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{corrupt, db_err};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrganizationRecord {
    pub id: u128,
    pub name: String,
    pub admin_id: u128,
    pub cluster: String,
    pub database: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The SHA-256 of its last completed export's bundle (absent until one completes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_export_sha256: Option<String>,
}

impl OrganizationRecord {
    pub fn from_domain(organization: &Organization) -> Self {
        Self {
            id: organization.id.as_uuid().as_u128(),
            name: organization.name.as_str().to_owned(),
            admin_id: organization.owner.id.as_uuid().as_u128(),
            cluster: organization.placement.cluster.clone(),
            database: organization.placement.database.clone(),
            created_at: organization.created_at,
            updated_at: organization.updated_at,
            last_export_sha256: None,
        }
    }

    pub fn name(&self) -> Result<OrganizationName, StoreError> {
        OrganizationName::new(&self.name).map_err(|e| corrupt("organization", e))
    }

    /// Where its documents are: the embedded store has one model.
    pub fn placement(&self) -> Placement {
        Placement {
            cluster: self.cluster.clone(),
            database: self.database.clone(),
            model: TenancyModel::Collection,
        }
    }

    pub fn into_domain(self, admin: &UserRecord) -> Result<Organization, StoreError> {
        Ok(Organization {
            id: OrganizationId::from_uuid(Uuid::from_u128(self.id)),
            name: self.name()?,
            placement: self.placement(),
            owner: OwnerSummary {
                id: UserId::from_uuid(Uuid::from_u128(admin.id)),
                email: admin.email()?,
            },
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: u128,
    pub email: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
    /// Absent in records written before tokens were revocable: version 0.
    #[serde(default)]
    pub token_version: u64,
}

impl UserRecord {
    pub fn from_domain(admin: &User) -> Self {
        Self {
            id: admin.id.as_uuid().as_u128(),
            email: admin.email.as_str().to_owned(),
            password_hash: admin.password_hash.as_phc().to_owned(),
            created_at: admin.created_at,
            token_version: admin.token_version,
        }
    }

    pub fn email(&self) -> Result<EmailAddress, StoreError> {
        EmailAddress::new(&self.email).map_err(|e| corrupt("admin", e))
    }

    pub fn into_domain(self) -> Result<User, StoreError> {
        Ok(User {
            id: UserId::from_uuid(Uuid::from_u128(self.id)),
            email: self.email()?,
            password_hash: PasswordHash::from_phc(self.password_hash),
            created_at: self.created_at,
            token_version: self.token_version,
        })
    }
}

/// Login attempts for one account key (email).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AttemptsRecord {
    pub count: u32,
    pub locks: u32,
    pub last_at: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
}

pub fn to_bytes(record: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(record).expect("records serialize infallibly")
}

pub fn from_bytes<R: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<R, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(what, e))
}

pub fn document_to_bytes(body: &DocumentBody) -> Vec<u8> {
    to_bytes(body.fields())
}

pub fn document_from(id: DocumentId, bytes: &[u8]) -> Result<Document, StoreError> {
    let fields = from_bytes("document", bytes)?;
    let body = DocumentBody::new(fields).map_err(|e| corrupt("document", e))?;
    Ok(Document { id, body })
}

/// A table of JSON records keyed by a UUID as u128.
pub type Records = TableDefinition<'static, u128, &'static [u8]>;

/// Read access to the record tables in either kind of transaction.
pub trait RecordTables {
    fn records(
        &self,
        table: Records,
    ) -> Result<impl ReadableTable<u128, &'static [u8]> + '_, TableError>;
}

impl RecordTables for ReadTransaction {
    fn records(
        &self,
        table: Records,
    ) -> Result<impl ReadableTable<u128, &'static [u8]> + '_, TableError> {
        self.open_table(table)
    }
}

impl RecordTables for WriteTransaction {
    fn records(
        &self,
        table: Records,
    ) -> Result<impl ReadableTable<u128, &'static [u8]> + '_, TableError> {
        self.open_table(table)
    }
}

/// The record `id` of `table`, if there is one.
pub fn read<R: for<'de> Deserialize<'de>>(
    txn: &impl RecordTables,
    table: Records,
    what: &str,
    id: u128,
) -> Result<Option<R>, StoreError> {
    let table = txn.records(table).map_err(db_err)?;
    let found = table.get(id).map_err(db_err)?;
    found
        .map(|bytes| from_bytes(what, bytes.value()))
        .transpose()
}
