//! The timeline's events: every action that may explain what the figures do next — a fault
//! made or ended, a container killed or paused, a knob turned, load started, stopped or
//! re-rated — each with its time and a short label. The timeline draws them as markers, the
//! logs pane as separator lines, the queue pane on its depth history.
//!
//! Bounded: the oldest event goes first, so a long session costs a fixed amount of memory.

use std::collections::VecDeque;
use std::time::SystemTime;

use crate::faults::{ActiveFault, FaultKind, FaultTarget};

/// Events kept: far more than a chart's few minutes ever show.
pub const EVENT_CAPACITY: usize = 256;

/// What kind of event, for its colour and symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    FaultStart,
    FaultEnd,
    /// Making or reverting a fault failed.
    FaultFailed,
    /// Kill, stop, start, pause, unpause, restart of a container.
    Container,
    Knob,
    /// Load started, stopped or re-rated.
    Load,
}

impl EventKind {
    /// One character in front of the label: `▲` a fault begins, `▼` it ends.
    pub fn symbol(self) -> char {
        match self {
            EventKind::FaultStart => '▲',
            EventKind::FaultEnd => '▼',
            EventKind::FaultFailed => '✗',
            EventKind::Container => '■',
            EventKind::Knob => '◆',
            EventKind::Load => '●',
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: SystemTime,
    pub kind: EventKind,
    /// `latency +1000 ms sync/search`, `kill async/email`, `rate 200/s`.
    pub label: String,
}

#[derive(Debug, Clone, Default)]
pub struct Events {
    ring: VecDeque<Event>,
}

impl Events {
    pub fn push(&mut self, at: SystemTime, kind: EventKind, label: impl Into<String>) {
        if self.ring.len() == EVENT_CAPACITY {
            self.ring.pop_front();
        }
        self.ring.push_back(Event {
            at,
            kind,
            label: label.into(),
        });
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Event> {
        self.ring.iter()
    }

    /// The events at or after `since`, oldest first.
    pub fn since(&self, since: SystemTime) -> impl Iterator<Item = &Event> {
        self.ring.iter().filter(move |e| e.at >= since)
    }

    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    pub fn last(&self) -> Option<&Event> {
        self.ring.back()
    }
}

/// `latency +1000 ms sync/search`, `errors 50 % → 503 async/order`, `partition async/email`.
pub fn fault_label(kind: &FaultKind, target: &FaultTarget) -> String {
    let dose = kind.dose();
    // A platform fault's dose is its word, and a slow consumer's says `consumer`: once is enough.
    if dose == kind.word() || matches!(kind, FaultKind::SlowConsumer { .. }) {
        format!("{dose} {}", target.label())
    } else {
        format!("{} {dose} {}", kind.word(), target.label())
    }
}

/// The label of a fault that just started.
pub fn fault_started(fault: &ActiveFault) -> String {
    fault_label(&fault.kind, &fault.target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::Mode;
    use std::time::Duration;

    #[test]
    fn the_ring_is_bounded_and_keeps_the_newest() {
        let mut events = Events::default();
        let t0 = SystemTime::UNIX_EPOCH;
        for i in 0..(EVENT_CAPACITY as u64 + 5) {
            events.push(
                t0 + Duration::from_secs(i),
                EventKind::Load,
                format!("e{i}"),
            );
        }
        assert_eq!(events.len(), EVENT_CAPACITY);
        assert_eq!(events.iter().next().map(|e| e.label.as_str()), Some("e5"));
        assert_eq!(
            events.since(t0 + Duration::from_secs(259)).count(),
            2,
            "e259 and e260"
        );
    }

    #[test]
    fn labels_say_kind_dose_and_target_once() {
        let search = FaultTarget::service("search", Mode::Sync);
        assert_eq!(
            fault_label(
                &FaultKind::Latency {
                    ms: 1000,
                    jitter_ms: 0
                },
                &search
            ),
            "latency +1000 ms sync/search"
        );
        assert_eq!(
            fault_label(&FaultKind::Partition, &search),
            "partition sync/search"
        );
        assert_eq!(
            fault_label(
                &FaultKind::Errors {
                    rate: 0.5,
                    status: 503
                },
                &search
            ),
            "errors 50 % → 503 sync/search"
        );
        assert_eq!(
            fault_label(&FaultKind::SlowConsumer { ms: 1000 }, &search),
            "consumer +1000 ms sync/search"
        );
    }
}
