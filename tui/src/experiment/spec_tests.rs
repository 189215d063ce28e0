use super::*;

const BACKLOG: &str = r#"
name = "backlog"
lesson = "A dead consumer delays work; it does not lose it."
scenario = "s1"
modes = "async"
rate = 20
duration = "20s"
grace = "30s"

[[steps]]
at = "5s"
until = "15s"
action = "kill"
target = "email"

[thresholds]
async = ["lost == 0", "duplicated == 0"]
"#;

#[test]
fn a_good_file_becomes_a_plan() {
    let plan = parse(BACKLOG, "backlog.toml").unwrap();
    assert_eq!(plan.scenario, ScenarioId::S1);
    assert_eq!(plan.rounds.len(), 1);
    assert_eq!(plan.rounds[0].lanes[0].key, "async");
    assert_eq!(plan.grace, Duration::from_secs(30));
    assert!(plan.reset);
    assert_eq!(plan.thresholds.len(), 2);
    assert_eq!(
        plan.steps[0].action,
        Action::Fault {
            service: "email".into(),
            kind: FaultKind::Kill,
            route: None
        }
    );
    assert_eq!(plan.steps[0].until, Some(Duration::from_secs(15)));
}

#[test]
fn an_unknown_field_is_refused_with_its_line_and_column() {
    let text = BACKLOG.replace("grace = \"30s\"", "grace = \"30s\"\nspeed = 3");
    let e = parse(&text, "x.toml").unwrap_err();
    assert_eq!((e.line, e.column), (9, 1), "{e}");
    assert!(e.message.contains("speed"), "{e}");
    assert!(e.to_string().starts_with("x.toml:9:1: "), "{e}");
}

#[test]
fn malformed_toml_names_line_and_column() {
    let e = parse("name = \"a\"\nlesson = \nscenario = \"s1\"", "m.toml").unwrap_err();
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn semantic_mistakes_point_at_their_place() {
    let cases = [
        (BACKLOG.replace("\"s1\"", "\"s9\""), 4, "scenario"),
        (
            BACKLOG.replace("\"lost == 0\"", "\"lost = 0\""),
            17,
            "is not one of",
        ),
        (
            BACKLOG
                .replace("until = \"15s\"\n", "")
                .replace("\"kill\"", "\"partition\""),
            10,
            "needs `until`",
        ),
        (
            BACKLOG.replace("target = \"email\"", "target = \"mailer\""),
            10,
            "target `mailer`",
        ),
        (
            BACKLOG.replace("async = [", "sync = ["),
            17,
            "not a mode or variant",
        ),
        (
            BACKLOG.replace("duration = \"20s\"\n", ""),
            6,
            "needs a duration",
        ),
    ];
    for (text, line, needle) in cases {
        let e = parse(&text, "t.toml").unwrap_err();
        assert_eq!(e.line, line, "{e}");
        assert!(e.message.contains(needle), "{e}");
    }
}

#[test]
fn variants_run_one_after_the_other() {
    let text = r#"
name = "pool"
lesson = "l"
scenario = "s1"
rate = 200
duration = "10s"
[[variants]]
name = "limit-off"
mode = "sync"
knobs = { sync_max_inflight = 0 }
[[variants]]
name = "limit-40"
mode = "sync"
knobs = { sync_max_inflight = 40 }
[thresholds]
limit-off = ["error_rate < 1%"]
"#;
    let plan = parse(text, "p.toml").unwrap();
    assert_eq!(plan.rounds.len(), 2);
    assert_eq!(plan.rounds[1].lanes[0].key, "limit-40");
    assert_eq!(plan.rounds[1].lanes[0].knobs["sync_max_inflight"], 40);
}

#[test]
fn durations_need_units() {
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert!(parse_duration("10").unwrap_err().contains("unit"));
    assert!(parse_duration("soon").is_err());
}

#[test]
fn a_slow_consumer_on_sync_is_refused() {
    let text = BACKLOG
        .replace("modes = \"async\"", "modes = \"both\"")
        .replace("action = \"kill\"", "action = \"slow-consumer\"\nms = 100");
    let e = parse(&text, "t.toml").unwrap_err();
    assert!(e.message.contains("consume no messages"), "{e}");
}
