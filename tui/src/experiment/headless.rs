//! `ms-tui run`: an experiment from the command line — a progress line a second on stderr,
//! the verdict table on stdout, the result folder written, and an exit code scripts and CI
//! can trust (0 every threshold held, 1 one failed or the run was interrupted, 2 bad input or
//! a stack that is not up).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::builtin::{self, BUILTINS};
use super::result::{ModeResult, RunResult, SecondRow, Verdict};
use super::runner::{self, Env, Progress};
use super::spec::Experiment;
use crate::load::stats::format_latency;

const BAD_INPUT: u8 = 2;

/// `ms-tui run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// A built-in experiment's name (`ms-tui run --list`) or the path of an experiment file
    /// (TOML; docs/experiments.md has the schema, experiments/ the built-ins to copy).
    #[arg(required_unless_present = "list")]
    pub experiment: Option<String>,

    /// The folder for result.json, report.md and timeline.svg (default:
    /// results/<name>-<UTC timestamp>/ in the working directory).
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// List the built-in experiments, each with its lesson, then exit.
    #[arg(long)]
    pub list: bool,

    /// Check the file and print its plan; run nothing.
    #[arg(long)]
    pub check: bool,

    /// Host of the stack's published ports.
    #[arg(long, env = "MS_TUI_HOST", default_value = "127.0.0.1")]
    pub host: String,

    #[command(flatten)]
    pub stack: crate::stack::StackOptions,
}

/// Runs `ms-tui run`.
pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        for builtin in BUILTINS {
            let lesson = super::spec::parse(builtin.text, builtin.name)
                .map(|p| p.lesson)
                .unwrap_or_default();
            println!("{:<16} {lesson}", builtin.name);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let arg = args.experiment.clone().unwrap_or_default();
    let plan = match builtin::load(&arg) {
        Ok(plan) => plan,
        Err(message) => return Ok(bad_input(&format!("{message}\n(nothing ran)"))),
    };
    if args.check {
        print!("{}", describe(&plan));
        return Ok(ExitCode::SUCCESS);
    }
    if let Err(message) = stack_is_up(&args.stack).await {
        return Ok(bad_input(&message));
    }
    let started = chrono::Utc::now();
    let dir = args.out.clone().unwrap_or_else(|| {
        Path::new("results").join(RunResult::default_folder(&plan.name, started))
    });
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return Ok(bad_input(&format!(
            "--out {}: cannot create it ({e}); nothing ran",
            dir.display()
        )));
    }
    let env = Env::discover(&args.host, &args.stack);
    let stop = CancellationToken::new();
    watch_signals(stop.clone())?;
    let (tx, rx) = mpsc::channel(256);
    let printer = tokio::spawn(print_progress(rx));
    eprintln!("==> {}: {}", plan.name, plan.lesson);
    let outcome = runner::run(&plan, &env, tx, stop.clone()).await;
    let _ = printer.await;
    let result = match outcome {
        Ok(result) => result,
        Err(e) => return Ok(bad_input(&format!("{e}"))),
    };
    let written = super::report::write(&dir, &result)?;
    print!("{}", verdict_table(&result));
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(match result.verdict {
        Verdict::Pass => ExitCode::SUCCESS,
        Verdict::Fail => ExitCode::FAILURE,
    })
}

fn bad_input(message: &str) -> ExitCode {
    eprintln!("ms-tui run: {message}");
    ExitCode::from(BAD_INPUT)
}

/// Every container of the stack running and healthy, or what to do about it.
pub(crate) async fn stack_is_up(stack: &crate::stack::StackOptions) -> Result<(), String> {
    let list = crate::stack::status(stack)
        .await
        .map_err(|e| format!("the Docker engine is not reachable ({e:#}); nothing ran"))?;
    let ready = list.iter().filter(|c| c.is_ready()).count();
    if list.is_empty() {
        return Err("the stack is not up: run `ms-tui up` first (nothing ran)".into());
    }
    if ready < list.len() {
        let down: Vec<String> = list
            .iter()
            .filter(|c| !c.is_ready())
            .map(|c| format!("{}/{}", c.mode, c.service))
            .collect();
        return Err(format!(
            "the stack is not healthy ({ready}/{} ready; not: {}): wait, or run `ms-tui up` \
             (nothing ran)",
            list.len(),
            down.join(", ")
        ));
    }
    Ok(())
}

/// Ctrl-C, SIGTERM and SIGHUP stop the run; it still reverts and writes a partial report.
pub(crate) fn watch_signals(stop: CancellationToken) -> anyhow::Result<()> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
            _ = hangup.recv() => {}
        }
        eprintln!("==> stopping: reverting every fault and knob, then writing a partial report");
        stop.cancel();
    });
    Ok(())
}

