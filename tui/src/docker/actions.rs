//! Lifecycle actions (kill, stop, start, pause, unpause, restart) on one container — after
//! checking, at that moment, that it carries the project label. The id a caller passes is
//! never trusted on its own: the table could be stale, and the check costs one inspect.
//!
//! The control room's keys and the tests of the stack both act through here.

use bollard::Docker;
use bollard::query_parameters::{KillContainerOptionsBuilder, StopContainerOptionsBuilder};

use super::labels::Project;

/// Lifecycle actions on one container (keys `k`, `s`, `p`, `r`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// SIGKILL, as a crash would; the restart policy does not bring it back (Docker treats a
    /// user's kill like a stop).
    Kill,
    Stop,
    Start,
    Pause,
    Unpause,
    Restart,
}

impl Action {
    /// The verb, for prompts and messages ("kill", "unpause").
    pub fn verb(self) -> &'static str {
        match self {
            Action::Kill => "kill",
            Action::Stop => "stop",
            Action::Start => "start",
            Action::Pause => "pause",
            Action::Unpause => "unpause",
            Action::Restart => "restart",
        }
    }

    /// Whether the action takes a running service away, so the key asks first (unless `--demo`).
    /// Starting and unpausing only bring things back.
    pub fn is_destructive(self) -> bool {
        matches!(
            self,
            Action::Kill | Action::Stop | Action::Pause | Action::Restart
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The container exists but is not part of the project: nothing was done.
    #[error("{container} is not a container of the {project} project; refused")]
    NotOurs { container: String, project: String },
    #[error("{0}")]
    Engine(#[from] bollard::errors::Error),
}

impl ActionError {
    /// The engine answered 304: the container already was where the action would take it
    /// (a start of a running container, a stop of a stopped one).
    pub fn is_not_modified(&self) -> bool {
        matches!(
            self,
            ActionError::Engine(bollard::errors::Error::DockerResponseServerError {
                status_code: 304,
                ..
            })
        )
    }
}

/// Runs `action` on the container `id` if, and only if, it belongs to `project`. A stop gives
/// the container its own stop timeout (compose's `stop_grace_period`).
pub async fn perform(
    docker: &Docker,
    project: &Project,
    id: &str,
    action: Action,
) -> Result<(), ActionError> {
    let id = checked(docker, project, id).await?;
    match action {
        Action::Kill => {
            let options = KillContainerOptionsBuilder::default()
                .signal("SIGKILL")
                .build();
            docker.kill_container(&id, Some(options)).await?;
        }
        Action::Stop => docker.stop_container(&id, None).await?,
        Action::Start => docker.start_container(&id, None).await?,
        Action::Pause => docker.pause_container(&id).await?,
        Action::Unpause => docker.unpause_container(&id).await?,
        Action::Restart => docker.restart_container(&id, None).await?,
    }
    Ok(())
}

/// [`perform`]'s stop, with SIGKILL after `grace_secs` rather than the container's own
/// timeout: for a caller that has its own clock to keep (the stack's tests).
pub async fn stop_within(
    docker: &Docker,
    project: &Project,
    id: &str,
    grace_secs: i32,
) -> Result<(), ActionError> {
    let id = checked(docker, project, id).await?;
    let options = StopContainerOptionsBuilder::default().t(grace_secs).build();
    docker.stop_container(&id, Some(options)).await?;
    Ok(())
}

/// The label check: the container's full id when it is `project`'s (act on the id the inspect
/// returned, not on the possibly short one given), [`ActionError::NotOurs`] otherwise.
async fn checked(docker: &Docker, project: &Project, id: &str) -> Result<String, ActionError> {
    checked_named(docker, project, id).await.map(|(id, _)| id)
}

/// [`checked`], with the container's name for messages.
pub(super) async fn checked_named(
    docker: &Docker,
    project: &Project,
    id: &str,
) -> Result<(String, String), ActionError> {
    let inspect = docker.inspect_container(id, None).await?;
    let name = inspect
        .name
        .as_deref()
        .unwrap_or(id)
        .trim_start_matches('/')
        .to_string();
    if !project.owns(inspect.config.as_ref().and_then(|c| c.labels.as_ref())) {
        return Err(ActionError::NotOurs {
            container: name,
            project: project.name().to_string(),
        });
    }
    Ok((inspect.id.unwrap_or_else(|| id.to_string()), name))
}
