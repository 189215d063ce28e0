//! The bench's stats reader against the real engine and the running stack: a snapshot names
//! every container of the stack as `group/service`, its counters only grow, and the interval
//! between two snapshots gives finite CPU and real memory — with CPU where load was sent.
//! Read-only: no container is started, stopped or changed.

use std::time::{Duration, Instant};

use crate::stack_support::Stack;
use common::Mode;
use common::scenario::Service;
use ms_tui::bench::usage::{self, Snapshot};

/// How long a snapshot may take: one-shot stats of every container at once, on a loaded
/// 2-core host (measured 1.1–1.3 s on Docker 20.10; the bench takes two per step).
const SNAPSHOT_WITHIN: Duration = Duration::from_secs(8);

async fn timed_snapshot(stack: &Stack) -> Snapshot {
    let began = Instant::now();
    let snapshot = usage::snapshot(&stack.docker)
        .await
        .unwrap_or_else(|err| panic!("snapshot: {err:#}"));
    let took = began.elapsed();
    println!(
        "snapshot of {} containers in {took:?}",
        snapshot.containers.len()
    );
    assert!(took < SNAPSHOT_WITHIN, "a snapshot took {took:?}");
    snapshot
}

/// The tests; `scripts/test.sh` runs this module only once the stack is up.
mod on_the_running_stack {
    use super::*;

    #[tokio::test]
    async fn two_snapshots_give_each_container_s_cpu_and_memory_over_the_interval() {
        let stack = Stack::healthy().await;
        let before = timed_snapshot(&stack).await;
        let expected = stack.expected(&stack.containers().await);
        assert_eq!(
            before.containers.len(),
            expected,
            "{:?}",
            before.containers.keys()
        );
        for key in [
            "sync/order",
            "async/email",
            "infra/rabbitmq",
            "infra/postgres",
        ] {
            assert!(before.containers.contains_key(key), "{key} missing");
        }

        // Some load on one sync service, so its CPU over the interval is not zero.
        let health = format!("{}/health", stack.base(Service::Order, Mode::Sync));
        for _ in 0..200 {
            assert_eq!(stack.get(&health).await.status, 200);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = timed_snapshot(&stack).await;

        for (key, end) in &after.containers {
            if let Some(start) = before.containers.get(key) {
                assert!(end.cpu_ns >= start.cpu_ns, "{key}: CPU time went backwards");
            }
        }
        let interval = usage::between(&before, &after);
        assert_eq!(interval.len(), expected, "{:?}", interval.keys());
        for (key, u) in &interval {
            assert!(
                u.cpu_cores.is_finite() && u.cpu_cores >= 0.0,
                "{key}: {u:?}"
            );
            // No service is idle enough to fit in a MiB, and none is near the host's memory.
            assert!(u.mem_mib > 1.0 && u.mem_mib < 4096.0, "{key}: {u:?}");
        }
        println!("{interval:#?}");
        assert!(interval["sync/order"].cpu_cores > 0.0);
        assert!(usage::cpu_seconds(&before, &after, "sync") > 0.0);
        assert!(
            usage::cpu_seconds(&before, &after, "infra") > 0.0,
            "RabbitMQ never idles"
        );
    }
}
