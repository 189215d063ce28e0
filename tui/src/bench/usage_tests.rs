use std::collections::HashMap;

use bollard::models::{ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats};

use super::*;

const S: i64 = 1_000_000_000;

fn at(taken_ns: i64, containers: &[(&str, u64, u64, Option<i64>)]) -> Snapshot {
    Snapshot {
        taken_ns,
        containers: containers
            .iter()
            .map(|(key, cpu_ns, mem_bytes, read_ns)| {
                let sample = Sample {
                    cpu_ns: *cpu_ns,
                    mem_bytes: *mem_bytes,
                    read_ns: *read_ns,
                };
                (key.to_string(), sample)
            })
            .collect(),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn cores_are_cpu_time_over_wall_time_and_memory_is_the_end_s() {
    // 10 s apart; email used 5 s of CPU (half a core), rabbitmq 20 s (two cores).
    let before = at(
        100 * S,
        &[
            ("async/email", 7 * S as u64, 50 << 20, None),
            ("infra/rabbitmq", 0, 100 << 20, None),
        ],
    );
    let after = at(
        110 * S,
        &[
            ("async/email", 12 * S as u64, 60 << 20, None),
            ("infra/rabbitmq", 20 * S as u64, 80 << 20, None),
        ],
    );
    let usage = between(&before, &after);
    assert_eq!(usage.len(), 2);
    assert!(close(usage["async/email"].cpu_cores, 0.5));
    assert!(close(usage["async/email"].mem_mib, 60.0));
    assert!(close(usage["infra/rabbitmq"].cpu_cores, 2.0));
    assert!(
        close(usage["infra/rabbitmq"].mem_mib, 80.0),
        "after's, not before's"
    );
}

#[test]
fn the_engine_s_read_times_measure_the_interval_when_both_ends_have_one() {
    // The snapshots are 10 s apart, but the engine read email's counters 8 s apart: 4 s of
    // CPU over 8 s is half a core, not 0.4.
    let before = at(0, &[("sync/email", 0, 0, Some(101 * S))]);
    let after = at(10 * S, &[("sync/email", 4 * S as u64, 0, Some(109 * S))]);
    assert!(close(between(&before, &after)["sync/email"].cpu_cores, 0.5));
    // One end without a read time: the snapshots' clock, never a mix.
    let after = at(10 * S, &[("sync/email", 4 * S as u64, 0, None)]);
    assert!(close(between(&before, &after)["sync/email"].cpu_cores, 0.4));
}

#[test]
fn containers_missing_from_either_end_are_left_out() {
    let before = at(
        0,
        &[("async/email", 0, 0, None), ("async/gone", 0, 0, None)],
    );
    let after = at(
        S,
        &[
            ("async/email", S as u64, 0, None),
            ("async/new", 9, 0, None),
        ],
    );
    let usage = between(&before, &after);
    let keys: Vec<&str> = usage.keys().map(String::as_str).collect();
    assert_eq!(keys, ["async/email"]);
    assert!(close(cpu_seconds(&before, &after, "async"), 1.0));
}

#[test]
fn no_wall_time_gives_zero_cores_not_nan() {
    let before = at(5 * S, &[("sync/email", 0, 0, None)]);
    let after = at(5 * S, &[("sync/email", S as u64, 0, None)]);
    let cores = between(&before, &after)["sync/email"].cpu_cores;
    assert!(close(cores, 0.0), "{cores}");
    let backwards = at(4 * S, &[("sync/email", S as u64, 0, None)]);
    assert!(close(
        between(&before, &backwards)["sync/email"].cpu_cores,
        0.0
    ));
}

#[test]
fn cpu_seconds_sums_one_group_only() {
    let before = at(
        0,
        &[
            ("sync/email", S as u64, 0, None),
            ("sync/payment", 0, 0, None),
            ("async/email", 0, 0, None),
            ("infra/postgres", 0, 0, None),
        ],
    );
    let after = at(
        10 * S,
        &[
            ("sync/email", 3 * S as u64, 0, None),
            ("sync/payment", S as u64 / 2, 0, None),
            ("async/email", 7 * S as u64, 0, None),
            ("infra/postgres", S as u64, 0, None),
        ],
    );
    assert!(close(cpu_seconds(&before, &after, "sync"), 2.5));
    assert!(close(cpu_seconds(&before, &after, "async"), 7.0));
    assert!(close(cpu_seconds(&before, &after, "infra"), 1.0));
    // A prefix of a group is not the group.
    assert!(close(cpu_seconds(&before, &after, "syn"), 0.0));
    assert!(close(cpu_seconds(&before, &after, "none"), 0.0));
}

#[test]
fn a_restarted_container_counts_what_it_used_since_the_restart() {
    let before = at(0, &[("async/email", 50 * S as u64, 0, None)]);
    let after = at(10 * S, &[("async/email", 2 * S as u64, 0, None)]);
    assert!(close(cpu_seconds(&before, &after, "async"), 2.0));
    assert!(close(
        between(&before, &after)["async/email"].cpu_cores,
        0.2
    ));
}

fn stats(read: Option<&str>, total: Option<u64>) -> ContainerStatsResponse {
    ContainerStatsResponse {
        read: read.map(str::to_owned),
        cpu_stats: Some(ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: total,
                ..Default::default()
            }),
            ..Default::default()
        }),
        memory_stats: Some(ContainerMemoryStats {
            usage: Some(100 << 20),
            stats: Some(HashMap::from([("inactive_file".to_string(), 40 << 20)])),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn a_stats_answer_becomes_counters_without_the_page_cache() {
    let s = sample(&stats(Some("2026-12-02T03:04:05.123456789Z"), Some(42))).unwrap();
    assert_eq!(s.cpu_ns, 42);
    assert_eq!(
        s.mem_bytes,
        60 << 20,
        "page cache excluded, as docker stats does"
    );
    assert_eq!(s.read_ns, Some(1_796_180_645_123_456_789));
    // No read time at all: still counters, timed by the snapshot.
    assert_eq!(sample(&stats(None, Some(42))).unwrap().read_ns, None);
}

#[test]
fn a_container_that_is_not_running_gives_no_sample() {
    // What the engine answers for a stopped container: read at the zero time.
    assert_eq!(sample(&stats(Some("0001-01-01T00:00:00Z"), Some(0))), None);
    assert_eq!(sample(&stats(Some("2026-12-02T03:04:05Z"), None)), None);
    let mut no_memory = stats(Some("2026-12-02T03:04:05Z"), Some(1));
    no_memory.memory_stats = None;
    assert_eq!(sample(&no_memory), None);
}
