//! The app task: owns the state, feeds every message through `update`, routes the commands,
//! and draws at a fixed rate when something changed.
//!
//! Nothing here waits on Docker, the broker or a load: the workers run in their own tasks,
//! report over a bounded channel and take commands over their own. The loop only waits on the terminal's key stream,
//! the inbox, the frame timer and termination signals.

use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};

use super::experiment_worker::{self, ExperimentCommand, ExperimentMsg};
use super::msg::{Command, Msg};
use super::scale_worker::{self, ScaleMsg, ScaleRequest};
use super::state::{Notice, State};
use super::update::update;
use crate::admin::{self, AdminSettings, KnobChange};
use crate::broker::{self, BrokerSettings};
use crate::docker::{self, ActionRequest, DockerMsg};
use crate::faults::{self, FaultCommand, FaultMsg};
use crate::load::{self, worker::LoadCommand};
use crate::terminal::Tui;
use crate::ui;

/// Capacity of the inbox from the workers. Log lines come in batches, so this is thousands of
/// lines; when it is full, streams drop (and count) rather than wait.
pub const INBOX: usize = 1024;

/// Messages taken from the inbox in one go before the loop looks at keys and frames again, so
/// a flood of log batches cannot starve the keyboard.
const DRAIN: usize = 64;

/// Even with nothing new, a frame this often: the app-log pane (fed outside `update`) and
/// times on screen stay fresh.
const IDLE_FRAME: Duration = Duration::from_secs(1);

/// How long quitting waits for the fault worker to revert the faults it made (a stopped
/// container's start, a partition's reconnect: a few seconds each at most).
const REVERT_ON_QUIT: Duration = Duration::from_secs(20);

/// How often the wall clock reaches `update` (time left of faults, event stamps).
const CLOCK_EVERY: Duration = Duration::from_secs(1);

/// How often frame-timing figures go to the log (debug level).
const FRAME_TIMING_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct Options {
    /// No confirmations for destructive keys.
    pub demo: bool,
    /// Frames per second at most.
    pub fps: u16,
    /// Where the stack's published ports are (load and fires go there).
    pub host: String,
    /// The broker whose queues the queue pane shows.
    pub broker: BrokerSettings,
    /// The admin token for the run-time knobs.
    pub admin: AdminSettings,
    /// Where the repository is (`--root`): experiments find the databases through it.
    pub stack: crate::stack::StackOptions,
}

/// The workers' inboxes, where `apply` routes `update`'s commands.
struct Workers {
    docker: mpsc::Sender<ActionRequest>,
    load: mpsc::Sender<LoadCommand>,
    queues: watch::Sender<Vec<String>>,
    admin: mpsc::Sender<KnobChange>,
    faults: mpsc::Sender<FaultCommand>,
    experiments: mpsc::Sender<ExperimentCommand>,
    scale: mpsc::Sender<ScaleRequest>,
}

