//! Signed webhooks: what happened to an organization, told to the endpoints its owners and
//! admins registered.
//!
//! Every committed change of an organization, its roster or its placement yields its events in
//! the same atomic write as the change itself (the adapters' outbox), numbered per organization
//! in commit order (`seq`). A delivery worker ([`crate::service::webhooks`]) then sends each
//! endpoint the events it subscribes to, in that order, signed per the Standard Webhooks
//! specification, retrying on a schedule; the event's id is its `webhook-id` and never
//! changes, so receivers can drop what they saw before. Endpoints live in the roster, like API
//! keys: they follow it through renames and moves and go with it.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::ids::{OrganizationId, UserId, WebhookId};

mod events;
mod progress;
mod state;

pub use events::roster_events;
pub use progress::{
    retry_delay, AttemptOutcome, DeliveryRecord, EndpointProgress, OutboxClaim, OutboxProgress,
    Replay, KEPT_DELIVERIES, MAX_ATTEMPTS, MAX_REPLAYS,
};
pub use state::{ClaimHold, OutboxState};

/// Most endpoints an organization can register.
pub const MAX_ENDPOINTS: usize = 10;
/// Longest endpoint URL, in bytes.
pub const MAX_URL_BYTES: usize = 2_048;
/// How long a rotated-out secret still signs (both signatures are sent meanwhile), so that
/// receivers can switch without missing a delivery.
pub const SECRET_OVERLAP_HOURS: i64 = 24;
/// How long events are kept for deliveries and replays.
pub const EVENT_RETENTION_DAYS: i64 = 7;
/// After this long without one successful delivery an endpoint is disabled.
pub const DISABLE_AFTER_HOURS: i64 = 24;

/// Declares [`EventType`] from one list, so that [`EventType::ALL`] cannot miss one.
macro_rules! event_types {
    ($($variant:ident => $name:literal,)+) => {
        /// What happened. The wire name is stable.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $($variant,)+
        }

        impl EventType {
            pub const ALL: &[Self] = &[$(Self::$variant,)+];

            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }
    };
}

event_types! {
    OrganizationCreated => "organization.created",
    OrganizationRenamed => "organization.renamed",
    OrganizationMoved => "organization.moved",
    OrganizationDeleted => "organization.deleted",
    MemberJoined => "member.joined",
    MemberRoleChanged => "member.role_changed",
    MemberRemoved => "member.removed",
    InvitationCreated => "invitation.created",
    InvitationAccepted => "invitation.accepted",
    InvitationRevoked => "invitation.revoked",
    ApiKeyCreated => "api_key.created",
    ApiKeyRotated => "api_key.rotated",
    ApiKeyRevoked => "api_key.revoked",
    EndpointCreated => "webhook_endpoint.created",
    EndpointUpdated => "webhook_endpoint.updated",
    EndpointDeleted => "webhook_endpoint.deleted",
}

impl EventType {
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == raw)
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event types an endpoint subscribes to; empty means every type, also ones added later.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventFilter(u32);

impl EventFilter {
    #[must_use]
    pub const fn matches(self, event: EventType) -> bool {
        self.0 == 0 || self.0 & event.bit() != 0
    }

    #[must_use]
    pub const fn is_all(self) -> bool {
        self.0 == 0
    }

    /// In [`EventType::ALL`]'s order; empty for "every type".
    pub fn iter(self) -> impl Iterator<Item = EventType> {
        EventType::ALL
            .iter()
            .copied()
            .filter(move |t| self.0 & t.bit() != 0)
    }
}

impl FromIterator<EventType> for EventFilter {
    fn from_iter<I: IntoIterator<Item = EventType>>(types: I) -> Self {
        Self(types.into_iter().fold(0, |bits, t| bits | t.bit()))
    }
}

/// Whether deliveries may go to loopback, private, link-local and metadata addresses, and over
/// plain `http` (for tests and closed networks; off by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    pub allow_private_targets: bool,
}

