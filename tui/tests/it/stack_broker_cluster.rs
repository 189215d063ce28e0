//! The broker cluster (`ms-tui up --broker-cluster`) on the Docker stack: S1 async under load,
//! the broker node the user service is connected to killed in the middle, and still every
//! 202 becomes exactly one e-mail; the queue pane's readers (AMQP passive declares, the
//! management API) keep answering from the nodes left. Prints the failover time.
//!
//! The test brings the cluster up itself and puts the single-node stack back afterwards
//! (`down`, then `up` without the flag), a failing run included.

use std::time::{Duration, Instant};

use common::Mode;
use common::broker::{nodes, topology};
use common::scenario::Service;
use lapin::ConnectionProperties;
use ms_tui::broker::{BrokerSettings, mgmt, probe};
use ms_tui::docker::status as containers;
use ms_tui::docker::{Action, Project, actions};
use ms_tui::stack::{DownOptions, UpOptions};
use serde_json::{Value, json};

use crate::stack_support::{Stack, eventually, options, run_detached, unique};

/// How long the queue pane's readers may take to answer from a live node after the kill. The
/// survivors' queue list takes 5–10 s for as long as the node is down (so the reader asks for
/// its queues one by one); the AMQP connect and one 2 s timeout of the list come first.
const READERS_WITHIN: u64 = 20;

/// Registrations per second, and for how long: the node dies a third of the way in.
const RATE: u64 = 40;
const LOAD_FOR: Duration = Duration::from_secs(18);
const KILL_AFTER: Duration = Duration::from_secs(6);

/// `up` with the broker as `cluster` or as the single node, the infrastructure images as
/// the stack's `.env` has them.
fn up_options(cluster: bool) -> UpOptions {
    UpOptions {
        stack: options(),
        broker_cluster: cluster,
        ..UpOptions::default()
    }
}

