//! A round's setup and its undoing through the services' admin API — data reset, restock,
//! knobs put back — and the stock invariant read before and after.

use common::Mode;
use common::scenario;
use serde_json::Value;

use super::effects::{Effects, StockLevel};
use super::result::Invariant;
use crate::admin::{self, AdminSettings};

pub(crate) async fn reset(
    http: &reqwest::Client,
    settings: &AdminSettings,
    modes: &[Mode],
) -> Result<(), String> {
    let targets: Vec<_> = modes.iter().flat_map(|m| admin::services_of(*m)).collect();
    let calls = targets.iter().map(|t| {
        admin::call(
            http,
            settings,
            *t,
            reqwest::Method::POST,
            "/admin/reset",
            None,
        )
    });
    let failed: Vec<String> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .filter_map(|r| r.err().map(|e| format!("{e:#}")))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("the data reset failed: {}", failed.join("; ")))
    }
}

/// The products the inventory is seeded with (its migration).
const SEEDED_PRODUCTS: [u32; 4] = [1, 2, 3, 4];

pub(crate) async fn restock(
    http: &reqwest::Client,
    settings: &AdminSettings,
    modes: &[Mode],
    units: u32,
) -> Result<(), String> {
    let body = serde_json::json!({ "quantity": units });
    for mode in modes {
        for product in SEEDED_PRODUCTS {
            let url = format!(
                "http://{}:{}/products/{product}/stock",
                settings.host,
                scenario::Service::Inventory.port(*mode)
            );
            let answer = http.put(url).json(&body).send().await;
            match answer {
                Ok(a) if a.status().is_success() => {}
                Ok(a) => {
                    return Err(format!(
                        "restocking {mode} product {product}: {}",
                        a.status()
                    ));
                }
                Err(e) => return Err(format!("restocking {mode} product {product}: {e}")),
            }
        }
    }
    Ok(())
}

pub(crate) async fn put_back(
    http: &reqwest::Client,
    settings: &AdminSettings,
    before: &super::steps::KnobsBefore,
) {
    for (target, knobs) in before {
        let body = Value::Object(knobs.clone());
        if let Err(e) = admin::call(
            http,
            settings,
            *target,
            reqwest::Method::PUT,
            "/admin/config",
            Some(&body),
        )
        .await
        {
            tracing::warn!(
                "experiment: could not restore the knobs of {}/{}: {e:#}",
                target.1,
                target.0
            );
        }
    }
}

pub(super) type StockLevels = Vec<(Mode, Result<Vec<StockLevel>, String>)>;

pub(super) async fn stock(effects: &Effects, modes: &[Mode]) -> StockLevels {
    let mut levels = Vec::new();
    for mode in modes {
        levels.push((
            *mode,
            effects.stock(*mode).await.map_err(|e| format!("{e:#}")),
        ));
    }
    levels
}

/// Per mode: every product's available + reserved + sold unchanged, and nothing left
/// reserved.
pub(super) fn stock_invariants(before: &StockLevels, after: &StockLevels) -> Vec<Invariant> {
    before
        .iter()
        .zip(after)
        .map(|((mode, before), (_, after))| {
            let (pass, detail) = match (before, after) {
                (Ok(before), Ok(after)) => stock_check(before, after),
                (Err(e), _) | (_, Err(e)) => (false, format!("stock not readable: {e}")),
            };
            Invariant {
                name: "stock".into(),
                mode: mode.as_str().into(),
                pass,
                detail,
            }
        })
        .collect()
}

/// Compares two readings of the stock: totals per product unchanged, nothing reserved.
fn stock_check(before: &[StockLevel], after: &[StockLevel]) -> (bool, String) {
    let mut problems = Vec::new();
    for old in before {
        let Some(new) = after.iter().find(|n| n.product_id == old.product_id) else {
            problems.push(format!("product {} disappeared", old.product_id));
            continue;
        };
        let (was, is) = (
            old.available + old.reserved + old.sold,
            new.available + new.reserved + new.sold,
        );
        if was != is {
            problems.push(format!(
                "product {}: available+reserved+sold {was} → {is}",
                new.product_id
            ));
        }
        if new.reserved != 0 || new.held_reservations != 0 {
            problems.push(format!(
                "product {}: {} units left reserved ({} reservations still held)",
                new.product_id, new.reserved, new.held_reservations
            ));
        }
        if new.reserved != new.held_units {
            problems.push(format!(
                "product {}: the stock says {} reserved, the reservations {}",
                new.product_id, new.reserved, new.held_units
            ));
        }
    }
    if problems.is_empty() {
        let sold: i64 =
            after.iter().map(|n| n.sold).sum::<i64>() - before.iter().map(|o| o.sold).sum::<i64>();
        (
            true,
            format!(
                "{} products: totals unchanged, none reserved, {sold} sold",
                after.len()
            ),
        )
    } else {
        (false, problems.join("; "))
    }
}
