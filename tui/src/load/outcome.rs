//! What one request's answer means for the scenario.

use common::scenario::RequestSpec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// One of the catalogue's expected statuses (the sync saga's 400 is one).
    Expected(u16),
    /// An HTTP answer the scenario did not expect (a 503 when the broker is down, …).
    Unexpected(u16),
    /// No HTTP answer: connection refused or reset, or the client timeout.
    Transport,
}

impl Outcome {
    pub fn classify(spec: &RequestSpec, answer: Option<u16>) -> Outcome {
        match answer {
            Some(status) if spec.is_expected(status) => Outcome::Expected(status),
            Some(status) => Outcome::Unexpected(status),
            None => Outcome::Transport,
        }
    }

    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Expected(_))
    }

    /// A short label for error tallies: the status, or `conn` for transport failures.
    pub fn label(self) -> String {
        match self {
            Outcome::Expected(s) | Outcome::Unexpected(s) => s.to_string(),
            Outcome::Transport => "conn".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::scenario::{ScenarioId, get};

    #[test]
    fn the_sync_saga_400_is_a_success_but_not_in_async() {
        let s5 = get(ScenarioId::S5);
        assert_eq!(
            Outcome::classify(&s5.sync, Some(400)),
            Outcome::Expected(400)
        );
        assert_eq!(
            Outcome::classify(&s5.asynchronous, Some(400)),
            Outcome::Unexpected(400)
        );
    }

    #[test]
    fn no_answer_is_a_transport_failure() {
        let s1 = get(ScenarioId::S1);
        let o = Outcome::classify(&s1.asynchronous, None);
        assert_eq!(o, Outcome::Transport);
        assert!(!o.is_success());
        assert_eq!(o.label(), "conn");
        assert_eq!(
            Outcome::classify(&s1.asynchronous, Some(503)).label(),
            "503"
        );
    }
}
