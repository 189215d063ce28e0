//! `ms-tui bench`: every chosen scenario, one ladder after another (sync, async, sync held to
//! 40 in flight), each step judged, a line a second of progress on stderr, the report folder
//! at the end. Exit 0 when the bench completed (a ladder that stops is a result), 1 when a
//! step could not be measured at all, 2 for bad input or a stack that is not up.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::Mode;
use common::config::{DelayProfile, Knobs};
use common::scenario::{self, ScenarioId};
use tokio_util::sync::CancellationToken;

use super::criteria;
use super::plan::{BenchPlan, LadderPlan, ScenarioPlan};
use super::result::{BenchReport, Ladder, ScenarioBench, Step, StepFigures};
use super::step::{self, Target};
use crate::admin::{self, AdminSettings};
use crate::broker::BrokerSettings;
use crate::experiment::steps::{KnobsBefore, set_knobs};
use crate::load::stats::format_latency;

const BAD_INPUT: u8 = 2;

/// Units added to every seeded product after each reset.
const RESTOCK: u32 = 1_000_000;

/// `ms-tui bench`.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// The scenarios, comma-separated (s1…s8); default all eight.
    #[arg(long, value_delimiter = ',', value_parser = parse_scenario)]
    pub scenarios: Vec<ScenarioId>,

    /// Few, short steps (three rates, 4 s each, `sync-limit-40` only where the limit can
    /// bind): about 2 minutes for s1,s6 and 8 for all eight on a 2-core machine.
    #[arg(long)]
    pub quick: bool,

    /// Run each step this many times; the report gives the median and the spread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub rounds: u32,

    /// The report folder (default: results/bench-<UTC timestamp>/).
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// `ours` (our delays) or `peer`: the original projects' delays, and the academic
    /// study's own way of counting (closed-model load, pooled p95, the saga's 400 as an
    /// error) beside ours.
    #[arg(long, value_enum, default_value_t = Profile::Ours)]
    pub profile: Profile,

    /// Virtual users of the closed-model run (`--profile peer`).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub virtual_users: u32,

    /// Host of the stack's published ports.
    #[arg(long, env = "MS_TUI_HOST", default_value = "127.0.0.1")]
    pub host: String,

    #[command(flatten)]
    pub stack: crate::stack::StackOptions,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    Ours,
    Peer,
}

fn parse_scenario(text: &str) -> Result<ScenarioId, String> {
    ScenarioId::parse(text).ok_or_else(|| format!("`{text}` is not a scenario: use s1…s8"))
}

