//! Making and reverting faults, and remembering the ones this process made: the one piece the
//! control room's worker and the headless `ms-tui fault` share.
//!
//! What this process made is kept with what its revert needs (a partition's aliases) and its
//! end; a revert that fails keeps the fault, marked unrevertable, so it is retried and stays
//! in view instead of being forgotten. Faults made elsewhere are reverted from their key
//! alone (`pause async/email`), since the platform's state is what says they exist.

use std::time::{Duration, SystemTime};

use bollard::Docker;

use super::list::{self, Made};
use super::platform::Platform;
use super::service::{self, ServiceFaults};
use super::{ActiveFault, FaultKind, FaultMsg, FaultRequest, FaultTarget};
use crate::admin::AdminSettings;
use crate::docker::{Action, Project};

/// Infrastructure whose outage is a pause or a stop (never a partition or a kill: the broker
/// and the database are the stack's ground, and their volumes should not see a SIGKILL).
pub const INFRA_OUTAGES: [&str; 2] = ["rabbitmq", "postgres"];

/// A fault this process made, and what its revert needs.
#[derive(Debug, Clone)]
struct Held {
    made: Made,
    /// The aliases a partitioned container had on the stack's network.
    aliases: Vec<String>,
}

/// The faults of one process.
pub struct Faults {
    project: Project,
    docker: Option<Docker>,
    services: ServiceFaults,
    held: Vec<Held>,
}

impl Faults {
    pub fn new(project: Project, admin: AdminSettings) -> Faults {
        Faults {
            services: ServiceFaults::new(admin).for_project(project.clone()),
            project,
            docker: None,
            held: Vec::new(),
        }
    }

    /// As [`Faults::new`], on an engine client of the caller's (one that may never answer).
    pub fn on_engine(project: Project, admin: AdminSettings, docker: Docker) -> Faults {
        Faults {
            docker: Some(docker),
            ..Faults::new(project, admin)
        }
    }

    /// The engine, connected on first use (and again after a failed connect).
    async fn platform(&mut self) -> anyhow::Result<Platform> {
        let docker = match &self.docker {
            Some(docker) => docker.clone(),
            None => {
                let docker = crate::docker::connect().await?;
                self.docker = Some(docker.clone());
                docker
            }
        };
        Ok(Platform::new(docker, self.project.clone()))
    }

    /// A plain lifecycle action (an experiment's `start` after its `kill`): not a fault, so
    /// nothing is held or reverted for it.
    pub async fn act(&mut self, target: &FaultTarget, action: Action) -> anyhow::Result<()> {
        self.platform().await?.act(target, action).await
    }

    /// Makes `request`'s fault; it is ours from then on.
    pub async fn apply(&mut self, request: &FaultRequest) -> anyhow::Result<ActiveFault> {
        check(&request.target, &request.kind)?;
        let key = key(&request.kind, &request.target);
        if self.held.iter().any(|h| h.made.fault.key() == key) {
            anyhow::bail!("{key} is already in force");
        }
        let now = SystemTime::now();
        let mut fault = ActiveFault {
            target: request.target.clone(),
            kind: request.kind.clone(),
            route_prefix: request.route_prefix.clone(),
            expires_at: now.checked_add(request.duration),
            ours: true,
        };
        let mut aliases = Vec::new();
        let target = &request.target;
        if request.kind.is_service_fault() {
            let remote = self
                .services
                .put(
                    target,
                    &request.kind,
                    request.route_prefix.as_deref(),
                    request.duration,
                )
                .await?;
            if let Some(remote) = remote {
                fault.expires_at =
                    now.checked_add(Duration::from_secs_f64(remote.expires_in_s.max(0.0)));
            }
            // The PUT replaced whatever dose the service had.
            self.held.retain(|h| {
                !(h.made.fault.target == *target && h.made.fault.kind.is_service_fault())
            });
        } else {
            let platform = self.platform().await?;
            match request.kind {
                FaultKind::Partition => aliases = platform.partition(target).await?,
                FaultKind::Pause => platform.act(target, Action::Pause).await?,
                FaultKind::Stop => platform.act(target, Action::Stop).await?,
                FaultKind::Kill => platform.act(target, Action::Kill).await?,
                _ => unreachable!("service faults are handled above"),
            }
        }
        self.held.push(Held {
            made: Made {
                fault: fault.clone(),
                unrevertable: false,
            },
            aliases,
        });
        Ok(fault)
    }

