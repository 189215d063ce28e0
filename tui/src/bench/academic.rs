//! The academic study's way of measuring, reproduced beside ours (`--profile peer`).
//!
//! The study loaded each scenario with a fixed number of virtual users (the closed model,
//! [`crate::load::closed`]), pooled every request of every scenario into one p95 per mode, and
//! counted every non-2xx as an error. [`run`] measures exactly that, one mode after the other
//! and one scenario after another; [`differences`] then says, from the numbers, where their
//! table and our ladders part ways and why.

use std::collections::BTreeMap;
use std::time::Duration;

use common::Mode;
use common::scenario::{self, ScenarioId};
use tokio_util::sync::CancellationToken;

use super::result::{Academic, AcademicMode, Ladder, ScenarioBench, ScenarioClosed, Step};
use crate::load::Stats;
use crate::load::closed::{self, ClosedSpec, ClosedSummary};
use crate::load::headless::load_client;
use crate::load::stats::format_latency;

/// Below this ratio between the slowest and the fastest scenario's own p95, one pooled p95
/// misleads little: the line about it is left out.
const P95_SPREAD: f64 = 10.0;

/// Below this ratio between what our open model offered and what the closed users sent, the
/// two loads were alike: the line comparing them is left out.
const OFFERED_RATIO: f64 = 1.5;

/// Runs the study's closed model on every scenario of `scenarios`, for each mode in turn
/// (never both modes at once, so they do not share the host), `per_scenario` each.
/// `differences` is left empty: it needs our ladders ([`differences`]).
pub async fn run(
    scenarios: &[ScenarioId],
    host: &str,
    virtual_users: u32,
    per_scenario: Duration,
    stop: CancellationToken,
    broker: &crate::broker::BrokerSettings,
    progress: impl Fn(String),
) -> Academic {
    let client = load_client();
    let mut modes = BTreeMap::new();
    for mode in Mode::ALL {
        let mut runs = Vec::new();
        for &id in scenarios {
            if stop.is_cancelled() {
                break;
            }
            let spec = ClosedSpec::for_stack(id, mode, host, virtual_users, per_scenario);
            progress(format!(
                "academic: {id} {mode}, {} users for {:.0} s",
                spec.effective_users(),
                per_scenario.as_secs_f64()
            ));
            let summary = closed::run(spec, client.clone(), stop.clone()).await;
            progress(progress_line(id, mode, &summary));
            if mode == Mode::Async {
                // A closed model has no rate: its users queue work as fast as the service
                // acknowledges it (async S4 queued thousands of 10 s report jobs in seconds).
                super::step::leave_the_queues_empty(
                    id,
                    broker,
                    "academic: the closed model",
                    &progress,
                )
                .await;
            }
            runs.push((id, summary));
        }
        if !runs.is_empty() {
            modes.insert(mode.as_str().to_owned(), mode_figures(mode, &runs));
        }
    }
    Academic {
        virtual_users,
        seconds_per_scenario: per_scenario.as_secs_f64(),
        modes,
        differences: Vec::new(),
    }
}

fn progress_line(id: ScenarioId, mode: Mode, s: &ClosedSummary) -> String {
    format!(
        "academic: {id} {mode}: {} requests, {} req/s, p95 {}, non-2xx {}",
        s.stats.count(),
        rate(s.throughput()),
        format_latency(s.stats.quantile(0.95)),
        s.non_2xx
    )
}

/// One mode's row of their table, and its scenarios' own figures.
pub fn mode_figures(mode: Mode, runs: &[(ScenarioId, ClosedSummary)]) -> AcademicMode {
    let per_scenario: BTreeMap<String, ScenarioClosed> = runs
        .iter()
        .map(|(id, s)| (id.as_str().to_owned(), scenario_closed(*id, mode, s)))
        .collect();
    let requests: u64 = per_scenario.values().map(|s| s.requests).sum();
    let non_2xx: u64 = per_scenario.values().map(|s| s.errors_400_as_error).sum();
    let errors: u64 = per_scenario.values().map(|s| s.errors).sum();
    let elapsed: f64 = runs.iter().map(|(_, s)| s.elapsed.as_secs_f64()).sum();
    AcademicMode {
        pooled_p95_ms: pooled_p95(runs.iter().map(|(_, s)| &s.stats)),
        error_rate_400_as_error: share(non_2xx, requests),
        throughput: if elapsed > 0.0 {
            requests as f64 / elapsed
        } else {
            0.0
        },
        per_scenario,
        error_rate: share(errors, requests),
    }
}

