//! (stub until the report lands: same API)
#![allow(dead_code, unused_variables)]
use super::result::RunResult;
pub fn write(dir: &std::path::Path, result: &RunResult) -> anyhow::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("result.json");
    std::fs::write(&path, serde_json::to_string_pretty(result)?)?;
    Ok(vec![path])
}
pub fn markdown(result: &RunResult) -> String {
    String::new()
}
