//! (stub until the closed model lands: same API)
#![allow(dead_code, unused_variables)]
use super::result::{Academic, ScenarioBench};
use common::scenario::ScenarioId;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
pub async fn run(
    scenarios: &[ScenarioId],
    host: &str,
    virtual_users: u32,
    per_scenario: Duration,
    stop: CancellationToken,
    progress: impl Fn(String),
) -> Academic {
    Academic {
        virtual_users,
        seconds_per_scenario: per_scenario.as_secs_f64(),
        modes: Default::default(),
        differences: vec![],
    }
}
pub fn differences(academic: &Academic, ours: &[ScenarioBench]) -> Vec<String> {
    vec![]
}
