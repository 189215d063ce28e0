//! Faults with a dose and an expiry: inside a service (its `/admin/faults`, which expires them
//! by itself) and on the platform (partition, timed pause / stop / kill-then-start, broker
//! outage), made and reverted through one worker, and listed from the platform's own state so
//! that a second ms-tui sees what the first left behind.
//!
//! This file is the interface the control room and the headless `ms-tui fault` share: what a
//! fault is ([`FaultKind`], [`FaultRequest`]), what is active ([`ActiveFault`]), what the app
//! asks for ([`FaultCommand`]) and what the worker reports ([`FaultMsg`]).
//!
//! - [`control`]: make and revert faults, remember ours (shared by the worker and headless).
//! - [`platform`]: the Docker side — partition with the compose aliases, pause / stop / kill,
//!   the project's containers as the list reads them, a healthcheck by exec.
//! - [`service`]: the services' `/admin/faults` with the admin token.
//! - [`list`]: the active list, derived from the platform's state (pure).
//! - [`worker`]: the control room's fault worker (expiry, refresh, revert on quit).
//! - [`headless`]: `ms-tui fault`.
//!
//! Network delay or loss between containers (tc/netem, Pumba's way) is not offered: this
//! kernel has no netem (`tc qdisc add … netem` answers "qdisc kind is unknown").

pub mod control;
pub mod headless;
pub mod list;
pub mod platform;
pub mod service;
pub mod worker;

use std::time::{Duration, SystemTime};

use common::Mode;

/// A fault's dose. Service faults are applied through the target service's
/// `PUT /admin/faults`; platform faults through the Docker engine.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Added before each matching request's handler runs (service fault).
    Latency { ms: u64, jitter_ms: u64 },
    /// This share of matching requests answers `status` instead (service fault).
    Errors { rate: f64, status: u16 },
    /// Before each consumed message is handled (service fault).
    SlowConsumer { ms: u64 },
    /// Off the stack's network; reconnected with its aliases at expiry (platform).
    Partition,
    /// Paused; unpaused at expiry (platform).
    Pause,
    /// Stopped; started at expiry (platform).
    Stop,
    /// Killed at once; started at expiry (platform).
    Kill,
}

impl FaultKind {
    /// Whether the service itself holds and expires the fault.
    pub fn is_service_fault(&self) -> bool {
        matches!(
            self,
            FaultKind::Latency { .. } | FaultKind::Errors { .. } | FaultKind::SlowConsumer { .. }
        )
    }

    /// A short word for lists and markers: `latency`, `errors`, `slow-consumer`, `partition`…
    pub fn word(&self) -> &'static str {
        match self {
            FaultKind::Latency { .. } => "latency",
            FaultKind::Errors { .. } => "errors",
            FaultKind::SlowConsumer { .. } => "slow-consumer",
            FaultKind::Partition => "partition",
            FaultKind::Pause => "pause",
            FaultKind::Stop => "stop",
            FaultKind::Kill => "kill",
        }
    }

    /// The dose in words: `+1000 ms ±200`, `50 % → 503`, `partition`.
    pub fn dose(&self) -> String {
        match self {
            FaultKind::Latency { ms, jitter_ms: 0 } => format!("+{ms} ms"),
            FaultKind::Latency { ms, jitter_ms } => format!("+{ms} ms ±{jitter_ms}"),
            FaultKind::Errors { rate, status } => format!("{:.0} % → {status}", rate * 100.0),
            FaultKind::SlowConsumer { ms } => format!("consumer +{ms} ms"),
            other => other.word().to_owned(),
        }
    }
}

/// What a fault is aimed at: a container of the project, named as the containers pane names
/// it (`async/email`, `infra/rabbitmq`, `sync/payment`, and `async/email#2` for the second
/// consumer `ms-tui scale` added: [`crate::docker::container::label`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FaultTarget {
    /// `sync`, `async` or `infra`.
    pub group: String,
    /// The compose service without its mode suffix: `email`, `rabbitmq`; for a replica with
    /// its number, `email#2` (so the key `kill async/email#2` names that one container).
    pub service: String,
}

impl FaultTarget {
    pub fn service(service: &str, mode: Mode) -> FaultTarget {
        FaultTarget {
            group: mode.as_str().to_owned(),
            service: service.to_owned(),
        }
    }

    /// Replica `replica` of an async service (1: its main container).
    pub fn replica_of(service: &str, replica: u32) -> FaultTarget {
        FaultTarget {
            group: Mode::Async.as_str().to_owned(),
            service: if replica > 1 {
                format!("{service}#{replica}")
            } else {
                service.to_owned()
            },
        }
    }

    /// The replica it names: 1 for a main container, n for `email#n`.
    pub fn replica(&self) -> u32 {
        self.service
            .split_once('#')
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(1)
    }

    /// The service without a replica's number: `email` for `email#2`.
    pub fn base_service(&self) -> &str {
        self.service
            .split_once('#')
            .map_or(self.service.as_str(), |(service, _)| service)
    }

    /// `async/email`, `async/email#2`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.group, self.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_target_names_its_container_and_its_service() {
        let second = FaultTarget::replica_of("email", 2);
        assert_eq!(second.label(), "async/email#2");
        assert_eq!((second.replica(), second.base_service()), (2, "email"));
        let main = FaultTarget::replica_of("email", 1);
        assert_eq!(main, FaultTarget::service("email", Mode::Async));
        assert_eq!((main.replica(), main.base_service()), (1, "email"));
        assert_eq!(
            second.label(),
            crate::docker::container::label("async", "email", 2)
        );
    }
}

/// One fault to make.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRequest {
    pub target: FaultTarget,
    pub kind: FaultKind,
    /// Service faults only: only paths starting with this.
    pub route_prefix: Option<String>,
    /// How long it lasts; the service (service faults) or ms-tui (platform faults) reverts it then.
    pub duration: Duration,
}

/// A fault in force, as the platform's state shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveFault {
    pub target: FaultTarget,
    pub kind: FaultKind,
    pub route_prefix: Option<String>,
    /// When it ends by itself (`None`: found on the platform with no known end, e.g. a container
    /// a SIGKILLed ms-tui left paused).
    pub expires_at: Option<SystemTime>,
    /// This process made it (and so reverts it at expiry and on quit).
    pub ours: bool,
}

impl ActiveFault {
    /// The key that names it in commands: `partition async/email`.
    pub fn key(&self) -> String {
        format!("{} {}", self.kind.word(), self.target.label())
    }

    /// Time left at `now`, if it has an end.
    pub fn time_left(&self, now: SystemTime) -> Option<Duration> {
        self.expires_at
            .map(|end| end.duration_since(now).unwrap_or(Duration::ZERO))
    }
}

/// What the app (or the headless command) asks the fault worker to do.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultCommand {
    Apply(FaultRequest),
    /// Revert the fault with this [`ActiveFault::key`].
    Revert(String),
    /// Revert every fault found (ours or not): `x`, `ms-tui fault --clear`.
    RevertAll,
    /// Revert every fault this process made (on quit); faults others made stay.
    RevertOurs,
}

/// What the fault worker reports.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultMsg {
    /// The full list of faults in force (after every change, and on a periodic refresh).
    Active(Vec<ActiveFault>),
    /// A fault was made: the timeline draws a start marker.
    Applied(ActiveFault),
    /// A fault ended (expired, reverted by the user, or on quit): an end marker.
    Reverted { key: String, why: String },
    /// Making or reverting failed; `unrevertable` faults stay listed and are shown loudly.
    Failed {
        key: String,
        error: String,
        unrevertable: bool,
    },
}
