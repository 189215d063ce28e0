//! (stub until the effects land: same API)
#![allow(dead_code, unused_variables)]
use super::accounting::RowEffects;
use common::Mode;
use common::scenario::ScenarioId;
#[derive(Debug, Clone)]
pub struct DbUrls {
    pub sync: String,
    pub asynchronous: String,
}
impl DbUrls {
    pub fn discover(stack: &crate::stack::StackOptions) -> anyhow::Result<DbUrls> {
        anyhow::bail!("stub")
    }
}
pub struct Effects;
#[derive(Debug, Clone)]
pub struct StockLevel {
    pub product_id: i64,
    pub available: i64,
    pub reserved: i64,
    pub sold: i64,
}
impl Effects {
    pub fn new(urls: DbUrls) -> Effects {
        Effects
    }
    pub fn source(scenario: ScenarioId) -> Option<&'static str> {
        None
    }
    pub async fn rows(
        &self,
        scenario: ScenarioId,
        mode: Mode,
        ids: &[String],
    ) -> anyhow::Result<RowEffects> {
        anyhow::bail!("stub")
    }
    pub async fn stock(&self, mode: Mode) -> anyhow::Result<Vec<StockLevel>> {
        anyhow::bail!("stub")
    }
}
