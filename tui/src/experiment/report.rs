//! What a run leaves on disk: `result.json`, `report.md` (for a newcomer on GitHub) and
//! `timeline.svg` (four panels on one time axis, every event a vertical line), each written
//! atomically. The figures and their formatting here are shared with [`super::compare`], so
//! a report and a comparison never describe the same number in two ways.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::result::{Environment, Event, ModeResult, RunResult, SecondRow, Verdict};
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
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<PathBuf> {
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
         once; *degraded*: a 2xx whose body says part of the work failed; *backlog*: accepted \
         and still waiting at the end. *recovery*: from the last fault's revert to the first \
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

fn md_environment(out: &mut String, env: &Environment) -> fmt::Result {
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
    writeln!(out, "- knobs: {}", fmt_knobs(&env.knobs))?;
    let images: Vec<String> = env
        .images
        .iter()
        .map(|(k, v)| format!("`{k}` {v}"))
        .collect();
    writeln!(
        out,
        "- images: {}",
        if images.is_empty() {
            "none recorded".to_owned()
        } else {
            images.join(", ")
        }
    )
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
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

// ---------------------------------------------------------------------------------------------
// timeline.svg

const SIZE: (u32, u32) = (1000, 900);
const FONT: &str = "sans-serif";
/// The log axis' floor: a zero (or a sub-microsecond timer artefact) is drawn on it.
const LOG_FLOOR_MS: f64 = 0.01;
/// The column beside each panel that holds its key.
const KEY_WIDTH: i32 = 170;

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Chart<'a, 'b, Y> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;

/// One line per mode in a panel: which figure of a second, and how it is drawn.
struct Line {
    name: &'static str,
    pick: fn(&SecondRow) -> Option<f64>,
    dashed: bool,
    thick: bool,
}

/// What every panel shares: the modes with their colours and the time axis.
struct Frame<'r> {
    result: &'r RunResult,
    modes: Vec<(&'r str, RGBColor)>,
    x: Range<f64>,
}

/// `timeline.svg`: ack and done latency (log scale: a 1 ms async line and a 2 s sync line
/// both stay readable), throughput, errors and queue depth per second, one colour per mode,
/// every event a labelled vertical line across the panels.
pub fn timeline_svg(result: &RunResult) -> anyhow::Result<String> {
    let frame = Frame {
        result,
        modes: mode_colours(result),
        x: time_axis(result),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!(
            "{} ({}): {}{}",
            result.experiment,
            result.scenario,
            verdict_word(result.verdict),
            if result.interrupted {
                " — INTERRUPTED, partial"
            } else {
                ""
            }
        );
        let body = root.titled(&title, (FONT, 18))?;
        let panels = body.split_evenly((4, 1));
        let [latency, throughput, errors, queues] = &panels[..] else {
            anyhow::bail!("the timeline's layout did not split into four panels");
        };
        latency_panel(latency, &frame)?;
        throughput_panel(throughput, &frame)?;
        errors_panel(errors, &frame)?;
        queue_panel(queues, &frame)?;
        root.present()?;
    }
    Ok(svg)
}

/// The series' seconds and the events' instants, so a setup event before the load and a
/// revert after it are both on the axis; never an empty range.
fn time_axis(r: &RunResult) -> Range<f64> {
    let times = r
        .series
        .values()
        .flatten()
        .map(|row| row.t_s)
        .chain(r.events.iter().map(|e| e.t_s))
        .filter(|t| t.is_finite());
    let (lo, hi) = times.fold((0.0_f64, 0.0_f64), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let hi = if hi - lo < 1.0 { lo + 1.0 } else { hi };
    lo..hi
}

/// Sync warm, async cool; each variant a further shade of its mode's family, so a variant
/// reads as belonging to its mode and the colours stay the same from one run to the next.
fn mode_colours(r: &RunResult) -> Vec<(&str, RGBColor)> {
    const WARM: [RGBColor; 4] = [
        RGBColor(214, 39, 40),
        RGBColor(140, 86, 75),
        RGBColor(188, 140, 0),
        RGBColor(227, 119, 194),
    ];
    const COOL: [RGBColor; 4] = [
        RGBColor(23, 170, 190),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(57, 59, 121),
    ];
    let (mut warm, mut cool) = (WARM.iter().cycle(), COOL.iter().cycle());
    mode_keys(r)
        .into_iter()
        .map(|key| {
            let mode = r.modes.get(key).map_or(key, |m| m.mode.as_str());
            let colour = match (key, mode) {
                ("sync", _) => Some(RGBColor(230, 110, 0)),
                ("async", _) => Some(RGBColor(31, 100, 200)),
                (_, "sync") => warm.next().copied(),
                _ => cool.next().copied(),
            };
            (key, colour.unwrap_or(BLACK))
        })
        .collect()
}

fn latency_panel(area: &Area, f: &Frame) -> anyhow::Result<()> {
    let lines = [
        Line {
            name: "ack p50",
            pick: |r| r.ack_p50_ms,
            dashed: false,
            thick: false,
        },
        Line {
            name: "ack p99",
            pick: |r| r.ack_p99_ms,
            dashed: false,
            thick: true,
        },
        Line {
            name: "done p99",
            pick: |r| r.done_p99_ms,
            dashed: true,
            thick: true,
        },
    ];
    let (lo, hi) = log_bounds(f, &lines);
    let (plot, key) = split_key(area);
    let mut chart = chart_builder(&plot, "latency per second (log scale)")
        .build_cartesian_2d(f.x.clone(), (lo..hi).log_scale())?;
    draw_mesh(&mut chart, &|v| fmt_ms(*v))?;
    let keys = plot_lines(&mut chart, f, &lines, lo)?;
    draw_events(&mut chart, f, lo..hi, true)?;
    draw_key(&key, &keys)
}

fn throughput_panel(area: &Area, f: &Frame) -> anyhow::Result<()> {
    let lines = [
        Line {
            name: "accepted/s",
            pick: |r| Some(r.accepted as f64),
            dashed: false,
            thick: true,
        },
        Line {
            name: "completed/s",
            pick: |r| Some(r.completed as f64),
            dashed: true,
            thick: true,
        },
    ];
    linear_panel(area, f, "throughput per second", &lines)
}

fn errors_panel(area: &Area, f: &Frame) -> anyhow::Result<()> {
    let lines = [Line {
        name: "errors/s",
        pick: |r| Some(r.errors as f64),
        dashed: false,
        thick: true,
    }];
    linear_panel(area, f, "errors per second", &lines)
}

fn queue_panel(area: &Area, f: &Frame) -> anyhow::Result<()> {
    let lines = [Line {
        name: "queue depth",
        pick: |r| r.queue_depth.map(|d| d as f64),
        dashed: false,
        thick: true,
    }];
    let probed = f
        .result
        .series
        .values()
        .flatten()
        .any(|r| r.queue_depth.is_some());
    let caption = if probed {
        "ready messages in the scenario's queues"
    } else {
        "ready messages in the scenario's queues (not probed)"
    };
    linear_panel(area, f, caption, &lines)
}

fn linear_panel(area: &Area, f: &Frame, caption: &str, lines: &[Line]) -> anyhow::Result<()> {
    let top = values(f, lines).fold(0.0_f64, f64::max);
    let hi = (top * 1.15).max(1.0);
    let (plot, key) = split_key(area);
    let mut chart = chart_builder(&plot, caption).build_cartesian_2d(f.x.clone(), 0.0..hi)?;
    draw_mesh(&mut chart, &fmt_axis_count)?;
    let keys = plot_lines(&mut chart, f, lines, 0.0)?;
    draw_events(&mut chart, f, 0.0..hi, false)?;
    draw_key(&key, &keys)
}

/// The key goes in its own column beside each panel: drawn over the plot it would hide the
/// very seconds a fault makes interesting. Every panel is split alike, so the time axes align.
fn split_key<'a>(area: &Area<'a>) -> (Area<'a>, Area<'a>) {
    let width = i32::try_from(area.dim_in_pixel().0).unwrap_or(i32::MAX);
    area.split_horizontally((width - KEY_WIDTH).max(width / 2))
}

fn chart_builder<'a, 'b>(
    area: &'a Area<'b>,
    caption: &str,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin(6)
        .caption(caption, (FONT, 14))
        .x_label_area_size(20)
        .y_label_area_size(70);
    builder
}

fn draw_mesh<Y>(
    chart: &mut Chart<'_, '_, Y>,
    y_label: &dyn Fn(&f64) -> String,
) -> anyhow::Result<()>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .light_line_style(BLACK.mix(0.04))
        .bold_line_style(BLACK.mix(0.15))
        .y_labels(6)
        .y_label_formatter(y_label)
        .x_label_formatter(&|t| format!("{t:.0} s"))
        .draw()?;
    Ok(())
}

/// Whole counts as such; a short axis (errors in 0..1) gets its tenths instead of ten zeros
/// and ones.
fn fmt_axis_count(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Every finite value the panel's lines will draw.
fn values<'f>(f: &'f Frame, lines: &'f [Line]) -> impl Iterator<Item = f64> + 'f {
    f.result
        .series
        .values()
        .flatten()
        .flat_map(move |row| lines.iter().filter_map(move |l| (l.pick)(row)))
        .filter(|v| v.is_finite())
}

/// A log axis from a little below the smallest positive value to a little above the largest,
/// spanning at least a decade so a flat line is not magnified into noise.
fn log_bounds(f: &Frame, lines: &[Line]) -> (f64, f64) {
    let (min, max) = values(f, lines)
        .filter(|v| *v > 0.0)
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if max <= 0.0 {
        return (0.1, 10.0);
    }
    let lo = (min / 1.5).max(LOG_FLOOR_MS);
    let hi = (max * 1.5).max(lo * 10.0);
    (lo, hi)
}

/// One entry of a panel's key.
struct Key {
    label: String,
    style: ShapeStyle,
    dashed: bool,
}

/// Draws each line of each mode, split where a second has no value (a gap, not a slope to
/// zero); values below `floor` sit on it. Returns the key entries of the lines drawn.
fn plot_lines<Y>(
    chart: &mut Chart<'_, '_, Y>,
    f: &Frame,
    lines: &[Line],
    floor: f64,
) -> anyhow::Result<Vec<Key>>
where
    Y: Ranged<ValueType = f64>,
{
    let mut keys = Vec::new();
    for (mode, colour) in &f.modes {
        let Some(rows) = f.result.series.get(*mode) else {
            continue;
        };
        for line in lines {
            let style = if line.thick {
                colour.stroke_width(2)
            } else {
                colour.mix(0.6).stroke_width(1)
            };
            let segments = segments(rows, line.pick, floor);
            if segments.is_empty() {
                continue;
            }
            plot_segments(chart, &segments, style, line.dashed)?;
            keys.push(Key {
                label: format!("{mode} {}", line.name),
                style,
                dashed: line.dashed,
            });
        }
    }
    Ok(keys)
}

fn segments(
    rows: &[SecondRow],
    pick: fn(&SecondRow) -> Option<f64>,
    floor: f64,
) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current = Vec::new();
    for row in rows {
        match pick(row).filter(|v| v.is_finite() && row.t_s.is_finite()) {
            Some(v) => current.push((row.t_s, v.max(floor))),
            None if !current.is_empty() => out.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A lone point gets a dot, since a one-point path draws nothing.
fn plot_segments<Y>(
    chart: &mut Chart<'_, '_, Y>,
    segments: &[Vec<(f64, f64)>],
    style: ShapeStyle,
    dashed: bool,
) -> anyhow::Result<()>
where
    Y: Ranged<ValueType = f64>,
{
    for seg in segments {
        if dashed && seg.len() > 1 {
            chart.draw_series(DashedLineSeries::new(seg.iter().copied(), 6, 4, style))?;
        } else {
            let point = if seg.len() == 1 { 2 } else { 0 };
            chart.draw_series(LineSeries::new(seg.iter().copied(), style).point_size(point))?;
        }
    }
    Ok(())
}

fn draw_key(area: &Area, keys: &[Key]) -> anyhow::Result<()> {
    let text = TextStyle::from((FONT, 11).into_font()).color(&BLACK);
    for (i, key) in keys.iter().enumerate() {
        let y = 30 + 15 * i32::try_from(i).unwrap_or(i32::MAX / 16);
        let sample = [(6, y), (30, y)];
        if key.dashed {
            area.draw(&DashedPathElement::new(sample, 5, 3, key.style))?;
        } else {
            area.draw(&PathElement::new(sample, key.style))?;
        }
        area.draw_text(&key.label, &text, (36, y - 6))?;
    }
    Ok(())
}

/// Each event a vertical line over the whole panel; its label (`fault async/email`) only on
/// the top panel, staggered over three rows so events a second apart stay legible.
fn draw_events<Y>(
    chart: &mut Chart<'_, '_, Y>,
    f: &Frame,
    y: Range<f64>,
    labels: bool,
) -> anyhow::Result<()>
where
    Y: Ranged<ValueType = f64>,
{
    for (i, event) in f.result.events.iter().enumerate() {
        if !event.t_s.is_finite() {
            continue;
        }
        let colour = event_colour(&event.kind);
        let style = colour.stroke_width(1);
        let points = [(event.t_s, y.start), (event.t_s, y.end)];
        if event.kind == "revert" {
            chart.draw_series(DashedLineSeries::new(points, 5, 3, style))?;
        } else {
            chart.draw_series(LineSeries::new(points, style))?;
        }
        if labels {
            let dy = 2 + 12 * (i % 3) as i32;
            // Near the right edge the label would run into the key: it goes left of its line.
            let width = f.x.end - f.x.start;
            let (anchor, dx) = if (event.t_s - f.x.start) > 0.8 * width {
                (HPos::Right, -3)
            } else {
                (HPos::Left, 3)
            };
            let text = TextStyle::from((FONT, 11).into_font())
                .color(&colour)
                .pos(Pos::new(anchor, VPos::Top));
            chart.plotting_area().draw(
                &(EmptyElement::at((event.t_s, y.end))
                    + Text::new(event_label(event), (dx, dy), text)),
            )?;
        }
    }
    Ok(())
}

fn event_label(event: &Event) -> String {
    if event.target.is_empty() {
        event.kind.clone()
    } else {
        format!("{} {}", event.kind, event.target)
    }
}

fn event_colour(kind: &str) -> RGBColor {
    match kind {
        "fault" | "error" => RGBColor(200, 0, 0),
        "revert" => RGBColor(0, 140, 60),
        _ => RGBColor(110, 110, 110),
    }
}

#[cfg(test)]
#[path = "report_tests.rs"]
pub(crate) mod tests;
