//! A worker's side of the bounded channel to the app task — the same for every worker.
//!
//! Two ways to send, on purpose: [`Outbox::send`] waits for room and is for what must arrive
//! (state changes, action results, a fire's answer — rare); [`Outbox::offer`] never waits and
//! is for samples of a stream (stats, log lines, load and queue figures): when the app falls
//! behind, a stream drops rather than backing up into its source, and the outbox counts what
//! it dropped.
//!
//! An `Outbox<T>` carries the worker's own report type `T` (`DockerMsg`, `LoadMsg`, …) and
//! wraps it into the app's message on the way in (`From<T>`), so a worker names only its own
//! type and never the app's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

/// What became of an [`Outbox::offer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Sent,
    /// The channel was full; the message was dropped (and counted).
    Full,
    /// The app is gone: the caller stops.
    Closed,
}

/// Cloned freely: every clone feeds the same channel and the same drop count.
pub struct Outbox<T> {
    inbox: Arc<dyn Inbox<T>>,
    /// Offers dropped on a full channel, over all clones.
    dropped: Arc<AtomicU64>,
}

impl<T> Clone for Outbox<T> {
    fn clone(&self) -> Self {
        Outbox {
            inbox: Arc::clone(&self.inbox),
            dropped: Arc::clone(&self.dropped),
        }
    }
}

impl<T> std::fmt::Debug for Outbox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Outbox<T> {
    /// An outbox onto `sender`, whose messages wrap `T`.
    pub fn new<M: From<T> + Send + 'static>(sender: mpsc::Sender<M>) -> Outbox<T> {
        Outbox {
            inbox: Arc::new(sender),
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Waits for room; false when the app is gone.
    pub async fn send(&self, msg: T) -> bool {
        self.inbox.send(msg).await
    }

    /// Sends if there is room now.
    pub fn offer(&self, msg: T) -> Offer {
        let offer = self.inbox.offer(msg);
        if offer == Offer::Full {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        offer
    }

    /// Offers dropped so far because the channel was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn is_closed(&self) -> bool {
        self.inbox.is_closed()
    }
}

/// The channel behind an outbox, with the app's message type hidden: the wrapping happens here.
trait Inbox<T>: Send + Sync {
    fn send(&self, msg: T) -> BoxFuture<'_, bool>;
    fn offer(&self, msg: T) -> Offer;
    fn is_closed(&self) -> bool;
}

impl<T: Send + 'static, M: From<T> + Send + 'static> Inbox<T> for mpsc::Sender<M> {
    fn send(&self, msg: T) -> BoxFuture<'_, bool> {
        Box::pin(async move { mpsc::Sender::send(self, M::from(msg)).await.is_ok() })
    }

    fn offer(&self, msg: T) -> Offer {
        match self.try_send(M::from(msg)) {
            Ok(()) => Offer::Sent,
            Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Closed,
        }
    }

    fn is_closed(&self) -> bool {
        mpsc::Sender::is_closed(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum App {
        Report(u32),
    }

    impl From<u32> for App {
        fn from(n: u32) -> App {
            App::Report(n)
        }
    }

    #[tokio::test]
    async fn offers_drop_and_count_when_full_sends_wait_for_room() {
        let (tx, mut rx) = mpsc::channel::<App>(1);
        let out: Outbox<u32> = Outbox::new(tx);
        assert_eq!(out.offer(1), Offer::Sent);
        assert_eq!(out.clone().offer(2), Offer::Full);
        assert_eq!(out.offer(3), Offer::Full);
        assert_eq!(out.dropped(), 2, "counted over clones");
        assert_eq!(rx.recv().await, Some(App::Report(1)));
        assert!(out.send(4).await);
        assert_eq!(rx.recv().await, Some(App::Report(4)));
        drop(rx);
        assert!(out.is_closed());
        assert_eq!(out.offer(5), Offer::Closed);
        assert!(!out.send(6).await);
        assert_eq!(out.dropped(), 2, "a closed channel is not a drop");
    }
}