/// Runs the control room until `q`, Ctrl-C, SIGTERM or SIGHUP. `notice` is shown in the
/// status line from the start (e.g. why the stack could not be brought up).
pub async fn run(options: Options, notice: Option<String>) -> anyhow::Result<()> {
    let (to_app, mut inbox) = mpsc::channel::<Msg>(INBOX);
    let (to_docker, worker) = docker::spawn(docker::Project::default(), to_app.clone());
    let (samples, telemetry_worker) =
        broker::spawn_telemetry(options.broker.clone(), to_app.clone());
    let (to_load, load_worker) =
        load::worker::spawn(options.host.clone(), to_app.clone(), Some(samples));
    let (to_admin, admin_worker) = admin::spawn(options.admin.clone(), to_app.clone());
    let (to_faults, fault_worker) = faults::worker::spawn(
        docker::Project::default(),
        options.admin.clone(),
        to_app.clone(),
    );
    let (to_experiments, experiment_worker) = experiment_worker::spawn(
        experiment_worker::Setup {
            host: options.host.clone(),
            admin: options.admin.clone(),
            broker: options.broker.clone(),
            stack: options.stack.clone(),
            results: std::path::PathBuf::from("results"),
        },
        to_app.clone(),
    );
    let (to_scale, scale_worker) = scale_worker::spawn(options.stack.clone(), to_app.clone());
    let (to_queues, broker_worker) = broker::spawn(options.broker.clone(), to_app);
    let workers = Workers {
        docker: to_docker,
        load: to_load,
        queues: to_queues,
        admin: to_admin,
        faults: to_faults,
        experiments: to_experiments,
        scale: to_scale,
    };
    let mut terminal = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut interrupt = signal(SignalKind::interrupt())?;

    let mut tui = Tui::enter()?;
    crate::logging::own_screen();
    let mut state = State::new(options.demo);
    state.notice = notice.map(super::state::Notice::error);
    workers.queues.send_replace(state.measure.watched_queues());
    let size = tui.terminal.size()?;
    resize(&mut state, size.width, size.height, &workers);
    info!(
        "control room open (demo: {}, {} fps)",
        options.demo, options.fps
    );

    let mut keys = EventStream::new();
    let mut frames = tokio::time::interval(Duration::from_secs_f64(
        1.0 / f64::from(options.fps.clamp(1, 60)),
    ));
    frames.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut timing = FrameTiming::default();
    let mut last_frame = Instant::now();
    // `update` never reads the clock itself (so its rules test without one): events are
    // stamped, and faults' time left counts down, by this tick.
    let mut clock = tokio::time::interval(CLOCK_EVERY);
    clock.set_missed_tick_behavior(MissedTickBehavior::Skip);

    let outcome = loop {
        tokio::select! {
            event = keys.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind == KeyEventKind::Press => {
                    // A key's event (a kill, a fault) is stamped to the second it was pressed.
                    apply(&mut state, Msg::Clock(std::time::SystemTime::now()), &workers);
                    apply(&mut state, Msg::Key(key), &workers);
                }
                Some(Ok(Event::Resize(width, height))) => {
                    resize(&mut state, width, height, &workers);
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break Err(anyhow::anyhow!("reading the terminal: {e}")),
                None => break Ok(()),
            },
            Some(msg) = inbox.recv() => {
                apply(&mut state, msg, &workers);
                for _ in 0..DRAIN {
                    match inbox.try_recv() {
                        Ok(msg) => apply(&mut state, msg, &workers),
                        Err(_) => break,
                    }
                }
            }
            _ = clock.tick() => {
                apply(&mut state, Msg::Clock(std::time::SystemTime::now()), &workers);
            }
            _ = frames.tick() => {
                if state.dirty || last_frame.elapsed() >= IDLE_FRAME {
                    let started = Instant::now();
                    if let Err(e) = tui.terminal.draw(|frame| ui::view(&state, frame)) {
                        break Err(anyhow::anyhow!("drawing: {e}"));
                    }
                    timing.record(started.elapsed());
                    state.dirty = false;
                    last_frame = Instant::now();
                }
            }
            _ = terminal.recv() => break Ok(()),
            _ = hangup.recv() => break Ok(()),
            _ = interrupt.recv() => break Ok(()),
        }
        if state.quit {
            break Ok(());
        }
    };

    drop(tui);
    crate::logging::release_screen();
    // Nobody reads the inbox any more: reports sent to it from here on fail at once.
    drop(inbox);
    let Workers {
        faults: to_faults,
        experiments: to_experiments,
        ..
    } = workers;
    stop_experiment_on_quit(to_experiments, experiment_worker).await;
    revert_on_quit(to_faults, fault_worker).await;
    worker.abort();
    load_worker.abort();
    telemetry_worker.abort();
    broker_worker.abort();
    admin_worker.abort();
    scale_worker.abort();
    info!("control room closed; {}", timing.summary());
    outcome
}

/// A new terminal size, and the logs pane's page at that size (the layout is the view's;
/// `update` only gets the figure).
fn resize(state: &mut State, width: u16, height: u16, workers: &Workers) {
    apply(state, Msg::Resize { width, height }, workers);
    let rows = ui::layout::log_page(ratatui::layout::Rect::new(0, 0, width, height));
    apply(state, Msg::LogPage { rows }, workers);
}

