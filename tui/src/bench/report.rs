//! What a bench leaves on disk: `report.json` (the record), `report.md` (one table per
//! scenario, the academic study's table beside ours, every step in an appendix) and one
//! `<scenario>-latency.svg` per scenario (p99 latency against offered rate, every ladder on
//! one chart), each written atomically.
//!
//! Numbers, colours, the environment and the atomic write are the experiment report's own
//! ([`crate::experiment::report`], [`crate::experiment::chart`]): a bench and an experiment
//! never describe the same figure in two ways.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use plotters::coord::combinators::{BindKeyPoints, LogCoord, WithKeyPoints};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::result::{
    Academic, AcademicMode, BenchReport, Ladder, ScenarioBench, Step, StepFigures,
};
use crate::experiment::chart::{
    Area, FONT, Key, chart_builder, draw_key, key_colours, log_range, split_key,
};
use crate::experiment::report::{
    cell, fmt_knobs, fmt_ms, fmt_pct, fmt_rate, fmt_s, md_environment, pass_word, write_atomic,
};

/// Writes `report.json`, `report.md` and one `<scenario>-latency.svg` per scenario into `dir`
/// (created with its parents) and returns their paths. `report.json` goes first: it is the
/// record the others are drawn from, so a chart that fails to draw loses nothing.
pub fn write(dir: &Path, report: &BenchReport) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the bench folder {}", dir.display()))?;
    let json = serde_json::to_string_pretty(report).context("serialising the bench report")?;
    let mut written = Vec::with_capacity(2 + report.scenarios.len());
    written.push(write_atomic(&dir.join("report.json"), json.as_bytes())?);
    written.push(write_atomic(
        &dir.join("report.md"),
        markdown(report).as_bytes(),
    )?);
    for scenario in &report.scenarios {
        let svg = latency_svg(scenario)
            .with_context(|| format!("drawing {}'s latency chart", scenario.scenario))?;
        written.push(write_atomic(
            &dir.join(svg_name(&scenario.scenario)),
            svg.as_bytes(),
        )?);
    }
    Ok(written)
}

/// `s1-latency.svg`. The scenario comes from the report, so anything but a plain name
/// (a `/`, a `..`) is replaced: the chart must land in the bench folder.
pub(crate) fn svg_name(scenario: &str) -> String {
    let safe: String = scenario
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}-latency.svg")
}

// ---------------------------------------------------------------------------------------------
// The figures the tables read.

/// The step the ladder's sustainable rate names: the highest that held every criterion.
/// `None` when no step held.
fn sustainable_step(ladder: &Ladder) -> Option<&Step> {
    let rate = ladder.sustainable_rate?;
    // From the top: the steps ascend by rate.
    let passed = || ladder.steps.iter().rev().filter(|s| s.pass);
    passed()
        .find(|s| (s.target_rate - rate).abs() < 1e-9)
        // A hand-edited report whose rate names no step still shows its best passing step.
        .or_else(|| passed().next())
}

/// The busiest (most CPU) container of `mode` in a step: its service name and memory (MiB).
fn busiest(figures: &StepFigures, mode: &str) -> Option<(String, f64)> {
    let prefix = format!("{mode}/");
    figures
        .usage
        .iter()
        .filter_map(|(key, u)| Some((key.strip_prefix(&prefix)?, u)))
        .max_by(|(_, a), (_, b)| a.cpu_cores.total_cmp(&b.cpu_cores))
        .map(|(service, u)| (service.to_owned(), u.mem_mib))
}

/// The ladder keys of every scenario, in the order they first appear.
fn ladder_keys(scenarios: &[ScenarioBench]) -> Vec<&str> {
    let mut keys: Vec<&str> = Vec::new();
    for ladder in scenarios.iter().flat_map(|s| &s.ladders) {
        if !keys.contains(&ladder.key.as_str()) {
            keys.push(&ladder.key);
        }
    }
    keys
}

// ---------------------------------------------------------------------------------------------
// Formatting beyond the experiment report's.

/// `0.42 s`: CPU per 1,000 requests is mostly under a second, where one decimal hides the
/// difference between the modes.
fn fmt_cpu_s(s: Option<f64>) -> String {
    match s {
        Some(s) if s.is_finite() => format!("{s:.2} s"),
        _ => "—".to_owned(),
    }
}