/// Runs `ms-tui bench`.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let scenarios = if args.scenarios.is_empty() {
        scenario::CATALOGUE.iter().map(|s| s.id).collect()
    } else {
        args.scenarios.clone()
    };
    if let Err(message) = crate::experiment::headless::stack_is_up(&args.stack).await {
        return Ok(bad_input(&message));
    }
    let started = chrono::Utc::now();
    let dir = args.out.clone().unwrap_or_else(|| {
        Path::new("results").join(format!("bench-{}", started.format("%Y%m%dT%H%M%SZ")))
    });
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return Ok(bad_input(&format!(
            "--out {}: cannot create it ({e}); nothing ran",
            dir.display()
        )));
    }
    let plan = BenchPlan::new(&scenarios, args.quick, args.rounds);
    let admin = AdminSettings::discover(&args.host, &args.stack);
    if admin.token.is_none() {
        return Ok(bad_input(&format!(
            "no admin token: set {} or run `ms-tui up` (compose/.env)",
            admin::TOKEN_ENV
        )));
    }
    let broker = BrokerSettings::discover(&args.stack);
    let stop = CancellationToken::new();
    crate::experiment::headless::watch_signals(stop.clone())?;
    eprintln!(
        "==> bench of {} ({} profile{}): at most {:.0} s of load and drain",
        scenarios
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
        if args.profile == Profile::Peer {
            "peer"
        } else {
            "our"
        },
        if args.quick { ", quick" } else { "" },
        plan.longest().as_secs_f64()
    );
    let began = Instant::now();
    let http = common::http::client(Duration::from_secs(10));
    let knobs = crate::experiment::environment::knobs(&http, &admin, &Mode::ALL).await;
    let environment = crate::experiment::environment::capture(knobs).await;
    let peer = match args.profile {
        Profile::Peer => match apply_peer_profile(&http, &admin).await {
            Ok(before) => Some(before),
            Err(e) => return Ok(bad_input(&format!("the peer profile was refused: {e:#}"))),
        },
        Profile::Ours => None,
    };
    let bench = Bench {
        host: &args.host,
        broker: &broker,
        admin: &admin,
        http: &http,
        docker: crate::docker::connect().await.ok(),
        client: crate::load::headless::load_client(),
        stop: &stop,
    };
    let mut results = Vec::new();
    let mut unmeasured = 0;
    for scenario in &plan.scenarios {
        if stop.is_cancelled() {
            break;
        }
        let (result, missing) = bench.scenario(scenario, plan.rounds).await;
        unmeasured += missing;
        results.push(result);
    }
    let academic = match (&peer, stop.is_cancelled()) {
        (Some(_), false) => {
            eprintln!(
                "--- the academic study's way: closed model, {} users",
                args.virtual_users
            );
            bench.fresh_data(&Mode::ALL).await;
            let per_scenario = if args.quick {
                Duration::from_secs(5)
            } else {
                Duration::from_secs(20)
            };
            let mut academic = super::academic::run(
                &scenarios,
                &args.host,
                args.virtual_users,
                per_scenario,
                stop.clone(),
                &broker,
                |line| eprintln!("  {line}"),
            )
            .await;
            academic.differences = super::academic::differences(&academic, &results);
            Some(academic)
        }
        _ => None,
    };
    if let Some(before) = &peer {
        crate::experiment::setup::put_back(&http, &admin, before).await;
        eprintln!("==> our delays restored");
    }
    let report = BenchReport {
        started_at: started.to_rfc3339(),
        ended_at: chrono::Utc::now().to_rfc3339(),
        duration_s: began.elapsed().as_secs_f64(),
        profile: match args.profile {
            Profile::Ours => "ours",
            Profile::Peer => "peer",
        }
        .into(),
        quick: args.quick,
        rounds: plan.rounds,
        step_s: plan
            .scenarios
            .first()
            .and_then(|s| s.ladders.first())
            .map_or(0.0, |l| l.step.as_secs_f64()),
        interrupted: stop.is_cancelled(),
        environment,
        scenarios: results,
        academic,
    };
    let written = super::report::write(&dir, &report)?;
    print!("{}", summary_table(&report));
    for path in written {
        println!("wrote {}", path.display());
    }
    eprintln!("==> the bench took {:.0} s", report.duration_s);
    Ok(if unmeasured > 0 {
        eprintln!("ms-tui bench: {unmeasured} step(s) could not be measured at all (no answer)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn bad_input(message: &str) -> ExitCode {
    eprintln!("ms-tui bench: {message}");
    ExitCode::from(BAD_INPUT)
}

/// The peers' delays on every service (the sync fan-out steps do no work), through the
/// admin API; the values they replace, to put back.
async fn apply_peer_profile(
    http: &reqwest::Client,
    admin: &AdminSettings,
) -> anyhow::Result<KnobsBefore> {
    let mut before = Vec::new();
    for mode in Mode::ALL {
        let peer = serde_json::to_value(Knobs::defaults(DelayProfile::Peer, mode))?;
        let serde_json::Value::Object(knobs) = peer else {
            anyhow::bail!("the peer knobs are not an object");
        };
        before.extend(set_knobs(http, admin, &admin::services_of(mode), &knobs).await?);
    }
    Ok(before)
}

/// What every ladder needs.
struct Bench<'a> {
    host: &'a str,
    broker: &'a BrokerSettings,
    admin: &'a AdminSettings,
    http: &'a reqwest::Client,
    docker: Option<bollard::Docker>,
    client: reqwest::Client,
    stop: &'a CancellationToken,
}

impl Bench<'_> {
    /// A scenario's ladders, one after the other, each on freshly reset data; how many steps
    /// could not be measured.
    async fn scenario(&self, plan: &ScenarioPlan, rounds: u32) -> (ScenarioBench, usize) {
        let entry = scenario::get(plan.scenario);
        eprintln!("--- {} {}", plan.scenario.as_str(), entry.title);
        for skipped in &plan.skipped {
            eprintln!("  {skipped}");
        }
        let mut ladders = Vec::new();
        let mut unmeasured = 0;
        for ladder in &plan.ladders {
            if self.stop.is_cancelled() {
                break;
            }
            self.fresh_data(&[ladder.mode]).await;
            let before = match set_knobs(
                self.http,
                self.admin,
                &admin::services_of(ladder.mode),
                &ladder.knobs,
            )
            .await
            {
                Ok(before) => before,
                Err(e) => {
                    eprintln!("  {}: knobs refused ({e:#}); ladder skipped", ladder.key);
                    continue;
                }
            };
            let (result, missing) = self.ladder(plan.scenario, ladder, rounds).await;
            if ladder.mode == Mode::Async {
                // A step that fell behind leaves a backlog whose consumers would work on
                // through the next ladder.
                let who = format!("  {} {}", plan.scenario.as_str(), ladder.key);
                step::leave_the_queues_empty(plan.scenario, self.broker, &who, &|line| {
                    eprintln!("{line}")
                })
                .await;
            }
            crate::experiment::setup::put_back(self.http, self.admin, &before).await;
            unmeasured += missing;
            ladders.push(result);
        }
        let finding = finding(plan.scenario, &ladders);
        eprintln!("  finding: {finding}");
        (
            ScenarioBench {
                scenario: plan.scenario.as_str().into(),
                title: entry.title.into(),
                ladders,
                skipped: plan.skipped.clone(),
                finding,
            },
            unmeasured,
        )
    }

    /// The seed data back, and stock no ladder can sell out: S8 at 10/s sold the seeded 100
    /// units of its product within its first step, and every order after that was refused.
    async fn fresh_data(&self, modes: &[Mode]) {
        if let Err(e) = crate::experiment::setup::reset(self.http, self.admin, modes).await {
            eprintln!("  reset: {e}");
        }
        if let Err(e) =
            crate::experiment::setup::restock(self.http, self.admin, modes, RESTOCK).await
        {
            eprintln!("  restock: {e}");
        }
    }

    async fn ladder(
        &self,
        scenario: ScenarioId,
        plan: &LadderPlan,
        rounds: u32,
    ) -> (Ladder, usize) {
        let target = Target {
            host: self.host,
            broker: self.broker,
            docker: self.docker.as_ref(),
            client: &self.client,
        };
        step::warm_up(scenario, plan, &target).await;
        let mut steps = Vec::new();
        let mut unmeasured = 0;
        let mut stop_reason = None;
        let mut last_stats = None;
        for &rate in &plan.rates {
            let mut measured = Vec::new();
            for round in 1..=rounds {
                if self.stop.is_cancelled() {
                    break;
                }
                let ran = step::run(scenario, plan, rate, &target, last_stats, self.stop).await;
                last_stats = ran.after;
                match ran.figures {
                    Some(figures) => {
                        eprintln!(
                            "{}",
                            step_line(scenario, plan, rate, round, rounds, &figures)
                        );
                        measured.push(figures);
                    }
                    None if self.stop.is_cancelled() => {}
                    None => {
                        unmeasured += 1;
                        eprintln!("  {} {}/s: no answer at all", plan.key, rate);
                    }
                }
            }
            let Some(step) = step_of(rate, measured, plan) else {
                stop_reason = Some(if self.stop.is_cancelled() {
                    "interrupted".into()
                } else {
                    format!("at {rate}/s: not measured")
                });
                break;
            };
            let reason = criteria::stop_reason(&step);
            steps.push(step);
            if let Some(reason) = reason {
                stop_reason = Some(reason);
                break;
            }
        }
        let cap = scenario::get(scenario).max_rate;
        let top = plan.rates.last().copied().unwrap_or(cap);
        let ladder = Ladder {
            key: plan.key.clone(),
            mode: plan.mode.as_str().into(),
            knobs: plan.knobs.clone().into_iter().collect(),
            ack_bound_ms: plan.ack_bound.as_secs_f64() * 1000.0,
            sustainable_rate: criteria::sustainable(&steps),
            steps,
            stop_reason: stop_reason.unwrap_or_else(|| {
                if top < cap {
                    format!("top of the ladder ({top}/s; the catalogue's cap is {cap}/s)")
                } else {
                    format!("top of the ladder: the catalogue's cap, {cap}/s")
                }
            }),
        };
        eprintln!(
            "  {}: sustainable {} — {}",
            ladder.key,
            ladder
                .sustainable_rate
                .map_or("none".into(), |r| format!("{r}/s")),
            ladder.stop_reason
        );
        (ladder, unmeasured)
    }
}

