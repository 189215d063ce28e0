//! Runs a checked [`Experiment`] against the stack: for each round, setup (reset, knobs),
//! the load of every lane side by side with the steps on their own task, a completion grace
//! that ends early once every accepted request has completed, then restore and accounting.
//! Shared by `ms-tui run` and the control room; progress goes out on a channel.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Mode;
use common::scenario;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::accounting::{self, Answer};
use super::collect::Collector;
use super::effects::{DbUrls, Effects};
use super::figures::{fill_completions, mode_result, second_row};
use super::result::{Event, Invariant, ModeResult, RunResult, SecondRow, Verdict};
use super::setup::{put_back, reset, restock, stock, stock_invariants};
use super::spec::{Experiment, InvariantCheck, Lane, LoadShape, Round};
use super::steps::{self, Events, StepsCtx};
use crate::admin::{self, AdminSettings};
use crate::broker::BrokerSettings;
use crate::faults::control::Faults;
use crate::load::{self, LoadHandle, LoadSpec, Sample};

/// Where the stack is.
#[derive(Debug, Clone)]
pub struct Env {
    /// Host of the published ports.
    pub host: String,
    pub admin: AdminSettings,
    pub broker: BrokerSettings,
    /// The databases, for the rows side of the accounting (`None`: telemetry only).
    pub db: Option<DbUrls>,
}

impl Env {
    pub fn discover(host: &str, stack: &crate::stack::StackOptions) -> Env {
        Env {
            host: host.to_owned(),
            admin: AdminSettings::discover(host, stack),
            broker: BrokerSettings::discover(stack),
            db: DbUrls::discover(stack)
                .map_err(|e| tracing::warn!("experiment: no database for the accounting ({e:#})"))
                .ok(),
        }
    }
}

/// What a run reports while it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A round's phase began: `setup`, `load`, `grace`, `restore`, `accounting`.
    Phase {
        round: String,
        phase: String,
    },
    /// Once a second during load and grace.
    Second(Tick),
    Event(Event),
}

/// One second of a round, for a progress line.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub phase: String,
    /// Seconds since the load started, and the load's length.
    pub t_s: f64,
    pub of_s: f64,
    pub lanes: Vec<(String, SecondRow)>,
}

/// The run could not start or had to stop: bad knobs, no admin token.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunError(pub String);

/// Runs `plan`; `stop` ends it early (reverting everything) with a partial result.
pub async fn run(
    plan: &Experiment,
    env: &Env,
    progress: mpsc::Sender<Progress>,
    stop: CancellationToken,
) -> Result<RunResult, RunError> {
    if env.admin.token.is_none() {
        return Err(RunError(format!(
            "no admin token: set {} or run `ms-tui up` (compose/.env)",
            admin::TOKEN_ENV
        )));
    }
    let started_at = chrono::Utc::now();
    let http = common::http::client(Duration::from_secs(10));
    let modes: Vec<Mode> = plan
        .rounds
        .iter()
        .flat_map(|r| r.lanes.iter().map(|l| l.mode))
        .fold(Vec::new(), |mut all, m| {
            if !all.contains(&m) {
                all.push(m);
            }
            all
        });
    let knobs_before = super::environment::knobs(&http, &env.admin, &modes).await;
    let environment = super::environment::capture(knobs_before).await;
    let effects = env.db.clone().map(Effects::new);
    let events: Events = Arc::new(Mutex::new(Vec::new()));
    let mut result = RunResult {
        experiment: plan.name.clone(),
        lesson: plan.lesson.clone(),
        scenario: plan.scenario.as_str().to_owned(),
        started_at: started_at.to_rfc3339(),
        ended_at: String::new(),
        interrupted: false,
        environment,
        verdict: Verdict::Fail,
        modes: BTreeMap::new(),
        order: Vec::new(),
        thresholds: Vec::new(),
        invariants: Vec::new(),
        events: Vec::new(),
        series: BTreeMap::new(),
    };
    let several = plan.rounds.len() > 1;
    for round in &plan.rounds {
        if stop.is_cancelled() {
            break;
        }
        let outcome = run_round(
            plan,
            round,
            env,
            &http,
            effects.as_ref(),
            &events,
            &progress,
            &stop,
            several,
        )
        .await?;
        for (key, mode, series) in outcome.lanes {
            result.order.push(key.clone());
            result.modes.insert(key.clone(), mode);
            result.series.insert(key, series);
        }
        result.invariants.extend(outcome.invariants);
    }
    result.interrupted = stop.is_cancelled();
    result.events = events.lock().map(|e| e.clone()).unwrap_or_default();
    result.events.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    judge(plan, &mut result);
    result.ended_at = chrono::Utc::now().to_rfc3339();
    Ok(result)
}

