//! A log line ready to draw ([`LogLine`]), and how one raw line of `docker logs --timestamps`
//! becomes one.
//!
//! The services log JSON (tracing-subscriber's format when stdout is not a terminal); those
//! lines become `message cid=<correlation id> key=value …` with their level, so the pane reads
//! like a human log and the `/` filter finds a correlation id wherever it was logged.
//! RabbitMQ's and PostgreSQL's plain lines pass through, cleaned of control characters (an
//! escape sequence in a log must not reach the terminal).
//! Runs in the worker, off the app task.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::container::Group;

/// The longest line kept, in bytes; longer ones are cut (a runaway line must not hold megabytes).
pub const MAX_LINE_BYTES: usize = 2_000;

/// Severity, when the line says (the services log JSON with a level; others do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

/// One log line, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub group: Group,
    pub service: String,
    /// `HH:MM:SS.mmm` in UTC, from the engine's timestamp.
    pub time: String,
    pub level: Option<Level>,
    /// From stderr (shown in the error colour when the line has no level).
    pub stderr: bool,
    pub text: String,
    /// `group/service text`, lower-cased: what the filter matches against.
    haystack: String,
}

impl LogLine {
    pub fn new(
        group: Group,
        service: &str,
        time: String,
        level: Option<Level>,
        stderr: bool,
        mut text: String,
    ) -> LogLine {
        if text.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        let haystack = format!("{}/{service} {text}", group.as_str()).to_lowercase();
        LogLine {
            group,
            service: service.to_string(),
            time,
            level,
            stderr,
            text,
            haystack,
        }
    }

    /// Whether `needle` (lower-case) appears in `group/service text`, whatever the case there:
    /// what the logs pane's filter asks.
    pub fn mentions(&self, needle: &str) -> bool {
        self.haystack.contains(needle)
    }

    /// `async/email`, as the containers table names it.
    pub fn label(&self) -> String {
        format!("{}/{}", self.group.as_str(), self.service)
    }
}

/// Parses one line. Returns the engine's timestamp in nanoseconds since the epoch (for
/// ordering the first tails and skipping lines already seen after a reconnect) with the line.
pub fn parse(group: Group, service: &str, raw: &str, stderr: bool) -> (i64, LogLine) {
    let raw = raw.trim_end_matches(['\n', '\r']);
    let (stamp, rest) = match raw.split_once(' ') {
        Some((head, tail)) => match DateTime::parse_from_rfc3339(head) {
            Ok(t) => (Some(t.with_timezone(&Utc)), tail),
            Err(_) => (None, raw),
        },
        None => match DateTime::parse_from_rfc3339(raw) {
            Ok(t) => (Some(t.with_timezone(&Utc)), ""),
            Err(_) => (None, raw),
        },
    };
    let nanos = stamp.and_then(|t| t.timestamp_nanos_opt()).unwrap_or(0);
    let time = stamp.map_or_else(
        || "--:--:--.---".to_string(),
        |t| t.format("%H:%M:%S%.3f").to_string(),
    );
    let (level, text) = match rest.trim_start().strip_prefix('{') {
        Some(_) => match serde_json::from_str::<Map<String, Value>>(rest) {
            Ok(json) => structured(&json),
            Err(_) => (None, clean(rest)),
        },
        None => (None, clean(rest)),
    };
    (
        nanos,
        LogLine::new(group, service, time, level, stderr, text),
    )
}

/// A tracing JSON line: level, `fields.message`, the current span's fields (the correlation id
/// shortened to `cid`), then the event's other fields.
fn structured(json: &Map<String, Value>) -> (Option<Level>, String) {
    let level = json.get("level").and_then(Value::as_str).and_then(|l| {
        Some(match l {
            "ERROR" => Level::Error,
            "WARN" => Level::Warn,
            "INFO" => Level::Info,
            "DEBUG" => Level::Debug,
            "TRACE" => Level::Trace,
            _ => return None,
        })
    });
    let mut text = String::new();
    let empty = Map::new();
    let fields = json
        .get("fields")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    if let Some(message) = fields.get("message") {
        text.push_str(&scalar(message));
    }
    // The span's fields (the correlation id) right after the message: a line cut at the
    // pane's edge still shows which request it belongs to.
    if let Some(span) = json.get("span").and_then(Value::as_object) {
        for (key, value) in span.iter().filter(|(k, _)| *k != "name") {
            let key = if key == "correlation_id" { "cid" } else { key };
            push_field(&mut text, key, value);
        }
    }
    for (key, value) in fields.iter().filter(|(k, _)| *k != "message") {
        push_field(&mut text, key, value);
    }
    (level, clean(&text))
}

fn push_field(text: &mut String, key: &str, value: &Value) {
    if !text.is_empty() {
        text.push(' ');
    }
    text.push_str(key);
    text.push('=');
    text.push_str(&scalar(value));
}

/// Strings without their quotes; anything else as JSON.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Tabs become spaces; ANSI escape sequences and other control characters are dropped.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.push_str("    "),
            '\u{1b}' => {
                // CSI: ESC [ parameters… final byte in @..~
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A plain line of `async/<service>`, for the tests of the logs pane's model and of `update`.
#[cfg(test)]
pub(crate) fn sample(service: &str, text: &str) -> LogLine {
    LogLine::new(
        Group::Async,
        service,
        "12:00:00.000".into(),
        None,
        false,
        text.into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let l = sample("email", &"é".repeat(MAX_LINE_BYTES));
        assert!(l.text.len() <= MAX_LINE_BYTES + '…'.len_utf8());
        assert!(l.text.ends_with('…'));
    }

    #[test]
    fn a_service_json_line_reads_like_a_log() {
        let raw = r#"2025-11-22T10:11:12.345678901Z {"timestamp":"2025-11-22T10:11:12.345Z","level":"WARN","fields":{"message":"e-mail sent","recipient":"a@b.c","attempt":2},"target":"ms_service::email","span":{"correlation_id":"c0ffee-1","name":"flow"}}"#;
        let (nanos, line) = parse(Group::Async, "email", raw, false);
        assert_eq!(line.time, "10:11:12.345");
        assert_eq!(line.level, Some(Level::Warn));
        assert!(
            line.text.starts_with("e-mail sent cid=c0ffee-1 "),
            "{}",
            line.text
        );
        assert!(line.text.contains("recipient=a@b.c"));
        assert!(line.text.contains("attempt=2"));
        assert_eq!(nanos % 1_000_000_000, 345_678_901);
    }

    #[test]
    fn plain_lines_pass_through_cleaned() {
        let raw = "2025-11-22T10:11:12Z \u{1b}[1;31mstarting\u{1b}[0m\tbroker\u{7}\n";
        let (_, line) = parse(Group::Infra, "rabbitmq", raw, true);
        assert_eq!(line.text, "starting    broker");
        assert!(line.stderr);
        assert_eq!(line.level, None);
    }

    #[test]
    fn a_line_without_timestamp_is_kept() {
        let (nanos, line) = parse(Group::Infra, "postgres", "no stamp here", false);
        assert_eq!(nanos, 0);
        assert_eq!(line.time, "--:--:--.---");
        assert_eq!(line.text, "no stamp here");
    }

    #[test]
    fn broken_json_is_shown_as_text() {
        let (_, line) = parse(Group::Sync, "user", "2025-11-22T10:11:12Z {not json", false);
        assert_eq!(line.text, "{not json");
    }
}
