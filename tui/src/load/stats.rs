//! Measurements of one run: an HdrHistogram of latencies (µs) and counters by outcome.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::Outcome;

/// Highest latency the histogram records exactly; slower answers are clamped to it (and
/// still counted), so a stalled service can never make recording fail.
const MAX_MICROS: u64 = 120_000_000;

#[derive(Clone, Debug)]
pub struct Stats {
    latency: Histogram<u64>,
    /// Answers per label (`202`, `503`, `conn`), expected or not.
    by_label: BTreeMap<String, u64>,
    ok: u64,
    failed: u64,
}

/// What the panes and the headless report show.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub ok: u64,
    pub failed: u64,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Answers per second over `elapsed`.
    pub achieved_rate: f64,
    pub by_label: BTreeMap<String, u64>,
}

impl Summary {
    /// Answers per status, `202×9 503×1` (`none` before the first answer).
    pub fn labels(&self) -> String {
        if self.by_label.is_empty() {
            return "none".into();
        }
        self.by_label
            .iter()
            .map(|(label, n)| format!("{label}×{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A latency for people: `1.50 ms`, `12.0 ms`, `1.50 s` (three significant figures at most).
pub fn format_latency(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    #[allow(clippy::expect_used)] // constant bounds, checked by every test
    pub fn new() -> Self {
        Stats {
            // Three significant figures over 1 µs..120 s: ~100 KiB, fixed whatever the load.
            latency: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .expect("static histogram bounds are valid"),
            by_label: BTreeMap::new(),
            ok: 0,
            failed: 0,
        }
    }

    /// Records one answer. Failures are timed too: a 503 after 5 s is part of the story.
    pub fn record(&mut self, outcome: Outcome, latency: Duration) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(MAX_MICROS)
            .clamp(1, MAX_MICROS);
        self.latency.saturating_record(micros);
        *self.by_label.entry(outcome.label()).or_default() += 1;
        if outcome.is_success() {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
    }

    /// Adds `other`'s answers to these (two half-second windows make a second).
    pub fn merge(&mut self, other: &Stats) {
        // Both histograms have the same bounds, so adding cannot fail; if it ever did, the
        // counters below still count the answers.
        let _ = self.latency.add(&other.latency);
        for (label, n) in &other.by_label {
            *self.by_label.entry(label.clone()).or_default() += n;
        }
        self.ok += other.ok;
        self.failed += other.failed;
    }

    pub fn count(&self) -> u64 {
        self.ok + self.failed
    }

    pub fn quantile(&self, q: f64) -> Duration {
        if self.count() == 0 {
            return Duration::ZERO;
        }
        Duration::from_micros(self.latency.value_at_quantile(q))
    }

    pub fn summary(&self, elapsed: Duration) -> Summary {
        let secs = elapsed.as_secs_f64();
        Summary {
            count: self.count(),
            ok: self.ok,
            failed: self.failed,
            p50: self.quantile(0.50),
            p95: self.quantile(0.95),
            p99: self.quantile(0.99),
            max: if self.count() == 0 {
                Duration::ZERO
            } else {
                Duration::from_micros(self.latency.max())
            },
            achieved_rate: if secs > 0.0 {
                self.count() as f64 / secs
            } else {
                0.0
            },
            by_label: self.by_label.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut s = Stats::new();
        for i in 1..=1000 {
            s.record(Outcome::Expected(202), ms(i));
        }
        let sum = s.summary(Duration::from_secs(10));
        // HdrHistogram with 3 significant figures: within 0.1 %.
        let near = |d: Duration, want: u64| {
            (d.as_secs_f64() * 1000.0 - want as f64).abs() <= want as f64 * 0.001 + 1.0
        };
        assert!(near(sum.p50, 500), "{:?}", sum.p50);
        assert!(near(sum.p95, 950), "{:?}", sum.p95);
        assert!(near(sum.p99, 990), "{:?}", sum.p99);
        assert!(near(sum.max, 1000), "{:?}", sum.max);
        assert_eq!(sum.count, 1000);
        assert_eq!(sum.achieved_rate, 100.0);
    }

    #[test]
    fn failures_are_counted_by_label_and_timed() {
        let mut s = Stats::new();
        s.record(Outcome::Expected(202), ms(2));
        s.record(Outcome::Unexpected(503), ms(5000));
        s.record(Outcome::Transport, ms(1));
        let sum = s.summary(Duration::from_secs(1));
        assert_eq!((sum.ok, sum.failed, sum.count), (1, 2, 3));
        assert_eq!(sum.by_label.get("503"), Some(&1));
        assert_eq!(sum.by_label.get("conn"), Some(&1));
        assert!(sum.max >= ms(4990));
    }

    #[test]
    fn merged_windows_count_both_and_their_quantiles() {
        let (mut a, mut b) = (Stats::new(), Stats::new());
        for i in 1..=50 {
            a.record(Outcome::Expected(200), ms(i));
            b.record(Outcome::Unexpected(503), ms(50 + i));
        }
        a.merge(&b);
        let sum = a.summary(Duration::from_secs(1));
        assert_eq!((sum.count, sum.ok, sum.failed), (100, 50, 50));
        assert_eq!(sum.by_label.get("503"), Some(&50));
        assert!(sum.p99 >= ms(98) && sum.p99 <= ms(100), "{:?}", sum.p99);
        assert_eq!(sum.achieved_rate, 100.0);
    }

    #[test]
    fn an_empty_run_and_an_absurd_latency_do_not_panic() {
        let mut s = Stats::new();
        assert_eq!(s.summary(Duration::ZERO).p99, Duration::ZERO);
        s.record(Outcome::Expected(200), Duration::from_secs(100_000));
        assert!(s.quantile(1.0) >= Duration::from_micros(MAX_MICROS));
        assert_eq!(s.summary(Duration::ZERO).achieved_rate, 0.0);
    }
}
