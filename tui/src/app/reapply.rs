//! Knobs that survive restarts. A knob lives in a service's memory, so a container that is
//! killed and started, restarted, or brought back by Docker's restart policy comes back with
//! its defaults, and so does a replica `]` just added. [`KnobRecord`] keeps what this control
//! room set on each service and mode (only what differs from the default), watches the
//! container state the Docker worker reports, and once a container that lost its memory (or
//! never had it) is ready, answers with the change that puts those knobs back (sent by the
//! admin worker, which logs it): over the published port for a service's main container,
//! through `docker exec` for a replica.
//!
//! Pure: the rules are tested with [`ContainerInfo`] values, without an engine.

use std::collections::{BTreeMap, HashMap};

use common::Mode;
use common::scenario::Service;
use serde_json::Value;

use crate::admin::{self, KnobChange};
use crate::docker::{ContainerInfo, Group, Health, RunState, Target};

/// What this control room set, and which containers wait to be given it back.
#[derive(Debug, Clone, Default)]
pub struct KnobRecord {
    /// Per service and mode: field → value, for the fields not at their default.
    set: HashMap<(Service, Mode), BTreeMap<String, Value>>,
    /// Labels of the containers seen losing their memory, until they are ready again, with
    /// what happened to them (`started`: new to the table; `restarted`).
    pending: BTreeMap<String, &'static str>,
}

impl KnobRecord {
    /// Records a change the keys sent. A field put back to its default is forgotten: a
    /// restart brings the default back by itself.
    pub fn note(&mut self, change: &KnobChange) {
        let Some(fields) = change.patch.as_object() else {
            return;
        };
        for target in &change.services {
            let knobs = self.set.entry(*target).or_default();
            for (field, value) in fields {
                if admin::default_of(field).as_ref() == Some(value) {
                    knobs.remove(field);
                } else {
                    knobs.insert(field.clone(), value.clone());
                }
            }
        }
        self.set.retain(|_, knobs| !knobs.is_empty());
    }

    /// The knobs set on one service and mode (empty when none).
    pub fn of(&self, service: Service, mode: Mode) -> Option<&BTreeMap<String, Value>> {
        self.set.get(&(service, mode))
    }

    /// One container's new state (`before` is the row the table had for it; `None` for a
    /// container new to the table). Returns the re-apply once a container that lost its
    /// memory is ready, if anything was set on its service.
    pub fn on_container(
        &mut self,
        before: Option<&ContainerInfo>,
        now: &ContainerInfo,
    ) -> Option<KnobChange> {
        let (service, mode) = admin_target(now)?;
        let key = now.label();
        if before.is_none_or(|b| lost_memory(b, now)) {
            let happened = if before.is_some() {
                "restarted"
            } else {
                "started"
            };
            self.pending.entry(key.clone()).or_insert(happened);
        }
        // Before it is ready its admin API may not listen yet: the change would be refused.
        if !ready(now) {
            return None;
        }
        let happened = self.pending.remove(&key)?;
        let knobs = self.of(service, mode)?;
        let words: Vec<String> = knobs.iter().map(|(f, v)| format!("{f}={v}")).collect();
        let patch = Value::Object(knobs.clone().into_iter().collect());
        // A replica has no published port: the exec path reaches it.
        let (who, services, replicas) = if now.is_replica() {
            let target = Target {
                id: now.id.clone(),
                label: key,
            };
            (
                format!("{service}-{mode}#{}", now.replica),
                Vec::new(),
                vec![target],
            )
        } else {
            (
                format!("{service}-{mode}"),
                vec![(service, mode)],
                Vec::new(),
            )
        };
        Some(KnobChange {
            label: format!("{who} {happened}: re-applied {}", words.join(", ")),
            patch,
            services,
            replicas,
            queues: &[],
            reapply: true,
        })
    }
}

/// The service and mode behind a container with an admin API (not the gateway, not infra).
fn admin_target(c: &ContainerInfo) -> Option<(Service, Mode)> {
    let mode = match c.group {
        Group::Sync => Mode::Sync,
        Group::Async => Mode::Async,
        Group::Infra => return None,
    };
    let service = Service::ALL
        .into_iter()
        .find(|s| s.name() == c.service && *s != Service::Gateway)?;
    Some((service, mode))
}

/// Whether the process behind the container may have started afresh since `before`: a new
/// container (compose recreated it), a restart by the engine, a state other than running or
/// paused (it died, stopped or is restarting), or the health check back at "starting" (a
/// `docker restart` can be over before the worker's inspect sees it down).
fn lost_memory(before: &ContainerInfo, now: &ContainerInfo) -> bool {
    now.id != before.id
        || now.restarts > before.restarts
        || !matches!(now.state, RunState::Running | RunState::Paused)
        || (now.health == Health::Starting && before.health != Health::Starting)
}

