//! CPU seconds and memory per container over a step, from Docker stats.
//!
//! A step takes a [`snapshot`] before its load and one after its drain; [`between`] turns the
//! pair into each container's average CPU (cores) and its memory at the end, and
//! [`cpu_seconds`] into the CPU time one group (`sync`, `async`, `infra`) spent — what CPU per
//! 1,000 requests is made of.
//!
//! Cumulative CPU time (`cpu_stats.cpu_usage.total_usage`) is used rather than `docker stats`'
//! percentage: the percentage covers only the engine's last sampling interval, while the
//! difference of two cumulative counters covers exactly the step, however long it lasted.
//! Memory is counted without the page cache, by the same rule as the control room's table
//! ([`convert::mem_without_cache`]).

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptionsBuilder;
use futures_util::StreamExt as _;
use futures_util::future::join_all;

use super::result::Usage;
use crate::docker::container::{ContainerInfo, RunState};
use crate::docker::convert::{self, mem_without_cache};
use crate::docker::engine::list_inspected;
use crate::docker::labels::Project;

/// How long one container's one-shot stats may take before the container is left out: an
/// engine that hangs on one container must not hang the bench (a loaded host answers in ~1 s).
const STATS_WITHIN: Duration = Duration::from_secs(10);

const NS_PER_S: f64 = 1e9;
const BYTES_PER_MIB: f64 = (1u64 << 20) as f64;

/// Every running container of the project at one instant, keyed `async/email`,
/// `infra/rabbitmq` (from the `ms-tui.mode` / `ms-tui.service` labels).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// Local wall clock (ns since the Unix epoch) halfway through taking the snapshot: the
    /// interval's fallback when a container's sample has no time of its own.
    pub taken_ns: i64,
    pub containers: BTreeMap<String, Sample>,
}

/// One container's counters at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    /// Cumulative CPU time the container has used since it started (ns).
    pub cpu_ns: u64,
    /// Memory in use, without the page cache.
    pub mem_bytes: u64,
    /// When the engine read this sample (ns since the epoch). Concurrent one-shot calls are
    /// read up to a second or two apart on a loaded host, so each container's interval is
    /// measured on its own reads when both ends have one.
    pub read_ns: Option<i64>,
}

/// The project's running containers' counters, one one-shot stats call each, all at once. A
/// container that stops or disappears meanwhile (or does not answer within
/// [`STATS_WITHIN`]) is left out: the step's figures then lack it rather than fail.
pub async fn snapshot(docker: &Docker) -> anyhow::Result<Snapshot> {
    let project = Project::default();
    let listed = list_inspected(docker, vec![project.filter()]).await?;
    let running: Vec<ContainerInfo> = listed
        .into_iter()
        .filter_map(|(_, inspect)| inspect.ok())
        .filter_map(|inspect| convert::container_info(&inspect, &project))
        // A paused container still answers with its (frozen) counters; any other state
        // answers with empty stats.
        .filter(|info| matches!(info.state, RunState::Running | RunState::Paused))
        .collect();
    let before = now_ns();
    let samples = join_all(running.iter().map(|info| one_shot(docker, &info.id))).await;
    let after = now_ns();
    let containers = running
        .iter()
        .zip(samples)
        .filter_map(|(info, sample)| Some((info.label(), sample?)))
        .collect();
    Ok(Snapshot {
        taken_ns: before + (after - before) / 2,
        containers,
    })
}

/// One container's counters now; `None` when it has gone or does not answer.
async fn one_shot(docker: &Docker, id: &str) -> Option<Sample> {
    // `one_shot` skips the engine's wait for a second sample (precpu), which a cumulative
    // counter does not need. Measured on Docker 20.10 (2 cores, loaded): ~1.0 s a call with
    // it (the engine answers at its collector's next 1 s tick), ~1.7 s without; all 23
    // containers at once take 1.1–1.3 s.
    let options = StatsOptionsBuilder::default()
        .stream(false)
        .one_shot(true)
        .build();
    let mut stream = docker.stats(id, Some(options));
    // Timed out, the stream ended without an answer, or the engine refused (404: gone).
    let answer = tokio::time::timeout(STATS_WITHIN, stream.next()).await;
    let stats = answer.ok()??.ok()?;
    sample(&stats)
}

