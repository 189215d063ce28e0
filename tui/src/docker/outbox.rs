//! The worker's side of the channel to the app task.
//!
//! Two ways to send, on purpose: [`Outbox::send`] waits for room and is for what must arrive
//! (state changes, action results — rare); [`Outbox::offer`] never waits and is for streams
//! (stats samples, log lines): when the app falls behind, a stream drops rather than backing
//! up into the engine, and says how much it dropped.

use tokio::sync::mpsc;

use crate::app::msg::{DockerMsg, Msg};

/// What became of an [`Outbox::offer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Sent,
    /// The channel was full; the message was dropped.
    Full,
    /// The app is gone: the caller stops.
    Closed,
}

#[derive(Debug, Clone)]
pub struct Outbox(mpsc::Sender<Msg>);

impl Outbox {
    pub fn new(sender: mpsc::Sender<Msg>) -> Outbox {
        Outbox(sender)
    }

    /// Waits for room; false when the app is gone.
    pub async fn send(&self, msg: DockerMsg) -> bool {
        self.0.send(Msg::Docker(msg)).await.is_ok()
    }

    /// Sends if there is room now.
    pub fn offer(&self, msg: DockerMsg) -> Offer {
        match self.0.try_send(Msg::Docker(msg)) {
            Ok(()) => Offer::Sent,
            Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Closed,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}
