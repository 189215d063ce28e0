-- Seed 001's notifications (order confirmations and stock alerts), kept in PostgreSQL:
-- 001 held them in memory and lost those published while nobody subscribed.
CREATE TABLE notifications (
    notification_id TEXT PRIMARY KEY,
    type            TEXT NOT NULL,
    message         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    payload         JSONB NOT NULL,
    -- The sender's event id: a notification delivered twice (retry, HTTP replay) is stored once.
    event_id        TEXT NOT NULL UNIQUE,
    correlation_id  TEXT,
    status          TEXT NOT NULL DEFAULT 'sent',
    timestamp       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX notifications_type ON notifications (type);

-- S7's confirmation mails name their order.
ALTER TABLE emails ADD COLUMN order_id BIGINT;
