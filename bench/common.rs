//! What the storage benches share: an organization created through the port, as the service
//! would (minus password hashing, which costs the same whatever the storage).

use chrono::Utc;
use orgsvc_domain::ports::{Founder, OrganizationStore};
use orgsvc_domain::{
    EmailAddress, Organization, OrganizationId, OrganizationName, OwnerSummary, PasswordHash, User,
    UserId,
};

/// Creates the organization `Bench <label>` with the admin `admin<label>@bench.io`.
pub async fn create_organization(store: &impl OrganizationStore, label: &str) -> Organization {
    let now = Utc::now();
    let id = OrganizationId::generate();
    let email = EmailAddress::new(&format!("admin{label}@bench.io")).unwrap();
    let organization = Organization {
        id,
        name: OrganizationName::new(&format!("Bench {label}")).unwrap(),
        placement: store.place_new_organization(&id).await.unwrap(),
        owner: OwnerSummary {
            id: UserId::generate(),
            email: email.clone(),
        },
        created_at: now,
        updated_at: now,
    };
    let admin = User {
        id: organization.owner.id,
        email,
        password_hash: PasswordHash::from_phc("$argon2id$bench".into()),
        created_at: now,
        token_version: 0,
    };
    store
        .create_organization(&organization, Founder::New(&admin))
        .await
        .unwrap();
    organization
}
