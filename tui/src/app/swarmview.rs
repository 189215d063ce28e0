//! The stack as the swarm sees it: desired against running tasks per service, for the
//! containers pane's title, and the self-healing lesson — a service that fell below its
//! desired tasks (a killed task) and came back without anyone asking.

use std::collections::HashMap;
use std::time::SystemTime;

use super::events::EventKind;
use super::state::{Notice, State};
use crate::docker::swarm::SwarmService;

/// What the lesson says once a service is whole again.
pub const LESSON: &str = "self-healing: the swarm keeps each service at its desired tasks, so a \
                          killed task is replaced by a new container while the others serve";

/// The swarm services as last reported, and since when each has been short of tasks.
#[derive(Debug, Clone, Default)]
pub struct SwarmView {
    services: Vec<SwarmService>,
    short_since: HashMap<String, (SystemTime, u64)>,
}

impl SwarmView {
    /// True when the stack runs on a swarm.
    pub fn active(&self) -> bool {
        !self.services.is_empty()
    }

    /// `(running, desired)` tasks over all services.
    pub fn tasks(&self) -> (u64, u64) {
        self.services.iter().fold((0, 0), |(r, d), s| {
            (r + s.running.min(s.desired), d + s.desired)
        })
    }

    /// The services short of tasks, as `email-async 2/3`.
    pub fn short(&self) -> Vec<String> {
        self.services
            .iter()
            .filter(|s| !s.converged())
            .map(|s| format!("{} {}/{}", s.name, s.running, s.desired))
            .collect()
    }
}

/// The worker's new counts: a service that falls short is marked on the timeline; one that
/// is whole again says how long the swarm took, with the lesson.
pub fn on_msg(state: &mut State, services: Vec<SwarmService>) {
    let now = state.now;
    let mut marks = Vec::new();
    let mut healed = None;
    {
        let view = &mut state.swarm;
        for service in &services {
            // A new desired count is a scale, the user's doing: no heal to time.
            let scaled = view
                .services
                .iter()
                .any(|before| before.name == service.name && before.desired != service.desired);
            if scaled {
                view.short_since.remove(&service.name);
                continue;
            }
            let was_short = view.short_since.contains_key(&service.name);
            if !service.converged() && !was_short {
                view.short_since
                    .insert(service.name.clone(), (now, service.desired));
                marks.push(format!(
                    "swarm: {} {}/{} tasks",
                    service.name, service.running, service.desired
                ));
            } else if service.converged()
                && let Some((since, desired)) = view.short_since.remove(&service.name)
            {
                let took = now.duration_since(since).unwrap_or_default();
                if desired == service.desired {
                    marks.push(format!(
                        "swarm: {} back to {}/{} in {:.1} s",
                        service.name,
                        service.running,
                        service.desired,
                        took.as_secs_f64()
                    ));
                    healed = Some((service.name.clone(), took));
                }
            }
        }
        view.short_since
            .retain(|name, _| services.iter().any(|s| &s.name == name));
        view.services = services;
    }
    for mark in marks {
        state.record(EventKind::Container, mark);
    }
    if let Some((name, took)) = healed {
        state.notice = Some(Notice::info(format!(
            "{name} is whole again after {:.1} s — {LESSON}",
            took.as_secs_f64()
        )));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn service(name: &str, running: u64, desired: u64) -> SwarmService {
        SwarmService {
            name: name.into(),
            desired,
            running,
        }
    }

    #[test]
    fn a_killed_task_and_its_replacement_make_the_lesson() {
        let mut state = State::new(false);
        state.now = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        on_msg(&mut state, vec![service("email-async", 1, 1)]);
        assert!(state.swarm.active());
        assert_eq!(state.swarm.tasks(), (1, 1));
        assert!(state.notice.is_none());

        state.now += Duration::from_secs(1);
        on_msg(&mut state, vec![service("email-async", 0, 1)]);
        assert_eq!(state.swarm.short(), ["email-async 0/1"]);

        state.now += Duration::from_millis(3400);
        on_msg(&mut state, vec![service("email-async", 1, 1)]);
        let notice = state.notice.as_ref().expect("the lesson");
        assert!(
            notice.text.contains("whole again after 3.4 s"),
            "{notice:?}"
        );
        assert!(notice.text.contains("self-healing"), "{notice:?}");
        let marks: Vec<&str> = state.events.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(
            marks,
            [
                "swarm: email-async 0/1 tasks",
                "swarm: email-async back to 1/1 in 3.4 s"
            ]
        );
    }

    #[test]
    fn a_scale_up_is_not_taken_for_a_heal() {
        let mut state = State::new(false);
        on_msg(&mut state, vec![service("email-async", 1, 1)]);
        on_msg(&mut state, vec![service("email-async", 1, 3)]);
        on_msg(&mut state, vec![service("email-async", 3, 3)]);
        assert!(state.notice.is_none());
        assert_eq!(state.swarm.tasks(), (3, 3));
    }

    #[test]
    fn no_services_is_the_compose_stack() {
        let mut state = State::new(false);
        on_msg(&mut state, Vec::new());
        assert!(!state.swarm.active());
        assert!(state.swarm.short().is_empty());
    }
}
