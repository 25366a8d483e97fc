//! What must hold once the load is over and the survivors have settled.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mongodb::bson::{doc, Document};
use reqwest::StatusCode;
use serde_json::Value;

use super::clients::Tenant;
use crate::process::{find_all, location_of, Deployment, Place, Service, SHARED};

/// Every acknowledged write (by organization id) is in its organization's current collection
/// and nowhere else; a deleted organization's are nowhere. Returns how many were checked.
pub async fn every_acknowledged_write_is_where_it_belongs(
    deployment: &Deployment,
    tenants: &[Tenant],
    acked: &BTreeMap<String, BTreeSet<String>>,
) -> usize {
    let (found, _) = documents_by_id(deployment).await;
    let organizations = organizations_by_id(deployment).await;
    let mut checked = 0;
    for tenant in tenants.iter() {
        let ids = acked.get(&tenant.id).cloned().unwrap_or_default();
        match organizations.get(&tenant.id) {
            None => {
                assert!(tenant.name.starts_with("Doomed"), "{} is gone", tenant.name);
                for id in &ids {
                    assert!(
                        !found.contains_key(id),
                        "{id} of deleted {} survives in {:?}",
                        tenant.name,
                        found[id]
                    );
                }
            }
            Some(organization) => {
                assert!(!tenant.name.starts_with("Doomed"), "{} lives", tenant.name);
                let location = location_of(organization);
                for id in &ids {
                    assert_eq!(
                        found.get(id),
                        Some(&vec![location.clone()]),
                        "acknowledged write {id} of {} (now at {location:?})",
                        tenant.name
                    );
                    checked += 1;
                }
            }
        }
    }

    checked
}

/// Where every document is, by id: each place that holds a copy, and for documents in the
/// shared collection, the organization they are tagged with.
async fn documents_by_id(
    deployment: &Deployment,
) -> (BTreeMap<String, Vec<Place>>, BTreeMap<String, String>) {
    let mut found: BTreeMap<String, Vec<Place>> = BTreeMap::new();
    let mut tags = BTreeMap::new();
    for place in deployment.collections().await {
        for document in deployment.documents_at(&place).await {
            let id = document.get_str("_id").unwrap().to_owned();
            if let Ok(organization) = document.get_str("org_id") {
                tags.insert(id.clone(), organization.to_owned());
            }
            found.entry(id).or_default().push(place.clone());
        }
    }
    (found, tags)
}

async fn organizations_by_id(deployment: &Deployment) -> BTreeMap<String, Document> {
    find_all(&deployment.master_db().collection("organizations"), doc! {})
        .await
        .into_iter()
        .map(|o| (o.get_str("_id").unwrap().to_owned(), o))
        .collect()
}

/// The survivors answer alike for every organization, once their caches have expired
/// (cache.ttl_ms: 1 s): the same `GET /org/get`, the same document list, which is what the
/// database holds.
pub async fn the_survivors_answer_alike(
    deployment: &Deployment,
    survivors: &[&Service],
    tenants: &[Tenant],
) {
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (found, tags) = documents_by_id(deployment).await;
    let organizations = organizations_by_id(deployment).await;
    for tenant in tenants.iter() {
        let name = organizations
            .get(&tenant.id)
            .map_or(tenant.name.clone(), |o| {
                o.get_str("name").unwrap().to_owned()
            });
        let mut answers = Vec::new();
        for service in survivors {
            let response = service
                .client
                .get(service.url("/org/get"))
                .query(&[("organization_name", &name)])
                .send()
                .await
                .unwrap();
            let status = response.status();
            let mut body: Value = response.json().await.unwrap();
            if let Some(body) = body.as_object_mut() {
                body.remove("request_id");
            }
            let documents = if organizations.contains_key(&tenant.id) {
                Some(service.document_ids(&tenant.token).await)
            } else {
                None
            };
            answers.push((status, body, documents));
        }
        let expected = if organizations.contains_key(&tenant.id) {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        assert_eq!(answers[0].0, expected, "{name}: {}", answers[0].1);
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "the survivors disagree on {name}: {answers:?}"
        );
        if let Some(location) = organizations.get(&tenant.id).map(location_of) {
            let stored: BTreeSet<String> = found
                .iter()
                .filter(|(id, at)| {
                    at.contains(&location)
                        && (location.2 != SHARED || tags.get(*id) == Some(&tenant.id))
                })
                .map(|(id, _)| id.clone())
                .collect();
            assert_eq!(answers[0].2.as_ref(), Some(&stored), "{name}");
        }
    }
}
