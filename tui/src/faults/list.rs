//! The active-fault list, derived from the platform's own state rather than from memory: a
//! paused container is a pause, a stopped one a stop, a running one off the stack's network a
//! partition, and each service's `GET /admin/faults` its service fault. What this process made
//! is matched in by key, which adds the end time it knows and marks it as ours; so a second
//! ms-tui, or one restarted after a SIGKILL, lists (and can revert) what the first left.

use std::time::{Duration, SystemTime};

use super::platform::Seen;
use super::service::RemoteFault;
use super::{ActiveFault, FaultKind, FaultTarget};

/// A fault this process made, as it remembers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Made {
    pub fault: ActiveFault,
    /// Its revert failed: it stays listed even when the platform cannot be read.
    pub unrevertable: bool,
}

/// The faults in force. `containers` is `None` when the engine could not be read: then what
/// this process made on the platform is listed as it remembers it (it cannot tell otherwise).
pub fn derive(
    containers: Option<&[Seen]>,
    services: &[(FaultTarget, RemoteFault)],
    made: &[Made],
    now: SystemTime,
) -> Vec<ActiveFault> {
    let mut list = Vec::new();
    match containers {
        Some(containers) => {
            for seen in containers {
                for kind in platform_kinds(seen, made) {
                    list.push(found(seen.target.clone(), kind, None, None));
                }
            }
        }
        None => list.extend(
            made.iter()
                .filter(|m| !m.fault.kind.is_service_fault())
                .map(|m| m.fault.clone()),
        ),
    }
    for (target, remote) in services {
        let expires_at = now.checked_add(Duration::from_secs_f64(remote.expires_in_s.max(0.0)));
        for kind in remote.kinds() {
            list.push(found(
                target.clone(),
                kind,
                remote.route_prefix.clone(),
                expires_at,
            ));
        }
    }
    for fault in &mut list {
        if let Some(mine) = made.iter().find(|m| m.fault.key() == fault.key()) {
            fault.ours = true;
            // The platform knows no end for its faults; the service's own count is fresher.
            if !fault.kind.is_service_fault() {
                fault.expires_at = mine.fault.expires_at;
            }
        }
    }
    // A fault whose revert failed stays in view even if the platform now looks clean to us.
    for mine in made.iter().filter(|m| m.unrevertable) {
        if !list.iter().any(|f| f.key() == mine.fault.key()) {
            list.push(mine.fault.clone());
        }
    }
    list.sort_by_key(|f| (f.target.label(), f.kind.word()));
    list
}

/// The platform faults a container shows: paused, stopped (a kill when this process killed
/// it), running off the network.
fn platform_kinds(seen: &Seen, made: &[Made]) -> Vec<FaultKind> {
    let mut kinds = Vec::new();
    match seen.state.as_str() {
        "paused" => kinds.push(FaultKind::Pause),
        "exited" | "dead" => {
            let killed = made
                .iter()
                .any(|m| m.fault.target == seen.target && m.fault.kind == FaultKind::Kill);
            kinds.push(if killed {
                FaultKind::Kill
            } else {
                FaultKind::Stop
            });
        }
        _ => {}
    }
    // A stopped container is off every network by nature; only a live one is partitioned.
    if matches!(seen.state.as_str(), "running" | "paused") && !seen.on_network {
        kinds.push(FaultKind::Partition);
    }
    kinds
}

fn found(
    target: FaultTarget,
    kind: FaultKind,
    route_prefix: Option<String>,
    expires_at: Option<SystemTime>,
) -> ActiveFault {
    ActiveFault {
        target,
        kind,
        route_prefix,
        expires_at,
        ours: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::Mode;

    fn seen(service: &str, state: &str, on_network: bool) -> Seen {
        Seen {
            target: FaultTarget::service(service, Mode::Async),
            id: format!("id-{service}"),
            state: state.into(),
            on_network,
        }
    }

    fn made(service: &str, kind: FaultKind, end: Option<SystemTime>) -> Made {
        Made {
            fault: ActiveFault {
                target: FaultTarget::service(service, Mode::Async),
                kind,
                route_prefix: None,
                expires_at: end,
                ours: true,
            },
            unrevertable: false,
        }
    }

    fn keys(list: &[ActiveFault]) -> Vec<String> {
        list.iter().map(ActiveFault::key).collect()
    }

    #[test]
    fn the_platform_state_is_the_list_and_ours_are_matched_in() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let end = now + Duration::from_secs(20);
        let containers = [
            seen("email", "running", false),
            seen("cache", "paused", true),
            seen("user", "running", true),
            seen("search", "exited", false),
            seen("order", "exited", false),
        ];
        let made = [
            made("email", FaultKind::Partition, Some(end)),
            made("order", FaultKind::Kill, Some(end)),
        ];
        let list = derive(Some(&containers), &[], &made, now);
        assert_eq!(
            keys(&list),
            [
                "pause async/cache",
                "partition async/email",
                "kill async/order",
                "stop async/search"
            ]
        );
        let email = &list[1];
        assert!(email.ours);
        assert_eq!(email.time_left(now), Some(Duration::from_secs(20)));
        let cache = &list[0];
        assert!(!cache.ours, "left by someone else");
        assert_eq!(cache.expires_at, None);
    }

    #[test]
    fn service_faults_count_down_from_their_own_answer() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let remote = RemoteFault {
            latency_ms: 1000,
            error_rate: 0.5,
            error_status: 500,
            route_prefix: Some("/search".into()),
            ttl_s: 30,
            expires_in_s: 12.0,
            ..RemoteFault::default()
        };
        let target = FaultTarget::service("search", Mode::Sync);
        let made = [Made {
            fault: ActiveFault {
                target: target.clone(),
                kind: FaultKind::Latency {
                    ms: 1000,
                    jitter_ms: 0,
                },
                route_prefix: Some("/search".into()),
                expires_at: Some(now + Duration::from_secs(30)),
                ours: true,
            },
            unrevertable: false,
        }];
        let list = derive(Some(&[]), &[(target, remote)], &made, now);
        assert_eq!(keys(&list), ["errors sync/search", "latency sync/search"]);
        assert!(!list[0].ours && list[1].ours);
        assert_eq!(list[1].time_left(now), Some(Duration::from_secs(12)));
        assert_eq!(list[1].route_prefix.as_deref(), Some("/search"));
    }

    #[test]
    fn without_the_engine_ours_stay_listed_and_a_failed_revert_is_never_forgotten() {
        let now = SystemTime::UNIX_EPOCH;
        let mut stuck = made("email", FaultKind::Pause, None);
        stuck.unrevertable = true;
        let made = [made("cache", FaultKind::Partition, None), stuck];
        let blind = derive(None, &[], &made, now);
        assert_eq!(keys(&blind), ["partition async/cache", "pause async/email"]);
        // The engine answers again but shows the container unpaused: the failed one stays
        // listed until a revert succeeds (its record is dropped then, not here).
        let list = derive(Some(&[seen("email", "running", true)]), &[], &made, now);
        assert_eq!(keys(&list), ["pause async/email"]);
    }
}
