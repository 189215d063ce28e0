//! Completion latency: from a request's intended send time to the last completion event of
//! its flow on `ms.telemetry` (docs/contract.md, Completion events), matched by correlation id.
//!
//! The tracker is pure (no I/O): the telemetry worker feeds it the load engine's samples and
//! the events it consumes. An event can arrive before its request's answer (a fast consumer,
//! a slow HTTP reply), so early events wait in a bounded buffer for their sample.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::Mode;
use common::completion::CompletionEvent;
use common::scenario::{self, ScenarioId, Service};

use crate::load::{Sample, Stats};

/// Requests (and early events) remembered at most; the oldest are forgotten first, so a
/// flow that never completes (its consumer is down for good) cannot grow memory.
pub const REMEMBERED: usize = 50_000;

/// One flow being waited for.
#[derive(Debug, Clone)]
struct Pending {
    scenario: ScenarioId,
    mode: Mode,
    intended_at: DateTime<Utc>,
    /// Steps of the catalogue's `done_when` not seen yet.
    remaining: Vec<(Service, &'static str)>,
    /// The latest `at` of the steps seen: the flow is done when its last step finished.
    last_at: DateTime<Utc>,
}

/// A flow that just completed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Completed {
    pub scenario: ScenarioId,
    pub mode: Mode,
    pub latency: Duration,
}

#[derive(Debug, Default)]
pub struct Tracker {
    pending: HashMap<String, Pending>,
    early: HashMap<String, Vec<CompletionEvent>>,
    /// Arrival order of `pending` and `early` keys, for forgetting the oldest.
    order: VecDeque<String>,
    stats: HashMap<(ScenarioId, Mode), Stats>,
}

impl Tracker {
    /// A request was answered. Only accepted requests start a flow.
    pub fn on_sample(&mut self, sample: &Sample) -> Option<Completed> {
        if !sample.outcome.is_success() {
            return None;
        }
        let remaining = scenario::get(sample.scenario)
            .done_when
            .iter()
            .map(|s| (s.service, s.step))
            .collect();
        self.remember(sample.correlation_id.clone());
        self.pending.insert(
            sample.correlation_id.clone(),
            Pending {
                scenario: sample.scenario,
                mode: sample.mode,
                intended_at: sample.intended_at,
                remaining,
                last_at: sample.intended_at,
            },
        );
        let mut done = None;
        for event in self
            .early
            .remove(&sample.correlation_id)
            .unwrap_or_default()
        {
            done = done.or(self.on_event(&event));
        }
        done
    }

    /// A completion event arrived; returns the flow it completed, if it did.
    pub fn on_event(&mut self, event: &CompletionEvent) -> Option<Completed> {
        let Some(pending) = self.pending.get_mut(&event.correlation_id) else {
            // Not ours (another client's request), or its sample is still on its way.
            if event.correlation_id.starts_with("load-") {
                self.remember(event.correlation_id.clone());
                self.early
                    .entry(event.correlation_id.clone())
                    .or_default()
                    .push(event.clone());
            }
            return None;
        };
        pending
            .remaining
            .retain(|(service, step)| !(*service == event.service && *step == event.step));
        pending.last_at = pending.last_at.max(event.at);
        if !pending.remaining.is_empty() {
            return None;
        }
        let pending = self.pending.remove(&event.correlation_id)?;
        let latency = (pending.last_at - pending.intended_at)
            .to_std()
            .unwrap_or_default();
        let outcome = crate::load::Outcome::Expected(200);
        self.stats
            .entry((pending.scenario, pending.mode))
            .or_default()
            .record(outcome, latency);
        Some(Completed {
            scenario: pending.scenario,
            mode: pending.mode,
            latency,
        })
    }

    /// Completion latencies so far for one scenario × mode (`achieved_rate` over `elapsed`).
    pub fn summary(
        &self,
        scenario: ScenarioId,
        mode: Mode,
        elapsed: Duration,
    ) -> Option<crate::load::Summary> {
        self.stats
            .get(&(scenario, mode))
            .map(|s| s.summary(elapsed))
    }

