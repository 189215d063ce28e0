//! What a run ran on — commit, build, images, knobs, host load, the timer's floor — so that
//! two results can be told apart and a surprising figure traced to its cause.

use std::collections::BTreeMap;
use std::time::Duration;

use common::Mode;

use super::result::Environment;
use crate::admin::{self, AdminSettings};

/// Everything but the knobs, which the runner reads itself (it restores them afterwards).
pub async fn capture(knobs: BTreeMap<String, serde_json::Value>) -> Environment {
    Environment {
        git_sha: git_sha().await,
        build_profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
        .into(),
        images: images().await,
        knobs,
        host_load: host_load(),
        timer_floor_ms: timer_floor().await.as_secs_f64() * 1000.0,
        ms_tui_version: env!("CARGO_PKG_VERSION").into(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// Every service's knobs in `modes`, keyed `async/email`; services that do not answer are
/// left out (the caller sees the gap).
pub async fn knobs(
    http: &reqwest::Client,
    settings: &AdminSettings,
    modes: &[Mode],
) -> BTreeMap<String, serde_json::Value> {
    let targets: Vec<_> = modes.iter().flat_map(|m| admin::services_of(*m)).collect();
    let reads = targets.iter().map(|target| {
        admin::call(
            http,
            settings,
            *target,
            reqwest::Method::GET,
            "/admin/config",
            None,
        )
    });
    let answers = futures_util::future::join_all(reads).await;
    targets
        .iter()
        .zip(answers)
        .filter_map(|((service, mode), answer)| {
            let knobs = answer.ok()?.get("knobs")?.clone();
            Some((format!("{mode}/{service}"), knobs))
        })
        .collect()
}

async fn git_sha() -> String {
    let out = tokio::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .await;
    match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        _ => "unknown".into(),
    }
}

async fn images() -> BTreeMap<String, String> {
    let Ok(docker) = crate::docker::connect().await else {
        return BTreeMap::new();
    };
    let project = crate::docker::Project::default();
    let Ok(list) = crate::docker::engine::list_inspected(&docker, vec![project.filter()]).await
    else {
        return BTreeMap::new();
    };
    list.into_iter()
        .filter_map(|(_, inspect)| {
            let inspect = inspect.ok()?;
            let config = inspect.config?;
            let labels = config.labels.unwrap_or_default();
            let name = format!(
                "{}/{}",
                labels.get(crate::docker::labels::MODE_KEY)?,
                labels.get(crate::docker::labels::SERVICE_KEY)?
            );
            // The tag alone says nothing after a rebuild: the image id does.
            let id = inspect.image.unwrap_or_default();
            let id = id
                .strip_prefix("sha256:")
                .unwrap_or(&id)
                .get(..12)
                .unwrap_or("")
                .to_owned();
            Some((name, format!("{} {id}", config.image.unwrap_or_default())))
        })
        .collect()
}

fn host_load() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// The median lateness of a 1 ms sleep: below it, a latency difference is this host's timer,
/// not the service.
async fn timer_floor() -> Duration {
    let mut late = Vec::with_capacity(21);
    for _ in 0..21 {
        let asked = Duration::from_millis(1);
        let began = tokio::time::Instant::now();
        tokio::time::sleep(asked).await;
        late.push(began.elapsed().saturating_sub(asked));
    }
    late.sort();
    late[late.len() / 2]
}
