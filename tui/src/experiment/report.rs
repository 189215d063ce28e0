//! What a run leaves on disk: `result.json`, `report.md` (for a newcomer on GitHub) and
//! `timeline.svg` (four panels on one time axis, every event a vertical line), each written
//! atomically. The figures and their formatting here are shared with [`super::compare`], so
//! a report and a comparison never describe the same number in two ways.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use super::chart::timeline_svg;
use super::result::{Environment, Event, ModeResult, RunResult, Verdict};
use crate::load::stats::format_latency;

/// Writes `result.json`, `report.md` and `timeline.svg` into `dir` (created with its parents)
/// and returns their paths. `result.json` goes first: it is the record the other two (and
/// `ms-tui compare`) are derived from.
pub fn write(dir: &Path, result: &RunResult) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the result folder {}", dir.display()))?;
    let json = serde_json::to_string_pretty(result).context("serialising the result")?;
    let mut written = Vec::with_capacity(3);
    written.push(write_atomic(&dir.join("result.json"), json.as_bytes())?);
    written.push(write_atomic(
        &dir.join("report.md"),
        markdown(result).as_bytes(),
    )?);
    let svg = timeline_svg(result)?;
    written.push(write_atomic(&dir.join("timeline.svg"), svg.as_bytes())?);
    Ok(written)
}

/// Writes to a hidden `.NAME.tmp` beside `path`, then renames it over `path`: a rename within
/// a folder is atomic, so a run killed mid-write leaves the old file or none, never half of one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<PathBuf> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    let attempt = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        // Without it a crash after the rename can still leave an empty file on some filesystems.
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = attempt() {
        // Best effort: the error that matters is the write's, not the clean-up's.
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(path.to_path_buf())
}

// ---------------------------------------------------------------------------------------------
// Figures and their formatting (shared with compare).

/// The mode keys in the order they ran, then any key the result holds that `order` forgot:
/// a hand-edited or partial result still shows everything it has.
pub(crate) fn mode_keys(result: &RunResult) -> Vec<&str> {
    let mut keys: Vec<&str> = Vec::new();
    let extra = result.modes.keys().chain(result.series.keys());
    for key in result.order.iter().chain(extra) {
        if !keys.contains(&key.as_str()) {
            keys.push(key);
        }
    }
    keys
}

/// A column heading: the key, with its mode when it is a variant's.
pub(crate) fn heading(key: &str, mode: Option<&ModeResult>) -> String {
    match mode {
        Some(m) if !m.mode.is_empty() && m.mode != key => format!("{key} ({})", m.mode),
        _ => key.to_owned(),
    }
}

