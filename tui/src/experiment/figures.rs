//! One lane's figures from what a round gathered: the per-second rows, completions put
//! into the second they happened in, the mode's result, and its recovery after the faults.

use std::collections::BTreeMap;
use std::time::Duration;

use super::accounting;
use super::result::{Latency, LossCount, ModeResult, SecondRow};
use super::spec::{Experiment, Lane, LoadShape};
use crate::load::{self, LoadSpec, Stats, Summary};

pub(super) fn second_row(t: Duration, window: &Summary, depth: Option<u64>) -> SecondRow {
    let accepted: u64 = window
        .by_label
        .iter()
        .filter(|(label, _)| label.starts_with('2'))
        .map(|(_, n)| n)
        .sum();
    let some = |d: Duration| (window.count > 0).then_some(d.as_secs_f64() * 1000.0);
    SecondRow {
        t_s: t.as_secs_f64().round(),
        answered: window.count,
        accepted,
        errors: window.failed,
        ack_p50_ms: some(window.p50),
        ack_p99_ms: some(window.p99),
        completed: 0,
        done_p99_ms: None,
        queue_depth: depth,
    }
}

/// Completions into the second they happened in (rows past the end are added for a
/// completion that came after the last tick).
pub(super) fn fill_completions(
    series: &mut [SecondRow],
    completions: &[accounting::Completion],
    wall_start: chrono::DateTime<chrono::Utc>,
) {
    let mut per_second: BTreeMap<usize, Stats> = BTreeMap::new();
    for c in completions {
        let t = (c.at - wall_start).num_milliseconds().max(0) as f64 / 1000.0;
        let index = (t.ceil() as usize).saturating_sub(1);
        per_second
            .entry(index.min(series.len().saturating_sub(1)))
            .or_default()
            .record(load::Outcome::Expected(200), c.latency);
    }
    for (index, stats) in per_second {
        if let Some(row) = series.get_mut(index) {
            let summary = stats.summary(Duration::from_secs(1));
            row.completed = summary.count;
            row.done_p99_ms = Some(summary.p99.as_secs_f64() * 1000.0);
        }
    }
}

/// The completion latencies' percentiles; `None` when nothing completed.
pub(crate) fn done_latency(completions: &[accounting::Completion]) -> Option<Latency> {
    (!completions.is_empty()).then(|| {
        let mut stats = Stats::new();
        for c in completions {
            stats.record(load::Outcome::Expected(200), c.latency);
        }
        latency(&stats.summary(Duration::from_secs(1)))
    })
}

/// A summary's percentiles in milliseconds, as results and reports keep them.
pub(crate) fn latency(summary: &Summary) -> Latency {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Latency {
        p50_ms: ms(summary.p50),
        p95_ms: ms(summary.p95),
        p99_ms: ms(summary.p99),
        max_ms: ms(summary.max),
    }
}

pub(super) fn mode_result(
    plan: &Experiment,
    lane: &Lane,
    summary: &Summary,
    figures: &accounting::Accounting,
    series: &[SecondRow],
    reverts: &[f64],
) -> ModeResult {
    let done = done_latency(&figures.completions);
    let target_rate = match plan.load {
        LoadShape::Rate { rate, .. } => LoadSpec::for_stack(plan.scenario, lane.mode, "h")
            .effective_rate(rate)
            .max(if plan.uncapped { rate } else { 0.0 }),
        LoadShape::Burst { requests } => {
            f64::from(requests) / super::spec::BURST_WINDOW.as_secs_f64()
        }
    };
    let loss_by_source: Vec<LossCount> = figures
        .rows
        .iter()
        .chain(figures.telemetry.iter())
        .cloned()
        .collect();
    let (recovery_s, recovered) = recovery(plan, &lane.key, series, reverts);
    ModeResult {
        mode: lane.mode.as_str().to_owned(),
        knobs: lane.knobs.clone().into_iter().collect(),
        sent: summary.count,
        accepted: figures.accepted,
        completed: figures.completed,
        lost: figures.lost,
        duplicated: figures.duplicated,
        degraded: figures.degraded,
        refused: figures.refused.clone(),
        loss_source: figures.source.clone(),
        loss_by_source,
        ack: latency(summary),
        done,
        achieved_rate: summary.achieved_rate,
        target_rate,
        error_rate: if summary.count == 0 {
            0.0
        } else {
            summary.failed as f64 / summary.count as f64
        },
        recovery_s,
        recovered,
        // What the queues still hold when the run ends (accepted minus completed is `lost`).
        backlog_at_end: series.last().and_then(|r| r.queue_depth).unwrap_or(0),
    }
}

/// From the last fault's revert to the first second back within bounds: the lane's own
/// `ack_p99` and `error_rate` thresholds where it has them, else three times its p99 before
/// the first fault (at least +50 ms) and under 1 % errors.
pub(super) fn recovery(
    plan: &Experiment,
    key: &str,
    series: &[SecondRow],
    reverts: &[f64],
) -> (Option<f64>, Option<bool>) {
    let Some(&reverted) = reverts.iter().max_by(|a, b| a.total_cmp(b)) else {
        return (None, None);
    };
    let first_fault = reverts.iter().copied().fold(f64::INFINITY, f64::min);
    let mut ack_bound = None;
    let mut error_bound = 1.0;
    for t in plan
        .thresholds
        .iter()
        .filter(|t| t.key == key || t.key == "all")
    {
        match t.recovery_bound() {
            Some((super::threshold::Metric::ErrorRate, v)) => error_bound = v,
            Some((_, v)) => ack_bound = Some(v),
            None => {}
        }
    }
    let ack_bound = ack_bound.unwrap_or_else(|| {
        let mut before: Vec<f64> = series
            .iter()
            .filter(|r| r.t_s < first_fault.min(reverted) - 1.0)
            .filter_map(|r| r.ack_p99_ms)
            .collect();
        before.sort_by(f64::total_cmp);
        let baseline = before.get(before.len() / 2).copied().unwrap_or(100.0);
        (baseline * 3.0).max(baseline + 50.0)
    });
    let back = series.iter().find(|r| {
        r.t_s > reverted
            && r.answered > 0
            && r.ack_p99_ms.is_some_and(|p| p <= ack_bound)
            && (r.errors as f64 / r.answered as f64) * 100.0 <= error_bound
    });
    match back {
        Some(row) => (Some((row.t_s - reverted).max(0.0)), Some(true)),
        None => (None, Some(false)),
    }
}
