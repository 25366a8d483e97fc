//! The domain's in-memory fake, held to the same contract as the real stores: the domain's unit
//! tests trust it to behave like them.

use orgsvc_domain::fakes::FakeStore;

pub struct Fake {
    pub store: FakeStore,
}

#[allow(clippy::unused_async)]
async fn make(_test: &str) -> Option<Fake> {
    Some(Fake {
        store: FakeStore::default(),
    })
}

all_contract_tests!(make);
