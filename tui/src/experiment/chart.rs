//! `timeline.svg`: four panels on one time axis — latency (log scale), throughput, errors,
//! queue depth — per mode, every event a labelled vertical line, drawn with plotters' SVG
//! backend (no fonts or browser needed).

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::report::{fmt_ms, mode_keys, verdict_word};
use super::result::{Event, RunResult, SecondRow};
const SIZE: (u32, u32) = (1000, 900);
pub(crate) const FONT: &str = "sans-serif";
/// The log axis' floor: a zero (or a sub-microsecond timer artefact) is drawn on it.
pub(crate) const LOG_FLOOR_MS: f64 = 0.01;
/// The column beside each panel that holds its key.
const KEY_WIDTH: i32 = 170;

pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
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
pub(crate) fn mode_colours(r: &RunResult) -> Vec<(&str, RGBColor)> {
    let keyed = mode_keys(r)
        .into_iter()
        .map(|key| (key, r.modes.get(key).map_or(key, |m| m.mode.as_str())));
    key_colours(keyed)
}

/// [`mode_colours`]' rule for any `(key, mode)` pairs in display order: the bench's ladders
/// (`sync`, `async`, `sync-limit-40`) are coloured as the experiment's modes and variants are.
pub(crate) fn key_colours<'a>(
    keyed: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(&'a str, RGBColor)> {
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
    keyed
        .into_iter()
        .map(|(key, mode)| {
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
pub(crate) fn split_key<'a>(area: &Area<'a>) -> (Area<'a>, Area<'a>) {
    let width = i32::try_from(area.dim_in_pixel().0).unwrap_or(i32::MAX);
    area.split_horizontally((width - KEY_WIDTH).max(width / 2))
}

pub(crate) fn chart_builder<'a, 'b>(
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
    log_range(values(f, lines))
}

/// [`log_bounds`]' rule for any values (the bench's rates and latencies); values that are
/// not finite and positive cannot sit on a log axis and are ignored.
pub(crate) fn log_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (min, max) = values
        .into_iter()
        .filter(|v| v.is_finite() && *v > 0.0)
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
pub(crate) struct Key {
    pub label: String,
    pub style: ShapeStyle,
    pub dashed: bool,
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

pub(crate) fn draw_key(area: &Area, keys: &[Key]) -> anyhow::Result<()> {
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