/// One figure's value, typed so a comparison can subtract and a report can format it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Count(u64),
    PerSecond(f64),
    /// Already in percent.
    Percent(f64),
    /// `None`: not measured.
    Millis(Option<f64>),
    Recovery {
        seconds: Option<f64>,
        recovered: Option<bool>,
    },
    Refused(BTreeMap<String, u64>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Figure {
    pub name: &'static str,
    pub value: Value,
}

/// The figures of the report's side-by-side table, in its order.
pub(crate) fn figures(m: &ModeResult) -> Vec<Figure> {
    // Ack percentiles of a mode that sent nothing are zeros, not measurements.
    let ack = |v: f64| Value::Millis((m.sent > 0).then_some(v));
    let done = |pick: fn(&super::result::Latency) -> f64| Value::Millis(m.done.as_ref().map(pick));
    let fig = |name, value| Figure { name, value };
    vec![
        fig("sent", Value::Count(m.sent)),
        fig("target rate", Value::PerSecond(m.target_rate)),
        fig("achieved rate", Value::PerSecond(m.achieved_rate)),
        fig("accepted", Value::Count(m.accepted)),
        fig("completed", Value::Count(m.completed)),
        fig("lost", Value::Count(m.lost)),
        fig("duplicated", Value::Count(m.duplicated)),
        fig("degraded", Value::Count(m.degraded)),
        fig("refused", Value::Refused(m.refused.clone())),
        fig("error rate", Value::Percent(m.error_rate * 100.0)),
        fig("ack p50", ack(m.ack.p50_ms)),
        fig("ack p95", ack(m.ack.p95_ms)),
        fig("ack p99", ack(m.ack.p99_ms)),
        fig("ack max", ack(m.ack.max_ms)),
        fig("done p50", done(|l| l.p50_ms)),
        fig("done p95", done(|l| l.p95_ms)),
        fig("done p99", done(|l| l.p99_ms)),
        fig("done max", done(|l| l.max_ms)),
        fig("backlog at end", Value::Count(m.backlog_at_end)),
        fig(
            "recovery",
            Value::Recovery {
                seconds: m.recovery_s,
                recovered: m.recovered,
            },
        ),
    ]
}

impl Value {
    pub(crate) fn display(&self) -> String {
        match self {
            Value::Count(n) => n.to_string(),
            Value::PerSecond(r) => fmt_rate(*r),
            Value::Percent(p) => fmt_pct(*p),
            Value::Millis(Some(ms)) => fmt_ms(*ms),
            Value::Millis(None) => "—".to_owned(),
            Value::Recovery {
                seconds: Some(s), ..
            } => fmt_s(*s),
            Value::Recovery {
                recovered: Some(false),
                ..
            } => "not recovered".to_owned(),
            Value::Recovery { .. } => "—".to_owned(),
            Value::Refused(by_status) => fmt_refused(by_status),
        }
    }

    /// The value as a number to subtract, `None` when there is none.
    pub(crate) fn number(&self) -> Option<f64> {
        match self {
            Value::Count(n) => Some(*n as f64),
            Value::PerSecond(v) | Value::Percent(v) => Some(*v),
            Value::Millis(v) => *v,
            Value::Recovery { seconds, .. } => *seconds,
            Value::Refused(by_status) => Some(by_status.values().sum::<u64>() as f64),
        }
    }
}

/// `0.42 ms`, `12.3 ms`, `1.25 s`: the control room's own format. A value no duration can
/// hold (negative, NaN) is shown as unmeasured rather than trusted.
pub(crate) fn fmt_ms(ms: f64) -> String {
    match Duration::try_from_secs_f64(ms / 1000.0) {
        Ok(d) => format_latency(d),
        Err(_) => "—".to_owned(),
    }
}

pub(crate) fn fmt_pct(p: f64) -> String {
    format!("{p:.1} %")
}

pub(crate) fn fmt_rate(r: f64) -> String {
    format!("{r:.1}/s")
}

pub(crate) fn fmt_s(s: f64) -> String {
    format!("{s:.1} s")
}

/// `503×12 conn×3`, `—` when nothing was refused.
pub(crate) fn fmt_refused(by_status: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = by_status
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(status, n)| format!("{status}×{n}"))
        .collect();
    if parts.is_empty() {
        "—".to_owned()
    } else {
        parts.join(" ")
    }
}

/// A threshold's measured value in its unit: `12.3 ms`, `4.0 s`, `0.5 %`, `3`.
pub(crate) fn fmt_measured(value: Option<f64>, unit: &str) -> String {
    let Some(v) = value else {
        return "not measured".to_owned();
    };
    match unit {
        "ms" => fmt_ms(v),
        "s" => fmt_s(v),
        "%" => fmt_pct(v),
        _ if v.fract() == 0.0 => format!("{v:.0}"),
        _ => format!("{v}"),
    }
}

pub(crate) fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
    }
}

pub(crate) fn pass_word(pass: bool) -> &'static str {
    if pass { "✅ pass" } else { "❌ FAIL" }
}

// ---------------------------------------------------------------------------------------------
// report.md

/// `report.md`: the verdict and lesson first, then the figures side by side, the checks, how
/// loss was counted, what happened when, and what it ran on.
pub fn markdown(result: &RunResult) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the sections return fmt::Result only to use `?`.
    let _ = write_markdown(&mut out, result);
    out
}

fn write_markdown(out: &mut String, r: &RunResult) -> fmt::Result {
    let keys = mode_keys(r);
    md_header(out, r)?;
    md_figures(out, r, &keys)?;
    md_thresholds(out, r)?;
    md_invariants(out, r)?;
    md_loss(out, r, &keys)?;
    md_events(out, &r.events)?;
    md_environment(out, &r.environment)
}

fn md_header(out: &mut String, r: &RunResult) -> fmt::Result {
    let mark = match r.verdict {
        Verdict::Pass => "✅",
        Verdict::Fail => "❌",
    };
    writeln!(
        out,
        "# Experiment `{}`: {mark} {}\n",
        r.experiment,
        verdict_word(r.verdict)
    )?;
    if r.interrupted {
        writeln!(
            out,
            "> **⚠️ INTERRUPTED — partial figures.** The run was stopped before the end: \
             every figure below covers only what ran, and the verdict judges that part.\n"
        )?;
    }
    writeln!(out, "**Lesson:** {}\n", cell(&r.lesson))?;
    writeln!(
        out,
        "Scenario `{}`, from {} to {} (UTC).\n",
        r.scenario, r.started_at, r.ended_at
    )?;
    writeln!(out, "![timeline](timeline.svg)\n")
}

