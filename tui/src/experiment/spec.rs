//! The experiment file (TOML): its schema as written ([`ExperimentFile`]) and the checked
//! plan the runner executes ([`Experiment`]). Every mistake is refused before anything runs,
//! with the line and column where it is and what was expected (docs/experiments.md).

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use common::Mode;
use common::scenario::{self, ScenarioId, Service};
use serde::Deserialize;
use toml::Spanned;

use super::threshold::Threshold;
use crate::docker::Action as ContainerAction;
use crate::faults::{FaultKind, FaultTarget};

/// An experiment as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentFile {
    pub name: Spanned<String>,
    pub lesson: String,
    pub scenario: Spanned<String>,
    /// `"both"`, `"sync"`, `"async"` or a list of them. Side by side, at the same moment.
    #[serde(default)]
    pub modes: Option<Spanned<ModesField>>,
    /// The same mode under other knob settings, one after the other.
    #[serde(default)]
    pub variants: Vec<Spanned<VariantFile>>,
    /// Requests per second per mode (default: the scenario's rate).
    pub rate: Option<Spanned<f64>>,
    /// `30s`, `1m`.
    pub duration: Option<Spanned<String>>,
    /// N requests at once instead of a rate.
    pub burst: Option<Spanned<u32>>,
    /// Past the catalogue's rate cap.
    #[serde(default)]
    pub uncapped: bool,
    #[serde(default)]
    pub setup: SetupFile,
    #[serde(default)]
    pub steps: Vec<Spanned<StepFile>>,
    /// How long to wait for completions after the load ends (default 10s).
    pub grace: Option<Spanned<String>>,
    /// Per-request timeout (default 30s).
    pub timeout: Option<Spanned<String>>,
    /// Keyed `sync`, `async`, a variant's name or `all`.
    #[serde(default)]
    pub thresholds: BTreeMap<String, Vec<Spanned<String>>>,
    /// Checks across the run: `stock` (the saga's stock invariant).
    #[serde(default)]
    pub invariants: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ModesField {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantFile {
    pub name: String,
    pub mode: String,
    #[serde(default)]
    pub knobs: toml::Table,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetupFile {
    /// `POST /admin/reset` on every service of the modes first: seed data back, stock
    /// restocked, what the services recorded emptied (default true).
    pub reset: Option<bool>,
    /// Units added to every seeded product's stock after the reset (inventory's
    /// `PUT /products/{id}/stock`), so a long or heavy run never runs out mid-way.
    pub restock: Option<u32>,
    /// Knobs for every service of the modes, restored afterwards.
    #[serde(default)]
    pub knobs: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    pub at: String,
    pub until: Option<String>,
    pub action: String,
    /// A compose service without its mode (`email`, `payment`) or infra (`rabbitmq`,
    /// `postgres`, `gateway`).
    pub target: Option<String>,
    /// `sync`, `async` or `both` (default: every mode of the run).
    pub mode: Option<String>,
    pub ms: Option<u64>,
    pub jitter_ms: Option<u64>,
    /// Errors: the share of requests that fail, 0–1.
    pub share: Option<f64>,
    pub status: Option<u16>,
    pub route: Option<String>,
    #[serde(default)]
    pub knobs: toml::Table,
    /// Rate: the new requests per second.
    pub rate: Option<f64>,
    /// Purge: the queue to empty.
    pub queue: Option<String>,
}

/// A checked experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    pub name: String,
    pub lesson: String,
    pub scenario: ScenarioId,
    /// Run one after the other; the lanes of a round run side by side.
    pub rounds: Vec<Round>,
    pub load: LoadShape,
    pub uncapped: bool,
    pub reset: bool,
    /// Units added to each seeded product after the reset.
    pub restock: u32,
    /// Knobs for every service of the run's modes.
    pub knobs: serde_json::Map<String, serde_json::Value>,
    pub steps: Vec<Step>,
    pub grace: Duration,
    pub timeout: Duration,
    pub thresholds: Vec<Threshold>,
    pub invariants: Vec<InvariantCheck>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub lanes: Vec<Lane>,
}

/// One mode's load in a round: a plain mode, or a variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    /// `sync`, `async` or the variant's name: the key of the result's `modes`.
    pub key: String,
    pub mode: Mode,
    pub knobs: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadShape {
    Rate { rate: f64, duration: Duration },
    Burst { requests: u32 },
}

impl LoadShape {
    /// How long requests are sent for.
    pub fn duration(&self) -> Duration {
        match self {
            LoadShape::Rate { duration, .. } => *duration,
            LoadShape::Burst { .. } => BURST_WINDOW,
        }
    }
}

/// A burst's requests all go out within this window.
pub const BURST_WINDOW: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvariantCheck {
    /// Available + reserved + sold of every product unchanged, nothing left reserved.
    Stock,
}

/// One timed step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Since the load started.
    pub at: Duration,
    /// When the step is undone (faults, knobs), if it is.
    pub until: Option<Duration>,
    /// `None`: every mode of the round.
    pub mode: Option<Mode>,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A fault of the faults module on `service` (`until` required: its dose lasts that long).
    Fault {
        service: String,
        kind: FaultKind,
        route: Option<String>,
    },
    /// A container action that stays until a later step undoes it (`start` after `kill`).
    Container {
        service: String,
        verb: ContainerAction,
    },
    /// Knobs on one service, or on every service of the mode.
    Knobs {
        service: Option<String>,
        knobs: serde_json::Map<String, serde_json::Value>,
    },
    /// The load's new rate.
    Rate(f64),
    /// Empty a queue (the messages are gone: the accounting must count them lost).
    Purge { queue: String },
}

