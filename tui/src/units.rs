//! Numbers with a unit as people type them (`30s`, `500ms`, `1%`, `0.001ms`): one splitter
//! for `ms-tui fault --for`, experiment files and thresholds, each of which says which units
//! it takes.

use std::time::Duration;

/// `12.5ms` → `(12.5, "ms")`; `45` → `(45.0, "")`; `None` when it does not start with a
/// number.
pub fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    Some((number.parse().ok()?, unit.trim()))
}

/// A duration from a number and one of `ms`, `s`, `m`, `h` (a bare number is seconds when
/// `bare_is_seconds`); the error says what was expected.
pub fn duration(text: &str, bare_is_seconds: bool) -> Result<Duration, String> {
    let (value, unit) = number_and_unit(text)
        .ok_or_else(|| format!("`{}` is not a duration like 10s, 500ms or 2m", text.trim()))?;
    let seconds = match unit {
        "" if bare_is_seconds => value,
        "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "" => return Err(format!("`{}`: give a unit, ms, s, m or h", text.trim())),
        _ => return Err(format!("`{}`: units are ms, s, m, h", text.trim())),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{}` is out of range", text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_split_from_their_units() {
        assert_eq!(number_and_unit("12.5ms"), Some((12.5, "ms")));
        assert_eq!(number_and_unit(" 45 "), Some((45.0, "")));
        assert_eq!(number_and_unit("1%"), Some((1.0, "%")));
        assert_eq!(number_and_unit("soon"), None);
    }

    #[test]
    fn durations_take_their_units() {
        assert_eq!(duration("1.5s", false), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("250ms", false), Ok(Duration::from_millis(250)));
        assert_eq!(duration("2m", false), Ok(Duration::from_secs(120)));
        assert_eq!(duration("45", true), Ok(Duration::from_secs(45)));
        assert!(duration("10", false).unwrap_err().contains("unit"));
        assert!(duration("3d", true).unwrap_err().contains("units are"));
    }
}
