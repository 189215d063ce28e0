//! The timed steps of one round, in a task of their own: a `docker stop` takes up to the
//! container's stop grace (15 s), and the per-second figures must not wait for it.
//!
//! The task owns the [`Faults`] it makes and everything it must undo: faults (reverted at
//! `until`, or at the end), containers it killed, stopped or paused (started again at the
//! end if still down), knobs it changed (restored at `until`, or at the end).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::Mode;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::result::Event;
use super::spec::{Action, Step};
use crate::admin::{self, AdminSettings};
use crate::broker::BrokerSettings;
use crate::docker::Action as Docker;
use crate::faults::control::Faults;
use crate::faults::{FaultRequest, FaultTarget};

/// The shared event log of a run (the runner and this task both write it).
pub type Events = Arc<Mutex<Vec<Event>>>;

/// Records `event` and passes it on for the progress display.
pub fn record(events: &Events, progress: &mpsc::Sender<super::runner::Progress>, event: Event) {
    tracing::info!(
        "experiment: {} {} {}",
        event.kind,
        event.target,
        event.detail
    );
    let _ = progress.try_send(super::runner::Progress::Event(event.clone()));
    if let Ok(mut all) = events.lock() {
        all.push(event);
    }
}

/// What the steps task needs.
pub struct StepsCtx {
    pub steps: Vec<Step>,
    /// The modes of the round: a step without a mode acts on each.
    pub modes: Vec<Mode>,
    pub admin: AdminSettings,
    pub broker: BrokerSettings,
    pub faults: Faults,
    pub events: Events,
    pub progress: mpsc::Sender<super::runner::Progress>,
    /// The load's start: steps' times count from it.
    pub start: Instant,
    /// Rate changes go to the runner, which holds the loads.
    pub rates: mpsc::Sender<(Option<Mode>, f64)>,
}

/// Something to undo at a time (`until`) or at the end.
enum Undo {
    /// Every target's fault of one step (`mode = "both"` makes two).
    Faults(Vec<String>),
    Knobs(KnobsBefore),
}

/// Runs the steps until they are done and `finish` is cancelled (the round's end), or `stop`
/// is (Ctrl-C); then undoes whatever is still in force, and reports it.
pub async fn run(mut ctx: StepsCtx, finish: CancellationToken, stop: CancellationToken) {
    let http = common::http::client(Duration::from_secs(5));
    let mut pending: Vec<(Duration, Undo)> = Vec::new();
    let mut touched: Vec<FaultTarget> = Vec::new();
    let mut steps = std::mem::take(&mut ctx.steps).into_iter().peekable();
    loop {
        pending.sort_by_key(|(at, _)| *at);
        let next_step = steps.peek().map(|s| s.at);
        let next_undo = pending.first().map(|(at, _)| *at);
        let next = match (next_step, next_undo) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let Some(next) = next else { break };
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(ctx.start + next) => {}
        }
        if next_undo == Some(next) {
            let (_, undo) = pending.remove(0);
            ctx.undo(&http, undo, "until").await;
            continue;
        }
        let Some(step) = steps.next() else { continue };
        let undo = ctx.apply(&http, &step, &mut touched).await;
        if let (Some(until), Some(undo)) = (step.until, undo) {
            pending.push((until, undo));
        }
    }
    // The round decides when it is over (load, then grace).
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = finish.cancelled() => {}
    }
    let why = if stop.is_cancelled() {
        "interrupted"
    } else {
        "end of the run"
    };
    for (_, undo) in pending.drain(..) {
        ctx.undo(&http, undo, why).await;
    }
    for report in ctx.faults.revert_ours(why).await {
        ctx.report_revert(report);
    }
    ctx.bring_back(&touched).await;
}

