//! Documents in the caller's own tenant collection.

use std::future::Future;

use serde_json::json;

use crate::api_keys::Scope;
use crate::audit::{AuditAction, Origin, Outcome};
use crate::document::{Document, DocumentBody, DocumentPage, PageLimit};
use crate::ids::DocumentId;
use crate::ports::prelude::*;
use crate::ports::Principal;
use crate::service::{access, DocumentError, Ports, Service};

/// The caller's organization's documents.
pub trait DocumentApi: Clone + Send + Sync + 'static {
    /// # Errors
    /// `OrganizationNotFound` when the caller's organization is gone.
    fn insert_document(
        &self,
        origin: &Origin,
        caller: &Principal,
        body: DocumentBody,
    ) -> impl Future<Output = Result<Document, DocumentError>> + Send;

    /// # Errors
    /// `NotFound`, `OrganizationNotFound`.
    fn get_document(
        &self,
        caller: &Principal,
        id: &DocumentId,
    ) -> impl Future<Output = Result<Document, DocumentError>> + Send;

    /// # Errors
    /// `OrganizationNotFound`.
    fn list_documents(
        &self,
        caller: &Principal,
        after: Option<DocumentId>,
        limit: PageLimit,
    ) -> impl Future<Output = Result<DocumentPage, DocumentError>> + Send;

    /// # Errors
    /// `NotFound`, `OrganizationNotFound`.
    fn replace_document(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: DocumentId,
        body: DocumentBody,
    ) -> impl Future<Output = Result<Document, DocumentError>> + Send;

    /// # Errors
    /// `NotFound`, `OrganizationNotFound`.
    fn delete_document(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &DocumentId,
    ) -> impl Future<Output = Result<(), DocumentError>> + Send;
}

impl<P: Ports> DocumentApi for Service<P> {
    async fn insert_document(
        &self,
        origin: &Origin,
        caller: &Principal,
        body: DocumentBody,
    ) -> Result<Document, DocumentError> {
        access::authorize_scope(caller, Scope::DocumentsWrite)?;
        let document = Document {
            id: DocumentId::generate(),
            body,
        };
        self.store
            .insert_document(&caller.organization_id, &document)
            .await?;
        let details = json!({"document_id": document.id.to_string()});
        self.audit(
            origin,
            caller.into(),
            AuditAction::DocumentCreated,
            Outcome::Success,
            details,
        )
        .await;
        Ok(document)
    }

    async fn get_document(
        &self,
        caller: &Principal,
        id: &DocumentId,
    ) -> Result<Document, DocumentError> {
        access::authorize_scope(caller, Scope::DocumentsRead)?;
        self.store
            .get_document(&caller.organization_id, id)
            .await?
            .ok_or(DocumentError::NotFound)
    }

    async fn list_documents(
        &self,
        caller: &Principal,
        after: Option<DocumentId>,
        limit: PageLimit,
    ) -> Result<DocumentPage, DocumentError> {
        access::authorize_scope(caller, Scope::DocumentsRead)?;
        let documents = self
            .store
            .list_documents(&caller.organization_id, after.as_ref(), limit.fetch())
            .await?;
        let (documents, next) = limit.page(documents, |document| document.id);
        Ok(DocumentPage { documents, next })
    }

    async fn replace_document(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: DocumentId,
        body: DocumentBody,
    ) -> Result<Document, DocumentError> {
        access::authorize_scope(caller, Scope::DocumentsWrite)?;
        let document = Document { id, body };
        self.store
            .replace_document(&caller.organization_id, &document)
            .await?;
        let details = json!({"document_id": id.to_string()});
        self.audit(
            origin,
            caller.into(),
            AuditAction::DocumentReplaced,
            Outcome::Success,
            details,
        )
        .await;
        Ok(document)
    }

    async fn delete_document(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &DocumentId,
    ) -> Result<(), DocumentError> {
        access::authorize_scope(caller, Scope::DocumentsWrite)?;
        self.store
            .delete_document(&caller.organization_id, id)
            .await?;
        let details = json!({"document_id": id.to_string()});
        self.audit(
            origin,
            caller.into(),
            AuditAction::DocumentDeleted,
            Outcome::Success,
            details,
        )
        .await;
        Ok(())
    }
}
