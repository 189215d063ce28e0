//! How many deliveries a consumer holds and handles at once: the `consumer_concurrency` knob,
//! followed while the process runs, unless a [`Limit`] says otherwise; and the [`Registry`]
//! of a process's consumers that `GET /admin/config` shows.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::config::{Knobs, Tunables};

/// What bounds a consumer's concurrency besides the knob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The knob alone.
    Knob,
    /// The knob, at most this many: each delivery holds one of the pool's database
    /// connections while it is handled, and more would time out on the pool.
    Pool(u16),
    /// This many whatever the knob says (S4's CPU-bound worker: 1).
    Fixed(u16),
}

impl Limit {
    /// The prefetch (and deliveries handled at once) for the knob's value `knob`.
    pub fn apply(self, knob: u16) -> u16 {
        let n = match self {
            Limit::Knob => knob,
            Limit::Pool(pool) => knob.min(pool),
            Limit::Fixed(n) => n,
        };
        n.max(1)
    }

    /// The machine-readable name of what decides, for `GET /admin/config`.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Knob => "consumer_concurrency",
            Limit::Pool(_) => "db_pool",
            Limit::Fixed(_) => "fixed",
        }
    }

    /// Why the effective value is what it is, in words for the log.
    pub fn describe(self, knob: u16) -> String {
        match self {
            Limit::Knob => format!("follows consumer_concurrency ({knob})"),
            Limit::Pool(pool) if knob > pool => format!(
                "consumer_concurrency {knob}, capped at the database pool of {pool} connections"
            ),
            Limit::Pool(pool) => format!(
                "follows consumer_concurrency ({knob}); capped at the database pool of {pool} above that"
            ),
            Limit::Fixed(n) => {
                format!("fixed at {n} whatever consumer_concurrency ({knob}) says")
            }
        }
    }
}

/// A consumer's view of the knob, with its [`Limit`].
#[derive(Clone, Debug)]
pub struct Concurrency {
    knobs: watch::Receiver<Knobs>,
    limit: Limit,
    /// The knob's value last reported by [`Concurrency::changed`].
    seen: u16,
}

impl Concurrency {
    pub fn new(tunables: &Tunables, limit: Limit) -> Self {
        let knobs = tunables.subscribe();
        let seen = knobs.borrow().consumer_concurrency;
        Concurrency { knobs, limit, seen }
    }

    pub fn with_limit(self, limit: Limit) -> Self {
        Concurrency { limit, ..self }
    }

    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// The knob's current value.
    pub fn knob(&self) -> u16 {
        self.knobs.borrow().consumer_concurrency
    }

    /// The prefetch this consumer should have now.
    pub fn effective(&self) -> u16 {
        self.limit.apply(self.knob())
    }

    /// Waits until `consumer_concurrency` changes (other knobs do not count) and returns its
    /// new value; `None` once the knobs are gone. Cancel-safe.
    pub async fn changed(&mut self) -> Option<u16> {
        loop {
            self.knobs.changed().await.ok()?;
            let knob = self.knobs.borrow_and_update().consumer_concurrency;
            if knob != self.seen {
                self.seen = knob;
                return Some(knob);
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    limit: Limit,
    batched: bool,
}

/// The consumers of one process, so that the admin API can say what each one does with the
/// knob (S4's worker staying at 1 must be visible, not a surprise).
#[derive(Clone, Debug, Default)]
pub struct Registry(Arc<Mutex<BTreeMap<&'static str, Entry>>>);

impl Registry {
    pub fn register(&self, queue: &'static str, limit: Limit, batched: bool) {
        self.entries().insert(queue, Entry { limit, batched });
    }

    /// `{queue: {concurrency, limited_by, batched}}` for the knob's value `knob`.
    pub fn describe(&self, knob: u16) -> Value {
        let entries = self.entries();
        let described: serde_json::Map<String, Value> = entries
            .iter()
            .map(|(queue, e)| {
                let body = json!({
                    "concurrency": e.limit.apply(knob),
                    "limited_by": e.limit.name(),
                    "batched": e.batched,
                });
                ((*queue).to_owned(), body)
            })
            .collect();
        Value::Object(described)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, Entry>> {
        // The map stays consistent whatever a panicking holder did: one insert at a time.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{DelayProfile, Mode};

    #[test]
    fn limits_cap_or_pin_the_knob() {
        assert_eq!(Limit::Knob.apply(128), 128);
        assert_eq!(Limit::Pool(5).apply(128), 5);
        assert_eq!(Limit::Pool(5).apply(3), 3);
        assert_eq!(Limit::Fixed(1).apply(128), 1);
        assert_eq!(Limit::Pool(0).apply(16), 1, "never zero");
        assert!(Limit::Fixed(1).describe(64).contains("fixed at 1"));
    }

    #[tokio::test]
    async fn a_consumer_sees_its_knob_change_and_only_that() {
        let tunables = Tunables::new(Knobs::defaults(DelayProfile::Contract, Mode::Async));
        let mut live = Concurrency::new(&tunables, Limit::Pool(5));
        assert_eq!(live.effective(), 5);
        tunables.apply(json!({ "email_delay_ms": 1 })).unwrap();
        let other_knob = tokio::time::timeout(Duration::from_millis(50), live.changed()).await;
        assert!(
            other_knob.is_err(),
            "another knob changing is no reason to re-subscribe"
        );
        tunables
            .apply(json!({ "consumer_concurrency": 2 }))
            .unwrap();
        assert_eq!(live.changed().await, Some(2));
        assert_eq!(live.effective(), 2);

        let registry = Registry::default();
        registry.register("q", Limit::Fixed(1), false);
        registry.register("clicks", Limit::Knob, true);
        let body = registry.describe(64);
        assert_eq!(body["q"]["concurrency"], 1);
        assert_eq!(body["q"]["limited_by"], "fixed");
        assert_eq!(body["clicks"]["concurrency"], 64);
        assert_eq!(body["clicks"]["batched"], true);
    }
}