/// Thresholds (each on its mode, `all` on every one) and the verdict.
fn judge(plan: &Experiment, result: &mut RunResult) {
    for threshold in &plan.thresholds {
        for key in &result.order {
            if threshold.key == "all" || threshold.key == *key {
                result
                    .thresholds
                    .push(threshold.judge(key, &result.modes[key]));
            }
        }
    }
    let held = result.thresholds.iter().all(|t| t.pass) && result.invariants.iter().all(|i| i.pass);
    result.verdict = if held && !result.interrupted && !result.order.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
}

/// One lane's load while it runs.
struct Running {
    lane: Lane,
    handle: LoadHandle,
    series: Vec<SecondRow>,
}

struct RoundOutcome {
    lanes: Vec<(String, ModeResult, Vec<SecondRow>)>,
    invariants: Vec<Invariant>,
}

#[allow(clippy::too_many_arguments)]
async fn run_round(
    plan: &Experiment,
    round: &Round,
    env: &Env,
    http: &reqwest::Client,
    effects: Option<&Effects>,
    events: &Events,
    progress: &mpsc::Sender<Progress>,
    stop: &CancellationToken,
    several: bool,
) -> Result<RoundOutcome, RunError> {
    let name = round
        .lanes
        .iter()
        .map(|l| l.key.as_str())
        .collect::<Vec<_>>()
        .join(" + ");
    let phase = |phase: &str| {
        let _ = progress.try_send(Progress::Phase {
            round: name.clone(),
            phase: phase.into(),
        });
    };
    let note_at = |t_s: f64, kind: &str, target: &str, detail: String| {
        let detail = if several {
            format!("[{name}] {detail}")
        } else {
            detail
        };
        steps::record(
            events,
            progress,
            Event {
                t_s,
                kind: kind.into(),
                target: target.into(),
                detail,
            },
        );
    };
    // Setup happens before the load's clock starts: at 0 on its axis.
    let note = |kind: &str, target: &str, detail: String| note_at(0.0, kind, target, detail);
    phase("setup");
    let modes: Vec<Mode> = round.lanes.iter().map(|l| l.mode).collect();
    if plan.reset {
        reset(http, &env.admin, &modes).await.map_err(RunError)?;
        note("phase", "", "data reset (POST /admin/reset)".into());
    }
    if plan.restock > 0 {
        restock(http, &env.admin, &modes, plan.restock)
            .await
            .map_err(RunError)?;
        note(
            "phase",
            "",
            format!("restocked +{} per product", plan.restock),
        );
    }
    let stock_before = match (plan.invariants.contains(&InvariantCheck::Stock), effects) {
        (true, Some(effects)) => Some(stock(effects, &modes).await),
        _ => None,
    };
    let mut restore = Vec::new();
    for lane in &round.lanes {
        let mut knobs = plan.knobs.clone();
        knobs.extend(lane.knobs.clone());
        if knobs.is_empty() {
            continue;
        }
        let targets = admin::services_of(lane.mode);
        match steps::set_knobs(http, &env.admin, &targets, &knobs).await {
            Ok(before) => restore.extend(before),
            Err(e) => {
                put_back(http, &env.admin, &restore).await;
                return Err(RunError(format!(
                    "the knobs {} were refused: {e:#}",
                    Value::Object(knobs)
                )));
            }
        }
        note("knob", lane.mode.as_str(), Value::Object(knobs).to_string());
    }
    let entry = scenario::get(plan.scenario);
    let queues = if modes.contains(&Mode::Async) {
        entry.queues.iter().map(|q| (*q).to_owned()).collect()
    } else {
        Vec::new()
    };
    let collector = Collector::start(&env.broker, queues).await;
    let (samples_tx, samples_rx) = mpsc::channel::<Sample>(1 << 16);
    let answers: Answers = Arc::default();
    let gathering = tokio::spawn(gather(samples_rx, answers.clone()));
    let client = load::headless::load_client();
    let start = Instant::now();
    let mut running: Vec<Running> = round
        .lanes
        .iter()
        .map(|lane| Running {
            lane: lane.clone(),
            handle: load::start(
                lane_spec(plan, lane, &env.host),
                client.clone(),
                Some(samples_tx.clone()),
            ),
            series: Vec::new(),
        })
        .collect();
    drop(samples_tx);
    phase("load");
    let (rates_tx, mut rates) = mpsc::channel(8);
    let finish = CancellationToken::new();
    let steps_task = tokio::spawn(steps::run(
        StepsCtx {
            steps: plan.steps.clone(),
            modes: modes.clone(),
            admin: env.admin.clone(),
            broker: env.broker.clone(),
            faults: Faults::new(crate::docker::Project::default(), env.admin.clone()),
            events: events.clone(),
            progress: progress.clone(),
            start,
            rates: rates_tx,
        },
        finish.clone(),
        stop.clone(),
    ));
    let load_for = plan.load.duration();
    // Steps may run past the load (a fault that ends in the grace): the round waits for
    // the last of them, and for the grace after the load.
    let last_step = plan
        .steps
        .iter()
        .map(|s| s.until.unwrap_or(s.at))
        .max()
        .unwrap_or_default();
    let grace_end = load_for.max(last_step) + plan.grace;
    let mut ticks =
        tokio::time::interval_at(start + Duration::from_secs(1), Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut loading = true;
    let mut drained_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some((mode, rate)) = rates.recv() => {
                for lane in running.iter().filter(|r| mode.is_none_or(|m| m == r.lane.mode)) {
                    lane.handle.set_rate(rate);
                }
                continue;
            }
            _ = ticks.tick() => {}
        }
        let t = start.elapsed();
        let depth = collector.depth();
        let mut lanes = Vec::new();
        for lane in &mut running {
            let (stats, took) = lane.handle.take_window_stats();
            let row = second_row(
                t,
                &stats.summary(took),
                (lane.lane.mode == Mode::Async).then_some(depth).flatten(),
            );
            lane.series.push(row.clone());
            lanes.push((lane.lane.key.clone(), row));
        }
        let phase_now = if loading { "load" } else { "grace" };
        let _ = progress.try_send(Progress::Second(Tick {
            phase: phase_now.into(),
            t_s: t.as_secs_f64(),
            of_s: load_for.as_secs_f64(),
            lanes,
        }));
        if loading && t >= load_for && running.iter().all(|r| r.handle.is_finished()) {
            loading = false;
            phase("grace");
        }
        if t >= grace_end {
            break;
        }
        if !loading && t >= last_step {
            // Done early when every accepted request has completed (telemetry) and the
            // queues are empty, twice in a row (a row may commit just after its event).
            let open = waiting(plan.scenario, &answers, &collector.events());
            if open == 0 && depth.unwrap_or(0) == 0 {
                if drained_since.is_some_and(|s| s.elapsed() >= Duration::from_secs(1)) {
                    break;
                }
                drained_since.get_or_insert_with(Instant::now);
            } else {
                drained_since = None;
            }
        }
    }
    phase("restore");
    for lane in &running {
        lane.handle.stop();
    }
    finish.cancel();
    let _ = steps_task.await;
    put_back(http, &env.admin, &restore).await;
    if !restore.is_empty() {
        note_at(
            start.elapsed().as_secs_f64(),
            "knob",
            "",
            "setup knobs restored".into(),
        );
    }
    phase("accounting");
    let mut summaries = Vec::new();
    for lane in running {
        let summary = lane.handle.finish().await;
        summaries.push((lane.lane, summary, lane.series));
    }
    let _ = gathering.await;
    let answers: Vec<(Mode, Answer)> = answers.lock().map(|a| a.clone()).unwrap_or_default();
    let telemetry = collector.stop().await;
    let mut outcome = RoundOutcome {
        lanes: Vec::new(),
        invariants: Vec::new(),
    };
    let reverts: Vec<f64> = events
        .lock()
        .map(|e| {
            e.iter()
                .filter(|e| e.kind == "revert")
                .map(|e| e.t_s)
                .collect()
        })
        .unwrap_or_default();
    let wall_start =
        chrono::Utc::now() - chrono::Duration::from_std(start.elapsed()).unwrap_or_default();
    for (lane, summary, mut series) in summaries {
        let mine: Vec<Answer> = answers
            .iter()
            .filter(|(m, _)| *m == lane.mode)
            .map(|(_, a)| a.clone())
            .collect();
        let lane_events: Vec<_> = telemetry
            .iter()
            .filter(|e| e.mode == lane.mode)
            .cloned()
            .collect();
        let rows = match (effects, Effects::source(plan.scenario)) {
            (Some(effects), Some(_)) => {
                let ids: Vec<String> = mine
                    .iter()
                    .filter(|a| a.outcome.is_success())
                    .map(|a| a.correlation_id.clone())
                    .collect();
                match effects.rows(plan.scenario, lane.mode, &ids).await {
                    Ok(rows) => Some(rows),
                    Err(e) => {
                        note(
                            "error",
                            lane.mode.as_str(),
                            format!("reading the effect rows: {e:#}"),
                        );
                        None
                    }
                }
            }
            _ => None,
        };
        let figures = accounting::account(plan.scenario, &mine, &lane_events, rows.as_ref());
        fill_completions(&mut series, &figures.completions, wall_start);
        let mode = mode_result(plan, &lane, &summary, &figures, &series, &reverts);
        outcome.lanes.push((lane.key.clone(), mode, series));
    }
    if let (Some(before), Some(effects)) = (stock_before, effects) {
        let after = stock(effects, &modes).await;
        outcome.invariants.extend(stock_invariants(&before, &after));
    }
    Ok(outcome)
}

