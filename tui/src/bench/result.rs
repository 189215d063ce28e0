//! `report.json`'s shape: every step of every ladder with each criterion's measured value and
//! whether it held, why each ladder stopped, each mode's sustainable rate, and — with
//! `--profile peer` — the academic study's way of counting beside ours. The report and its
//! charts read only this.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::experiment::result::{Environment, Latency};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// RFC 3339, UTC.
    pub started_at: String,
    pub ended_at: String,
    pub duration_s: f64,
    /// `ours` (our delays) or `peer` (the original projects' delays).
    pub profile: String,
    pub quick: bool,
    /// Each step ran this many times; the figures are the median round's, with the spread.
    pub rounds: u32,
    /// Seconds each step's load lasts.
    pub step_s: f64,
    /// The run was stopped (Ctrl-C): the figures cover what ran.
    pub interrupted: bool,
    pub environment: Environment,
    pub scenarios: Vec<ScenarioBench>,
    /// With `--profile peer`: the study as the academic project counted it.
    pub academic: Option<Academic>,
}

/// One scenario's ladders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioBench {
    /// `s1` … `s8`.
    pub scenario: String,
    pub title: String,
    /// `sync`, `async`, then `sync-limit-40` (our sync services held to 40 requests in
    /// flight, as a thread pool would: the I/O model, apart from the communication style).
    pub ladders: Vec<Ladder>,
    /// The ladders the plan left out, each with why (a quick bench skips `sync-limit-40`
    /// where the limit cannot bind).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// One line drawn from the numbers.
    pub finding: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ladder {
    pub key: String,
    /// `sync` or `async`.
    pub mode: String,
    /// Knobs set for this ladder (restored afterwards).
    pub knobs: BTreeMap<String, serde_json::Value>,
    /// The bound on ack p99 for this scenario and mode, in ms (the flow's own delays plus a
    /// margin).
    pub ack_bound_ms: f64,
    pub steps: Vec<Step>,
    /// Why the ladder ended: `top of the ladder (cap 500/s)`, or the first failed criterion,
    /// e.g. `at 400/s: achieved 81 % < 95 %`.
    pub stop_reason: String,
    /// The highest step that held every criterion; `None` when the first step failed.
    pub sustainable_rate: Option<f64>,
}

/// One step of a ladder: a target rate, run `rounds` times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub target_rate: f64,
    /// The median round (by ack p99).
    pub figures: StepFigures,
    /// Every round's figures, for the spread.
    pub rounds: Vec<StepFigures>,
    /// The criteria, judged on the median round.
    pub criteria: Vec<Criterion>,
    pub pass: bool,
}

/// What one round of one step measured.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StepFigures {
    pub sent: u64,
    pub achieved_rate: f64,
    /// Unexpected answers of all sent, 0–1 (the sync saga's 400 is expected).
    pub error_rate: f64,
    pub ack: Latency,
    /// Completion latency of the requests accepted in the step (async; sync when its flow
    /// publishes completion events too).
    pub done: Option<Latency>,
    /// Accepted requests whose completion did not arrive by the end of the step's drain.
    pub not_completed: u64,
    /// Ready messages in the scenario's queues at the step's start and end.
    pub backlog_start: Option<u64>,
    pub backlog_end: Option<u64>,
    /// CPU seconds per 1,000 requests, of this mode's services (and of RabbitMQ and
    /// PostgreSQL separately).
    pub cpu_s_per_1000: Option<f64>,
    pub infra_cpu_s_per_1000: Option<f64>,
    /// Per container (`async/email`, `infra/rabbitmq`): CPU in cores averaged over the step,
    /// and memory (MiB, without page cache) at its end.
    pub usage: BTreeMap<String, Usage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub cpu_cores: f64,
    pub mem_mib: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    /// `ack_p99`, `errors`, `achieved`, `backlog`, `done_p99`.
    pub name: String,
    /// `1.20 s < 1.50 s`: the measured value against its bound, in words.
    pub detail: String,
    pub value: Option<f64>,
    pub bound: f64,
    pub pass: bool,
}

/// The academic study's numbers, computed its way, beside ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Academic {
    /// Virtual users of the closed-model load (each sends, waits for the answer, sends again).
    pub virtual_users: u32,
    pub seconds_per_scenario: f64,
    /// Keyed `sync`, `async`.
    pub modes: BTreeMap<String, AcademicMode>,
    /// One line per difference between their table and ours.
    pub differences: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AcademicMode {
    /// One p95 over every request of every scenario (their headline figure).
    pub pooled_p95_ms: f64,
    /// Non-2xx of all requests, the saga's intended 400 included (as they counted).
    pub error_rate_400_as_error: f64,
    /// Requests per second the closed model achieved, all scenarios together.
    pub throughput: f64,
    /// Unexpected answers and requests without one, of all requests: the same requests
    /// counted our way (the catalogue's expected statuses, the saga's 400 among them, are
    /// success).
    #[serde(default)]
    pub error_rate: f64,
    /// Per scenario: p95 (ms) and requests, for the corrected view.
    pub per_scenario: BTreeMap<String, ScenarioClosed>,
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct ScenarioClosed {
    pub requests: u64,
    pub p95_ms: f64,
    pub errors_400_as_error: u64,
    pub throughput: f64,
    /// Users that ran: the requested number, held to the catalogue's in-flight cap.
    #[serde(default)]
    pub virtual_users: u32,
    /// Unexpected answers and requests without one (our way).
    #[serde(default)]
    pub errors: u64,
    /// Non-2xx answers the catalogue expects (the sync saga's 400): errors their way,
    /// successes ours.
    #[serde(default)]
    pub intended_non_2xx: u64,
}