impl StepsCtx {
    fn t(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn event(&self, kind: &str, target: &str, detail: String) {
        self.event_at(self.t(), kind, target, detail);
    }

    /// An event at `t_s`: a step's is when it began (a `docker stop` takes seconds, and the
    /// fault starts with it, not when the engine answers).
    fn event_at(&self, t_s: f64, kind: &str, target: &str, detail: String) {
        let event = Event {
            t_s,
            kind: kind.into(),
            target: target.into(),
            detail,
        };
        record(&self.events, &self.progress, event);
    }

    fn modes_of(&self, step: &Step) -> Vec<Mode> {
        step.mode.map_or_else(|| self.modes.clone(), |m| vec![m])
    }

    async fn apply(
        &mut self,
        http: &reqwest::Client,
        step: &Step,
        touched: &mut Vec<FaultTarget>,
    ) -> Option<Undo> {
        match &step.action {
            Action::Fault {
                service,
                kind,
                route,
            } => {
                let mut keys = Vec::new();
                for target in self.targets(service, step) {
                    let began = self.t();
                    let request = FaultRequest {
                        target: target.clone(),
                        kind: kind.clone(),
                        route_prefix: route.clone(),
                        // The task reverts it at `until`; the dose's own expiry is a backstop
                        // a little later, should this process die.
                        duration: step.until.unwrap_or_default().saturating_sub(step.at)
                            + Duration::from_secs(2),
                    };
                    match self.faults.apply(&request).await {
                        Ok(fault) => {
                            self.event_at(began, "fault", &target.label(), fault.kind.dose());
                            keys.push(fault.key());
                            if !kind.is_service_fault() {
                                touched.push(target);
                            }
                        }
                        Err(e) => self.event("error", &target.label(), format!("{e:#}")),
                    }
                }
                (!keys.is_empty()).then_some(Undo::Faults(keys))
            }
            Action::Container { service, verb } => {
                for target in self.targets(service, step) {
                    let action = *verb;
                    let began = self.t();
                    match self.faults.act(&target, action).await {
                        Ok(()) => {
                            self.event_at(began, "action", &target.label(), action.verb().into())
                        }
                        Err(e) => self.event("error", &target.label(), format!("{e:#}")),
                    }
                    if matches!(verb, Docker::Kill | Docker::Stop | Docker::Pause) {
                        touched.push(target);
                    }
                }
                None
            }
            Action::Knobs { service, knobs } => {
                let targets: Vec<_> = self
                    .modes_of(step)
                    .into_iter()
                    .flat_map(|mode| match service {
                        Some(name) => common::scenario::Service::ALL
                            .iter()
                            .filter(|s| s.name() == name)
                            .map(|s| (*s, mode))
                            .collect(),
                        None => admin::services_of(mode),
                    })
                    .collect();
                let before = set_knobs(http, &self.admin, &targets, knobs).await;
                let detail = Value::Object(knobs.clone()).to_string();
                let label = service.clone().unwrap_or_else(|| "every service".into());
                match &before {
                    Ok(_) => self.event("knob", &label, detail),
                    Err(e) => self.event("error", &label, format!("knobs {detail}: {e:#}")),
                }
                before.ok().map(Undo::Knobs)
            }
            Action::Rate(rate) => {
                let _ = self.rates.send((step.mode, *rate)).await;
                self.event("rate", "", format!("{rate} req/s"));
                None
            }
            Action::Purge { queue } => {
                match super::collect::purge(&self.broker, queue).await {
                    Ok(n) => self.event("purge", queue, format!("purged {n} messages")),
                    Err(e) => self.event("error", queue, format!("purge: {e:#}")),
                }
                None
            }
        }
    }

    fn targets(&self, service: &str, step: &Step) -> Vec<FaultTarget> {
        let mut targets: Vec<FaultTarget> = self
            .modes_of(step)
            .into_iter()
            .map(|mode| Step::target(service, mode))
            .collect();
        targets.dedup();
        targets
    }

    async fn undo(&mut self, http: &reqwest::Client, undo: Undo, why: &str) {
        match undo {
            Undo::Faults(keys) => {
                for key in keys {
                    let report = self.faults.revert(&key, why).await;
                    self.report_revert(report);
                }
            }
            Undo::Knobs(before) => {
                let mut failed = None;
                for (target, knobs) in before {
                    if let Err(e) = put_knobs(http, &self.admin, target, &knobs).await {
                        failed = Some(e);
                    }
                }
                match failed {
                    None => self.event("knob", "", format!("restored ({why})")),
                    Some(e) => self.event("error", "", format!("restoring knobs: {e:#}")),
                }
            }
        }
    }

    fn report_revert(&self, report: crate::faults::FaultMsg) {
        match report {
            crate::faults::FaultMsg::Reverted { key, why } => {
                let (word, target) = key.split_once(' ').unwrap_or((&key, ""));
                self.event("revert", target, format!("{word} ({why})"));
            }
            crate::faults::FaultMsg::Failed { key, error, .. } => {
                self.event("error", &key, format!("could not revert: {error}"));
            }
            _ => {}
        }
    }

    /// Containers a step took down and no later step brought back: started (or unpaused)
    /// again, so an experiment never leaves the stack broken.
    async fn bring_back(&mut self, touched: &[FaultTarget]) {
        let Ok(list) = crate::stack::status(&Default::default()).await else {
            return;
        };
        for target in touched {
            let state = list
                .iter()
                .find(|c| c.mode == target.group && c.service == target.service)
                .map(|c| c.state.clone());
            let action = match state.as_deref() {
                Some("paused") => Docker::Unpause,
                Some("exited" | "created" | "dead") => Docker::Start,
                _ => continue,
            };
            match self.faults.act(target, action).await {
                Ok(()) => self.event(
                    "action",
                    &target.label(),
                    format!("{} (restore)", action.verb()),
                ),
                Err(e) => self.event("error", &target.label(), format!("restore: {e:#}")),
            }
        }
    }
}

/// Each service's knob values before a change, to put back.
pub type KnobsBefore = Vec<((common::scenario::Service, Mode), Map<String, Value>)>;

/// Applies `knobs` to every target; the values they had before, for the undo.
pub async fn set_knobs(
    http: &reqwest::Client,
    settings: &AdminSettings,
    targets: &[(common::scenario::Service, Mode)],
    knobs: &Map<String, Value>,
) -> anyhow::Result<KnobsBefore> {
    let mut before = Vec::with_capacity(targets.len());
    for target in targets {
        let config = admin::call(
            http,
            settings,
            *target,
            reqwest::Method::GET,
            "/admin/config",
            None,
        )
        .await?;
        let old: Map<String, Value> = knobs
            .keys()
            .filter_map(|k| Some((k.clone(), config["knobs"].get(k)?.clone())))
            .collect();
        put_knobs(http, settings, *target, knobs).await?;
        before.push((*target, old));
    }
    Ok(before)
}

async fn put_knobs(
    http: &reqwest::Client,
    settings: &AdminSettings,
    target: (common::scenario::Service, Mode),
    knobs: &Map<String, Value>,
) -> anyhow::Result<()> {
    if knobs.is_empty() {
        return Ok(());
    }
    let body = Value::Object(knobs.clone());
    admin::call(
        http,
        settings,
        target,
        reqwest::Method::PUT,
        "/admin/config",
        Some(&body),
    )
    .await
    .map(|_| ())
}
