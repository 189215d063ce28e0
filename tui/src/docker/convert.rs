//! From the engine's answers to the worker's reports: an inspect becomes a [`ContainerInfo`], a
//! stats sample becomes CPU % and memory. Pure, so the arithmetic is tested without an engine.

use bollard::models::{
    ContainerInspectResponse, ContainerMemoryStats, ContainerStateStatusEnum,
    ContainerStatsResponse,
};

use super::container::{ContainerInfo, Health, RunState};
use super::labels::{self, Project};

/// The container as the table shows it; `None` when it is not `project`'s (the caller must not
/// show or touch it) or is an ended swarm task (history: its replacement is the row).
pub fn container_info(
    inspect: &ContainerInspectResponse,
    project: &Project,
) -> Option<ContainerInfo> {
    let config_labels = inspect.config.as_ref().and_then(|c| c.labels.as_ref());
    if !project.owns(config_labels) {
        return None;
    }
    let id = inspect.id.clone()?;
    let name = inspect
        .name
        .as_deref()
        .unwrap_or(&id)
        .trim_start_matches('/')
        .to_string();
    let (group, service) = labels::identify(config_labels, &name);
    let replica = labels::replica(config_labels);
    let st = inspect.state.as_ref();
    let state = match st.and_then(|s| s.status) {
        Some(ContainerStateStatusEnum::RUNNING) => RunState::Running,
        Some(ContainerStateStatusEnum::PAUSED) => RunState::Paused,
        Some(ContainerStateStatusEnum::RESTARTING) => RunState::Restarting,
        Some(ContainerStateStatusEnum::CREATED) => RunState::Created,
        Some(ContainerStateStatusEnum::REMOVING) => RunState::Removing,
        Some(ContainerStateStatusEnum::EXITED) => {
            RunState::Exited(st.and_then(|s| s.exit_code).unwrap_or(0))
        }
        Some(ContainerStateStatusEnum::DEAD) => RunState::Dead,
        _ => RunState::Unknown,
    };
    // A swarm task that ended is history: the swarm keeps its container (task history) but
    // has scheduled another task in its place, which is the row that counts.
    if super::swarm::slot(config_labels).is_some()
        && matches!(state, RunState::Exited(_) | RunState::Dead)
    {
        return None;
    }
    let health = Health::from_engine(st.and_then(|s| s.health.as_ref()).and_then(|h| h.status));
    Some(ContainerInfo {
        id,
        name,
        service,
        group,
        replica,
        state,
        health,
        restarts: inspect.restart_count.unwrap_or(0),
        usage: None,
    })
}

/// CPU % and memory from one stats sample, the way `docker stats` computes them: the CPU time
/// the container used over the system's CPU time since the previous sample, times the CPUs;
/// memory without the page cache (`inactive_file`, cgroup v2; `total_inactive_file`, v1).
/// `None` for a sample without a previous one to compare with (the first of a stream).
pub fn usage(stats: &ContainerStatsResponse) -> Option<(f64, u64)> {
    let cpu = stats.cpu_stats.as_ref()?;
    let pre = stats.precpu_stats.as_ref()?;
    let total = cpu.cpu_usage.as_ref()?.total_usage?;
    let pre_total = pre.cpu_usage.as_ref()?.total_usage?;
    let system = cpu.system_cpu_usage?;
    let pre_system = pre.system_cpu_usage.filter(|s| *s > 0)?;
    let cpus = cpu.online_cpus.map(u64::from).unwrap_or_else(|| {
        cpu.cpu_usage
            .as_ref()
            .and_then(|u| u.percpu_usage.as_ref())
            .map_or(1, |p| p.len() as u64)
    });
    let cpu_delta = total.saturating_sub(pre_total) as f64;
    let system_delta = system.saturating_sub(pre_system) as f64;
    let cpu_percent = if system_delta > 0.0 {
        cpu_delta / system_delta * cpus as f64 * 100.0
    } else {
        0.0
    };
    let used = mem_without_cache(stats.memory_stats.as_ref()?);
    Some((cpu_percent, used))
}

