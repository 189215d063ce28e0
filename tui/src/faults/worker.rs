//! The control room's fault worker: takes [`FaultCommand`]s, makes and reverts faults through
//! [`Faults`], reverts each of its platform faults at its end, and reports [`FaultMsg`]s —
//! every change, and the list from the platform's state after each change and every
//! [`REFRESH`].
//!
//! It works one command at a time (a stop may take a container's grace period); the list is
//! read between commands. On [`FaultCommand::RevertOurs`] or when the app drops its sender it
//! reverts what it made; the task's result is those reports, for the app to log after the
//! screen is gone.

use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::control::Faults;
use super::{FaultCommand, FaultMsg};
use crate::admin::AdminSettings;
use crate::docker::Project;
use crate::outbox::Outbox;

/// How often the list is read again from the platform (and failed reverts retried).
pub const REFRESH: Duration = Duration::from_secs(5);
/// Capacity of the command queue: a few key presses.
pub const COMMANDS: usize = 16;

/// Starts the worker on `project`'s containers and the services of `admin`; it reports on
/// `to_app` (any channel whose message wraps a [`FaultMsg`]).
pub fn spawn<M: From<FaultMsg> + Send + 'static>(
    project: Project,
    admin: AdminSettings,
    to_app: mpsc::Sender<M>,
) -> (mpsc::Sender<FaultCommand>, JoinHandle<Vec<FaultMsg>>) {
    let (tx, rx) = mpsc::channel(COMMANDS);
    let faults = Faults::new(project, admin);
    let task = tokio::spawn(run(faults, Outbox::new(to_app), rx));
    (tx, task)
}

/// The worker's loop; returns what it reverted on quit.
pub async fn run(
    mut faults: Faults,
    out: Outbox<FaultMsg>,
    mut commands: mpsc::Receiver<FaultCommand>,
) -> Vec<FaultMsg> {
    let mut on_quit = Vec::new();
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut engine_error: Option<String> = None;
    loop {
        let until_expiry = faults
            .next_expiry()
            .map(|end| {
                end.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
            })
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            command = commands.recv() => {
                let Some(command) = command else { break };
                match command {
                    FaultCommand::Apply(request) => {
                        let msg = match faults.apply(&request).await {
                            Ok(fault) => {
                                info!("fault made: {} ({}), for {:?}", fault.key(), fault.kind.dose(), request.duration);
                                FaultMsg::Applied(fault)
                            }
                            Err(e) => {
                                let key = format!("{} {}", request.kind.word(), request.target.label());
                                warn!("fault {key} not made: {e:#}");
                                FaultMsg::Failed { key, error: format!("{e:#}"), unrevertable: false }
                            }
                        };
                        out.send(msg).await;
                    }
                    FaultCommand::Revert(key) => {
                        let msg = faults.revert(&key, "reverted by the user").await;
                        log(&msg);
                        out.send(msg).await;
                    }
                    FaultCommand::RevertAll => {
                        for msg in faults.revert_all("reverted by the user").await {
                            log(&msg);
                            out.send(msg).await;
                        }
                    }
                    FaultCommand::RevertOurs => {
                        for msg in faults.revert_ours("on quit").await {
                            log(&msg);
                            out.offer(msg.clone());
                            on_quit.push(msg);
                        }
                    }
                }
                publish(&mut faults, &out, &mut engine_error, true).await;
            }
            _ = tokio::time::sleep(until_expiry) => {
                for (key, by_the_service) in faults.expired(SystemTime::now()) {
                    let msg = if by_the_service {
                        faults.forget(&key);
                        FaultMsg::Reverted { key, why: "expired (the service cleared it)".into() }
                    } else {
                        faults.revert(&key, "expired").await
                    };
                    log(&msg);
                    out.send(msg).await;
                }
                publish(&mut faults, &out, &mut engine_error, true).await;
            }
            _ = refresh.tick() => {
                for key in faults.unrevertable() {
                    let msg = faults.revert(&key, "reverted after an earlier failure").await;
                    if matches!(msg, FaultMsg::Reverted { .. }) {
                        log(&msg);
                    }
                    out.send(msg).await;
                }
                publish(&mut faults, &out, &mut engine_error, false).await;
            }
        }
    }
    // The app is gone: whatever is still ours is reverted now, never left behind.
    for msg in faults.revert_ours("on quit").await {
        log(&msg);
        on_quit.push(msg);
    }
    on_quit
}

/// The list as the platform shows it now; after a change it must arrive, a periodic one may
/// be dropped when the app is behind (the next one follows in [`REFRESH`]).
async fn publish(
    faults: &mut Faults,
    out: &Outbox<FaultMsg>,
    engine_error: &mut Option<String>,
    must: bool,
) {
    let (list, error) = faults.list().await;
    if error != *engine_error {
        match &error {
            Some(e) => {
                warn!("fault list: the engine cannot be read ({e}); ours are listed as remembered")
            }
            None => info!("fault list: the engine answers again"),
        }
        *engine_error = error;
    }
    if must {
        out.send(FaultMsg::Active(list)).await;
    } else {
        out.offer(FaultMsg::Active(list));
    }
}

fn log(msg: &FaultMsg) {
    match msg {
        FaultMsg::Reverted { key, why } => info!("fault reverted: {key} ({why})"),
        FaultMsg::Failed {
            key,
            error,
            unrevertable: true,
        } => warn!("fault {key} could NOT be reverted, it is still in force: {error}"),
        FaultMsg::Failed { key, error, .. } => warn!("fault {key}: {error}"),
        FaultMsg::Applied(_) | FaultMsg::Active(_) => {}
    }
}