impl Step {
    /// The fault target of a step's service in `mode` (`infra/rabbitmq` for infra).
    pub fn target(service: &str, mode: Mode) -> FaultTarget {
        if INFRA.contains(&service) {
            FaultTarget {
                group: "infra".into(),
                service: service.into(),
            }
        } else {
            FaultTarget::service(service, mode)
        }
    }
}

/// Targets that are neither sync nor async.
pub const INFRA: [&str; 3] = ["rabbitmq", "postgres", "gateway"];

/// Why a file was refused: where, and what was expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct SpecError {
    pub origin: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

const DEFAULT_GRACE: Duration = Duration::from_secs(10);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_DURATION: Duration = Duration::from_secs(3600);

/// Parses and checks `text`; `origin` names it in errors (a path, or `built-in backlog`).
pub fn parse(text: &str, origin: &str) -> Result<Experiment, SpecError> {
    let at = |span: Option<Range<usize>>, message: String| {
        let (line, column) = span.map_or((1, 1), |s| line_column(text, s.start));
        SpecError {
            origin: origin.to_owned(),
            line,
            column,
            message,
        }
    };
    let file: ExperimentFile =
        toml::from_str(text).map_err(|e| at(e.span(), e.message().to_owned()))?;
    check(file).map_err(|(span, message)| at(span, message))
}

type Checked<T> = Result<T, (Option<Range<usize>>, String)>;

fn fail<T>(span: Range<usize>, message: impl Into<String>) -> Checked<T> {
    Err((Some(span), message.into()))
}

