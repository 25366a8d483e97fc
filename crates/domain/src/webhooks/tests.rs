use std::net::IpAddr;
use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::*;
use crate::members::Roster;

fn strict() -> TargetPolicy {
    TargetPolicy::default()
}

fn open() -> TargetPolicy {
    TargetPolicy {
        allow_private_targets: true,
    }
}

#[test]
fn urls_must_be_https_to_public_hosts_unless_private_targets_are_allowed() {
    assert!(WebhookUrl::new("https://hooks.example.com/in?x=1", strict()).is_ok());
    for refused in [
        "http://hooks.example.com/",
        "https://127.0.0.1/",
        "https://10.1.2.3/",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/",
        "https://[fd00::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://localhost:8443/",
        "https://a.localhost/",
        "https://user:pw@hooks.example.com/",
        "https://hooks.example.com/#frag",
        "ftp://hooks.example.com/",
        "not a url",
    ] {
        assert!(WebhookUrl::new(refused, strict()).is_err(), "{refused}");
    }
    assert!(WebhookUrl::new("http://127.0.0.1:9000/hook", open()).is_ok());
    assert!(WebhookUrl::new("https://user:pw@127.0.0.1/", open()).is_err());
    let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
    assert!(WebhookUrl::new(&long, open()).is_err());
}

#[test]
fn public_addresses_are_told_from_internal_ones() {
    for public in [
        "93.184.216.34",
        "2606:2800:220:1:248:1893:25c8:1946",
        "8.8.8.8",
    ] {
        assert!(is_public(public.parse::<IpAddr>().unwrap()), "{public}");
    }
    for internal in [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "198.18.0.1",
        "240.0.0.1",
    ] {
        assert!(
            !is_public(internal.parse::<IpAddr>().unwrap()),
            "{internal}"
        );
    }
}

#[test]
fn an_empty_filter_takes_every_type_and_a_set_takes_only_its_own() {
    let all = EventFilter::default();
    assert!(EventType::ALL.iter().all(|t| all.matches(*t)));
    let some: EventFilter = [EventType::MemberJoined, EventType::OrganizationDeleted]
        .into_iter()
        .collect();
    assert!(some.matches(EventType::MemberJoined));
    assert!(!some.matches(EventType::MemberRemoved));
    assert_eq!(
        some.iter().collect::<Vec<_>>(),
        [EventType::OrganizationDeleted, EventType::MemberJoined]
    );
    for t in EventType::ALL {
        assert_eq!(EventType::parse(t.as_str()), Some(*t));
    }
    assert!(EventType::ALL.len() <= 32, "the filter is a u32 bit set");
}

#[test]
fn retries_wait_three_times_longer_each_time_up_to_the_cap_plus_at_most_a_fifth() {
    let first = Duration::from_secs(5);
    let max = Duration::from_secs(3_600);
    assert_eq!(retry_delay(1, first, max, 0.0), Duration::from_secs(5));
    assert_eq!(retry_delay(2, first, max, 0.0), Duration::from_secs(15));
    assert_eq!(retry_delay(3, first, max, 0.0), Duration::from_secs(45));
    assert_eq!(retry_delay(9, first, max, 0.0), max);
    assert_eq!(retry_delay(1_000, first, max, 0.0), max);
    assert_eq!(retry_delay(1, first, max, 1.0), Duration::from_secs(6));
    assert_eq!(retry_delay(1, first, max, 7.0), Duration::from_secs(6));
}

#[test]
fn secrets_are_standard_webhooks_secrets_and_a_rotated_one_signs_for_the_overlap() {
    let secret = WebhookSecret::generate();
    assert!(secret.expose().starts_with("whsec_"));
    assert_eq!(secret.key().unwrap().len(), 32);
    assert_ne!(secret, WebhookSecret::generate());
    assert!(!format!("{secret:?}").contains(secret.expose()));

    let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let org = crate::OrganizationId::generate();
    let owner = crate::UserId::generate();
    let mut roster = Roster::founded(org, owner, at);
    let endpoint = WebhookEndpoint {
        id: WebhookId::generate(),
        url: WebhookUrl::new("https://hooks.example.com/", strict()).unwrap(),
        events: EventFilter::default(),
        enabled: true,
        secrets: vec![EndpointSecret {
            secret: secret.clone(),
            created_at: at,
            expires_at: None,
        }],
        created_by: owner,
        created_at: at,
        updated_at: at,
        disabled_reason: None,
    };
    roster.add_webhook(&owner, endpoint.clone()).unwrap();
    let fresh = WebhookSecret::generate();
    let rotated = roster
        .rotate_webhook_secret(&owner, &endpoint.id, fresh.clone(), at)
        .unwrap();
    let during: Vec<_> = rotated
        .signing_secrets(at + chrono::Duration::hours(23))
        .collect();
    assert_eq!(during, [&fresh, &secret]);
    let after: Vec<_> = rotated
        .signing_secrets(at + chrono::Duration::hours(25))
        .collect();
    assert_eq!(after, [&fresh]);
    // A second rotation drops the oldest at once: never more than two sign.
    let third = WebhookSecret::generate();
    let again = roster
        .rotate_webhook_secret(&owner, &endpoint.id, third.clone(), at)
        .unwrap();
    assert_eq!(
        again.signing_secrets(at).collect::<Vec<_>>(),
        [&third, &fresh]
    );
}

