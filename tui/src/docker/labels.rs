//! The labels that make a container part of the stack, and the one check every action passes.
//!
//! The compose file puts `ms-tui.project=ms-tui`, `ms-tui.service=<name>` and
//! `ms-tui.mode=sync|async|infra` on every container (compose adds its own
//! `com.docker.compose.*`), and `ms-tui.replica=true` on the scaled-out consumers of an async
//! service (`ms-tui scale`), which share their service's other labels. The list, the events stream and — again, right before acting —
//! every lifecycle action require the project label, so nothing else on the host is ever
//! shown or touched.
//!
//! The project's value is a parameter ([`Project`]) rather than a constant so the engine tests
//! can run the worker on a project of their own, next to the real stack, and prove that the
//! real stack's containers are then refused like any stranger's.

use std::collections::HashMap;

use super::container::Group;

/// The stack's project: compose's project name (`-p`) and the value of our project label.
pub const PROJECT: &str = "ms-tui";

pub const PROJECT_KEY: &str = "ms-tui.project";
pub const SERVICE_KEY: &str = "ms-tui.service";
pub const MODE_KEY: &str = "ms-tui.mode";
/// Compose's own project label: `ms-tui status` asks for it too, so only what compose created
/// for the stack is listed.
pub const COMPOSE_PROJECT_KEY: &str = "com.docker.compose.project";
/// Compose's service name (`payment-sync`); the fallback when our own label is missing.
pub const COMPOSE_SERVICE_KEY: &str = "com.docker.compose.service";
/// `true` on a replica: an extra consumer of an async service, without a published port.
pub const REPLICA_KEY: &str = "ms-tui.replica";
/// Compose's number of the container within its service (1, 2, … as `--scale` made them).
pub const COMPOSE_NUMBER_KEY: &str = "com.docker.compose.container-number";

/// The project whose containers the worker shows and acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project(String);

impl Project {
    pub fn new(name: impl Into<String>) -> Project {
        Project(name.into())
    }

    pub fn name(&self) -> &str {
        &self.0
    }

    /// The engine's label filter (`ms-tui.project=<name>`), for lists and events.
    pub fn filter(&self) -> String {
        format!("{PROJECT_KEY}={}", self.0)
    }

    /// Compose's label filter (`com.docker.compose.project=<name>`): what compose created as
    /// this project, volumes included.
    pub fn compose_filter(&self) -> String {
        format!("{COMPOSE_PROJECT_KEY}={}", self.0)
    }

    /// The one ownership test: the project label with this project's value.
    pub fn owns(&self, labels: Option<&HashMap<String, String>>) -> bool {
        labels
            .and_then(|l| l.get(PROJECT_KEY))
            .is_some_and(|v| *v == self.0)
    }
}

impl Default for Project {
    /// The stack's own project.
    fn default() -> Project {
        Project::new(PROJECT)
    }
}

/// Group and service name from the labels (falling back to the compose service and then the
/// container name). A `-sync`/`-async` suffix on the service is dropped: the group says it.
pub fn identify(labels: Option<&HashMap<String, String>>, name: &str) -> (Group, String) {
    let get = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    let group = Group::from_label(get(MODE_KEY));
    let raw = get(SERVICE_KEY)
        .or_else(|| get(COMPOSE_SERVICE_KEY))
        .unwrap_or(name);
    let service = raw
        .strip_suffix("-async")
        .or_else(|| raw.strip_suffix("-sync"))
        .unwrap_or(raw);
    (group, service.to_string())
}

/// The replica number: 1 for a service's main container (the one with the published port),
/// 2, 3, … for its replicas — compose numbers the containers of the replica service from 1,
/// so replica `n` is compose's container `n - 1`.
///
/// A swarm task container is its task's slot: slot 1 is the one the edge's port may reach
/// first, and `]` adds slots 2, 3, … as compose's replicas would be numbered.
pub fn replica(labels: Option<&HashMap<String, String>>) -> u32 {
    if let Some(slot) = super::swarm::slot(labels) {
        return slot.max(1);
    }
    let get = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    if get(REPLICA_KEY) != Some("true") {
        return 1;
    }
    let number: u32 = get(COMPOSE_NUMBER_KEY)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    number.saturating_add(1).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn only_the_project_label_with_our_value_counts() {
        let ours = Project::default();
        assert!(ours.owns(Some(&labels(&[(PROJECT_KEY, PROJECT)]))));
        assert!(!ours.owns(Some(&labels(&[(PROJECT_KEY, "other")]))));
        assert!(!ours.owns(Some(&labels(&[("com.docker.compose.project", "ms-tui")]))));
        assert!(!ours.owns(None));
        assert!(!Project::new("test").owns(Some(&labels(&[(PROJECT_KEY, PROJECT)]))));
        assert_eq!(ours.filter(), "ms-tui.project=ms-tui");
    }

    #[test]
    fn identity_comes_from_labels_with_fallbacks() {
        let l = labels(&[(SERVICE_KEY, "email"), (MODE_KEY, "async")]);
        assert_eq!(identify(Some(&l), "x"), (Group::Async, "email".into()));
        let l = labels(&[(COMPOSE_SERVICE_KEY, "email-sync"), (MODE_KEY, "sync")]);
        assert_eq!(identify(Some(&l), "x"), (Group::Sync, "email".into()));
        assert_eq!(
            identify(None, "postgres"),
            (Group::Infra, "postgres".into())
        );
    }

    #[test]
    fn a_replica_is_numbered_after_its_main_container() {
        let main = labels(&[(SERVICE_KEY, "email"), (COMPOSE_NUMBER_KEY, "1")]);
        assert_eq!(replica(Some(&main)), 1);
        assert_eq!(replica(None), 1);
        let first = labels(&[(REPLICA_KEY, "true"), (COMPOSE_NUMBER_KEY, "1")]);
        assert_eq!(replica(Some(&first)), 2);
        let third = labels(&[(REPLICA_KEY, "true"), (COMPOSE_NUMBER_KEY, "3")]);
        assert_eq!(replica(Some(&third)), 4);
        // A replica whose number is unreadable is still never taken for the main container.
        let odd = labels(&[(REPLICA_KEY, "true"), (COMPOSE_NUMBER_KEY, "x")]);
        assert_eq!(replica(Some(&odd)), 2);
        let not = labels(&[(REPLICA_KEY, "false"), (COMPOSE_NUMBER_KEY, "3")]);
        assert_eq!(replica(Some(&not)), 1);
        let task = labels(&[(
            super::super::swarm::TASK_NAME_KEY,
            "ms-tui_email-async.3.abc",
        )]);
        assert_eq!(replica(Some(&task)), 3);
    }
}
