//! One round of one step against the stack: Docker stats before, the scenario's open-model
//! load at the step's rate with the completion events and the queues watched, a drain that
//! ends once every accepted request has completed, Docker stats after, and the figures.
//!
//! The engine, the collectors and the accounting are the experiments' own, so a bench step
//! and an experiment measure the same way.

use std::time::Duration;

use common::Mode;
use common::scenario::{self, ScenarioId};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::criteria;
use super::plan::{INFRA, LadderPlan, flow_services};
use super::result::StepFigures;
use super::usage;
use crate::broker::BrokerSettings;
use crate::experiment::accounting;
use crate::experiment::collect::Collector;
use crate::experiment::figures::{done_latency, latency};
use crate::experiment::runner::{Answers, gather};
use crate::load::{self, LoadSpec, Summary};

/// Where the stack is, for every step.
pub struct Target<'a> {
    pub host: &'a str,
    pub broker: &'a BrokerSettings,
    pub docker: Option<&'a bollard::Docker>,
    pub client: &'a reqwest::Client,
}

/// Sends the ladder's first rate for a moment, unmeasured: the first requests of a ladder
/// open the client's connections and wake the services' pools, and in a 4 s step that
/// start-up alone made p99. Not at a rate that would send fewer than two: S4's one 10 s job
/// warms nothing and would hold its one worker into the first step.
pub async fn warm_up(scenario: ScenarioId, ladder: &LadderPlan, target: &Target<'_>) {
    let Some(&rate) = ladder.rates.first() else {
        return;
    };
    if rate * WARM_UP.as_secs_f64() < 2.0 {
        return;
    }
    let mut spec = LoadSpec::for_stack(scenario, ladder.mode, target.host);
    spec.rate = rate;
    spec.uncapped = true;
    spec.duration = Some(WARM_UP);
    let _ = load::start(spec, target.client.clone(), None)
        .finish()
        .await;
}

const WARM_UP: Duration = Duration::from_secs(2);

/// One round's figures (`None` when it was stopped before it could measure anything), and
/// the Docker stats it ended on.
pub struct Round {
    pub figures: Option<StepFigures>,
    /// The next round of the ladder starts from these: nothing runs between two rounds, and
    /// a snapshot of every container costs over a second on a loaded host.
    pub after: Option<usage::Snapshot>,
}

/// Runs one round, its CPU counted from `before` (the previous round's end) or from a
/// snapshot taken now.
pub async fn run(
    scenario: ScenarioId,
    ladder: &LadderPlan,
    rate: f64,
    target: &Target<'_>,
    before: Option<usage::Snapshot>,
    stop: &CancellationToken,
) -> Round {
    let before = match (before, target.docker) {
        (Some(before), _) => Some(before),
        (None, Some(docker)) => usage::snapshot(docker).await.ok(),
        (None, None) => None,
    };
    let entry = scenario::get(scenario);
    let queues = match ladder.mode {
        Mode::Async => entry.queues.iter().map(|q| (*q).to_owned()).collect(),
        Mode::Sync => Vec::new(),
    };
    let collector = Collector::start(target.broker, queues).await;
    let backlog_start = collector.first_depth(Duration::from_secs(2)).await;
    let mut spec = LoadSpec::for_stack(scenario, ladder.mode, target.host);
    spec.rate = rate;
    spec.uncapped = true;
    let length = ladder.step_length(rate);
    spec.duration = Some(length);
    spec.timeout = Duration::from_secs(30);
    let (tx, rx) = mpsc::channel(1 << 16);
    let answers: Answers = Answers::default();
    let gathering = tokio::spawn(gather(rx, answers.clone()));
    let handle = load::start(spec, target.client.clone(), Some(tx));
    tokio::select! {
        _ = stop.cancelled() => handle.stop(),
        _ = wait_finished(&handle) => {}
    }
    let summary = handle.finish().await;
    // The queues as the load ends: what is still there is what the consumers did not keep
    // up with.
    let backlog_end = collector.depth();
    let _ = gathering.await;
    let answers: Vec<accounting::Answer> = answers
        .lock()
        .map(|a| a.iter().map(|(_, a)| a.clone()).collect())
        .unwrap_or_default();
    let fell_behind = match (backlog_start, backlog_end) {
        (Some(start), Some(end)) => criteria::backlog_grew(rate, start, end),
        _ => false,
    };
    // A backlog that grew has failed the step already; waiting out the drain would only
    // delay the ladder's end (the queues are purged after the ladder).
    if !fell_behind {
        drain(scenario, ladder, &answers, &collector, stop).await;
    }
    let events: Vec<_> = collector
        .stop()
        .await
        .into_iter()
        .filter(|e| e.mode == ladder.mode)
        .collect();
    let after = match target.docker {
        Some(docker) => usage::snapshot(docker).await.ok(),
        None => None,
    };
    if summary.count == 0 {
        return Round {
            figures: None,
            after,
        };
    }
    let figures = accounting::account(scenario, &answers, &events, None);
    Round {
        figures: Some(step_figures(
            scenario,
            ladder.mode,
            length,
            &summary,
            &figures,
            (backlog_start, backlog_end),
            before.as_ref().zip(after.as_ref()),
        )),
        after,
    }
}

