//! Token buckets keyed by whatever is limited (a client address, an API key), in memory and per
//! instance, with a bound on how many keys are tracked.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

/// Keys tracked at once. Past that, buckets that have refilled (idle clients) are forgotten;
/// if every one is still in use, new keys are refused until some refill.
const MAX_TRACKED: usize = 100_000;

pub struct TokenBuckets<K> {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl<K: Hash + Eq> TokenBuckets<K> {
    /// `burst` requests at once after being idle, `per_second` sustained.
    #[must_use]
    pub fn new(burst: u32, per_second: f64) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            per_second: per_second.max(f64::MIN_POSITIVE),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or says how many seconds until one is there.
    ///
    /// # Errors
    /// The seconds to wait when the bucket is empty.
    pub fn take(&self, key: K, now: Instant) -> Result<(), u64> {
        let (burst, rate) = (self.burst, self.per_second);
        let refill = |bucket: Bucket| Bucket {
            tokens: (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst),
            at: now,
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&key) {
            buckets.retain(|_, bucket| refill(*bucket).tokens < burst);
            if buckets.len() >= MAX_TRACKED {
                return Err(1);
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        *bucket = refill(*bucket);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            // Whole seconds, rounded up: Retry-After has no fractions.
            let wait = ((1.0 - bucket.tokens) / rate).ceil();
            Err(if wait >= 1.0 { wait as u64 } else { 1 })
        }
    }
}
