//! The active fault of one service instance: set by a PUT, cleared by a DELETE, by a timer at
//! its TTL, or by whoever reads it first after that moment.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::time::Instant;

use super::spec::FaultSpec;

/// Cheap to clone: one slot shared by the admin handlers, the middleware and the consumers.
#[derive(Clone, Default)]
pub struct Faults {
    slot: Arc<Mutex<Slot>>,
}

#[derive(Default)]
struct Slot {
    active: Option<Active>,
    /// Bumped by every PUT, so that the timer of a replaced fault cannot clear its successor.
    generation: u64,
}

struct Active {
    spec: FaultSpec,
    /// Measured from the PUT. Tokio's clock, so that tests may pause it.
    expires: Instant,
    generation: u64,
}

/// The fault as the admin API shows it: the spec plus the time it has left.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveFault {
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Counting down, to a tenth of a second.
    pub expires_in_s: f64,
}

impl Faults {
    /// Replaces the whole fault with `spec` and schedules its end. Needs a Tokio runtime.
    pub fn set(&self, spec: FaultSpec) -> ActiveFault {
        let expires = Instant::now() + spec.ttl();
        let generation = {
            let mut slot = self.lock();
            slot.generation += 1;
            tracing::info!("fault set: {}", spec.summary());
            slot.active = Some(Active {
                spec: spec.clone(),
                expires,
                generation: slot.generation,
            });
            slot.generation
        };
        // The timer is what makes the end happen with nobody asking (a log line, a metric
        // scrape that no longer sees the dose); readers check the clock too, so a late
        // timer never serves an expired fault.
        let faults = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(expires).await;
            let mut slot = faults.lock();
            if slot
                .active
                .as_ref()
                .is_some_and(|a| a.generation == generation)
            {
                slot.active = None;
                tracing::info!("fault expired");
            }
        });
        ActiveFault {
            expires_in_s: spec.ttl().as_secs_f64(),
            spec,
        }
    }

    /// Removes the fault; `true` if there was one.
    pub fn clear(&self) -> bool {
        let mut slot = self.lock();
        // An expired fault is not "cleared": it had already ended.
        expire_if_due(&mut slot, Instant::now());
        let cleared = slot.active.take().is_some();
        if cleared {
            tracing::info!("fault cleared");
        }
        cleared
    }

    /// The active fault and its time left, `None` when there is none or it has expired.
    pub fn current(&self) -> Option<ActiveFault> {
        let mut slot = self.lock();
        let now = Instant::now();
        expire_if_due(&mut slot, now);
        slot.active.as_ref().map(|active| ActiveFault {
            spec: active.spec.clone(),
            expires_in_s: tenths(active.expires.saturating_duration_since(now).as_secs_f64()),
        })
    }

    /// The active spec without its countdown, for the request and consumer paths.
    pub fn active_spec(&self) -> Option<FaultSpec> {
        let mut slot = self.lock();
        expire_if_due(&mut slot, Instant::now());
        slot.active.as_ref().map(|active| active.spec.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        // Nothing panics while holding it; a poisoned slot is still a consistent one.
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn expire_if_due(slot: &mut Slot, now: Instant) {
    if slot.active.as_ref().is_some_and(|a| a.expires <= now) {
        slot.active = None;
        tracing::info!("fault expired");
    }
}

fn tenths(seconds: f64) -> f64 {
    (seconds * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn spec(body: serde_json::Value) -> FaultSpec {
        FaultSpec::parse(body).unwrap()
    }

    #[tokio::test]
    async fn a_put_replaces_the_whole_fault() {
        let faults = Faults::default();
        faults.set(spec(
            json!({ "ttl_s": 30, "latency_ms": 200, "error_rate": 0.5 }),
        ));
        faults.set(spec(json!({ "ttl_s": 30, "consumer_delay_ms": 10 })));
        let now = faults.current().unwrap();
        assert_eq!((now.spec.latency_ms, now.spec.error_rate), (0, 0.0));
        assert_eq!(now.spec.consumer_delay_ms, 10);
    }

    #[tokio::test]
    async fn clear_says_whether_there_was_a_fault() {
        let faults = Faults::default();
        assert!(!faults.clear());
        faults.set(spec(json!({ "ttl_s": 30 })));
        assert!(faults.clear());
        assert!(faults.current().is_none());
    }

    #[tokio::test]
    async fn the_fault_ends_at_its_ttl_and_counts_down_until_then() {
        let faults = Faults::default();
        let set = faults.set(spec(json!({ "ttl_s": 1 })));
        assert_eq!(set.expires_in_s, 1.0);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let left = faults.current().unwrap().expires_in_s;
        assert!((0.5..=0.8).contains(&left), "{left}");
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert!(faults.lock().active.is_none(), "the timer cleared it");
        assert!(faults.current().is_none());
    }

    #[tokio::test]
    async fn the_timer_of_a_replaced_fault_leaves_its_successor_alone() {
        let faults = Faults::default();
        faults.set(spec(json!({ "ttl_s": 1 })));
        faults.set(spec(json!({ "ttl_s": 30, "latency_ms": 5 })));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(faults.current().unwrap().spec.latency_ms, 5);
    }
}
