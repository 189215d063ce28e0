//! `ms-tui compare FIRST SECOND`: two results side by side in a terminal — each mode's
//! figures with the change from the first to the second, the thresholds whose outcome
//! flipped, and what differed in the environment (a flip on another commit or a busier host
//! reads differently from one on the same setup).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::report::{Value, figures, fmt_ms, heading, mode_keys, verdict_word};
use super::result::{RunResult, ThresholdResult};

/// Compare two experiment results.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// The first (reference) result: a result folder or its result.json file.
    pub first: PathBuf,
    /// The second result, compared with the first: a result folder or its result.json file.
    pub second: PathBuf,
}

/// Reads a result from a folder (its `result.json`) or from the file itself.
pub fn load(path: &Path) -> anyhow::Result<RunResult> {
    if !path.exists() {
        anyhow::bail!(
            "{}: no such result folder or file (give a folder `ms-tui run` wrote, or its \
             result.json)",
            path.display()
        );
    }
    let file = if path.is_dir() {
        path.join("result.json")
    } else {
        path.to_path_buf()
    };
    if !file.exists() {
        anyhow::bail!(
            "{} is not a result folder: it has no result.json",
            path.display()
        );
    }
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not an ms-tui result.json", file.display()))
}

/// Prints the comparison; a path that is not a readable result exits 2 with one line on
/// stderr, so a script can tell "could not compare" from "compared".
pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let loaded = load(&args.first).and_then(|a| Ok((a, load(&args.second)?)));
    let (first, second) = match loaded {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("ms-tui compare: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    let text = render(&first, &second);
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // `ms-tui compare a b | head` closing the pipe early is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => other
            .context("writing to stdout")
            .map(|()| ExitCode::SUCCESS),
    }
}

/// The comparison as plain text: headers, every mode's figures, flipped thresholds and the
/// environment's differences.
pub fn render(a: &RunResult, b: &RunResult) -> String {
    let mut out = String::new();
    out.push_str(&table(&header_rows(a, b)));
    for key in union_keys(a, b) {
        out.push('\n');
        out.push_str(&mode_section(a, b, key));
    }
    out.push('\n');
    out.push_str(&thresholds_section(a, b));
    out.push('\n');
    out.push_str(&environment_section(a, b));
    out
}

fn header_rows(a: &RunResult, b: &RunResult) -> Vec<Vec<String>> {
    let verdict = |r: &RunResult| {
        let word = verdict_word(r.verdict);
        if r.interrupted {
            format!("{word} (INTERRUPTED, partial)")
        } else {
            word.to_owned()
        }
    };
    vec![
        row(["", "first", "second"]),
        row(["experiment", &a.experiment, &b.experiment]),
        row(["started at", &a.started_at, &b.started_at]),
        row(["verdict", &verdict(a), &verdict(b)]),
        row(["git sha", &a.environment.git_sha, &b.environment.git_sha]),
    ]
}

