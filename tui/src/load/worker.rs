//! The control room's load worker: owns the running loads (one scenario, both modes at the
//! same rate) and the one-shot fires, and reports their figures ([`LoadMsg`]) to the app task
//! every [`FIGURES_EVERY`]. `update` asks for work with [`LoadCommand`]s; it never holds a
//! handle.

use std::time::Duration;

use common::Mode;
use common::scenario::ScenarioId;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{LoadHandle, LoadSpec, Sample, Summary};
use crate::outbox::Outbox;

/// How often running loads report their figures (each report carries a window for the
/// sparkline).
pub const FIGURES_EVERY: Duration = Duration::from_millis(500);

/// What `update` asks the load worker to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadCommand {
    /// Send the scenario's request once in both modes at the same moment.
    Fire(ScenarioId),
    /// Start open-model load on a scenario in both modes (replacing any running load).
    Start {
        scenario: ScenarioId,
        rate: f64,
    },
    /// Change the running load's rate (capped by the catalogue).
    SetRate(f64),
    Stop,
}

/// What the load worker reports.
#[derive(Debug, Clone)]
pub enum LoadMsg {
    /// A running load's figures: totals since its start and the last window.
    Tick {
        scenario: ScenarioId,
        mode: Mode,
        target: f64,
        total: Summary,
        window: Summary,
    },
    /// A one-shot fire's answer.
    Fired {
        scenario: ScenarioId,
        mode: Mode,
        summary: Summary,
    },
    /// A load ended (stopped, or replaced); its last totals came in the last `Tick`.
    Stopped { scenario: ScenarioId },
}

/// Starts the worker; it reports on `to_app` (any channel whose message wraps a [`LoadMsg`]).
/// Requests go to the stack's published ports on `host`. Every answer is also sent on
/// `samples` (when given) for completion matching.
pub fn spawn<M: From<LoadMsg> + Send + 'static>(
    host: String,
    to_app: mpsc::Sender<M>,
    samples: Option<mpsc::Sender<Sample>>,
) -> (mpsc::Sender<LoadCommand>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(32);
    let task = tokio::spawn(run(host, rx, Outbox::new(to_app), samples));
    (tx, task)
}

async fn run(
    host: String,
    mut commands: mpsc::Receiver<LoadCommand>,
    to_app: Outbox<LoadMsg>,
    samples: Option<mpsc::Sender<Sample>>,
) {
    let client = super::headless::load_client();
    let mut running: Option<(ScenarioId, Vec<LoadHandle>)> = None;
    let mut ticks = tokio::time::interval(FIGURES_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { break };
                match command {
                    LoadCommand::Fire(scenario) => {
                        for mode in Mode::ALL {
                            let spec = LoadSpec::for_stack(scenario, mode, &host);
                            let (client, to_app, samples) = (client.clone(), to_app.clone(), samples.clone());
                            tokio::spawn(async move {
                                let summary = super::fire_once(spec, client, samples).await;
                                to_app.send(LoadMsg::Fired { scenario, mode, summary }).await;
                            });
                        }
                    }
                    LoadCommand::Start { scenario, rate } => {
                        stop(&mut running, &to_app).await;
                        let handles = Mode::ALL
                            .iter()
                            .map(|&mode| {
                                let mut spec = LoadSpec::for_stack(scenario, mode, &host);
                                spec.rate = rate;
                                super::start(spec, client.clone(), samples.clone())
                            })
                            .collect();
                        running = Some((scenario, handles));
                    }
                    LoadCommand::SetRate(rate) => {
                        if let Some((_, handles)) = &running {
                            handles.iter().for_each(|h| h.set_rate(rate));
                        }
                    }
                    LoadCommand::Stop => stop(&mut running, &to_app).await,
                }
            }
            _ = ticks.tick() => {
                if let Some((scenario, handles)) = &running {
                    for h in handles {
                        let tick = LoadMsg::Tick {
                            scenario: *scenario,
                            mode: h.spec().mode,
                            target: h.target_rate(),
                            total: h.summary(),
                            window: h.take_window(),
                        };
                        // A full inbox: drop this report; the next carries the totals anyway.
                        to_app.offer(tick);
                    }
                }
            }
        }
    }
    if let Some((_, handles)) = running {
        handles.iter().for_each(LoadHandle::stop);
    }
}

/// Stops the running load, sends its final totals, then `Stopped`. Requests in flight are
/// not awaited here (a slow sync scenario would freeze the worker): they finish in the
/// background and are not counted.
async fn stop(running: &mut Option<(ScenarioId, Vec<LoadHandle>)>, to_app: &Outbox<LoadMsg>) {
    let Some((scenario, handles)) = running.take() else {
        return;
    };
    for h in &handles {
        h.stop();
        let tick = LoadMsg::Tick {
            scenario,
            mode: h.spec().mode,
            target: h.target_rate(),
            total: h.summary(),
            window: h.take_window(),
        };
        to_app.send(tick).await;
    }
    to_app.send(LoadMsg::Stopped { scenario }).await;
}