fn scenario_closed(id: ScenarioId, mode: Mode, s: &ClosedSummary) -> ScenarioClosed {
    let request = scenario::get(id).request(mode);
    let intended_non_2xx = s
        .by_status
        .iter()
        .filter(|(label, _)| {
            label
                .parse::<u16>()
                .is_ok_and(|status| request.is_expected(status) && !is_2xx(status))
        })
        .map(|(_, n)| n)
        .sum();
    ScenarioClosed {
        requests: s.stats.count(),
        p95_ms: millis(s.stats.quantile(0.95)),
        errors_400_as_error: s.non_2xx,
        throughput: s.throughput(),
        virtual_users: s.virtual_users,
        errors: s.stats.summary(s.elapsed).failed,
        intended_non_2xx,
    }
}

/// One p95 (ms) over every request of every histogram, as the study reported it.
pub fn pooled_p95<'a>(histograms: impl IntoIterator<Item = &'a Stats>) -> f64 {
    let mut pooled = Stats::new();
    for stats in histograms {
        pooled.merge(stats);
    }
    millis(pooled.quantile(0.95))
}

/// One line per difference between their table and ours, each drawn from the numbers; a
/// line whose figures are missing (or show no difference) is left out.
pub fn differences(academic: &Academic, ours: &[ScenarioBench]) -> Vec<String> {
    let mut lines = Vec::new();
    for mode in Mode::ALL {
        let Some(figures) = academic.modes.get(mode.as_str()) else {
            continue;
        };
        lines.extend(pooled_line(mode, figures));
        lines.extend(error_line(mode, figures));
        lines.extend(throughput_line(mode, figures));
        lines.extend(closed_line(mode, figures, ours, academic.virtual_users));
    }
    lines.extend(completion_line(ours));
    lines
}

/// The scenarios of a mode that answered at least once.
fn measured(figures: &AcademicMode) -> Vec<(&str, &ScenarioClosed)> {
    figures
        .per_scenario
        .iter()
        .filter(|(_, s)| s.requests > 0)
        .map(|(key, s)| (key.as_str(), s))
        .collect()
}

/// Whether one p95 stands for scenarios an order of magnitude apart, and which one it is
/// closest to (on a log scale: the pooled value lands inside some scenario's own range).
fn pooled_line(mode: Mode, figures: &AcademicMode) -> Option<String> {
    let scenarios = measured(figures);
    let by_p95 = |a: &&(&str, &ScenarioClosed), b: &&(&str, &ScenarioClosed)| {
        a.1.p95_ms.total_cmp(&b.1.p95_ms)
    };
    let fastest = scenarios.iter().min_by(by_p95)?;
    let slowest = scenarios.iter().max_by(by_p95)?;
    let pooled = figures.pooled_p95_ms;
    if scenarios.len() < 2 || fastest.1.p95_ms <= 0.0 || pooled <= 0.0 {
        return None;
    }
    if slowest.1.p95_ms < fastest.1.p95_ms * P95_SPREAD {
        return None;
    }
    let distance = |s: &&(&str, &ScenarioClosed)| (s.1.p95_ms / pooled).ln().abs();
    let nearest = scenarios
        .iter()
        .min_by(|a, b| distance(a).total_cmp(&distance(b)))?;
    Some(if nearest.0 == fastest.0 {
        format!(
            "{mode}: the pooled p95 of {} hides the slow scenarios: {}'s own p95 is {}",
            latency(pooled),
            label(slowest.0),
            latency(slowest.1.p95_ms)
        )
    } else {
        format!(
            "{mode}: the pooled p95 is dominated by {}'s requests: {} pooled, but {}'s own p95 is {}",
            label(nearest.0),
            latency(pooled),
            label(fastest.0),
            latency(fastest.1.p95_ms)
        )
    })
}

