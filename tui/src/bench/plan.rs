//! What a bench runs: per scenario its ladders (sync, async, and sync held to 40 requests in
//! flight), each a list of target rates from the catalogue's default up to its cap, and how
//! long each step lasts. Pure.

use std::time::Duration;

use common::Mode;
use common::scenario::{self, ScenarioId, Service};

use super::criteria;

/// The worker limit of the thread-pool ladder: a sync server with 40 threads.
pub const POOL_LIMIT: u32 = 40;

/// How a bench was asked to run.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchPlan {
    pub scenarios: Vec<ScenarioPlan>,
    pub quick: bool,
    pub rounds: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioPlan {
    pub scenario: ScenarioId,
    pub ladders: Vec<LadderPlan>,
    /// The ladders left out, each with why (a quick bench skips the worker-limit ladder where
    /// the limit cannot bind).
    pub skipped: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LadderPlan {
    /// `sync`, `async`, `sync-limit-40`.
    pub key: String,
    pub mode: Mode,
    pub knobs: serde_json::Map<String, serde_json::Value>,
    pub rates: Vec<f64>,
    /// How long each step's load lasts, at least.
    pub step: Duration,
    /// A step lasts long enough to send this many requests at its rate.
    pub min_requests: f64,
    /// After the load, how long the step waits for its completions.
    pub drain: Duration,
    pub ack_bound: Duration,
    /// `None` for a flow with nothing to complete after the answer (sync).
    pub done_bound: Option<Duration>,
}

/// Seconds of load per step, and of drain, in a full and a quick bench.
const STEP: Duration = Duration::from_secs(10);
const QUICK_STEP: Duration = Duration::from_secs(4);
const DRAIN: Duration = Duration::from_secs(10);
const QUICK_DRAIN: Duration = Duration::from_secs(4);
/// A step sends at least this many requests (S4's 0.1/s would send one in 15 s); a quick
/// one two (S4 at 0.1/s: 20 s, not 40).
const MIN_REQUESTS: f64 = 4.0;
const QUICK_MIN_REQUESTS: f64 = 2.0;

impl BenchPlan {
    pub fn new(scenarios: &[ScenarioId], quick: bool, rounds: u32) -> BenchPlan {
        BenchPlan {
            scenarios: scenarios
                .iter()
                .map(|id| {
                    let (ladders, skipped) = ladders(*id, quick);
                    ScenarioPlan {
                        scenario: *id,
                        ladders,
                        skipped,
                    }
                })
                .collect(),
            quick,
            rounds: rounds.max(1),
        }
    }

    /// The longest the bench can take (every step run, every drain waited out), for the
    /// progress line.
    pub fn longest(&self) -> Duration {
        let per_step = |l: &LadderPlan, rate: f64| l.step_length(rate) + l.drain;
        self.scenarios
            .iter()
            .flat_map(|s| s.ladders.iter())
            .map(|l| {
                l.rates
                    .iter()
                    .map(|r| per_step(l, *r) * self.rounds)
                    .sum::<Duration>()
            })
            .sum()
    }
}

/// The services a scenario's flow runs through: the CPU per 1,000 requests is theirs (the
/// other services' idle cost would swamp a low rate's figure).
pub fn flow_services(id: ScenarioId) -> &'static [Service] {
    use Service::*;
    match id {
        ScenarioId::S1 => &[User, Email],
        ScenarioId::S2 => &[Payment],
        ScenarioId::S3 => &[Product, Search, Cache, Analytics],
        ScenarioId::S4 => &[Report],
        ScenarioId::S5 => &[Order, Inventory, Payment],
        ScenarioId::S6 => &[Analytics],
        ScenarioId::S7 => &[Order, Payment, Email],
        ScenarioId::S8 => &[Order, Inventory, Email],
    }
}

/// The broker and the database, whose CPU is reported apart.
pub const INFRA: [&str; 2] = ["infra/rabbitmq", "infra/postgres"];

impl LadderPlan {
    /// A step's load: its length, or long enough to send [`LadderPlan::min_requests`].
    pub fn step_length(&self, rate: f64) -> Duration {
        self.step
            .max(Duration::from_secs_f64(self.min_requests / rate.max(0.001)))
    }
}