/// Whether `ip` is one a webhook may reach without [`TargetPolicy::allow_private_targets`]:
/// not loopback, private, link-local (which holds the cloud metadata address 169.254.169.254),
/// shared, unspecified, multicast, documentation or unique-local.
#[must_use]
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Where an endpoint receives deliveries: an absolute `https` URL (or `http` where the policy
/// allows private targets), no credentials in it, no fragment. A host given as an address must
/// be public unless allowed; names are checked again at every delivery, on the addresses they
/// resolve to then, so a name that turns private later is refused as well.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// # Errors
    /// A message saying what is wrong with it.
    pub fn new(raw: &str, policy: TargetPolicy) -> Result<Self, &'static str> {
        if raw.len() > MAX_URL_BYTES {
            return Err("must be at most 2048 bytes");
        }
        let url = url::Url::parse(raw).map_err(|_| "must be an absolute URL")?;
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_private_targets => {}
            _ => return Err("must use https"),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not hold credentials");
        }
        if url.fragment().is_some() {
            return Err("must not have a fragment");
        }
        let refused = match url.host() {
            None => return Err("must name a host"),
            Some(url::Host::Ipv4(ip)) => !is_public(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => !is_public(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => {
                name.eq_ignore_ascii_case("localhost") || name.ends_with(".localhost")
            }
        };
        if refused && !policy.allow_private_targets {
            return Err("must not point at a loopback, private or link-local address");
        }
        Ok(Self(url.into()))
    }

    /// A URL as it was stored (checked when it was registered).
    #[must_use]
    pub const fn stored(url: String) -> Self {
        Self(url)
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A signing secret: `whsec_` and the base64 of 32 random bytes, as Standard Webhooks
/// libraries take it. It has to be kept as it is (an HMAC key cannot be a digest).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    pub const PREFIX: &str = "whsec_";

    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the operating system's random generator answers");
        Self(format!(
            "{}{}",
            Self::PREFIX,
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    #[must_use]
    pub const fn stored(secret: String) -> Self {
        Self(secret)
    }

    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The HMAC key: the decoded part after the prefix (`None` for a corrupt secret).
    #[must_use]
    pub fn key(&self) -> Option<Vec<u8>> {
        let encoded = self.0.strip_prefix(Self::PREFIX)?;
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// One of an endpoint's secrets: the current one has no end; a rotated-out one signs until
/// `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSecret {
    pub secret: WebhookSecret,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// An endpoint as the roster keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: WebhookId,
    pub url: WebhookUrl,
    pub events: EventFilter,
    pub enabled: bool,
    /// Newest first; the first one is current.
    pub secrets: Vec<EndpointSecret>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Why the worker disabled it (`None` when an admin did, or it is enabled).
    pub disabled_reason: Option<String>,
}

impl WebhookEndpoint {
    /// The secrets that sign a delivery made at `now`: the current one and any rotated out
    /// less than [`SECRET_OVERLAP_HOURS`] ago.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> impl Iterator<Item = &WebhookSecret> {
        self.secrets
            .iter()
            .filter(move |s| s.expires_at.is_none_or(|end| end > now))
            .map(|s| &s.secret)
    }
}

/// One event of an organization's outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookEvent {
    pub organization_id: OrganizationId,
    /// 1 for the organization's first event, then one more per event, in commit order.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub event_type: EventType,
    pub data: Map<String, Value>,
}

impl WebhookEvent {
    /// The `webhook-id`: the same for every attempt and every replay of this event.
    #[must_use]
    pub fn id(&self) -> String {
        format!(
            "evt_{}_{}",
            self.organization_id.as_uuid().simple(),
            self.seq
        )
    }

    /// The body sent: `{"type", "timestamp", "data"}`, the shape Standard Webhooks suggests,
    /// with the organization's id in `data`.
    #[must_use]
    pub fn payload(&self) -> Vec<u8> {
        let mut data = self.data.clone();
        data.insert(
            "organization_id".to_owned(),
            Value::String(self.organization_id.to_string()),
        );
        let body = serde_json::json!({
            "type": self.event_type.as_str(),
            "timestamp": self.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "data": data,
        });
        serde_json::to_vec(&body).expect("a JSON value serializes")
    }
}

/// An event that is about to be committed, before the store numbers it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub event_type: EventType,
    pub data: Map<String, Value>,
}

impl NewEvent {
    #[must_use]
    pub fn new(event_type: EventType, data: Value) -> Self {
        let data = match data {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Self { event_type, data }
    }

    /// Numbers it as the organization's event `seq`, committed at `at`.
    #[must_use]
    pub fn numbered(
        self,
        organization_id: OrganizationId,
        seq: u64,
        at: DateTime<Utc>,
    ) -> WebhookEvent {
        WebhookEvent {
            organization_id,
            seq,
            at,
            event_type: self.event_type,
            data: self.data,
        }
    }
}

#[cfg(test)]
mod tests;