/// Purges what a run left in the scenario's queues, so that the next ladder or scenario does
/// not share the host with its consumers; `who` names the run in the progress lines.
pub async fn leave_the_queues_empty(
    id: ScenarioId,
    broker: &BrokerSettings,
    who: &str,
    progress: &impl Fn(String),
) {
    for queue in scenario::get(id).queues {
        match crate::experiment::collect::purge(broker, queue).await {
            Ok(0) => {}
            Ok(n) => progress(format!("{who} left {n} messages in {queue}: purged")),
            Err(e) => progress(format!("{who}: could not purge {queue}: {e:#}")),
        }
    }
}

async fn wait_finished(handle: &load::LoadHandle) {
    while !handle.is_finished() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Until every accepted request has its completion events, or the drain's time is up.
async fn drain(
    scenario: ScenarioId,
    ladder: &LadderPlan,
    answers: &[accounting::Answer],
    collector: &Collector,
    stop: &CancellationToken,
) {
    let until = Instant::now() + ladder.drain;
    while Instant::now() < until && !stop.is_cancelled() {
        let events: Vec<_> = collector
            .events()
            .into_iter()
            .filter(|e| e.mode == ladder.mode)
            .collect();
        if accounting::account(scenario, answers, &events, None).lost == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn flow_keys(scenario: ScenarioId, mode: Mode) -> Vec<String> {
    flow_services(scenario)
        .iter()
        .map(|s| format!("{mode}/{s}"))
        .collect()
}

fn step_figures(
    scenario: ScenarioId,
    mode: Mode,
    length: Duration,
    summary: &Summary,
    figures: &accounting::Accounting,
    (backlog_start, backlog_end): (Option<u64>, Option<u64>),
    usage_window: Option<(&usage::Snapshot, &usage::Snapshot)>,
) -> StepFigures {
    let done = done_latency(&figures.completions);
    let per_1000 =
        |seconds: f64| (summary.count > 0).then(|| seconds / summary.count as f64 * 1000.0);
    let (cpu, infra, per_container) = match usage_window {
        Some((before, after)) => (
            per_1000(usage::cpu_seconds_of(
                before,
                after,
                &flow_keys(scenario, mode),
            )),
            per_1000(usage::cpu_seconds_of(
                before,
                after,
                &INFRA.map(String::from),
            )),
            usage::between(before, after),
        ),
        None => (None, None, Default::default()),
    };
    StepFigures {
        sent: summary.count,
        // Requests sent over the step's length: the engine sends each at its time unless
        // every slot is taken, so this is what the open model achieved. The answers' own
        // rate (over the time to the last answer) would count a 500 ms answer as a shortfall
        // of 11 % in a 4 s step.
        achieved_rate: summary.count as f64 / length.as_secs_f64(),
        error_rate: if summary.count == 0 {
            0.0
        } else {
            summary.failed as f64 / summary.count as f64
        },
        ack: latency(summary),
        done,
        not_completed: figures.lost,
        backlog_start,
        backlog_end,
        cpu_s_per_1000: cpu,
        infra_cpu_s_per_1000: infra,
        usage: per_container,
    }
}
