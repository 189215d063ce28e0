//! The containers table: the project's containers as the app knows them, kept in display order
//! (sync, async, infra; services in catalogue order; a service's replicas right after its main
//! container), and which one is selected.
//!
//! The Docker worker builds [`ContainerInfo`] values from the engine's answers; this module only
//! keeps and orders them, so it is pure and tested without an engine.

use common::Mode;
use common::scenario::Service;

use crate::docker::{ContainerInfo, Group, RunState, Target, Usage};

/// The sort key: group, then catalogue order (infra: gateway, rabbitmq, postgres), then the
/// replica (the main container first), then name.
fn order(c: &ContainerInfo) -> (Group, usize, u32, &str) {
    (c.group, service_rank(&c.service), c.replica, &c.name)
}

/// Catalogue order for the services, then the infrastructure, then anything else.
fn service_rank(service: &str) -> usize {
    // The broker cluster's extra nodes sit beside the first.
    const INFRA: [&str; 4] = ["rabbitmq", "rabbitmq-2", "rabbitmq-3", "postgres"];
    if let Some(i) = Service::ALL.iter().position(|s| s.name() == service) {
        return i;
    }
    match INFRA.iter().position(|s| *s == service) {
        Some(i) => Service::ALL.len() + i,
        None => usize::MAX,
    }
}

/// The table: containers in display order plus the selection.
///
/// The selection is remembered by `(group, service, replica)`, not by index or id, so it stays
/// on "async/email" when the list changes or when compose recreates the container with a new
/// id.
#[derive(Debug, Clone, Default)]
pub struct ContainerTable {
    rows: Vec<ContainerInfo>,
    selected: Option<(Group, String, u32)>,
}

impl ContainerTable {
    pub fn rows(&self) -> &[ContainerInfo] {
        &self.rows
    }

    /// Replaces every row (after a reconnect); keeps the selection when that container is still
    /// there, otherwise selects the first.
    pub fn replace(&mut self, mut rows: Vec<ContainerInfo>) {
        rows.sort_by(|a, b| order(a).cmp(&order(b)));
        self.rows = rows;
        self.fix_selection();
    }

    /// Inserts or updates one container (matched by id, or by group, service and replica when
    /// compose recreated it). The last stats sample survives a state change; it is cleared when the
    /// container stops running, so a dead container never shows its last CPU figure.
    pub fn upsert(&mut self, mut info: ContainerInfo) {
        match self.position_of(&info) {
            Some(i) => {
                if info.usage.is_none() && info.state == RunState::Running {
                    info.usage = self.rows[i].usage;
                }
                self.rows[i] = info;
            }
            None => {
                self.rows.push(info);
                self.rows.sort_by(|a, b| order(a).cmp(&order(b)));
            }
        }
        self.fix_selection();
    }

    /// The row an [`upsert`](Self::upsert) of `info` replaces, if any: what it was before.
    pub fn find(&self, info: &ContainerInfo) -> Option<&ContainerInfo> {
        self.position_of(info).map(|i| &self.rows[i])
    }

    fn position_of(&self, info: &ContainerInfo) -> Option<usize> {
        self.rows.iter().position(|c| c.id == info.id).or_else(|| {
            self.rows.iter().position(|c| {
                c.group == info.group && c.service == info.service && c.replica == info.replica
            })
        })
    }

    /// The running replicas (beyond the main containers) of these services: where a knob
    /// must also go, by `docker exec`. One that is down gets it when it is back
    /// ([`KnobRecord`](super::reapply::KnobRecord)).
    pub fn replicas_of(&self, services: &[(Service, Mode)]) -> Vec<Target> {
        self.rows
            .iter()
            .filter(|c| c.is_replica() && c.state == RunState::Running)
            .filter(|c| {
                services
                    .iter()
                    .any(|(s, m)| s.name() == c.service && c.group.as_str() == m.as_str())
            })
            .map(|c| Target {
                id: c.id.clone(),
                label: c.label(),
            })
            .collect()
    }

    pub fn remove(&mut self, id: &str) {
        self.rows.retain(|c| c.id != id);
        self.fix_selection();
    }

    /// Records a stats sample; samples for a container that is not running (late ones from a
    /// stream that is closing) are ignored.
    pub fn set_usage(&mut self, id: &str, usage: Usage) {
        if let Some(c) = self.rows.iter_mut().find(|c| c.id == id)
            && matches!(c.state, RunState::Running | RunState::Paused)
        {
            c.usage = Some(usage);
        }
    }

    /// Forgets every stats sample: shown as "—" while the engine is unreachable.
    pub fn clear_usage(&mut self) {
        for c in &mut self.rows {
            c.usage = None;
        }
    }

    pub fn selected_index(&self) -> Option<usize> {
        let (group, service, replica) = self.selected.as_ref()?;
        self.rows
            .iter()
            .position(|c| c.group == *group && &c.service == service && c.replica == *replica)
    }

    pub fn selected(&self) -> Option<&ContainerInfo> {
        self.selected_index().map(|i| &self.rows[i])
    }

    /// Moves the selection by `delta` rows, stopping at the ends.
    pub fn move_selection(&mut self, delta: isize) {
        if self.rows.is_empty() {
            return;
        }
        let current = self.selected_index().unwrap_or(0) as isize;
        let last = self.rows.len() as isize - 1;
        self.select_index((current + delta).clamp(0, last) as usize);
    }