/// The counters of one stats answer; `None` for a container that is not running (the engine
/// then answers with empty stats read at the zero time).
pub(crate) fn sample(stats: &ContainerStatsResponse) -> Option<Sample> {
    let read_ns = stats.read.as_deref().and_then(parse_ns);
    if stats.read.is_some() && read_ns.is_none() {
        return None;
    }
    let cpu_ns = stats.cpu_stats.as_ref()?.cpu_usage.as_ref()?.total_usage?;
    let mem_bytes = mem_without_cache(stats.memory_stats.as_ref()?);
    Some(Sample {
        cpu_ns,
        mem_bytes,
        read_ns,
    })
}

/// An RFC 3339 time as ns since the epoch; `None` for the engine's zero time
/// (`0001-01-01T00:00:00Z`, before the epoch) or anything unreadable.
fn parse_ns(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()?
        .timestamp_nanos_opt()
        .filter(|ns| *ns > 0)
}

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0)
}

/// Each container present in both snapshots: CPU in cores averaged over the interval (ΔCPU ns
/// / Δwall ns) and memory (MiB) at `after`. A container that appeared in between has no start
/// to measure from and is left out.
pub fn between(before: &Snapshot, after: &Snapshot) -> BTreeMap<String, Usage> {
    after
        .containers
        .iter()
        .filter_map(|(key, end)| {
            let start = before.containers.get(key)?;
            let wall_ns = wall_ns(before, start, after, end);
            let cpu_cores = if wall_ns > 0 {
                cpu_delta_ns(start, end) as f64 / wall_ns as f64
            } else {
                0.0
            };
            let usage = Usage {
                cpu_cores,
                mem_mib: end.mem_bytes as f64 / BYTES_PER_MIB,
            };
            Some((key.clone(), usage))
        })
        .collect()
}

/// CPU seconds the containers of `group` (`sync`, `async`, `infra`) used between the two
/// snapshots, summed.
pub fn cpu_seconds(before: &Snapshot, after: &Snapshot, group: &str) -> f64 {
    let prefix = format!("{group}/");
    cpu_seconds_where(before, after, |key| key.starts_with(&prefix))
}

/// CPU seconds of the named containers (`async/email`, `infra/rabbitmq`) between the two.
pub fn cpu_seconds_of(before: &Snapshot, after: &Snapshot, keys: &[String]) -> f64 {
    cpu_seconds_where(before, after, |key| keys.iter().any(|k| k == key))
}

fn cpu_seconds_where(before: &Snapshot, after: &Snapshot, wanted: impl Fn(&str) -> bool) -> f64 {
    let ns: u64 = after
        .containers
        .iter()
        .filter(|(key, _)| wanted(key))
        .filter_map(|(key, end)| Some(cpu_delta_ns(before.containers.get(key)?, end)))
        .sum();
    ns as f64 / NS_PER_S
}

/// CPU time used between two samples of one container. A counter that went backwards means
/// the container restarted in between: what it used since the restart is all that is known.
fn cpu_delta_ns(start: &Sample, end: &Sample) -> u64 {
    if end.cpu_ns >= start.cpu_ns {
        end.cpu_ns - start.cpu_ns
    } else {
        end.cpu_ns
    }
}

/// The interval between two samples: the engine's own read times when both have one (the
/// counters were read then), else the snapshots' local times. Never a mix of the two clocks.
fn wall_ns(before: &Snapshot, start: &Sample, after: &Snapshot, end: &Sample) -> i64 {
    match (start.read_ns, end.read_ns) {
        (Some(s), Some(e)) if e > s => e - s,
        _ => after.taken_ns.saturating_sub(before.taken_ns),
    }
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