fn check(file: ExperimentFile) -> Checked<Experiment> {
    let name_span = file.name.span();
    let name = file.name.into_inner();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return fail(
            name_span,
            "name: letters, digits, `-` and `_` only (it names the result's folder)",
        );
    }
    let scenario_span = file.scenario.span();
    let scenario = ScenarioId::parse(file.scenario.get_ref())
        .ok_or_else(|| (Some(scenario_span), "scenario: one of s1…s8".to_owned()))?;
    let rounds = rounds(file.modes, file.variants)?;
    let load = load_shape(file.rate, file.duration, file.burst, scenario)?;
    let grace = optional_duration(file.grace, DEFAULT_GRACE, "grace")?;
    let timeout = optional_duration(file.timeout, DEFAULT_TIMEOUT, "timeout")?;
    let knobs = knob_map(&file.setup.knobs);
    let lane_modes: Vec<Mode> = rounds
        .iter()
        .flat_map(|r| r.lanes.iter().map(|l| l.mode))
        .collect();
    let mut steps = Vec::with_capacity(file.steps.len());
    for step in file.steps {
        let span = step.span();
        steps.push(self::step(step.into_inner(), &lane_modes).map_err(|m| (Some(span), m))?);
    }
    steps.sort_by_key(|s| s.at);
    let keys: Vec<String> = rounds
        .iter()
        .flat_map(|r| r.lanes.iter().map(|l| l.key.clone()))
        .collect();
    let mut thresholds = Vec::new();
    for (key, exprs) in file.thresholds {
        for expr in exprs {
            let span = expr.span();
            if key != "all" && !keys.contains(&key) {
                return fail(
                    span,
                    format!(
                        "thresholds.{key}: not a mode or variant of this experiment (use {} or all)",
                        keys.join(", ")
                    ),
                );
            }
            let parsed = Threshold::parse(&key, expr.get_ref()).map_err(|m| (Some(span), m))?;
            thresholds.push(parsed);
        }
    }
    let mut invariants = Vec::new();
    for name in file.invariants {
        match name.get_ref().as_str() {
            "stock" => invariants.push(InvariantCheck::Stock),
            other => {
                return fail(
                    name.span(),
                    format!("invariant `{other}`: the one known is `stock`"),
                );
            }
        }
    }
    Ok(Experiment {
        name,
        lesson: file.lesson,
        scenario,
        rounds,
        load,
        uncapped: file.uncapped,
        reset: file.setup.reset.unwrap_or(true),
        restock: file.setup.restock.unwrap_or(0),
        knobs,
        steps,
        grace,
        timeout,
        thresholds,
        invariants,
    })
}

fn mode_of(word: &str) -> Result<Mode, String> {
    match word {
        "sync" => Ok(Mode::Sync),
        "async" => Ok(Mode::Async),
        other => Err(format!("`{other}`: a mode is sync or async")),
    }
}

fn rounds(
    modes: Option<Spanned<ModesField>>,
    variants: Vec<Spanned<VariantFile>>,
) -> Checked<Vec<Round>> {
    if !variants.is_empty() {
        if let Some(modes) = modes {
            return fail(modes.span(), "give `modes` or `variants`, not both");
        }
        let mut rounds = Vec::new();
        let mut seen = Vec::new();
        for variant in variants {
            let span = variant.span();
            let v = variant.into_inner();
            let mode = mode_of(&v.mode).map_err(|m| (Some(span.clone()), format!("mode {m}")))?;
            if v.name.is_empty() || ["sync", "async", "all"].contains(&v.name.as_str()) {
                return fail(
                    span,
                    "a variant's name must be set, and not sync, async or all",
                );
            }
            if seen.contains(&v.name) {
                return fail(span, format!("variant `{}` is named twice", v.name));
            }
            seen.push(v.name.clone());
            rounds.push(Round {
                lanes: vec![Lane {
                    key: v.name,
                    mode,
                    knobs: knob_map(&v.knobs),
                }],
            });
        }
        return Ok(rounds);
    }
    let words = match modes.as_ref().map(|m| (m.get_ref(), m.span())) {
        None => vec!["both".to_owned()],
        Some((ModesField::One(word), _)) => vec![word.clone()],
        Some((ModesField::Many(words), _)) => words.clone(),
    };
    let span = modes.as_ref().map(|m| m.span());
    let mut lanes: Vec<Lane> = Vec::new();
    for word in &words {
        let picked: Vec<Mode> = if word == "both" {
            Mode::ALL.to_vec()
        } else {
            vec![mode_of(word).map_err(|m| (span.clone(), format!("modes: {m} (or both)")))?]
        };
        for mode in picked {
            if lanes.iter().all(|l| l.mode != mode) {
                lanes.push(Lane {
                    key: mode.as_str().to_owned(),
                    mode,
                    knobs: serde_json::Map::new(),
                });
            }
        }
    }
    if lanes.is_empty() {
        return Err((span, "modes: at least one of sync, async".into()));
    }
    Ok(vec![Round { lanes }])
}

