//! The scale worker: runs [`stack::scale`](crate::stack::scale) for `]` / `[` off the app task
//! (a compose scale builds nothing but waits for containers: seconds), one request at a time,
//! and reports how it went.

use common::scenario::Service;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::outbox::Outbox;
use crate::stack::StackOptions;

/// Run `replicas` consumers of the async `service` (the main container counts as one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScaleRequest {
    pub service: Service,
    pub replicas: u32,
}

impl ScaleRequest {
    /// `1 consumer`, `3 consumers`.
    pub fn describe(&self) -> String {
        match self.replicas {
            1 => "1 consumer".to_owned(),
            n => format!("{n} consumers"),
        }
    }
}

/// How one request went; an error is in words for the status line.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleMsg {
    pub request: ScaleRequest,
    pub result: Result<(), String>,
}

/// Starts the worker; requests on the returned sender, reports to `to_app`.
pub fn spawn<M: From<ScaleMsg> + Send + 'static>(
    stack: StackOptions,
    to_app: mpsc::Sender<M>,
) -> (mpsc::Sender<ScaleRequest>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<ScaleRequest>(4);
    let to_app = Outbox::new(to_app);
    let task = tokio::spawn(async move {
        while let Some(request) = rx.recv().await {
            let result = crate::stack::scale::scale(&stack, request.service, request.replicas)
                .await
                .map_err(|e| format!("{e:#}"));
            match &result {
                Ok(()) => {
                    tracing::info!("async/{} scaled to {}", request.service, request.describe())
                }
                Err(e) => tracing::warn!(
                    "async/{}: scaling to {} failed: {e}",
                    request.service,
                    request.replicas
                ),
            }
            if !to_app.send(ScaleMsg { request, result }).await {
                break;
            }
        }
    });
    (tx, task)
}