/// The first result's keys in its order, then the second's new ones in its order.
fn union_keys<'r>(a: &'r RunResult, b: &'r RunResult) -> Vec<&'r str> {
    let mut keys = mode_keys(a);
    for key in mode_keys(b) {
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys
}

fn mode_section(a: &RunResult, b: &RunResult, key: &str) -> String {
    let (ma, mb) = (a.modes.get(key), b.modes.get(key));
    let (Some(ma), Some(mb)) = (ma, mb) else {
        let side = if ma.is_some() { "first" } else { "second" };
        return format!("{}: only in the {side} result\n", heading(key, ma.or(mb)));
    };
    let mut rows = vec![row(["figure", "first", "second", "change"])];
    for (fa, fb) in figures(ma).into_iter().zip(figures(mb)) {
        rows.push(vec![
            fa.name.to_owned(),
            fa.value.display(),
            fb.value.display(),
            change(&fa.value, &fb.value),
        ]);
    }
    format!("{}\n{}", heading(key, Some(ma)), indent(&table(&rows)))
}

/// `=`, or the difference with a percentage where a ratio means something: `+12.0 ms (+35 %)`.
/// An error rate changes in percentage points (a percentage of a percentage misleads); a
/// figure measured on one side only shows both sides.
pub(crate) fn change(a: &Value, b: &Value) -> String {
    let (shown_a, shown_b) = (a.display(), b.display());
    if shown_a == shown_b {
        return "=".to_owned();
    }
    let (Some(x), Some(y)) = (a.number(), b.number()) else {
        return format!("{shown_a} → {shown_b}");
    };
    let d = y - x;
    // Shown apart but no difference in number: refusals moved between statuses, say.
    if d == 0.0 {
        return format!("{shown_a} → {shown_b}");
    }
    let sign = if d < 0.0 { "-" } else { "+" };
    let magnitude = match a {
        Value::Count(_) | Value::Refused(_) => format!("{:.0}", d.abs()),
        Value::PerSecond(_) => format!("{:.1}/s", d.abs()),
        Value::Percent(_) => return format!("{sign}{:.1} pp", d.abs()),
        Value::Millis(_) => fmt_ms(d.abs()),
        Value::Recovery { .. } => format!("{:.1} s", d.abs()),
    };
    match relative(x, d) {
        Some(pct) => format!("{sign}{magnitude} ({pct})"),
        None => format!("{sign}{magnitude}"),
    }
}

/// `+35 %`, `-4.5 %`; none from zero, where any change is infinitely large.
fn relative(from: f64, d: f64) -> Option<String> {
    if from == 0.0 || !from.is_finite() {
        return None;
    }
    let pct = d / from.abs() * 100.0;
    Some(if pct.abs() < 10.0 {
        format!("{pct:+.1} %")
    } else {
        format!("{pct:+.0} %")
    })
}

fn thresholds_section(a: &RunResult, b: &RunResult) -> String {
    let index = |r: &RunResult| -> BTreeMap<(String, String), ThresholdResult> {
        r.thresholds
            .iter()
            .map(|t| ((t.mode.clone(), t.expr.clone()), t.clone()))
            .collect()
    };
    let (ia, ib) = (index(a), index(b));
    let outcome = |t: Option<&ThresholdResult>| match t {
        Some(t) => format!(
            "{} ({})",
            if t.pass { "pass" } else { "FAIL" },
            super::report::fmt_measured(t.value, &t.unit)
        ),
        None => "—".to_owned(),
    };
    let keys: BTreeSet<&(String, String)> = ia.keys().chain(ib.keys()).collect();
    let mut rows = vec![row(["mode", "threshold", "first", "second"])];
    for key in keys {
        let (ta, tb) = (ia.get(key), ib.get(key));
        if ta.map(|t| t.pass) != tb.map(|t| t.pass) {
            rows.push(vec![key.0.clone(), key.1.clone(), outcome(ta), outcome(tb)]);
        }
    }
    if rows.len() == 1 {
        return "thresholds: the same outcomes\n".to_owned();
    }
    format!(
        "thresholds whose outcome differs\n{}",
        indent(&table(&rows))
    )
}

fn environment_section(a: &RunResult, b: &RunResult) -> String {
    let (ea, eb) = (&a.environment, &b.environment);
    let mut rows = vec![row(["", "first", "second"])];
    let mut differ = |what: &str, x: String, y: String| {
        if x != y {
            rows.push(vec![what.to_owned(), x, y]);
        }
    };
    differ("git sha", ea.git_sha.clone(), eb.git_sha.clone());
    differ(
        "build profile",
        ea.build_profile.clone(),
        eb.build_profile.clone(),
    );
    differ(
        "ms-tui version",
        ea.ms_tui_version.clone(),
        eb.ms_tui_version.clone(),
    );
    differ("cpus", ea.cpus.to_string(), eb.cpus.to_string());
    differ(
        "host load",
        format!("{:.2}", ea.host_load),
        format!("{:.2}", eb.host_load),
    );
    differ(
        "timer floor",
        fmt_ms(ea.timer_floor_ms),
        fmt_ms(eb.timer_floor_ms),
    );
    for (key, x, y) in map_differences(&ea.knobs, &eb.knobs) {
        differ(&format!("knob {key}"), x, y);
    }
    for (key, x, y) in map_differences(&ea.images, &eb.images) {
        differ(&format!("image {key}"), x, y);
    }
    if rows.len() == 1 {
        return "environment: the same\n".to_owned();
    }
    format!("environment differences\n{}", indent(&table(&rows)))
}

/// Every key of either map whose value differs, `—` for a missing side.
fn map_differences<V: PartialEq + ToString>(
    a: &BTreeMap<String, V>,
    b: &BTreeMap<String, V>,
) -> Vec<(String, String, String)> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let shown = |v: Option<&V>| v.map_or_else(|| "—".to_owned(), ToString::to_string);
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| (k.clone(), shown(a.get(k)), shown(b.get(k))))
        .collect()
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// Left-aligned columns two spaces apart, padded by characters (`×` and `—` are one column
/// wide), with no trailing spaces.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (cell, width) in r.iter().zip(&widths) {
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