fn load_shape(
    rate: Option<Spanned<f64>>,
    duration: Option<Spanned<String>>,
    burst: Option<Spanned<u32>>,
    scenario: ScenarioId,
) -> Checked<LoadShape> {
    match (burst, rate, duration) {
        (Some(burst), None, None) => match burst.get_ref() {
            1..=10_000 => Ok(LoadShape::Burst {
                requests: *burst.get_ref(),
            }),
            _ => fail(burst.span(), "burst: 1 to 10000 requests"),
        },
        (Some(burst), _, _) => fail(
            burst.span(),
            "burst replaces rate and duration: give one or the other",
        ),
        (None, rate, Some(duration)) => {
            let span = duration.span();
            let duration = parse_duration(duration.get_ref())
                .map_err(|m| (Some(span.clone()), format!("duration: {m}")))?;
            if duration.is_zero() || duration > MAX_DURATION {
                return fail(span, "duration: more than 0 and at most 1h");
            }
            let rate = match rate {
                Some(rate) if rate.get_ref().is_finite() && *rate.get_ref() > 0.0 => {
                    *rate.get_ref()
                }
                Some(rate) => return fail(rate.span(), "rate: requests per second, more than 0"),
                None => scenario::get(scenario).default_rate,
            };
            Ok(LoadShape::Rate { rate, duration })
        }
        (None, Some(rate), None) => {
            fail(rate.span(), "rate needs a duration (`duration = \"30s\"`)")
        }
        (None, None, None) => Err((
            None,
            "the load: give `rate` and `duration`, or `burst`".into(),
        )),
    }
}

fn optional_duration(
    text: Option<Spanned<String>>,
    default: Duration,
    what: &str,
) -> Checked<Duration> {
    let Some(text) = text else { return Ok(default) };
    let span = text.span();
    match parse_duration(text.get_ref()) {
        Ok(d) if d <= MAX_DURATION => Ok(d),
        Ok(_) => fail(span, format!("{what}: at most 1h")),
        Err(m) => fail(span, format!("{what}: {m}")),
    }
}