fn md_figures(out: &mut String, r: &RunResult, keys: &[&str]) -> fmt::Result {
    writeln!(out, "## Figures\n")?;
    let keyed: Vec<(&str, &ModeResult)> = keys
        .iter()
        .filter_map(|k| r.modes.get(*k).map(|m| (*k, m)))
        .collect();
    if keyed.is_empty() {
        return writeln!(out, "No mode ran.\n");
    }
    let headings: Vec<String> = keyed.iter().map(|(k, m)| heading(k, Some(m))).collect();
    writeln!(out, "| figure | {} |", headings.join(" | "))?;
    writeln!(out, "|---|{}", "---:|".repeat(keyed.len()))?;
    let columns: Vec<Vec<Figure>> = keyed.iter().map(|(_, m)| figures(m)).collect();
    let names = columns
        .first()
        .map(|c| c.iter().map(|f| f.name))
        .into_iter();
    for (row, name) in names.flatten().enumerate() {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| c.get(row).map(|f| f.value.display()).unwrap_or_default())
            .collect();
        writeln!(out, "| {name} | {} |", cells.join(" | "))?;
    }
    md_variant_knobs(out, &keyed)?;
    writeln!(
        out,
        "\n*ack*: time to the answer. *done*: time to the flow's effect, from the intended \
         send time. *lost*: accepted but never completed; *duplicated*: completed more than \
         once; *degraded*: a 2xx whose body says part of the work failed; *backlog*: messages \
         still in the scenario's queues at the end. *recovery*: from the last fault's revert to the first \
         second back within bounds.\n"
    )
}

/// The knob settings of variants, under the table: a variant is only as meaningful as the
/// settings that make it one.
fn md_variant_knobs(out: &mut String, keyed: &[(&str, &ModeResult)]) -> fmt::Result {
    for (key, m) in keyed.iter().filter(|(_, m)| !m.knobs.is_empty()) {
        writeln!(out, "\n`{key}` knobs: {}", fmt_knobs(&m.knobs))?;
    }
    Ok(())
}

fn md_thresholds(out: &mut String, r: &RunResult) -> fmt::Result {
    writeln!(out, "## Thresholds\n")?;
    if r.thresholds.is_empty() {
        return writeln!(out, "None set.\n");
    }
    writeln!(out, "| mode | threshold | measured | result |")?;
    writeln!(out, "|---|---|---:|---|")?;
    for t in &r.thresholds {
        writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            cell(&t.mode),
            cell(&t.expr),
            fmt_measured(t.value, &t.unit),
            pass_word(t.pass)
        )?;
    }
    writeln!(out)
}

fn md_invariants(out: &mut String, r: &RunResult) -> fmt::Result {
    writeln!(out, "## Invariants\n")?;
    if r.invariants.is_empty() {
        return writeln!(out, "None checked.\n");
    }
    writeln!(out, "| invariant | mode | result | detail |")?;
    writeln!(out, "|---|---|---|---|")?;
    for i in &r.invariants {
        writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(&i.name),
            cell(&i.mode),
            pass_word(i.pass),
            cell(&i.detail)
        )?;
    }
    writeln!(out)
}

fn md_loss(out: &mut String, r: &RunResult, keys: &[&str]) -> fmt::Result {
    writeln!(out, "## Loss accounting\n")?;
    let keyed: Vec<(&str, &ModeResult)> = keys
        .iter()
        .filter_map(|k| r.modes.get(*k).map(|m| (*k, m)))
        .collect();
    if keyed.is_empty() {
        return writeln!(out, "No mode ran.\n");
    }
    for (key, m) in &keyed {
        let source = if m.loss_source.is_empty() {
            "not stated"
        } else {
            &m.loss_source
        };
        writeln!(out, "- `{key}` counts from {source}.")?;
    }
    for (key, m) in &keyed {
        if let [first, second] = &m.loss_by_source[..] {
            md_loss_sources(out, key, m, first, second)?;
        }
    }
    writeln!(out)
}