    pub fn select_index(&mut self, index: usize) {
        if let Some(c) = self.rows.get(index) {
            self.selected = Some((c.group, c.service.clone(), c.replica));
        }
    }

    /// Selects a service's main container by group and service; false when there is none.
    pub fn select(&mut self, group: Group, service: &str) -> bool {
        self.select_replica(group, service, 1)
    }

    /// Selects one replica of a service (1: its main container); false when there is none.
    pub fn select_replica(&mut self, group: Group, service: &str, replica: u32) -> bool {
        match self
            .rows
            .iter()
            .position(|c| c.group == group && c.service == service && c.replica == replica)
        {
            Some(i) => {
                self.select_index(i);
                true
            }
            None => false,
        }
    }

    /// Keeps the remembered selection while its container exists; selects the first row when
    /// nothing was selected yet. A vanished selection is kept too (it comes back with the
    /// container), but [`selected`](Self::selected) answers `None` meanwhile, except for a
    /// replica: scaled away, it does not come back, so its service's main container is
    /// selected instead.
    fn fix_selection(&mut self) {
        if let Some((group, service, replica)) = &mut self.selected
            && *replica > 1
            && !self
                .rows
                .iter()
                .any(|c| c.group == *group && c.service == *service && c.replica == *replica)
        {
            *replica = 1;
        }
        if self.selected.is_none() {
            self.select_index(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::container::info;

    #[test]
    fn rows_are_grouped_and_in_catalogue_order() {
        let mut t = ContainerTable::default();
        t.replace(vec![
            info(Group::Infra, "postgres", RunState::Running),
            info(Group::Async, "email", RunState::Running),
            info(Group::Sync, "email", RunState::Running),
            info(Group::Infra, "rabbitmq", RunState::Running),
            info(Group::Sync, "user", RunState::Running),
            info(Group::Infra, "gateway", RunState::Running),
        ]);
        let labels: Vec<String> = t.rows().iter().map(|c| c.label()).collect();
        assert_eq!(
            labels,
            [
                "sync/user",
                "sync/email",
                "async/email",
                "infra/gateway",
                "infra/rabbitmq",
                "infra/postgres"
            ]
        );
        assert_eq!(t.selected().map(|c| c.label()), Some("sync/user".into()));
    }

    #[test]
    fn selection_follows_the_service_across_a_recreate() {
        let mut t = ContainerTable::default();
        t.replace(vec![
            info(Group::Sync, "user", RunState::Running),
            info(Group::Async, "email", RunState::Running),
        ]);
        assert!(t.select(Group::Async, "email"));
        let mut recreated = info(Group::Async, "email", RunState::Running);
        recreated.id = "new-id".into();
        t.upsert(recreated);
        assert_eq!(t.rows().len(), 2);
        assert_eq!(t.selected().map(|c| c.id.as_str()), Some("new-id"));
    }

    #[test]
    fn usage_is_dropped_when_a_container_stops() {
        let mut t = ContainerTable::default();
        t.replace(vec![info(Group::Async, "email", RunState::Running)]);
        let usage = Usage {
            cpu_percent: 3.0,
            mem_bytes: 1 << 20,
        };
        t.set_usage("async-email", usage);
        t.upsert(info(Group::Async, "email", RunState::Running));
        assert_eq!(
            t.rows()[0].usage,
            Some(usage),
            "kept across a health change"
        );
        t.upsert(info(Group::Async, "email", RunState::Exited(137)));
        assert_eq!(t.rows()[0].usage, None);
        t.set_usage("async-email", usage);
        assert_eq!(t.rows()[0].usage, None, "late sample of a dead container");
    }

    fn replica(service: &str, n: u32) -> ContainerInfo {
        let mut c = info(Group::Async, service, RunState::Running);
        c.replica = n;
        c.id = format!("async-{service}-{n}");
        c.name = format!("ms-tui-{service}-async-replica-{}", n - 1);
        c
    }

    #[test]
    fn replicas_follow_their_service_and_are_selected_on_their_own() {
        let mut t = ContainerTable::default();
        t.replace(vec![
            info(Group::Async, "search", RunState::Running),
            replica("email", 3),
            info(Group::Async, "email", RunState::Running),
            replica("email", 2),
        ]);
        let labels: Vec<String> = t.rows().iter().map(|c| c.label()).collect();
        assert_eq!(
            labels,
            [
                "async/email",
                "async/email#2",
                "async/email#3",
                "async/search"
            ]
        );
        assert!(t.select_replica(Group::Async, "email", 2));
        t.upsert(replica("email", 2));
        assert_eq!(t.selected().map(|c| c.id.as_str()), Some("async-email-2"));
        assert_eq!(t.rows().len(), 4, "a replica's update is not its main's");
        t.remove("async-email-2");
        assert_eq!(
            t.selected().map(|c| c.label()),
            Some("async/email".into()),
            "scaled away: back on the main container"
        );
    }

    #[test]
    fn moving_stops_at_the_ends() {
        let mut t = ContainerTable::default();
        t.replace(vec![
            info(Group::Sync, "user", RunState::Running),
            info(Group::Sync, "payment", RunState::Running),
        ]);
        t.move_selection(-1);
        assert_eq!(t.selected_index(), Some(0));
        t.move_selection(5);
        assert_eq!(t.selected_index(), Some(1));
    }
}