fn step(file: StepFile, lane_modes: &[Mode]) -> Result<Step, String> {
    let at = parse_duration(&file.at).map_err(|m| format!("at: {m}"))?;
    let until = match &file.until {
        Some(text) => {
            let until = parse_duration(text).map_err(|m| format!("until: {m}"))?;
            if until <= at {
                return Err(format!("until ({text}) must come after at ({})", file.at));
            }
            Some(until)
        }
        None => None,
    };
    let mode = match file.mode.as_deref() {
        None | Some("both") => None,
        Some(word) => {
            let mode = mode_of(word)?;
            if !lane_modes.contains(&mode) {
                return Err(format!("mode {word}: the experiment does not run it"));
            }
            Some(mode)
        }
    };
    let word = file.action.as_str();
    let allowed: &[&str] = match word {
        "latency" => &["ms", "jitter_ms", "route"],
        "errors" => &["share", "status", "route"],
        "slow-consumer" => &["ms"],
        "knob" => &["knobs"],
        "rate" => &["rate"],
        "purge" => &["queue"],
        _ => &[],
    };
    let given = [
        ("ms", file.ms.is_some()),
        ("jitter_ms", file.jitter_ms.is_some()),
        ("share", file.share.is_some()),
        ("status", file.status.is_some()),
        ("route", file.route.is_some()),
        ("knobs", !file.knobs.is_empty()),
        ("rate", file.rate.is_some()),
        ("queue", file.queue.is_some()),
    ];
    if let Some((field, _)) = given.iter().find(|(f, set)| *set && !allowed.contains(f)) {
        return Err(format!("action {word} takes no `{field}`"));
    }
    let service = || -> Result<String, String> {
        let target = file.target.clone().ok_or_else(|| {
            format!("action {word} needs a `target` (a service, or rabbitmq/postgres)")
        })?;
        let known = INFRA.contains(&target.as_str())
            || Service::ALL
                .iter()
                .any(|s| *s != Service::Gateway && s.name() == target);
        if !known {
            return Err(format!(
                "target `{target}`: a service (user, payment, product, report, order, analytics, \
                 email, search, cache, inventory) or rabbitmq, postgres, gateway"
            ));
        }
        Ok(target)
    };
    let needs_until = |what: &str| {
        if until.is_none() {
            Err(format!("{what} needs `until` (when its dose ends)"))
        } else {
            Ok(())
        }
    };
    let action = match word {
        "latency" => {
            needs_until("latency")?;
            let ms = file
                .ms
                .filter(|ms| *ms > 0)
                .ok_or("latency needs `ms` above 0")?;
            Action::Fault {
                service: service()?,
                kind: FaultKind::Latency {
                    ms,
                    jitter_ms: file.jitter_ms.unwrap_or(0),
                },
                route: file.route.clone(),
            }
        }
        "errors" => {
            needs_until("errors")?;
            let rate = file.share.unwrap_or(1.0);
            if !(rate > 0.0 && rate <= 1.0) {
                return Err("errors: `share` within (0, 1]".into());
            }
            let status = file.status.unwrap_or(503);
            if !(400..=599).contains(&status) {
                return Err("errors: `status` 400–599".into());
            }
            Action::Fault {
                service: service()?,
                kind: FaultKind::Errors { rate, status },
                route: file.route.clone(),
            }
        }
        "slow-consumer" => {
            needs_until("slow-consumer")?;
            let ms = file
                .ms
                .filter(|ms| *ms > 0)
                .ok_or("slow-consumer needs `ms` above 0")?;
            Action::Fault {
                service: service()?,
                kind: FaultKind::SlowConsumer { ms },
                route: None,
            }
        }
        "partition" => {
            needs_until("partition")?;
            Action::Fault {
                service: service()?,
                kind: FaultKind::Partition,
                route: None,
            }
        }
        "kill" | "stop" | "pause" if until.is_some() => Action::Fault {
            service: service()?,
            kind: match word {
                "kill" => FaultKind::Kill,
                "stop" => FaultKind::Stop,
                _ => FaultKind::Pause,
            },
            route: None,
        },
        "kill" | "stop" | "start" | "pause" | "unpause" | "restart" => {
            if until.is_some() {
                return Err(format!("{word} takes no `until`"));
            }
            Action::Container {
                service: service()?,
                verb: match word {
                    "kill" => ContainerAction::Kill,
                    "stop" => ContainerAction::Stop,
                    "start" => ContainerAction::Start,
                    "pause" => ContainerAction::Pause,
                    "unpause" => ContainerAction::Unpause,
                    _ => ContainerAction::Restart,
                },
            }
        }
        "knob" => {
            if file.knobs.is_empty() {
                return Err("knob needs `knobs = { name = value }`".into());
            }
            Action::Knobs {
                service: file.target.as_ref().map(|_| service()).transpose()?,
                knobs: knob_map(&file.knobs),
            }
        }
        "rate" => match file.rate {
            Some(rate) if rate.is_finite() && rate > 0.0 => Action::Rate(rate),
            _ => return Err("rate needs `rate` above 0 (requests per second)".into()),
        },
        "purge" => {
            if until.is_some() {
                return Err("purge takes no `until`".into());
            }
            Action::Purge {
                queue: file.queue.clone().ok_or("purge needs `queue`")?,
            }
        }
        other => {
            return Err(format!(
                "action `{other}`: one of latency, errors, slow-consumer, partition, kill, stop, \
                 start, pause, unpause, restart, knob, rate, purge"
            ));
        }
    };
    if let Action::Fault { service, kind, .. } = &action {
        for m in mode.map_or_else(|| lane_modes.to_vec(), |m| vec![m]) {
            crate::faults::control::check(&Step::target(service, m), kind)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(Step {
        at,
        until,
        mode,
        action,
    })
}

fn knob_map(table: &toml::Table) -> serde_json::Map<String, serde_json::Value> {
    table
        .iter()
        .map(|(k, v)| (k.clone(), toml_to_json(v)))
        .collect()
}

fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// `30s`, `1.5s`, `500ms`, `2m`: a unit is required (a bare `10` could mean either).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::units::duration(text, false)
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