fn fmt_mib(mib: f64) -> String {
    format!("{mib:.1} MiB")
}

/// `45.0 s`, `12 min 05 s`, `1 h 02 min`: a bench lasts from a minute to an hour.
fn fmt_duration(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "—".to_owned();
    }
    if s < 60.0 {
        return fmt_s(s);
    }
    let whole = s.round() as u64;
    if whole < 3600 {
        format!("{} min {:02} s", whole / 60, whole % 60)
    } else {
        format!("{} h {:02} min", whole / 3600, whole % 3600 / 60)
    }
}

/// Ack percentiles of a step that sent nothing are zeros, not measurements.
fn ack_ms(f: &StepFigures, pick: fn(&crate::experiment::result::Latency) -> f64) -> String {
    if f.sent > 0 {
        fmt_ms(pick(&f.ack))
    } else {
        "—".to_owned()
    }
}

fn done_ms(f: &StepFigures, pick: fn(&crate::experiment::result::Latency) -> f64) -> String {
    f.done
        .as_ref()
        .map_or_else(|| "—".to_owned(), |d| fmt_ms(pick(d)))
}

fn fmt_backlog(start: Option<u64>, end: Option<u64>) -> String {
    let n = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
    match (start, end) {
        (None, None) => "—".to_owned(),
        _ => format!("{} → {}", n(start), n(end)),
    }
}

