//! The timeline's figures: one point per second and mode — ack p50 and p99 of the answers in
//! that second (the load worker's one-second windows, not totals since the load started),
//! answers and errors in it, and for async the completion p99 — for the last
//! [`SERIES_SECONDS`].
//!
//! Completion figures come in half-second windows; a second's completion p99 is the larger of
//! its two windows' p99s, an upper bound of the true one (the exact value would need both
//! windows' histograms).

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use common::Mode;

use crate::load::Summary;

/// Seconds kept per mode: the chart's longest window.
pub const SERIES_SECONDS: usize = 300;

/// One second of one mode.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Second {
    /// Whole seconds since the Unix epoch.
    pub at: u64,
    /// `None`: no answer in that second.
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    pub answers: u64,
    pub errors: u64,
    /// Async: the completion p99 of the flows that completed in that second.
    pub done_p99: Option<Duration>,
    /// Ready messages in the scenario's queues at the end of the second, where the figures
    /// came with it (an experiment's); the control room's own load leaves it to the queue pane.
    pub queue_depth: Option<u64>,
}

#[derive(Debug, Clone, Default)]
pub struct Series {
    sync: VecDeque<Second>,
    asynchronous: VecDeque<Second>,
}

/// Whole seconds since the epoch (0 before it, which no clock here reports).
pub fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Series {
    pub fn mode(&self, mode: Mode) -> &VecDeque<Second> {
        match mode {
            Mode::Sync => &self.sync,
            Mode::Async => &self.asynchronous,
        }
    }

    fn mode_mut(&mut self, mode: Mode) -> &mut VecDeque<Second> {
        match mode {
            Mode::Sync => &mut self.sync,
            Mode::Async => &mut self.asynchronous,
        }
    }

    /// The second of `mode` that holds `at`, made if it is the newest (an older one that is
    /// missing is not made: figures arrive in time order, and a late one is dropped).
    fn second_mut(&mut self, mode: Mode, at: SystemTime) -> Option<&mut Second> {
        let sec = unix_seconds(at);
        let ring = self.mode_mut(mode);
        match ring.back() {
            Some(last) if last.at > sec => {
                return ring.iter_mut().rev().find(|s| s.at == sec);
            }
            Some(last) if last.at == sec => {}
            _ => {
                if ring.len() == SERIES_SECONDS {
                    ring.pop_front();
                }
                ring.push_back(Second {
                    at: sec,
                    ..Second::default()
                });
            }
        }
        ring.back_mut()
    }

    /// A one-second window of answers that ended at `at`. Two windows in one calendar second
    /// (the worker's clock and the second's edge seldom agree) merge: answers add up, the
    /// quantiles take the larger.
    pub fn on_window(&mut self, mode: Mode, at: SystemTime, window: &Summary) {
        let (p50, p99) = if window.count > 0 {
            (Some(window.p50), Some(window.p99))
        } else {
            (None, None)
        };
        self.on_second(mode, at, window.count, window.failed, p50, p99, None);
    }

    /// One second's figures as an experiment's runner reports them (its own windows), merged
    /// the same way as [`Series::on_window`]'s.
    #[allow(clippy::too_many_arguments)]
    pub fn on_second(
        &mut self,
        mode: Mode,
        at: SystemTime,
        answers: u64,
        errors: u64,
        p50: Option<Duration>,
        p99: Option<Duration>,
        queue_depth: Option<u64>,
    ) {
        let Some(second) = self.second_mut(mode, at) else {
            return;
        };
        second.answers += answers;
        second.errors += errors;
        if answers > 0 {
            second.p50 = second.p50.max(p50);
            second.p99 = second.p99.max(p99);
        }
        if queue_depth.is_some() {
            second.queue_depth = queue_depth;
        }
    }

    /// A completion window's p99 (flows of `mode` that completed around `at`).
    pub fn on_completion(&mut self, mode: Mode, at: SystemTime, p99: Duration) {
        if let Some(second) = self.second_mut(mode, at) {
            second.done_p99 = second.done_p99.max(Some(p99));
        }
    }

    /// The newest second with answers.
    pub fn latest(&self, mode: Mode) -> Option<&Second> {
        self.mode(mode).iter().rev().find(|s| s.answers > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(p50_ms: u64, p99_ms: u64, count: u64, failed: u64) -> Summary {
        Summary {
            count,
            ok: count - failed,
            failed,
            p50: Duration::from_millis(p50_ms),
            p95: Duration::from_millis(p99_ms),
            p99: Duration::from_millis(p99_ms),
            max: Duration::from_millis(p99_ms),
            achieved_rate: count as f64,
            by_label: Default::default(),
        }
    }

    fn at(s: u64, ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(s * 1000 + ms)
    }

    #[test]
    fn one_point_per_second_and_two_windows_of_one_second_merge() {
        let mut series = Series::default();
        series.on_window(Mode::Sync, at(100, 100), &window(10, 20, 5, 0));
        series.on_window(Mode::Sync, at(100, 900), &window(30, 15, 5, 1));
        series.on_window(Mode::Sync, at(101, 100), &window(12, 22, 4, 0));
        let sync = series.mode(Mode::Sync);
        assert_eq!(sync.len(), 2);
        assert_eq!(sync[0].answers, 10);
        assert_eq!(sync[0].errors, 1);
        assert_eq!(sync[0].p50, Some(Duration::from_millis(30)));
        assert_eq!(sync[0].p99, Some(Duration::from_millis(20)));
        assert!(series.mode(Mode::Async).is_empty());
    }

    #[test]
    fn an_empty_window_has_no_latency_and_the_ring_is_bounded() {
        let mut series = Series::default();
        for s in 0..(SERIES_SECONDS as u64 + 3) {
            series.on_window(Mode::Async, at(s, 0), &window(1, 2, 0, 0));
        }
        let ring = series.mode(Mode::Async);
        assert_eq!(ring.len(), SERIES_SECONDS);
        assert_eq!(ring[0].at, 3);
        assert_eq!(ring[0].p50, None);
        assert!(series.latest(Mode::Async).is_none(), "no answers at all");
    }

    #[test]
    fn completions_land_in_their_second_and_late_figures_in_an_old_one() {
        let mut series = Series::default();
        series.on_window(Mode::Async, at(10, 0), &window(2, 4, 3, 0));
        series.on_window(Mode::Async, at(11, 0), &window(2, 4, 3, 0));
        series.on_completion(Mode::Async, at(10, 600), Duration::from_millis(40));
        series.on_completion(Mode::Async, at(11, 200), Duration::from_millis(30));
        series.on_completion(Mode::Async, at(11, 700), Duration::from_millis(35));
        series.on_completion(Mode::Async, at(5, 0), Duration::from_millis(99));
        let ring = series.mode(Mode::Async);
        assert_eq!(ring[0].done_p99, Some(Duration::from_millis(40)));
        assert_eq!(ring[1].done_p99, Some(Duration::from_millis(35)));
        assert_eq!(ring.len(), 2, "a second older than the ring's is not made");
    }

    #[test]
    fn an_experiment_second_fills_the_same_point_with_its_queue_depth() {
        let mut series = Series::default();
        let ms = Duration::from_millis;
        series.on_second(
            Mode::Async,
            at(7, 0),
            5,
            1,
            Some(ms(3)),
            Some(ms(9)),
            Some(42),
        );
        series.on_second(Mode::Async, at(8, 0), 0, 0, None, None, None);
        let ring = series.mode(Mode::Async);
        assert_eq!(ring[0].answers, 5);
        assert_eq!(ring[0].errors, 1);
        assert_eq!(ring[0].p99, Some(ms(9)));
        assert_eq!(ring[0].queue_depth, Some(42));
        assert_eq!(ring[1].p50, None);
        assert_eq!(ring[1].queue_depth, None);
    }
}
