//! Documents in the caller's own tenant collection.

use crate::document::{Document, DocumentBody, DocumentPage, PageLimit};
use crate::ids::DocumentId;
use crate::ports::{Clock, PasswordHasher, Principal, Store, TokenCodec};
use crate::service::{DocumentError, Service};

impl<S: Store, H: PasswordHasher, T: TokenCodec, C: Clock> Service<S, H, T, C> {
    pub(super) async fn insert(
        &self,
        caller: &Principal,
        body: DocumentBody,
    ) -> Result<Document, DocumentError> {
        let document = Document {
            id: DocumentId::generate(),
            body,
        };
        self.store
            .insert_document(&caller.organization_id, &document)
            .await?;
        Ok(document)
    }

    pub(super) async fn list(
        &self,
        caller: &Principal,
        after: Option<DocumentId>,
        limit: PageLimit,
    ) -> Result<DocumentPage, DocumentError> {
        let documents = self
            .store
            .list_documents(&caller.organization_id, after.as_ref(), limit.fetch())
            .await?;
        let (documents, next) = limit.page(documents, |document| document.id);
        Ok(DocumentPage { documents, next })
    }
}