/// `✅ pass`, or `❌ FAIL: `achieved` 81 % < 95 %` with every failed criterion.
fn step_result(step: &Step) -> String {
    if step.pass {
        return pass_word(true).to_owned();
    }
    let failed: Vec<String> = step
        .criteria
        .iter()
        .filter(|c| !c.pass)
        .map(|c| format!("`{}` {}", c.name, c.detail))
        .collect();
    if failed.is_empty() {
        pass_word(false).to_owned()
    } else {
        format!("{}: {}", pass_word(false), failed.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------
// report.md

/// `report.md`: when and how it ran, what on, then one table per scenario with its finding
/// and chart, the academic study's table beside ours when it ran, and every step at the end.
pub fn markdown(report: &BenchReport) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the sections return fmt::Result only to use `?`.
    let _ = write_markdown(&mut out, report);
    out
}

fn write_markdown(out: &mut String, r: &BenchReport) -> fmt::Result {
    md_header(out, r)?;
    md_environment(out, &r.environment)?;
    writeln!(out)?;
    md_glossary(out)?;
    for scenario in &r.scenarios {
        md_scenario(out, scenario)?;
    }
    if let Some(academic) = &r.academic {
        md_academic(out, academic, &r.scenarios)?;
    }
    md_appendix(out, &r.scenarios)
}

fn md_header(out: &mut String, r: &BenchReport) -> fmt::Result {
    writeln!(out, "# Bench: sync vs async, rate ladder by rate ladder\n")?;
    if r.interrupted {
        writeln!(
            out,
            "> **⚠️ INTERRUPTED — partial figures.** The bench was stopped before the end: \
             the tables below cover only the steps that ran.\n"
        )?;
    }
    writeln!(
        out,
        "From {} to {} (UTC): {}.\n",
        r.started_at,
        r.ended_at,
        fmt_duration(r.duration_s)
    )?;
    let profile = match r.profile.as_str() {
        "ours" => "our delays",
        "peer" => "the original projects' delays",
        _ => "as named",
    };
    writeln!(out, "- profile `{}` ({profile})", r.profile)?;
    writeln!(
        out,
        "- {} run: {} round{} a step (the median round's figures), {} of load a step\n",
        if r.quick { "quick" } else { "full" },
        r.rounds,
        if r.rounds == 1 { "" } else { "s" },
        fmt_s(r.step_s)
    )
}

fn md_glossary(out: &mut String) -> fmt::Result {
    writeln!(
        out,
        "*sustainable*: the highest offered rate (open model: requests are sent on schedule, \
         whether or not earlier ones were answered) at which a step held every criterion; the \
         latencies, CPU and memory of a row are that step's. *ack*: time to the answer. \
         *done*: time to the flow's effect, from the intended send time. *CPU s / 1,000 req*: \
         CPU seconds the services of the scenario's flow (and, apart, RabbitMQ and \
         PostgreSQL) used per 1,000 requests sent, over the step and its drain; at low rates \
         their idle cost (the broker's above all) dominates. *RSS*: memory without page cache of the mode's busiest \
         service at the step's end.\n"
    )
}

fn md_scenario(out: &mut String, s: &ScenarioBench) -> fmt::Result {
    writeln!(out, "## {}: {}\n", s.scenario, cell(&s.title))?;
    writeln!(
        out,
        "![{}: p99 latency by offered rate]({})\n",
        s.scenario,
        svg_name(&s.scenario)
    )?;
    if s.ladders.is_empty() {
        writeln!(out, "No ladder ran.\n")?;
    } else {
        md_ladder_table(out, &s.ladders)?;
    }
    for skipped in &s.skipped {
        writeln!(out, "{}\n", cell(skipped))?;
    }
    writeln!(out, "**Finding:** {}\n", cell(&s.finding))
}

fn md_ladder_table(out: &mut String, ladders: &[Ladder]) -> fmt::Result {
    writeln!(
        out,
        "| ladder | sustainable | ack p50 | ack p99 | done p50 | done p99 | CPU s / 1,000 req \
         | infra CPU s / 1,000 req | RSS, busiest service | stopped because |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")?;
    for ladder in ladders {
        writeln!(
            out,
            "| `{}` | {} | {} |",
            cell(&ladder.key),
            ladder_figures(ladder).join(" | "),
            cell(&ladder.stop_reason)
        )?;
    }
    for ladder in ladders.iter().filter(|l| !l.knobs.is_empty()) {
        writeln!(
            out,
            "\n`{}` knobs: {}",
            cell(&ladder.key),
            fmt_knobs(&ladder.knobs)
        )?;
    }
    writeln!(out)
}

/// The figure cells of a ladder's row, from its sustainable step; dashes when none held.
fn ladder_figures(ladder: &Ladder) -> Vec<String> {
    let Some(step) = sustainable_step(ladder) else {
        let mut cells = vec!["none".to_owned()];
        cells.extend(std::iter::repeat_n("—".to_owned(), 7));
        return cells;
    };
    let f = &step.figures;
    let rss = busiest(f, &ladder.mode).map_or_else(
        || "—".to_owned(),
        |(service, mib)| format!("{} ({})", fmt_mib(mib), cell(&service)),
    );
    vec![
        fmt_rate(step.target_rate),
        ack_ms(f, |l| l.p50_ms),
        ack_ms(f, |l| l.p99_ms),
        done_ms(f, |l| l.p50_ms),
        done_ms(f, |l| l.p99_ms),
        fmt_cpu_s(f.cpu_s_per_1000),
        fmt_cpu_s(f.infra_cpu_s_per_1000),
        rss,
    ]
}

fn md_academic(out: &mut String, a: &Academic, scenarios: &[ScenarioBench]) -> fmt::Result {
    writeln!(out, "## The academic study's way, beside ours\n")?;
    writeln!(
        out,
        "Theirs: a closed model ({} virtual users, each sending, waiting for the answer and \
         sending again; {} per scenario), one p95 pooled over every request of every \
         scenario, the saga's intended 400 counted as an error.\n",
        a.virtual_users,
        fmt_s(a.seconds_per_scenario)
    )?;
    writeln!(
        out,
        "| mode | pooled p95 | error rate (400 as error) | throughput (closed model) |"
    )?;
    writeln!(out, "|---|---:|---:|---:|")?;
    for (mode, m) in modes_in_order(a) {
        writeln!(
            out,
            "| {} | {} | {} | {} |",
            cell(mode),
            fmt_ms(m.pooled_p95_ms),
            fmt_pct(m.error_rate_400_as_error * 100.0),
            fmt_rate(m.throughput)
        )?;
    }
    writeln!(out)?;
    md_beside(out, a, scenarios)?;
    md_differences(out, &a.differences)
}

/// Per scenario, their closed-model p95 per mode next to each of our ladders' sustainable
/// rate and the p99s there: the pooled figure above hides which scenario drives it.
fn md_beside(out: &mut String, a: &Academic, scenarios: &[ScenarioBench]) -> fmt::Result {
    let modes = modes_in_order(a);
    let keys = ladder_keys(scenarios);
    writeln!(
        out,
        "Ours beside theirs, per scenario: their p95 per mode; each of our ladders' \
         sustainable rate and its ack / done p99 there.\n"
    )?;
    let mut head: Vec<String> = vec!["scenario".to_owned()];
    head.extend(modes.iter().map(|(m, _)| format!("their p95, {}", cell(m))));
    for key in &keys {
        head.push(format!("`{}` sustainable", cell(key)));
        head.push(format!("`{}` ack / done p99", cell(key)));
    }
    writeln!(out, "| {} |", head.join(" | "))?;
    writeln!(out, "|---|{}", "---:|".repeat(head.len() - 1))?;
    for s in scenarios {
        let mut row = vec![s.scenario.clone()];
        row.extend(modes.iter().map(|(_, m)| {
            m.per_scenario
                .get(&s.scenario)
                .map_or_else(|| "—".to_owned(), |c| fmt_ms(c.p95_ms))
        }));
        for key in &keys {
            row.extend(ours_beside(s.ladders.iter().find(|l| l.key == *key)));
        }
        writeln!(out, "| {} |", row.join(" | "))?;
    }
    writeln!(out)
}

/// `sync`, `async`, then any other mode: the order every table of the crate uses (the map
/// itself would put async first).
fn modes_in_order(a: &Academic) -> Vec<(&String, &AcademicMode)> {
    let mut modes: Vec<(&String, &AcademicMode)> = a.modes.iter().collect();
    let rank = |mode: &str| match mode {
        "sync" => 0,
        "async" => 1,
        _ => 2,
    };
    // Stable: other modes keep the map's order among themselves.
    modes.sort_by_key(|(mode, _)| rank(mode));
    modes
}

/// A ladder's two cells in the side-by-side table.
fn ours_beside(ladder: Option<&Ladder>) -> [String; 2] {
    let dash = || "—".to_owned();
    let Some(ladder) = ladder else {
        return [dash(), dash()];
    };
    match sustainable_step(ladder) {
        Some(step) => [
            fmt_rate(step.target_rate),
            format!(
                "{} / {}",
                ack_ms(&step.figures, |l| l.p99_ms),
                done_ms(&step.figures, |l| l.p99_ms)
            ),
        ],
        None => ["none".to_owned(), dash()],
    }
}

fn md_differences(out: &mut String, differences: &[String]) -> fmt::Result {
    if differences.is_empty() {
        return Ok(());
    }
    writeln!(out, "Where their table and ours differ:\n")?;
    for line in differences {
        writeln!(out, "- {}", line.replace(['\n', '\r'], " "))?;
    }
    writeln!(out)
}

fn md_appendix(out: &mut String, scenarios: &[ScenarioBench]) -> fmt::Result {
    writeln!(out, "## Appendix: every step\n")?;
    for s in scenarios {
        for ladder in &s.ladders {
            md_steps(out, &s.scenario, ladder)?;
        }
    }
    Ok(())
}

fn md_steps(out: &mut String, scenario: &str, ladder: &Ladder) -> fmt::Result {
    writeln!(
        out,
        "### {scenario} `{}` (ack p99 bound {})\n",
        cell(&ladder.key),
        fmt_ms(ladder.ack_bound_ms)
    )?;
    if ladder.steps.is_empty() {
        return writeln!(out, "No step ran.\n");
    }
    writeln!(
        out,
        "| offered | achieved | errors | ack p99 | done p99 | backlog | result |"
    )?;
    writeln!(out, "|---:|---:|---:|---:|---:|---|---|")?;
    for step in &ladder.steps {
        let f = &step.figures;
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            fmt_rate(step.target_rate),
            fmt_rate(f.achieved_rate),
            fmt_pct(f.error_rate * 100.0),
            ack_ms(f, |l| l.p99_ms),
            done_ms(f, |l| l.p99_ms),
            fmt_backlog(f.backlog_start, f.backlog_end),
            cell(&step_result(step))
        )?;
    }
    writeln!(out)
}

// ---------------------------------------------------------------------------------------------
// <scenario>-latency.svg

const SIZE: (u32, u32) = (1000, 560);

type LogAxis = WithKeyPoints<LogCoord<f64>>;
type LogChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<LogAxis, LogAxis>>;

/// One point of a line: offered rate, latency (ms), whether the step held.
type Point = (f64, f64, bool);

/// p99 latency against offered rate, both on log scales (rates double step by step; a 2 ms
/// async ack and a 2 s sync done stay readable together): per ladder a solid ack line and a
/// dashed done line in its mode's colour, each step a dot — hollow where the step failed — and
/// the ladder's sustainable rate a labelled dotted vertical line.
pub fn latency_svg(scenario: &ScenarioBench) -> anyhow::Result<String> {
    let colours = key_colours(
        scenario
            .ladders
            .iter()
            .map(|l| (l.key.as_str(), l.mode.as_str())),
    );
    let (x_lo, x_hi) = log_range(rates(scenario));
    let (y_lo, y_hi) = log_range(latencies(scenario));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let title = format!("{}: {}", scenario.scenario, scenario.title);
        let body = root.titled(&title, (FONT, 18))?;
        let (plot, key_area) = split_key(&body);
        let caption = "p99 latency by offered rate (log–log): ack solid, done dashed";
        // Ticks at the offered rates themselves, and at 1-2-5 per decade of latency: the
        // log axes' own ticks are decades only, which leaves a ladder's rates unlabelled.
        let x = (x_lo..x_hi)
            .log_scale()
            .with_key_points(rate_ticks(scenario, x_lo..x_hi));
        let y = (y_lo..y_hi)
            .log_scale()
            .with_key_points(log_ticks(y_lo, y_hi));
        let mut chart = chart_builder(&plot, caption).build_cartesian_2d(x, y)?;
        chart
            .configure_mesh()
            .light_line_style(BLACK.mix(0.04))
            .bold_line_style(BLACK.mix(0.15))
            .x_label_formatter(&|r| format!("{r:.0}/s"))
            .y_label_formatter(&|v| fmt_ms(*v))
            .draw()?;
        let mut keys = Vec::new();
        for (row, (ladder, (_, colour))) in scenario.ladders.iter().zip(&colours).enumerate() {
            keys.extend(draw_ladder(&mut chart, ladder, *colour, y_lo)?);
            draw_sustainable(&mut chart, ladder, *colour, y_lo..y_hi, row)?;
        }
        draw_key(&key_area, &keys)?;
        draw_marker_key(&key_area, keys.len())?;
        root.present()?;
    }
    Ok(svg)
}

