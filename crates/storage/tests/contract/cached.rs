//! The cache in front of a store keeps every promise of the port (the whole contract, with a
//! time to live long enough that every read after the first is a hit), and shows changes made
//! behind its back (by another instance) within its time to live: from half of it on, the next
//! read of an entry renews it.

use std::time::Duration;

use orgsvc_domain::ports::OrganizationStore;
use orgsvc_domain::OrganizationName;
use orgsvc_storage::{Cached, EmbeddedStore};
use tempfile::TempDir;

use crate::suite;

pub struct CachedEmbedded {
    pub store: Cached<EmbeddedStore>,
    _dir: TempDir,
}

async fn make(_test: &str) -> Option<CachedEmbedded> {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("orgsvc.redb")).unwrap();
    Some(CachedEmbedded {
        store: Cached::new(store, Duration::from_secs(60)),
        _dir: dir,
    })
}

all_contract_tests!(make);

/// The admin's token version, and the name of the organization found by its original slug.
async fn read(
    store: &Cached<EmbeddedStore>,
    organization: &orgsvc_domain::Organization,
) -> (u64, Option<String>) {
    let admin = store
        .find_user_by_id(&organization.owner.id)
        .await
        .unwrap()
        .unwrap();
    let found = store
        .find_organization_by_slug(organization.slug())
        .await
        .unwrap();
    (admin.token_version, found.map(|o| o.name.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_behind_the_cache_show_within_its_time_to_live() {
    // Long enough for the reads below to come before half of it has passed, on a busy machine.
    let ttl = Duration::from_secs(4);
    let dir = tempfile::tempdir().unwrap();
    let other_instance = EmbeddedStore::open(&dir.path().join("orgsvc.redb")).unwrap();
    let this_instance = Cached::new(other_instance.clone(), ttl);
    let (organization, _) = suite::create_with_document(&this_instance, "Acme", "a@acme.io").await;
    let admin = organization.owner.id;
    assert_eq!(
        read(&this_instance, &organization).await,
        (0, Some("Acme".into()))
    );

    // Another instance revokes the admin's tokens and renames the organization.
    other_instance.revoke_tokens(&admin).await.unwrap();
    let mut rename = suite::change(&organization, "Globex");
    rename.name = OrganizationName::new("Globex").unwrap();
    other_instance.update_organization(&rename).await.unwrap();

    // Until half the time to live has passed this instance answers from memory (the cache is
    // really used)...
    assert_eq!(
        read(&this_instance, &organization).await,
        (0, Some("Acme".into()))
    );
    // ...and from then on, before the entries expire, the next read renews them from the store.
    tokio::time::sleep(ttl / 2 + Duration::from_millis(100)).await;
    assert_eq!(read(&this_instance, &organization).await, (1, None));
    let renamed = this_instance
        .find_organization_by_slug(rename.name.slug())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.id, organization.id);
    // Another organization takes the old name: the old name now leads to it, not to the one
    // this instance last saw under it.
    let (successor, _) = suite::create_with_document(&other_instance, "Acme", "b@acme.io").await;
    let found = this_instance
        .find_organization_by_slug(organization.slug())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, successor.id);

    // Its own changes it sees at once, whatever is cached.
    this_instance.revoke_tokens(&admin).await.unwrap();
    assert_eq!(read(&this_instance, &organization).await.0, 2);
    this_instance
        .delete_organization(&organization.id, &crate::suite::deletion())
        .await
        .unwrap();
    assert!(this_instance
        .find_organization_by_id(&organization.id)
        .await
        .unwrap()
        .is_none());
}