/// Answers the catalogue expects but that are not 2xx (the sync saga's 400), counted as
/// errors in their rate.
fn error_line(mode: Mode, figures: &AcademicMode) -> Option<String> {
    let intended: Vec<(&str, &ScenarioClosed, String)> = measured(figures)
        .into_iter()
        .filter(|(_, s)| s.intended_non_2xx > 0)
        .map(|(key, s)| (key, s, intended_statuses(key, mode)))
        .collect();
    if intended.is_empty() {
        return None;
    }
    let counted = intended
        .iter()
        .map(|(key, _, statuses)| format!("{}'s {statuses}", label(key)))
        .collect::<Vec<_>>()
        .join(" and ");
    let designed = intended
        .iter()
        .map(|(key, s, statuses)| {
            format!(
                "{} answered {statuses} as designed {} times",
                titled(key),
                s.intended_non_2xx
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "their error rate counts {counted} as errors: {} errors for {mode}, where {designed}; by the expected statuses {} were errors",
        percent(figures.error_rate_400_as_error),
        percent(figures.error_rate)
    ))
}

/// Whether one scenario's requests make most of the mode's throughput.
fn throughput_line(mode: Mode, figures: &AcademicMode) -> Option<String> {
    let scenarios = measured(figures);
    let total: u64 = scenarios.iter().map(|(_, s)| s.requests).sum();
    let top = scenarios.iter().max_by_key(|(_, s)| s.requests)?;
    let least = scenarios
        .iter()
        .min_by(|a, b| a.1.throughput.total_cmp(&b.1.throughput))?;
    let top_share = share(top.1.requests, total);
    if scenarios.len() < 2 || top_share <= 0.5 {
        return None;
    }
    Some(format!(
        "their throughput adds unlike scenarios: {} of {mode}'s {} req/s were {}'s requests, while {} sent {} req/s",
        percent(top_share),
        rate(figures.throughput),
        label(top.0),
        label(least.0),
        rate(least.1.throughput)
    ))
}

/// The scenario where our open model offered the most above what the closed users sent:
/// the load, and the queueing, the study never produced.
fn closed_line(
    mode: Mode,
    figures: &AcademicMode,
    ours: &[ScenarioBench],
    virtual_users: u32,
) -> Option<String> {
    let (key, closed, open, top) = measured(figures)
        .into_iter()
        .filter(|(_, s)| s.throughput > 0.0)
        .filter_map(|(key, s)| {
            let open = ladder(ours, key, mode.as_str())?;
            Some((key, s, open, top_step(open)?))
        })
        .max_by(|a, b| offered_ratio(a.1, a.3).total_cmp(&offered_ratio(b.1, b.3)))?;
    if offered_ratio(closed, top) < OFFERED_RATIO {
        return None;
    }
    let users = if closed.virtual_users > 0 {
        closed.virtual_users
    } else {
        virtual_users
    };
    // Little's law: N users each waiting W send N / W per second, so W = N / throughput.
    let waited_ms = f64::from(users) / closed.throughput * 1000.0;
    let sustained = open
        .sustainable_rate
        .map(|r| format!(" sustained {}/s,", rate(r)))
        .unwrap_or_default();
    Some(format!(
        "closed model: {users} users sent {} req/s to {mode} {} (each waited {} on average); the open model offered up to {}/s,{sustained} and at {}/s measured an ack p99 of {}: the queueing the users never saw",
        rate(closed.throughput),
        label(key),
        latency(waited_ms),
        rate(top.target_rate),
        rate(top.target_rate),
        latency(top.figures.ack.p99_ms)
    ))
}

fn offered_ratio(closed: &ScenarioClosed, top: &Step) -> f64 {
    top.target_rate / closed.throughput
}

/// Async completion as our ladders measured it, which the study's table has no column for.
fn completion_line(ours: &[ScenarioBench]) -> Option<String> {
    let entries: Vec<String> = ours
        .iter()
        .filter_map(|bench| {
            let step = reference_step(mode_ladder(bench, Mode::Async.as_str())?)?;
            let done = step.figures.done?;
            Some(format!(
                "{} at {}/s completed p99 {} after the request, its {} at p99 {}",
                label(&bench.scenario),
                rate(step.target_rate),
                latency(done.p99_ms),
                accepted_statuses(&bench.scenario),
                latency(step.figures.ack.p99_ms)
            ))
        })
        .collect();
    if entries.is_empty() {
        return None;
    }
    Some(format!(
        "completion was never measured: {}",
        entries.join("; ")
    ))
}

/// Our ladder for a scenario in a mode (`sync`, `async`; not `sync-limit-40`).
fn ladder<'a>(ours: &'a [ScenarioBench], scenario: &str, mode: &str) -> Option<&'a Ladder> {
    mode_ladder(ours.iter().find(|bench| bench.scenario == scenario)?, mode)
}