fn md_loss_sources(
    out: &mut String,
    key: &str,
    m: &ModeResult,
    first: &super::result::LossCount,
    second: &super::result::LossCount,
) -> fmt::Result {
    writeln!(out, "\n`{key}`, both sources:\n")?;
    writeln!(out, "| source | counted | completed | lost | duplicated |")?;
    writeln!(out, "|---|---|---:|---:|---:|")?;
    for s in [first, second] {
        let used = if m.loss_source.starts_with(&s.source) && !s.source.is_empty() {
            " (used)"
        } else {
            ""
        };
        writeln!(
            out,
            "| {}{used} | {} | {} | {} | {} |",
            cell(&s.source),
            cell(&s.detail),
            s.completed,
            s.lost,
            s.duplicated
        )?;
    }
    let agree = (first.completed, first.lost, first.duplicated)
        == (second.completed, second.lost, second.duplicated);
    if !agree {
        writeln!(
            out,
            "\n**The sources disagree** for `{key}`: {} counts {} lost and {} duplicated, {} \
             counts {} lost and {} duplicated. One of them missed flows the other saw (a \
             dropped telemetry event, or a row written without its correlation id); the \
             figures above use {}.",
            first.source,
            first.lost,
            first.duplicated,
            second.source,
            second.lost,
            second.duplicated,
            if m.loss_source.is_empty() {
                "the chosen source"
            } else {
                &m.loss_source
            }
        )?;
    }
    Ok(())
}

fn md_events(out: &mut String, events: &[Event]) -> fmt::Result {
    writeln!(out, "## Events\n")?;
    if events.is_empty() {
        return writeln!(out, "None.\n");
    }
    writeln!(out, "| t (s) | kind | target | detail |")?;
    writeln!(out, "|---:|---|---|---|")?;
    for e in events {
        writeln!(
            out,
            "| {:.1} | {} | {} | {} |",
            e.t_s,
            cell(&e.kind),
            if e.target.is_empty() {
                "—".to_owned()
            } else {
                cell(&e.target)
            },
            cell(&e.detail)
        )?;
    }
    writeln!(out)
}

pub(crate) fn md_environment(out: &mut String, env: &Environment) -> fmt::Result {
    writeln!(out, "## Environment\n")?;
    writeln!(
        out,
        "- git `{}`, `{}` build, ms-tui {}",
        env.git_sha, env.build_profile, env.ms_tui_version
    )?;
    writeln!(
        out,
        "- {} CPUs, host load {:.2} at the start, timer floor {} (latencies below it are noise)",
        env.cpus,
        env.host_load,
        fmt_ms(env.timer_floor_ms)
    )?;
    writeln!(
        out,
        "- knobs: {}",
        grouped(&env.knobs, |v| format!("`{v}`"))
    )?;
    let images: BTreeMap<String, serde_json::Value> = env
        .images
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    writeln!(
        out,
        "- images: {}",
        grouped(&images, |v| v.as_str().unwrap_or_default().to_owned())
    )
}

/// Containers that share a value are listed once, after it (`the same on 20 containers: …`):
/// twenty services with the same knobs were a page of the same JSON.
fn grouped(
    by_container: &BTreeMap<String, serde_json::Value>,
    show: impl Fn(&serde_json::Value) -> String,
) -> String {
    if by_container.is_empty() {
        return "none recorded".to_owned();
    }
    let mut groups: Vec<(&serde_json::Value, Vec<&str>)> = Vec::new();
    for (container, value) in by_container {
        match groups.iter_mut().find(|(v, _)| *v == value) {
            Some((_, names)) => names.push(container),
            None => groups.push((value, vec![container])),
        }
    }
    let parts: Vec<String> = groups
        .into_iter()
        .map(|(value, names)| {
            let who = if names.len() > 3 {
                format!("{} containers", names.len())
            } else {
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            format!("{} on {who}", show(value))
        })
        .collect();
    parts.join("; ")
}

/// `` `async/email` {"delay_ms":0}, … `` — compact JSON keeps a knob on one line.
pub(crate) fn fmt_knobs(knobs: &BTreeMap<String, serde_json::Value>) -> String {
    if knobs.is_empty() {
        return "none".to_owned();
    }
    let parts: Vec<String> = knobs.iter().map(|(k, v)| format!("`{k}` `{v}`")).collect();
    parts.join(", ")
}

/// A table cell: a `|` would end the cell and a newline the row.
pub(crate) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

// ---------------------------------------------------------------------------------------------
// timeline.svg

#[cfg(test)]
#[path = "report_tests.rs"]
pub(crate) mod tests;