/// One message through `update`, and its commands to the workers.
fn apply(state: &mut State, msg: Msg, workers: &Workers) {
    for command in update(state, msg) {
        match command {
            Command::Load(command) => {
                if let Err(e) = workers.load.try_send(command) {
                    warn!("load worker: {command:?} not sent ({e})");
                    state.notice = Some(Notice::error("the load worker is busy; try again"));
                }
            }
            Command::WatchQueues(names) => {
                workers.queues.send_replace(names);
            }
            Command::Knob(change) => {
                if let Err(e) = workers.admin.try_send(change) {
                    warn!("admin worker: change not sent ({e})");
                    state.notice = Some(Notice::error("the admin worker is busy; try again"));
                }
            }
            Command::Fault(command) => {
                if let Err(e) = workers.faults.try_send(command) {
                    warn!("fault worker: command not sent ({e})");
                    let refused = FaultMsg::Failed {
                        key: match e.into_inner() {
                            FaultCommand::Apply(r) => {
                                format!("{} {}", r.kind.word(), r.target.label())
                            }
                            FaultCommand::Revert(key) => key,
                            FaultCommand::RevertAll | FaultCommand::RevertOurs => "all".into(),
                        },
                        error: "the fault worker is busy; try again".into(),
                        unrevertable: false,
                    };
                    update(state, refused.into());
                }
            }
            Command::Experiment(command) => {
                if let Err(e) = workers.experiments.try_send(command) {
                    warn!("experiment worker: command not sent ({e})");
                    match e.into_inner() {
                        // Not started: `update` frees the slot and says why.
                        ExperimentCommand::Start(plan) => {
                            let refused = ExperimentMsg::Failed {
                                name: plan.name,
                                error: "the experiment worker is busy; try again".into(),
                            };
                            update(state, refused.into());
                        }
                        // The run goes on: it may be stopped again.
                        ExperimentCommand::Stop => {
                            if let Some(running) = state.experiments.running.as_mut() {
                                running.stopping = false;
                            }
                            state.notice = Some(Notice::error(
                                "the experiment worker is busy; stop it again (e, Esc)",
                            ));
                        }
                    }
                }
            }
            Command::Scale(request) => {
                if let Err(e) = workers.scale.try_send(request) {
                    warn!("scale worker: {request:?} not sent ({e})");
                    let refused = ScaleMsg {
                        request,
                        result: Err("the scale worker is busy; try again".into()),
                    };
                    update(state, refused.into());
                }
            }
            Command::Docker { target, action } => {
                let request = ActionRequest {
                    target: target.clone(),
                    action,
                };
                if let Err(e) = workers.docker.try_send(request) {
                    // The worker is busy or gone: say so through `update` like any outcome.
                    warn!("{} {}: not sent ({e})", action.verb(), target.label);
                    let refused = DockerMsg::ActionDone {
                        target,
                        action,
                        result: Err("the Docker worker is not taking requests".into()),
                    };
                    update(state, refused.into());
                }
            }
        }
    }
}

/// On quit with an experiment running: it is stopped — its runner reverts the faults and
/// knobs it set, then its partial report is written — within [`REVERT_ON_QUIT`], and the
/// terminal is told where the report went.
async fn stop_experiment_on_quit(
    to_experiments: mpsc::Sender<ExperimentCommand>,
    worker: tokio::task::JoinHandle<Option<String>>,
) {
    // Dropping the sender ends the worker's loop; it stops the run and waits for it.
    drop(to_experiments);
    let abort = worker.abort_handle();
    match tokio::time::timeout(REVERT_ON_QUIT, worker).await {
        Ok(Ok(Some(line))) => {
            info!("on quit: {line}");
            eprintln!("ms-tui: {line}");
        }
        Ok(Ok(None)) => {}
        Ok(Err(e)) => warn!("experiment worker ended badly: {e}"),
        Err(_) => {
            abort.abort();
            warn!("on quit: the experiment did not stop within {REVERT_ON_QUIT:?}");
            eprintln!(
                "ms-tui: the experiment did not stop within {REVERT_ON_QUIT:?}; \
                 `ms-tui fault --list` shows what it may have left"
            );
        }
    }
}