#[test]
fn roster_events_tell_exactly_what_changed() {
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let org = crate::OrganizationId::generate();
    let owner = crate::UserId::generate();
    let before = Roster::founded(org, owner, at);
    assert!(roster_events(&before, &before).is_empty());

    let mut after = before.clone();
    let joiner = crate::UserId::generate();
    after.members.push(crate::Member {
        user_id: joiner,
        role: crate::Role::Member,
        joined_at: at,
    });
    let events = roster_events(&before, &after);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::MemberJoined);
    assert_eq!(events[0].data["user_id"], joiner.to_string());

    let mut promoted = after.clone();
    promoted.members[1].role = crate::Role::Admin;
    let events = roster_events(&after, &promoted);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::MemberRoleChanged);
    assert_eq!(events[0].data["previous_role"], "member");
    assert_eq!(events[0].data["role"], "admin");

    let events = roster_events(&promoted, &before);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::MemberRemoved);
}

#[test]
fn events_keep_one_id_and_carry_their_organization() {
    let org = crate::OrganizationId::generate();
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let event = NewEvent::organization_renamed("Old", "New").numbered(org, 7, at);
    assert_eq!(event.id(), format!("evt_{}_7", org.as_uuid().simple()));
    let body: serde_json::Value = serde_json::from_slice(&event.payload()).unwrap();
    assert_eq!(body["type"], "organization.renamed");
    assert_eq!(body["timestamp"], "2026-03-01T00:00:00.000Z");
    assert_eq!(body["data"]["name"], "New");
    assert_eq!(body["data"]["previous_name"], "Old");
    assert_eq!(body["data"]["organization_id"], org.to_string());
}

#[test]
fn an_outbox_is_due_when_something_happened_and_claimed_by_one_worker_at_a_time() {
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let later = now + chrono::Duration::seconds(60);
    let mut state = OutboxState::default();
    assert!(!state.claimable(now));
    assert_eq!(state.append(2), 1);
    assert_eq!(state.append(1), 3);
    assert!(state.claimable(now));
    state.take("a", later);
    assert!(!state.claimable(now), "held");
    assert!(state.claimable(later), "the claim ran out");

    // A release by someone who no longer holds it writes nothing.
    let mut progress = OutboxProgress::default();
    progress
        .endpoints
        .insert(WebhookId::generate(), EndpointProgress::default());
    assert!(!state.release("b", 3, 0, &progress, None));
    assert!(state.progress.endpoints.is_empty());

    // Nothing new since the claim: due when the worker asked.
    assert!(state.release("a", 3, 0, &progress, Some(later)));
    assert_eq!(state.progress, progress);
    assert!(!state.claimable(now));
    assert!(state.claimable(later));

    // An event or a replay that came meanwhile makes it due at once.
    state.take("a", later);
    state.append(1);
    assert!(state.release("a", 3, 0, &progress, None));
    assert!(state.claimable(now));
    state.take("a", later);
    let replay = Replay::Since {
        endpoint: WebhookId::generate(),
        since: now,
    };
    let read = state.progress.replays.len();
    assert!(state.request_replay(&replay));
    assert!(state.release("a", 4, read, &progress, None));
    assert_eq!(
        state.progress.replays,
        std::slice::from_ref(&replay),
        "kept: the claim never read it"
    );
    assert!(state.claimable(now));
    state.take("a", later);
    assert!(state.release("a", 4, 1, &progress, None));
    assert!(state.progress.replays.is_empty());
    for _ in 0..MAX_REPLAYS {
        assert!(state.request_replay(&replay));
    }
    assert!(!state.request_replay(&replay), "bounded");
}