async fn print_progress(mut rx: mpsc::Receiver<Progress>) {
    while let Some(progress) = rx.recv().await {
        match progress {
            Progress::Phase { round, phase } => eprintln!("--- {round}: {phase}"),
            Progress::Second(tick) => {
                let lanes: Vec<String> = tick
                    .lanes
                    .iter()
                    .map(|(key, row)| lane_line(key, row))
                    .collect();
                eprintln!(
                    "[{:>4.0}s/{:.0}s {:<5}] {}",
                    tick.t_s,
                    tick.of_s,
                    tick.phase,
                    lanes.join(" | ")
                );
            }
            Progress::Event(event) => eprintln!(
                "  ▲ {:>5.1}s {} {} {}",
                event.t_s, event.kind, event.target, event.detail
            ),
        }
    }
}

fn lane_line(key: &str, row: &SecondRow) -> String {
    let p99 = row
        .ack_p99_ms
        .map_or("—".into(), |ms| format_latency(millis(ms)));
    let queue = row
        .queue_depth
        .map_or(String::new(), |d| format!(" queue {d}"));
    format!(
        "{key}: {} answered, {} ok, {} err, p99 {p99}{queue}",
        row.answered, row.accepted, row.errors
    )
}

fn millis(ms: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(ms.max(0.0) / 1000.0)
}

/// The plan in words, for `--check`.
fn describe(plan: &Experiment) -> String {
    let mut text = format!(
        "{} ({}): {}\n",
        plan.name,
        plan.scenario.as_str(),
        plan.lesson
    );
    for (i, round) in plan.rounds.iter().enumerate() {
        let lanes: Vec<String> = round
            .lanes
            .iter()
            .map(|l| {
                if l.knobs.is_empty() {
                    l.key.clone()
                } else {
                    format!("{} {}", l.key, serde_json::Value::Object(l.knobs.clone()))
                }
            })
            .collect();
        text.push_str(&format!("round {}: {}\n", i + 1, lanes.join(" + ")));
    }
    text.push_str(&format!("load: {:?}, grace {:?}\n", plan.load, plan.grace));
    for step in &plan.steps {
        text.push_str(&format!(
            "step at {:?}{}: {:?}\n",
            step.at,
            step.until
                .map_or(String::new(), |u| format!(" until {u:?}")),
            step.action
        ));
    }
    for t in &plan.thresholds {
        text.push_str(&format!("threshold {}: {}\n", t.key, t.expr));
    }
    text
}

/// The verdict and one row per mode, for the terminal.
pub fn verdict_table(result: &RunResult) -> String {
    let verdict = match (result.verdict, result.interrupted) {
        (_, true) => "INTERRUPTED (partial figures)",
        (Verdict::Pass, _) => "PASS",
        (Verdict::Fail, _) => "FAIL",
    };
    let mut text = format!("\n{}: {verdict}\n", result.experiment);
    text.push_str(&format!(
        "{:<12} {:>8} {:>9} {:>6} {:>5} {:>8} {:>10} {:>10} {:>9}\n",
        "mode",
        "accepted",
        "completed",
        "lost",
        "dup",
        "degraded",
        "ack p99",
        "done p99",
        "recovery"
    ));
    for key in &result.order {
        let Some(mode) = result.modes.get(key) else {
            continue;
        };
        text.push_str(&mode_row(key, mode));
    }
    for t in &result.thresholds {
        let value = t
            .value
            .map_or("not measured".into(), |v| format!("{v:.3}{}", t.unit));
        let mark = if t.pass { "pass" } else { "FAIL" };
        text.push_str(&format!(
            "  {mark}  {:<10} {:<24} {value}\n",
            t.mode, t.expr
        ));
    }
    for i in &result.invariants {
        let mark = if i.pass { "pass" } else { "FAIL" };
        text.push_str(&format!(
            "  {mark}  {:<10} {:<24} {}\n",
            i.mode, i.name, i.detail
        ));
    }
    text
}

fn mode_row(key: &str, mode: &ModeResult) -> String {
    let done = mode
        .done
        .map_or("—".into(), |d| format_latency(millis(d.p99_ms)));
    let recovery = match (mode.recovery_s, mode.recovered) {
        (Some(s), _) => format!("{s:.0} s"),
        (None, Some(false)) => "never".into(),
        _ => "—".into(),
    };
    format!(
        "{key:<12} {:>8} {:>9} {:>6} {:>5} {:>8} {:>10} {done:>10} {recovery:>9}\n",
        mode.accepted,
        mode.completed,
        mode.lost,
        mode.duplicated,
        mode.degraded,
        format_latency(millis(mode.ack.p99_ms)),
    )
}