fn mode_ladder<'a>(bench: &'a ScenarioBench, mode: &str) -> Option<&'a Ladder> {
    bench
        .ladders
        .iter()
        .find(|ladder| ladder.key == mode && ladder.mode == mode)
}

fn top_step(ladder: &Ladder) -> Option<&Step> {
    ladder
        .steps
        .iter()
        .max_by(|a, b| a.target_rate.total_cmp(&b.target_rate))
}

/// The step at the sustainable rate, else the first: the figures a reader compares.
fn reference_step(ladder: &Ladder) -> Option<&Step> {
    ladder
        .sustainable_rate
        .and_then(|r| ladder.steps.iter().find(|s| s.target_rate == r))
        .or_else(|| ladder.steps.first())
}

/// The statuses the catalogue expects that are not 2xx, `400`.
fn intended_statuses(key: &str, mode: Mode) -> String {
    statuses(key, mode, |status| !is_2xx(status))
}

/// The async request's accepted statuses, `202`.
fn accepted_statuses(key: &str) -> String {
    let accepted = statuses(key, Mode::Async, is_2xx);
    if accepted.is_empty() {
        "answer".to_owned()
    } else {
        accepted
    }
}

fn statuses(key: &str, mode: Mode, keep: impl Fn(u16) -> bool) -> String {
    ScenarioId::parse(key)
        .map(|id| {
            scenario::get(id)
                .request(mode)
                .expected
                .iter()
                .filter(|s| keep(**s))
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default()
}

fn is_2xx(status: u16) -> bool {
    (200..300).contains(&status)
}

/// `s2` → `S2`.
fn label(key: &str) -> String {
    ScenarioId::parse(key).map_or_else(|| key.to_owned(), |id| id.to_string())
}

/// `s5` → `S5 (saga)`.
fn titled(key: &str) -> String {
    ScenarioId::parse(key).map_or_else(
        || key.to_owned(),
        |id| format!("{id} ({})", scenario::get(id).title),
    )
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Milliseconds from the histogram's whole microseconds, without a float product's rounding.
fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

fn latency(ms: f64) -> String {
    format_latency(Duration::try_from_secs_f64(ms.max(0.0) / 1000.0).unwrap_or_default())
}

fn rate(per_second: f64) -> String {
    if per_second >= 10.0 {
        format!("{per_second:.0}")
    } else if per_second >= 1.0 {
        format!("{per_second:.1}")
    } else {
        format!("{per_second:.2}")
    }
}

fn percent(fraction: f64) -> String {
    format!("{:.1} %", fraction * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::experiment::result::Latency;
    use crate::load::Outcome;

    use super::super::result::StepFigures;

    fn stats(outcome: Outcome, latency: Duration, n: u32) -> Stats {
        let mut stats = Stats::new();
        for _ in 0..n {
            stats.record(outcome, latency);
        }
        stats
    }

    /// 1,000 answers of 2 ms and 100 of 10 s: the pooled p95 is a 10-s one (its rank, 1,045,
    /// lies past the fast answers), 5,000 times the fast scenario's own.
    #[test]
    fn a_pooled_p95_is_the_slow_scenarios_not_the_fast_ones() {
        let fast = stats(Outcome::Expected(200), Duration::from_millis(2), 1000);
        let slow = stats(Outcome::Expected(200), Duration::from_secs(10), 100);
        assert_eq!(pooled_p95([&fast]), 2.0);
        // 10 s in HdrHistogram's 3 significant figures: the top of its 8.192-ms bucket.
        assert_eq!(pooled_p95([&slow]), 10_002.431);
        assert_eq!(pooled_p95([&fast, &slow]), 10_002.431);
        assert_eq!(pooled_p95([]), 0.0);
    }

    #[test]
    fn a_mode_counts_the_saga_400_as_an_error_their_way_only() {
        let mut saga = stats(Outcome::Expected(400), Duration::from_millis(30), 30);
        saga.merge(&stats(
            Outcome::Unexpected(500),
            Duration::from_millis(30),
            10,
        ));
        let clicks = stats(Outcome::Expected(200), Duration::from_millis(2), 60);
        let runs = [
            (
                ScenarioId::S5,
                ClosedSummary::new(saga, Duration::from_secs(1), 4),
            ),
            (
                ScenarioId::S6,
                ClosedSummary::new(clicks, Duration::from_secs(1), 4),
            ),
        ];
        let figures = mode_figures(Mode::Sync, &runs);
        assert_eq!(figures.error_rate_400_as_error, 0.4);
        assert_eq!(figures.error_rate, 0.1);
        assert_eq!(figures.throughput, 50.0);
        let s5 = figures.per_scenario["s5"];
        assert_eq!(
            (
                s5.requests,
                s5.errors_400_as_error,
                s5.errors,
                s5.intended_non_2xx
            ),
            (40, 40, 10, 30)
        );
        assert_eq!((s5.throughput, s5.virtual_users), (40.0, 4));
        assert_eq!(figures.per_scenario["s6"].p95_ms, 2.0);
        assert_eq!(figures.pooled_p95_ms, 30.015);
    }

    fn closed_row(requests: u64, p95_ms: f64, throughput: f64) -> ScenarioClosed {
        ScenarioClosed {
            requests,
            p95_ms,
            throughput,
            virtual_users: 10,
            ..ScenarioClosed::default()
        }
    }

    fn academic() -> Academic {
        let saga = ScenarioClosed {
            errors_400_as_error: 1900,
            intended_non_2xx: 1900,
            ..closed_row(2000, 40.0, 33.3)
        };
        let sync = AcademicMode {
            pooled_p95_ms: 2100.0,
            error_rate_400_as_error: 0.0852,
            error_rate: 0.002,
            throughput: 371.8,
            per_scenario: BTreeMap::from([
                ("s2".to_owned(), closed_row(300, 2010.0, 5.0)),
                ("s4".to_owned(), closed_row(6, 10_000.0, 0.1)),
                ("s5".to_owned(), saga),
                ("s6".to_owned(), closed_row(20_000, 2.1, 333.3)),
            ]),
        };
        // Alike scenarios, evenly loaded, no intended non-2xx: no line of its own.
        let asynchronous = AcademicMode {
            pooled_p95_ms: 3.0,
            throughput: 166.7,
            per_scenario: BTreeMap::from([
                ("s1".to_owned(), closed_row(5000, 3.0, 83.3)),
                ("s6".to_owned(), closed_row(5000, 2.0, 83.3)),
            ]),
            ..AcademicMode::default()
        };
        Academic {
            virtual_users: 10,
            seconds_per_scenario: 60.0,
            modes: BTreeMap::from([
                ("sync".to_owned(), sync),
                ("async".to_owned(), asynchronous),
            ]),
            differences: Vec::new(),
        }
    }

    fn step(target_rate: f64, ack_p99_ms: f64, done_p99_ms: Option<f64>) -> Step {
        let at = |p99_ms| Latency {
            p99_ms,
            ..Latency::default()
        };
        Step {
            target_rate,
            figures: StepFigures {
                ack: at(ack_p99_ms),
                done: done_p99_ms.map(at),
                ..StepFigures::default()
            },
            rounds: Vec::new(),
            criteria: Vec::new(),
            pass: true,
        }
    }

    fn a_ladder(mode: &str, steps: Vec<Step>, sustainable_rate: Option<f64>) -> Ladder {
        Ladder {
            key: mode.to_owned(),
            mode: mode.to_owned(),
            knobs: BTreeMap::new(),
            ack_bound_ms: 0.0,
            steps,
            stop_reason: String::new(),
            sustainable_rate,
        }
    }

    fn bench(scenario: &str, ladders: Vec<Ladder>) -> ScenarioBench {
        ScenarioBench {
            scenario: scenario.to_owned(),
            title: String::new(),
            ladders,
            skipped: Vec::new(),
            finding: String::new(),
        }
    }

    fn ours() -> Vec<ScenarioBench> {
        let s2_sync = vec![step(50.0, 2100.0, None), step(100.0, 2300.0, None)];
        vec![
            bench(
                "s2",
                vec![
                    a_ladder(
                        "sync",
                        [s2_sync, vec![step(200.0, 8100.0, None)]].concat(),
                        Some(100.0),
                    ),
                    a_ladder(
                        "async",
                        vec![step(100.0, 3.1, Some(2100.0)), step(200.0, 3.5, None)],
                        Some(100.0),
                    ),
                ],
            ),
            // The closed users sent more than this ladder offered: not the line's story.
            bench(
                "s6",
                vec![a_ladder("sync", vec![step(200.0, 2.0, None)], Some(200.0))],
            ),
            // No completion figures: nothing to say about it.
            bench(
                "s1",
                vec![a_ladder("async", vec![step(100.0, 2.0, None)], None)],
            ),
        ]
    }

    #[test]
    fn differences_are_drawn_from_the_numbers() {
        let lines = differences(&academic(), &ours());
        let expected = [
            "sync: the pooled p95 is dominated by S2's requests: 2.10 s pooled, but S6's own p95 is 2.10 ms",
            "their error rate counts S5's 400 as errors: 8.5 % errors for sync, where S5 (saga) answered 400 as designed 1900 times; by the expected statuses 0.2 % were errors",
            "their throughput adds unlike scenarios: 89.7 % of sync's 372 req/s were S6's requests, while S4 sent 0.10 req/s",
            "closed model: 10 users sent 5.0 req/s to sync S2 (each waited 2.00 s on average); the open model offered up to 200/s, sustained 100/s, and at 200/s measured an ack p99 of 8.10 s: the queueing the users never saw",
            "completion was never measured: S2 at 100/s completed p99 2.10 s after the request, its 202 at p99 3.10 ms",
        ];
        assert_eq!(lines, expected);
    }

    #[test]
    fn lines_without_their_data_are_left_out() {
        // Without our ladders: only what their own table shows.
        let lines = differences(&academic(), &[]);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(lines.iter().all(|l| !l.starts_with("closed model")));
        assert!(lines.iter().all(|l| !l.starts_with("completion")));
        // Without their table: only what ours measured and theirs had no column for.
        let none = Academic {
            modes: BTreeMap::new(),
            ..academic()
        };
        let lines = differences(&none, &ours());
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("completion was never measured: S2"));
        assert!(differences(&none, &[]).is_empty());
    }

    #[test]
    fn a_pooled_p95_near_the_fast_scenario_says_it_hides_the_slow_ones() {
        let mut figures = academic().modes["sync"].clone();
        figures.pooled_p95_ms = 2.5;
        assert_eq!(
            pooled_line(Mode::Sync, &figures).as_deref(),
            Some(
                "sync: the pooled p95 of 2.50 ms hides the slow scenarios: S4's own p95 is 10.00 s"
            )
        );
    }
}