/// The step from its rounds: the median round by ack p99, judged.
fn step_of(rate: f64, mut rounds: Vec<StepFigures>, plan: &LadderPlan) -> Option<Step> {
    if rounds.is_empty() {
        return None;
    }
    let mut order: Vec<usize> = (0..rounds.len()).collect();
    order.sort_by(|a, b| rounds[*a].ack.p99_ms.total_cmp(&rounds[*b].ack.p99_ms));
    let median = rounds[order[order.len() / 2]].clone();
    let criteria = criteria::judge(&median, rate, plan.ack_bound, plan.done_bound);
    let pass = criteria.iter().all(|c| c.pass);
    rounds.shrink_to_fit();
    Some(Step {
        target_rate: rate,
        figures: median,
        rounds,
        criteria,
        pass,
    })
}

fn ms(v: f64) -> String {
    format_latency(Duration::from_secs_f64(v.max(0.0) / 1000.0))
}

fn step_line(
    scenario: ScenarioId,
    plan: &LadderPlan,
    rate: f64,
    round: u32,
    rounds: u32,
    f: &StepFigures,
) -> String {
    let done = f.done.map_or("—".into(), |d| ms(d.p99_ms));
    let backlog = match (f.backlog_start, f.backlog_end) {
        (Some(a), Some(b)) => format!(", backlog {a}→{b}"),
        _ => String::new(),
    };
    format!(
        "[{} {} {rate}/s{}] achieved {:.1}/s, errors {:.1} %, ack p99 {}, done p99 {done}{backlog}",
        scenario.as_str(),
        plan.key,
        if rounds > 1 {
            format!(" round {round}/{rounds}")
        } else {
            String::new()
        },
        f.achieved_rate,
        f.error_rate * 100.0,
        ms(f.ack.p99_ms),
    )
}

