//! The active-faults panel's model: the faults in force as the fault worker last listed them,
//! and the failures it could not revert (kept until the fault leaves the list: a fault left
//! behind must be seen, not forgotten).
//!
//! Time left is not stored: the view works it out from each fault's end and the state's
//! clock, so it ticks down with every [`Msg::Clock`](super::msg::Msg).

use std::time::{Duration, SystemTime};

use crate::faults::{ActiveFault, FaultMsg};

/// How long past its end a fault may still be listed before the panel calls it overdue (the
/// worker's refresh and the service's own expiry take a moment).
pub const OVERDUE_AFTER: Duration = Duration::from_secs(5);

/// A revert that failed and cannot be retried by itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Unrevertable {
    pub key: String,
    pub error: String,
}

#[derive(Debug, Clone, Default)]
pub struct FaultBoard {
    pub active: Vec<ActiveFault>,
    pub unrevertable: Vec<Unrevertable>,
}

/// How a listed fault stands at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// Ends by itself in this long.
    In(Duration),
    /// Its end has passed; the revert or the next listing is due.
    Ending,
    /// Its end passed more than [`OVERDUE_AFTER`] ago and it is still there.
    Overdue,
    /// Found on the platform with no known end.
    NoEnd,
}

impl FaultBoard {
    /// Takes a report; answers nothing (the events are recorded by the caller).
    pub fn on_msg(&mut self, msg: &FaultMsg) {
        match msg {
            FaultMsg::Active(list) => {
                self.active = list.clone();
                let keys: Vec<String> = self.active.iter().map(ActiveFault::key).collect();
                self.unrevertable.retain(|u| keys.contains(&u.key));
            }
            FaultMsg::Applied(fault) => {
                let key = fault.key();
                self.active.retain(|f| f.key() != key);
                self.active.push(fault.clone());
            }
            FaultMsg::Reverted { key, .. } => {
                self.active.retain(|f| f.key() != *key);
                self.unrevertable.retain(|u| u.key != *key);
            }
            FaultMsg::Failed {
                key,
                error,
                unrevertable,
            } => {
                if *unrevertable {
                    self.unrevertable.retain(|u| u.key != *key);
                    self.unrevertable.push(Unrevertable {
                        key: key.clone(),
                        error: error.clone(),
                    });
                }
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty() && self.unrevertable.is_empty()
    }

    /// Rows the panel needs (at least one: "no active fault").
    pub fn rows(&self) -> usize {
        (self.active.len() + self.unrevertable.len()).max(1)
    }
}

/// Where `fault` stands at `now`.
pub fn left(fault: &ActiveFault, now: SystemTime) -> Left {
    let Some(end) = fault.expires_at else {
        return Left::NoEnd;
    };
    match end.duration_since(now) {
        Ok(left) if !left.is_zero() => Left::In(left),
        _ if now.duration_since(end).unwrap_or_default() > OVERDUE_AFTER => Left::Overdue,
        _ => Left::Ending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{FaultKind, FaultTarget};
    use common::Mode;

    fn fault(kind: FaultKind, end: Option<u64>) -> ActiveFault {
        ActiveFault {
            target: FaultTarget::service("search", Mode::Sync),
            kind,
            route_prefix: None,
            expires_at: end.map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s)),
            ours: true,
        }
    }

    #[test]
    fn time_left_ticks_down_to_ending_then_overdue() {
        let f = fault(FaultKind::Pause, Some(100));
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(left(&f, at(70)), Left::In(Duration::from_secs(30)));
        assert_eq!(left(&f, at(100)), Left::Ending);
        assert_eq!(left(&f, at(104)), Left::Ending);
        assert_eq!(left(&f, at(106)), Left::Overdue);
        assert_eq!(left(&fault(FaultKind::Pause, None), at(1)), Left::NoEnd);
    }

    #[test]
    fn applied_adds_reverted_removes_and_a_listing_replaces() {
        let mut board = FaultBoard::default();
        let pause = fault(FaultKind::Pause, Some(100));
        board.on_msg(&FaultMsg::Applied(pause.clone()));
        board.on_msg(&FaultMsg::Applied(pause.clone()));
        assert_eq!(board.active.len(), 1, "the same key once");
        board.on_msg(&FaultMsg::Failed {
            key: pause.key(),
            error: "Docker unreachable".into(),
            unrevertable: true,
        });
        assert_eq!(board.rows(), 2);
        board.on_msg(&FaultMsg::Active(vec![pause.clone()]));
        assert_eq!(board.unrevertable.len(), 1, "still listed: still shown");
        board.on_msg(&FaultMsg::Active(Vec::new()));
        assert!(board.is_empty());
        board.on_msg(&FaultMsg::Applied(pause.clone()));
        board.on_msg(&FaultMsg::Reverted {
            key: pause.key(),
            why: "expired".into(),
        });
        assert!(board.is_empty());
        assert_eq!(board.rows(), 1);
    }
}
