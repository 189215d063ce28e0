//! Work accepted, completed, lost and duplicated, counted request by request (pure, no I/O).
//!
//! The runner hands over every answer of a mode's load, the completion events it consumed on
//! `ms.telemetry` and, where the flow leaves business rows ([`super::effects`]), the rows
//! matched to each correlation id. Both sources are counted when both exist, so a report can
//! show where they disagree (a completion event is best effort: a full buffer drops it while
//! the row stands); the rows are the figure that counts, because they are the work itself.
//!
//! Rules:
//! - Only *accepted* answers (a 2xx the scenario expects) can complete, be lost or be
//!   duplicated. The sync saga's 400 is expected by the catalogue, but it says the order
//!   failed, so it is refused here, with every other non-2xx, by label (`400`, `503`, `conn`).
//! - Rows: completed = at least one row in its done state; duplicated = more than one; lost
//!   = none.
//! - Telemetry: complete when every `done_when` step of the scenario has an event with the
//!   request's correlation id, in any order and whatever the order of the slices (an event
//!   may well be recorded before its HTTP answer); duplicated = some step's event seen more
//!   than once (a request can then be both duplicated and lost, when another step is
//!   missing); lost = not complete.
//! - A completion's time is the row's `done_at`, or the latest of the steps' first events;
//!   its latency runs from the request's intended send time, clamped at 0 (clocks of one
//!   host, but a row's `now()` is PostgreSQL's).
//! - Events and rows of correlation ids that are not among the accepted answers are ignored.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::completion::CompletionEvent;
use common::scenario::{self, ScenarioId, Step};

use super::result::LossCount;
use crate::load::Outcome;

/// What the telemetry source is called in `source` and in its [`LossCount`].
pub const TELEMETRY_DETAIL: &str = "completion events on ms.telemetry";

/// One answered request of the load.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub correlation_id: String,
    pub outcome: Outcome,
    /// A 2xx whose body says its effect failed (sync S1's `welcome_email_sent: false`, …).
    pub degraded: bool,
    /// When the load engine meant to send it (completion latency starts there).
    pub intended_at: DateTime<Utc>,
    /// Time to the answer.
    pub latency: Duration,
}

/// The rows in their done state matched to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowEffect {
    pub count: u32,
    /// The earliest done time among them.
    pub done_at: Option<DateTime<Utc>>,
}

/// A flow's rows, by correlation id.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RowEffects {
    /// What was matched, in words: `emails.correlation_id (kind welcome)`.
    pub detail: String,
    pub by_id: HashMap<String, RowEffect>,
}

/// One completed request: when its flow was done, and how long after its intended send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    pub at: DateTime<Utc>,
    pub latency: Duration,
}

/// A mode's figures, see the module doc for the rules.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Accounting {
    /// Answered with a 2xx the scenario expects.
    pub accepted: u64,
    /// Accepted answers flagged degraded.
    pub degraded: u64,
    /// Every other answer, by label (`503`, `400`, `conn`).
    pub refused: BTreeMap<String, u64>,
    /// Source `rows`, when rows were given.
    pub rows: Option<LossCount>,
    /// Source `telemetry`, when the scenario has completion events (all of them, today).
    pub telemetry: Option<LossCount>,
    /// The chosen source in words: `rows: emails.correlation_id (kind welcome)`.
    pub source: String,
    /// The chosen source's figures (rows when given, else telemetry).
    pub completed: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// The chosen source's completions, one per completed request, by time.
    pub completions: Vec<Completion>,
}

/// What one source made of one accepted request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Effect {
    completed: bool,
    duplicated: bool,
    /// When it was done, if it was and the time is known.
    done_at: Option<DateTime<Utc>>,
}

/// One source's figures and completions.
struct Tally {
    loss: LossCount,
    completions: Vec<Completion>,
}