/// One line drawn from the numbers: each ladder's sustainable rate and its latency there,
/// and what stopped async.
pub fn finding(scenario: ScenarioId, ladders: &[Ladder]) -> String {
    let at_best = |l: &Ladder| {
        let best = l
            .steps
            .iter()
            .rev()
            .find(|s| Some(s.target_rate) == l.sustainable_rate)?;
        let done = best
            .figures
            .done
            .map_or(String::new(), |d| format!(", done p99 {}", ms(d.p99_ms)));
        Some(format!(
            "{} sustains {}/s (ack p99 {}{done})",
            l.key,
            best.target_rate,
            ms(best.figures.ack.p99_ms)
        ))
    };
    let mut parts: Vec<String> = ladders
        .iter()
        .map(|l| at_best(l).unwrap_or_else(|| format!("{} sustains none of its steps", l.key)))
        .collect();
    if let Some(a) = ladders.iter().find(|l| l.mode == "async") {
        parts.push(format!("async stopped {}", a.stop_reason));
    }
    format!("{}: {}", scenario.as_str().to_uppercase(), parts.join("; "))
}

fn summary_table(report: &BenchReport) -> String {
    let mut text = String::from("\n");
    text.push_str(&format!(
        "{:<5} {:<15} {:>11} {:>10} {:>10}  stop\n",
        "", "ladder", "sustainable", "ack p99", "done p99"
    ));
    for s in &report.scenarios {
        for l in &s.ladders {
            let best = l
                .steps
                .iter()
                .rev()
                .find(|st| Some(st.target_rate) == l.sustainable_rate);
            text.push_str(&format!(
                "{:<5} {:<15} {:>11} {:>10} {:>10}  {}\n",
                s.scenario,
                l.key,
                l.sustainable_rate
                    .map_or("none".into(), |r| format!("{r}/s")),
                best.map_or("—".into(), |b| ms(b.figures.ack.p99_ms)),
                best.and_then(|b| b.figures.done)
                    .map_or("—".into(), |d| ms(d.p99_ms)),
                l.stop_reason
            ));
        }
    }
    text
}