async fn single_node_again() {
    let done = ms_tui::stack::down(
        &DownOptions {
            stack: options(),
            ..DownOptions::default()
        },
        |p| println!("{p}"),
    )
    .await;
    if let Err(e) = done {
        eprintln!("restoring the single node: down failed: {e:#}");
    }
    // The killed node stopped first, so its data says the others may hold newer state: booted
    // on it again, it would wait for nodes that start only once it is healthy. The next run
    // starts from empty cluster volumes (README, broker cluster: the same for a user).
    if let Ok(docker) = ms_tui::docker::connect().await {
        for volume in [
            "rabbitmq-cluster-1",
            "rabbitmq-cluster-2",
            "rabbitmq-cluster-3",
        ] {
            let name = format!("{}_{volume}", ms_tui::stack::PROJECT);
            if let Err(e) = docker
                .remove_volume(
                    &name,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await
            {
                eprintln!("restoring the single node: removing {name}: {e}");
            }
        }
    }
    if let Err(e) = ms_tui::stack::up(&up_options(false), |p| println!("{p}")).await {
        eprintln!("restoring the single node: up failed: {e:#}");
    }
}

/// Puts the single-node stack back when the test ends, passed or failed.
struct SingleNodeAgain;

impl Drop for SingleNodeAgain {
    fn drop(&mut self) {
        run_detached("the single-node restore", single_node_again);
    }
}

/// One registration as the load saw it.
struct Sent {
    address: String,
    began: Instant,
    ended: Instant,
    status: u16,
}

/// GET on the management API of the node published at `mgmt_port`.
async fn mgmt_get(stack: &Stack, base: &str, path: &str) -> Value {
    let reply = stack
        .http
        .get(format!("{base}/api/{path}"))
        .basic_auth(
            stack.env.rabbitmq_user(),
            Some(stack.env.rabbitmq_password()),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("management {path}: {e}"));
    reply
        .json()
        .await
        .unwrap_or_else(|e| panic!("management {path}: {e}"))
}

/// The cluster node (compose service) the async user service's connection is on.
async fn node_of_user_async(stack: &Stack, base: &str) -> String {
    eventually(
        Duration::from_secs(30),
        "the async user service's broker connection is listed",
        || async {
            let list = mgmt_get(
                stack,
                base,
                "connections?columns=name,node,client_properties",
            )
            .await;
            list.as_array()?.iter().find_map(|c| {
                let name = c["client_properties"]["connection_name"].as_str()?;
                let node = c["node"].as_str()?;
                name.starts_with("ms-service user (async")
                    .then(|| node.trim_start_matches("rabbit@").to_owned())
            })
        },
    )
    .await
}

mod on_the_running_stack {
    use super::*;

    #[tokio::test]
    async fn s1_async_under_load_loses_nothing_when_a_broker_node_dies() {
        let began = Instant::now();
        let _restore = SingleNodeAgain;
        let report = ms_tui::stack::up(&up_options(true), |p| println!("{p}"))
            .await
            .unwrap_or_else(|e| panic!("ms-tui up --broker-cluster: {e:#}"));
        println!(
            "cluster up: {:.1} s after compose up",
            report.start_to_healthy.as_secs_f64()
        );
        let stack = Stack::healthy().await;
        assert!(stack.env.broker_cluster(), "compose/.env says cluster");
        let broker = BrokerSettings::new(&stack.env.amqp_url(), &stack.env.mgmt_url());
        let first_mgmt = nodes::expand(&broker.mgmt_url).remove(0);

        // Three nodes in one cluster, and the work queues replicated over them.
        let running = mgmt_get(&stack, &first_mgmt, "nodes?columns=name,running").await;
        let running: Vec<&str> = running
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|n| n["running"] == true)
                    .filter_map(|n| n["name"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(running.len(), 3, "running nodes: {running:?}");
        let queue = topology::USER_REGISTERED;
        let declared = mgmt_get(&stack, &first_mgmt, &format!("queues/%2F/{queue}")).await;
        assert_eq!(declared["type"], "quorum", "{declared}");
        let members = declared["members"].as_array().map_or(0, Vec::len);
        assert_eq!(members, 3, "{queue} members: {}", declared["members"]);

        // S1 async under load; the user service's node killed a third of the way in.
        let victim = node_of_user_async(&stack, &first_mgmt).await;
        let register = format!("{}/register", stack.base(Service::User, Mode::Async));
        let load_began = Instant::now();
        let total = RATE * LOAD_FOR.as_secs();
        let mut load = Vec::new();
        for i in 0..total {
            let http = stack.http.clone();
            let register = register.clone();
            let at = load_began + Duration::from_millis(i * 1000 / RATE);
            load.push(tokio::spawn(async move {
                tokio::time::sleep_until(at.into()).await;
                let address = format!("{}@example.com", unique("cluster"));
                let began = Instant::now();
                let status = http
                    .post(&register)
                    .json(&json!({ "email": address }))
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16());
                Sent {
                    address,
                    began,
                    ended: Instant::now(),
                    status,
                }
            }));
        }
        tokio::time::sleep_until((load_began + KILL_AFTER).into()).await;
        let node = containers::find(&stack.docker, &victim, "infra")
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        let killed_at = Instant::now();
        actions::perform(&stack.docker, &Project::default(), &node.id, Action::Kill)
            .await
            .unwrap_or_else(|e| panic!("killing {victim}: {e}"));
        println!("killed broker node {victim} (the async user service's)");

        // The queue pane's readers, while the node is down: depths over AMQP and the
        // management figures, each from a node still alive.
        // Each failing step is said once, as it changes: a timeout then names what hung.
        let last_failure = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let said = |failure: String| {
            let mut last = last_failure.lock().unwrap_or_else(|e| e.into_inner());
            if *last != failure {
                println!(
                    "queue pane readers, {:.1} s after the kill: {failure}",
                    killed_at.elapsed().as_secs_f64()
                );
                *last = failure;
            }
        };
        let pane = eventually(
            Duration::from_secs(READERS_WITHIN),
            "the queue pane's readers answer",
            || {
                let broker = broker.clone();
                let said = &said;
                async move {
                    let connection =
                        match nodes::connect_any(&broker.amqp_url, ConnectionProperties::default())
                            .await
                        {
                            Ok(c) => c,
                            Err(e) => {
                                said(format!("AMQP connect: {e:#}"));
                                return None;
                            }
                        };
                    let channel = connection.create_channel().await.ok()?;
                    let depth = match probe::passive_depth(&channel, queue).await {
                        Ok(depth) => depth,
                        Err(e) => {
                            said(format!("passive declare: {e:#}"));
                            return None;
                        }
                    };
                    let _ = connection.close(200, "bye".into()).await;
                    let http = common::http::client(Duration::from_secs(2));
                    let figures = match mgmt::fetch(&http, &broker, &[queue.to_owned()]).await {
                        Ok(figures) => figures,
                        Err(e) => {
                            said(format!("management API: {e:#}"));
                            return None;
                        }
                    };
                    figures
                        .contains_key(queue)
                        .then_some((depth, figures[queue].clone()))
                }
            },
        )
        .await;
        println!(
            "queue pane with {victim} down: {queue} {:?}, unacked {}, answering {:.1} s after the kill",
            pane.0,
            pane.1.unacked,
            killed_at.elapsed().as_secs_f64()
        );

        let mut sent = Vec::new();
        for task in load {
            sent.push(task.await.unwrap_or_else(|e| panic!("load task: {e}")));
        }
        let accepted: Vec<&Sent> = sent.iter().filter(|s| s.status == 202).collect();
        let refused: Vec<&Sent> = sent.iter().filter(|s| s.status != 202).collect();
        // Failover: from the kill to the first 202 of a request begun after the last refusal
        // (or after the kill, when nothing was refused); and the longest silence between 202s.
        let last_refusal = refused
            .iter()
            .filter(|s| s.ended >= killed_at)
            .map(|s| s.began)
            .max()
            .unwrap_or(killed_at);
        let recovered = accepted
            .iter()
            .filter(|s| s.began >= last_refusal)
            .map(|s| s.ended)
            .min()
            .unwrap_or_else(|| panic!("no 202 after the kill"));
        let mut ends: Vec<Instant> = accepted.iter().map(|s| s.ended).collect();
        ends.sort();
        let longest_gap = ends
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default();
        let mut codes: Vec<u16> = refused.iter().map(|s| s.status).collect();
        codes.sort_unstable();
        codes.dedup();
        println!(
            "S1 async: {} sent at {RATE}/s, {} answered 202, {} refused (statuses {codes:?}); \
             failover {:.2} s after the kill, longest gap between 202s {:.2} s",
            sent.len(),
            accepted.len(),
            refused.len(),
            (recovered - killed_at).as_secs_f64(),
            longest_gap.as_secs_f64()
        );
        assert!(
            accepted.len() as u64 > total / 2,
            "most registrations are accepted"
        );

        // Every 202 becomes exactly one e-mail.
        let emails = |address: &str| {
            format!(
                "{}/emails?recipient={address}",
                stack.base(Service::Email, Mode::Async)
            )
        };
        let deadline = Duration::from_secs(120);
        for s in &accepted {
            eventually(deadline, "every accepted registration's e-mail", || async {
                (stack.get(&emails(&s.address)).await.body["count"] != 0).then_some(())
            })
            .await;
        }
        // Redeliveries after the failover come now if at all: none may add a second e-mail.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut twice = Vec::new();
        for s in &accepted {
            let count = stack.get(&emails(&s.address)).await.body["count"].clone();
            if count != 1 {
                twice.push(format!("{}: {count}", s.address));
            }
        }
        assert!(twice.is_empty(), "not exactly one e-mail: {twice:?}");
        println!(
            "every one of the {} accepted registrations has exactly one e-mail; test {:.0} s so far",
            accepted.len(),
            began.elapsed().as_secs_f64()
        );
    }
}
