//! (stub until the accounting lands: same API)
#![allow(dead_code, unused_variables)]
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
#[derive(Debug, Clone)]
pub struct Answer {
    pub correlation_id: String,
    pub outcome: crate::load::Outcome,
    pub degraded: bool,
    pub intended_at: DateTime<Utc>,
    pub latency: Duration,
}
pub struct RowEffect {
    pub count: u32,
    pub done_at: Option<DateTime<Utc>>,
}
pub struct RowEffects {
    pub detail: String,
    pub by_id: HashMap<String, RowEffect>,
}
pub struct Completion {
    pub at: DateTime<Utc>,
    pub latency: Duration,
}
pub struct Accounting {
    pub accepted: u64,
    pub degraded: u64,
    pub refused: BTreeMap<String, u64>,
    pub rows: Option<super::result::LossCount>,
    pub telemetry: Option<super::result::LossCount>,
    pub source: String,
    pub completed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub completions: Vec<Completion>,
}
pub fn account(
    scenario: common::scenario::ScenarioId,
    answers: &[Answer],
    events: &[common::completion::CompletionEvent],
    rows: Option<&RowEffects>,
) -> Accounting {
    Accounting {
        accepted: 0,
        degraded: 0,
        refused: BTreeMap::new(),
        rows: None,
        telemetry: None,
        source: String::new(),
        completed: 0,
        lost: 0,
        duplicated: 0,
        completions: vec![],
    }
}
