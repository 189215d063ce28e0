//! How `up` brings the containers to health: the start order (broker and database first,
//! then the services a few at a time), the health watch with its one deadline, and what a
//! failure says (a refused login of another stack's volumes, a dependency not healthy yet).

use super::*;

/// The groups `up` starts one after another: the broker and the database first, then the
/// other services `batch` at a time in the compose file's order (0: all of them at once).
/// On a 2-core host twenty services booting together beside their own healthcheck execs
/// starved each other past every timeout; a few at a time boot in a steady stream.
pub(super) fn start_order(services: &[String], batch: usize) -> Vec<Vec<String>> {
    let (infra, rest): (Vec<String>, Vec<String>) = services
        .iter()
        .cloned()
        .partition(|s| INFRA_FIRST.contains(&s.as_str()));
    let mut groups = Vec::new();
    if !infra.is_empty() {
        groups.push(infra);
    }
    if !rest.is_empty() {
        let size = if batch == 0 { rest.len() } else { batch };
        groups.extend(rest.chunks(size).map(<[String]>::to_vec));
    }
    groups
}

/// What every other service waits for; the broker cluster's nodes too, because a quorum
/// queue's members are the nodes present when a service declares it.
const INFRA_FIRST: [&str; 4] = ["rabbitmq", "rabbitmq-2", "rabbitmq-3", "postgres"];

/// The health watch shared by every group of one `up`: one deadline, one progress line.
pub(super) struct Watch<'a> {
    pub(super) docker: &'a bollard::Docker,
    pub(super) total: usize,
    pub(super) deadline: Instant,
    pub(super) timeout: u64,
    pub(super) last: Option<Progress>,
}

/// `compose up -d` for `group`, watched until each of its containers is running and healthy;
/// returns every container of the project as last seen.
pub(super) async fn start_group(
    compose: &Compose,
    layout: &Layout,
    group: &[String],
    watch: &mut Watch<'_>,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<Vec<ContainerStatus>> {
    let mut args = vec!["up", "-d", "--remove-orphans"];
    args.extend(group.iter().map(String::as_str));
    // compose runs while the health is watched: v1 and v2 both block until the dependencies
    // of each service are healthy, so the n/total count is the only sign of life meanwhile.
    let (lines_tx, mut lines) = mpsc::unbounded_channel();
    let compose_up = compose.run(layout, &args, &[], &lines_tx);
    tokio::pin!(compose_up);
    let mut compose_done = false;
    let mut poll = tokio::time::interval(POLL);
    loop {
        tokio::select! {
            result = &mut compose_up, if !compose_done => {
                while let Ok(line) = lines.try_recv() {
                    progress(Progress::Output(line));
                }
                match result {
                    Ok(()) => compose_done = true,
                    // compose gives up on a dependency that is not healthy *yet* (on a
                    // starved host a probe can time out while the server is fine); `up` is
                    // idempotent, so ask again until our own deadline.
                    Err(e) if is_dependency_not_healthy(&e) && Instant::now() < watch.deadline => {
                        progress(Progress::Step(format!(
                            "compose stopped at a dependency that was not healthy yet; running it again ({:.0} s left)",
                            watch.deadline.saturating_duration_since(Instant::now()).as_secs_f64()
                        )));
                        tokio::time::sleep(POLL).await;
                        compose_up.set(compose.run(layout, &args, &[], &lines_tx));
                    }
                    Err(e) => return Err(e),
                }
            }
            Some(line) = lines.recv() => progress(Progress::Output(line)),
            _ = poll.tick() => {
                let list = list_retrying(watch.docker, watch.deadline).await?;
                let health = health_report(&list, watch.total);
                if watch.last.as_ref() != Some(&health) {
                    progress(health.clone());
                    watch.last = Some(health);
                }
                if compose_done {
                    // The group's own: a replica someone killed is `ms-tui scale`'s to mend.
                    let exited = |c: &&ContainerStatus| {
                        group.contains(&c.compose_service) && (c.state == "exited" || c.state == "dead")
                    };
                    if let Some(failed) = list.iter().find(exited) {
                        let tail = containers::log_tail(watch.docker, failed, 20).await.unwrap_or_default();
                        bail!(
                            "{} stopped (exit code {}) while the stack came up; its last lines:\n{}",
                            failed.compose_service,
                            failed.exit_code.unwrap_or_default(),
                            tail.join("\n")
                        );
                    }
                    if let Some(refused) = refused_login(watch.docker, &list, group).await {
                        bail!("{refused}");
                    }
                    let ready = |name: &String| {
                        list.iter().any(|c| &c.compose_service == name && c.is_ready())
                    };
                    if group.iter().all(ready) {
                        return Ok(list);
                    }
                }
                if Instant::now() > watch.deadline {
                    bail!("{}", not_healthy_message(&list, watch.timeout));
                }
            }
        }
    }
}

