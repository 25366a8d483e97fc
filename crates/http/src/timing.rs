//! Answers that an email is taken take as long as answers that it was free.
//!
//! A create with a free email writes an organization (on MongoDB a transaction and a new
//! collection); one with a taken email stops before writing. Both hash the password first, but
//! the write alone kept the taken answer 14 ms faster on MongoDB (`bench/enumeration`), which
//! tells anyone which emails have accounts. So each route keeps a running median of how long its
//! successes take, and holds a "taken" answer back until that much time has passed since the
//! request began. Holding is a timer, not work; it is bounded by [`MAX_HOLD`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest a "taken" answer is held: past that a slow database shows anyway, and a
/// connection is not kept waiting for it.
pub const MAX_HOLD: Duration = Duration::from_secs(1);

/// The least a sample moves the estimate, so that it can leave 0 µs-scale values.
const MIN_STEP_MICROS: u64 = 50;

/// How long one route's successful answers typically take.
#[derive(Debug, Default)]
pub struct TypicalTime {
    /// A running estimate of the median, in microseconds; 0 before any sample.
    micros: AtomicU64,
}

impl TypicalTime {
    /// Records a success that began at `started`.
    pub fn record(&self, started: Instant) {
        let sample = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let _ = self
            .micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |median| {
                // A step of a sixteenth towards each sample (never past it) settles on the
                // median: a mean would be pulled up by the slow tail and hold answers longer
                // than most successes take.
                let step = (median / 16).max(MIN_STEP_MICROS);
                Some(match median {
                    0 => sample,
                    _ if sample > median => median + step.min(sample - median),
                    _ => median - step.min(median - sample),
                })
            });
    }

    /// How long a typical success takes (zero before the first).
    #[must_use]
    pub fn typical(&self) -> Duration {
        Duration::from_micros(self.micros.load(Ordering::Relaxed)).min(MAX_HOLD)
    }

    /// Waits until a typical success's time has passed since `started`.
    pub async fn hold(&self, started: Instant) {
        let remaining = self.typical().saturating_sub(started.elapsed());
        if !remaining.is_zero() {
            tokio::time::sleep(remaining).await;
        }
    }
}

/// The typical times of the routes that can answer "email taken".
#[derive(Debug, Default)]
pub struct EmailAnswers {
    pub create: TypicalTime,
    pub update: TypicalTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ago(millis: u64) -> Instant {
        Instant::now()
            .checked_sub(Duration::from_millis(millis))
            .unwrap()
    }

    #[test]
    fn the_estimate_settles_on_the_median_and_is_bounded() {
        let time = TypicalTime::default();
        assert_eq!(time.typical(), Duration::ZERO);
        // Mostly 20 ms, one in four 200 ms: the mean would be 65 ms.
        for n in 0..400 {
            time.record(ago(if n % 4 == 0 { 200 } else { 20 }));
        }
        let typical = time.typical();
        assert!(
            typical >= Duration::from_millis(18) && typical < Duration::from_millis(40),
            "{typical:?}"
        );
        for _ in 0..400 {
            time.record(ago(30_000));
        }
        assert_eq!(time.typical(), MAX_HOLD);
    }

    #[actix_web::test]
    async fn a_hold_lasts_until_a_typical_success_would_have_answered() {
        let time = TypicalTime::default();
        time.micros.store(20_000, Ordering::Relaxed);
        let started = Instant::now();
        time.hold(started).await;
        assert!(started.elapsed() >= Duration::from_millis(20));
    }
}