    /// Flows still waiting for an event.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    fn remember(&mut self, id: String) {
        self.order.push_back(id);
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.pending.remove(&old);
                self.early.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::Outcome;

    fn sample(id: &str, scenario: ScenarioId, mode: Mode, at: DateTime<Utc>) -> Sample {
        Sample {
            scenario,
            mode,
            correlation_id: id.into(),
            outcome: Outcome::Expected(202),
            latency: Duration::from_millis(3),
            intended_at: at,
            degraded: false,
        }
    }

    fn event(
        id: &str,
        scenario: ScenarioId,
        service: Service,
        step: &str,
        at: DateTime<Utc>,
    ) -> CompletionEvent {
        CompletionEvent {
            correlation_id: id.into(),
            scenario,
            mode: Mode::Async,
            service,
            step: step.into(),
            ok: true,
            at,
        }
    }

    #[test]
    fn a_flow_completes_at_its_last_step_in_any_order() {
        let t0 = Utc::now();
        let mut t = Tracker::default();
        let s3 = ScenarioId::S3;
        assert!(
            t.on_sample(&sample("load-a-1", s3, Mode::Async, t0))
                .is_none()
        );
        let steps = scenario::get(s3).done_when;
        assert_eq!(
            steps.len(),
            3,
            "S3 is done when all three consumers finished"
        );
        let ms = chrono::Duration::milliseconds;
        assert!(
            t.on_event(&event(
                "load-a-1",
                s3,
                steps[2].service,
                steps[2].step,
                t0 + ms(150)
            ))
            .is_none()
        );
        assert!(
            t.on_event(&event(
                "load-a-1",
                s3,
                steps[0].service,
                steps[0].step,
                t0 + ms(300)
            ))
            .is_none()
        );
        let done = t
            .on_event(&event(
                "load-a-1",
                s3,
                steps[1].service,
                steps[1].step,
                t0 + ms(220),
            ))
            .unwrap();
        // Done when the last event arrives, at the latest step's own time.
        assert_eq!(done.latency, Duration::from_millis(300));
        assert_eq!(t.waiting(), 0);
        let sum = t.summary(s3, Mode::Async, Duration::from_secs(1)).unwrap();
        assert_eq!(sum.count, 1);
    }

    #[test]
    fn an_event_before_its_answer_still_counts() {
        let t0 = Utc::now();
        let mut t = Tracker::default();
        let step = scenario::get(ScenarioId::S6).done_when[0];
        let ev = event(
            "load-b-7",
            ScenarioId::S6,
            step.service,
            step.step,
            t0 + chrono::Duration::milliseconds(40),
        );
        assert!(t.on_event(&ev).is_none());
        let done = t
            .on_sample(&sample("load-b-7", ScenarioId::S6, Mode::Async, t0))
            .unwrap();
        assert_eq!(done.latency, Duration::from_millis(40));
    }

    #[test]
    fn failures_start_no_flow_and_memory_is_bounded() {
        let mut t = Tracker::default();
        let mut failed = sample("load-c-1", ScenarioId::S1, Mode::Async, Utc::now());
        failed.outcome = Outcome::Unexpected(503);
        assert!(t.on_sample(&failed).is_none());
        assert_eq!(t.waiting(), 0);
        for i in 0..(REMEMBERED + 100) {
            t.on_sample(&sample(
                &format!("load-d-{i}"),
                ScenarioId::S1,
                Mode::Async,
                Utc::now(),
            ));
        }
        assert_eq!(t.waiting(), REMEMBERED);
        // Someone else's request is ignored, not buffered.
        let step = scenario::get(ScenarioId::S1).done_when[0];
        t.on_event(&event(
            "curl-1",
            ScenarioId::S1,
            step.service,
            step.step,
            Utc::now(),
        ));
        assert!(t.early.is_empty());
    }
}