/// On quit (q, Ctrl-C, SIGTERM, SIGHUP): the fault worker reverts every fault this process
/// made, within [`REVERT_ON_QUIT`]; each revert, and each that failed, goes to the log and to
/// the terminal, which is the user's again by now.
async fn revert_on_quit(
    to_faults: mpsc::Sender<FaultCommand>,
    worker: tokio::task::JoinHandle<Vec<FaultMsg>>,
) {
    // Dropping the sender ends the worker's loop; it reverts ours on the way out.
    let _ = to_faults.try_send(FaultCommand::RevertOurs);
    drop(to_faults);
    let abort = worker.abort_handle();
    match tokio::time::timeout(REVERT_ON_QUIT, worker).await {
        Ok(Ok(reports)) => {
            for report in reports {
                match report {
                    FaultMsg::Reverted { key, why } => {
                        info!("on quit: reverted {key} ({why})");
                        eprintln!("ms-tui: reverted {key} on quit");
                    }
                    FaultMsg::Failed { key, error, .. } => {
                        warn!("on quit: could NOT revert {key}: {error}");
                        eprintln!(
                            "ms-tui: could NOT revert {key}: {error} — it is still in force; \
                             `ms-tui fault --clear` reverts it"
                        );
                    }
                    FaultMsg::Applied(_) | FaultMsg::Active(_) => {}
                }
            }
        }
        Ok(Err(e)) => warn!("fault worker ended badly: {e}"),
        Err(_) => {
            abort.abort();
            warn!("on quit: the faults were not all reverted within {REVERT_ON_QUIT:?}");
            eprintln!(
                "ms-tui: faults were not all reverted within {REVERT_ON_QUIT:?}; \
                 `ms-tui fault --list` shows what is left, `--clear` reverts it"
            );
        }
    }
}

/// Frame draw times: count, mean and worst, reported to the log every [`FRAME_TIMING_EVERY`]
/// and at exit (the figures the README quotes).
#[derive(Debug)]
struct FrameTiming {
    frames: u64,
    total: Duration,
    worst: Duration,
    window_frames: u64,
    window_total: Duration,
    window_worst: Duration,
    window_start: Instant,
}

impl Default for FrameTiming {
    fn default() -> Self {
        FrameTiming {
            frames: 0,
            total: Duration::ZERO,
            worst: Duration::ZERO,
            window_frames: 0,
            window_total: Duration::ZERO,
            window_worst: Duration::ZERO,
            window_start: Instant::now(),
        }
    }
}

impl FrameTiming {
    fn record(&mut self, took: Duration) {
        self.frames += 1;
        self.total += took;
        self.worst = self.worst.max(took);
        self.window_frames += 1;
        self.window_total += took;
        self.window_worst = self.window_worst.max(took);
        if self.window_start.elapsed() >= FRAME_TIMING_EVERY {
            debug!(
                "frames in the last {:?}: {} drawn, mean {:.2} ms, worst {:.2} ms",
                FRAME_TIMING_EVERY,
                self.window_frames,
                mean_ms(self.window_total, self.window_frames),
                self.window_worst.as_secs_f64() * 1e3
            );
            self.window_frames = 0;
            self.window_total = Duration::ZERO;
            self.window_worst = Duration::ZERO;
            self.window_start = Instant::now();
        }
    }

    fn summary(&self) -> String {
        format!(
            "{} frames drawn, mean {:.2} ms, worst {:.2} ms",
            self.frames,
            mean_ms(self.total, self.frames),
            self.worst.as_secs_f64() * 1e3
        )
    }
}

fn mean_ms(total: Duration, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        total.as_secs_f64() * 1e3 / n as f64
    }
}