    /// Reverts the fault named `key` (ours or found on the platform); `why` goes into the
    /// report (`expired`, `reverted by the user`, `on quit`).
    pub async fn revert(&mut self, key: &str, why: &str) -> FaultMsg {
        let Some((kind, target)) = parse_key(key) else {
            return FaultMsg::Failed {
                key: key.to_owned(),
                error: "not a fault's key".into(),
                unrevertable: false,
            };
        };
        let held = self.held.iter().position(|h| h.made.fault.key() == key);
        let aliases = held
            .map(|i| self.held[i].aliases.clone())
            .unwrap_or_default();
        let result = match kind {
            "latency" | "errors" | "slow-consumer" => self.services.delete(&target).await,
            other => match self.platform().await {
                Err(e) => Err(e),
                Ok(platform) => match other {
                    "partition" => platform.reconnect(&target, &aliases).await,
                    "pause" => platform.unpause(&target).await,
                    "stop" | "kill" => platform.act(&target, Action::Start).await,
                    _ => Err(anyhow::anyhow!("no such fault kind: {other}")),
                },
            },
        };
        match result {
            Ok(()) => {
                if let Some(i) = held {
                    self.held.remove(i);
                }
                FaultMsg::Reverted {
                    key: key.to_owned(),
                    why: why.to_owned(),
                }
            }
            Err(e) => {
                // A platform fault whose revert failed is still in force; a service's expires
                // by itself, so it is not.
                let unrevertable = !matches!(kind, "latency" | "errors" | "slow-consumer");
                if let Some(i) = held {
                    self.held[i].made.unrevertable = unrevertable;
                }
                FaultMsg::Failed {
                    key: key.to_owned(),
                    error: format!("{e:#}"),
                    unrevertable,
                }
            }
        }
    }

