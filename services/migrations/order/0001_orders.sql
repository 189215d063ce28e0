-- One table for every kind of order (S5 saga, S7 checkout, S8 stock order, seed 000's
-- checkout): one response body, the superset of the peers' fields (docs/contract.md, Bodies).
CREATE TABLE orders (
    id                     BIGSERIAL PRIMARY KEY,
    -- Seed 001 answered with a UUID `order_id`; the other peers with the numeric id.
    order_uuid             TEXT NOT NULL UNIQUE,
    kind                   TEXT NOT NULL,
    product_id             BIGINT,
    quantity               INTEGER,
    status                 TEXT NOT NULL,
    user_id                TEXT,
    user_email             TEXT,
    items                  JSONB,
    total_amount           DOUBLE PRECISION,
    -- Seed 000's `order_id`: a client reference, not unique.
    client_ref             TEXT,
    reason                 TEXT,
    compensation_executed  BOOLEAN NOT NULL DEFAULT false,
    transaction_id         TEXT,
    processing_duration_ms BIGINT,
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at             TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Every status an order went through, so a client (and a test) can see pending → paid →
-- confirmed even when it polls too slowly to catch `paid`.
CREATE TABLE order_history (
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status   TEXT NOT NULL,
    at       TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX order_history_order ON order_history (order_id);

CREATE FUNCTION record_order_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO order_history (order_id, status) VALUES (NEW.id, NEW.status);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER orders_status_history AFTER INSERT OR UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION record_order_status();
