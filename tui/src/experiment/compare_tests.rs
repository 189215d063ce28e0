use super::*;
use crate::experiment::report::tests::fixture;
use crate::experiment::result::{ModeResult, Verdict};

/// The fixture on another commit: async's ack p99 up, its loss gone (the threshold flips to
/// pass), a knob changed, a busier host.
fn second() -> RunResult {
    let mut b = fixture();
    b.started_at = "2026-12-03T09:00:00Z".into();
    b.verdict = Verdict::Pass;
    b.environment.git_sha = "c0ffee1".into();
    b.environment.host_load = 1.9;
    b.environment
        .knobs
        .insert("async/email".into(), serde_json::json!({"delay_ms": 50}));
    if let Some(m) = b.modes.get_mut("async") {
        m.ack.p99_ms = 4.2;
        m.lost = 0;
        m.recovery_s = Some(4.0);
        m.recovered = Some(true);
    }
    for t in &mut b.thresholds {
        if t.expr == "lost == 0" {
            t.value = Some(0.0);
            t.pass = true;
        }
    }
    b
}

#[test]
fn the_comparison_reads_in_a_terminal() {
    insta::assert_snapshot!(render(&fixture(), &second()));
}

#[test]
fn a_changed_figure_shows_its_difference_and_ratio() {
    let text = render(&fixture(), &second());
    let ack = text
        .lines()
        .find(|l| l.trim_start().starts_with("ack p99") && l.contains("3.50 ms"))
        .unwrap_or_else(|| panic!("no async ack p99 row in\n{text}"));
    assert!(ack.contains("4.20 ms"), "{ack}");
    assert!(ack.ends_with("+0.70 ms (+20 %)"), "{ack}");
    assert!(text.contains("not recovered → 4.0 s"), "{text}");
    let sent = text.lines().find(|l| l.trim_start().starts_with("sent"));
    assert!(sent.is_some_and(|l| l.ends_with('=')), "{text}");
}

#[test]
fn a_flipped_threshold_and_the_environment_are_listed() {
    let text = render(&fixture(), &second());
    let flip = text
        .lines()
        .find(|l| l.contains("lost == 0"))
        .unwrap_or_else(|| panic!("no flipped threshold in\n{text}"));
    assert!(
        flip.contains("FAIL (2)") && flip.contains("pass (0)"),
        "{flip}"
    );
    // Unchanged outcomes are not listed.
    assert!(!text.contains("ack_p99 < 20ms"), "{text}");
    for needle in [
        "c0ffee1",
        "host load",
        "knob async/email",
        "{\"delay_ms\":50}",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains("build profile"), "{text}");
}

#[test]
fn the_same_result_twice_shows_no_change() {
    let text = render(&fixture(), &fixture());
    assert!(text.contains("thresholds: the same outcomes"), "{text}");
    assert!(text.contains("environment: the same"), "{text}");
    let figures = text.lines().skip_while(|l| !l.is_empty());
    for line in figures.filter(|l| l.starts_with("  ") && !l.contains("change")) {
        assert!(line.ends_with('='), "{line}");
    }
}

#[test]
fn a_mode_in_one_result_only_says_so() {
    let mut b = fixture();
    b.modes.insert(
        "prefetch-50".into(),
        ModeResult {
            mode: "async".into(),
            ..Default::default()
        },
    );
    b.order.push("prefetch-50".into());
    b.modes.remove("sync");
    b.series.remove("sync");
    b.order.retain(|k| k != "sync");
    let text = render(&fixture(), &b);
    assert!(text.contains("sync: only in the first result"), "{text}");
    assert!(
        text.contains("prefetch-50 (async): only in the second result"),
        "{text}"
    );
}

#[test]
fn changes_are_signed_and_relative_where_it_means_something() {
    assert_eq!(change(&Value::Count(10), &Value::Count(7)), "-3 (-30 %)");
    assert_eq!(change(&Value::Count(0), &Value::Count(4)), "+4");
    assert_eq!(
        change(&Value::Percent(1.0), &Value::Percent(2.5)),
        "+1.5 pp"
    );
    assert_eq!(
        change(&Value::Millis(Some(34.0)), &Value::Millis(Some(46.0))),
        "+12.0 ms (+35 %)"
    );
    assert_eq!(
        change(&Value::Millis(None), &Value::Millis(Some(46.0))),
        "— → 46.0 ms"
    );
    assert_eq!(
        change(&Value::PerSecond(20.0), &Value::PerSecond(20.0)),
        "="
    );
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ms-tui-compare-{}-{name}", std::process::id()))
}

#[test]
fn load_names_a_missing_folder() {
    let missing = scratch("missing");
    let e = load(&missing).unwrap_err();
    assert!(
        format!("{e:#}").contains(&missing.display().to_string()),
        "{e:#}"
    );

    let empty = scratch("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = load(&empty).unwrap_err();
    assert!(format!("{e:#}").contains("has no result.json"), "{e:#}");
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn load_reads_a_folder_or_its_file_and_refuses_other_json() {
    let dir = scratch("folder");
    let _ = std::fs::remove_dir_all(&dir);
    crate::experiment::report::write(&dir, &fixture()).unwrap();
    assert_eq!(load(&dir).unwrap(), fixture());
    assert_eq!(load(&dir.join("result.json")).unwrap(), fixture());

    let other = dir.join("other.json");
    std::fs::write(&other, br#"{"name": "not a result"}"#).unwrap();
    let e = load(&other).unwrap_err();
    assert!(
        format!("{e:#}").contains("is not an ms-tui result.json"),
        "{e:#}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_exits_2_on_an_unreadable_result() {
    let args = CompareArgs {
        first: scratch("nowhere-1"),
        second: scratch("nowhere-2"),
    };
    assert_eq!(run(args).unwrap(), ExitCode::from(2));
}
