//! The measurement plane's state: the selected scenario, the running load and its rate, the
//! figures per scenario × mode, and the selected scenario's queues — with bounded histories
//! for the sparklines. Written only through [`update`](super::update::update).

use std::collections::{HashMap, VecDeque};
use std::time::SystemTime;

use common::Mode;
use common::scenario::{self, ScenarioId};

use crate::broker::QueueSample;
use crate::load::Summary;

/// Points kept per sparkline: a minute at the load worker's and the probe's 500 ms.
pub const HISTORY: usize = 120;

/// The rates `+` and `-` step through (requests per second, per mode), capped by the
/// catalogue's `max_rate` of the scenario.
pub const RATE_STEPS: [f64; 14] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0,
];

/// One scenario in one mode, as the latency pane shows it.
#[derive(Debug, Clone, Default)]
pub struct Lane {
    /// Totals of the current (or last) load on it.
    pub total: Option<Summary>,
    pub target: f64,
    /// p50 of each report window, in µs (0 when the window had no answer).
    pub recent: VecDeque<u64>,
    /// The last one-shot fire's answer.
    pub fired: Option<Summary>,
    /// Completion latency (intended send → last completion event) of every flow so far,
    /// and of the latest one.
    pub completion: Option<Summary>,
    pub last_completion: Option<std::time::Duration>,
}

/// The broker as the queue pane and status line tell it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerStatus {
    Unknown,
    Up,
    Down(String),
}

#[derive(Debug, Clone)]
pub struct Measure {
    pub selected: ScenarioId,
    /// The scenario under load, if any (both modes at `rate`).
    pub loading: Option<ScenarioId>,
    /// The rate of the running load, or the next `l`'s.
    pub rate: f64,
    lanes: HashMap<(ScenarioId, Mode), Lane>,
    /// The selected scenario's queues, as last probed.
    pub queues: Vec<QueueSample>,
    ready_history: HashMap<String, VecDeque<u64>>,
    /// When each probe of the ready histories came (the same length): where the queue pane
    /// puts the timeline's markers on them.
    probed_at: VecDeque<SystemTime>,
    pub broker: BrokerStatus,
}

impl Default for Measure {
    fn default() -> Self {
        Measure::new(ScenarioId::S1)
    }
}

impl Measure {
    pub fn new(selected: ScenarioId) -> Measure {
        Measure {
            selected,
            loading: None,
            rate: scenario::get(selected).default_rate,
            lanes: HashMap::new(),
            queues: Vec::new(),
            ready_history: HashMap::new(),
            probed_at: VecDeque::new(),
            broker: BrokerStatus::Unknown,
        }
    }

    /// Selects a scenario. Its queues replace the old ones; while no load runs, the rate
    /// becomes the scenario's default.
    pub fn select(&mut self, id: ScenarioId) {
        if self.selected != id {
            self.queues.clear();
            self.ready_history.clear();
            self.probed_at.clear();
        }
        self.selected = id;
        if self.loading.is_none() {
            self.rate = scenario::get(id).default_rate;
        }
    }

    /// The queues the broker worker should watch for the selection.
    pub fn watched_queues(&self) -> Vec<String> {
        scenario::get(self.selected)
            .queues
            .iter()
            .map(|q| (*q).to_owned())
            .collect()
    }

    pub fn lane(&self, id: ScenarioId, mode: Mode) -> Option<&Lane> {
        self.lanes.get(&(id, mode))
    }

    fn lane_mut(&mut self, id: ScenarioId, mode: Mode) -> &mut Lane {
        self.lanes.entry((id, mode)).or_default()
    }

    /// The next rate up (`+`) or down (`-`) on the ladder, within the cap of the scenario
    /// that the rate applies to.
    pub fn step_rate(&mut self, up: bool) -> f64 {
        let id = self.loading.unwrap_or(self.selected);
        let cap = scenario::get(id).max_rate;
        let next = if up {
            RATE_STEPS
                .iter()
                .copied()
                .find(|r| *r > self.rate)
                .unwrap_or(self.rate)
        } else {
            RATE_STEPS
                .iter()
                .rev()
                .copied()
                .find(|r| *r < self.rate)
                .unwrap_or(self.rate)
        };
        self.rate = next.min(cap);
        self.rate
    }

    pub fn on_tick(
        &mut self,
        id: ScenarioId,
        mode: Mode,
        target: f64,
        total: Summary,
        window: &Summary,
    ) {
        let lane = self.lane_mut(id, mode);
        lane.target = target;
        lane.total = Some(total);
        let point = if window.count == 0 {
            0
        } else {
            u64::try_from(window.p50.as_micros()).unwrap_or(u64::MAX)
        };
        push_bounded(&mut lane.recent, point);
    }

