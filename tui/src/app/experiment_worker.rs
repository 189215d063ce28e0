//! The experiment worker: runs one experiment at a time for the control room, the same
//! [`runner`] as `ms-tui run`, and writes its report the same way.
//!
//! The run's progress goes to the app as it happens (per-second figures are a stream and may
//! drop when the app falls behind; phases, events and the end must arrive). When the run ends
//! — finished, stopped from the keyboard, or stopped because the control room is closing — the
//! report is written off the async threads (`report::write` renders a chart and writes files)
//! into `results/<name>-<UTC timestamp>/`, then the verdict and the folder are reported.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::admin::AdminSettings;
use crate::broker::BrokerSettings;
use crate::experiment::effects::DbUrls;
use crate::experiment::result::RunResult;
use crate::experiment::runner::{self, Env, Progress};
use crate::experiment::spec::Experiment;
use crate::outbox::{Offer, Outbox};

/// Commands queued for the worker: a start and a stop at most, in practice.
const COMMANDS: usize = 8;

/// Progress the runner may queue before the forwarder takes it (the runner never waits:
/// past this it drops).
const PROGRESS: usize = 256;

/// How long the forwarder may take to pass on the last progress once the run returned.
const FORWARD_DRAIN: Duration = Duration::from_secs(2);

/// What the app asks of the worker.
#[derive(Debug, Clone, PartialEq)]
pub enum ExperimentCommand {
    Start(Box<Experiment>),
    /// Stop the run in progress: it reverts its faults and knobs, and its partial result is
    /// still written (marked interrupted).
    Stop,
}

/// What the worker reports.
#[derive(Debug, Clone)]
pub enum ExperimentMsg {
    /// The runner's progress, stamped with the wall clock when it came out of the runner (the
    /// timeline places markers and seconds by it).
    Progress { at: SystemTime, progress: Progress },
    /// The run ended (or was stopped) and its report went to `folder`, unless `report_error`.
    Finished {
        result: Box<RunResult>,
        folder: String,
        report_error: Option<String>,
    },
    /// The run could not start or had to stop: no admin token, refused knobs.
    Failed { name: String, error: String },
}

/// Where the stack is, from the control room's options.
#[derive(Debug, Clone)]
pub struct Setup {
    pub host: String,
    pub admin: AdminSettings,
    pub broker: BrokerSettings,
    /// The repository (`--root`), where the databases' settings are found.
    pub stack: crate::stack::StackOptions,
    /// Where result folders go (`results`, in the working directory, as `ms-tui run`).
    pub results: PathBuf,
}

/// Starts the worker. Its task ends when the command sender is dropped; a run still in
/// progress is then stopped and waited for (it reverts what it did and writes its partial
/// report), and the task returns a line saying so, for the terminal after the control room.
pub fn spawn<M>(
    setup: Setup,
    to_app: mpsc::Sender<M>,
) -> (mpsc::Sender<ExperimentCommand>, JoinHandle<Option<String>>)
where
    M: From<ExperimentMsg> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(COMMANDS);
    let outbox = Outbox::new(to_app);
    (tx, tokio::spawn(work(setup, rx, outbox)))
}

struct Current {
    name: String,
    stop: CancellationToken,
    task: JoinHandle<Option<String>>,
}

async fn work(
    setup: Setup,
    mut commands: mpsc::Receiver<ExperimentCommand>,
    outbox: Outbox<ExperimentMsg>,
) -> Option<String> {
    let mut current: Option<Current> = None;
    while let Some(command) = commands.recv().await {
        match command {
            ExperimentCommand::Start(plan) => {
                if let Some(c) = current.as_ref().filter(|c| !c.task.is_finished()) {
                    // `update` never asks for two; say so rather than run both.
                    let _ = outbox
                        .send(ExperimentMsg::Failed {
                            name: plan.name.clone(),
                            error: format!("{} is still running", c.name),
                        })
                        .await;
                    continue;
                }
                let stop = CancellationToken::new();
                current = Some(Current {
                    name: plan.name.clone(),
                    stop: stop.clone(),
                    task: tokio::spawn(run_one(setup.clone(), *plan, stop, outbox.clone())),
                });
            }
            ExperimentCommand::Stop => {
                if let Some(c) = &current {
                    info!("experiment {}: stop asked", c.name);
                    c.stop.cancel();
                }
            }
        }
    }
    let c = current.filter(|c| !c.task.is_finished())?;
    info!(
        "experiment {}: the control room is closing, stopping it",
        c.name
    );
    c.stop.cancel();
    c.task.await.ok().flatten()
}

