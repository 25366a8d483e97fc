//! One organization's outbox bookkeeping, as the single-writer stores (the embedded store and
//! the fakes) keep it: how far its events go, when it is due, who holds it. The MongoDB
//! adapter keeps the same fields in a document and makes each of these steps one atomic
//! update, so that the rules are the same everywhere.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{OutboxProgress, Replay, MAX_REPLAYS};

/// Who works an organization's deliveries, until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimHold {
    pub owner: String,
    pub until: DateTime<Utc>,
}

/// An organization's outbox: its last event's `seq`, when it is due, its claim and its
/// endpoints' progress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxState {
    pub head: u64,
    /// Due from then on (`None`: not before something happens). "At once" is the earliest
    /// time a store can keep (the epoch), so that no clock is needed to say it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<ClaimHold>,
    #[serde(default)]
    pub progress: OutboxProgress,
}

impl OutboxState {
    /// Takes `count` more events; answers the first one's `seq`.
    pub const fn append(&mut self, count: u64) -> u64 {
        let first = self.head + 1;
        self.head += count;
        self.due_at = Some(DateTime::<Utc>::UNIX_EPOCH);
        first
    }

    /// Whether a worker may claim it at `now`.
    #[must_use]
    pub fn claimable(&self, now: DateTime<Utc>) -> bool {
        self.due_at.is_some_and(|due| due <= now)
            && self.claim.as_ref().is_none_or(|hold| hold.until <= now)
    }

    pub fn take(&mut self, owner: &str, until: DateTime<Utc>) {
        self.claim = Some(ClaimHold {
            owner: owner.to_owned(),
            until,
        });
    }

    #[must_use]
    pub fn held_by(&self, owner: &str) -> bool {
        self.claim.as_ref().is_some_and(|hold| hold.owner == owner)
    }

    /// Ends `owner`'s claim, which was taken when the head was `claimed_head` and
    /// `replays_read` replay requests were waiting, writing `progress` back; `false` (and
    /// nothing written) when someone else holds it now.
    pub fn release(
        &mut self,
        owner: &str,
        claimed_head: u64,
        replays_read: usize,
        progress: &OutboxProgress,
        wake: Option<DateTime<Utc>>,
    ) -> bool {
        if !self.held_by(owner) {
            return false;
        }
        let mut replays = std::mem::take(&mut self.progress.replays);
        replays.drain(..replays_read.min(replays.len()));
        self.progress = OutboxProgress {
            endpoints: progress.endpoints.clone(),
            replays,
        };
        self.claim = None;
        self.due_at = if self.head != claimed_head || !self.progress.replays.is_empty() {
            Some(DateTime::<Utc>::UNIX_EPOCH)
        } else {
            wake
        };
        true
    }

    /// Queues `replay` and makes the organization due at once; `false` when full.
    pub fn request_replay(&mut self, replay: &Replay) -> bool {
        if self.progress.replays.len() >= MAX_REPLAYS {
            return false;
        }
        self.progress.replays.push(replay.clone());
        self.due_at = Some(DateTime::<Utc>::UNIX_EPOCH);
        true
    }
}