/// A service of `group`, not ready, that Docker restarted and whose last lines say PostgreSQL or RabbitMQ
/// refused its login: the data volumes were initialised with other credentials (another
/// checkout's compose/.env, or an .env rewritten by hand), and only deleting them or putting
/// that .env back helps. Without this, `up` waited out its whole timeout on a restart loop.
pub(super) async fn refused_login(
    docker: &bollard::Docker,
    list: &[ContainerStatus],
    group: &[String],
) -> Option<String> {
    for c in list.iter().filter(|c| {
        group.contains(&c.compose_service)
            && !c.is_ready()
            && (c.restart_count > 0 || c.state == "restarting")
    }) {
        let tail = containers::log_tail(docker, c, 40)
            .await
            .unwrap_or_default();
        if let Some(line) = tail.iter().find(|l| is_refused_login(l)) {
            return Some(format!(
                "{} cannot log in with the credentials in compose/.env:\n  {}\nThe volumes \
                 {PROJECT}_postgres-data and {PROJECT}_rabbitmq-data keep the passwords of the \
                 stack that created them. Put that stack's compose/.env back, or delete them with \
                 `ms-tui down --volumes` (their queues and databases go too).",
                c.compose_service,
                line.trim()
            ));
        }
    }
    None
}

pub(super) fn is_refused_login(line: &str) -> bool {
    line.contains("password authentication failed") || line.contains("ACCESS_REFUSED")
}

/// The project's containers; a Docker API call that fails (a busy dockerd times out while
/// twenty containers start) is asked again until the deadline rather than ending `up`.
pub(super) async fn list_retrying(
    docker: &bollard::Docker,
    deadline: Instant,
) -> anyhow::Result<Vec<ContainerStatus>> {
    loop {
        match containers::list(docker).await {
            Ok(list) => return Ok(list),
            Err(e) if Instant::now() < deadline => {
                tracing::warn!("listing the containers failed, trying again: {e:#}");
                tokio::time::sleep(POLL).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// compose v1 says `Container "…" is unhealthy.`, v2 `dependency failed to start: container
/// … is unhealthy`.
pub(super) fn is_dependency_not_healthy(error: &anyhow::Error) -> bool {
    format!("{error:#}").contains("is unhealthy")
}

pub(super) fn health_report(list: &[ContainerStatus], total: usize) -> Progress {
    let waiting = list
        .iter()
        .filter(|c| !c.is_ready())
        .map(|c| {
            let state = if c.state == "running" {
                c.health.to_string()
            } else {
                c.state.clone()
            };
            format!("{} ({state})", c.display_name())
        })
        .collect();
    Progress::Health {
        ready: list.iter().filter(|c| c.is_ready()).count(),
        total: total.max(list.len()),
        waiting,
    }
}

pub(super) fn not_healthy_message(list: &[ContainerStatus], timeout: u64) -> String {
    let mut message = format!("the stack was not healthy after {timeout} s:");
    for c in list.iter().filter(|c| !c.is_ready()) {
        message.push_str(&format!(
            "\n  {} {} {}: {}",
            c.display_name(),
            c.state,
            c.health,
            c.last_probe.as_deref().unwrap_or("no probe output")
        ));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_broker_and_the_database_start_first_then_the_services_in_groups() {
        let services = names(&["rabbitmq", "postgres", "a", "b", "c", "d", "e", "gateway"]);
        assert_eq!(
            start_order(&services, 3),
            vec![
                names(&["rabbitmq", "postgres"]),
                names(&["a", "b", "c"]),
                names(&["d", "e", "gateway"]),
            ]
        );
        assert_eq!(
            start_order(&services, 0),
            vec![
                names(&["rabbitmq", "postgres"]),
                names(&["a", "b", "c", "d", "e", "gateway"]),
            ]
        );
        assert_eq!(start_order(&names(&["a"]), 5), vec![names(&["a"])]);
        assert!(start_order(&[], 5).is_empty());
    }

    #[test]
    fn refused_logins_of_postgres_and_rabbitmq_are_recognised() {
        assert!(is_refused_login(
            "ms-service user: connecting to PostgreSQL: database unreachable for 60 s: error \
             returned from database: password authentication failed for user \"ms\""
        ));
        assert!(is_refused_login(
            "AMQP soft error: ACCESS-REFUSED: ACCESS_REFUSED - Login was refused using \
             authentication mechanism PLAIN."
        ));
        assert!(!is_refused_login(
            "database not ready; retrying: connection refused"
        ));
    }

    #[test]
    fn a_dependency_not_healthy_yet_is_told_apart_from_other_compose_failures() {
        let v1 = anyhow::anyhow!(
            "`docker-compose up -d` failed (exit status: 1):\n\nERROR: for payment-async  \
             Container \"36599de2e2ea\" is unhealthy.\nEncountered errors while bringing up the project."
        );
        let v2 =
            anyhow::anyhow!("dependency failed to start: container ms-tui-rabbitmq-1 is unhealthy");
        let config = anyhow::anyhow!("ERROR: Invalid interpolation format for \"environment\"");
        assert!(is_dependency_not_healthy(&v1));
        assert!(is_dependency_not_healthy(&v2.context("compose up")));
        assert!(!is_dependency_not_healthy(&config));
    }
}
