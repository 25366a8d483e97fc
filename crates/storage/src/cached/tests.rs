//! The renewal hand-off, on a cache of its own: an entry is made due by its read time, well
//! within its time to live, so nothing here waits for a clock.

use super::*;

const TTL: Duration = Duration::from_secs(60);

/// A cache holding "old" for key 1, read three quarters of its life ago: due for renewal.
fn due() -> Cache<u32, Stamped<&'static str>> {
    let cache = Cache::builder().time_to_live(TTL).build();
    cache.insert(
        1,
        Stamped {
            value: "old",
            read_at: Instant::now() - TTL * 3 / 4,
            refreshing: Arc::default(),
        },
    );
    cache
}

/// What `cached` makes of key 1 after one renewal whose read gives `read`.
async fn after_renewal(
    cached: &Cached<()>,
    cache: &Cache<u32, Stamped<&'static str>>,
    read: impl Future<Output = Result<Option<&'static str>, StoreError>>,
) -> (
    Result<Option<&'static str>, StoreError>,
    Lookup<&'static str>,
) {
    let Lookup::Refresh(stale) = cached.lookup(cache, &1) else {
        panic!("the first reader past half the time to live renews the entry");
    };
    assert!(
        matches!(cached.lookup(cache, &1), Lookup::Fresh("old")),
        "only one reader renews at a time"
    );
    let keep = |value: &&'static str| cache.insert(1, Stamped::new(*value));
    let answer = cached
        .reread("test", cache, Some((1, stale)), read, keep)
        .await;
    (answer, cached.lookup(cache, &1))
}

#[tokio::test]
async fn a_renewal_is_kept() {
    let cached = Cached::new((), TTL);
    let cache = due();
    let (answer, next) = after_renewal(&cached, &cache, async { Ok(Some("new")) }).await;
    assert_eq!(answer.unwrap(), Some("new"));
    assert!(matches!(next, Lookup::Fresh("new")));
}

#[tokio::test]
async fn a_renewal_overtaken_by_an_invalidation_goes_to_the_next_reader() {
    let cached = Cached::new((), TTL);
    let cache = due();
    // While it reads, this instance changes something (another user): what the read found may
    // predate that change, so it is answered but not kept, and the entry is due again.
    let read = async {
        cached.forget_user(&UserId::generate());
        Ok(Some("new"))
    };
    let (answer, next) = after_renewal(&cached, &cache, read).await;
    assert_eq!(answer.unwrap(), Some("new"));
    assert!(matches!(next, Lookup::Refresh("old")));
}

#[tokio::test]
async fn a_failed_renewal_answers_the_cached_value_and_goes_to_the_next_reader() {
    let cached = Cached::new((), TTL);
    let cache = due();
    let read = async { Err(StoreError::Unavailable(anyhow::anyhow!("down"))) };
    let (answer, next) = after_renewal(&cached, &cache, read).await;
    assert_eq!(answer.unwrap(), Some("old"));
    assert!(matches!(next, Lookup::Refresh("old")));
}

#[tokio::test]
async fn an_entry_gone_from_the_store_is_forgotten() {
    let cached = Cached::new((), TTL);
    let cache = due();
    let (answer, next) = after_renewal(&cached, &cache, async { Ok(None) }).await;
    assert_eq!(answer.unwrap(), None);
    assert!(matches!(next, Lookup::Miss));
}
