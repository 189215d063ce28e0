//! The control room's load worker: owns the running loads (one scenario, both modes at the
//! same rate) and the one-shot fires, and reports their figures ([`LoadMsg`]) to the app task
//! every [`FIGURES_EVERY`], and every [`SECOND`] a one-second window for the timeline.
//! `update` asks for work with [`LoadCommand`]s; it never holds a handle.

use std::time::{Duration, Instant, SystemTime};

use common::Mode;
use common::scenario::ScenarioId;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{LoadHandle, LoadSpec, Sample, Stats, Summary};
use crate::outbox::Outbox;

/// How often running loads report their figures (each report carries a window for the
/// sparkline).
pub const FIGURES_EVERY: Duration = Duration::from_millis(500);

/// The timeline's windows: two report windows merged (their histograms, so the quantiles are
/// the second's own, not a mix of two halves').
pub const SECOND: Duration = Duration::from_secs(1);

/// The answers of one second of one mode.
#[derive(Debug, Clone, PartialEq)]
pub struct SecondWindow {
    /// When the second ended (the worker's wall clock).
    pub ended: SystemTime,
    pub summary: Summary,
}

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
        /// Every other tick: the last second's window, for the timeline (boxed: the other
        /// reports are small).
        second: Option<Box<SecondWindow>>,
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
    // One accumulator per running mode, in the handles' order: the current second so far.
    let mut seconds: Vec<(Stats, Instant)> = Vec::new();
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
                        seconds = Mode::ALL.iter().map(|_| (Stats::new(), Instant::now())).collect();
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
                    for (h, second) in handles.iter().zip(seconds.iter_mut()) {
                        let (stats, took) = h.take_window_stats();
                        second.0.merge(&stats);
                        let tick = LoadMsg::Tick {
                            scenario: *scenario,
                            mode: h.spec().mode,
                            target: h.target_rate(),
                            total: h.summary(),
                            window: stats.summary(took),
                            second: take_second(second),
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
            second: None,
        };
        to_app.send(tick).await;
    }
    to_app.send(LoadMsg::Stopped { scenario }).await;
}

/// The second's window once a second has passed since it began (and a new one begun), else
/// `None`.
fn take_second(second: &mut (Stats, Instant)) -> Option<Box<SecondWindow>> {
    // A tick may come a little early: a second is due from 90 % of it.
    let took = second.1.elapsed();
    if took < SECOND.mul_f64(0.9) {
        return None;
    }
    let (stats, _) = std::mem::replace(second, (Stats::new(), Instant::now()));
    Some(Box::new(SecondWindow {
        ended: SystemTime::now(),
        summary: stats.summary(took),
    }))
}
