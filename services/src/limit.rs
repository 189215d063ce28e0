//! `SYNC_MAX_INFLIGHT`: an optional cap on business requests in flight in sync mode; the rest
//! wait in line, as they would for a thread pool. It exists to reproduce the classic sync
//! failure on purpose: our handlers use async I/O, so without it a slow dependency costs no
//! thread (docs/contract.md, Sync worker limit).

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Semaphore;

use crate::context::Ctx;

/// The limit in force and the semaphore that enforces it.
type Gate = Option<(u32, Arc<Semaphore>)>;

#[derive(Clone, Default)]
pub struct InflightLimit {
    /// `None` = no limit. Replaced on change: requests holding permits of the old semaphore
    /// finish on it, so a lowered limit takes full effect once they are done.
    current: Arc<Mutex<Gate>>,
}

impl InflightLimit {
    pub fn set(&self, limit: u32) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let unchanged = current.as_ref().map(|(n, _)| *n) == Some(limit).filter(|n| *n > 0);
        if !unchanged {
            *current = (limit > 0).then(|| (limit, Arc::new(Semaphore::new(limit as usize))));
        }
    }

    fn semaphore(&self) -> Option<Arc<Semaphore>> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current.as_ref().map(|(_, s)| s.clone())
    }
}

/// Middleware for sync business routes.
pub async fn middleware(State(ctx): State<Ctx>, request: Request, next: Next) -> Response {
    match ctx.inflight.semaphore() {
        Some(semaphore) => match semaphore.acquire_owned().await {
            Ok(_permit) => next.run(request).await,
            // Closed only if dropped mid-change; serve rather than fail.
            Err(_) => next.run(request).await,
        },
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn limit_queues_requests_beyond_it() {
        let limit = InflightLimit::default();
        assert!(limit.semaphore().is_none());
        limit.set(2);
        let s = limit.semaphore().unwrap();
        let _a = s.clone().acquire_owned().await.unwrap();
        let _b = s.clone().acquire_owned().await.unwrap();
        assert!(
            s.clone().try_acquire_owned().is_err(),
            "a third request must wait"
        );
        limit.set(0);
        assert!(limit.semaphore().is_none());
    }
}