/// Running and past its health check (or without one): its admin API answers.
fn ready(c: &ContainerInfo) -> bool {
    c.state == RunState::Running && matches!(c.health, Health::Healthy | Health::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{Knob, Knobs};
    use crate::docker::container::info;
    use common::scenario::ScenarioId;
    use serde_json::json;

    fn email(state: RunState, health: Health) -> ContainerInfo {
        let mut c = info(Group::Async, "email", state);
        c.health = health;
        c
    }

    #[test]
    fn the_record_keeps_what_differs_from_the_default() {
        let (mut knobs, mut record) = (Knobs::default(), KnobRecord::default());
        record.note(&knobs.cycle(Knob::Concurrency, ScenarioId::S1));
        record.note(&knobs.cycle(Knob::EmailDelay, ScenarioId::S1));
        let set = record.of(Service::Email, Mode::Async).cloned();
        assert_eq!(
            set.map(|k| k.into_iter().collect::<Vec<_>>()),
            Some(vec![
                ("consumer_concurrency".to_string(), json!(128)),
                ("email_delay_ms".to_string(), json!(100)),
            ])
        );
        assert_eq!(
            record.of(Service::Email, Mode::Sync).map(|k| k.len()),
            Some(1),
            "the delay goes to both modes, the concurrency to async only"
        );
        // 128 → 1 → 16: back to the default, nothing left to re-apply.
        record.note(&knobs.cycle(Knob::Concurrency, ScenarioId::S1));
        record.note(&knobs.cycle(Knob::Concurrency, ScenarioId::S1));
        let left = record.of(Service::Email, Mode::Async);
        assert_eq!(left.map(|k| k.len()), Some(1));
        assert!(left.is_some_and(|k| k.contains_key("email_delay_ms")));
    }

    #[test]
    fn a_kill_and_start_reapplies_once_ready_with_exactly_the_knobs_set() {
        let (mut knobs, mut record) = (Knobs::default(), KnobRecord::default());
        record.note(&knobs.cycle(Knob::Concurrency, ScenarioId::S1));
        record.note(&knobs.cycle(Knob::EmailDelay, ScenarioId::S1));
        let up = email(RunState::Running, Health::Healthy);
        let dead = email(RunState::Exited(137), Health::Unhealthy);
        let starting = email(RunState::Running, Health::Starting);
        assert_eq!(record.on_container(Some(&up), &dead), None);
        assert_eq!(
            record.on_container(Some(&dead), &starting),
            None,
            "not before its health check passes"
        );
        let change = record.on_container(Some(&starting), &up);
        assert_eq!(
            change,
            Some(KnobChange {
                label: "email-async restarted: re-applied consumer_concurrency=128, \
                        email_delay_ms=100"
                    .into(),
                patch: json!({"consumer_concurrency": 128, "email_delay_ms": 100}),
                services: vec![(Service::Email, Mode::Async)],
                replicas: Vec::new(),
                queues: &[],
                reapply: true,
            })
        );
        assert_eq!(record.on_container(Some(&up), &up), None, "once");
    }

    #[test]
    fn a_quick_restart_a_recreate_and_an_engine_restart_count_too() {
        let (mut knobs, mut record) = (Knobs::default(), KnobRecord::default());
        record.note(&knobs.cycle(Knob::Concurrency, ScenarioId::S1));
        let up = email(RunState::Running, Health::Healthy);
        let starting = email(RunState::Running, Health::Starting);
        record.on_container(Some(&up), &starting);
        assert!(record.on_container(Some(&starting), &up).is_some());

        let mut recreated = up.clone();
        recreated.id = "new-id".into();
        assert!(record.on_container(Some(&up), &recreated).is_some());

        let mut restarted = up.clone();
        restarted.restarts = 1;
        assert!(record.on_container(Some(&up), &restarted).is_some());
    }

    #[test]
    fn pause_health_flaps_and_untouched_services_reapply_nothing() {
        let (mut knobs, mut record) = (Knobs::default(), KnobRecord::default());
        record.note(&knobs.cycle(Knob::Concurrency, ScenarioId::S1));
        let up = email(RunState::Running, Health::Healthy);
        let paused = email(RunState::Paused, Health::Healthy);
        let unhealthy = email(RunState::Running, Health::Unhealthy);
        assert_eq!(record.on_container(Some(&up), &paused), None);
        assert_eq!(record.on_container(Some(&paused), &up), None, "memory kept");
        assert_eq!(record.on_container(Some(&up), &unhealthy), None);
        assert_eq!(record.on_container(Some(&unhealthy), &up), None);

        let user = info(Group::Async, "user", RunState::Running);
        let dead = info(Group::Async, "user", RunState::Exited(137));
        record.on_container(Some(&user), &dead);
        assert_eq!(record.on_container(Some(&dead), &user), None, "nothing set");
        let broker = info(Group::Infra, "rabbitmq", RunState::Running);
        assert_eq!(record.on_container(None, &broker), None);
    }

    #[test]
    fn a_new_replica_gets_its_services_knobs_through_docker_exec() {
        let (mut knobs, mut record) = (Knobs::default(), KnobRecord::default());
        record.note(&knobs.cycle(Knob::Concurrency, ScenarioId::S1));
        let mut replica = email(RunState::Running, Health::Starting);
        replica.replica = 2;
        replica.id = "async-email-2".into();
        assert_eq!(record.on_container(None, &replica), None);
        let mut ready = replica.clone();
        ready.health = Health::Healthy;
        let change = record.on_container(Some(&replica), &ready);
        assert_eq!(
            change,
            Some(KnobChange {
                label: "email-async#2 started: re-applied consumer_concurrency=128".into(),
                patch: json!({"consumer_concurrency": 128}),
                services: Vec::new(),
                replicas: vec![Target {
                    id: "async-email-2".into(),
                    label: "async/email#2".into()
                }],
                queues: &[],
                reapply: true,
            })
        );
    }

    #[test]
    fn a_knob_set_while_the_service_was_down_is_given_when_it_comes_back() {
        let (mut knobs, mut record) = (Knobs::default(), KnobRecord::default());
        let up = email(RunState::Running, Health::Healthy);
        let dead = email(RunState::Exited(137), Health::Unhealthy);
        record.on_container(Some(&up), &dead);
        record.note(&knobs.cycle(Knob::Concurrency, ScenarioId::S8));
        let change = record.on_container(Some(&dead), &up);
        assert_eq!(
            change.map(|c| c.patch),
            Some(json!({"consumer_concurrency": 128}))
        );
    }
}