/// One run, start to report; returns where the report went (or why it did not).
async fn run_one(
    setup: Setup,
    plan: Experiment,
    stop: CancellationToken,
    outbox: Outbox<ExperimentMsg>,
) -> Option<String> {
    let env = Env {
        host: setup.host.clone(),
        admin: setup.admin.clone(),
        broker: setup.broker.clone(),
        db: discover_db(setup.stack.clone()).await,
    };
    let started = chrono::Utc::now();
    let dir = setup
        .results
        .join(RunResult::default_folder(&plan.name, started));
    let (tx, rx) = mpsc::channel(PROGRESS);
    let forwarder = tokio::spawn(forward(rx, outbox.clone()));
    info!("experiment {}: starting", plan.name);
    let outcome = runner::run(&plan, &env, tx, stop).await;
    // The runner's senders are gone with it: the forwarder ends once it has passed the rest on,
    // so the last events arrive before the verdict.
    if tokio::time::timeout(FORWARD_DRAIN, forwarder)
        .await
        .is_err()
    {
        warn!("experiment {}: progress still queued at the end", plan.name);
    }
    let result = match outcome {
        Ok(result) => result,
        Err(e) => {
            warn!("experiment {}: did not run: {e}", plan.name);
            let _ = outbox
                .send(ExperimentMsg::Failed {
                    name: plan.name.clone(),
                    error: e.to_string(),
                })
                .await;
            return Some(format!("experiment {} did not run: {e}", plan.name));
        }
    };
    let (result, report_error) = write_report(dir.clone(), result).await;
    let folder = folder_name(&dir);
    let line = match &report_error {
        None => format!("experiment {}: report in {folder}", plan.name),
        Some(e) => format!(
            "experiment {}: report NOT written to {folder}: {e}",
            plan.name
        ),
    };
    info!("{line}");
    let _ = outbox
        .send(ExperimentMsg::Finished {
            result: Box::new(result),
            folder,
            report_error,
        })
        .await;
    Some(line)
}

/// The databases for the accounting's rows, or none (telemetry only), found off the async
/// threads: discovery may read files.
async fn discover_db(stack: crate::stack::StackOptions) -> Option<DbUrls> {
    let found =
        tokio::task::spawn_blocking(move || DbUrls::discover(&stack).map_err(|e| format!("{e:#}")))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
    found
        .map_err(|e| warn!("experiment: no database for the accounting ({e})"))
        .ok()
}

/// `report::write` on a blocking thread; the result comes back for the verdict.
async fn write_report(dir: PathBuf, result: RunResult) -> (RunResult, Option<String>) {
    let fallback = result.clone();
    let written = tokio::task::spawn_blocking(move || {
        let outcome = crate::experiment::report::write(&dir, &result)
            .map(|_| ())
            .map_err(|e| format!("{e:#}"));
        (result, outcome.err())
    })
    .await;
    written.unwrap_or_else(|e| (fallback, Some(format!("the report writer failed: {e}"))))
}

/// `results/showdown-20261202T031500Z/`: how the status line and the verdict name it.
pub fn folder_name(dir: &Path) -> String {
    format!("{}/", dir.display())
}

/// The runner's progress to the app: per-second figures are offered (a late second is worth
/// less than a responsive screen), phases and events sent (each is a marker or a state).
async fn forward(mut progress: mpsc::Receiver<Progress>, outbox: Outbox<ExperimentMsg>) {
    while let Some(p) = progress.recv().await {
        let stream = matches!(p, Progress::Second(_));
        let msg = ExperimentMsg::Progress {
            at: SystemTime::now(),
            progress: p,
        };
        let open = if stream {
            outbox.offer(msg) != Offer::Closed
        } else {
            outbox.send(msg).await
        };
        if !open {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_is_named_with_a_trailing_slash() {
        let dir = Path::new("results").join(RunResult::default_folder(
            "showdown",
            chrono::DateTime::from_timestamp(1_796_181_300, 0).unwrap_or_default(),
        ));
        assert_eq!(folder_name(&dir), "results/showdown-20261202T031500Z/");
    }

    #[tokio::test]
    async fn a_run_without_an_admin_token_reports_why_and_writes_nothing() {
        let (to_app, mut inbox) = mpsc::channel::<ExperimentMsg>(16);
        let results = std::env::temp_dir().join(format!("ms-tui-exp-{}", std::process::id()));
        let setup = Setup {
            host: "127.0.0.1".into(),
            admin: AdminSettings {
                host: "127.0.0.1".into(),
                token: None,
            },
            broker: BrokerSettings::discover(&Default::default()),
            stack: Default::default(),
            results: results.clone(),
        };
        let (commands, task) = spawn(setup, to_app);
        let plan = crate::experiment::builtin::load("showdown").unwrap();
        commands
            .send(ExperimentCommand::Start(Box::new(plan)))
            .await
            .unwrap();
        let msg = tokio::time::timeout(Duration::from_secs(10), inbox.recv())
            .await
            .unwrap();
        match msg {
            Some(ExperimentMsg::Failed { name, error }) => {
                assert_eq!(name, "showdown");
                assert!(error.contains("no admin token"), "{error}");
            }
            other => panic!("not a failure: {other:?}"),
        }
        drop(commands);
        let _ = task.await;
        assert!(
            !results.exists(),
            "nothing written for a run that never started"
        );
    }
}