/// Memory in use without the page cache (`inactive_file`, cgroup v2; `total_inactive_file`,
/// v1), as `docker stats` counts it: the one memory rule for the table and the bench alike.
pub(crate) fn mem_without_cache(mem: &ContainerMemoryStats) -> u64 {
    let cache = mem
        .stats
        .as_ref()
        .and_then(|s| {
            s.get("inactive_file")
                .or_else(|| s.get("total_inactive_file"))
        })
        .copied()
        .unwrap_or(0);
    mem.usage.unwrap_or(0).saturating_sub(cache)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerConfig, ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats,
        ContainerState, Health as EngineHealth, HealthStatusEnum,
    };
    use std::collections::HashMap;

    fn cpu(total: u64, system: u64) -> ContainerCpuStats {
        ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(total),
                ..Default::default()
            }),
            system_cpu_usage: Some(system),
            online_cpus: Some(2),
            ..Default::default()
        }
    }

    fn sample(pre: (u64, u64), now: (u64, u64)) -> ContainerStatsResponse {
        ContainerStatsResponse {
            cpu_stats: Some(cpu(now.0, now.1)),
            precpu_stats: Some(cpu(pre.0, pre.1)),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(100 << 20),
                stats: Some(HashMap::from([("inactive_file".to_string(), 40 << 20)])),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn cpu_percent_is_per_cpu_like_docker_stats() {
        // 2 CPUs; the container used a quarter of all CPU time: half a core = 50 %.
        let (p, mem) = usage(&sample((0, 1_000), (250, 2_000))).unwrap();
        assert!((p - 50.0).abs() < 1e-9, "{p}");
        assert_eq!(mem, 60 << 20, "page cache excluded");
        // Both cores busy: 200 %.
        let (p, _) = usage(&sample((0, 1_000), (1_000, 2_000))).unwrap();
        assert!((p - 200.0).abs() < 1e-9);
    }

    #[test]
    fn the_first_sample_has_nothing_to_compare_with() {
        let mut s = sample((0, 0), (250, 2_000));
        assert!(usage(&s).is_none());
        s.precpu_stats = None;
        assert!(usage(&s).is_none());
    }

    fn inspect(labels: &[(&str, &str)]) -> ContainerInspectResponse {
        ContainerInspectResponse {
            id: Some("abc".into()),
            name: Some("/ms-tui-email-async-1".into()),
            restart_count: Some(2),
            state: Some(ContainerState {
                status: Some(ContainerStateStatusEnum::EXITED),
                exit_code: Some(137),
                health: Some(EngineHealth {
                    status: Some(HealthStatusEnum::UNHEALTHY),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            config: Some(ContainerConfig {
                labels: Some(
                    labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn an_inspect_of_ours_becomes_a_row() {
        let info = container_info(
            &inspect(&[
                (labels::PROJECT_KEY, labels::PROJECT),
                (labels::SERVICE_KEY, "email"),
                (labels::MODE_KEY, "async"),
            ]),
            &Project::default(),
        )
        .unwrap();
        assert_eq!(info.label(), "async/email");
        assert_eq!(info.replica, 1);
        assert!(!info.is_replica());
        assert_eq!(info.name, "ms-tui-email-async-1");
        assert_eq!(info.state, RunState::Exited(137));
        assert_eq!(info.health, Health::Unhealthy);
        assert_eq!(info.restarts, 2);
    }

    #[test]
    fn a_replica_keeps_its_service_and_group_and_gets_a_label_of_its_own() {
        let info = container_info(
            &inspect(&[
                (labels::PROJECT_KEY, labels::PROJECT),
                (labels::SERVICE_KEY, "email"),
                (labels::MODE_KEY, "async"),
                (labels::REPLICA_KEY, "true"),
                (labels::COMPOSE_SERVICE_KEY, "email-async-replica"),
                (labels::COMPOSE_NUMBER_KEY, "2"),
            ]),
            &Project::default(),
        )
        .unwrap();
        assert_eq!(
            (info.group, info.service.as_str()),
            (crate::docker::Group::Async, "email")
        );
        assert_eq!(info.replica, 3);
        assert!(info.is_replica());
        assert_eq!(info.label(), "async/email#3");
    }

    #[test]
    fn an_inspect_of_anything_else_is_refused() {
        let project = Project::default();
        assert!(container_info(&inspect(&[(labels::SERVICE_KEY, "email")]), &project).is_none());
        let theirs = inspect(&[(labels::PROJECT_KEY, "another")]);
        assert!(container_info(&theirs, &project).is_none());
    }
}
