CREATE TABLE payments (
    payment_id     TEXT PRIMARY KEY,
    order_id       TEXT,
    amount         DOUBLE PRECISION NOT NULL,
    currency       TEXT NOT NULL,
    status         TEXT NOT NULL,
    transaction_id TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at   TIMESTAMPTZ
);
-- What the audit consumer saw on payment_completed_queue (peer 002's audit step).
CREATE TABLE payment_audit (
    event_id    TEXT PRIMARY KEY,
    payment_id  TEXT NOT NULL,
    status      TEXT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
