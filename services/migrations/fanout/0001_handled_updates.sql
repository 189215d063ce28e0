-- S3 fan-out steps (search, cache, analytics): one row per product update handled.
CREATE TABLE handled_updates (
    id             BIGSERIAL PRIMARY KEY,
    product_id     BIGINT NOT NULL,
    event_id       TEXT,
    correlation_id TEXT,
    handled_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX handled_updates_product ON handled_updates (product_id);
