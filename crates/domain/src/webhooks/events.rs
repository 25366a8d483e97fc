//! Which events a change yields. Roster events are read off the difference between the roster
//! a change started from and the one it writes: a roster write succeeds only at the version it
//! was read at, so that difference is exactly what the commit changed, and nothing a change
//! does to the roster can go untold.

use serde_json::json;

use super::{EventType, NewEvent, WebhookEndpoint};
use crate::ids::DeletionReceiptId;
use crate::members::{InvitationState, Roster};
use crate::organization::{Organization, Placement};

impl NewEvent {
    #[must_use]
    pub fn organization_created(organization: &Organization) -> Self {
        Self::new(
            EventType::OrganizationCreated,
            json!({
                "name": organization.name.as_str(),
                "created_at": organization.created_at,
                "owner_id": organization.owner.id.to_string(),
            }),
        )
    }

    #[must_use]
    pub fn organization_renamed(previous_name: &str, name: &str) -> Self {
        Self::new(
            EventType::OrganizationRenamed,
            json!({"name": name, "previous_name": previous_name}),
        )
    }

    #[must_use]
    pub fn organization_moved(from: &Placement, to: &Placement) -> Self {
        let placement = |p: &Placement| json!({"cluster": p.cluster, "database": p.database, "tenancy_model": p.model.as_str()});
        Self::new(
            EventType::OrganizationMoved,
            json!({"from": placement(from), "to": placement(to)}),
        )
    }

    /// With the id of the deletion's receipt: whoever follows the events learns it even when
    /// the answer to the delete never reached the one who asked (a killed process, a lost
    /// connection); the receipt is then fetched from `/org/deletion-receipts/{id}`. None (null)
    /// only for a delete that a release without receipts started.
    #[must_use]
    pub fn organization_deleted(name: &str, receipt: Option<&DeletionReceiptId>) -> Self {
        Self::new(
            EventType::OrganizationDeleted,
            json!({"name": name, "receipt_id": receipt.map(ToString::to_string)}),
        )
    }
}

fn endpoint_data(endpoint: &WebhookEndpoint) -> serde_json::Value {
    json!({
        "endpoint_id": endpoint.id.to_string(),
        "url": endpoint.url.as_str(),
        "enabled": endpoint.enabled,
    })
}

/// The events of a roster change from `before` to `after`, in a fixed order: members,
/// invitations, API keys, endpoints. A change that only records use (a key's `last_used_at`)
/// yields none.
#[must_use]
pub fn roster_events(before: &Roster, after: &Roster) -> Vec<NewEvent> {
    let mut events = Vec::new();
    for member in &after.members {
        match before.role_of(&member.user_id) {
            None => events.push(NewEvent::new(
                EventType::MemberJoined,
                json!({"user_id": member.user_id.to_string(), "role": member.role.as_str()}),
            )),
            Some(previous) if previous != member.role => events.push(NewEvent::new(
                EventType::MemberRoleChanged,
                json!({
                    "user_id": member.user_id.to_string(),
                    "role": member.role.as_str(),
                    "previous_role": previous.as_str(),
                }),
            )),
            Some(_) => {}
        }
    }
    for member in &before.members {
        if after.role_of(&member.user_id).is_none() {
            events.push(NewEvent::new(
                EventType::MemberRemoved,
                json!({"user_id": member.user_id.to_string(), "role": member.role.as_str()}),
            ));
        }
    }
    for invitation in &after.invitations {
        let was = before.invitations.iter().find(|i| i.id == invitation.id);
        let data = |extra: serde_json::Value| {
            let mut data = json!({
                "invitation_id": invitation.id.to_string(),
                "email": invitation.email.as_str(),
                "role": invitation.role.as_str(),
            });
            if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
                data.extend(extra);
            }
            data
        };
        let event = match (was.map(|i| &i.state), &invitation.state) {
            (None, InvitationState::Pending) => Some((
                EventType::InvitationCreated,
                data(json!({"expires_at": invitation.expires_at})),
            )),
            (Some(InvitationState::Pending) | None, InvitationState::Accepted { user_id, .. }) => {
                Some((
                    EventType::InvitationAccepted,
                    data(json!({"user_id": user_id.to_string()})),
                ))
            }
            (Some(InvitationState::Pending) | None, InvitationState::Revoked { .. }) => {
                Some((EventType::InvitationRevoked, data(json!({}))))
            }
            _ => None,
        };
        if let Some((event_type, data)) = event {
            events.push(NewEvent::new(event_type, data));
        }
    }
    for key in &after.api_keys {
        let key_data = || {
            json!({
                "api_key_id": key.id.to_string(),
                "name": key.name.as_str(),
                "scopes": key.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            })
        };
        match before.api_key(&key.id) {
            None => events.push(NewEvent::new(EventType::ApiKeyCreated, key_data())),
            Some(was) if was.secret_digest != key.secret_digest => {
                events.push(NewEvent::new(EventType::ApiKeyRotated, key_data()));
            }
            Some(_) => {}
        }
    }
    for key in &before.api_keys {
        if after.api_key(&key.id).is_none() {
            events.push(NewEvent::new(
                EventType::ApiKeyRevoked,
                json!({"api_key_id": key.id.to_string(), "name": key.name.as_str()}),
            ));
        }
    }
    for endpoint in &after.webhooks {
        match before.webhook(&endpoint.id) {
            None => events.push(NewEvent::new(
                EventType::EndpointCreated,
                endpoint_data(endpoint),
            )),
            Some(was) if was != endpoint => events.push(NewEvent::new(
                EventType::EndpointUpdated,
                endpoint_data(endpoint),
            )),
            Some(_) => {}
        }
    }
    for endpoint in &before.webhooks {
        if after.webhook(&endpoint.id).is_none() {
            events.push(NewEvent::new(
                EventType::EndpointDeleted,
                endpoint_data(endpoint),
            ));
        }
    }
    events
}
