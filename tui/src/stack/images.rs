//! The images the stack runs: present, or built by `compose/images/build.sh` (the recipe,
//! kept as a script so it also runs by hand). Official infrastructure images are left to
//! compose, which pulls them.

use std::path::Path;

use anyhow::Context;
use bollard::Docker;
use tokio::process::Command;

use super::env::StackEnv;
use super::process::run_reporting_lines;
use super::{Layout, Progress};

/// Is `reference` in the local image store?
pub async fn exists(docker: &Docker, reference: &str) -> anyhow::Result<bool> {
    match docker.inspect_image(reference).await {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(err) => Err(err).with_context(|| format!("looking up image {reference}")),
    }
}

/// What [`ensure`] should do beyond building what is missing.
pub struct ImagePlan<'a> {
    /// Rebuild the service image even when it exists (the code changed).
    pub rebuild_service: bool,
    /// The binary to package (`MS_SERVICE_BINARY`); none: the script's static release build.
    pub service_binary: Option<&'a Path>,
}

/// Builds the service image and, on the offline path, the RabbitMQ and PostgreSQL images,
/// when they are missing; reports each decision and the build output as progress.
pub async fn ensure(
    docker: &Docker,
    layout: &Layout,
    env: &StackEnv,
    plan: &ImagePlan<'_>,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<()> {
    let service_image = env.service_image();
    if plan.rebuild_service || !exists(docker, service_image).await? {
        let from = plan.service_binary.map_or_else(
            || "a static release build".to_owned(),
            |p| p.display().to_string(),
        );
        progress(Progress::Step(format!(
            "building the service image {service_image} from {from}"
        )));
        build(layout, env, "service", plan.service_binary, progress).await?;
    } else {
        progress(Progress::Step(format!(
            "service image {service_image} present (--build rebuilds it)"
        )));
    }

    let mut missing = Vec::new();
    for reference in env.infra_image_refs() {
        if !exists(docker, &reference).await? {
            missing.push(reference);
        }
    }
    // An offline RabbitMQ built before its prometheus plugin was enabled is rebuilt on the
    // base that is there: seconds, and the monitoring profile finds port 15692 open.
    if env.offline() && missing.is_empty() {
        let [rabbitmq, _] = env.infra_image_refs();
        if !has_prometheus_plugin(docker, &rabbitmq).await? {
            progress(Progress::Step(format!(
                "{rabbitmq} predates its prometheus plugin: rebuilding it"
            )));
            missing.push(rabbitmq);
        }
    }
    if missing.is_empty() {
        progress(Progress::Step(format!(
            "infrastructure images from {} present",
            env.infra_images()
        )));
    } else if env.offline() {
        progress(Progress::Step(format!(
            "building the offline images {} from Debian packages",
            missing.join(", ")
        )));
        build(layout, env, "infra", None, progress).await?;
    } else {
        progress(Progress::Step(format!(
            "compose will pull {} (no registry? `ms-tui up --offline` builds them here)",
            missing.join(", ")
        )));
    }
    if env.monitoring() {
        ensure_monitoring(docker, layout, env, progress).await?;
    }
    Ok(())
}

/// The monitoring profile's Prometheus and postgres-exporter: built from Debian's packages
/// on the offline path, pulled by compose on the other (like RabbitMQ and PostgreSQL).
async fn ensure_monitoring(
    docker: &Docker,
    layout: &Layout,
    env: &StackEnv,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    for reference in env.monitoring_image_refs() {
        if !exists(docker, &reference).await? {
            missing.push(reference);
        }
    }
    if missing.is_empty() {
        progress(Progress::Step("monitoring images present".into()));
    } else if env.offline() {
        progress(Progress::Step(format!(
            "building the offline images {} from Debian packages",
            missing.join(", ")
        )));
        build(layout, env, "monitoring", None, progress).await?;
    } else {
        progress(Progress::Step(format!(
            "compose will pull {}",
            missing.join(", ")
        )));
    }
    Ok(())
}

/// Whether the offline RabbitMQ image carries the label its Dockerfile sets beside the
/// prometheus plugin.
async fn has_prometheus_plugin(docker: &Docker, reference: &str) -> anyhow::Result<bool> {
    let image = docker
        .inspect_image(reference)
        .await
        .with_context(|| format!("looking up image {reference}"))?;
    Ok(image
        .config
        .and_then(|c| c.labels)
        .and_then(|labels| labels.get("ms-tui.rabbitmq-plugins").cloned())
        .is_some_and(|plugins| plugins.split(',').any(|p| p == "prometheus")))
}

async fn build(
    layout: &Layout,
    env: &StackEnv,
    what: &str,
    binary: Option<&Path>,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<()> {
    let mut cmd = Command::new("bash");
    cmd.arg(layout.build_script())
        .arg(what)
        .current_dir(layout.root())
        .env("MS_SERVICE_IMAGE", env.service_image());
    match binary {
        Some(path) => cmd.env("MS_SERVICE_BINARY", layout.root().join(path)),
        None => cmd.env_remove("MS_SERVICE_BINARY"),
    };
    let name = format!("compose/images/build.sh {what}");
    run_reporting_lines(cmd, &name, progress).await
}
