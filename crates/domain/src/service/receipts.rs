//! Deletion receipts: the signed statement of what deleting an organization removed, made from
//! the record the store keeps with the deletion.

use std::future::Future;

use serde_json::Value;

use crate::deletion::{DeletionRecord, RECEIPT_TYPE};
use crate::errors::{ReceiptError, StoreError};
use crate::ids::DeletionReceiptId;
use crate::ports::prelude::*;
use crate::service::{Ports, Service};

/// How long receipts are kept, and what they say is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeletionPolicy {
    /// Days a deletion's record, and so its receipt, is kept.
    pub receipt_retention_days: u32,
    /// How long the audit log keeps a deleted organization's events (stated in receipts);
    /// `None`: for good.
    pub audit_retention_days: Option<u32>,
}

impl Default for DeletionPolicy {
    fn default() -> Self {
        Self {
            receipt_retention_days: 365,
            audit_retention_days: Some(90),
        }
    }
}

/// A deletion receipt: its id, the compact JWS, and the claims it signs.
#[derive(Clone, Debug, PartialEq)]
pub struct DeletionReceipt {
    pub id: DeletionReceiptId,
    pub jws: String,
    pub claims: Value,
}

/// Fetching a receipt: whoever holds its id may (it is random, and says only what was
/// removed).
pub trait ReceiptApi: Clone + Send + Sync + 'static {
    /// # Errors
    /// `NotFound` when no deletion has that receipt or its record expired.
    fn deletion_receipt(
        &self,
        id: &DeletionReceiptId,
    ) -> impl Future<Output = Result<DeletionReceipt, ReceiptError>> + Send;
}

impl<P: Ports> ReceiptApi for Service<P> {
    async fn deletion_receipt(
        &self,
        id: &DeletionReceiptId,
    ) -> Result<DeletionReceipt, ReceiptError> {
        let record = self
            .store
            .deletion_record(id)
            .await?
            .ok_or(ReceiptError::NotFound)?;
        Ok(self.receipt_of(&record)?)
    }
}

impl<P: Ports> Service<P> {
    /// Signs `record` as a receipt.
    pub(super) fn receipt_of(
        &self,
        record: &DeletionRecord,
    ) -> Result<DeletionReceipt, StoreError> {
        let claims = record.claims(self.deletion_policy.audit_retention_days);
        let (jws, claims) = self
            .tokens
            .sign(RECEIPT_TYPE, claims)
            .map_err(StoreError::Unknown)?;
        Ok(DeletionReceipt {
            id: record.id,
            jws,
            claims,
        })
    }
}
