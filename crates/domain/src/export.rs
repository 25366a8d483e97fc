//! Writing one organization into a bundle (see [`crate::bundle`]).
//!
//! The documents come from a snapshot ([`DocumentSnapshots`]): they are as they were when
//! the export began, while writes, renames and moves go on. The roster (members, invitations,
//! keys, webhooks) is read once, right after the snapshot opens; audit events are those
//! recorded up to that moment.

use chrono::{DateTime, Utc};

use crate::bundle::{BundleSink, BundleWriter, Header, Line, Part, Written, FORMAT, VERSION};
use crate::errors::{SnapshotError, StoreError};
use crate::ids::{DocumentId, ExportId};
use crate::members::Roster;
use crate::organization::Organization;
use crate::ports::{MemberStore, Store};

/// Documents read from the snapshot at a time: bounded by count, so the memory an export
/// holds is this many documents (each at most the body limit).
const DOCUMENT_PAGE: usize = 200;
/// Audit events read at a time.
const AUDIT_PAGE: usize = 500;

/// Writes `organization` into a bundle in `sink` and returns the sink with what was written;
/// `progress` hears how many documents are written so far, and how many the snapshot holds
/// ([`crate::ports::DocumentSnapshots::open_snapshot`]). The snapshot `export` is closed
/// whatever happens.
///
/// # Errors
/// [`SnapshotError::Busy`] while another export of the organization runs;
/// [`SnapshotError::Lost`] when the snapshot was lost midway (start again);
/// [`SnapshotError::OrganizationNotFound`]; a failing store or sink.
pub async fn write_bundle<S: Store, K: BundleSink>(
    store: &S,
    organization: &Organization,
    export: ExportId,
    exported_at: DateTime<Utc>,
    sink: K,
    mut progress: impl FnMut(u64, u64) + Send,
) -> Result<(K, Written), SnapshotError> {
    let total = store.open_snapshot(&organization.id, &export).await?;
    progress(0, total);
    let written = write_parts(
        store,
        organization,
        export,
        exported_at,
        sink,
        |documents| progress(documents, total),
    )
    .await;
    let closed = store.close_snapshot(&organization.id, &export).await;
    let written = written?;
    closed?;
    Ok(written)
}

async fn write_parts<S: Store, K: BundleSink>(
    store: &S,
    organization: &Organization,
    export: ExportId,
    exported_at: DateTime<Utc>,
    sink: K,
    mut progress: impl FnMut(u64) + Send,
) -> Result<(K, Written), SnapshotError> {
    let roster = store
        .find_roster(&organization.id)
        .await?
        .ok_or(SnapshotError::OrganizationNotFound)?;
    let header = Header {
        format: FORMAT.to_owned(),
        version: VERSION,
        export_id: export,
        exported_at,
        organization: organization.into(),
        parts: Part::ALL.to_vec(),
    };
    let mut writer = BundleWriter::start(sink, &header).await?;
    let mut after: Option<DocumentId> = None;
    let mut documents = 0;
    loop {
        let page = store
            .snapshot_page(&organization.id, &export, after.as_ref(), DOCUMENT_PAGE)
            .await?;
        for document in &page.documents {
            writer.line(&Line::document(document)).await?;
        }
        documents += page.documents.len() as u64;
        progress(documents);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    write_roster(store, &mut writer, &roster).await?;
    let mut after = None;
    loop {
        let events = store
            .list_audit_events(&organization.id, after.as_ref(), AUDIT_PAGE)
            .await?;
        for event in events.iter().filter(|e| e.at <= exported_at) {
            writer.line(&Line::AuditEvent(event.into())).await?;
        }
        match events.last() {
            Some(last) if events.len() == AUDIT_PAGE => after = Some(last.id),
            _ => break,
        }
    }
    Ok(writer.finish().await?)
}

/// Members with their emails, invitations, API keys and webhooks: metadata only.
async fn write_roster<S: MemberStore, K: BundleSink>(
    store: &S,
    writer: &mut BundleWriter<K>,
    roster: &Roster,
) -> Result<(), StoreError> {
    let ids: Vec<_> = roster.members.iter().map(|m| m.user_id).collect();
    let users = store.find_users(&ids).await?;
    for member in &roster.members {
        // A member whose user is gone meanwhile has nothing to export.
        if let Some(user) = users.iter().find(|u| u.id == member.user_id) {
            let line = crate::bundle::MemberLine::new(member, &user.email);
            writer.line(&Line::Member(line)).await?;
        }
    }
    for invitation in &roster.invitations {
        writer.line(&Line::Invitation(invitation.into())).await?;
    }
    for key in &roster.api_keys {
        writer.line(&Line::ApiKey(key.into())).await?;
    }
    for endpoint in &roster.webhooks {
        writer.line(&Line::Webhook(endpoint.into())).await?;
    }
    Ok(())
}

pub mod job;

#[cfg(test)]
mod tests;