/// The ladders of a scenario, and those left out with why.
fn ladders(id: ScenarioId, quick: bool) -> (Vec<LadderPlan>, Vec<String>) {
    let rates = rates(id, quick);
    let (step, drain, min_requests) = if quick {
        (QUICK_STEP, QUICK_DRAIN, QUICK_MIN_REQUESTS)
    } else {
        (STEP, DRAIN, MIN_REQUESTS)
    };
    let ladder = |key: &str, mode: Mode, knobs: serde_json::Map<_, _>| LadderPlan {
        key: key.into(),
        mode,
        knobs,
        rates: rates.clone(),
        step,
        min_requests,
        // Sync completes inside its requests: a second catches the events that trail them.
        drain: match mode {
            Mode::Sync => Duration::from_secs(1),
            Mode::Async => drain.max(criteria::done_bound(id)),
        },
        ack_bound: criteria::ack_bound(id, mode),
        done_bound: (mode == Mode::Async).then(|| criteria::done_bound(id)),
    };
    let mut pool = serde_json::Map::new();
    pool.insert("sync_max_inflight".into(), POOL_LIMIT.into());
    let pool_key = format!("sync-limit-{POOL_LIMIT}");
    let mut plans = vec![
        ladder("sync", Mode::Sync, serde_json::Map::new()),
        ladder("async", Mode::Async, serde_json::Map::new()),
    ];
    let top = rates.last().copied().unwrap_or_default();
    let in_flight = top * criteria::sync_wait(id).as_secs_f64();
    if quick && in_flight < f64::from(POOL_LIMIT) {
        // Little's law: requests in flight = rate × time each is held. Under the limit at the
        // top rate, the limited ladder would repeat the sync one step for step.
        let skipped = format!(
            "`{pool_key}` not run (quick): at the top rate, {top}/s × the flow's {} of \
             designed waiting keeps about {in_flight:.0} requests in flight, under the limit of \
             {POOL_LIMIT}, so it would repeat the `sync` ladder; the full bench runs it",
            crate::load::stats::format_latency(criteria::sync_wait(id)),
        );
        return (plans, vec![skipped]);
    }
    plans.push(ladder(&pool_key, Mode::Sync, pool));
    (plans, Vec::new())
}

/// From the catalogue's default rate up to its cap, doubling (quick: four times each step,
/// three steps at most); the cap is always the last step when the doubling passes it.
pub fn rates(id: ScenarioId, quick: bool) -> Vec<f64> {
    let entry = scenario::get(id);
    let factor = if quick { 4.0 } else { 2.0 };
    let most = if quick { 3 } else { 12 };
    let mut rates = Vec::new();
    let mut rate = entry.default_rate;
    while rates.len() < most {
        if rate >= entry.max_rate {
            rates.push(entry.max_rate);
            break;
        }
        rates.push(rate);
        rate *= factor;
    }
    rates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladders_double_from_the_default_to_the_cap() {
        assert_eq!(
            rates(ScenarioId::S1, false),
            [20.0, 40.0, 80.0, 160.0, 320.0, 500.0]
        );
        assert_eq!(rates(ScenarioId::S1, true), [20.0, 80.0, 320.0]);
        assert_eq!(rates(ScenarioId::S6, true), [100.0, 400.0, 1600.0]);
        assert_eq!(rates(ScenarioId::S4, false), [0.1, 0.2, 0.4, 0.8, 1.0]);
    }

    #[test]
    fn every_scenario_gets_sync_async_and_the_pool_ladder() {
        let plan = BenchPlan::new(&[ScenarioId::S1], false, 1);
        let keys: Vec<&str> = plan.scenarios[0]
            .ladders
            .iter()
            .map(|l| l.key.as_str())
            .collect();
        assert_eq!(keys, ["sync", "async", "sync-limit-40"]);
        let pool = &plan.scenarios[0].ladders[2];
        assert_eq!(pool.knobs["sync_max_inflight"], 40);
        assert!(pool.done_bound.is_none() && plan.scenarios[0].ladders[1].done_bound.is_some());
    }

    #[test]
    fn a_quick_bench_skips_the_worker_limit_only_where_it_cannot_bind() {
        for id in ScenarioId::ALL {
            let quick = BenchPlan::new(&[id], true, 1);
            let full = BenchPlan::new(&[id], false, 1);
            assert_eq!(full.scenarios[0].ladders.len(), 3, "{id:?}");
            assert!(full.scenarios[0].skipped.is_empty());
            let s = &quick.scenarios[0];
            // S1: 320/s × 500 ms = 160 in flight; S6: a row insert, none by design.
            let expect_pool = matches!(
                id,
                ScenarioId::S1 | ScenarioId::S2 | ScenarioId::S5 | ScenarioId::S7
            );
            assert_eq!(s.ladders.len() == 3, expect_pool, "{id:?}");
            assert_eq!(
                s.skipped.len() == 1,
                !expect_pool,
                "{id:?}: {:?}",
                s.skipped
            );
        }
        let s6 = BenchPlan::new(&[ScenarioId::S6], true, 1);
        assert!(s6.scenarios[0].skipped[0].contains("`sync-limit-40` not run (quick)"));
    }

    #[test]
    fn slow_scenarios_get_steps_long_enough_to_send_a_few_requests() {
        let full = &BenchPlan::new(&[ScenarioId::S4], false, 1).scenarios[0].ladders[0];
        let quick = &BenchPlan::new(&[ScenarioId::S4], true, 1).scenarios[0].ladders[0];
        assert_eq!(full.step_length(0.1), Duration::from_secs(40));
        assert_eq!(quick.step_length(0.1), Duration::from_secs(20));
        assert_eq!(quick.step_length(100.0), QUICK_STEP);
    }

    #[test]
    fn a_quick_bench_of_s1_and_s6_fits_its_budget_even_when_every_step_runs() {
        let plan = BenchPlan::new(&[ScenarioId::S1, ScenarioId::S6], true, 1);
        assert!(
            plan.longest() <= Duration::from_secs(150),
            "{:?}",
            plan.longest()
        );
        // All eight: every step run and every drain waited out is the bound, not the
        // expectation (a ladder stops at its first failed step; drains end when all is done).
        let all = BenchPlan::new(&ScenarioId::ALL, true, 1);
        assert!(
            all.longest() <= Duration::from_secs(600),
            "{:?}",
            all.longest()
        );
    }
}
