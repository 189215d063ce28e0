//! Completion events (docs/contract.md, Completion events): when a step of a flow finishes, a small JSON event goes to
//! the non-durable topic exchange `ms.telemetry`, routing key `<mode>.<scenario>.<service>.<step>`.
//! The control room matches them to requests by correlation id to measure completion latency.
//! They are best effort by design: a full buffer or a missing broker drops them, and the
//! business flow never waits for them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::broker::topology::TELEMETRY;
use crate::broker::{Broker, Outgoing};
use crate::config::Mode;
use crate::correlation;
use crate::scenario::{ScenarioId, Service};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompletionEvent {
    pub correlation_id: String,
    pub scenario: ScenarioId,
    pub mode: Mode,
    pub service: Service,
    pub step: String,
    pub ok: bool,
    pub at: DateTime<Utc>,
}

impl CompletionEvent {
    pub fn routing_key(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.mode,
            self.scenario.as_str(),
            self.service,
            self.step
        )
    }
}

/// A service's publisher of completion events.
#[derive(Clone)]
pub struct Completions {
    tx: mpsc::Sender<CompletionEvent>,
    mode: Mode,
    service: Service,
}

impl Completions {
    const BUFFER: usize = 4096;

    pub fn start(broker: Broker, mode: Mode, service: Service) -> Self {
        let (tx, mut rx) = mpsc::channel::<CompletionEvent>(Self::BUFFER);
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let key = event.routing_key();
                let mut msg = Outgoing::event(TELEMETRY, &key, correlation::new_id(), &event);
                msg.correlation_id = Some(event.correlation_id.clone());
                msg.persistent = false;
                if broker.publish_unconfirmed(msg).await.is_err() {
                    metrics::counter!("completion_events_dropped_total").increment(1);
                }
            }
        });
        Completions { tx, mode, service }
    }

    /// Announces that `step` of `scenario` finished for the current correlation id.
    pub fn emit(&self, scenario: ScenarioId, step: &str, ok: bool) {
        let event = CompletionEvent {
            correlation_id: correlation::current().unwrap_or_default(),
            scenario,
            mode: self.mode,
            service: self.service,
            step: step.to_owned(),
            ok,
            at: Utc::now(),
        };
        if self.tx.try_send(event).is_err() {
            metrics::counter!("completion_events_dropped_total").increment(1);
        }
    }
}