    pub fn on_completion(
        &mut self,
        id: ScenarioId,
        mode: Mode,
        total: Summary,
        last: std::time::Duration,
    ) {
        let lane = self.lane_mut(id, mode);
        lane.completion = Some(total);
        lane.last_completion = Some(last);
    }

    pub fn on_fired(&mut self, id: ScenarioId, mode: Mode, summary: Summary) {
        self.lane_mut(id, mode).fired = Some(summary);
    }

    /// Starting a load clears the lanes' old totals and sparklines so they show this run.
    pub fn on_load_started(&mut self, id: ScenarioId) {
        self.loading = Some(id);
        for mode in Mode::ALL {
            let lane = self.lane_mut(id, mode);
            lane.total = None;
            lane.recent.clear();
        }
    }

    /// One probe of the watched queues, taken at about `at`.
    pub fn on_queues(&mut self, samples: Vec<QueueSample>, at: SystemTime) {
        self.broker = BrokerStatus::Up;
        let watched = self.watched_queues();
        // A probe of the previous selection may still arrive after a switch: ignore it.
        if samples.iter().any(|s| !watched.contains(&s.name)) {
            return;
        }
        for s in &samples {
            push_bounded(
                self.ready_history.entry(s.name.clone()).or_default(),
                u64::from(s.ready),
            );
        }
        if self.probed_at.len() == HISTORY {
            self.probed_at.pop_front();
        }
        self.probed_at.push_back(at);
        self.queues = samples;
    }

    /// When each point of the ready histories was probed, oldest first.
    pub fn probed_at(&self) -> &VecDeque<SystemTime> {
        &self.probed_at
    }

    /// The selected scenario's backlog (ready messages over its queues) at each probe, oldest
    /// first: what the drain estimate reads.
    pub fn backlog_history(&self) -> Vec<u64> {
        let len = self.probed_at.len();
        let mut total = vec![0u64; len];
        for history in self.ready_history.values() {
            // A queue first seen later has fewer points: align them at the newest end.
            let offset = len.saturating_sub(history.len());
            for (i, ready) in history.iter().enumerate() {
                if let Some(t) = total.get_mut(offset + i) {
                    *t += ready;
                }
            }
        }
        total
    }

    pub fn ready_history(&self, queue: &str) -> Option<&VecDeque<u64>> {
        self.ready_history.get(queue)
    }
}

fn push_bounded(history: &mut VecDeque<u64>, point: u64) {
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back(point);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn summary(p50_ms: u64, count: u64) -> Summary {
        Summary {
            count,
            ok: count,
            failed: 0,
            p50: Duration::from_millis(p50_ms),
            p95: Duration::from_millis(p50_ms),
            p99: Duration::from_millis(p50_ms),
            max: Duration::from_millis(p50_ms),
            achieved_rate: count as f64,
            by_label: Default::default(),
        }
    }

    #[test]
    fn rate_steps_stay_within_the_catalogue_cap() {
        let mut m = Measure::new(ScenarioId::S4);
        let cap = scenario::get(ScenarioId::S4).max_rate;
        for _ in 0..30 {
            m.step_rate(true);
        }
        assert_eq!(m.rate, cap);
        for _ in 0..30 {
            m.step_rate(false);
        }
        assert_eq!(m.rate, 1.0);
    }

    #[test]
    fn sparkline_history_is_bounded_and_empty_windows_are_zero() {
        let mut m = Measure::default();
        for i in 0..(HISTORY as u64 + 10) {
            m.on_tick(
                ScenarioId::S1,
                Mode::Sync,
                10.0,
                summary(i, 5),
                &summary(i, 5),
            );
        }
        m.on_tick(
            ScenarioId::S1,
            Mode::Sync,
            10.0,
            summary(1, 5),
            &summary(0, 0),
        );
        let lane = m.lane(ScenarioId::S1, Mode::Sync).unwrap();
        assert_eq!(lane.recent.len(), HISTORY);
        assert_eq!(lane.recent.back(), Some(&0));
        assert_eq!(lane.recent.front(), Some(&11_000));
    }

    #[test]
    fn a_late_probe_of_the_old_selection_is_ignored() {
        let mut m = Measure::default();
        m.select(ScenarioId::S6);
        let old = QueueSample {
            name: "user_registered_queue".into(),
            ready: 7,
            ..Default::default()
        };
        m.on_queues(vec![old], SystemTime::UNIX_EPOCH);
        assert!(m.queues.is_empty());
        let new = QueueSample {
            name: "click_tracked_queue".into(),
            ready: 3,
            ..Default::default()
        };
        m.on_queues(vec![new], SystemTime::UNIX_EPOCH);
        assert_eq!(m.queues[0].ready, 3);
        assert_eq!(m.ready_history("click_tracked_queue").unwrap().len(), 1);
    }
}