/// Every offered rate on the chart: the steps' and the sustainable ones.
fn rates(s: &ScenarioBench) -> impl Iterator<Item = f64> + '_ {
    s.ladders.iter().flat_map(|l| {
        l.steps
            .iter()
            .map(|st| st.target_rate)
            .chain(l.sustainable_rate)
    })
}

/// The distinct offered rates within the axis, ascending.
fn rate_ticks(s: &ScenarioBench, axis: std::ops::Range<f64>) -> Vec<f64> {
    let mut ticks: Vec<f64> = rates(s).filter(|r| axis.contains(r)).collect();
    ticks.sort_by(f64::total_cmp);
    ticks.dedup();
    ticks
}

/// 1, 2 and 5 times each power of ten within `lo..=hi`.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi > lo) {
        return Vec::new();
    }
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    (first..=last)
        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
        .filter(|v| (lo..=hi).contains(v))
        .collect()
}

fn latencies(s: &ScenarioBench) -> impl Iterator<Item = f64> + '_ {
    s.ladders
        .iter()
        .flat_map(|l| ack_points(l).into_iter().chain(done_points(l)))
        .map(|(_, ms, _)| ms)
}

fn ack_points(ladder: &Ladder) -> Vec<Point> {
    points(ladder, |f| (f.sent > 0).then_some(f.ack.p99_ms))
}