fn lane_spec(plan: &Experiment, lane: &Lane, host: &str) -> LoadSpec {
    let mut spec = LoadSpec::for_stack(plan.scenario, lane.mode, host);
    spec.timeout = plan.timeout;
    spec.uncapped = plan.uncapped;
    match plan.load {
        LoadShape::Rate { rate, duration } => {
            spec.rate = rate;
            spec.duration = Some(duration);
        }
        LoadShape::Burst { requests } => {
            spec.rate = f64::from(requests) / super::spec::BURST_WINDOW.as_secs_f64();
            spec.duration = Some(super::spec::BURST_WINDOW);
            spec.uncapped = true;
        }
    }
    spec
}

/// The answers of a round as they arrive, with their mode. The channel is large enough for a
/// minute at thousands of requests per second; a sample dropped when it is full would show as
/// a gap between `sent` and the accounting's total.
pub(crate) type Answers = Arc<Mutex<Vec<(Mode, Answer)>>>;

pub(crate) async fn gather(mut samples: mpsc::Receiver<Sample>, into: Answers) {
    while let Some(sample) = samples.recv().await {
        if let Ok(mut all) = into.lock() {
            all.push((
                sample.mode,
                Answer {
                    correlation_id: sample.correlation_id,
                    outcome: sample.outcome,
                    degraded: sample.degraded,
                    intended_at: sample.intended_at,
                    latency: sample.latency,
                },
            ));
        }
    }
}

/// Async requests accepted and not completed yet by telemetry. A sync flow completes inside
/// its request or never (its e-mail was not sent): once its load is over there is nothing to
/// wait for.
fn waiting(
    scenario: scenario::ScenarioId,
    answers: &Answers,
    events: &[common::completion::CompletionEvent],
) -> u64 {
    let mine: Vec<Answer> = answers
        .lock()
        .map(|all| {
            all.iter()
                .filter(|(m, _)| *m == Mode::Async)
                .map(|(_, a)| a.clone())
                .collect()
        })
        .unwrap_or_default();
    let theirs: Vec<_> = events
        .iter()
        .filter(|e| e.mode == Mode::Async)
        .cloned()
        .collect();
    accounting::account(scenario, &mine, &theirs, None).lost
}
