//! (stub until the report lands: same API)
#![allow(dead_code, unused_variables)]
use super::result::BenchReport;
pub fn write(
    dir: &std::path::Path,
    report: &BenchReport,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("report.json");
    std::fs::write(&path, serde_json::to_string_pretty(report)?)?;
    Ok(vec![path])
}