fn done_points(ladder: &Ladder) -> Vec<Point> {
    points(ladder, |f| f.done.as_ref().map(|d| d.p99_ms))
}

/// The ladder's steps that can sit on the chart, by rate: a rate that is not positive has no
/// place on a log axis; a latency that is not finite is not a measurement.
fn points(ladder: &Ladder, pick: fn(&StepFigures) -> Option<f64>) -> Vec<Point> {
    let mut out: Vec<Point> = ladder
        .steps
        .iter()
        .filter(|s| s.target_rate.is_finite() && s.target_rate > 0.0)
        .filter_map(|s| {
            let ms = pick(&s.figures).filter(|v| v.is_finite() && *v >= 0.0)?;
            Some((s.target_rate, ms, s.pass))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Both lines of a ladder; latencies below the axis' floor (a zero) sit on it. Returns the
/// key entries of the lines drawn.
fn draw_ladder(
    chart: &mut LogChart,
    ladder: &Ladder,
    colour: RGBColor,
    floor: f64,
) -> anyhow::Result<Vec<Key>> {
    let style = colour.stroke_width(2);
    let mut keys = Vec::new();
    for (name, points, dashed, radius) in [
        ("ack p99", ack_points(ladder), false, 4),
        ("done p99", done_points(ladder), true, 3),
    ] {
        if points.is_empty() {
            continue;
        }
        let line: Vec<(f64, f64)> = points.iter().map(|(x, y, _)| (*x, y.max(floor))).collect();
        if dashed {
            chart.draw_series(DashedLineSeries::new(line.iter().copied(), 6, 4, style))?;
        } else {
            chart.draw_series(LineSeries::new(line.iter().copied(), style))?;
        }
        draw_markers(chart, &points, colour, radius, floor)?;
        keys.push(Key {
            label: format!("{} {name}", ladder.key),
            style,
            dashed,
        });
    }
    Ok(keys)
}

/// A filled dot where the step held, a hollow ring (white inside) where it failed.
fn draw_markers(
    chart: &mut LogChart,
    points: &[Point],
    colour: RGBColor,
    radius: i32,
    floor: f64,
) -> anyhow::Result<()> {
    for (x, y, pass) in points {
        let at = (*x, y.max(floor));
        if *pass {
            chart.draw_series([Circle::new(at, radius, colour.filled())])?;
        } else {
            chart.draw_series([Circle::new(at, radius, WHITE.filled())])?;
            chart.draw_series([Circle::new(at, radius, colour.stroke_width(2))])?;
        }
    }
    Ok(())
}

/// The sustainable rate as a dotted vertical line with `sync 200/s` at its top, each ladder's
/// label a row lower so ladders that sustained the same rate stay legible.
fn draw_sustainable(
    chart: &mut LogChart,
    ladder: &Ladder,
    colour: RGBColor,
    y: std::ops::Range<f64>,
    row: usize,
) -> anyhow::Result<()> {
    let Some(rate) = ladder
        .sustainable_rate
        .filter(|r| r.is_finite() && *r > 0.0)
    else {
        return Ok(());
    };
    let style = colour.mix(0.6).stroke_width(1);
    chart.draw_series(DashedLineSeries::new(
        [(rate, y.start), (rate, y.end)],
        2,
        3,
        style,
    ))?;
    let text = TextStyle::from((FONT, 11).into_font())
        .color(&colour)
        .pos(Pos::new(HPos::Left, VPos::Top));
    let dy = 2 + 12 * i32::try_from(row % 4).unwrap_or(0);
    let label = format!("{} {rate:.0}/s", ladder.key);
    chart
        .plotting_area()
        .draw(&(EmptyElement::at((rate, y.end)) + Text::new(label, (3, dy), text)))?;
    Ok(())
}

/// Under the lines' key: what a filled dot, a hollow one and a dotted line mean.
fn draw_marker_key(area: &Area, lines: usize) -> anyhow::Result<()> {
    let text = TextStyle::from((FONT, 11).into_font()).color(&BLACK);
    let top = 30 + 15 * i32::try_from(lines + 1).unwrap_or(i32::MAX / 16);
    let grey = RGBColor(90, 90, 90);
    area.draw(&Circle::new((18, top), 4, grey.filled()))?;
    area.draw_text("step held", &text, (36, top - 6))?;
    area.draw(&Circle::new((18, top + 15), 4, grey.stroke_width(2)))?;
    area.draw_text("step failed", &text, (36, top + 9))?;
    let tick = [(18, top + 24), (18, top + 36)];
    area.draw(&DashedPathElement::new(tick, 2, 3, grey.stroke_width(1)))?;
    area.draw_text("sustainable rate", &text, (36, top + 24))?;
    Ok(())
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
