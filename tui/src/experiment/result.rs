//! What an experiment run leaves behind: `result.json`'s shape. The report, the chart and
//! `ms-tui compare` read only this, so a result written by one version can be read later.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One run of one experiment (all its modes or variants).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub experiment: String,
    pub lesson: String,
    /// `s1` … `s8`.
    pub scenario: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub ended_at: String,
    /// Stopped early (Ctrl-C, `Esc` in the control room): the figures cover what ran.
    pub interrupted: bool,
    pub environment: Environment,
    pub verdict: Verdict,
    /// Keyed by mode (`sync`, `async`) or variant name, in the order they ran.
    pub modes: BTreeMap<String, ModeResult>,
    /// The order of `modes`' keys as they ran (a map has no order of its own).
    pub order: Vec<String>,
    pub thresholds: Vec<ThresholdResult>,
    /// Checks that are not thresholds on one mode: the stock invariant of a saga, say.
    pub invariants: Vec<Invariant>,
    pub events: Vec<Event>,
    /// Per-second rows per mode or variant, keyed as `modes`.
    pub series: BTreeMap<String, Vec<SecondRow>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
}

/// What the run ran on, so two results can be told apart.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Environment {
    /// The checkout's commit (`unknown` outside a git checkout).
    pub git_sha: String,
    /// `debug` or `release` (ms-tui's own build).
    pub build_profile: String,
    /// Image of each container, keyed `async/email`.
    pub images: BTreeMap<String, String>,
    /// The knobs in force when the load started, keyed `async/email`.
    pub knobs: BTreeMap<String, serde_json::Value>,
    /// `/proc/loadavg`'s 1-minute figure at the start.
    pub host_load: f64,
    /// How late this host's timer wakes at the median: latencies below it are noise.
    pub timer_floor_ms: f64,
    pub ms_tui_version: String,
    pub cpus: usize,
}

/// One mode (or variant) of the run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ModeResult {
    /// `sync` or `async`: a variant's mode.
    pub mode: String,
    /// The knob settings of a variant (empty for a plain mode).
    pub knobs: BTreeMap<String, serde_json::Value>,
    /// Requests sent.
    pub sent: u64,
    /// Answered with a 2xx the scenario expects (the sync saga's 400 counts as refused).
    pub accepted: u64,
    /// The chosen source's figures (`loss_source`).
    pub completed: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// 2xx whose body says its effect failed (sync S1 `welcome_email_sent: false`, S3/S8
    /// `warnings`).
    pub degraded: u64,
    /// Every answer that was not accepted, by status (`conn` for no answer).
    pub refused: BTreeMap<String, u64>,
    /// Where `completed` / `lost` / `duplicated` come from: `rows: emails by correlation id`
    /// or `telemetry: completion events on ms.telemetry`.
    pub loss_source: String,
    /// Both sources where both exist, to show when they disagree.
    pub loss_by_source: Vec<LossCount>,
    /// Time to the answer.
    pub ack: Latency,
    /// Time to the flow's completion (from the intended send time); `None` when nothing
    /// completed or the flow has no completion to wait for.
    pub done: Option<Latency>,
    /// Answers per second over the load's length.
    pub achieved_rate: f64,
    /// The asked-for rate (per mode).
    pub target_rate: f64,
    /// Share of sent requests that were not accepted, 0–1.
    pub error_rate: f64,
    /// From the last fault's revert to the first second back within bounds; `None` when no
    /// fault ran or it never recovered (see `recovered`).
    pub recovery_s: Option<f64>,
    /// A fault ran and the mode came back within bounds before the run ended.
    pub recovered: Option<bool>,
    /// Ready messages in the scenario's queues at the end (async; 0 for sync).
    pub backlog_at_end: u64,
}

/// One source's loss figures.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LossCount {
    /// `rows` or `telemetry`.
    pub source: String,
    /// What was counted, in words: `emails.correlation_id`, `completion events`.
    pub detail: String,
    pub completed: u64,
    pub lost: u64,
    pub duplicated: u64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One threshold as judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    pub mode: String,
    /// As written: `ack_p99 < 20ms`.
    pub expr: String,
    /// The measured value in the threshold's unit (ms for latencies, % for rates, s for
    /// recovery, a count otherwise); `None` when it could not be measured (fails).
    pub value: Option<f64>,
    /// The unit of `value`: `ms`, `s`, `%`, or empty for counts.
    pub unit: String,
    pub pass: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invariant {
    pub name: String,
    pub mode: String,
    pub pass: bool,
    pub detail: String,
}

/// Something that happened on the run's time axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the load started (setup events are negative or 0).
    pub t_s: f64,
    /// `fault`, `revert`, `action`, `knob`, `rate`, `purge`, `phase`, `error`.
    pub kind: String,
    /// `async/email`, `infra/rabbitmq`, a mode or variant name, or empty.
    pub target: String,
    pub detail: String,
}

/// One second of one mode.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SecondRow {
    /// Seconds since the load started, at the end of this second.
    pub t_s: f64,
    pub answered: u64,
    pub accepted: u64,
    pub errors: u64,
    pub ack_p50_ms: Option<f64>,
    pub ack_p99_ms: Option<f64>,
    /// Flows that completed in this second, and their p99.
    pub completed: u64,
    pub done_p99_ms: Option<f64>,
    /// Ready messages in the scenario's queues (async), summed; `None` when not probed.
    pub queue_depth: Option<u64>,
}

impl RunResult {
    /// The folder name a result goes to by default: `backlog-20261202T031500Z`.
    pub fn default_folder(experiment: &str, started: chrono::DateTime<chrono::Utc>) -> String {
        format!("{experiment}-{}", started.format("%Y%m%dT%H%M%SZ"))
    }
}