/// Counts one mode's run (see the module doc).
pub fn account(
    scenario: ScenarioId,
    answers: &[Answer],
    events: &[CompletionEvent],
    rows: Option<&RowEffects>,
) -> Accounting {
    let accepted: Vec<&Answer> = answers.iter().filter(|a| is_accepted(a.outcome)).collect();
    let done_when = scenario::get(scenario).done_when;
    let telemetry = (!done_when.is_empty()).then(|| {
        let seen = steps_seen(scenario, done_when, events, &accepted);
        tally("telemetry", TELEMETRY_DETAIL, &accepted, |a| {
            telemetry_effect(done_when, seen.get(a.correlation_id.as_str()))
        })
    });
    let rows = rows.map(|rows| {
        tally("rows", &rows.detail, &accepted, |a| {
            row_effect(rows.by_id.get(&a.correlation_id))
        })
    });
    let mut accounting = Accounting {
        accepted: accepted.len() as u64,
        degraded: accepted.iter().filter(|a| a.degraded).count() as u64,
        refused: refused(answers),
        rows: rows.as_ref().map(|t| t.loss.clone()),
        telemetry: telemetry.as_ref().map(|t| t.loss.clone()),
        source: "none: the flow leaves nothing to count".to_owned(),
        ..Accounting::default()
    };
    if let Some(chosen) = rows.or(telemetry) {
        accounting.source = format!("{}: {}", chosen.loss.source, chosen.loss.detail);
        accounting.completed = chosen.loss.completed;
        accounting.lost = chosen.loss.lost;
        accounting.duplicated = chosen.loss.duplicated;
        accounting.completions = chosen.completions;
    }
    accounting
}

/// A 2xx the scenario expects. The sync saga's expected 400 says the order failed: refused.
fn is_accepted(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::Expected(status) if (200..300).contains(&status))
}

fn refused(answers: &[Answer]) -> BTreeMap<String, u64> {
    let mut refused = BTreeMap::new();
    for answer in answers.iter().filter(|a| !is_accepted(a.outcome)) {
        *refused.entry(answer.outcome.label()).or_insert(0) += 1;
    }
    refused
}

/// Counts `source`'s effect on every accepted request.
fn tally(
    source: &str,
    detail: &str,
    accepted: &[&Answer],
    effect: impl Fn(&Answer) -> Effect,
) -> Tally {
    let mut loss = LossCount {
        source: source.to_owned(),
        detail: detail.to_owned(),
        ..LossCount::default()
    };
    let mut completions = Vec::new();
    for answer in accepted {
        let effect = effect(answer);
        loss.duplicated += u64::from(effect.duplicated);
        if !effect.completed {
            loss.lost += 1;
            continue;
        }
        loss.completed += 1;
        if let Some(at) = effect.done_at {
            completions.push(Completion {
                at,
                latency: since(answer.intended_at, at),
            });
        }
    }
    completions.sort_by_key(|c| c.at);
    Tally { loss, completions }
}

/// `at − from`, or zero when `at` is earlier (another clock's rounding).
fn since(from: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (at - from).to_std().unwrap_or_default()
}

fn row_effect(row: Option<&RowEffect>) -> Effect {
    let Some(row) = row else {
        return Effect::default();
    };
    Effect {
        completed: row.count >= 1,
        duplicated: row.count > 1,
        done_at: row.done_at.filter(|_| row.count >= 1),
    }
}

/// Per `done_when` step (by index): how many events and the earliest one's time.
type StepsSeen = Vec<(u32, Option<DateTime<Utc>>)>;

/// The events of the accepted requests, by correlation id and step; the order of `events`
/// does not matter, nor whether an event came before its answer.
fn steps_seen<'a>(
    scenario: ScenarioId,
    done_when: &[Step],
    events: &'a [CompletionEvent],
    accepted: &[&Answer],
) -> HashMap<&'a str, StepsSeen> {
    let ids: std::collections::HashSet<&str> =
        accepted.iter().map(|a| a.correlation_id.as_str()).collect();
    let mut seen: HashMap<&str, StepsSeen> = HashMap::new();
    for event in events {
        let id = event.correlation_id.as_str();
        if event.scenario != scenario || !ids.contains(id) {
            continue;
        }
        let Some(index) = done_when
            .iter()
            .position(|s| s.service == event.service && s.step == event.step)
        else {
            continue;
        };
        let steps = seen
            .entry(id)
            .or_insert_with(|| vec![(0, None); done_when.len()]);
        let (count, first) = &mut steps[index];
        *count += 1;
        *first = Some(first.map_or(event.at, |t| t.min(event.at)));
    }
    seen
}

fn telemetry_effect(done_when: &[Step], seen: Option<&StepsSeen>) -> Effect {
    let Some(steps) = seen else {
        return Effect::default();
    };
    let completed = steps.len() == done_when.len() && steps.iter().all(|(n, _)| *n >= 1);
    Effect {
        completed,
        duplicated: steps.iter().any(|(n, _)| *n > 1),
        // The flow is done when its last step is: the latest of the steps' first events.
        done_at: if completed {
            steps.iter().filter_map(|(_, at)| *at).max()
        } else {
            None
        },
    }
}

#[cfg(test)]
#[path = "accounting_tests.rs"]
mod tests;
