//! (stub until the sampler lands: same API)
#![allow(dead_code, unused_variables)]
use super::result::Usage;
use std::collections::BTreeMap;
#[derive(Debug, Clone, Default)]
pub struct Snapshot;
pub async fn snapshot(docker: &bollard::Docker) -> anyhow::Result<Snapshot> {
    Ok(Snapshot)
}
pub fn between(before: &Snapshot, after: &Snapshot) -> BTreeMap<String, Usage> {
    BTreeMap::new()
}
pub fn cpu_seconds(before: &Snapshot, after: &Snapshot, group: &str) -> f64 {
    0.0
}
