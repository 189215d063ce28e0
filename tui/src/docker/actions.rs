//! Lifecycle actions (kill, stop, start, pause, unpause, restart) on one container — after
//! checking, at that moment, that it carries the project label. The id the app sends is never
//! trusted on its own: the table could be stale, and the check costs one inspect.

use bollard::Docker;
use bollard::query_parameters::KillContainerOptionsBuilder;

use super::labels::Project;
use crate::app::msg::Action;

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The container exists but is not part of the project: nothing was done.
    #[error("{container} is not a container of the {project} project; refused")]
    NotOurs { container: String, project: String },
    #[error("{0}")]
    Engine(#[from] bollard::errors::Error),
}

/// Runs `action` on the container `id` if, and only if, it belongs to `project`.
pub async fn perform(
    docker: &Docker,
    project: &Project,
    id: &str,
    action: Action,
) -> Result<(), ActionError> {
    let inspect = docker.inspect_container(id, None).await?;
    if !project.owns(inspect.config.as_ref().and_then(|c| c.labels.as_ref())) {
        let name = inspect
            .name
            .as_deref()
            .unwrap_or(id)
            .trim_start_matches('/');
        return Err(ActionError::NotOurs {
            container: name.to_string(),
            project: project.name().to_string(),
        });
    }
    // Act on the full id the inspect returned, not on the (possibly short) id we were given.
    let id = inspect.id.as_deref().unwrap_or(id);
    match action {
        Action::Kill => {
            let options = KillContainerOptionsBuilder::default()
                .signal("SIGKILL")
                .build();
            docker.kill_container(id, Some(options)).await?;
        }
        // The container's own stop timeout (compose's stop_grace_period) applies.
        Action::Stop => docker.stop_container(id, None).await?,
        Action::Start => docker.start_container(id, None).await?,
        Action::Pause => docker.pause_container(id).await?,
        Action::Unpause => docker.unpause_container(id).await?,
        Action::Restart => docker.restart_container(id, None).await?,
    }
    Ok(())
}