    /// Reverts every fault found, ours or not (`x`, `ms-tui fault --clear`).
    pub async fn revert_all(&mut self, why: &str) -> Vec<FaultMsg> {
        let (list, _) = self.list().await;
        let mut keys: Vec<String> = list.iter().map(ActiveFault::key).collect();
        for held in &self.held {
            let key = held.made.fault.key();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        self.revert_keys(keys, why).await
    }

    /// Reverts what this process made (on quit).
    pub async fn revert_ours(&mut self, why: &str) -> Vec<FaultMsg> {
        let keys = self.held.iter().map(|h| h.made.fault.key()).collect();
        self.revert_keys(keys, why).await
    }

    async fn revert_keys(&mut self, keys: Vec<String>, why: &str) -> Vec<FaultMsg> {
        let mut reports = Vec::new();
        for key in keys {
            reports.push(self.revert(&key, why).await);
        }
        reports
    }

    /// Whether this process holds any fault.
    pub fn holds_any(&self) -> bool {
        !self.held.is_empty()
    }

    /// The earliest end among ours that is still to be reverted.
    pub fn next_expiry(&self) -> Option<SystemTime> {
        self.held
            .iter()
            .filter(|h| !h.made.unrevertable)
            .filter_map(|h| h.made.fault.expires_at)
            .min()
    }

    /// Ours whose end has come at `now`, with whether the service ends it by itself.
    pub fn expired(&self, now: SystemTime) -> Vec<(String, bool)> {
        self.held
            .iter()
            .filter(|h| !h.made.unrevertable && h.made.fault.expires_at.is_some_and(|e| e <= now))
            .map(|h| (h.made.fault.key(), h.made.fault.kind.is_service_fault()))
            .collect()
    }

    /// Ours whose revert failed, to try again.
    pub fn unrevertable(&self) -> Vec<String> {
        self.held
            .iter()
            .filter(|h| h.made.unrevertable)
            .map(|h| h.made.fault.key())
            .collect()
    }

    /// Forgets one of ours that ended by itself (a service fault at its TTL).
    pub fn forget(&mut self, key: &str) {
        self.held.retain(|h| h.made.fault.key() != key);
    }

    /// The faults in force, from the platform's state; the engine's error when it could not
    /// be read (then ours are listed as remembered). Ours that are gone from the platform
    /// (reverted by someone else) are forgotten.
    pub async fn list(&mut self) -> (Vec<ActiveFault>, Option<String>) {
        let now = SystemTime::now();
        let containers = match self.platform().await {
            Ok(platform) => match platform.network().await {
                Ok(network) => platform.snapshot(&network).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        // A paused container would hold each GET for the whole timeout, and a stopped or
        // partitioned one cannot answer: only the reachable ones are asked.
        let reachable = match &containers {
            Ok(seen) => service::targets()
                .into_iter()
                .chain(
                    seen.iter()
                        .filter(|s| {
                            s.target.replica() > 1 && service::service_of(&s.target).is_ok()
                        })
                        .map(|s| s.target.clone()),
                )
                .filter(|t| {
                    seen.iter()
                        .any(|s| s.target == *t && s.state == "running" && s.on_network)
                })
                .collect(),
            Err(_) => service::targets(),
        };
        let services = self.services.of(reachable).await;
        let made: Vec<Made> = self.held.iter().map(|h| h.made.clone()).collect();
        let (list, error) = match &containers {
            Ok(seen) => (list::derive(Some(seen), &services, &made, now), None),
            Err(e) => (
                list::derive(None, &services, &made, now),
                Some(format!("{e:#}")),
            ),
        };
        if containers.is_ok() {
            self.held.retain(|h| {
                h.made.unrevertable
                    || h.made.fault.kind.is_service_fault()
                    || list.iter().any(|f| f.key() == h.made.fault.key())
            });
        }
        (list, error)
    }
}

/// The key of a fault of `kind` on `target`.
fn key(kind: &FaultKind, target: &FaultTarget) -> String {
    format!("{} {}", kind.word(), target.label())
}

/// `pause async/email` → (`pause`, async/email).
pub fn parse_key(key: &str) -> Option<(&str, FaultTarget)> {
    let (word, label) = key.split_once(' ')?;
    let (group, service) = label.split_once('/')?;
    Some((
        word,
        FaultTarget {
            group: group.to_owned(),
            service: service.to_owned(),
        },
    ))
}

/// Whether `kind` can be aimed at `target` at all.
pub fn check(target: &FaultTarget, kind: &FaultKind) -> anyhow::Result<()> {
    if kind.is_service_fault() {
        service::service_of(target)?;
        if matches!(kind, FaultKind::SlowConsumer { .. }) && target.group == "sync" {
            anyhow::bail!(
                "{}: sync services consume no messages; slow-consumer is for async ones",
                target.label()
            );
        }
    } else if INFRA_OUTAGES.contains(&target.service.as_str())
        && !matches!(kind, FaultKind::Pause | FaultKind::Stop)
    {
        anyhow::bail!(
            "{}: an outage of {} is a pause or a stop",
            target.label(),
            target.service
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::Mode;

    #[test]
    fn keys_name_kind_and_target_both_ways() {
        let target = FaultTarget::service("email", Mode::Async);
        let k = key(&FaultKind::Partition, &target);
        assert_eq!(k, "partition async/email");
        assert_eq!(parse_key(&k), Some(("partition", target)));
        assert_eq!(parse_key("partition"), None);
    }

    #[test]
    fn infra_takes_only_pause_and_stop_and_service_faults_need_an_admin_api() {
        let rabbit = FaultTarget {
            group: "infra".into(),
            service: "rabbitmq".into(),
        };
        assert!(check(&rabbit, &FaultKind::Pause).is_ok());
        assert!(check(&rabbit, &FaultKind::Stop).is_ok());
        assert!(check(&rabbit, &FaultKind::Partition).is_err());
        assert!(check(&rabbit, &FaultKind::Kill).is_err());
        let latency = FaultKind::Latency {
            ms: 1,
            jitter_ms: 0,
        };
        assert!(check(&rabbit, &latency).is_err());
        let gateway = FaultTarget {
            group: "infra".into(),
            service: "gateway".into(),
        };
        assert!(check(&gateway, &FaultKind::Partition).is_ok());
        assert!(check(&gateway, &latency).is_err());
        let slow = FaultKind::SlowConsumer { ms: 100 };
        assert!(check(&FaultTarget::service("email", Mode::Sync), &slow).is_err());
        assert!(check(&FaultTarget::service("email", Mode::Async), &slow).is_ok());
    }

    #[tokio::test]
    async fn a_revert_that_cannot_reach_anything_says_so() {
        let mut faults = Faults::new(
            Project::new("nobody"),
            AdminSettings {
                host: "127.0.0.1".into(),
                token: None,
            },
        );
        match faults.revert("latency sync/search", "test").await {
            FaultMsg::Failed {
                error,
                unrevertable,
                ..
            } => {
                assert!(error.contains("admin token"), "{error}");
                assert!(!unrevertable, "the service expires it by itself");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            faults.revert("nonsense", "test").await,
            FaultMsg::Failed { .. }
        ));
    }

    #[tokio::test]
    async fn a_platform_fault_that_cannot_be_reverted_is_reported_as_still_in_force() {
        // A path that exists (bollard checks) but no engine listens on: every call fails.
        let path =
            std::env::temp_dir().join(format!("ms-tui-no-engine-{}.sock", std::process::id()));
        std::fs::write(&path, b"").unwrap();
        let gone =
            Docker::connect_with_unix(&path.to_string_lossy(), 2, bollard::API_DEFAULT_VERSION)
                .unwrap();
        let admin = AdminSettings {
            host: "127.0.0.1".into(),
            token: None,
        };
        let mut faults = Faults::on_engine(Project::default(), admin, gone);
        match faults.revert("pause async/email", "test").await {
            FaultMsg::Failed { unrevertable, .. } => assert!(unrevertable),
            other => panic!("{other:?}"),
        }
        let (_, error) = faults.list().await;
        assert!(error.is_some(), "the engine's absence is said, not hidden");
        let _ = std::fs::remove_file(&path);
    }
}
